/* SPDX-License-Identifier: GPL-2.0-or-later */
/* oci-memguard status [--json]: what the hook holds now, from the state dir
 * and the kernel, changing nothing (no lock taken, nothing moved aside, no
 * file created): cheap enough for `watch -n1`. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "evidence.h"
#include "metrics.h"
#include "nodefile.h"
#include "state.h"
#include "util.h"

/* A state dir with more records than this is not one the hook made. */
#define STATUS_MAX_RECORDS 100000u

struct status_ctx {
        const char *sysroot;
        int state_fd;
        char v2_mount[512];
        struct json_node *ledger;       /* ledger.json, NULL when none */
        struct strbuf js;               /* --json body */
        struct strbuf text;
        unsigned n_live, n_stale, n_protected, n_breached;
};

static const char *fmt_bytes(uint64_t v, char *buf, size_t size) {
        static const char units[] = "KMGT";
        if (v < 1024) {
                snprintf(buf, size, "%" PRIu64, v);
                return buf;
        }
        double d = (double) v;
        unsigned u = 0;
        while (d >= 1024.0 && u < 4) {
                d /= 1024.0;
                u++;
        }
        snprintf(buf, size, "%.1f%c", d, units[u - 1]);
        return buf;
}

static int open_cg(const struct status_ctx *c, const char *cgroup_dir) {
        char path[PATH_MAX];
        if (!cgroup_dir[0] || path_join(path, sizeof path, c->sysroot, cgroup_dir) < 0)
                return -ENOENT;
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static bool record_alive(const struct status_ctx *c, const char *cgroup_dir, int64_t pid, uint64_t starttime) {
        _cleanup_close_ int fd = open_cg(c, cgroup_dir);
        if (fd >= 0)
                return true;
        uint64_t st;
        return pid > 0 && proc_starttime(c->sysroot, pid, &st) == 0 && (starttime == 0 || st == starttime);
}

static const char *str_of(const struct json_node *rec, const char *key) {
        const struct json_node *n = json_get(rec, key);
        return n && n->type == JSON_STRING ? n->str : "";
}

static uint64_t u64_of(const struct json_node *rec, const char *key) {
        uint64_t v = 0;
        const struct json_node *n = json_get(rec, key);
        if (n)
                (void) json_number_u64(n, &v);
        return v;
}

static struct json_node *read_json_at(int dirfd, const char *path, size_t max);

/* The node file of a cgroup (nodefile.h), NULL when the hook keeps none. */
static struct json_node *node_read(const struct status_ctx *c, const char *path) {
        char name[NODE_FILE_NAME_SIZE], rel[NODE_FILE_NAME_SIZE + 8];
        node_file_name(path, name);
        snprintf(rel, sizeof rel, "nodes/%s", name);
        return c->state_fd >= 0 ? read_json_at(c->state_fd, rel, MEMGUARD_MAX_RECORD_BYTES) : NULL;
}

static bool node_is_held(const struct status_ctx *c, const char *path) {
        const struct json_node *cgs = c->ledger ? json_get(c->ledger, "cgroups") : NULL;
        if (cgs && json_get(cgs, path))
                return true; /* a state dir of an older version */
        struct json_node *n = node_read(c, path);
        bool held = n && (json_get(n, "memory.min") || json_get(n, "memory.low"));
        json_free(n);
        return held;
}

static void shared_value(struct status_ctx *c, const char *path, const char *file, const struct json_node *e, unsigned *n) {
        const char *orig = str_of(e, "orig"), *set = str_of(e, "set");
        bool foreign = false;
        (void) json_get_bool(e, "foreign", &foreign, NULL);
        strbuf_puts(&c->js, (*n)++ ? ",{\"target\":" : "{\"target\":");
        strbuf_json_string(&c->js, path);
        strbuf_puts(&c->js, ",\"file\":");
        strbuf_json_string(&c->js, file);
        strbuf_puts(&c->js, ",\"orig\":");
        strbuf_json_string(&c->js, orig);
        strbuf_puts(&c->js, ",\"set\":");
        strbuf_json_string(&c->js, set);
        strbuf_printf(&c->js, ",\"foreign\":%s}", foreign ? "true" : "false");
        strbuf_printf(&c->text, "  %s %s: %s -> %s%s\n", path, file, orig, set, foreign ? " (changed by someone else: left alone)" : "");
}

static int node_cmp(const void *a, const void *b) {
        const struct json_node *const *x = a, *const *y = b;
        return strcmp(str_of(*x, "path"), str_of(*y, "path"));
}

/* Every node file, by path. */
static void shared_nodes(struct status_ctx *c, unsigned *n) {
        int dfd = c->state_fd >= 0 ? openat(c->state_fd, "nodes", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                if (dfd >= 0)
                        close(dfd);
                return;
        }
        struct json_node **nodes = NULL;
        size_t k = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d)) && k < STATUS_MAX_RECORDS) {
                if (strlen(de->d_name) != NODE_FILE_NAME_SIZE - 1)
                        continue;
                struct json_node *nd = read_json_at(dirfd(d), de->d_name, MEMGUARD_MAX_RECORD_BYTES);
                if (!nd)
                        continue;
                if (k == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        struct json_node **nn = realloc(nodes, ncap * sizeof *nn);
                        if (!nn) {
                                json_free(nd);
                                break;
                        }
                        nodes = nn;
                        cap = ncap;
                }
                nodes[k++] = nd;
        }
        closedir(d);
        if (k > 1)
                qsort(nodes, k, sizeof *nodes, node_cmp);
        for (size_t i = 0; i < k; i++) {
                for (int v = 0; v < LV_N; v++) {
                        const struct json_node *e = json_get(nodes[i], plan_value_file[v]);
                        if (e && e->type == JSON_OBJECT)
                                shared_value(c, str_of(nodes[i], "path"), plan_value_file[v], e, n);
                }
                json_free(nodes[i]);
        }
        free(nodes);
}

