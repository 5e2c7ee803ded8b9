/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "buildlimit.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "budget_view.h"
#include "evidence.h"
#include "fileio.h"
#include "sample.h"
#include "step_limit.h"

/* The kernel files of each hierarchy: v1 spells "no limit" as a huge
 * page-counter value, and counts memory and swap together in memsw. */
struct limit_files {
        const char *max, *swap, *oom_group;
};
static const struct limit_files files_v2 = { "memory.max", "memory.swap.max", "memory.oom.group" };
static const struct limit_files files_v1 = { "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", NULL };
#define V1_UNLIMITED_FROM (UINT64_C(1) << 62)

static const struct limit_files *files_of(bool v2) { return v2 ? &files_v2 : &files_v1; }

static int read_limit(int fd, const char *file, uint64_t *ret) {
        char buf[64];
        int r = read_small_at(fd, file, buf, sizeof buf);
        if (r < 0)
                return r;
        uint64_t v;
        if (strncmp(buf, "-1", 2) == 0 && (buf[2] == '\0' || buf[2] == '\n'))
                v = MEMGUARD_VALUE_MAX; /* as v1 is told "no limit" */
        else if (parse_cgroup_value(buf, &v) < 0)
                return -EBADMSG;
        *ret = v >= V1_UNLIMITED_FROM ? MEMGUARD_VALUE_MAX : v;
        return 0;
}

/* The container's memory cgroup, on whichever hierarchy has the memory
 * controller, opened without following a symlink anywhere below the
 * mount. Never the root: a limit there would be the host's. */
static int open_leaf(const struct container_view *v, const struct hook_opts *o, bool *ret_v2, int *ret_fd) {
        const struct cgroup_host *h = &v->host;
        bool v2 = h->has_v2 && h->mode != CGROUP_MODE_V1 && !(h->mode == CGROUP_MODE_HYBRID && h->v1_memory);
        if (!v->cgroup[0])
                return -ENOENT;
        if (STREQ(v->cgroup, "/"))
                return -EPERM;
        *ret_v2 = v2;
        if (v2)
                return h->v2_memory ? cgroup_open(h, v->cgroup, ret_fd) : -ENODEV;
        if (!h->v1_memory)
                return -ENODEV;
        char path[PATH_MAX];
        int r = path_join(path, sizeof path, o->sysroot, h->v1_memory_mount);
        if (r < 0)
                return r;
        _cleanup_close_ int root = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (root < 0)
                return -errno;
        return cgroup_open_at(root, v->cgroup, ret_fd);
}

static void leaf_read(int fd, bool v2, struct limit_leaf *ret) {
        const struct limit_files *f = files_of(v2);
        *ret = (struct limit_leaf) { .v2 = v2 };
        ret->has_max = read_limit(fd, f->max, &ret->max) == 0;
        ret->has_swap = read_limit(fd, f->swap, &ret->swap) == 0;
        uint64_t g;
        if (f->oom_group && cgroup_read_value(fd, f->oom_group, &g) == 0) {
                ret->has_oom_group = true;
                ret->oom_group = g != 0;
        }
}

/* What tells that a limit was hit: memory.events' "max" (the usage hit
 * the limit and reclaim ran) and "oom_kill"; on v1 memory.failcnt and
 * memory.oom_control's oom_kill. */
struct limit_counters {
        bool have;
        uint64_t max_events, oom, oom_kill, oom_group_kill; /* v1: oom unknown (0) */
        bool have_peak;
        uint64_t peak;
};

static void counters_from_sample(const struct ev_sample *s, struct limit_counters *ret) {
        *ret = (struct limit_counters) {
                .have = s->have_events,
                .max_events = s->events[EV_MAX],
                .oom = s->events[EV_OOM],
                .oom_kill = s->events[EV_OOM_KILL],
                .oom_group_kill = s->events[EV_OOM_GROUP_KILL],
                .have_peak = s->have_peak,
                .peak = s->peak,
        };
}

