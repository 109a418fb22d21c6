/* test_outfile.c - kw_outfile (src/base/outfile.c): outputs that never overwrite an input and
 * never leave a partial file.
 *
 * Refusal of an input reached by the same path, another path, a symbolic or a hard link; commit
 * (content, no temporary file left, permission bits kept, a link's target replaced); abort and a
 * failing commit (/dev/full) leaving the old file; direct writes to devices; and, in child
 * processes, the cleanup of the temporary file when the process is ended by SIGINT or SIGTERM or
 * calls exit() before committing, and that a program's own SIGINT handler is left alone.
 * Files go to a fresh directory under $TMPDIR (default /tmp), removed at the end.
 */
#include "../test.h"
#include "kaiwu.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

/* A path in the test directory (static buffer: valid until the next call). */
static const char *in_dir(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static bool write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

static bool has_text(const char *path, const char *text) {
    size_t n = 0;
    char *got = test_read_file(path, &n);
    bool ok = got && n == strlen(text) && memcmp(got, text, n) == 0;
    free(got);
    return ok;
}

/* Number of "*.tmp.*" files left in the test directory. */
static int n_temp_files(void) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static kw_status write_via_outfile(const char *path, const char *text, const char *const *inputs,
                                   int n_inputs) {
    kw_outfile *o = NULL;
    kw_status st = kw_outfile_open(path, inputs, n_inputs, &o);
    if (st != KW_OK) return st;
    fputs(text, kw_outfile_stream(o));
    return kw_outfile_commit(o);
}

/* ---------------------------------------------------------------- refusing inputs */

static void test_outfile_refuses_an_input_by_any_path(void) {
    char in[512];
    snprintf(in, sizeof in, "%s", in_dir("model.bin"));
    CHECK(write_text(in, "weights"), "the input is written");
    const char *inputs[] = {NULL, "-", in};
    CHECK(kw_outfile_check(in, inputs, 3) == KW_ERR_INVALID_ARG &&
              strstr(kw_last_error(), "refusing to overwrite the input"),
          "the same path is refused: %s", kw_last_error());
    char other[600];
    snprintf(other, sizeof other, "%s/./../%s/model.bin", dir, strrchr(dir, '/') + 1);
    CHECK(kw_outfile_check(other, inputs, 3) == KW_ERR_INVALID_ARG,
          "another path to the input is refused (%s)", other);
    CHECK(symlink("model.bin", in_dir("sym.bin")) == 0, "a symbolic link is made");
    CHECK(kw_outfile_check(in_dir("sym.bin"), inputs, 3) == KW_ERR_INVALID_ARG,
          "a symbolic link to the input is refused");
    CHECK(link(in, in_dir("hard.bin")) == 0, "a hard link is made");
    kw_outfile *o = NULL;
    CHECK(kw_outfile_open(in_dir("hard.bin"), inputs, 3, &o) == KW_ERR_INVALID_ARG && o == NULL,
          "kw_outfile_open refuses a hard link to the input and leaves *out alone");
    CHECK(has_text(in, "weights") && n_temp_files() == 0,
          "the input is unchanged and no temporary file was made");
    CHECK(kw_outfile_check(in_dir("new.bin"), inputs, 3) == KW_OK,
          "an output that does not exist yet is fine");
    CHECK(kw_outfile_check(in_dir("new.bin"), NULL, 0) == KW_OK, "no inputs is fine");
    unlink(in_dir("sym.bin"));
    unlink(in_dir("hard.bin"));
    unlink(in);
}

/* ---------------------------------------------------------------- commit and abort */

static void test_outfile_commit_replaces_atomically(void) {
    char out[512];
    snprintf(out, sizeof out, "%s", in_dir("out.txt"));
    CHECK(write_text(out, "old"), "an old output exists");
    chmod(out, 0640);
    kw_outfile *o = NULL;
    CHECK(kw_outfile_open(out, NULL, 0, &o) == KW_OK, "open: %s", kw_last_error());
    const char *tmp = kw_outfile_temp_path(o);
    CHECK(tmp && strncmp(tmp, out, strlen(out)) == 0 && access(tmp, F_OK) == 0,
          "the temporary file sits next to the output (%s)", tmp ? tmp : "(null)");
    fputs("new content", kw_outfile_stream(o));
    fflush(kw_outfile_stream(o));
    CHECK(has_text(out, "old"), "the destination is untouched before commit");
    CHECK(kw_outfile_commit(o) == KW_OK, "commit: %s", kw_last_error());
    CHECK(has_text(out, "new content"), "commit puts the new content in place");
    struct stat st;
    CHECK(stat(out, &st) == 0 && (st.st_mode & 07777) == 0640,
          "the replaced file's permission bits are kept (%o)", (unsigned)(st.st_mode & 07777));
    CHECK(n_temp_files() == 0, "no temporary file is left after commit");
    unlink(out);
}

static void test_outfile_abort_and_failed_commit_keep_the_old_file(void) {
    char out[512];
    snprintf(out, sizeof out, "%s", in_dir("keep.txt"));
    CHECK(write_text(out, "old"), "an old output exists");
    kw_outfile *o = NULL;
    CHECK(kw_outfile_open(out, NULL, 0, &o) == KW_OK, "open: %s", kw_last_error());
    fputs("half", kw_outfile_stream(o));
    kw_outfile_abort(o);
    CHECK(has_text(out, "old") && n_temp_files() == 0,
          "abort keeps the old file and removes the temporary one");
    kw_outfile_abort(NULL);
    if (access("/dev/full", W_OK) == 0) {
        CHECK(kw_outfile_open("/dev/full", NULL, 0, &o) == KW_OK, "/dev/full opens (a device)");
        CHECK(kw_outfile_temp_path(o) == NULL, "a device is written directly");
        for (int i = 0; i < 10000; i++)
            fputs("0123456789", kw_outfile_stream(o));
        CHECK(kw_outfile_commit(o) == KW_ERR_IO && strstr(kw_last_error(), "/dev/full"),
              "a full device fails the commit with the path: %s", kw_last_error());
    }
    CHECK(write_via_outfile("/dev/null", "x", NULL, 0) == KW_OK, "/dev/null can be the output (%s)",
          kw_last_error());
    unlink(out);
}

static void test_outfile_follows_links_and_refuses_odd_targets(void) {
    char target[512], lnk[512];
    snprintf(target, sizeof target, "%s", in_dir("target.txt"));
    snprintf(lnk, sizeof lnk, "%s", in_dir("link.txt"));
    CHECK(write_text(target, "old"), "the link's target exists");
    CHECK(symlink("target.txt", lnk) == 0, "a link to it is made");
    CHECK(write_via_outfile(lnk, "through the link", NULL, 0) == KW_OK, "written through a link");
    struct stat st;
    CHECK(lstat(lnk, &st) == 0 && S_ISLNK(st.st_mode), "the link stays a link");
    CHECK(has_text(target, "through the link"), "the link's target has the new content");
    unlink(target);
    CHECK(write_via_outfile(lnk, "x", NULL, 0) == KW_ERR_IO &&
              strstr(kw_last_error(), "symbolic link"),
          "a dangling link is refused: %s", kw_last_error());
    CHECK(write_via_outfile(dir, "x", NULL, 0) == KW_ERR_IO && strstr(kw_last_error(), "directory"),
          "a directory is refused: %s", kw_last_error());
    CHECK(write_via_outfile(in_dir("no/such/dir.txt"), "x", NULL, 0) == KW_ERR_IO &&
              strstr(kw_last_error(), "no/such/dir.txt"),
          "a missing directory names the path: %s", kw_last_error());
    CHECK(n_temp_files() == 0, "no temporary file is left");
    unlink(lnk);
}

/* ---------------------------------------------------------------- signals and exit */

/* In a child: opens out, writes, reports the temporary path through fd, then ends by how. */
static void child_dies(const char *out, int fd, int how) {
    kw_outfile *o = NULL;
    if (kw_outfile_open(out, NULL, 0, &o) != KW_OK) _exit(90);
    fputs("partial", kw_outfile_stream(o));
    fflush(kw_outfile_stream(o));
    const char *tmp = kw_outfile_temp_path(o);
    if (write(fd, tmp, strlen(tmp) + 1) < 0) _exit(91);
    if (how == 0) exit(3); /* atexit cleanup */
    raise(how);
    _exit(92); /* not reached: the signal ends the process */
}

static void run_child(const char *label, int how, int want_sig, int want_exit) {
    char out[512];
    snprintf(out, sizeof out, "%s", in_dir("interrupted.txt"));
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK(false, "pipe");
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_dies(out, fds[1], how);
    }
    close(fds[1]);
    char tmp[600] = {0};
    ssize_t got = read(fds[0], tmp, sizeof tmp - 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(got > 0 && strstr(tmp, ".tmp."), "%s: the child reported its temporary file", label);
    if (want_sig)
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == want_sig,
              "%s: the child is still ended by the signal (status %#x)", label, status);
    else
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == want_exit,
              "%s: the child exits %d (status %#x)", label, want_exit, status);
    CHECK(access(tmp, F_OK) != 0 && access(out, F_OK) != 0,
          "%s: neither the temporary file nor a partial output is left", label);
}

