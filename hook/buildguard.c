/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "buildguard.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "memhealth.h"
#include "reclaim.h"
#include "sandbox.h"
#include "state.h"
#include "sysctl.h"

/* Counters that tell whether a build fought for memory. */
static const char *const vmstat_keys[] = {
        "allocstall_dma", "allocstall_dma32", "allocstall_normal", "allocstall_movable",
        "compact_stall",  "compact_fail",     "compact_success",   "oom_kill",
};

static int vmstat_read(const char *sysroot, uint64_t vals[], bool have[]) {
        _cleanup_free_ char *buf = NULL;
        int r = read_host_file(sysroot, "/proc/vmstat", 256 * 1024, &buf, NULL);
        if (r < 0)
                return r;
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *sp = strchr(line, ' ');
                if (!sp)
                        continue;
                *sp = '\0';
                for (size_t i = 0; i < ELEMENTSOF(vmstat_keys); i++)
                        if (STREQ(line, vmstat_keys[i]) && safe_atou64(sp + 1, &vals[i]) == 0)
                                have[i] = true;
        }
        return 0;
}

char *buildguard_snapshot_json(const char *sysroot, uint64_t after_reclaim, int after_when) {
        uint64_t vals[ELEMENTSOF(vmstat_keys)] = {0};
        bool have[ELEMENTSOF(vmstat_keys)] = {0};
        (void) vmstat_read(sysroot, vals, have);
        struct strbuf sb = {0};
        strbuf_puts(&sb, "{\"vmstat\":{");
        bool first = true;
        for (size_t i = 0; i < ELEMENTSOF(vmstat_keys); i++) {
                if (!have[i])
                        continue;
                strbuf_printf(&sb, "%s\"%s\":%" PRIu64, first ? "" : ",", vmstat_keys[i], vals[i]);
                first = false;
        }
        strbuf_printf(&sb, "},\"after_reclaim\":%" PRIu64 ",\"after_when\":%d}", after_reclaim, after_when);
        if (sb.oom) {
                strbuf_free(&sb);
                return NULL;
        }
        return sb.buf;
}

#define DEFAULT_ORDER 4
#define DEFAULT_TIMEOUT_MS 2000
/* build.reclaim.available_below when no policy sets it: 10% of MemTotal.
 * Below that the kernel's own watermarks are near (min_free_kbytes and the
 * zone watermarks are well under 10% on any host with more than ~1G), and a
 * build that allocates page cache and veth queues will hit direct reclaim. */
#define DEFAULT_AVAILABLE_BELOW_PERCENT 10

/* The sysctl writes (drop_caches, compact_memory, the sync before them)
 * ignore signals (reclaim.h): only a child process bounds them. The child
 * needs fork and wait in the seccomp allowlist; sandbox.h says when it has
 * them. Unconfined (--no-seccomp) they are always possible. */
static bool guard_can_detach(const struct hook_opts *o) {
#ifdef SANDBOX_ALLOWS_FORK
        (void) o;
        return true;
#else
        return o->no_seccomp;
#endif
}

/* One run of the build guard: the options, the time budget per step and
 * whether a step has already used all of it. */
struct guard {
        const struct hook_opts *o;
        struct outcome *out;
        uint64_t timeout_ms;
        uint64_t deadline_usec; /* the last step ends by then (MEMGUARD_GUARD_END_USEC) */
        bool detach;
        bool out_of_time;
        unsigned steps;
};

/* A step may start only while no earlier one ran out of time: a child left
 * running in the background must not be joined by another. */
static bool guard_may_act(struct guard *g) {
        /* A step that could get less than a tenth of a second is not begun. */
        if (!g->out_of_time && g->deadline_usec && deadline_left_usec(g->deadline_usec) < 100u * 1000u)
                g->out_of_time = true;
        return !g->out_of_time;
}

/* The step's time budget, shortened to what is left of the guard's time. */
static uint64_t guard_step_ms(const struct guard *g) {
        return g->deadline_usec ? deadline_bound_ms(g->timeout_ms, g->deadline_usec) : g->timeout_ms;
}