/* What each ancestor of the leaf holds now (the kernel's memory.min/low)
 * and, when the hook raised it, the value it set. */
static void ancestors(struct status_ctx *c, const char *cgroup, struct strbuf *js, struct strbuf *text) {
        char path[1024];
        snprintf(path, sizeof path, "%s", cgroup);
        strbuf_puts(js, ",\"ancestors\":[");
        bool first = true;
        char *slash;
        while ((slash = strrchr(path, '/')) && slash != path) {
                *slash = '\0';
                char dir[PATH_MAX], rel[1600];
                snprintf(rel, sizeof rel, "%s%s", c->v2_mount, path);
                uint64_t v[2] = {0};
                bool have[2] = {false, false};
                static const char *const files[] = { "memory.min", "memory.low" };
                if (path_join(dir, sizeof dir, c->sysroot, rel) == 0) {
                        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        for (int k = 0; k < 2 && fd >= 0; k++) {
                                char b[32];
                                have[k] = read_small_at(fd, files[k], b, sizeof b) >= 0 && parse_cgroup_value(b, &v[k]) == 0;
                        }
                }
                bool entry = node_is_held(c, path);
                strbuf_puts(js, first ? "{\"cgroup\":" : ",{\"cgroup\":");
                first = false;
                strbuf_json_string(js, path);
                char a[24], b2[24];
                strbuf_printf(text, "      ancestor %s: memory.min=%s memory.low=%s%s\n", path, have[0] ? fmt_bytes(v[0], a, sizeof a) : "?",
                              have[1] ? fmt_bytes(v[1], b2, sizeof b2) : "?", entry ? " (raised by the hook)" : "");
                for (int k = 0; k < 2; k++)
                        if (have[k])
                                strbuf_printf(js, ",\"%s\":%" PRIu64, files[k], v[k]);
                strbuf_printf(js, ",\"raised_by_hook\":%s}", entry ? "true" : "false");
        }
        strbuf_puts(js, "]");
}

