/* outfile.c - output files that never destroy an input and never leave a partial file behind.
 *
 * kw_outfile_open refuses an output that is one of the command's inputs (compared by device and
 * inode, so the same file reached through another path, a symbolic link or a hard link is caught),
 * then opens a temporary file next to the destination ("<path>.tmp.XXXXXX", created with O_EXCL so
 * it can never be an existing file). kw_outfile_commit flushes, fsyncs and renames it over the
 * destination, then fsyncs the directory; kw_outfile_abort removes it. Until one of those runs, the
 * temporary path sits in a small lock-free table that a cleanup handler empties: on SIGINT,
 * SIGTERM and SIGHUP (installed only where the disposition is still the default, so a program with
 * its own handler keeps it) and at exit(). An interrupted run therefore leaves the destination as
 * it was: the old file or nothing.
 *
 * Destinations that are not regular files (/dev/null, a FIFO, a terminal) are written directly:
 * renaming over them would replace the device node. A symbolic link is followed (the link stays
 * and its target is replaced); a dangling one is refused, as cp does.
 *
 * Relies on: POSIX (open, fsync, rename, sigaction), C11 atomics. Must not: write to the
 * destination before commit (regular files), or free memory the signal handler may still read.
 */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct kw_outfile {
    FILE *f;
    char *path;     /* the destination as the caller named it (for messages) */
    char *final;    /* where the file lands: path, or a symbolic link's target */
    char *tmp_path; /* the temporary file; NULL when writing directly (not a regular file) */
    int slot;       /* index in pending[], -1 when not registered */
    bool replace;   /* final existed: keep its permission bits */
    mode_t mode;
};

/* ---------------------------------------------------------------- cleanup on signals and exit */

/* Temporary files not yet committed or aborted. The handler takes an entry with an atomic
 * exchange, so an entry is unlinked and released by exactly one side. */
#define PENDING_MAX 64
static _Atomic(char *) pending[PENDING_MAX];
static pthread_once_t cleanup_once = PTHREAD_ONCE_INIT;
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};

static void unlink_pending(void) {
    for (int i = 0; i < PENDING_MAX; i++) {
        char *p = atomic_exchange(&pending[i], NULL);
        if (p) unlink(p); /* async-signal-safe; the string is never freed once taken here */
    }
}

static void on_signal(int sig) {
    int saved = errno;
    unlink_pending();
    errno = saved;
    /* SA_RESETHAND restored the default action; the signal is blocked until we return, then the
     * process ends by it as it would have without us (the shell sees 128 + sig). */
    raise(sig);
}

static void install_cleanup(void) {
    for (size_t i = 0; i < sizeof cleanup_signals / sizeof cleanup_signals[0]; i++) {
        struct sigaction old;
        if (sigaction(cleanup_signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
            (old.sa_flags & SA_SIGINFO))
            continue; /* the program handles (or ignores) this signal itself */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        sigaction(cleanup_signals[i], &sa, NULL);
    }
    atexit(unlink_pending);
}

static int register_pending(char *tmp_path) {
    pthread_once(&cleanup_once, install_cleanup);
    for (int i = 0; i < PENDING_MAX; i++) {
        char *expected = NULL;
        if (atomic_compare_exchange_strong(&pending[i], &expected, tmp_path)) return i;
    }
    return -1; /* table full: still written safely, only not removed on a signal */
}

/* Takes the entry back; false when the signal handler already took it (the process is ending:
 * the string must then not be freed). */
static bool unregister_pending(kw_outfile *o) {
    if (o->slot < 0) return true;
    char *p = atomic_exchange(&pending[o->slot], NULL);
    o->slot = -1;
    return p != NULL;
}

/* ---------------------------------------------------------------- inputs */

kw_status kw_outfile_check(const char *path, const char *const *inputs, int32_t n_inputs) {
    kw_error_clear();
    if (!path || !*path) return kw_error(KW_ERR_INVALID_ARG, "output file: empty path");
    if (n_inputs > 0 && !inputs)
        return kw_error(KW_ERR_INVALID_ARG, "kw_outfile_check: %d inputs but NULL list",
                        (int)n_inputs);
    struct stat out;
    if (stat(path, &out) != 0) return KW_OK; /* nothing there yet (or unreachable): no clash */
    for (int32_t i = 0; i < n_inputs; i++) {
        const char *in = inputs[i];
        struct stat st;
        if (!in || strcmp(in, "-") == 0 || stat(in, &st) != 0) continue;
        if (st.st_dev == out.st_dev && st.st_ino == out.st_ino)
            return kw_error(KW_ERR_INVALID_ARG,
                            "refusing to overwrite the input: the output '%s' is the input file "
                            "'%s' (give another output path)",
                            path, in);
    }
    return KW_OK;
}

/* ---------------------------------------------------------------- opening */

/* Opens "<final>.tmp.XXXXXX" with O_EXCL; the name is kept in *tmp_out (owned). */
static int open_temp(const char *final, char **tmp_out) {
    static atomic_uint counter;
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    size_t n = strlen(final);
    char *tmp = kw_malloc(n + 12, "temporary file name");
    if (!tmp) return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 20);
    for (int attempt = 0; attempt < 100; attempt++) {
        x = x * 6364136223846793005u + 1442695040888963407u + atomic_fetch_add(&counter, 1);
        memcpy(tmp, final, n);
        memcpy(tmp + n, ".tmp.", 5);
        for (int k = 0; k < 6; k++)
            tmp[n + 5 + k] = alnum[(x >> (10 + 6 * k)) % 36];
        tmp[n + 11] = 0;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp_out = tmp;
            return fd;
        }
        if (errno != EEXIST) break;
    }
    int e = errno;
    kw_error(KW_ERR_IO, "cannot create a temporary file next to '%s' ('%s'): %s", final, tmp,
             strerror(e));
    free(tmp);
    return -1;
}