static int counters_read(int fd, bool v2, struct limit_counters *ret) {
        *ret = (struct limit_counters) {0};
        if (v2) {
                struct ev_sample s;
                int r = evidence_read_at(fd, &s);
                if (r < 0)
                        return r;
                counters_from_sample(&s, ret);
                return 0;
        }
        char buf[512];
        int r = read_small_at(fd, "memory.failcnt", buf, sizeof buf);
        if (r < 0 || parse_cgroup_value(buf, &ret->max_events) < 0)
                return r < 0 ? r : -EBADMSG;
        static const char *const keys[] = { "oom_kill" };
        bool have[1] = { false };
        r = read_small_at(fd, "memory.oom_control", buf, sizeof buf);
        if (r >= 0)
                (void) evidence_parse_flat(buf, strlen(buf), keys, 1, &ret->oom_kill, have);
        ret->have_peak = read_limit(fd, "memory.max_usage_in_bytes", &ret->peak) == 0;
        ret->have = true;
        return 0;
}

static void counters_json(const struct limit_counters *c, struct strbuf *sb) {
        strbuf_printf(sb, "{\"max\":%" PRIu64 ",\"oom\":%" PRIu64 ",\"oom_kill\":%" PRIu64 ",\"oom_group_kill\":%" PRIu64 "}", c->max_events,
                      c->oom, c->oom_kill, c->oom_group_kill);
}

static void json_value_or_null(struct strbuf *sb, uint64_t v) {
        if (v == MEMGUARD_VALUE_MAX)
                strbuf_puts(sb, "null");
        else
                strbuf_printf(sb, "%" PRIu64, v);
}

/* The annotation's claim, parsed: a value that is not a size is an error
 * line and no claim. */
static bool annotation_bytes(struct container_view *v, const struct hook_opts *o, const char *key, struct outcome *out, uint64_t *ret) {
        const char *ann = v->has_oci ? annotations_get(&v->oci.annotations, key) : NULL;
        if (!ann)
                ann = annotations_get(&v->state.annotations, key);
        if (!ann)
                return false;
        struct policy_size sz;
        if (policy_size_parse(ann, &sz) < 0) {
                outcome_error(out, "annotation %s: size: '%.64s' is not a size", key, ann);
                return false;
        }
        long ps = sysconf(_SC_PAGESIZE);
        *ret = policy_size_bytes(&sz, sz.percent ? container_mem_total(v, o) : 0, ps > 0 ? (uint64_t) ps : 4096);
        return true;
}

/* Writes one planned value and checks the read-back; the record keeps
 * what was there before for the stop. Returns 1 when the write failed. */
static unsigned write_one(int fd, const char *cgroup, const char *file, uint64_t orig, uint64_t value, const struct hook_opts *o,
                          struct outcome *out, struct strbuf *set, bool *first) {
        char ob[32], nb[32];
        format_cgroup_value(orig, ob, sizeof ob);
        format_cgroup_value(value, nb, sizeof nb);
        if (o->dry_run) {
                outcome_action(out, cgroup, file, ob, nb, "planned");
                return 0;
        }
        uint64_t actual = 0;
        int r = cgroup_write_value(fd, file, value, &actual);
        if (r == 0 && actual != value) {
                char ab[32];
                char why[96];
                snprintf(why, sizeof why, "read back %s", format_cgroup_value(actual, ab, sizeof ab));
                outcome_action(out, cgroup, file, ob, nb, why);
                outcome_error(out, "build.limit: %s/%s: wrote %s, read back %s", cgroup, file, nb, ab);
                r = -EIO;
        } else if (r < 0) {
                outcome_action(out, cgroup, file, ob, nb, strerror(-r));
                outcome_error(out, "build.limit: %s/%s: %s", cgroup, file, strerror(-r));
        } else
                outcome_action(out, cgroup, file, ob, nb, "ok");
        if (r < 0)
                return 1;
        strbuf_printf(set, "%s", *first ? "" : ",");
        *first = false;
        strbuf_json_string(set, file);
        strbuf_printf(set, ":{\"value\":\"%s\",\"orig\":\"%s\"}", nb, ob);
        return 0;
}

static void say_value(const char *key, const struct limit_value *lv, struct outcome *out) {
        char ab[32], eb[32];
        budget_format_bytes(lv->asked, ab, sizeof ab);
        budget_format_bytes(lv->effective, eb, sizeof eb);
        if (lv->annotation_ignored)
                outcome_skip(out, "build.limit.%s: an annotation may only lower the policy's %s, not raise it: ignored", key, ab);
        switch (lv->action) {
        case LIMIT_KEEP_ENGINE:
                outcome_skip(out, "build.limit.%s %s: the engine's lower limit %s is kept", key, ab, eb);
                break;
        case LIMIT_UNAVAILABLE:
                outcome_skip(out, "build.limit.%s %s: not available here (%s)", key, ab,
                             STREQ(key, "max") ? "no memory limit file in the step's cgroup"
                                               : "no swap accounting in the step's cgroup, or on cgroup v1 no hard limit to add it to");
                break;
        case LIMIT_TOO_SMALL:
                outcome_skip(out, "build.limit.%s %s: below 4 MiB, not written (is MemTotal known?)", key, ab);
                break;
        default:
                break;
        }
}