static void one_record(struct status_ctx *c, const char *file, const struct json_node *rec) {
        const char *id = str_of(rec, "id"), *cgroup = str_of(rec, "cgroup"), *cgroup_dir = str_of(rec, "cgroup_dir");
        int64_t pid = 0;
        const struct json_node *pn = json_get(rec, "pid");
        if (pn)
                (void) json_number_i64(pn, &pid);
        bool alive = record_alive(c, cgroup_dir, pid, u64_of(rec, "starttime"));
        bool protect = false;
        (void) json_get_bool(rec, "protect", &protect, NULL);
        uint64_t min = u64_of(rec, "min"), low = u64_of(rec, "low");
        if (!alive) {
                c->n_stale++;
                strbuf_printf(&c->text, "  stale record %s (%s): cgroup %s gone, pid %" PRId64 " gone; the next run gives back what it holds\n", id,
                              file, cgroup, pid);
                strbuf_puts(&c->js, c->n_live + c->n_stale > 1 ? ",{" : "{");
                strbuf_puts(&c->js, "\"id\":");
                strbuf_json_string(&c->js, id);
                strbuf_puts(&c->js, ",\"stale\":true,\"cgroup\":");
                strbuf_json_string(&c->js, cgroup);
                strbuf_printf(&c->js, ",\"min\":%" PRIu64 ",\"low\":%" PRIu64 "}", min, low);
                return;
        }
        c->n_live++;
        if (protect && (min || low))
                c->n_protected++;

        /* The kernel now, against the start's snapshot. */
        const struct json_node *extra = json_get(rec, "extra");
        const struct json_node *snap = extra ? json_get(extra, "evidence") : NULL;
        struct ev_sample before = {0}, now = {0};
        struct ev_judge_input in = { .v2 = true, .protected_ = protect && (min || low), .min = min, .before = &before, .after = &now };
        in.have_before = snap && evidence_sample_from_json(snap, &before) == 0;
        _cleanup_close_ int fd = open_cg(c, cgroup_dir);
        in.have_after = fd >= 0 && evidence_read_at(fd, &now) == 0;
        if (snap && json_get(snap, "unavailable")) {
                in.v2 = false;
                in.protected_ = true;
        }
        enum ev_verdict v = evidence_judge(&in);
        if (v == EV_BREACHED)
                c->n_breached++;
        uint64_t breaches = in.have_before && in.have_after ? evidence_delta(before.events[EV_LOW], now.events[EV_LOW]) : 0;

        strbuf_puts(&c->js, c->n_live + c->n_stale > 1 ? ",{" : "{");
        strbuf_puts(&c->js, "\"id\":");
        strbuf_json_string(&c->js, id);
        strbuf_puts(&c->js, ",\"stale\":false,\"cgroup\":");
        strbuf_json_string(&c->js, cgroup);
        strbuf_puts(&c->js, ",\"image\":");
        strbuf_json_string(&c->js, str_of(rec, "image"));
        const struct json_node *pol = json_get(rec, "policies");
        _cleanup_strbuf_ struct strbuf pols = {0};
        strbuf_puts(&c->js, ",\"policies\":[");
        for (size_t i = 0; pol && pol->type == JSON_ARRAY && i < pol->n; i++) {
                if (pol->items[i]->type != JSON_STRING)
                        continue;
                strbuf_puts(&c->js, i ? "," : "");
                strbuf_json_string(&c->js, pol->items[i]->str);
                strbuf_printf(&pols, "%s%s", i ? "," : "", pol->items[i]->str);
        }
        strbuf_printf(&c->js, "],\"protect\":%s,\"min\":%" PRIu64 ",\"low\":%" PRIu64, protect ? "true" : "false", min, low);
        if (in.have_after && now.have_current)
                strbuf_printf(&c->js, ",\"memory_current\":%" PRIu64, now.current);
        strbuf_printf(&c->js, ",\"breaches\":%" PRIu64 ",\"verdict\":\"%s\"", breaches, evidence_verdict_name(v));
        char a[24], b[24], cur[24];
        strbuf_printf(&c->text, "  %s  cgroup=%s image=%s policies=%s\n      claims: min=%s low=%s  memory.current=%s  breaches so far: %" PRIu64 " (%s)\n",
                      id, cgroup, str_of(rec, "image")[0] ? str_of(rec, "image") : "-", pols.buf ? pols.buf : "-", fmt_bytes(min, a, sizeof a),
                      fmt_bytes(low, b, sizeof b), in.have_after && now.have_current ? fmt_bytes(now.current, cur, sizeof cur) : "?", breaches,
                      evidence_verdict_name(v));
        if (cgroup[0] && c->v2_mount[0])
                ancestors(c, cgroup, &c->js, &c->text);
        strbuf_puts(&c->js, "}");
}