/* One bounded sysctl write, recorded as an action. */
static int act_sysctl(struct guard *g, const char *name, const char *value, unsigned flags, const char *planned) {
        char path[PATH_MAX], shown[64];
        int r = sysctl_path(g->o->sysroot, name, path, sizeof path);
        if (r < 0)
                return r;
        int n = snprintf(shown, sizeof shown, "/proc/sys/%s", name);
        if (n < 0 || (size_t) n >= sizeof shown)
                return -ENAMETOOLONG;
        for (char *p = shown + 10; *p; p++)
                if (*p == '.')
                        *p = '/';
        if (g->o->dry_run) {
                outcome_action(g->out, name, shown, "", value, planned ? planned : "planned");
                return 0;
        }
        if (!guard_may_act(g))
                return -ETIMEDOUT;
        if (g->detach)
                flags |= WRITE_BOUNDED_DETACH;
        uint64_t t0 = now_usec_monotonic();
        uint64_t step_ms = guard_step_ms(g);
        r = write_bounded(path, value, step_ms, flags);
        uint64_t ms = (now_usec_monotonic() - t0) / 1000;
        g->steps++;
        char res[160];
        if (r == -ETIMEDOUT)
                snprintf(res, sizeof res, "timeout: still running after %" PRIu64 " ms (time budget), left to finish in the background",
                         step_ms);
        else if (r == -EINTR)
                snprintf(res, sizeof res, "timeout: interrupted after %" PRIu64 " ms (time budget)", step_ms);
        else if (r < 0)
                snprintf(res, sizeof res, "error: %s", strerror(-r));
        else
                snprintf(res, sizeof res, "ok (%s%" PRIu64 " ms)", flags & WRITE_BOUNDED_SYNC_FIRST ? "sync + write, " : "", ms);
        outcome_action(g->out, name, shown, "", value, res);
        if (r == -ETIMEDOUT || r == -EINTR)
                g->out_of_time = true;
        else if (r < 0)
                outcome_error(g->out, "write %s to %s: %s", value, shown, strerror(-r));
        return r;
}

/* drop_caches only frees clean objects: sync first (vm.rst), in the same
 * bounded step. */
static int act_drop_caches(struct guard *g, unsigned what, const char *planned) {
        char val[12];
        snprintf(val, sizeof val, "%u", what);
        return act_sysctl(g, "vm.drop_caches", val, WRITE_BOUNDED_SYNC_FIRST, planned);
}