unsigned buildlimit_at_start(struct container_view *v, const struct hook_opts *o, struct outcome *out, struct strbuf *record_extra) {
        assert(v && o && out && record_extra);
        if (!v->build || !v->merged)
                return 0;
        const struct policy_limit *pl = &v->merged->build.limit;
        struct limit_input in = { .policy = pl };
        in.annotation.has_max = annotation_bytes(v, o, BUILDLIMIT_ANNOTATION_MAX, out, &in.annotation.max);
        in.annotation.has_swap = annotation_bytes(v, o, BUILDLIMIT_ANNOTATION_SWAP, out, &in.annotation.swap);
        if (!pl->max.set && !pl->swap_max.set && pl->oom_group != POLICY_TRUE && !in.annotation.has_max && !in.annotation.has_swap)
                return 0;

        bool v2 = false;
        _cleanup_close_ int fd = -1;
        /* explain --image: no container yet; what a step would get on a
         * leaf with no limit of its own */
        bool assumed = v->no_cgroup;
        int r = assumed ? 0 : open_leaf(v, o, &v2, &fd);
        if (assumed) {
                v2 = v->host.mode != CGROUP_MODE_V1 && !(v->host.mode == CGROUP_MODE_HYBRID && v->host.v1_memory);
                in.leaf = (struct limit_leaf) { .v2 = v2, .has_max = true, .max = MEMGUARD_VALUE_MAX, .has_swap = true,
                                                .swap = MEMGUARD_VALUE_MAX, .has_oom_group = v2 };
        } else if (r < 0) {
                outcome_skip(out, "build.limit: the step's memory cgroup cannot be opened (%s): no limit set",
                             r == -EPERM ? "it is the root cgroup" : strerror(-r));
                outcome_extra_raw(out, "limit", "{\"applied\":false}");
                return 0;
        }
        else
                leaf_read(fd, v2, &in.leaf);
        in.mem_total = (pl->max.percent || pl->swap_max.percent) ? container_mem_total(v, o) : v->mem_total;
        long ps = sysconf(_SC_PAGESIZE);
        in.page_size = ps > 0 ? (uint64_t) ps : 4096;
        struct limit_plan plan;
        limit_decide(&in, &plan);
        say_value("max", &plan.max, out);
        say_value("swap_max", &plan.swap, out);
        if (plan.oom_group == LIMIT_UNAVAILABLE)
                outcome_skip(out, "build.limit.oom_group: not available here (%s)", v2 ? "no memory.oom.group" : "cgroup v1 has no memory.oom.group");

        /* max first, then swap: on v1 memsw must never be below the hard
         * limit, and both only ever drop */
        const struct limit_files *f = files_of(v2);
        _cleanup_strbuf_ struct strbuf set = {0};
        bool first = true;
        unsigned failed = 0;
        if (assumed)
                ; /* nothing to write to */
        else if (plan.max.action == LIMIT_WRITE)
                failed += write_one(fd, v->cgroup, f->max, in.leaf.max, plan.max.value, o, out, &set, &first);
        if (!assumed && plan.swap.action == LIMIT_WRITE && failed == 0)
                failed += write_one(fd, v->cgroup, f->swap, in.leaf.swap, plan.swap.value, o, out, &set, &first);
        if (!assumed && plan.oom_group == LIMIT_WRITE && failed == 0)
                failed += write_one(fd, v->cgroup, f->oom_group, 0, 1, o, out, &set, &first);

        struct limit_counters c;
        bool have_counters = !assumed && counters_read(fd, v2, &c) == 0;

        /* the outcome: the limits in effect and where they come from */
        _cleanup_strbuf_ struct strbuf sb = {0};
        strbuf_printf(&sb, "{\"applied\":%s,\"cgroup_version\":%d,\"max\":", failed || assumed || o->dry_run ? "false" : "true", v2 ? 2 : 1);
        json_value_or_null(&sb, failed ? in.leaf.max : plan.max.effective);
        strbuf_json_member_str(&sb, ",", "max_from", limit_source_name(plan.max.source));
        strbuf_puts(&sb, ",\"swap_max\":");
        json_value_or_null(&sb, failed ? MEMGUARD_VALUE_MAX : plan.swap.effective);
        strbuf_json_member_str(&sb, ",", "swap_from", limit_source_name(plan.swap.source));
        strbuf_json_member_bool(&sb, ",", "oom_group", (plan.oom_group == LIMIT_WRITE && !failed) || plan.oom_group == LIMIT_KEEP_ENGINE);
        strbuf_puts(&sb, "}");
        if (!sb.oom)
                outcome_extra_raw(out, "limit", sb.buf);

        /* the record: what was written (and what was there) and the
         * counters now, for the stop */
        strbuf_printf(record_extra, ",\"limit\":{\"v2\":%s,\"max\":", v2 ? "true" : "false");
        json_value_or_null(record_extra, failed ? in.leaf.max : plan.max.effective);
        strbuf_printf(record_extra, ",\"set\":{%s}", set.buf ? set.buf : "");
        if (have_counters) {
                strbuf_puts(record_extra, ",\"start\":");
                counters_json(&c, record_extra);
        }
        strbuf_puts(record_extra, "}");
        return failed;
}

