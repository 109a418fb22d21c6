/* file.c - read-only memory mapping of whole files (weights are used in place, never copied). */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

kw_status kw_file_map(const char *path, kw_mapped_file *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kw_error(KW_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return kw_error(KW_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return kw_error(KW_ERR_IO, "'%s' is not a regular file", path);
    }
    const uint8_t *data = NULL;
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return kw_error(KW_ERR_IO, "cannot map '%s' (%lld bytes): %s", path,
                            (long long)st.st_size, strerror(e));
        }
        data = m;
    }
    close(fd);
    char *copy = kw_strdup(path);
    if (!copy) {
        if (data) munmap((void *)data, (size_t)st.st_size);
        return KW_ERR_NOMEM;
    }
    out->data = data;
    out->size = (uint64_t)st.st_size;
    out->path = copy;
    return KW_OK;
}

void kw_file_unmap(kw_mapped_file *f) {
    if (!f) return;
    if (f->data) munmap((void *)f->data, (size_t)f->size);
    free(f->path);
    f->data = NULL;
    f->size = 0;
    f->path = NULL;
}