static bool root_has_reclaim(const struct cgroup_host *h) {
        if (h->v2_fd < 0 || !h->v2_memory)
                return false;
        return faccessat(h->v2_fd, "memory.reclaim", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* memory.reclaim at the cgroup2 root: reclaims from every cgroup by the
 * kernel's own LRU order while respecting memory.min/low below the root,
 * unlike drop_caches, which throws away all clean page cache host-wide. */
static void act_reclaim(struct guard *g, const struct cgroup_host *h, uint64_t bytes) {
        char want[32];
        snprintf(want, sizeof want, "%" PRIu64, bytes);
        if (g->o->dry_run) {
                outcome_action(g->out, "/", "memory.reclaim", "", want, "planned");
                return;
        }
        if (!guard_may_act(g))
                return;
        struct reclaim_result rr;
        uint64_t t0 = now_usec_monotonic();
        int r = reclaim_memcg(h->v2_fd, bytes, guard_step_ms(g), &rr);
        g->steps++;
        char res[256];
        snprintf(res, sizeof res, "%s%s: %" PRIu64 " bytes in %u chunk%s%s, %" PRIu64 " ms", r < 0 ? "error: " : "ok",
                 r < 0 ? strerror(-r) : "", rr.reclaimed, rr.chunks, rr.chunks == 1 ? "" : "s",
                 rr.swappiness_arg ? ", swappiness=0" : ", without swappiness= (kernel < 6.11)", (now_usec_monotonic() - t0) / 1000);
        if (rr.stopped_eagain)
                strncat(res, "; stopped: the kernel could not reclaim more (EAGAIN)", sizeof res - strlen(res) - 1);
        if (rr.timed_out) {
                strncat(res, "; stopped: time budget", sizeof res - strlen(res) - 1);
                g->out_of_time = true;
        }
        outcome_action(g->out, "/", "memory.reclaim", "", want, res);
        if (r < 0)
                outcome_error(g->out, "memory.reclaim of the cgroup root: %s", strerror(-r));
}

static void put_health(struct strbuf *sb, const char *when, const struct memhealth *h) {
        strbuf_printf(sb, ",\"mem_available_%s\":%" PRIu64 ",\"mem_free_%s\":%" PRIu64 ",\"cached_%s\":%" PRIu64, when,
                      h->mem_available, when, h->mem_free, when, h->cached);
        if (h->have_buddy)
                strbuf_printf(sb, ",\"free_blocks_at_order_%s\":%" PRIu64, when, h->blocks_at_order);
}

void buildguard_before_build(const struct container_view *v, const struct hook_opts *o, struct outcome *out) {
        const struct policy_reclaim *pr = &v->merged->build.reclaim;
        enum policy_when when = pr->when ? pr->when : POLICY_WHEN_AUTO;
        unsigned order = pr->has_order ? pr->order : DEFAULT_ORDER;
        unsigned drop = pr->has_drop_caches ? pr->drop_caches : 1;
        bool compact = pr->compact != POLICY_FALSE;
        struct guard g = { .o = o, .out = out, .deadline_usec = out->start_usec + MEMGUARD_GUARD_END_USEC,
                           .timeout_ms = pr->has_timeout_ms ? pr->timeout_ms : DEFAULT_TIMEOUT_MS,
                           .detach = guard_can_detach(o) };
        uint64_t t0 = now_usec_monotonic();

        if (when == POLICY_WHEN_NEVER) {
                outcome_extra_raw(out, "build_guard", "{\"decision\":\"off\",\"reason\":\"build.reclaim.when=never\"}");
                return;
        }
        struct memhealth before;
        int r = memhealth_read(o->sysroot, order, &before);
        if (r < 0) {
                outcome_error(out, "build guard: read memory health: %s", strerror(-r));
                return;
        }
        long ps = sysconf(_SC_PAGESIZE);
        uint64_t page = ps > 0 ? (uint64_t) ps : 4096;
        struct policy_size dflt = { .set = true, .percent = true, .value = DEFAULT_AVAILABLE_BELOW_PERCENT };
        uint64_t threshold = policy_size_bytes(pr->available_below.set ? &pr->available_below : &dflt, before.mem_total, page);
        enum memhealth_verdict verdict = memhealth_judge(&before, threshold);
        bool is_short = verdict == MEMHEALTH_SHORT || verdict == MEMHEALTH_SHORT_AND_FRAGMENTED;
        bool is_frag = verdict == MEMHEALTH_FRAGMENTED || verdict == MEMHEALTH_SHORT_AND_FRAGMENTED;
        bool always = when == POLICY_WHEN_ALWAYS;
        const char *decision = memhealth_verdict_name(verdict);

        struct strbuf sb = {0};
        strbuf_printf(&sb, ",\"when\":\"%s\",\"order\":%u,\"available_below\":%" PRIu64, always ? "always" : "auto", order, threshold);
        put_health(&sb, "before", &before);

        if (verdict == MEMHEALTH_HEALTHY && !always) {
                /* The common case: a few reads, nothing written. */
                strbuf_printf(&sb, ",\"duration_us\":%" PRIu64 "}", now_usec_monotonic() - t0);
                goto done;
        }

        if (is_frag) {
                /* Why compaction may not help: it needs free pages above the
                 * high watermark to migrate into (research §5 rule 4). */
                char zpath[PATH_MAX];
                _cleanup_free_ char *zi = NULL;
                uint64_t high;
                if (path_join(zpath, sizeof zpath, o->sysroot, "/proc/zoneinfo") == 0 &&
                    read_file_at(AT_FDCWD, zpath, 4u << 20, &zi, NULL) == 0 && memhealth_parse_zoneinfo(zi, &high) == 0)
                        strbuf_printf(&sb, ",\"free_pages\":%" PRIu64 ",\"wmark_high_pages\":%" PRIu64, before.free_pages, high);
        }

        /* Short of memory: free the deficit, no more. */
        if (is_short || always) {
                uint64_t deficit = threshold > before.mem_available ? threshold - before.mem_available : 0;
                deficit = (deficit + page - 1) / page * page;
                if (deficit > 0 && root_has_reclaim(&v->host))
                        act_reclaim(&g, &v->host, deficit);
                else if (drop > 0 && (deficit > 0 || always))
                        /* No memory.reclaim (cgroup v1, hybrid, < 5.19): the
                         * blunt tool. */
                        (void) act_drop_caches(&g, drop, NULL);
                else if (deficit > 0)
                        outcome_skip(out, "build guard: short of memory, but no memory.reclaim and build.reclaim.drop_caches=0");
                if (is_frag && !o->dry_run && !always) {
                        /* Reclaim frees whole pages back to the buddy
                         * allocator, which merges them: look again before
                         * compacting. */
                        struct memhealth mid;
                        if (memhealth_read(o->sysroot, order, &mid) == 0 && mid.have_buddy && mid.blocks_at_order > 0)
                                is_frag = false;
                }
        }

        /* Fragmented: compaction makes high-order blocks out of free memory. */
        if ((is_frag || always) && compact) {
                (void) act_sysctl(&g, "vm.compact_memory", "1", 0, NULL);
                struct memhealth mid;
                if (o->dry_run) {
                        if (drop > 0) {
                                char cond[96];
                                snprintf(cond, sizeof cond, "planned if no free block of order %u appears", order);
                                (void) act_drop_caches(&g, 2, cond);
                                (void) act_sysctl(&g, "vm.compact_memory", "1", 0, cond);
                        }
                } else if (!g.out_of_time && memhealth_read(o->sysroot, order, &mid) == 0 && mid.have_buddy && mid.blocks_at_order == 0) {
                        /* Still none: unmovable/reclaimable slab (dentries,
                         * inodes) pins pageblocks; free it, compact again. */
                        decision = "slab-pinned";
                        if (drop > 0) {
                                if (act_drop_caches(&g, 2, NULL) == 0)
                                        (void) act_sysctl(&g, "vm.compact_memory", "1", 0, NULL);
                        } else
                                outcome_skip(out, "build guard: slab pins pageblocks, but build.reclaim.drop_caches=0");
                }
        } else if (is_frag)
                outcome_skip(out, "build guard: fragmented, but build.reclaim.compact=false");

        if (g.out_of_time)
                outcome_skip(out, "build guard: a step used its whole time budget (%" PRIu64 " ms a step, %u ms in all after the start began); the remaining steps were skipped",
                             g.timeout_ms, MEMGUARD_GUARD_END_USEC / 1000u);
        struct memhealth after;
        if (!o->dry_run && memhealth_read(o->sysroot, order, &after) == 0)
                put_health(&sb, "after", &after);
        strbuf_printf(&sb, ",\"steps\":%u,\"bounded_by\":\"%s\",\"duration_us\":%" PRIu64 "}", g.steps,
                      g.detach ? "child process" : "timer", now_usec_monotonic() - t0);
done:;
        struct strbuf js = {0};
        strbuf_printf(&js, "{\"decision\":\"%s\"", decision);
        if (sb.buf)
                strbuf_puts(&js, sb.buf);
        if (!sb.oom && !js.oom)
                outcome_extra_raw(out, "build_guard", js.buf);
        strbuf_free(&sb);
        strbuf_free(&js);
}

void buildguard_after_build(const char *snapshot_json, const char *sysroot, struct outcome *out) {
        if (!snapshot_json)
                return;
        _cleanup_json_ struct json_node *root = NULL;
        if (json_parse(snapshot_json, strlen(snapshot_json), NULL, &root, NULL) < 0)
                return;
        const struct json_node *snap = json_get(root, "vmstat");
        uint64_t vals[ELEMENTSOF(vmstat_keys)] = {0};
        bool have[ELEMENTSOF(vmstat_keys)] = {0};
        if (!snap || vmstat_read(sysroot, vals, have) < 0)
                return;
        struct strbuf sb = {0};
        strbuf_puts(&sb, "{");
        bool first = true;
        for (size_t i = 0; i < ELEMENTSOF(vmstat_keys); i++) {
                uint64_t before;
                if (!have[i] || json_get_u64(snap, vmstat_keys[i], &before, NULL) < 0)
                        continue;
                strbuf_printf(&sb, "%s\"%s\":%" PRIu64, first ? "" : ",", vmstat_keys[i], vals[i] >= before ? vals[i] - before : 0);
                first = false;
        }
        strbuf_puts(&sb, "}");
        if (!sb.oom)
                outcome_extra_raw(out, "vmstat_delta", sb.buf);
        strbuf_free(&sb);
}

void buildguard_after_last_build(const char *snapshot_json, const struct hook_opts *o, struct outcome *out) {
        if (!snapshot_json)
                return;
        _cleanup_json_ struct json_node *root = NULL;
        uint64_t bytes = 0;
        int64_t when = 0;
        if (json_parse(snapshot_json, strlen(snapshot_json), NULL, &root, NULL) < 0 ||
            json_get_u64(root, "after_reclaim", &bytes, NULL) < 0 || bytes == 0 || json_get_i64(root, "after_when", &when, NULL) < 0)
                return;
        if (when == POLICY_WHEN_AUTO) {
                /* auto: only when the builds left at least that much page
                 * cache behind (WSL hands freed memory back to Windows only
                 * when Linux frees it). */
                struct memhealth h;
                if (memhealth_read(o->sysroot, DEFAULT_ORDER, &h) < 0 || h.cached < bytes) {
                        outcome_skip(out, "build.after: less page cache than %" PRIu64 " bytes left behind, nothing reclaimed", bytes);
                        return;
                }
        } else if (when != POLICY_WHEN_ALWAYS)
                return;
        struct cgroup_host host = { .v2_fd = -1 };
        struct mg_error err = {0};
        if (cgroup_host_detect(o->sysroot, &host, &err) < 0 || !root_has_reclaim(&host)) {
                outcome_skip(out, "build.after: no memory.reclaim at the cgroup v2 root, nothing reclaimed");
                cgroup_host_close(&host);
                return;
        }
        struct guard g = { .o = o, .out = out, .timeout_ms = DEFAULT_TIMEOUT_MS, .deadline_usec = out->start_usec + MEMGUARD_GUARD_END_USEC };
        act_reclaim(&g, &host, bytes);
        cgroup_host_close(&host);
}
