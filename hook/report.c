/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `oci-memguard report` (report.h says what and why).
 *
 * An operator command: it runs with the operator's privileges and outside
 * the hook's seccomp sandbox (sandbox_enter is only called by the hook
 * stages), reads the log and never writes anything but stdout. */
#include "report.h"

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifdef MEMGUARD_HAVE_ZLIB
#include <zlib.h>
#endif

#include "json.h"

/* ---- pure parsers --------------------------------------------------- */

int report_parse_duration(const char *s, uint64_t *ret_usec) {
        assert(s);
        assert(ret_usec);
        /* a century is plenty; the bound keeps the sum from wrapping */
        const uint64_t max = 100ull * 365 * 86400 * 1000000;
        uint64_t total = 0;
        unsigned n_units = 0;
        const char *p = s;
        if (!*p)
                return -EINVAL;
        while (*p) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                uint64_t n = 0;
                while (*p >= '0' && *p <= '9') {
                        if (n > max / 10)
                                return -ERANGE;
                        n = n * 10 + (uint64_t) (*p++ - '0');
                }
                uint64_t unit;
                switch (*p) {
                case '\0':
                        /* a bare number is seconds; "1h2" is a typo */
                        if (n_units > 0)
                                return -EINVAL;
                        unit = 1;
                        break;
                case 's': unit = 1; p++; break;
                case 'm': unit = 60; p++; break;
                case 'h': unit = 3600; p++; break;
                case 'd': unit = 86400; p++; break;
                case 'w': unit = 7 * 86400; p++; break;
                default: return -EINVAL;
                }
                n_units++;
                if (n > max / 1000000 / unit)
                        return -ERANGE;
                total += n * unit * 1000000;
                if (total > max)
                        return -ERANGE;
        }
        *ret_usec = total;
        return 0;
}

static bool digits(const char *s, size_t n, unsigned *ret) {
        unsigned v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        *ret = v;
        return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
 * format_rfc3339's civil-from-days). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned) (y - era * 400);
        unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

int report_parse_time(const char *s, uint64_t *ret_usec) {
        assert(s);
        assert(ret_usec);
        /* YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z */
        unsigned y, mo, d, h, mi, sec, frac = 0;
        size_t n = strlen(s);
        if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || !digits(s, 4, &y) ||
            !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
            !digits(s + 17, 2, &sec))
                return -EINVAL;
        size_t i = 19;
        if (s[i] == '.') {
                size_t start = ++i;
                while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++;
                size_t nd = i - start;
                if (nd == 0 || nd > 9)
                        return -EINVAL;
                (void) digits(s + start, nd < 6 ? nd : 6, &frac);
                for (size_t k = nd; k < 6; k++)
                        frac *= 10;
        }
        if (s[i] != 'Z' || s[i + 1] != '\0')
                return -EINVAL;
        if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
                return -EINVAL;
        int64_t days = days_from_civil(y, mo, d);
        *ret_usec = ((uint64_t) days * 86400 + h * 3600u + mi * 60u + sec) * 1000000u + frac;
        return 0;
}

/* Only what the summary reads gets a node; the rest of the line is still
 * checked, so a damaged record is never half-counted. */
static const struct json_keep keep_guard[] = { { "decision", NULL }, { "mem_available_before", NULL }, { "mem_available_after", NULL }, { NULL, NULL } };
static const struct json_keep keep_action[] = { { "file", NULL }, { "result", NULL }, { NULL, NULL } };
static const struct json_keep keep_events[] = { { "low", NULL }, { NULL, NULL } };
static const struct json_keep keep_limit[] = { { "stopped", NULL }, { NULL, NULL } };
static const struct json_keep keep_record[] = {
        { "time", NULL },          { "stage", NULL },  { "image", NULL },  { "policies", NULL },
        { "build", NULL },         { "errors", NULL }, { "actions", keep_action },
        { "build_guard", keep_guard },     { "duration_us", NULL },
        { "container_duration_us", NULL },       { "memory_events_delta", keep_events },
        { "limit", keep_limit },   { NULL, NULL },
};

static void copy_bounded(char *dst, size_t size, const char *src, size_t len) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
}