static void test_outfile_cleans_up_on_signals_and_exit(void) {
    run_child("SIGINT", SIGINT, SIGINT, 0);
    run_child("SIGTERM", SIGTERM, SIGTERM, 0);
    run_child("exit()", 0, 0, 3);
    CHECK(n_temp_files() == 0, "no temporary file is left in the directory");
}

static volatile sig_atomic_t own_handler_ran;
static void own_handler(int sig) {
    (void)sig;
    own_handler_ran = 1;
}

static void test_outfile_leaves_a_programs_own_handler(void) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction sa, now;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = own_handler;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        kw_outfile *o = NULL;
        if (kw_outfile_open(in_dir("own.txt"), NULL, 0, &o) != KW_OK) _exit(90);
        sigaction(SIGINT, NULL, &now);
        raise(SIGINT); /* handled by own_handler: the program decides */
        kw_outfile_abort(o);
        _exit(now.sa_handler == own_handler && own_handler_ran ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "a program's own SIGINT handler stays installed and runs (status %#x)", status);
    CHECK(n_temp_files() == 0, "the program's abort removed the temporary file");
}

int main(void) {
    /* A shell starts background jobs with SIGINT ignored, and kw_outfile leaves an ignored signal
     * alone: give the test the default dispositions a user at a terminal has. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/kw_test_outfile_XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK(false, "mkdtemp %s", dir);
        return test_report();
    }
    RUN_TEST(test_outfile_refuses_an_input_by_any_path);
    RUN_TEST(test_outfile_commit_replaces_atomically);
    RUN_TEST(test_outfile_abort_and_failed_commit_keep_the_old_file);
    RUN_TEST(test_outfile_follows_links_and_refuses_odd_targets);
    RUN_TEST(test_outfile_cleans_up_on_signals_and_exit);
    RUN_TEST(test_outfile_leaves_a_programs_own_handler);
    CHECK(rmdir(dir) == 0, "the test directory is empty at the end");
    return test_report();
}
