/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "util.h"

#define P "oci_memguard_"

/* Hook runs take milliseconds; the lock wait of a burst of starts up to
 * the run's 5 s deadline. One set of bounds serves both. */
static const uint64_t bucket_us[] = { 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000 };
static const char *const bucket_le[] = { "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10" };
_Static_assert(sizeof bucket_us / sizeof bucket_us[0] == sizeof bucket_le / sizeof bucket_le[0], "one label per bound");

static struct metrics_series *find(struct metrics *m, const char *key) {
        for (size_t i = 0; i < m->n; i++)
                if (STREQ(m->s[i].key, key))
                        return &m->s[i];
        return NULL;
}

const struct metrics_series *metrics_find(const struct metrics *m, const char *key) {
        assert(m && key);
        return find((struct metrics *) m, key);
}

static struct metrics_series *get(struct metrics *m, const char *key) {
        struct metrics_series *s = find(m, key);
        if (s)
                return s;
        if (m->n >= METRICS_MAX_SERIES || strlen(key) >= METRICS_MAX_KEY)
                return NULL;
        s = &m->s[m->n++];
        snprintf(s->key, sizeof s->key, "%s", key);
        s->value = 0;
        return s;
}

int metrics_add(struct metrics *m, const char *key, uint64_t delta) {
        assert(m && key);
        struct metrics_series *s = get(m, key);
        if (!s)
                return -E2BIG;
        s->value = s->value > UINT64_MAX - delta ? UINT64_MAX : s->value + delta;
        return 0;
}

int metrics_set(struct metrics *m, const char *key, uint64_t value) {
        assert(m && key);
        struct metrics_series *s = get(m, key);
        if (!s)
                return -E2BIG;
        s->value = value;
        return 0;
}

void metrics_unset(struct metrics *m, const char *key) {
        assert(m && key);
        struct metrics_series *s = find(m, key);
        if (!s)
                return;
        size_t i = (size_t) (s - m->s);
        memmove(&m->s[i], &m->s[i + 1], (m->n - i - 1) * sizeof m->s[0]);
        m->n--;
}

int metrics_parse(const char *buf, size_t len, struct metrics *ret) {
        assert(buf && ret);
        ret->n = 0;
        struct json_node *root = NULL;
        struct mg_error err = {0};
        if (len > METRICS_MAX_STATE_BYTES || json_parse(buf, len, NULL, &root, &err) < 0)
                return -EBADMSG;
        int r = 0;
        if (root->type != JSON_OBJECT)
                r = -EBADMSG;
        else if (root->n > METRICS_MAX_SERIES)
                r = -E2BIG;
        for (size_t i = 0; r == 0 && i < root->n; i++) {
                uint64_t v;
                if (strlen(root->keys[i]) >= METRICS_MAX_KEY || strncmp(root->keys[i], P, strlen(P)) != 0 ||
                    json_number_u64(root->items[i], &v) < 0)
                        r = -EBADMSG;
                else if (metrics_set(ret, root->keys[i], v) < 0)
                        r = -E2BIG;
        }
        json_free(root);
        if (r < 0)
                ret->n = 0;
        return r;
}

void metrics_serialize(const struct metrics *m, struct strbuf *sb) {
        assert(m && sb);
        strbuf_puts(sb, "{");
        for (size_t i = 0; i < m->n; i++) {
                if (i)
                        strbuf_puts(sb, ",");
                strbuf_json_string(sb, m->s[i].key);
                strbuf_printf(sb, ":%" PRIu64, m->s[i].value);
        }
        strbuf_puts(sb, "}\n");
}

/* A label value as the text format wants it: \ " and newline escaped. */
static void label_value(char *buf, size_t size, const char *v, size_t len) {
        size_t o = 0;
        for (size_t i = 0; i < len && o + 3 < size; i++) {
                char c = v[i];
                if (c == '\\' || c == '"') {
                        buf[o++] = '\\';
                        buf[o++] = c;
                } else if (c == '\n') {
                        buf[o++] = '\\';
                        buf[o++] = 'n';
                } else if ((unsigned char) c >= 0x20)
                        buf[o++] = c;
        }
        buf[o] = '\0';
}

static void observe(struct metrics *m, const char *family, const char *labels, uint64_t v_us) {
        char key[METRICS_MAX_KEY];
        const char *sep = labels[0] ? "," : "";
        for (size_t i = 0; i < ELEMENTSOF(bucket_us); i++) {
                snprintf(key, sizeof key, "%s_bucket{%s%sle=\"%s\"}", family, labels, sep, bucket_le[i]);
                (void) metrics_add(m, key, v_us <= bucket_us[i] ? 1 : 0);
        }
        snprintf(key, sizeof key, "%s_bucket{%s%sle=\"+Inf\"}", family, labels, sep);
        (void) metrics_add(m, key, 1);
        snprintf(key, sizeof key, labels[0] ? "%s_sum_us{%s}" : "%s_sum_us%s", family, labels);
        (void) metrics_add(m, key, v_us);
        snprintf(key, sizeof key, labels[0] ? "%s_count{%s}" : "%s_count%s", family, labels);
        (void) metrics_add(m, key, 1);
}

