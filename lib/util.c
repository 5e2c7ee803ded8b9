/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "util.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int mg_error_set(struct mg_error *err, int code, const char *fmt, ...) {
        assert(fmt);
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

int mg_error_oom(struct mg_error *err) {
        return mg_error_set(err, -ENOMEM, "out of memory");
}

int mg_error_wrap(struct mg_error *err, int r, const char *fmt, ...) {
        assert(fmt);
        /* Only failures are wrapped. Were r not one (a caller's bug), a
         * half-done result must still not pass as success. */
        if (r >= 0)
                r = -EPROTO;
        if (!err)
                return r;
        if (err->code != r || err->msg[0] == '\0')
                /* The callee did not fill err (a broken contract): keep the
                 * code we were given and say at least what it means. */
                (void) mg_error_set(err, r, "%s " MG_ERROR_NO_DETAIL, strerror(-r));
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
        return r;
}

int safe_atou64(const char *s, uint64_t *ret) {
        assert(ret);
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
        assert(s);
        assert(ret);
        if (STREQ(s, "max")) {
                *ret = MEMGUARD_VALUE_MAX;
                return 0;
        }
        return safe_atou64(s, ret);
}

const char *format_cgroup_value(uint64_t v, char *buf, size_t size) {
        assert(buf);
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
        assert(buf);
        assert(a);
        assert(b);
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
        assert(buf);
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

uint64_t deadline_left_usec(uint64_t deadline_usec) {
        uint64_t now = now_usec_monotonic();
        return deadline_usec > now ? deadline_usec - now : 0;
}

uint64_t deadline_bound_ms(uint64_t want_ms, uint64_t deadline_usec) {
        uint64_t left_ms = deadline_left_usec(deadline_usec) / 1000u;
        return want_ms < left_ms ? want_ms : left_ms;
}