static uint64_t add_sat(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* What the build guard and the last build's poststop gave back: the bytes
 * memory.reclaim reports ("ok: N bytes in ..."); when a guard run freed
 * memory another way (drop_caches, without memory.reclaim), the rise of
 * MemAvailable across it. */
static uint64_t record_bytes_freed(const struct json_node *root) {
        uint64_t freed = 0;
        bool reclaimed = false;
        const struct json_node *actions = json_get(root, "actions");
        for (size_t i = 0; actions && actions->type == JSON_ARRAY && i < actions->n; i++) {
                const struct json_node *a = actions->items[i];
                const char *file = NULL, *result = NULL;
                if (a->type != JSON_OBJECT || json_get_string(a, "file", &file, NULL) < 0 ||
                    json_get_string(a, "result", &result, NULL) < 0 || !STREQ(file, "memory.reclaim") ||
                    strncmp(result, "ok: ", 4) != 0)
                        continue;
                uint64_t n = 0;
                const char *p = result + 4;
                for (; *p >= '0' && *p <= '9'; p++)
                        n = n > (UINT64_MAX - 9) / 10 ? UINT64_MAX : n * 10 + (uint64_t) (*p - '0');
                if (strncmp(p, " bytes", 6) != 0)
                        continue;
                freed = add_sat(freed, n);
                reclaimed = true;
        }
        const struct json_node *guard = json_get(root, "build_guard");
        uint64_t before, after;
        if (!reclaimed && guard && guard->type == JSON_OBJECT && json_get_u64(guard, "mem_available_before", &before, NULL) == 0 &&
            json_get_u64(guard, "mem_available_after", &after, NULL) == 0 && after > before)
                freed = after - before;
        return freed;
}

static void join_policies(const struct json_node *list, char *buf, size_t size) {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; list && list->type == JSON_ARRAY && i < list->n; i++) {
                const struct json_node *p = list->items[i];
                if (p->type != JSON_STRING)
                        continue;
                if (len && len + 1 < size)
                        buf[len++] = '\n';
                for (size_t k = 0; k < p->len && len + 1 < size; k++)
                        buf[len++] = p->str[k] == '\n' ? '?' : p->str[k];
                buf[len] = '\0';
        }
}

int report_parse_line(const char *line, size_t len, struct report_event *ev) {
        assert(line || len == 0);
        assert(ev);
        static const char record_start[] = "{\"time\":\"";
        *ev = (struct report_event) {0};
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
                len--;
        if (len == 0)
                return REPORT_LINE_FOREIGN;
        _cleanup_json_ struct json_node *root = NULL;
        struct json_parse_opts opts = { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .keep = keep_record, .arena = true };
        struct mg_error err = {0};
        int r = json_parse(line, len, &opts, &root, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                /* The hook writes "time" first: a line that starts like
                 * one of its records and does not parse was cut short
                 * (a crash, a full disk); anything else is someone else's. */
                return len >= sizeof record_start - 1 && memcmp(line, record_start, sizeof record_start - 1) == 0 ?
                               REPORT_LINE_TRUNCATED :
                               REPORT_LINE_FOREIGN;
        const char *time = NULL, *stage = NULL;
        if (root->type != JSON_OBJECT || json_get_string(root, "time", &time, NULL) < 0 ||
            json_get_string(root, "stage", &stage, NULL) < 0 || report_parse_time(time, &ev->time_usec) < 0)
                return REPORT_LINE_FOREIGN;
        ev->start = STREQ(stage, "prestart") || STREQ(stage, "createRuntime");
        ev->poststop = STREQ(stage, "poststop");
        const struct json_node *n = json_get(root, "image");
        if (n && n->type == JSON_STRING)
                copy_bounded(ev->image, sizeof ev->image, n->str, n->len);
        join_policies(json_get(root, "policies"), ev->policies, sizeof ev->policies);
        (void) json_get_bool(root, "build", &ev->build, NULL);
        const struct json_node *limit = json_get(root, "limit");
        if (ev->poststop && limit && limit->type == JSON_OBJECT)
                (void) json_get_bool(limit, "stopped", &ev->limit_stopped, NULL);
        const struct json_node *guard = json_get(root, "build_guard");
        const char *decision;
        if (guard && guard->type == JSON_OBJECT && json_get_string(guard, "decision", &decision, NULL) == 0)
                copy_bounded(ev->guard_decision, sizeof ev->guard_decision, decision, strlen(decision));
        ev->bytes_freed = record_bytes_freed(root);
        ev->has_duration = json_get_u64(root, "duration_us", &ev->duration_us, NULL) == 0;
        ev->has_container_duration = json_get_u64(root, "container_duration_us", &ev->container_duration_us, NULL) == 0;
        const struct json_node *events = json_get(root, "memory_events_delta");
        ev->has_low_events = events && events->type == JSON_OBJECT && json_get_u64(events, "low", &ev->low_events, NULL) == 0;
        const struct json_node *errors = json_get(root, "errors");
        if (errors && errors->type == JSON_ARRAY)
                ev->n_errors = errors->n > UINT_MAX ? UINT_MAX : (unsigned) errors->n;
        return REPORT_LINE_RECORD;
}

/* ---- the summary ---------------------------------------------------- */

struct decision_count {
        char name[32];
        uint64_t n;
};

struct report_row {
        char *image, *policies;
        uint64_t records, starts, stops, builds, limit_stopped, protected_us;
        uint64_t low_events, breached_stops, stops_with_events;
        uint64_t bytes_freed, records_with_errors, error_lines;
        struct decision_count decisions[REPORT_MAX_DECISIONS];
        size_t n_decisions;
        uint64_t other_decisions;
        uint64_t n_durations, min_duration, max_duration;
        uint64_t hist[REPORT_HIST_BUCKETS];
};

#define REPORT_SLOTS (2u * REPORT_MAX_KEYS) /* open addressing, at most half full */

struct report {
        uint64_t since_usec;
        struct report_row *slots[REPORT_SLOTS];
        struct report_row *rows[REPORT_MAX_KEYS];
        size_t n_rows;
        struct report_row other; /* keys above the cap */
        struct report_row total;
        uint64_t lines, records, foreign, truncated, too_long, before_since;
        uint64_t first_usec, last_usec;
};

int report_new(uint64_t since_usec, struct report **ret) {
        assert(ret);
        struct report *r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->since_usec = since_usec;
        *ret = r;
        return 0;
}

void report_free(struct report *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_rows; i++) {
                free(r->rows[i]->image);
                free(r->rows[i]->policies);
                free(r->rows[i]);
        }
        free(r);
}

