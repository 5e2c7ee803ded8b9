/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fileio.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int write_all(int fd, const void *data, size_t len) {
        const char *p = data;
        size_t off = 0;
        while (off < len) {
                ssize_t r = write(fd, p + off, len - off);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                off += (size_t) r;
        }
        return 0;
}

int mkdir_p(const char *path, mode_t last_mode) {
        /* The common case: it exists (one syscall, not one per component). */
        if (mkdir(path, last_mode) == 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;
        char buf[PATH_MAX];
        int n = snprintf(buf, sizeof buf, "%s", path);
        if (n < 0 || (size_t) n >= sizeof buf)
                return -ENAMETOOLONG;
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, last_mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* One read(2), retried on EINTR: the bytes read (0 at the end) or -errno. */
static ssize_t read_some(int fd, void *buf, size_t n) {
        for (;;) {
                ssize_t r = read(fd, buf, n);
                if (r >= 0 || errno != EINTR)
                        return r < 0 ? -errno : r;
        }
}

/* A file below dirfd for reading, never through a symlink in the last
 * component: the fd or -errno. */
static int open_read_at(int dirfd, const char *path) {
        int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

int read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_len) {
        size_t cap = 4096, len = 0;
        if (cap > max + 1)
                cap = max + 1;
        _cleanup_free_ char *buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len == cap) {
                        if (cap > max)
                                return -EFBIG;
                        size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
                        char *n = realloc(buf, ncap + 1);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        cap = ncap;
                }
                ssize_t r = read_some(fd, buf + len, cap - len);
                if (r < 0)
                        return (int) r;
                if (r == 0)
                        break;
                len += (size_t) r;
                if (len > max)
                        return -EFBIG;
        }
        if (memchr(buf, '\0', len))
                return -EBADMSG;
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open_read_at(dirfd, path);
        if (fd < 0)
                return fd;
        return read_fd_bounded(fd, max, ret, ret_len);
}

static int read_small_fd(int fd, char *buf, size_t size, bool one_line) {
        size_t len = 0;
        for (;;) {
                if (len + 1 >= size)
                        return -EFBIG;
                ssize_t r = read_some(fd, buf + len, size - 1 - len);
                if (r < 0)
                        return (int) r;
                if (r == 0)
                        break;
                len += (size_t) r;
                if (one_line && buf[len - 1] == '\n')
                        break;
        }
        buf[len] = '\0';
        if (memchr(buf, '\0', len))
                return -EBADMSG;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
                buf[--len] = '\0';
        return (int) len;
}

static int read_small(int dirfd, const char *path, char *buf, size_t size, bool one_line) {
        _cleanup_close_ int fd = open_read_at(dirfd, path);
        if (fd < 0)
                return fd;
        return read_small_fd(fd, buf, size, one_line);
}

int read_line_fd(int fd, char *buf, size_t size) { return read_small_fd(fd, buf, size, true); }

int read_small_at(int dirfd, const char *path, char *buf, size_t size) { return read_small(dirfd, path, buf, size, false); }

int read_line_at(int dirfd, const char *path, char *buf, size_t size) { return read_small(dirfd, path, buf, size, true); }

int write_existing_at(int dirfd, const char *path, const char *value) {
        /* O_TRUNC is harmless on kernfs and keeps fixture files exact; never
         * O_CREAT: a misspelt or missing controller file must fail. */
        _cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        int r = write_all(fd, value, strlen(value));
        if (r < 0)
                return r;
        if (close(fd) < 0) {
                fd = -1;
                return -errno;
        }
        fd = -1;
        return 0;
}

int write_file_atomic_at(int dirfd, const char *path, const char *data, size_t len, mode_t mode) {
        char tmp[PATH_MAX];
        int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long) getpid());
        if (n < 0 || (size_t) n >= sizeof tmp)
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0 && errno == EEXIST) {
                (void) unlinkat(dirfd, tmp, 0);
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        }
        if (fd < 0)
                return -errno;
        int r = write_all(fd, data, len);
        if (r < 0) {
                (void) unlinkat(dirfd, tmp, 0);
                return r;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                int e = -errno;
                (void) unlinkat(dirfd, tmp, 0);
                return e;
        }
        if (renameat(dirfd, tmp, dirfd, path) < 0) {
                int e = -errno;
                (void) unlinkat(dirfd, tmp, 0);
                return e;
        }
        return 0;
}

int read_host_file(const char *sysroot, const char *path, size_t max, char **ret, size_t *ret_len) {
        char full[PATH_MAX];
        int r = path_join(full, sizeof full, sysroot, path);
        if (r < 0)
                return r;
        return read_file_at(AT_FDCWD, full, max, ret, ret_len);
}

int opendir_at(int dirfd, const char *path, DIR **ret) {
        assert(path);
        assert(ret);
        int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        *ret = d;
        return 0;
}

void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}