static unsigned policy_labels(const struct metrics *m) {
        unsigned n = 0;
        for (size_t i = 0; i < m->n; i++)
                if (strncmp(m->s[i].key, P "breaches_total{policy=", strlen(P "breaches_total{policy=")) == 0)
                        n++;
        return n;
}

/* One breach per policy the container matched: an alert can name the
 * policy whose promise did not hold. */
static void count_breach(struct metrics *m, const char *policies_body) {
        const char *p = policies_body;
        bool any = false;
        while (p && (p = strchr(p, '"'))) {
                const char *end = p + 1;
                while (*end && *end != '"')
                        end += end[0] == '\\' && end[1] ? 2 : 1;
                if (!*end)
                        break;
                char lv[96], key[METRICS_MAX_KEY];
                label_value(lv, sizeof lv, p + 1, (size_t) (end - p - 1));
                snprintf(key, sizeof key, P "breaches_total{policy=\"%s\"}", lv);
                if (!find(m, key) && policy_labels(m) >= METRICS_MAX_POLICY_LABELS)
                        snprintf(key, sizeof key, P "breaches_total{policy=\"other\"}");
                (void) metrics_add(m, key, 1);
                any = true;
                p = end + 1;
        }
        if (!any)
                (void) metrics_add(m, P "breaches_total{policy=\"none\"}", 1);
}

void metrics_account(struct metrics *m, const struct metrics_run *run) {
        assert(m && run);
        char key[METRICS_MAX_KEY], labels[64];
        if (run->stage && run->outcome) {
                snprintf(key, sizeof key, P "runs_total{stage=\"%s\",outcome=\"%s\"}", run->stage, run->outcome);
                (void) metrics_add(m, key, 1);
        }
        if (run->stage && run->have_duration) {
                snprintf(labels, sizeof labels, "stage=\"%s\"", run->stage);
                observe(m, P "hook_duration_seconds", labels, run->duration_us);
        }
        if (run->have_lock_wait)
                observe(m, P "lock_wait_seconds", "", run->lock_wait_us);
        if (run->verdict) {
                char lv[32];
                label_value(lv, sizeof lv, run->verdict, strlen(run->verdict));
                snprintf(key, sizeof key, P "verdicts_total{verdict=\"%s\"}", lv);
                (void) metrics_add(m, key, 1);
                if (STREQ(run->verdict, "breached"))
                        count_breach(m, run->policies_body);
        }
        if (run->guard_decision) {
                char lv[32];
                label_value(lv, sizeof lv, run->guard_decision, strlen(run->guard_decision));
                snprintf(key, sizeof key, P "build_guard_decisions_total{decision=\"%s\"}", lv);
                (void) metrics_add(m, key, 1);
                (void) metrics_add(m, P "build_guard_freed_bytes_total", run->guard_freed_bytes);
        }
}

void metrics_set_gauges(struct metrics *m, const struct metrics_gauges *g) {
        assert(m && g);
        (void) metrics_set(m, P "protection_bytes{kind=\"min\"}", g->held_min);
        (void) metrics_set(m, P "protection_bytes{kind=\"low\"}", g->held_low);
        (void) metrics_set(m, P "protected_containers", g->protected_containers);
        if (g->mem_total)
                (void) metrics_set(m, P "memory_total_bytes", g->mem_total);
        if (g->swappiness_claimed)
                (void) metrics_set(m, P "swappiness_claimed", g->swappiness);
        else
                metrics_unset(m, P "swappiness_claimed");
}

enum ftype { F_COUNTER, F_GAUGE, F_HISTOGRAM };
static const struct family {
        const char *name;
        enum ftype type;
        const char *help;
} families[] = {
        { P "runs_total", F_COUNTER, "Hook runs by stage and outcome (ok, error, skipped)." },
        { P "verdicts_total", F_COUNTER, "Stopped protected containers by evidence verdict (held, breached, not available)." },
        { P "breaches_total", F_COUNTER, "Containers reclaimed below their protection, by matched policy file." },
        { P "build_guard_decisions_total", F_COUNTER, "Build guard runs by decision." },
        { P "build_guard_freed_bytes_total", F_COUNTER, "MemAvailable the build guard gained, summed." },
        { P "protection_bytes", F_GAUGE, "Protection the live records hold at their leaves, by kind (min, low)." },
        { P "protected_containers", F_GAUGE, "Containers holding protection now." },
        { P "memory_total_bytes", F_GAUGE, "MemTotal of the host." },
        { P "swappiness_claimed", F_GAUGE, "vm.swappiness the running builds claim (absent: no claim)." },
        { P "hook_duration_seconds", F_HISTOGRAM, "Hook run time up to its state committed, by stage." },
        { P "lock_wait_seconds", F_HISTOGRAM, "Time a run waited for the ledger lock." },
};