static size_t hist_index(uint64_t v) {
        if (v < 16)
                return (size_t) v;
        unsigned e = 63u - (unsigned) __builtin_clzll(v); /* >= 4 */
        if (e > 40)
                return REPORT_HIST_BUCKETS - 1;
        return 16u + (size_t) (e - 4) * 16u + (size_t) ((v >> (e - 4)) & 15u);
}

static uint64_t hist_upper(size_t idx) {
        if (idx < 16)
                return idx;
        size_t k = idx - 16, e = k / 16 + 4, sub = k % 16;
        return ((uint64_t) (17 + sub) << (e - 4)) - 1;
}

/* The p-th percentile (nearest rank), as the upper bound of its bucket,
 * within what was seen (exact when all runs took the same time). */
static uint64_t hist_percentile(const struct report_row *row, unsigned p) {
        if (row->n_durations == 0)
                return 0;
        uint64_t rank = (row->n_durations / 100) * p + ((row->n_durations % 100) * p + 99) / 100;
        if (rank == 0)
                rank = 1;
        uint64_t seen = 0;
        for (size_t i = 0; i < REPORT_HIST_BUCKETS; i++) {
                seen += row->hist[i];
                if (seen >= rank) {
                        uint64_t v = hist_upper(i);
                        return v > row->max_duration ? row->max_duration : v < row->min_duration ? row->min_duration : v;
                }
        }
        return row->max_duration;
}

static void row_add(struct report_row *row, const struct report_event *ev) {
        row->records++;
        row->starts += ev->start;
        row->stops += ev->poststop;
        row->builds += ev->start && ev->build;
        row->limit_stopped += ev->limit_stopped;
        if (ev->poststop && ev->has_container_duration)
                row->protected_us = add_sat(row->protected_us, ev->container_duration_us);
        if (ev->has_low_events) {
                row->stops_with_events++;
                row->low_events = add_sat(row->low_events, ev->low_events);
                row->breached_stops += ev->low_events > 0;
        }
        row->bytes_freed = add_sat(row->bytes_freed, ev->bytes_freed);
        row->records_with_errors += ev->n_errors > 0;
        row->error_lines += ev->n_errors;
        if (ev->guard_decision[0]) {
                size_t i = 0;
                while (i < row->n_decisions && !STREQ(row->decisions[i].name, ev->guard_decision))
                        i++;
                if (i == row->n_decisions && i < REPORT_MAX_DECISIONS) {
                        snprintf(row->decisions[i].name, sizeof row->decisions[i].name, "%s", ev->guard_decision);
                        row->n_decisions++;
                }
                if (i < row->n_decisions)
                        row->decisions[i].n++;
                else
                        row->other_decisions++;
        }
        if (ev->has_duration) {
                if (!row->n_durations || ev->duration_us < row->min_duration)
                        row->min_duration = ev->duration_us;
                if (ev->duration_us > row->max_duration)
                        row->max_duration = ev->duration_us;
                row->n_durations++;
                row->hist[hist_index(ev->duration_us)]++;
        }
}

