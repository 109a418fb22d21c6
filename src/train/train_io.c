/* train_io.c - the trainer's file helpers: whole files written through a temporary renamed into
 * place (caches, checkpoints), directories made as needed, reallocation with a message.
 * Must not: leave a partial file under the final name.
 */
#include "train/train.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static kw_status write_all(int fd, const void *data, size_t len, const char *path) {
    const uint8_t *p = data;
    while (len > 0) {
        const size_t chunk = len < ((size_t)1 << 30) ? len : ((size_t)1 << 30);
        const ssize_t w = write(fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return kw_error(KW_ERR_IO, "writing '%s': %s", path,
                            w < 0 ? strerror(errno) : "short write");
        p += w;
        len -= (size_t)w;
    }
    return KW_OK;
}

kw_status train_file_write(const char *path, const void *const *parts, const size_t *lens, int n) {
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return kw_error(KW_ERR_INVALID_ARG, "path '%s' is too long", path);
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return kw_error(KW_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    kw_status st = KW_OK;
    for (int i = 0; i < n && !st; i++)
        if (lens[i] > 0) st = write_all(fd, parts[i], lens[i], tmp);
    if (!st && fsync(fd) != 0) st = kw_error(KW_ERR_IO, "flushing '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && !st) st = kw_error(KW_ERR_IO, "closing '%s': %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = kw_error(KW_ERR_IO, "renaming '%s' to '%s': %s", tmp, path, strerror(errno));
    if (st) unlink(tmp);
    return st;
}

kw_status train_mkdirs(const char *dir) {
    char buf[4096];
    if ((size_t)snprintf(buf, sizeof buf, "%s", dir) >= sizeof buf)
        return kw_error(KW_ERR_INVALID_ARG, "directory '%s' is too long", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return kw_error(KW_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return kw_error(KW_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return kw_error(KW_ERR_IO, "'%s' exists and is not a directory", buf);
    return KW_OK;
}

void *train_realloc(void *p, size_t size, const char *what) {
    void *q = realloc(p, size ? size : 1);
    if (!q) kw_error(KW_ERR_NOMEM, "out of memory growing %s to %zu bytes", what, size);
    return q;
}
