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
/* The name of enum value v in a table indexed by the enum (designated
 * initialisers), or fallback for a value the table does not name: one
 * shape for every *_name() function. */
#define NAME_FROM_TABLE(table, v, fallback) \
        ((size_t) (v) < ELEMENTSOF(table) && (table)[(size_t) (v)] ? (table)[(size_t) (v)] : (fallback))
#define STREQ(a, b) (strcmp((a), (b)) == 0)

/* Input limits (README, Input limits): every read is bounded, so that no
 * container, image or policy can make the hook, which runs as root and
 * which the container waits for, use unbounded memory or time. */
#define MEMGUARD_MAX_STATE_BYTES (64u * 1024u)
#define MEMGUARD_MAX_CONFIG_BYTES (16u * 1024u * 1024u)
#define MEMGUARD_MAX_POLICY_BYTES (64u * 1024u)
#define MEMGUARD_MAX_POLICY_FILES 4096u
#define MEMGUARD_MAX_JSON_DEPTH 64u
/* Small host files (/proc/self/mountinfo can be long on busy hosts). */
#define MEMGUARD_MAX_PROCFILE_BYTES (1024u * 1024u)
#define MEMGUARD_MAX_RECORD_BYTES (256u * 1024u)

#define MEMGUARD_VALUE_MAX UINT64_MAX /* the cgroup value "max" */

/* The error contract, for every function that takes a struct mg_error *:
 *  - it returns 0 (or a count) on success and a negative errno on failure;
 *  - on every negative return it has filled err (err->code == the return
 *    value, err->msg a non-empty line), out-of-memory included: write
 *    `return mg_error_oom(err);`, never a bare `return -ENOMEM;`;
 *  - a caller that adds context wraps and passes the same code up:
 *    `return mg_error_wrap(err, r, "%s: ", path);`;
 *  - err may be NULL where a function's comment says so (the caller only
 *    wants the code); pointer arguments are assert()ed;
 *  - nothing below a stage's top level writes stderr, syslog or the outcome:
 *    the top level reports err once;
 *  - a message names the real source of a bad value (the file and field,
 *    or "/proc/<pid>/cgroup"), so the top level never guesses from errno. */
struct mg_error {
        int code; /* negative errno, 0 = no error */
        char msg[512];
};

/* Fills err (one line) and returns code. */
int mg_error_set(struct mg_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* mg_error_set(err, -ENOMEM, "out of memory"). */
int mg_error_oom(struct mg_error *err);
/* Prefixes err's message with context ("file: " + msg) and returns r, the
 * code the caller was given (r < 0). Should the callee have broken the
 * contract and left err empty, the message becomes strerror(-r) followed by
 * MG_ERROR_NO_DETAIL (the unit tests look for it). */
#define MG_ERROR_NO_DETAIL "(no detail given)"
int mg_error_wrap(struct mg_error *err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int safe_atou64(const char *s, uint64_t *ret);
/* "max" → MEMGUARD_VALUE_MAX, else decimal bytes. */
int parse_cgroup_value(const char *s, uint64_t *ret);
/* Formats a cgroup value ("max" or decimal). buf at least 21 bytes. */
const char *format_cgroup_value(uint64_t v, char *buf, size_t size);

/* Joins sysroot and an absolute host path. */
int path_join(char *buf, size_t size, const char *a, const char *b);

uint64_t now_usec_monotonic(void);
/* A deadline is a CLOCK_MONOTONIC time in µs, the one form every bounded
 * wait of a run takes (the ledger's lock, systemd's answers, the build
 * guard's steps). The time left until it, 0 when past. */
uint64_t deadline_left_usec(uint64_t deadline_usec);
/* want_ms, shortened to what is left until the deadline. */
uint64_t deadline_bound_ms(uint64_t want_ms, uint64_t deadline_usec);
uint64_t now_usec_realtime(void);
/* RFC 3339 UTC with microseconds. */
void format_rfc3339(uint64_t usec, char *buf, size_t size);

/* Container ids: ^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$. An id becomes a file
 * name in the state dir: nothing else may pass. */
bool container_id_is_valid(const char *id);

/* The file helpers (bounded reads, whole writes, mkdir -p, atomic
 * replace, host files under the sysroot) are fileio.h's; most callers
 * want both. */
#include "fileio.h"