static uint64_t key_hash(const char *image, const char *policies) {
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (const char *p = image; *p; p++)
                h = (h ^ (unsigned char) *p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull; /* a byte no string holds: "ab"+"c" != "a"+"bc" */
        for (const char *p = policies; *p; p++)
                h = (h ^ (unsigned char) *p) * 1099511628211ull;
        return h;
}

/* The row of (image, policies); the "(other)" row above the cap. */
static int report_row_for(struct report *r, const struct report_event *ev, struct report_row **ret) {
        size_t i = (size_t) key_hash(ev->image, ev->policies) & (REPORT_SLOTS - 1);
        for (; r->slots[i]; i = (i + 1) & (REPORT_SLOTS - 1))
                if (STREQ(r->slots[i]->image, ev->image) && STREQ(r->slots[i]->policies, ev->policies)) {
                        *ret = r->slots[i];
                        return 0;
                }
        if (r->n_rows >= REPORT_MAX_KEYS) {
                *ret = &r->other;
                return 0;
        }
        struct report_row *row = calloc(1, sizeof *row);
        if (!row)
                return -ENOMEM;
        row->image = strdup(ev->image);
        row->policies = strdup(ev->policies);
        if (!row->image || !row->policies) {
                free(row->image);
                free(row->policies);
                free(row);
                return -ENOMEM;
        }
        r->slots[i] = row;
        r->rows[r->n_rows++] = row;
        *ret = row;
        return 0;
}

int report_add_line(struct report *r, const char *line, size_t len, bool complete) {
        assert(r);
        r->lines++;
        if (len > REPORT_MAX_LINE_BYTES) {
                r->too_long++;
                return 0;
        }
        struct report_event ev;
        int k = report_parse_line(line, len, &ev);
        if (k < 0)
                return k;
        if (k == REPORT_LINE_RECORD) {
                if (ev.time_usec < r->since_usec) {
                        r->before_since++;
                        return 0;
                }
                struct report_row *row;
                int rr = report_row_for(r, &ev, &row);
                if (rr < 0)
                        return rr;
                r->records++;
                if (!r->first_usec || ev.time_usec < r->first_usec)
                        r->first_usec = ev.time_usec;
                if (ev.time_usec > r->last_usec)
                        r->last_usec = ev.time_usec;
                row_add(row, &ev);
                row_add(&r->total, &ev);
        } else if (k == REPORT_LINE_TRUNCATED || !complete)
                /* a last line without its newline was cut, whatever it says */
                r->truncated++;
        else
                r->foreign++;
        return 0;
}

/* ---- reading the files ---------------------------------------------- */

struct log_file {
        char path[PATH_MAX];
        bool gz;
        bool skipped_since; /* last written before --since: not opened */
        uint64_t lines;
        char error[sizeof ((struct mg_error *) 0)->msg];
};

/* Accumulates bytes into lines, a line at most REPORT_MAX_LINE_BYTES long
 * in memory (a longer one is only counted). */
struct line_acc {
        char *buf;
        size_t len, cap;
        bool overlong;
};

static int acc_feed(struct report *r, struct line_acc *a, const char *data, size_t n, struct log_file *f) {
        while (n > 0) {
                const char *nl = memchr(data, '\n', n);
                size_t seg = nl ? (size_t) (nl - data) : n;
                if (!a->overlong) {
                        if (a->len + seg > REPORT_MAX_LINE_BYTES) {
                                a->overlong = true;
                                a->len = 0;
                        } else {
                                if (a->len + seg + 1 > a->cap) {
                                        size_t cap = a->cap ? a->cap : 64 * 1024;
                                        while (cap < a->len + seg + 1)
                                                cap *= 2;
                                        char *b = realloc(a->buf, cap);
                                        if (!b)
                                                return -ENOMEM;
                                        a->buf = b;
                                        a->cap = cap;
                                }
                                memcpy(a->buf + a->len, data, seg);
                                a->len += seg;
                        }
                }
                if (!nl)
                        break;
                int k = report_add_line(r, a->buf ? a->buf : "", a->overlong ? REPORT_MAX_LINE_BYTES + 1 : a->len, true);
                if (k < 0)
                        return k;
                f->lines++;
                a->len = 0;
                a->overlong = false;
                data = nl + 1;
                n -= seg + 1;
        }
        return 0;
}

static int acc_finish(struct report *r, struct line_acc *a, struct log_file *f) {
        if (a->len == 0 && !a->overlong)
                return 0;
        f->lines++;
        int k = report_add_line(r, a->buf ? a->buf : "", a->overlong ? REPORT_MAX_LINE_BYTES + 1 : a->len, false);
        a->len = 0;
        a->overlong = false;
        return k;
}

static void acc_free(struct line_acc *a) { free(a->buf); }

#define READ_CHUNK (64u * 1024u)

static ssize_t read_retry(int fd, void *buf, size_t n) {
        ssize_t k;
        do
                k = read(fd, buf, n);
        while (k < 0 && errno == EINTR);
        return k < 0 ? -errno : k;
}

static int stream_plain(struct report *r, int fd, struct line_acc *a, struct log_file *f, struct mg_error *err) {
        _cleanup_free_ char *buf = malloc(READ_CHUNK);
        if (!buf)
                return mg_error_set(err, -ENOMEM, "out of memory");
        for (;;) {
                ssize_t k = read_retry(fd, buf, READ_CHUNK);
                if (k < 0)
                        return mg_error_set(err, (int) k, "read: %s", strerror((int) -k));
                if (k == 0)
                        return 0;
                int rr = acc_feed(r, a, buf, (size_t) k, f);
                if (rr < 0)
                        return mg_error_set(err, rr, "out of memory");
        }
}

#ifdef MEMGUARD_HAVE_ZLIB
static void inflate_endp(z_stream **z) { (void) inflateEnd(*z); }

/* gzip as logrotate's `compress` makes it; several members one after the
 * other (gzip's concatenation) are read as one stream. Decompressed text is
 * streamed like a plain file: a small archive that inflates to gigabytes
 * costs time, never memory. */
static int stream_gzip(struct report *r, int fd, struct line_acc *a, struct log_file *f, struct mg_error *err) {
        _cleanup_free_ unsigned char *in = malloc(READ_CHUNK);
        _cleanup_free_ unsigned char *out = malloc(READ_CHUNK);
        if (!in || !out)
                return mg_error_set(err, -ENOMEM, "out of memory");
        z_stream z = {0};
        if (inflateInit2(&z, 15 + 16) != Z_OK) /* 16: gzip header and trailer */
                return mg_error_set(err, -ENOMEM, "zlib: %s", z.msg ? z.msg : "cannot initialise");
        _cleanup_(inflate_endp) z_stream *zp = &z;
        bool ended = false;
        for (;;) {
                if (z.avail_in == 0) {
                        ssize_t k = read_retry(fd, in, READ_CHUNK);
                        if (k < 0)
                                return mg_error_set(err, (int) k, "read: %s", strerror((int) -k));
                        if (k == 0)
                                return ended ? 0 : mg_error_set(err, -EBADMSG, "gzip data cut short");
                        z.next_in = in;
                        z.avail_in = (uInt) k;
                }
                if (ended) {
                        /* another member follows */
                        if (inflateReset(zp) != Z_OK)
                                return mg_error_set(err, -EBADMSG, "gzip: cannot read the next member");
                        ended = false;
                }
                z.next_out = out;
                z.avail_out = READ_CHUNK;
                int zr = inflate(zp, Z_NO_FLUSH);
                if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                        return mg_error_set(err, zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG, "corrupt gzip data (%s)",
                                            z.msg ? z.msg : "zlib error");
                int rr = acc_feed(r, a, (const char *) out, READ_CHUNK - z.avail_out, f);
                if (rr < 0)
                        return mg_error_set(err, rr, "out of memory");
                if (zr == Z_STREAM_END)
                        ended = true;
        }
}
#endif

static int read_log_file(struct report *r, struct log_file *f, struct mg_error *err) {
        /* Rotated files are ours to read, never a link to elsewhere; a FIFO
         * in their place must not block the open (O_NONBLOCK changes
         * nothing for a regular file). */
        _cleanup_close_ int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return mg_error_set(err, -errno, "%s", strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return mg_error_set(err, -errno, "%s", strerror(errno));
        if (!S_ISREG(st.st_mode))
                return mg_error_set(err, -EINVAL, "not a regular file");
        /* Lines are appended in time order: a file last written before
         * --since holds nothing after it. */
        if (r->since_usec && (uint64_t) st.st_mtim.tv_sec * 1000000u + (uint64_t) st.st_mtim.tv_nsec / 1000u < r->since_usec) {
                f->skipped_since = true;
                return 0;
        }
        struct line_acc a = {0};
        int k;
        if (f->gz) {
#ifdef MEMGUARD_HAVE_ZLIB
                k = stream_gzip(r, fd, &a, f, err);
#else
                k = mg_error_set(err, -ENOTSUP, "compressed, and this build has no zlib (install zlib1g-dev and rebuild)");
#endif
        } else
                k = stream_plain(r, fd, &a, f, err);
        /* what was read of a damaged file still counts; its cut line too */
        int fk = k == -ENOMEM ? 0 : acc_finish(r, &a, f);
        acc_free(&a);
        if (fk < 0)
                return mg_error_set(err, fk, "out of memory");
        return k;
}

/* Is name a rotation of base? "base.N", "base.N.gz" (logrotate's default),
 * "base-YYYYMMDD[.gz]" (dateext). rank orders them oldest first. */
static bool rotated_name(const char *base, const char *name, bool *ret_gz, long long *ret_rank) {
        size_t bl = strlen(base);
        if (strncmp(name, base, bl) != 0 || (name[bl] != '.' && name[bl] != '-'))
                return false;
        const char *p = name + bl + 1;
        const char *start = p;
        long long v = 0;
        while (*p >= '0' && *p <= '9' && p - start < 18)
                v = v * 10 + (*p++ - '0');
        if (p == start)
                return false;
        bool gz = STREQ(p, ".gz");
        if (*p && !gz)
                return false;
        *ret_gz = gz;
        /* .N: a higher N is older; dateext: a lower date is older and
         * both orders are put before the numbered ones */
        *ret_rank = name[bl] == '.' ? -v : v - 1000000000000000000ll;
        return true;
}

struct rotated {
        long long rank;
        char name[NAME_MAX + 1];
        bool gz;
};

static int cmp_rotated(const void *a, const void *b) {
        const struct rotated *x = a, *y = b;
        return x->rank < y->rank ? -1 : x->rank > y->rank ? 1 : strcmp(x->name, y->name);
}

/* The rotated files next to log (oldest first), then log itself. */
static int find_log_files(const char *log, struct log_file **ret, size_t *ret_n, size_t *ret_not_read, struct mg_error *err) {
        char dir[PATH_MAX];
        int n = snprintf(dir, sizeof dir, "%s", log);
        if (n < 0 || (size_t) n >= sizeof dir)
                return mg_error_set(err, -ENAMETOOLONG, "%s: path too long", log);
        char *slash = strrchr(dir, '/');
        const char *base = slash ? log + (slash - dir) + 1 : log;
        if (slash)
                *(slash == dir ? slash + 1 : slash) = '\0';
        else
                snprintf(dir, sizeof dir, ".");
        _cleanup_free_ struct rotated *rot = calloc(REPORT_MAX_FILES, sizeof *rot);
        if (!rot)
                return mg_error_set(err, -ENOMEM, "out of memory");
        size_t n_rot = 0, not_read = 0;
        DIR *d = opendir(dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                        bool gz;
                        long long rank;
                        if (!rotated_name(base, de->d_name, &gz, &rank))
                                continue;
                        if (n_rot >= REPORT_MAX_FILES) {
                                not_read++;
                                continue;
                        }
                        rot[n_rot] = (struct rotated) { .rank = rank, .gz = gz };
                        snprintf(rot[n_rot].name, sizeof rot[n_rot].name, "%s", de->d_name);
                        n_rot++;
                }
                closedir(d);
        } else if (errno != ENOENT)
                return mg_error_set(err, -errno, "%s: %s", dir, strerror(errno));
        qsort(rot, n_rot, sizeof *rot, cmp_rotated);
        struct log_file *files = calloc(n_rot + 1, sizeof *files);
        if (!files)
                return mg_error_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n_rot; i++) {
                n = snprintf(files[i].path, sizeof files[i].path, "%s/%s", dir, rot[i].name);
                if (n < 0 || (size_t) n >= sizeof files[i].path) {
                        free(files);
                        return mg_error_set(err, -ENAMETOOLONG, "%s/%s: path too long", dir, rot[i].name);
                }
                files[i].gz = rot[i].gz;
        }
        snprintf(files[n_rot].path, sizeof files[n_rot].path, "%s", log);
        *ret = files;
        *ret_n = n_rot + 1;
        *ret_not_read = not_read;
        return 0;
}