static bool has_prefix_then(const char *key, const char *name, const char *suffix) {
        size_t n = strlen(name), s = strlen(suffix);
        if (strncmp(key, name, n) != 0 || strncmp(key + n, suffix, s) != 0)
                return false;
        char c = key[n + s];
        return c == '\0' || c == '{';
}

void metrics_render(const struct metrics *m, struct strbuf *sb) {
        assert(m && sb);
        for (size_t f = 0; f < ELEMENTSOF(families); f++) {
                const struct family *fam = &families[f];
                static const char *const tname[] = { "counter", "gauge", "histogram" };
                bool header = false;
                for (size_t i = 0; i < m->n; i++) {
                        const char *key = m->s[i].key;
                        bool mine = fam->type == F_HISTOGRAM ? has_prefix_then(key, fam->name, "_bucket") ||
                                                                       has_prefix_then(key, fam->name, "_sum_us") ||
                                                                       has_prefix_then(key, fam->name, "_count")
                                                             : has_prefix_then(key, fam->name, "");
                        if (!mine)
                                continue;
                        if (!header) {
                                strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, tname[fam->type]);
                                header = true;
                        }
                        if (fam->type == F_HISTOGRAM && has_prefix_then(key, fam->name, "_sum_us")) {
                                const char *labels = key + strlen(fam->name) + strlen("_sum_us");
                                strbuf_printf(sb, "%s_sum%s %" PRIu64 ".%06" PRIu64 "\n", fam->name, labels, m->s[i].value / 1000000u,
                                              m->s[i].value % 1000000u);
                        } else
                                strbuf_printf(sb, "%s %" PRIu64 "\n", key, m->s[i].value);
                }
        }
        /* The share of RAM promised: what an alert on over-commitment
         * compares against (derived, so it cannot disagree with the bytes). */
        const struct metrics_series *total = metrics_find(m, P "memory_total_bytes");
        if (total && total->value > 0) {
                strbuf_puts(sb, "# HELP " P "protection_ratio Protection held as a share of MemTotal, by kind.\n# TYPE " P "protection_ratio gauge\n");
                static const char *const kinds[] = { "min", "low" };
                for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                        char key[METRICS_MAX_KEY];
                        snprintf(key, sizeof key, P "protection_bytes{kind=\"%s\"}", kinds[k]);
                        const struct metrics_series *s = metrics_find(m, key);
                        strbuf_printf(sb, P "protection_ratio{kind=\"%s\"} %.6f\n", kinds[k], s ? (double) s->value / (double) total->value : 0.0);
                }
        }
}

/* Replaces dirfd/name with data: a temporary file renamed over it, so a
 * reader sees the old version or the new one. No fsync: after a crash the
 * next run rewrites both files, and an fsync under the ledger lock would
 * make every start behind it wait for the disk. */
static int replace_file_at(int dirfd, const char *name, const char *data, size_t len, mode_t mode) {
        char tmp[128];
        int n = snprintf(tmp, sizeof tmp, ".%s.tmp.%ld", name, (long) getpid());
        if (n < 0 || (size_t) n >= sizeof tmp)
                return -ENAMETOOLONG;
        (void) unlinkat(dirfd, tmp, 0); /* left by a killed run of this pid */
        _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        int r = write_all(fd, data, len);
        if (r == 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dirfd, tmp, 0);
        return r;
}

int metrics_commit(int state_dirfd, const char *metrics_dir, const struct metrics_run *run, const struct metrics_gauges *g) {
        assert(state_dirfd >= 0 && metrics_dir);
        struct metrics *m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        if (read_file_at(state_dirfd, METRICS_STATE_FILE, METRICS_MAX_STATE_BYTES, &buf, &len) == 0)
                (void) metrics_parse(buf, len, m); /* junk: the counters restart */
        if (run)
                metrics_account(m, run);
        if (g)
                metrics_set_gauges(m, g);
        _cleanup_strbuf_ struct strbuf state = {0}, text = {0};
        metrics_serialize(m, &state);
        if (metrics_dir[0])
                metrics_render(m, &text);
        free(m);
        if (state.oom || text.oom)
                return -ENOMEM;
        int r = replace_file_at(state_dirfd, METRICS_STATE_FILE, state.buf, state.len, 0600);
        if (r < 0 || !metrics_dir[0])
                return r;
        _cleanup_close_ int dfd = open(metrics_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        /* 0644: node_exporter runs as its own user and only reads it. */
        return replace_file_at(dfd, METRICS_FILE_NAME, text.buf ? text.buf : "", text.len, 0644);
}
