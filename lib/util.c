/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int mg_error_set(struct mg_error *err, int code, const char *fmt, ...) {
        if (!err)
                return code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
        /* One line, always: messages may quote library text. */
        for (char *p = err->msg; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t')
                        *p = ' ';
        size_t n = strlen(err->msg);
        while (n > 0 && err->msg[n - 1] == ' ')
                err->msg[--n] = '\0';
        return code;
}

int mg_error_prefix(struct mg_error *err, const char *fmt, ...) {
        if (!err)
                return 0;
        char prefix[256], old[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof old);
        size_t lp = strnlen(prefix, sizeof prefix), lo = strnlen(old, sizeof old - 1);
        if (lp > sizeof err->msg - 1)
                lp = sizeof err->msg - 1;
        if (lo > sizeof err->msg - 1 - lp)
                lo = sizeof err->msg - 1 - lp;
        memcpy(err->msg, prefix, lp);
        memcpy(err->msg + lp, old, lo);
        err->msg[lp + lo] = '\0';
        return err->code;
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
                ssize_t r = read(fd, buf + len, cap - len);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
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
        _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_fd_bounded(fd, max, ret, ret_len);
}

int read_small_at(int dirfd, const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        size_t len = 0;
        for (;;) {
                if (len + 1 >= size)
                        return -EFBIG;
                ssize_t r = read(fd, buf + len, size - 1 - len);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        break;
                len += (size_t) r;
        }
        buf[len] = '\0';
        if (memchr(buf, '\0', len))
                return -EBADMSG;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
                buf[--len] = '\0';
        return (int) len;
}

int write_existing_at(int dirfd, const char *path, const char *value) {
        /* O_TRUNC is harmless on kernfs and keeps fixture files exact; never
         * O_CREAT: a misspelt or missing controller file must fail. */
        _cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        size_t len = strlen(value), off = 0;
        while (off < len) {
                ssize_t r = write(fd, value + off, len - off);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                off += (size_t) r;
        }
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
        size_t off = 0;
        while (off < len) {
                ssize_t r = write(fd, data + off, len - off);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        int e = -errno;
                        (void) unlinkat(dirfd, tmp, 0);
                        return e;
                }
                off += (size_t) r;
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

int safe_atou64(const char *s, uint64_t *ret) {
        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        uint64_t v = 0;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int parse_cgroup_value(const char *s, uint64_t *ret) {
        if (STREQ(s, "max")) {
                *ret = MEMGUARD_VALUE_MAX;
                return 0;
        }
        return safe_atou64(s, ret);
}

const char *format_cgroup_value(uint64_t v, char *buf, size_t size) {
        /* by hand: the ledger formats a few dozen values per start, and
         * snprintf was 4% of a start's instructions */
        char tmp[21];
        size_t n = 0;
        if (size == 0)
                return buf;
        if (v == MEMGUARD_VALUE_MAX) {
                snprintf(buf, size, "max");
                return buf;
        }
        do {
                tmp[n++] = (char) ('0' + v % 10);
                v /= 10;
        } while (v);
        size_t i = 0;
        for (; i < n && i + 1 < size; i++)
                buf[i] = tmp[n - 1 - i];
        buf[i] = '\0';
        return buf;
}

int path_join(char *buf, size_t size, const char *a, const char *b) {
        size_t la = strlen(a);
        while (la > 0 && a[la - 1] == '/')
                la--;
        while (*b == '/')
                b++;
        size_t lb = strlen(b);
        /* by hand too: a start joins a path per policy file and cgroup file */
        if (la + 1 + lb + 1 > size)
                return -ENAMETOOLONG;
        memcpy(buf, a, la);
        buf[la] = '/';
        memcpy(buf + la + 1, b, lb + 1);
        return 0;
}

uint64_t now_usec_monotonic(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t now_usec_realtime(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* UTC by arithmetic (days to civil date, Howard Hinnant's algorithm):
 * glibc's gmtime_r loads /etc/localtime on first use, five syscalls the
 * hook does not need. */
void format_rfc3339(uint64_t usec, char *buf, size_t size) {
        uint64_t secs = usec / 1000000u;
        int64_t z = (int64_t) (secs / 86400u) + 719468;
        unsigned sod = (unsigned) (secs % 86400u);
        int64_t era = z / 146097;
        unsigned doe = (unsigned) (z - era * 146097);
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        unsigned mp = (5 * doy + 2) / 153;
        unsigned d = doy - (153 * mp + 2) / 5 + 1;
        unsigned m = mp < 10 ? mp + 3 : mp - 9;
        int64_t y = (int64_t) yoe + era * 400 + (m <= 2);
        snprintf(buf, size, "%04lld-%02u-%02uT%02u:%02u:%02u.%06uZ", (long long) y, m, d, sod / 3600, sod / 60 % 60, sod % 60,
                 (unsigned) (usec % 1000000u));
}

bool container_id_is_valid(const char *id) {
        if (!id)
                return false;
        size_t n = 0;
        for (const char *p = id; *p; p++, n++) {
                char c = *p;
                bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                if (n == 0 ? !alnum : !(alnum || c == '_' || c == '.' || c == '+' || c == '-'))
                        return false;
        }
        return n >= 1 && n <= 1024;
}