/* ---- output ---------------------------------------------------------- */

/* Image names and policy file names are claims: on a terminal, only
 * printable ASCII goes out (an escape sequence in an image name must not
 * reach it). --json keeps them, escaped. */
static void print_clean(FILE *out, const char *s, size_t width, bool newline_as_comma) {
        size_t len = strlen(s), shown = len > width ? width - 3 : len;
        for (size_t i = 0; i < shown; i++) {
                unsigned char ch = (unsigned char) s[i];
                fputc(newline_as_comma && ch == '\n' ? ',' : ch < 0x20 || ch >= 0x7f ? '?' : ch, out);
        }
        if (len > width)
                fputs("...", out);
        for (size_t i = len > width ? width : len; i < width; i++)
                fputc(' ', out);
}

static const char *human_bytes(uint64_t v, char *buf, size_t size) {
        static const char units[] = "BKMGTPE";
        double d = (double) v;
        size_t u = 0;
        while (d >= 1024 && u < sizeof units - 2) {
                d /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, size, "%" PRIu64 "B", v);
        else
                snprintf(buf, size, d < 10 ? "%.1f%c" : "%.0f%c", d, units[u]);
        return buf;
}

static const char *human_usec(uint64_t us, char *buf, size_t size) {
        uint64_t s = us / 1000000;
        if (us < 1000)
                snprintf(buf, size, "%" PRIu64 "us", us);
        else if (us < 1000000)
                snprintf(buf, size, "%.1fms", (double) us / 1000);
        else if (s < 60)
                snprintf(buf, size, "%.1fs", (double) us / 1000000);
        else if (s < 3600)
                snprintf(buf, size, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(buf, size, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
        else
                snprintf(buf, size, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s / 3600 % 24);
        return buf;
}

static void print_row(FILE *out, const struct report_row *row, const char *image, const char *policies) {
        char b[5][32];
        print_clean(out, image, 32, false);
        fputc(' ', out);
        print_clean(out, policies[0] ? policies : "-", 24, true);
        if (row->stops_with_events)
                snprintf(b[4], sizeof b[4], "%" PRIu64, row->low_events);
        else
                snprintf(b[4], sizeof b[4], "n/a");
        fprintf(out, " %7" PRIu64 " %6" PRIu64 " %9s %8s %6" PRIu64 " %7" PRIu64 " %7s", row->starts, row->stops,
                row->protected_us ? human_usec(row->protected_us, b[0], sizeof b[0]) : "0", b[4], row->builds, row->limit_stopped,
                human_bytes(row->bytes_freed, b[1], sizeof b[1]));
        if (row->n_durations)
                fprintf(out, " %7s %7s", human_usec(hist_percentile(row, 50), b[2], sizeof b[2]),
                        human_usec(hist_percentile(row, 99), b[3], sizeof b[3]));
        else
                fprintf(out, " %7s %7s", "-", "-");
        fprintf(out, " %6" PRIu64 " ", row->records_with_errors);
        for (size_t i = 0; i < row->n_decisions; i++) {
                fputs(i ? "," : "", out);
                print_clean(out, row->decisions[i].name, strlen(row->decisions[i].name), false);
                fprintf(out, ":%" PRIu64, row->decisions[i].n);
        }
        if (row->other_decisions)
                fprintf(out, "%sother:%" PRIu64, row->n_decisions ? "," : "", row->other_decisions);
        if (!row->n_decisions && !row->other_decisions)
                fputc('-', out);
        fputc('\n', out);
}

static int cmp_rows(const void *a, const void *b) {
        const struct report_row *x = *(struct report_row *const *) a, *y = *(struct report_row *const *) b;
        if (x->records != y->records)
                return x->records > y->records ? -1 : 1;
        int c = strcmp(x->image, y->image);
        return c ? c : strcmp(x->policies, y->policies);
}

static void print_human(FILE *out, const struct report *r, const struct log_file *files, size_t n_files, size_t not_read,
                        const char *since) {
        char t1[64], t2[64];
        fprintf(out, "oci-memguard report: %zu file%s", n_files, n_files == 1 ? "" : "s");
        if (r->records) {
                format_rfc3339(r->first_usec, t1, sizeof t1);
                format_rfc3339(r->last_usec, t2, sizeof t2);
                fprintf(out, ", %" PRIu64 " record%s from %s to %s", r->records, r->records == 1 ? "" : "s", t1, t2);
        } else
                fputs(", no records", out);
        if (since)
                fprintf(out, " (--since %s)", since);
        fputs("\n\n", out);
        fprintf(out, "%-32s %-24s %7s %6s %9s %8s %6s %7s %7s %7s %7s %6s %s\n", "IMAGE", "POLICIES", "STARTS", "STOPS", "PROTECTED",
                "BREACHES", "BUILDS", "LIMITED", "FREED", "P50", "P99", "ERRORS", "GUARD");
        for (size_t i = 0; i < r->n_rows; i++)
                print_row(out, r->rows[i], r->rows[i]->image[0] ? r->rows[i]->image : "-", r->rows[i]->policies);
        if (r->other.records)
                print_row(out, &r->other, "(other)", "(other)");
        print_row(out, &r->total, "TOTAL", "");
        fprintf(out,
                "\nlines: %" PRIu64 " read, %" PRIu64 " records, %" PRIu64 " foreign, %" PRIu64 " truncated, %" PRIu64
                " too long, %" PRIu64 " before --since\n",
                r->lines, r->records, r->foreign, r->truncated, r->too_long, r->before_since);
        for (size_t i = 0; i < n_files; i++) {
                fputs("file: ", out);
                print_clean(out, files[i].path, strlen(files[i].path), false);
                if (files[i].skipped_since)
                        fputs(": last written before --since, not read\n", out);
                else if (files[i].error[0])
                        fprintf(out, ": %" PRIu64 " lines, %s\n", files[i].lines, files[i].error);
                else
                        fprintf(out, ": %" PRIu64 " lines\n", files[i].lines);
        }
        if (not_read)
                fprintf(out, "note: %zu more rotated files not read (at most %u)\n", not_read, REPORT_MAX_FILES);
        if (r->other.records)
                fprintf(out, "note: more than %u (image, policies) keys: %" PRIu64 " records of the others are in (other)\n",
                        REPORT_MAX_KEYS, r->other.records);
        if (!r->total.stops_with_events)
                fputs("note: breaches n/a: no poststop record carries memory_events_delta\n", out);
        fputs("PROTECTED: time from start to poststop; BREACHES: memory.events low deltas; LIMITED: build steps their memory limit stopped; FREED: bytes the build guard gave back\n",
              out);
}

static void json_row(struct strbuf *sb, const struct report_row *row) {
        strbuf_printf(sb,
                      "\"records\":%" PRIu64 ",\"starts\":%" PRIu64 ",\"stops\":%" PRIu64 ",\"protected_us\":%" PRIu64
                      ",\"build_steps\":%" PRIu64 ",\"limit_stopped\":%" PRIu64,
                      row->records, row->starts, row->stops, row->protected_us, row->builds, row->limit_stopped);
        if (row->stops_with_events)
                strbuf_printf(sb, ",\"breaches\":{\"low_events\":%" PRIu64 ",\"containers\":%" PRIu64 ",\"stops_with_evidence\":%" PRIu64 "}",
                              row->low_events, row->breached_stops, row->stops_with_events);
        else
                strbuf_puts(sb, ",\"breaches\":null");
        strbuf_puts(sb, ",\"guard_decisions\":{");
        for (size_t i = 0; i < row->n_decisions; i++) {
                strbuf_puts(sb, i ? "," : "");
                strbuf_json_string(sb, row->decisions[i].name);
                strbuf_printf(sb, ":%" PRIu64, row->decisions[i].n);
        }
        if (row->other_decisions)
                strbuf_printf(sb, "%s\"other\":%" PRIu64, row->n_decisions ? "," : "", row->other_decisions);
        strbuf_printf(sb, "},\"bytes_freed\":%" PRIu64, row->bytes_freed);
        if (row->n_durations)
                strbuf_printf(sb, ",\"duration_us\":{\"count\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 "}", row->n_durations,
                              hist_percentile(row, 50), hist_percentile(row, 99));
        else
                strbuf_puts(sb, ",\"duration_us\":null");
        strbuf_printf(sb, ",\"errors\":{\"records\":%" PRIu64 ",\"messages\":%" PRIu64 "}", row->records_with_errors, row->error_lines);
}

static void json_policies(struct strbuf *sb, const char *joined) {
        strbuf_puts(sb, "[");
        for (const char *p = joined; *p;) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t) (nl - p) : strlen(p);
                char name[512];
                copy_bounded(name, sizeof name, p, n);
                strbuf_puts(sb, p == joined ? "" : ",");
                strbuf_json_string(sb, name);
                p += n + (nl ? 1 : 0);
        }
        strbuf_puts(sb, "]");
}