/* Where the bytes land: path itself, or the target of a symbolic link (owned). */
static kw_status resolve_final(const char *path, char **final, struct stat *st, bool *exists) {
    struct stat lst;
    *exists = stat(path, st) == 0;
    if (!*exists && errno != ENOENT)
        return kw_error(KW_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        if (!*exists)
            return kw_error(KW_ERR_IO,
                            "cannot write '%s': it is a symbolic link to a file that does not "
                            "exist (remove the link or name its target)",
                            path);
        *final = realpath(path, NULL);
        if (!*final) return kw_error(KW_ERR_IO, "cannot resolve '%s': %s", path, strerror(errno));
        return KW_OK;
    }
    *final = kw_strdup(path);
    return *final ? KW_OK : KW_ERR_NOMEM;
}

static kw_status open_direct(kw_outfile *o) {
    int fd = open(o->final, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return kw_error(KW_ERR_IO, "cannot open '%s': %s", o->path, strerror(errno));
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        close(fd);
        return kw_error(KW_ERR_NOMEM, "cannot open '%s': out of memory", o->path);
    }
    return KW_OK;
}

static kw_status open_temp_stream(kw_outfile *o) {
    int fd = open_temp(o->final, &o->tmp_path);
    if (fd < 0) return KW_ERR_IO;
    if (o->replace) fchmod(fd, o->mode); /* the replaced file's permission bits, not 0666 */
    o->slot = register_pending(o->tmp_path);
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        close(fd);
        return kw_error(KW_ERR_NOMEM, "cannot open '%s': out of memory", o->tmp_path);
    }
    return KW_OK;
}

static void outfile_release(kw_outfile *o) {
    bool ours = unregister_pending(o);
    if (o->tmp_path && ours) free(o->tmp_path);
    free(o->final);
    free(o->path);
    free(o);
}

kw_status kw_outfile_open(const char *path, const char *const *inputs, int32_t n_inputs,
                          kw_outfile **out) {
    kw_error_clear();
    if (!out) return kw_error(KW_ERR_INVALID_ARG, "kw_outfile_open: NULL out");
    kw_status st = kw_outfile_check(path, inputs, n_inputs);
    if (st != KW_OK) return st;
    kw_outfile *o = kw_calloc(1, sizeof *o, "output file");
    if (!o) return KW_ERR_NOMEM;
    o->slot = -1;
    struct stat sb;
    bool exists = false;
    o->path = kw_strdup(path);
    st = o->path ? resolve_final(path, &o->final, &sb, &exists) : KW_ERR_NOMEM;
    if (st == KW_OK && exists && S_ISDIR(sb.st_mode))
        st = kw_error(KW_ERR_IO, "cannot write '%s': it is a directory", path);
    if (st == KW_OK && exists && S_ISREG(sb.st_mode) && access(o->final, W_OK) != 0)
        st = kw_error(KW_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    if (st == KW_OK && exists && !S_ISREG(sb.st_mode))
        st = open_direct(o); /* a device or FIFO: there is nothing to replace */
    else if (st == KW_OK) {
        o->replace = exists;
        o->mode = exists ? (sb.st_mode & 07777) : 0;
        st = open_temp_stream(o);
    }
    if (st != KW_OK) {
        kw_outfile_abort(o);
        return st;
    }
    *out = o;
    return KW_OK;
}

FILE *kw_outfile_stream(kw_outfile *o) { return o ? o->f : NULL; }

const char *kw_outfile_temp_path(const kw_outfile *o) { return o ? o->tmp_path : NULL; }

/* ---------------------------------------------------------------- closing */

static void fsync_dir_of(const char *file) {
    const char *slash = strrchr(file, '/');
    char *dir = slash ? kw_strndup(file, slash == file ? 1 : (size_t)(slash - file)) : NULL;
    int fd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* durability of the rename; some file systems refuse, which changes nothing */
        close(fd);
    }
    free(dir);
}

kw_status kw_outfile_commit(kw_outfile *o) {
    kw_error_clear();
    if (!o) return kw_error(KW_ERR_INVALID_ARG, "kw_outfile_commit: NULL");
    const char *where = o->tmp_path ? o->tmp_path : o->path;
    int err = 0;
    if (fflush(o->f) != 0 || ferror(o->f)) err = errno ? errno : EIO;
    if (!err && o->tmp_path && fsync(fileno(o->f)) != 0) err = errno;
    if (fclose(o->f) != 0 && !err) err = errno ? errno : EIO;
    o->f = NULL;
    if (err) {
        kw_status st = kw_error(KW_ERR_IO, "cannot write '%s': %s", where, strerror(err));
        kw_outfile_abort(o);
        return st;
    }
    if (o->tmp_path && rename(o->tmp_path, o->final) != 0) {
        kw_status st = kw_error(KW_ERR_IO, "cannot rename '%s' to '%s': %s", o->tmp_path, o->final,
                                strerror(errno));
        kw_outfile_abort(o);
        return st;
    }
    if (o->tmp_path) fsync_dir_of(o->final);
    outfile_release(o); /* the temporary name is gone now; a late signal unlinks nothing */
    return KW_OK;
}

void kw_outfile_abort(kw_outfile *o) {
    if (!o) return;
    if (o->f) fclose(o->f);
    o->f = NULL;
    if (o->tmp_path && o->slot >= 0) {
        char *p = atomic_exchange(&pending[o->slot], NULL);
        o->slot = -1;
        if (!p) {
            o->tmp_path = NULL; /* the signal handler has it and is ending the process */
        } else
            unlink(p);
    } else if (o->tmp_path)
        unlink(o->tmp_path);
    outfile_release(o);
}