static void shared_values(struct status_ctx *c) {
        strbuf_puts(&c->js, "],\"shared\":[");
        strbuf_puts(&c->text, "shared values (original -> set):\n");
        const struct json_node *cgs = c->ledger ? json_get(c->ledger, "cgroups") : NULL;
        unsigned n = 0;
        /* a state dir of an older version: its ledger.json held them */
        for (size_t i = 0; cgs && cgs->type == JSON_OBJECT && i < cgs->n; i++) {
                const struct json_node *e = cgs->items[i];
                for (size_t k = 0; e && e->type == JSON_OBJECT && k < e->n; k++)
                        shared_value(c, cgs->keys[i], e->keys[k], e->items[k], &n);
        }
        shared_nodes(c, &n);
        const struct json_node *sw = c->ledger ? json_get(c->ledger, "vm.swappiness") : NULL;
        if (sw) {
                strbuf_puts(&c->js, n++ ? ",{\"target\":\"vm.swappiness\",\"orig\":" : "{\"target\":\"vm.swappiness\",\"orig\":");
                strbuf_json_string(&c->js, str_of(sw, "orig"));
                strbuf_puts(&c->js, ",\"set\":");
                strbuf_json_string(&c->js, str_of(sw, "set"));
                strbuf_puts(&c->js, "}");
                strbuf_printf(&c->text, "  vm.swappiness: %s -> %s (claimed by running builds)\n", str_of(sw, "orig"), str_of(sw, "set"));
        }
        if (n == 0)
                strbuf_puts(&c->text, "  none\n");
        strbuf_puts(&c->js, "]");
}

static struct json_node *read_json_at(int dirfd, const char *path, size_t max) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        struct json_node *n = NULL;
        struct mg_error err = {0};
        if (read_file_at(dirfd, path, max, &buf, &len) < 0 || json_parse(buf, len, NULL, &n, &err) < 0)
                return NULL;
        if (n->type != JSON_OBJECT) {
                json_free(n);
                return NULL;
        }
        return n;
}

int status_main(struct cli *cl) {
        assert(cl);
        const struct hook_opts *o = &cl->opts;
        struct status_ctx c = { .sysroot = o->sysroot, .state_fd = -1 };
        struct cgroup_host host = { .v2_fd = -1 };
        struct mg_error err = {0};
        if (cgroup_host_detect(o->sysroot, &host, &err) == 0 && host.v2_memory)
                snprintf(c.v2_mount, sizeof c.v2_mount, "%s", host.v2_mount);
        cgroup_host_close(&host);
        c.state_fd = open(o->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c.state_fd < 0 && errno != ENOENT) {
                fprintf(stderr, "oci-memguard: state dir %s: %m\n", o->state_dir);
                return 1;
        }
        unsigned skipped = 0;
        strbuf_puts(&c.js, "{\"containers\":[");
        strbuf_puts(&c.text, "containers:\n");
        if (c.state_fd >= 0) {
                c.ledger = read_json_at(c.state_fd, "ledger.json", MEMGUARD_MAX_RECORD_BYTES * 16);
                int dfd = openat(c.state_fd, "containers", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
                if (!d && dfd >= 0)
                        close(dfd);
                struct dirent *de;
                unsigned seen = 0;
                while (d && (de = readdir(d)) && seen < STATUS_MAX_RECORDS) {
                        size_t l = strlen(de->d_name);
                        if (de->d_name[0] == '.' || l < 6 || !STREQ(de->d_name + l - 5, ".json"))
                                continue;
                        seen++;
                        struct json_node *rec = read_json_at(dirfd(d), de->d_name, MEMGUARD_MAX_RECORD_BYTES);
                        if (!rec) {
                                skipped++;
                                continue;
                        }
                        one_record(&c, de->d_name, rec);
                        json_free(rec);
                }
                if (d)
                        closedir(d);
        }
        if (c.n_live + c.n_stale == 0)
                strbuf_puts(&c.text, "  none\n");
        shared_values(&c);
        strbuf_printf(&c.js, ",\"live\":%u,\"protected\":%u,\"breached\":%u,\"stale\":%u,\"unreadable_records\":%u}\n", c.n_live, c.n_protected,
                      c.n_breached, c.n_stale, skipped);
        strbuf_printf(&c.text, "%u managed, %u protected, %u breached so far, %u stale record(s)%s\n", c.n_live, c.n_protected, c.n_breached,
                      c.n_stale, skipped ? ", some records unreadable" : "");
        json_free(c.ledger);
        if (c.state_fd >= 0)
                close(c.state_fd);
        int ret = 0;
        const struct strbuf *sb = cl->json ? &c.js : &c.text;
        if (sb->oom) {
                fprintf(stderr, "oci-memguard: status: out of memory\n");
                ret = 1;
        } else
                fputs(sb->buf, stdout);
        strbuf_free(&c.js);
        strbuf_free(&c.text);
        return ret;
}