/* ---- the stop --------------------------------------------------------- */

static bool counters_from_json(const struct json_node *n, struct limit_counters *ret) {
        *ret = (struct limit_counters) {0};
        const struct json_node *m = n ? json_get(n, "max") : NULL, *k = n ? json_get(n, "oom_kill") : NULL,
                               *g = n ? json_get(n, "oom_group_kill") : NULL, *oo = n ? json_get(n, "oom") : NULL;
        if (!m || !k || json_number_u64(m, &ret->max_events) < 0 || json_number_u64(k, &ret->oom_kill) < 0)
                return false;
        if (g)
                (void) json_number_u64(g, &ret->oom_group_kill);
        if (oo)
                (void) json_number_u64(oo, &ret->oom);
        ret->have = true;
        return true;
}

/* Puts back what the hook wrote on a leaf that outlived its container
 * (runc and crun remove it first; a systemd scope or a fixture may not),
 * only where the file still holds the hook's value: swap first, so that
 * on v1 memsw is raised before the hard limit. */
static void give_back(int fd, const char *cgroup, const struct json_node *set, const struct hook_opts *o, struct outcome *out) {
        static const char *const order[] = { "memory.swap.max", "memory.memsw.limit_in_bytes", "memory.oom.group", "memory.max",
                                             "memory.limit_in_bytes" };
        for (size_t i = 0; set && i < ELEMENTSOF(order); i++) {
                const struct json_node *e = json_get(set, order[i]);
                const struct json_node *val = e ? json_get(e, "value") : NULL, *orig = e ? json_get(e, "orig") : NULL;
                uint64_t want_cur, back, cur;
                if (!val || !orig || val->type != JSON_STRING || orig->type != JSON_STRING || parse_cgroup_value(val->str, &want_cur) < 0 ||
                    parse_cgroup_value(orig->str, &back) < 0)
                        continue;
                if (read_limit(fd, order[i], &cur) < 0 || cur != want_cur)
                        continue;
                char cb[32], bb[32];
                format_cgroup_value(cur, cb, sizeof cb);
                format_cgroup_value(back, bb, sizeof bb);
                if (o->dry_run) {
                        outcome_action(out, cgroup, order[i], cb, bb, "planned");
                        continue;
                }
                /* v1 spells "no limit" -1 */
                bool v1 = !STREQ(order[i], "memory.max") && !STREQ(order[i], "memory.swap.max") && !STREQ(order[i], "memory.oom.group");
                int r = v1 && back == MEMGUARD_VALUE_MAX ? write_existing_at(fd, order[i], "-1") : cgroup_write_value(fd, order[i], back, NULL);
                if (r == 0 && (r = read_limit(fd, order[i], &cur)) == 0 && cur != back)
                        r = -EIO;
                outcome_action(out, cgroup, order[i], cb, bb, r == -EIO ? "read back differs" : r < 0 ? strerror(-r) : "ok");
        }
}

