/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "budget_view.h"

#include "meminfo.h"

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

void budget_top_free(struct budget_top *t) {
        if (!t)
                return;
        free(t->holders);
        *t = (struct budget_top) {0};
}

static int holder_cmp(const void *a, const void *b) {
        const struct budget_holder *x = a, *y = b;
        uint64_t px = budget_protection_of(x->min, x->low), py = budget_protection_of(y->min, y->low);
        if (px != py)
                return px > py ? -1 : 1;
        return strcmp(x->name, y->name);
}

struct dirent64_head {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
};

int budget_top_read(const struct cgroup_host *h, struct budget_top *ret) {
        assert(h);
        assert(ret);
        *ret = (struct budget_top) {0};
        if (h->v2_fd < 0)
                return -ENOENT;
        /* The mount's fd is O_PATH: list through a real directory fd, with
         * getdents64 itself (no stdio DIR for one listing). */
        _cleanup_close_ int dfd = openat(h->v2_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        struct budget_top t = {0};
        size_t cap = 0;
        int r = 0;
        _Alignas(8) char buf[4096];
        for (;;) {
                long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                for (long off = 0; off < n && r == 0;) {
                        const struct dirent64_head *de = (const struct dirent64_head *) (buf + off);
                        off += de->d_reclen;
                        if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
                                continue;
                        if (t.n_children >= BUDGET_TOP_MAX_CHILDREN) {
                                r = -E2BIG;
                                break;
                        }
                        /* Beneath the root, no symlink anywhere: a symlink
                         * below the root is no cgroup (and must not lead out
                         * of cgroupfs); a file has no memory.min below it. */
                        uint64_t min = 0, low = 0;
                        int rm = cgroup_read_child_value(h->v2_fd, de->d_name, "memory.min", &min);
                        if (rm == -ENOTDIR || rm == -ELOOP || rm == -EXDEV)
                                continue;
                        t.n_children++;
                        if (rm < 0)
                                min = 0;
                        if (cgroup_read_child_value(h->v2_fd, de->d_name, "memory.low", &low) < 0)
                                low = 0;
                        if (min == 0 && low == 0)
                                continue;
                        budget_usage_add(&t.used, min, low);
                        if (t.n_holders == cap) {
                                size_t ncap = cap ? cap * 2 : 8;
                                struct budget_holder *more = realloc(t.holders, ncap * sizeof *more);
                                if (!more) {
                                        free(t.holders);
                                        return -ENOMEM;
                                }
                                t.holders = more;
                                cap = ncap;
                        }
                        struct budget_holder *bh = &t.holders[t.n_holders++];
                        snprintf(bh->name, sizeof bh->name, "/%s", de->d_name);
                        bh->min = min;
                        bh->low = low;
                }
                if (r < 0)
                        break;
        }
        if (t.n_holders > 1)
                qsort(t.holders, t.n_holders, sizeof *t.holders, holder_cmp);
        *ret = t;
        return r;
}

const char *budget_format_bytes(uint64_t v, char *buf, size_t size) {
        assert(buf);
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        if (v == UINT64_MAX) {
                snprintf(buf, size, "max");
                return buf;
        }
        unsigned u = 0;
        while (u + 1 < ELEMENTSOF(units) && v >= (UINT64_C(1) << (10 * (u + 1))))
                u++;
        if (u == 0)
                snprintf(buf, size, "%" PRIu64 " B", v);
        else {
                /* one decimal, rounded down: a budget is never shown larger
                 * than it is */
                uint64_t whole = v >> (10 * u), tenth = ((v - (whole << (10 * u))) * 10) >> (10 * u);
                if (tenth)
                        snprintf(buf, size, "%" PRIu64 ".%" PRIu64 " %s", whole, tenth, units[u]);
                else
                        snprintf(buf, size, "%" PRIu64 " %s", whole, units[u]);
        }
        return buf;
}

static void json_value(struct strbuf *sb, uint64_t v) {
        if (v == UINT64_MAX)
                strbuf_puts(sb, "\"max\"");
        else
                strbuf_printf(sb, "%" PRIu64, v);
}

void budget_decision_json(const struct budget_decision *d, struct strbuf *sb) {
        assert(d);
        assert(sb);
        const struct {
                const char *name, *second;
                uint64_t a, b;
        } pairs[] = {
                { "requested", "low", d->requested.min, d->requested.low },
                { "granted", "low", d->granted.min, d->granted.low },
                { "budget", "protection", d->budget.min, d->budget.protection },
                { "used", "protection", d->used.min, d->used.protection },
        };
        strbuf_printf(sb, "{\"verdict\":\"%s\"", budget_verdict_name(d->verdict));
        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                strbuf_printf(sb, ",\"%s\":{\"min\":", pairs[i].name);
                json_value(sb, pairs[i].a);
                strbuf_printf(sb, ",\"%s\":", pairs[i].second);
                json_value(sb, pairs[i].b);
                strbuf_puts(sb, "}");
        }
        strbuf_puts(sb, "}");
}

