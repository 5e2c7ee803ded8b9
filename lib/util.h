/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* Ownership helpers in the style of systemd/crun: a variable marked with one
 * of these is released when it goes out of scope; hand it off with TAKE_PTR. */
static inline void freep(void *p) { free(*(void **) p); }
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

#define TAKE_PTR(p)                           \
        ({                                    \
                __typeof__(p) _p_ = (p);      \
                (p) = NULL;                   \
                _p_;                          \
        })
#define TAKE_FD(fd)                           \
        ({                                    \
                int _fd_ = (fd);              \
                (fd) = -1;                    \
                _fd_;                         \
        })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define STREQ(a, b) (strcmp((a), (b)) == 0)

/* Input limits of SPEC §2. */
#define MEMGUARD_MAX_STATE_BYTES (64u * 1024u)
#define MEMGUARD_MAX_CONFIG_BYTES (16u * 1024u * 1024u)
#define MEMGUARD_MAX_POLICY_BYTES (64u * 1024u)
#define MEMGUARD_MAX_POLICY_FILES 4096u
#define MEMGUARD_MAX_JSON_DEPTH 64u
/* Small host files (/proc/self/mountinfo can be long on busy hosts). */
#define MEMGUARD_MAX_PROCFILE_BYTES (1024u * 1024u)
#define MEMGUARD_MAX_RECORD_BYTES (256u * 1024u)

#define MEMGUARD_VALUE_MAX UINT64_MAX /* the cgroup value "max" */

/* An error with a one-line human message; functions return -errno and fill
 * this so that the top level can report once, with context. */
struct mg_error {
        int code; /* negative errno, 0 = no error */
        char msg[512];
};

int mg_error_set(struct mg_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix an existing message ("file: " + msg). */
int mg_error_prefix(struct mg_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads at most max bytes of the open fd (plus one to detect overflow).
 * Rejects content larger than max (-EFBIG) and NUL bytes (-EBADMSG).
 * The buffer is NUL-terminated; *ret_len excludes the terminator. */
int read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_len);
/* openat(dirfd, path, O_RDONLY|O_CLOEXEC|O_NOFOLLOW) + read_fd_bounded.
 * O_NOFOLLOW applies to the last component only: callers pass paths they
 * built themselves below trusted roots. */
int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);
/* Short files of procfs/sysfs/cgroupfs: reads into buf (NUL-terminated,
 * trailing newline stripped). -EFBIG when it does not fit. */
int read_small_at(int dirfd, const char *path, char *buf, size_t size);
/* Writes the whole string to an existing file (never O_CREAT: a wrong name
 * must fail with ENOENT), retrying on EINTR. */
int write_existing_at(int dirfd, const char *path, const char *value);
/* Writes a file atomically: temp file in the same directory, fsync, rename. */
int write_file_atomic_at(int dirfd, const char *path, const char *data, size_t len, mode_t mode);

int safe_atou64(const char *s, uint64_t *ret);
/* "max" → MEMGUARD_VALUE_MAX, else decimal bytes. */
int parse_cgroup_value(const char *s, uint64_t *ret);
/* Formats a cgroup value ("max" or decimal). buf at least 21 bytes. */
const char *format_cgroup_value(uint64_t v, char *buf, size_t size);

/* Joins sysroot and an absolute host path. */
int path_join(char *buf, size_t size, const char *a, const char *b);

uint64_t now_usec_monotonic(void);
uint64_t now_usec_realtime(void);
/* RFC 3339 UTC with microseconds. */
void format_rfc3339(uint64_t usec, char *buf, size_t size);

/* Container ids of SPEC §2: ^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$ */
bool container_id_is_valid(const char *id);