void buildlimit_at_stop(const struct json_node *limit, const char *id, const char *cgroup_dir, const struct hook_opts *o,
                        struct outcome *out) {
        assert(id && cgroup_dir && o && out);
        if (!limit || limit->type != JSON_OBJECT)
                return;
        const struct json_node *v2n = json_get(limit, "v2"), *maxn = json_get(limit, "max");
        bool v2 = v2n && v2n->type == JSON_TRUE;
        uint64_t max = MEMGUARD_VALUE_MAX;
        if (maxn && maxn->type == JSON_NUMBER)
                (void) json_number_u64(maxn, &max);
        struct limit_counters before, after = {0};
        bool have_before = counters_from_json(json_get(limit, "start"), &before);
        const char *source = NULL;
        int64_t sample_age_s = -1;

        char path[PATH_MAX];
        _cleanup_close_ int fd = -1;
        if (cgroup_dir[0] && path_join(path, sizeof path, o->sysroot, cgroup_dir) == 0)
                fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && counters_read(fd, v2, &after) == 0)
                source = "cgroup";
        else if (v2) {
                /* runc and crun remove the cgroup before poststop: the
                 * sampler's last reading is the latest there is */
                _cleanup_close_ int dfd = open(o->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                struct sample_file f;
                if (dfd >= 0 && sample_load_at(dfd, id, &f) == 0) {
                        counters_from_sample(&f.s, &after);
                        source = "sample";
                        uint64_t now = now_usec_realtime();
                        sample_age_s = now > f.sampled_realtime_usec ? (int64_t) ((now - f.sampled_realtime_usec) / 1000000u) : 0;
                }
        }

        _cleanup_strbuf_ struct strbuf sb = {0};
        strbuf_puts(&sb, "{\"max\":");
        json_value_or_null(&sb, max);
        char mb[32];
        budget_format_bytes(max, mb, sizeof mb);
        if (!source || !have_before || !after.have) {
                strbuf_json_member_str(&sb, ",", "unavailable",
                                       !have_before ? "no reading of the step's counters at start"
                                                    : "the step's cgroup was gone at poststop and no sample of it was taken (oci-memguard sample)");
        } else {
                uint64_t d_max = evidence_delta(before.max_events, after.max_events);
                uint64_t d_kill = evidence_delta(before.oom_kill, after.oom_kill);
                uint64_t d_group = evidence_delta(before.oom_group_kill, after.oom_group_kill);
                uint64_t d_oom = evidence_delta(before.oom, after.oom);
                /* oom_kill counts kills by any OOM killer, the host's too;
                 * "oom" only the step's own limit being reached (v2) */
                uint64_t kills = d_kill; /* oom_group_kill counts group OOMs, not processes */
                bool stopped = kills > 0 && max != MEMGUARD_VALUE_MAX && (!v2 || d_oom > 0);
                strbuf_printf(&sb, ",\"events\":{\"max\":%" PRIu64 ",\"oom\":%" PRIu64 ",\"oom_kill\":%" PRIu64 ",\"oom_group_kill\":%" PRIu64 "}",
                              d_max, d_oom, d_kill, d_group);
                if (after.have_peak)
                        strbuf_printf(&sb, ",\"peak\":%" PRIu64, after.peak);
                strbuf_json_member_str(&sb, ",", "source", source);
                if (sample_age_s >= 0)
                        strbuf_printf(&sb, ",\"sample_age_s\":%" PRId64, sample_age_s);
                strbuf_json_member_bool(&sb, ",", "stopped", stopped);
                char pb[32] = "unknown";
                if (after.have_peak)
                        budget_format_bytes(after.peak, pb, sizeof pb);
                if (stopped)
                        snprintf(out->limit_notice, sizeof out->limit_notice,
                                 "build step %.64s was stopped by its memory limit of %s (the kernel's oom_kill %" PRIu64 "%s, peak %s)", id, mb, kills,
                                 d_group > 0 ? ", the whole step killed as a group" : "", pb);
                else if (kills > 0)
                        snprintf(out->limit_notice, sizeof out->limit_notice,
                                 "build step %.64s lost %" PRIu64 " process%s to an OOM killer, not to its own limit (the host or a parent cgroup ran out)",
                                 id, kills, kills == 1 ? "" : "es");
                if (out->limit_notice[0])
                        strbuf_json_member_str(&sb, ",", "message", out->limit_notice);
        }
        strbuf_puts(&sb, "}");
        if (!sb.oom)
                outcome_extra_raw(out, "limit", sb.buf);
        if (fd >= 0)
                give_back(fd, out->cgroup, json_get(limit, "set"), o, out);
}