void budget_decision_describe(const struct budget_decision *d, char *buf, size_t size) {
        assert(d);
        assert(buf);
        char rm[32], rl[32], gm[32], gl[32], bm[32], bp[32], um[32], up[32];
        budget_format_bytes(d->requested.min, rm, sizeof rm);
        budget_format_bytes(d->requested.low, rl, sizeof rl);
        budget_format_bytes(d->granted.min, gm, sizeof gm);
        budget_format_bytes(d->granted.low, gl, sizeof gl);
        budget_format_bytes(d->budget.min, bm, sizeof bm);
        budget_format_bytes(d->budget.protection, bp, sizeof bp);
        budget_format_bytes(d->used.min, um, sizeof um);
        budget_format_bytes(d->used.protection, up, sizeof up);
        const char *what = d->verdict == BUDGET_FITS      ? "fits"
                           : d->verdict == BUDGET_CLAMPED ? "clamped: it does not fit, it gets what is left"
                                                          : "refused: it does not fit and its policy says on_error=fail";
        snprintf(buf, size,
                 "budget %s; min %s asked, %s granted; low %s asked, %s granted; held before: memory.min %s of its budget %s, protection (min or low) %s of %s",
                 what, rm, gm, rl, gl, um, bm, up, bp);
}

int budget_limits_for_host(const char *sysroot, const struct host_config *hc, struct budget_limits *ret, uint64_t *ret_mem_total) {
        assert(sysroot);
        assert(hc);
        assert(ret);
        struct meminfo mi = {0};
        int r = meminfo_read(sysroot, &mi);
        long ps = sysconf(_SC_PAGESIZE);
        budget_limits_resolve(hc, r < 0 ? 0 : mi.total, ps > 0 ? (uint64_t) ps : 4096, ret);
        if (ret_mem_total)
                *ret_mem_total = r < 0 ? 0 : mi.total;
        return r;
}

const char *budget_cap_describe(const struct host_cap *c, uint64_t bytes, char *buf, size_t size) {
        assert(c);
        assert(buf);
        char b[32];
        if (c->unlimited)
                snprintf(buf, size, "max (no cap)");
        else if (c->size.percent)
                snprintf(buf, size, "%s (%" PRIu64 "%% of MemTotal)", budget_format_bytes(bytes, b, sizeof b), c->size.value);
        else
                snprintf(buf, size, "%s", budget_format_bytes(bytes, b, sizeof b));
        return buf;
}

bool budget_cap_exceeds_ram(const struct host_cap *c, uint64_t bytes, uint64_t mem_total) {
        assert(c);
        if (c->unlimited)
                return true;
        if (c->size.percent)
                return c->size.value >= 100;
        return mem_total > 0 && bytes >= mem_total;
}

/* "512MiB": the syslog line has no room for spaces inside a field. */
static const char *compact_bytes(uint64_t v, char *buf, size_t size) {
        char tmp[32];
        budget_format_bytes(v, tmp, sizeof tmp);
        size_t j = 0;
        for (size_t i = 0; tmp[i] && j + 1 < size; i++)
                if (tmp[i] != ' ')
                        buf[j++] = tmp[i];
        buf[j] = '\0';
        return buf;
}

void budget_outcome(struct outcome *out, const struct budget_decision *d) {
        assert(out);
        assert(d);
        _cleanup_(strbuf_free) struct strbuf sb = {0};
        budget_decision_json(d, &sb);
        if (sb.buf && !sb.oom)
                outcome_extra_raw(out, "budget", sb.buf);
        if (d->verdict == BUDGET_FITS)
                return;
        char line[512];
        budget_decision_describe(d, line, sizeof line);
        outcome_skip(out, "%s", line);
        char gm[24], rm[24], gl[24], rl[24];
        snprintf(out->budget_summary, sizeof out->budget_summary, " budget=%s min=%s/%s low=%s/%s", budget_verdict_name(d->verdict),
                 compact_bytes(d->granted.min, gm, sizeof gm), compact_bytes(d->requested.min, rm, sizeof rm),
                 compact_bytes(d->granted.low, gl, sizeof gl), compact_bytes(d->requested.low, rl, sizeof rl));
}