static int format_json(struct strbuf *sb, const struct report *r, const struct log_file *files, size_t n_files, size_t not_read,
                       const char *since) {
        char t[64];
        strbuf_puts(sb, "{\"since\":");
        if (since) {
                format_rfc3339(r->since_usec, t, sizeof t);
                strbuf_json_string(sb, t);
        } else
                strbuf_puts(sb, "null");
        if (r->records) {
                format_rfc3339(r->first_usec, t, sizeof t);
                strbuf_puts(sb, ",\"first\":");
                strbuf_json_string(sb, t);
                format_rfc3339(r->last_usec, t, sizeof t);
                strbuf_puts(sb, ",\"last\":");
                strbuf_json_string(sb, t);
        } else
                strbuf_puts(sb, ",\"first\":null,\"last\":null");
        strbuf_puts(sb, ",\"files\":[");
        for (size_t i = 0; i < n_files; i++) {
                strbuf_puts(sb, i ? ",{\"path\":" : "{\"path\":");
                strbuf_json_string(sb, files[i].path);
                strbuf_printf(sb, ",\"compressed\":%s,\"read\":%s,\"lines\":%" PRIu64 ",\"error\":", files[i].gz ? "true" : "false",
                              files[i].skipped_since ? "false" : "true", files[i].lines);
                if (files[i].error[0])
                        strbuf_json_string(sb, files[i].error);
                else
                        strbuf_puts(sb, "null");
                strbuf_puts(sb, "}");
        }
        strbuf_printf(sb,
                      "],\"files_not_read\":%zu,\"lines\":{\"read\":%" PRIu64 ",\"records\":%" PRIu64 ",\"foreign\":%" PRIu64
                      ",\"truncated\":%" PRIu64 ",\"too_long\":%" PRIu64 ",\"before_since\":%" PRIu64 "}",
                      not_read, r->lines, r->records, r->foreign, r->truncated, r->too_long, r->before_since);
        strbuf_printf(sb, ",\"keys_cap\":%u,\"other_records\":%" PRIu64 ",\"rows\":[", REPORT_MAX_KEYS, r->other.records);
        for (size_t i = 0; i < r->n_rows; i++) {
                strbuf_puts(sb, i ? ",{\"image\":" : "{\"image\":");
                strbuf_json_string(sb, r->rows[i]->image);
                strbuf_puts(sb, ",\"policies\":");
                json_policies(sb, r->rows[i]->policies);
                strbuf_puts(sb, ",");
                json_row(sb, r->rows[i]);
                strbuf_puts(sb, "}");
        }
        if (r->other.records) {
                strbuf_puts(sb, r->n_rows ? ",{\"image\":null,\"policies\":null,\"other\":true," : "{\"image\":null,\"policies\":null,\"other\":true,");
                json_row(sb, &r->other);
                strbuf_puts(sb, "}");
        }
        strbuf_puts(sb, "],\"total\":{");
        json_row(sb, &r->total);
        strbuf_puts(sb, "}}\n");
        return sb->oom ? -ENOMEM : 0;
}

int report_main(struct cli *c) {
        assert(c);
        if (c->n_args > 0) {
                fprintf(stderr, "oci-memguard: report: unexpected argument '%s'\n"
                                "usage: oci-memguard report [--since DURATION] [--json] [--log FILE]\n",
                        c->args[0]);
                return 2;
        }
        uint64_t since = 0;
        if (c->since) {
                uint64_t d;
                if (report_parse_duration(c->since, &d) < 0) {
                        fprintf(stderr, "oci-memguard: report: --since: '%s' is not a duration (90s, 15m, 1h30m, 7d, 2w)\n", c->since);
                        return 2;
                }
                uint64_t now = now_usec_realtime();
                since = d < now ? now - d : 1;
        }
        _cleanup_report_ struct report *r = NULL;
        if (report_new(since, &r) < 0) {
                fprintf(stderr, "oci-memguard: report: out of memory\n");
                return 1;
        }
        struct mg_error err = {0};
        _cleanup_free_ struct log_file *files = NULL;
        size_t n_files = 0, not_read = 0;
        if (find_log_files(c->opts.log_file, &files, &n_files, &not_read, &err) < 0) {
                fprintf(stderr, "oci-memguard: report: %s\n", err.msg);
                return 1;
        }
        size_t n_read = 0;
        for (size_t i = 0; i < n_files; i++) {
                err = (struct mg_error) {0};
                int k = read_log_file(r, &files[i], &err);
                if (k == -ENOMEM) {
                        fprintf(stderr, "oci-memguard: report: %s: out of memory\n", files[i].path);
                        return 1;
                }
                /* The live log may be missing just after a rotation (the
                 * next hook run creates it): fine when rotated files exist. */
                if (k == -ENOENT && i == n_files - 1 && n_files > 1) {
                        snprintf(files[i].error, sizeof files[i].error, "missing (rotated, not written since)");
                        continue;
                }
                if (k < 0)
                        snprintf(files[i].error, sizeof files[i].error, "%s", err.msg);
                else
                        n_read++;
        }
        if (n_read == 0 && n_files == 1 && files[0].error[0]) {
                fprintf(stderr, "oci-memguard: report: %s: %s\n", files[0].path, files[0].error);
                return 1;
        }
        qsort(r->rows, r->n_rows, sizeof r->rows[0], cmp_rows);
        if (c->json) {
                _cleanup_strbuf_ struct strbuf sb = {0};
                if (format_json(&sb, r, files, n_files, not_read, c->since) < 0) {
                        fprintf(stderr, "oci-memguard: report: out of memory\n");
                        return 1;
                }
                fwrite(sb.buf, 1, sb.len, stdout);
        } else
                print_human(stdout, r, files, n_files, not_read, c->since);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "oci-memguard: report: write stdout: %s\n", strerror(errno));
                return 1;
        }
        return 0;
}
