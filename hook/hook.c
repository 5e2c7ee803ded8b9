/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "hook.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "budget_view.h"
#include "buildguard.h"
#include "buildlimit.h"
#include "evidence.h"
#include "sample.h"
#include "metrics.h"
#include "killpoint.h"
#include "apply.h"
#include "meminfo.h"
#include "policy_cache.h"
#include "sandbox.h"
#include "state.h"

static const char *const known_stages[] = {
        "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

bool hook_stage_is_known(const char *stage) {
        for (size_t i = 0; i < ELEMENTSOF(known_stages); i++)
                if (STREQ(stage, known_stages[i]))
                        return true;
        return false;
}

static bool stage_is_start(const char *stage) { return STREQ(stage, "prestart") || STREQ(stage, "createRuntime"); }

int hook_opts_resolve(struct hook_opts *o) {
        if (!o->sysroot)
                o->sysroot = "";
        if (!o->state_dir) {
                if (path_join(o->buf_state_dir, sizeof o->buf_state_dir, o->sysroot, "/run/oci-memguard") < 0)
                        return -ENAMETOOLONG;
                o->state_dir = o->buf_state_dir;
        }
        if (!o->log_file) {
                if (path_join(o->buf_log_file, sizeof o->buf_log_file, o->sysroot, "/var/log/oci-memguard/events.jsonl") < 0)
                        return -ENAMETOOLONG;
                o->log_file = o->buf_log_file;
        }
        if (o->n_policy_dirs == 0) {
                if (path_join(o->buf_vendor, sizeof o->buf_vendor, o->sysroot, "/usr/share/oci-memguard/policy.d") < 0 ||
                    path_join(o->buf_admin, sizeof o->buf_admin, o->sysroot, "/etc/oci-memguard/policy.d") < 0)
                        return -ENAMETOOLONG;
                o->policy_dirs[0] = o->buf_vendor;
                o->policy_dirs[1] = o->buf_admin;
                o->n_policy_dirs = 2;
        }
        return 0;
}

void container_view_free(struct container_view *v) {
        hook_state_free(&v->state);
        oci_info_free(&v->oci);
        cgroup_host_close(&v->host);
        policy_set_free(&v->policies);
        if (v->merged)
                policy_free(v->merged);
        v->merged = NULL;
        free(v->matched);
        v->matched = NULL;
}

/* ---- identification --------------------------------------------------- */

static int find_cgroup(struct container_view *v, const struct hook_opts *o, struct outcome *out, struct mg_error *err) {
        if (v->no_cgroup) {
                snprintf(v->protect_skip, sizeof v->protect_skip, "no cgroup (explain --image): protection is shown as claims only");
                return 0;
        }
        char v2[1024] = "", v1[1024] = "";
        if (v->state.has_pid) {
                int r = cgroup_of_pid(o->sysroot, v->state.pid, v2, sizeof v2, v1, sizeof v1);
                if (r < 0)
                        outcome_error(out, "read /proc/%" PRId64 "/cgroup: %s", v->state.pid, strerror(-r));
                else
                        v->cgroup_from = "/proc/<pid>/cgroup";
        }
        bool use_v2 = v->host.has_v2 && v->host.mode != CGROUP_MODE_V1;
        if (v->host.mode == CGROUP_MODE_HYBRID && v->host.v1_memory)
                use_v2 = false;
        const char *found = use_v2 ? v2 : v1;
        if (!found[0] && v->has_oci) {
                char buf[1024];
                int r = cgroup_path_from_config(v->oci.cgroups_path, v->state.id, buf, sizeof buf);
                if (r < 0)
                        /* Malformed input: nothing is done for this container. */
                        return mg_error_set(err, -EINVAL, "%s/config.json: linux.cgroupsPath '%.200s' is not a valid cgroup path",
                                            v->state.bundle, v->oci.cgroups_path ? v->oci.cgroups_path : "");
                else {
                        /* crun moves the container into a "container"
                         * sub-cgroup on v2: the real leaf is below. */
                        char sub[1024];
                        int n = snprintf(sub, sizeof sub, "%s/container", STREQ(buf, "/") ? "" : buf);
                        if (n > 0 && (size_t) n < sizeof sub && use_v2 && cgroup_exists(&v->host, sub))
                                memcpy(v->cgroup, sub, (size_t) n + 1);
                        else
                                snprintf(v->cgroup, sizeof v->cgroup, "%s", buf);
                        v->cgroup_from = "linux.cgroupsPath";
                }
        } else
                snprintf(v->cgroup, sizeof v->cgroup, "%s", found);
        /* Name where the bad path came from: the kernel's view of the
         * container's process, or the bundle's claim. */
        if (v->cgroup[0] && cgroup_path_normalize(v->cgroup) < 0) {
                if (v->cgroup_from && STREQ(v->cgroup_from, "/proc/<pid>/cgroup"))
                        return mg_error_set(err, -EINVAL, "/proc/%" PRId64 "/cgroup: cgroup path '%.200s' is not a valid cgroup path",
                                            v->state.pid, v->cgroup);
                return mg_error_set(err, -EINVAL, "%s/config.json: linux.cgroupsPath '%.200s' is not a valid cgroup path",
                                    v->state.bundle, v->oci.cgroups_path ? v->oci.cgroups_path : "");
        }
        if (!v->cgroup[0])
                return 0;
        const char *mount = use_v2 ? v->host.v2_mount : v->host.v1_memory_mount;
        if (mount[0]) {
                int n = snprintf(v->cgroup_dir, sizeof v->cgroup_dir, "%.512s%s", mount, STREQ(v->cgroup, "/") ? "" : v->cgroup);
                if (n < 0 || (size_t) n >= sizeof v->cgroup_dir)
                        v->cgroup_dir[0] = '\0';
        }

        if (!use_v2) {
                snprintf(v->protect_skip, sizeof v->protect_skip, "cgroup %s: the memory controller is not on cgroup v2; memory protection skipped",
                         cgroup_mode_name(v->host.mode));
        } else if (!v->host.v2_memory) {
                snprintf(v->protect_skip, sizeof v->protect_skip, "memory controller not available on cgroup v2; memory protection skipped");
        } else if (STREQ(v->cgroup, "/")) {
                snprintf(v->protect_skip, sizeof v->protect_skip, "container runs in the root cgroup; memory protection skipped");
        } else
                v->protect_possible = true;
        return 0;
}

/* The annotations policies see: config.json's, else the state's (podman's
 * poststop state carries them, config.json may be gone). */
static const struct annotations *view_annotations(const struct container_view *v) {
        return v->has_oci && v->oci.annotations.n ? &v->oci.annotations : &v->state.annotations;
}

static struct policy_subject view_subject(const struct container_view *v, bool build) {
        const struct annotations *a = view_annotations(v);
        return (struct policy_subject) {
                .image = v->img.image,
                .image_claim = v->img.claim,
                .annotation_keys = (const char *const *) a->keys,
                .annotation_values = (const char *const *) a->values,
                .n_annotations = a->n,
                .command = v->has_oci && v->oci.n_args ? v->oci.args[0] : NULL,
                .cgroup = v->cgroup,
                .build = build,
        };
}

static int merge(struct container_view *v, bool build, struct mg_error *err) {
        struct policy_subject s = view_subject(v, build);
        if (v->merged)
                policy_free(v->merged);
        free(v->matched);
        v->matched = NULL;
        v->n_matched = 0;
        v->merged = calloc(1, sizeof *v->merged);
        if (!v->merged)
                return mg_error_oom(err);
        int r = policy_merge_matching(&v->policies, &s, v->merged, &v->matched, &v->n_matched);
        if (r < 0)
                return mg_error_set(err, r, "merge the matching policies: %s", strerror(-r));
        return 0;
}

/* Is there a matching policy that marks this image a builder? */
static bool builder_policy_matches(const struct container_view *v) {
        struct policy_subject s = view_subject(v, true);
        for (size_t i = 0; i < v->policies.n; i++)
                if (v->policies.items[i]->build.builder == POLICY_TRUE && policy_matches(v->policies.items[i], &s))
                        return true;
        return false;
}

/* Does a policy that trusts claim c match this container as a build? Then
 * the claim counts: for that policy and every other one. */
static bool build_claim_trusted(const struct container_view *v, enum policy_claim c) {
        struct policy_subject s = view_subject(v, true);
        s.build_claim = c;
        for (size_t i = 0; i < v->policies.n; i++)
                if (policy_trusts(v->policies.items[i], c) && policy_matches(v->policies.items[i], &s))
                        return true;
        return false;
}

/* Was the claimed image used, by a matched policy that trusts it? */
static bool image_claim_used(const struct container_view *v) {
        for (size_t i = 0; i < v->n_matched; i++) {
                const struct policy *p = v->policies.items[v->matched[i]];
                if (p->match.has_images && policy_trusts(p, v->img.claim))
                        return true;
        }
        return false;
}

/* Decides build status (build.c: build_decide) from the signals and what
 * the matching policies trust; notes go to the outcome record. */
static void decide_build(struct container_view *v, const struct build_signals *bs, struct outcome *out) {
        struct build_decide_input in = {.signals = bs, .asserted = v->asserted_build};
        for (size_t i = 0; i < ELEMENTSOF(build_claims); i++)
                if ((bs->claims >> build_claims[i] & 1u) && build_claim_trusted(v, build_claims[i]))
                        in.trusted_claims |= 1u << build_claims[i];
        in.shell_step_in_builder = build_args_are_shell_step(v->has_oci ? &v->oci : NULL) && builder_policy_matches(v);
        struct build_decision d;
        build_decide(&in, &d);
        v->build = d.build;
        v->build_trusted = d.trusted;
        snprintf(v->build_source, sizeof v->build_source, "%s", d.source);
        snprintf(v->build_signal, sizeof v->build_signal, "%s", d.signal);
        if (d.note == BUILD_NOTE_FORCED_OFF_IGNORED)
                outcome_skip(out, "annotation oci-memguard.build=false ignored: the engine's %s says this is a build", d.source);
        else if (d.note == BUILD_NOTE_CLAIM_UNTRUSTED)
                outcome_skip(out, "build claim '%s' (%s) ignored: no matching policy trusts it", build_claim_text(d.note_claim),
                             policy_claim_name(d.note_claim));
}

uint64_t container_mem_total(struct container_view *v, const struct hook_opts *o) {
        assert(v && o);
        if (v->mem_total == 0) {
                struct meminfo mi;
                if (meminfo_read(o->sysroot, &mi) == 0)
                        v->mem_total = mi.total;
        }
        return v->mem_total;
}

static uint64_t size_bytes(struct container_view *v, const struct hook_opts *o, const struct policy_size *s) {
        if (s->percent)
                (void) container_mem_total(v, o);
        long ps = sysconf(_SC_PAGESIZE);
        return policy_size_bytes(s, v->mem_total, ps > 0 ? (uint64_t) ps : 4096);
}

static void apply_override(struct container_view *v, const struct hook_opts *o, struct outcome *out, const char *which,
                           const struct policy_size *cap, uint64_t *value) {
        char key[64];
        snprintf(key, sizeof key, "oci-memguard.memory.%s", which);
        const char *ann = v->has_oci ? annotations_get(&v->oci.annotations, key) : NULL;
        if (!ann)
                ann = annotations_get(&v->state.annotations, key);
        if (!ann)
                return;
        if (v->merged->overrides.annotations != POLICY_TRUE) {
                outcome_skip(out, "annotation %s ignored: the policy does not allow overrides", key);
                return;
        }
        struct policy_size sz;
        if (policy_size_parse(ann, &sz) < 0) {
                outcome_error(out, "annotation %s: size: '%.64s' is not a size", key, ann);
                return;
        }
        uint64_t want = size_bytes(v, o, &sz);
        /* Without an explicit cap, an annotation can only lower what the
         * policy grants: container users must never raise protection past
         * what the operator allowed. */
        uint64_t limit = cap->set ? size_bytes(v, o, cap) : *value;
        if (want > limit) {
                outcome_skip(out, "annotation %s=%s clamped to the policy cap %" PRIu64, key, ann, limit);
                want = limit;
        }
        *value = want;
}

/* "memory": {"adopt_engine": true}: the engine's own ask (docker run
 * --memory-reservation, unified memory.min/low) raises the container's
 * claim to it, within the policy's caps (overrides.max_min/max_low; the
 * host budget applies later like for any claim). runc writes that ask on
 * the container's own cgroup only, which the kernel caps by the ancestors'
 * protection (0 under system.slice): as a claim, the ancestors are raised
 * to cover it and given back at poststop. */
static void adopt_one(struct container_view *v, const struct hook_opts *o, struct outcome *out, const char *which, uint64_t asked,
                      const struct policy_size *cap, uint64_t *value) {
        if (asked <= *value)
                return;
        uint64_t limit = cap->set ? size_bytes(v, o, cap) : UINT64_MAX;
        if (asked > limit) {
                outcome_skip(out, "memory.adopt_engine: the engine's memory.%s %" PRIu64 " clamped to the policy cap %" PRIu64, which, asked, limit);
                asked = limit;
        }
        if (asked > *value)
                *value = asked;
}

static void adopt_engine(struct container_view *v, const struct hook_opts *o, struct outcome *out) {
        if (v->merged->adopt_engine != POLICY_TRUE || !v->has_oci)
                return;
        const struct oci_engine_memory *e = &v->oci.engine;
        if (e->invalid)
                outcome_skip(out, "memory.adopt_engine: %s is not a byte count, not adopted", e->invalid);
        /* runc writes reservation as memory.low on cgroup v2 */
        uint64_t low = e->has_low ? e->low : 0;
        if (e->has_reservation && e->reservation > low)
                low = e->reservation;
        adopt_one(v, o, out, "min", e->has_min ? e->min : 0, &v->merged->overrides.max_min, &v->min);
        adopt_one(v, o, out, "low", low, &v->merged->overrides.max_low, &v->low);
}

int container_decide(struct container_view *v, const struct hook_opts *o, struct outcome *out, struct mg_error *err) {
        assert(v);
        assert(o);
        assert(out);
        struct mg_error herr = {0};
        host_config_defaults(&v->host_config);
        int r = cgroup_host_detect(o->sysroot, &v->host, &herr);
        if (r < 0) {
                outcome_error(out, "%s", herr.msg);
                v->host = (struct cgroup_host) { .v2_fd = -1, .mode = CGROUP_MODE_V1 };
        }
        out->cgroup_mode = cgroup_mode_name(v->host.mode);
        out->recursiveprot = v->host.recursiveprot;
        r = find_cgroup(v, o, out, err);
        if (r < 0)
                return r;
        snprintf(out->cgroup, sizeof out->cgroup, "%s", v->cgroup);

        if (v->asserted_image) {
                v->img = (struct image_info) {0};
                snprintf(v->img.image, sizeof v->img.image, "%s", v->asserted_image);
                snprintf(v->img.source, sizeof v->img.source, "explain --image");
        } else
                (void) image_identify(o->sysroot, v->state.id, v->state.bundle, v->has_oci ? &v->oci : NULL, &v->state.annotations, &v->img);
        snprintf(out->image, sizeof out->image, "%s", v->img.image);
        snprintf(out->image_source, sizeof out->image_source, "%s", v->img.source);
        if (v->img.ignored[0])
                outcome_skip(out, "claim %s ignored: the engine's %s names the image", v->img.ignored, v->img.source);

        struct build_signals bs;
        build_signals_detect(v->state.id, v->state.bundle, v->cgroup, v->has_oci ? &v->oci : NULL, &v->state.annotations, &v->img, &bs);

        /* The parsed policies kept in the state dir, when it exists (the
         * ledger makes it on first use): a start stats every file but
         * parses only what changed. A dry run (explain) reads, never writes. */
        _cleanup_close_ int state_fd = open(o->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        struct policy_cache pc;
        r = policy_cache_open(&pc, state_fd, o->policy_dirs, o->n_policy_dirs, true, !o->dry_run);
        if (r < 0)
                return mg_error_set(err, r, "open the policy cache: %s", strerror(-r));
        /* A start needs only the policies that can match it; a dry run
         * (explain) lists every one. */
        struct policy_subject filter = view_subject(v, false);
        if (!o->dry_run)
                pc.filter = &filter;
        r = policy_set_load_cached(o->policy_dirs, o->n_policy_dirs, true, &pc, &v->policies);
        int rc = policy_cache_close(&pc);
        if (r < 0)
                outcome_error(out, "load policies: %s", strerror(-r));
        if (rc < 0)
                outcome_skip(out, "policy cache not written: %s", strerror(-rc));
        for (size_t i = 0; i < v->policies.n_errors; i++)
                outcome_error(out, "%s (file ignored)", v->policies.errors[i].msg);

        decide_build(v, &bs, out);
        r = merge(v, v->build, err);
        if (r < 0)
                return r;
        /* A policy can switch the heuristics off; the annotation and the
         * operator's explain --build still count. */
        if (v->build && v->merged->build.detect == POLICY_FALSE && !v->asserted_build &&
            !STREQ(v->build_source, policy_claim_name(POLICY_CLAIM_BUILD_ANNOTATION))) {
                outcome_skip(out, "build signal '%s' (%s) ignored: policy sets build.detect=false", v->build_signal, v->build_source);
                v->build = v->build_trusted = false;
                v->build_signal[0] = v->build_source[0] = '\0';
                r = merge(v, false, err);
                if (r < 0)
                        return r;
        }
        v->image_trusted = v->img.image[0] && (v->img.claim == POLICY_CLAIM_NONE || image_claim_used(v));
        out->image_trusted = v->image_trusted;
        out->build = v->build;
        snprintf(out->build_signal, sizeof out->build_signal, "%s", v->build_signal);
        snprintf(out->build_source, sizeof out->build_source, "%s", v->build_source);
        out->build_trusted = v->build_trusted;
        for (size_t i = 0; i < v->n_matched; i++)
                outcome_policy(out, v->policies.items[v->matched[i]]->name);

        v->min = v->merged->min.set ? size_bytes(v, o, &v->merged->min) : 0;
        v->low = v->merged->low.set ? size_bytes(v, o, &v->merged->low) : 0;
        adopt_engine(v, o, out);
        apply_override(v, o, out, "min", &v->merged->overrides.max_min, &v->min);
        apply_override(v, o, out, "low", &v->merged->overrides.max_low, &v->low);
        v->swappiness = v->build && v->merged->build.has_swappiness ? (int) v->merged->build.swappiness : LEDGER_NO_SWAPPINESS;

        /* The host configuration (the protection budget), read here with
         * every other input, before the sandbox. An invalid file is one
         * error line and the defaults apply: it never fails a start. */
        if (o->host_config_read) {
                v->host_config = o->host_config;
                if (o->host_config_error[0])
                        outcome_error(out, "%s (the defaults apply)", o->host_config_error);
                return 0;
        }
        herr = (struct mg_error) {0};
        if (host_config_load(o->sysroot, true, &v->host_config, NULL, 0, &herr) < 0)
                outcome_error(out, "%s (the defaults apply)", herr.msg);
        return 0;
}

/* ---- stages ----------------------------------------------------------- */

static int read_state(struct hook_state *st, struct outcome *out, struct mg_error *err) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_fd_bounded(STDIN_FILENO, MEMGUARD_MAX_STATE_BYTES, &buf, &len);
        if (r == -EFBIG)
                return mg_error_set(err, r, "state: size: larger than %u bytes", MEMGUARD_MAX_STATE_BYTES);
        if (r == -EBADMSG)
                return mg_error_set(err, r, "state: NUL: input contains a NUL byte");
        if (r < 0)
                return mg_error_set(err, r, "state: read stdin: %s", strerror(-r));
        r = hook_state_parse(buf, len, st, err);
        if (r == 0)
                snprintf(out->id, sizeof out->id, "%s", st->id);
        return r;
}

static void finish(struct outcome *out, struct hook_opts *o) {
        int r = outcome_write(out, o->log_file, o->use_syslog);
        if (r < 0)
                fprintf(stderr, "oci-memguard: write log %s: %s\n", o->log_file, strerror(-r));
}

static bool has_claims(const struct container_view *v) { return v->min > 0 || v->low > 0; }

/* The run's deadline: the runtime kills a hook past its timeout. */
static uint64_t run_deadline(const struct hook_opts *o) {
        return o->deadline_usec ? o->deadline_usec : now_usec_monotonic() + MEMGUARD_RUN_DEADLINE_USEC;
}

/* ---- evidence and metrics --------------------------------------------- */

/* The container's cgroup directory as the host sees it below sysroot. */
static int open_cgroup_dir(const char *sysroot, const char *cgroup_dir) {
        char path[PATH_MAX];
        if (!cgroup_dir[0])
                return -ENOENT;
        int r = path_join(path, sizeof path, sysroot, cgroup_dir);
        if (r < 0)
                return r;
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* "evidence":{...}: the kernel's counters at start, kept in the record's
 * extra object for poststop. On v1/hybrid, or when they cannot be read,
 * the reason instead: the stop says "not available" once, with it. */
static void evidence_snapshot(const struct hook_opts *o, const struct container_view *v, struct strbuf *sb) {
        strbuf_puts(sb, "\"evidence\":");
        if (!v->protect_possible) {
                strbuf_puts(sb, "{\"unavailable\":");
                strbuf_json_string(sb, v->protect_skip[0] ? v->protect_skip : "no cgroup v2 memory controller for this container");
                strbuf_puts(sb, "}");
                return;
        }
        _cleanup_close_ int fd = open_cgroup_dir(o->sysroot, v->cgroup_dir);
        struct ev_sample smp;
        int r = fd < 0 ? fd : evidence_read_at(fd, &smp);
        if (r < 0) {
                strbuf_printf(sb, "{\"unavailable\":\"memory.events of the container's cgroup could not be read at start: %s\"}", strerror(-r));
                return;
        }
        evidence_sample_json(&smp, sb);
}

/* The record's extra object: the evidence snapshot, and the build guard's
 * own snapshot ({...}) merged in. NULL when out of memory. */
static char *record_extra(const struct hook_opts *o, const struct container_view *v, char *guard_json) {
        _cleanup_free_ char *guard = guard_json;
        struct strbuf sb = {0};
        strbuf_puts(&sb, "{");
        evidence_snapshot(o, v, &sb);
        if (guard && guard[0] == '{' && guard[1] != '}') {
                strbuf_puts(&sb, ",");
                strbuf_puts(&sb, guard + 1);
        } else
                strbuf_puts(&sb, "}");
        if (sb.oom) {
                strbuf_free(&sb);
                return NULL;
        }
        return sb.buf;
}

/* extra ("{...}" or NULL) with members (",\"k\":v...") added; NULL when
 * out of memory, as record_extra. */
static char *extra_with_members(char *extra, const char *members) {
        _cleanup_free_ char *old = extra;
        struct strbuf sb = {0};
        size_t n = old ? strlen(old) : 0;
        if (n >= 2 && old[n - 1] == '}') {
                strbuf_append(&sb, old, n - 1);
                strbuf_puts(&sb, n > 2 ? members : members + 1);
        } else {
                strbuf_puts(&sb, "{");
                strbuf_puts(&sb, members + 1);
        }
        strbuf_puts(&sb, "}");
        if (sb.oom) {
                strbuf_free(&sb);
                return NULL;
        }
        return sb.buf;
}

/* The leaf is gone: the last sample the sampler stored stands in for the
 * stop's reading. Returns its age in seconds, -1 when there is none (a
 * corrupt or foreign one is said once in the outcome). */
static int64_t evidence_from_sample(const struct hook_opts *o, const struct record *rec, struct ev_sample *after, bool *have_after,
                                    struct outcome *out) {
        _cleanup_close_ int dfd = open(o->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct sample_file f;
        int r = dfd < 0 ? -errno : sample_load_at(dfd, rec->id, &f);
        if (r == -ENOENT)
                return -1;
        if (r < 0) {
                outcome_skip(out, "evidence: the sample of %s is unusable (%s): treated as absent, ignoring", rec->id,
                             r == -EBADMSG ? "not a sample" : strerror(-r));
                return -1;
        }
        *after = f.s;
        *have_after = true;
        uint64_t now = now_usec_realtime();
        return now > f.sampled_realtime_usec ? (int64_t) ((now - f.sampled_realtime_usec) / 1000000u) : 0;
}

/* The stop's "evidence": deltas since the start's snapshot and the
 * verdict. Returns the verdict's name for the metrics. */
static const char *evidence_at_stop(const struct hook_opts *o, const struct record *rec, struct outcome *out) {
        struct json_node *root = NULL;
        struct mg_error err = {0};
        const struct json_node *snap = NULL;
        if (rec->extra_json && json_parse(rec->extra_json, strlen(rec->extra_json), NULL, &root, &err) == 0)
                snap = json_get(root, "evidence");
        struct ev_sample before = {0}, after = {0};
        struct ev_judge_input in = { .v2 = true, .protected_ = rec->min > 0 || rec->low > 0, .min = rec->min, .before = &before, .after = &after };
        const char *why = NULL;
        int64_t sample_age_s = -1;
        const struct json_node *unavailable = snap ? json_get(snap, "unavailable") : NULL;
        if (unavailable && unavailable->type == JSON_STRING) {
                /* claims the host could not hold (v1/hybrid): not
                 * applicable would hide them */
                in.v2 = false;
                in.protected_ = true;
                why = unavailable->str;
        } else if (in.protected_) {
                in.have_before = snap && evidence_sample_from_json(snap, &before) == 0;
                _cleanup_close_ int fd = open_cgroup_dir(o->sysroot, rec->cgroup_dir);
                in.have_after = fd >= 0 && evidence_read_at(fd, &after) == 0;
                if (!in.have_after && in.have_before)
                        /* runc and crun remove the cgroup before poststop:
                         * the last periodic sample is the latest reading */
                        sample_age_s = evidence_from_sample(o, rec, &after, &in.have_after, out);
                if (!in.have_before)
                        why = "no snapshot of the kernel's counters at start";
                else if (!in.have_after)
                        why = "the container's cgroup was gone at poststop and no sample of it was taken (oci-memguard sample)";
        }
        enum ev_verdict v = evidence_judge(&in);
        _cleanup_strbuf_ struct strbuf sb = {0};
        evidence_format(&in, v, v == EV_NOT_AVAILABLE ? why : NULL, &sb);
        if (sample_age_s >= 0 && sb.len > 0 && sb.buf[sb.len - 1] == '}') {
                /* the verdict is as of the sample, not of the stop: say so */
                sb.buf[--sb.len] = '\0';
                strbuf_printf(&sb, ",\"source\":\"sample\",\"sample_age_s\":%" PRId64 ",\"note\":\"sampled %" PRId64
                              " s before the stop\"}", sample_age_s, sample_age_s);
        }
        if (!sb.oom)
                outcome_extra_raw(out, "evidence", sb.buf);
        /* the deltas are top-level fields: `report` sums memory_events_delta.low */
        for (int stat = 0; stat < 2 && v != EV_NOT_APPLICABLE; stat++) {
                _cleanup_strbuf_ struct strbuf d = {0};
                if (evidence_deltas_format(&in, stat, &d) && !d.oom)
                        outcome_extra_raw(out, stat ? "memory_stat_delta" : "memory_events_delta", d.buf);
        }
        json_free(root);
        return evidence_verdict_name(v);
}

static const char *run_outcome(const struct outcome *out) {
        if (out->n_errors > 0)
                return "error";
        if (out->n_actions == 0 && out->n_skipped > 0)
                return "skipped";
        return "ok";
}

/* A u64 the run recorded in its outcome's extra pairs (",\"key\":N"). */
static bool outcome_extra_get_u64(const struct outcome *out, const char *key, uint64_t *ret) {
        char pat[80];
        snprintf(pat, sizeof pat, ",\"%s\":", key);
        const char *p = out->extra.buf ? strstr(out->extra.buf, pat) : NULL;
        if (!p)
                return false;
        p += strlen(pat);
        uint64_t v = 0;
        if (*p < '0' || *p > '9')
                return false;
        for (; *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (uint64_t) (*p - '0');
        *ret = v;
        return true;
}

/* The build guard's decision and the MemAvailable it gained, from its
 * "build_guard" object in the outcome. */
static void guard_figures(const struct outcome *out, struct metrics_run *run, char *decision, size_t size) {
        const char *p = out->extra.buf ? strstr(out->extra.buf, ",\"build_guard\":{\"decision\":\"") : NULL;
        if (!p)
                return;
        p += strlen(",\"build_guard\":{\"decision\":\"");
        size_t n = strcspn(p, "\"");
        snprintf(decision, size, "%.*s", (int) (n < size ? n : size - 1), p);
        run->guard_decision = decision;
        uint64_t before, after;
        if (outcome_extra_get_u64(out, "mem_available_before", &before) && outcome_extra_get_u64(out, "mem_available_after", &after) &&
            after > before)
                run->guard_freed_bytes = after - before;
}

/* The figures of the live records, for the gauges. */
static void ledger_gauges(const struct hook_opts *o, const struct ledger *l, struct metrics_gauges *g) {
        *g = (struct metrics_gauges) {0};
        struct ledger_totals t;
        ledger_totals_now(l, &t);
        g->held_min = t.held_min;
        g->held_low = t.held_low;
        g->protected_containers = t.protected_;
        int swap = LEDGER_NO_SWAPPINESS;
        for (size_t i = 0; i < l->n_recs; i++) {
                const struct record *r = &l->recs[i];
                if (l->rec_state[i] == REC_REMOVED)
                        continue;
                if (r->swappiness != LEDGER_NO_SWAPPINESS && (swap == LEDGER_NO_SWAPPINESS || r->swappiness < swap))
                        swap = r->swappiness;
        }
        if (swap != LEDGER_NO_SWAPPINESS) {
                g->swappiness_claimed = true;
                g->swappiness = (uint64_t) swap;
        }
        struct meminfo mi;
        if (meminfo_read(o->sysroot, &mi) == 0)
                g->mem_total = mi.total;
}

/* Under the ledger lock l holds: the run's counters (final unless a build
 * guard still runs after the lock: then metrics_after_guard counts the
 * run) and the state's gauges; the textfile is rewritten. */
static void metrics_under_lock(const struct hook_opts *o, struct ledger *l, struct outcome *out, const char *verdict, const char *policies_body,
                               bool run_counted_later) {
        if (o->dry_run || l->lockfd < 0 || !o->metrics_dir[0])
                return;
        struct metrics_run run = { .verdict = verdict, .policies_body = policies_body };
        if (!run_counted_later) {
                run.stage = out->stage && STREQ(out->stage, "poststop") ? "poststop" : "start";
                run.outcome = run_outcome(out);
                run.have_duration = true;
                run.duration_us = now_usec_monotonic() - out->start_usec;
        }
        run.have_lock_wait = outcome_extra_get_u64(out, "lock_wait_us", &run.lock_wait_us);
        struct metrics_gauges g;
        ledger_gauges(o, l, &g);
        int r = metrics_commit(l->dirfd, o->metrics_dir, &run, &g);
        if (r < 0)
                outcome_skip(out, "metrics: not written to '%s': %s, ignoring", o->metrics_dir[0] ? o->metrics_dir : o->state_dir, strerror(-r));
}

/* After a build guard ran outside the lock: the run itself and the
 * guard's decision, under the lock taken again briefly. */
static void metrics_after_guard(const struct hook_opts *o, struct outcome *out) {
        if (o->dry_run || !o->metrics_dir[0])
                return;
        struct outcome scratch; /* ledger_open notes its lock wait: not this run's */
        outcome_init(&scratch, out->stage);
        struct ledger l;
        struct mg_error err = {0};
        if (ledger_open(&l, o->state_dir, o->sysroot, NULL, &scratch, false, run_deadline(o), &err) == 0) {
                char decision[32] = "";
                struct metrics_run run = {
                        .stage = STREQ(out->stage, "poststop") ? "poststop" : "start",
                        .outcome = run_outcome(out),
                        .have_duration = true,
                        .duration_us = now_usec_monotonic() - out->start_usec,
                };
                guard_figures(out, &run, decision, sizeof decision);
                int r = metrics_commit(l.dirfd, o->metrics_dir, &run, NULL);
                if (r < 0)
                        outcome_skip(out, "metrics: not written: %s, ignoring", strerror(-r));
        } else
                outcome_skip(out, "metrics: %s, ignoring", err.msg);
        ledger_close(&l);
        outcome_free(&scratch);
}

/* What the budget needs of the host: the caps for this MemTotal, read once
 * per pass, and what the root's children hold — the view ledger.json
 * keeps, while it is younger than max_age_usec (ledger_top_cached), else
 * read from cgroupfs (max_age_usec 0: always, for top-ups). */
struct budget_host {
        bool limits_read;
        uint64_t mem_total;
        struct budget_limits limits;
        bool read;                 /* top and top_r are filled */
        bool kept;                 /* top is the kept view, not read now */
        int top_r;                 /* budget_top_read's result */
        struct budget_top top;
};

static void budget_host_done(struct budget_host *bh) { budget_top_free(&bh->top); }

static const struct budget_host *budget_host_get(const struct hook_opts *o, const struct host_config *hc, const struct cgroup_host *host,
                                                 struct ledger *l, uint64_t max_age_usec, struct budget_host *bh) {
        if (!bh->limits_read) {
                (void) budget_limits_for_host(o->sysroot, hc, &bh->limits, &bh->mem_total);
                bh->limits_read = true;
        }
        if (bh->read && !bh->kept)
                return bh; /* read from cgroupfs in this run: as exact as it gets */
        budget_top_free(&bh->top);
        if (max_age_usec > 0 && ledger_top_cached(l, max_age_usec, &bh->top) == 0) {
                bh->top_r = 0;
                bh->kept = bh->read = true;
                return bh;
        }
        bh->top_r = budget_top_read(host, &bh->top);
        bh->kept = false;
        bh->read = true;
        if (bh->top_r == 0 && !o->dry_run)
                ledger_top_keep(l, &bh->top);
        return bh;
}

static void prune_stale_with_evidence(const struct hook_opts *o, struct ledger *l, struct outcome *out);

/* Tops up, oldest first, the running containers the budget clamped at
 * their start, as far as the room free at the top of the tree allows now
 * (a stop, a pruned record or a larger MemTotal freed it): they were
 * promised the next room, before any new start. Under the lock, before the
 * apply that writes their chains. ret_added: what the top-ups add at the
 * top, which a start in the same run must fit beside. Returns how many
 * grew. */
static size_t budget_topup_clamped(const struct hook_opts *o, const struct cgroup_host *host, struct ledger *l, struct outcome *out,
                                   struct budget_host *bh, struct budget_usage *ret_added) {
        assert(o && host && l && out && ret_added);
        *ret_added = (struct budget_usage) {0};
        if (!l->full) {
                /* The clamped containers' records were not read: read them
                 * all (a full pass) only when one could grow now. */
                struct ledger_totals t;
                ledger_totals_now(l, &t);
                if (t.clamped == 0)
                        return 0;
                budget_host_get(o, &o->host_config, host, l, 0, bh);
                if (bh->top_r < 0 && bh->top_r != -E2BIG)
                        return 0;
                long pg = sysconf(_SC_PAGESIZE);
                uint64_t ps = pg > 0 ? (uint64_t) pg : 4096;
                const struct budget_usage *u = &bh->top.used;
                bool room_min = u->min < bh->limits.min && bh->limits.min - u->min >= ps;
                bool room_prot = u->protection < bh->limits.protection && bh->limits.protection - u->protection >= ps;
                if (!((t.short_min > 0 && room_min && room_prot) || (t.short_protection > 0 && room_prot)))
                        return 0;
                if (ledger_load_rest(l, NULL) < 0)
                        return 0;
                prune_stale_with_evidence(o, l, out);
        }
        size_t n = 0;
        for (size_t i = 0; i < l->n_recs; i++) {
                const struct record *r = &l->recs[i];
                if (l->rec_state[i] != REC_REMOVED && r->protect && (r->requested_min > r->min || r->requested_low > r->low))
                        n++;
        }
        if (n == 0)
                return 0;
        _cleanup_free_ struct budget_topup *items = calloc(n, sizeof *items);
        if (!items) {
                outcome_skip(out, "budget: no memory to top up clamped containers: the next run will");
                return 0;
        }
        n = 0;
        for (size_t i = 0; i < l->n_recs; i++) {
                const struct record *r = &l->recs[i];
                if (l->rec_state[i] != REC_REMOVED && r->protect && (r->requested_min > r->min || r->requested_low > r->low))
                        items[n++] = (struct budget_topup) { .id = r->id, .started_usec = r->started_realtime_usec,
                                                             .requested = { r->requested_min, r->requested_low }, .granted = { r->min, r->low } };
        }
        budget_host_get(o, &o->host_config, host, l, 0, bh);
        if (bh->top_r < 0 && bh->top_r != -E2BIG)
                return 0; /* nothing is promised that cannot be checked */
        long ps = sysconf(_SC_PAGESIZE);
        size_t grown = budget_topup(&bh->limits, &bh->top.used, ps > 0 ? (uint64_t) ps : 4096, items, n);
        for (size_t k = 0; grown > 0 && k < n; k++) {
                struct record *rec = ledger_find(l, items[k].id);
                if (!rec || (items[k].granted.min == rec->min && items[k].granted.low == rec->low))
                        continue;
                char a[32], b[32], c[32], d[32];
                outcome_skip(out, "budget: %s topped up from memory.min %s, memory.low %s to %s, %s (clamped at its start; room has freed)", rec->id,
                             budget_format_bytes(rec->min, a, sizeof a), budget_format_bytes(rec->low, b, sizeof b),
                             budget_format_bytes(items[k].granted.min, c, sizeof c), budget_format_bytes(items[k].granted.low, d, sizeof d));
                ret_added->min = budget_add(ret_added->min, items[k].granted.min - rec->min);
                ret_added->protection = budget_add(ret_added->protection, budget_protection_of(items[k].granted.min, items[k].granted.low) -
                                                                                  budget_protection_of(rec->min, rec->low));
                rec->min = items[k].granted.min;
                rec->low = items[k].granted.low;
                size_t idx = (size_t) (rec - l->recs);
                if (l->rec_state[idx] == REC_KEEP)
                        l->rec_state[idx] = REC_DIRTY;
        }
        return grown;
}

/* After a run's apply gave back what stops and pruned records held: the
 * room is on the host now, so clamped containers are topped up at once. */
static void budget_topup_after_apply(const struct hook_opts *o, const struct cgroup_host *host, struct ledger *l, struct outcome *out) {
        struct budget_usage added;
        _cleanup_(budget_host_done) struct budget_host bh = {0};
        if (!o->dry_run && l->write_errors == 0 && budget_topup_clamped(o, host, l, out, &bh, &added) > 0)
                (void) ledger_apply(l);
}

/* Stale records are pruned with what their last sample says (their own
 * start snapshot travels in it): "stale_evidence":[{...}], at most 16. */
static void prune_stale_with_evidence(const struct hook_opts *o, struct ledger *l, struct outcome *out) {
        size_t n = l->n_recs;
        _cleanup_free_ bool *kept = calloc(n ? n : 1, sizeof *kept);
        for (size_t i = 0; kept && i < n; i++)
                kept[i] = l->rec_state[i] == REC_KEEP;
        ledger_prune_stale(l);
        if (!kept || o->dry_run)
                return;
        _cleanup_close_ int dfd = open(o->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_strbuf_ struct strbuf sb = {0};
        unsigned listed = 0;
        for (size_t i = 0; dfd >= 0 && i < n && listed < 16; i++) {
                if (!kept[i] || l->rec_state[i] != REC_REMOVED)
                        continue;
                const struct record *rec = &l->recs[i];
                struct sample_file f;
                int r = sample_load_at(dfd, rec->id, &f);
                struct ev_judge_input in = { .v2 = true, .protected_ = rec->min > 0 || rec->low > 0, .min = rec->min,
                                             .before = &f.start, .after = &f.s };
                in.have_before = in.have_after = r == 0 && f.have_start;
                enum ev_verdict v = evidence_judge(&in);
                strbuf_puts(&sb, listed ? ",{\"id\":" : "[{\"id\":");
                strbuf_json_string(&sb, rec->id);
                strbuf_puts(&sb, ",\"evidence\":");
                evidence_format(&in, v, v == EV_NOT_AVAILABLE ? (r == 0 ? "no start snapshot in its sample" : "no sample of it") : NULL, &sb);
                _cleanup_strbuf_ struct strbuf d = {0};
                if (evidence_deltas_format(&in, false, &d) && !d.oom) {
                        strbuf_puts(&sb, ",\"memory_events_delta\":");
                        strbuf_puts(&sb, d.buf);
                }
                if (r == 0) {
                        uint64_t now = now_usec_realtime();
                        strbuf_printf(&sb, ",\"sample_age_s\":%" PRIu64, now > f.sampled_realtime_usec ? (now - f.sampled_realtime_usec) / 1000000u : 0);
                }
                strbuf_puts(&sb, "}");
                listed++;
        }
        if (listed) {
                strbuf_puts(&sb, "]");
                if (!sb.oom)
                        outcome_extra_raw(out, "stale_evidence", sb.buf);
        }
}

/* Prunes stale records and gives back what they held: every run heals
 * what killed or never-stopped runs left behind. */
static int ledger_maintain(const struct hook_opts *o, const struct cgroup_host *host, struct outcome *out, bool full) {
        struct ledger l;
        struct mg_error err = {0};
        if (ledger_open(&l, o->state_dir, o->sysroot, host, out, o->dry_run, run_deadline(o), &err) < 0) {
                outcome_error(out, "%s", err.msg);
                return -1;
        }
        l.force_full = full;
        (void) ledger_load(&l);
        prune_stale_with_evidence(o, &l, out);
        (void) ledger_apply(&l);
        budget_topup_after_apply(o, host, &l, out);
        metrics_under_lock(o, &l, out, NULL, NULL, false);
        ledger_close(&l);
        return 0;
}

/* oci-memguard prune: a full pass now (every record checked, every node
 * file rewritten from the records), as a run does on its own when the
 * state was not left clean or the last full pass is
 * MEMGUARD_FULL_PASS_USEC old. */
static int stage_prune(struct hook_opts *o, struct outcome *out) {
        struct cgroup_host host = { .v2_fd = -1 };
        struct mg_error err = {0};
        if (cgroup_host_detect(o->sysroot, &host, &err) < 0)
                outcome_error(out, "%s", err.msg);
        out->cgroup_mode = cgroup_mode_name(host.mode);
        out->recursiveprot = host.recursiveprot;
        int r = ledger_maintain(o, &host, out, true);
        cgroup_host_close(&host);
        if (r < 0)
                fprintf(stderr, "oci-memguard: prune: the state dir could not be opened or locked; see %s\n", o->log_file);
        return r < 0 ? 1 : 0;
}

static int stage_start(struct hook_opts *o, struct outcome *out) {
        _cleanup_(container_view_free) struct container_view v = { .host.v2_fd = -1, .swappiness = LEDGER_NO_SWAPPINESS };
        struct mg_error err = {0};
        if (read_state(&v.state, out, &err) < 0) {
                outcome_error(out, "%s", err.msg);
                outcome_skip(out, "malformed state: nothing done");
                fprintf(stderr, "oci-memguard: %s\n", err.msg);
                return 0;
        }
        if (!v.state.bundle) {
                outcome_error(out, "state: missing 'bundle'");
                outcome_skip(out, "malformed state: nothing done");
                fprintf(stderr, "oci-memguard: state: missing 'bundle'\n");
                return 0;
        }
        if (oci_info_load(v.state.bundle, &v.oci, &err) < 0) {
                outcome_error(out, "%s", err.msg);
                outcome_skip(out, "malformed config.json: nothing done");
                fprintf(stderr, "oci-memguard: %s\n", err.msg);
                return 0;
        }
        v.has_oci = true;
        /* err names the source of a bad value (config.json or
         * /proc/<pid>/cgroup): reported once, here. */
        int r = container_decide(&v, o, out, &err);
        if (r < 0) {
                outcome_error(out, "%s", err.msg);
                outcome_skip(out, r == -EINVAL ? "malformed input: nothing done" : "cannot decide: nothing done");
                fprintf(stderr, "oci-memguard: %s\n", err.msg);
                return 0;
        }
        /* Every input is read (state, config.json, mountinfo, policies,
         * engine metadata): from here on only the ledger and the files it
         * writes are touched. */
        (void) sandbox_enter(o->no_seccomp, out);
        return container_protect(&v, o, out);
}

/* The protection budget, decided under the ledger lock so that concurrent
 * starts see each other's grants: what the root's children hold now (the
 * originals others set, an admin's MemoryMin=, kubelet's kubepods, plus
 * every raise the hook made for running containers) is what the kernel
 * counts, so that is what a new grant must fit beside. A start that does
 * not fit gets what fits (possibly 0); running containers are never
 * lowered; with on_error=fail the start is refused instead. When the top
 * of the tree cannot be read, nothing is granted: a promise that cannot
 * be checked is not made. Returns true when the start is refused. */
static bool budget_admit(const struct container_view *v, const struct hook_opts *o, struct ledger *l, struct record *rec, bool refuse_clamped,
                         struct budget_host *bh, const struct budget_usage *topped_up, struct outcome *out) {
        assert(v && o && l && rec && bh && out);
        long ps = sysconf(_SC_PAGESIZE);
        struct budget_claim req = { .min = rec->min, .low = rec->low };
        struct budget_usage used;
        for (bool near = false;; near = true) {
                budget_host_get(o, &v->host_config, &v->host, l, ledger_top_max_age(l, near), bh);
                if (bh->top_r < 0 && bh->top_r != -E2BIG) {
                        outcome_skip(out, "budget: the protection held below the cgroup2 root cannot be read (%s): nothing granted",
                                     strerror(-bh->top_r));
                        rec->min = rec->low = 0;
                        return false;
                }
                /* the top-ups of this run are granted first, written by the same apply */
                used = bh->top.used;
                used.min = budget_add(used.min, topped_up->min);
                used.protection = budget_add(used.protection, topped_up->protection);
                /* Near a cap, what others set there matters within a
                 * second: a view older than that is read again (once). */
                if (near || !bh->kept || !budget_near_cap(&bh->limits, &used, &req, budget_margin_for(bh->mem_total)))
                        break;
        }
        struct budget_decision d;
        budget_grant(&bh->limits, &used, &req, ps > 0 ? (uint64_t) ps : 4096, refuse_clamped, &d);
        budget_outcome(out, &d);
        if (d.verdict == BUDGET_REFUSED)
                return true;
        rec->min = d.granted.min;
        rec->low = d.granted.low;
        return false;
}

int container_protect(struct container_view *v, const struct hook_opts *o, struct outcome *out) {
        struct mg_error err = {0};
        int r;
        bool fail_on_error = v->merged->on_error == POLICY_ON_ERROR_FAIL;
        if (v->n_matched == 0) {
                /* Nothing to hold for this one, but every run heals what
                 * others left behind. */
                outcome_skip(out, "no policy matches this container");
                (void) ledger_maintain(o, &v->host, out, false);
                return 0;
        }
        if (has_claims(v) && !v->protect_possible)
                outcome_skip(out, "%s", v->protect_skip);

        struct record rec = {
                .pid = v->state.has_pid ? v->state.pid : 0,
                .protect = v->protect_possible && has_claims(v),
                .min = v->protect_possible ? v->min : 0,
                .low = v->protect_possible ? v->low : 0,
                .swappiness = v->swappiness,
                .build = v->build,
                .started_realtime_usec = now_usec_realtime(),
                .started_monotonic_usec = now_usec_monotonic(),
        };
        snprintf(rec.id, sizeof rec.id, "%s", v->state.id);
        snprintf(rec.cgroup, sizeof rec.cgroup, "%s", v->cgroup);
        snprintf(rec.cgroup_dir, sizeof rec.cgroup_dir, "%s", v->cgroup_dir);
        snprintf(rec.build_signal, sizeof rec.build_signal, "%s", v->build_signal);
        snprintf(rec.image, sizeof rec.image, "%s", v->img.image);
        snprintf(rec.build_source, sizeof rec.build_source, "%s", v->build_source);
        rec.build_trusted = v->build_trusted;
        snprintf(rec.image_source, sizeof rec.image_source, "%s", v->img.source);
        rec.image_trusted = v->image_trusted;
        if (rec.pid > 0)
                (void) proc_starttime(o->sysroot, rec.pid, &rec.starttime);
        if (rec.swappiness >= 0)
                rec.swappiness_expires_usec = ledger_swappiness_expiry(rec.started_monotonic_usec);
        {
                struct strbuf sb = {0};
                strbuf_printf(&sb, "[%s]", out->policies.buf ? out->policies.buf : "");
                rec.policies_json = sb.buf;
        }
        if (v->build) {
                const struct policy_size *after = &v->merged->build.after.reclaim;
                enum policy_when aw = v->merged->build.after.when;
                uint64_t after_bytes = after->set && aw != POLICY_WHEN_NEVER && aw != POLICY_WHEN_UNSET ? size_bytes(v, o, after) : 0;
                rec.extra_json = buildguard_snapshot_json(o->sysroot, after_bytes, (int) aw);
        }
        if (has_claims(v))
                rec.extra_json = record_extra(o, v, rec.extra_json);
        /* A step's own limits: its leaf only, nothing shared, so before
         * the lock, and before the guard lets the step run. */
        unsigned limit_failed = 0;
        if (v->build) {
                _cleanup_strbuf_ struct strbuf lim = {0};
                limit_failed = buildlimit_at_start(v, o, out, &lim);
                if (lim.len > 0 && !lim.oom)
                        rec.extra_json = extra_with_members(rec.extra_json, lim.buf);
        }

        struct ledger l;
        r = ledger_open(&l, o->state_dir, o->sysroot, &v->host, out, o->dry_run, run_deadline(o), &err);
        if (r < 0) {
                record_free(&rec);
                outcome_error(out, "%s", err.msg);
                if (r == -ETIMEDOUT)
                        outcome_skip(out, "the container starts unprotected: the run's deadline would be missed");
                if (fail_on_error) {
                        fprintf(stderr, "oci-memguard: %s (policy on_error=fail)\n", err.msg);
                        return 1;
                }
                return 0;
        }
        l.start_record_id = rec.id;
        (void) ledger_load(&l);
        prune_stale_with_evidence(o, &l, out);
        rec.requested_min = rec.min;
        rec.requested_low = rec.low;
        struct budget_usage topped_up = {0};
        _cleanup_(budget_host_done) struct budget_host bh = {0};
        if (!o->dry_run)
                (void) budget_topup_clamped(o, &v->host, &l, out, &bh, &topped_up);
        if (rec.protect && budget_admit(v, o, &l, &rec, fail_on_error, &bh, &topped_up, out)) {
                record_free(&rec);
                if (!o->dry_run)
                        fprintf(stderr, "oci-memguard: the protection asked does not fit the host's budget (policy on_error=fail): start refused\n");
                (void) ledger_apply(&l); /* what pruning released is still given back */
                ledger_close(&l);
                return 1;
        }
        r = ledger_add(&l, &rec);
        record_free(&rec);
        if (r == 0)
                r = ledger_apply(&l);
        unsigned write_errors = l.write_errors;
        if (fail_on_error && write_errors > 0 && !o->dry_run) {
                /* The container will not start: give back what it took now
                 * rather than waiting for a poststop that may never come. */
                ledger_remove(&l, v->state.id);
                l.write_errors = 0;
                (void) ledger_apply(&l);
        }
        bool guard_runs = v->build && !(fail_on_error && write_errors > 0);
        metrics_under_lock(o, &l, out, NULL, NULL, guard_runs);
        ledger_close(&l);
        KILLPOINT("start-before-buildguard");

        if (guard_runs) {
                buildguard_before_build(v, o, out);
                metrics_after_guard(o, out);
        }

        if (fail_on_error && (write_errors > 0 || r < 0 || (limit_failed > 0 && !o->dry_run))) {
                fprintf(stderr, "oci-memguard: %s: protection could not be applied (policy on_error=fail); see %s\n", v->state.id, o->log_file);
                return 1;
        }
        return 0;
}

static int stage_poststop(struct hook_opts *o, struct outcome *out) {
        struct hook_state st = {0};
        struct mg_error err = {0};
        if (read_state(&st, out, &err) < 0) {
                outcome_error(out, "%s", err.msg);
                outcome_skip(out, "malformed state: nothing done");
                fprintf(stderr, "oci-memguard: %s\n", err.msg);
                return 0;
        }
        struct cgroup_host host = { .v2_fd = -1 };
        if (cgroup_host_detect(o->sysroot, &host, &err) < 0)
                outcome_error(out, "%s", err.msg);
        out->cgroup_mode = cgroup_mode_name(host.mode);
        out->recursiveprot = host.recursiveprot;
        (void) sandbox_enter(o->no_seccomp, out);

        struct ledger l;
        int r = ledger_open(&l, o->state_dir, o->sysroot, &host, out, o->dry_run, run_deadline(o), &err);
        if (r < 0) {
                outcome_error(out, "%s", err.msg);
                hook_state_free(&st);
                cgroup_host_close(&host);
                return 0;
        }
        l.full_record_id = st.id;
        const char *verdict = NULL;
        char policies[2048] = "";
        (void) ledger_load(&l);
        struct record *rec = ledger_find(&l, st.id);
        if (rec) {
                snprintf(out->image, sizeof out->image, "%s", rec->image);
                snprintf(out->cgroup, sizeof out->cgroup, "%s", rec->cgroup);
                out->build = rec->build;
                snprintf(out->build_signal, sizeof out->build_signal, "%s", rec->build_signal);
                snprintf(out->build_source, sizeof out->build_source, "%s", rec->build_source);
                out->build_trusted = rec->build_trusted;
                snprintf(out->image_source, sizeof out->image_source, "%s", rec->image_source);
                out->image_trusted = rec->image_trusted;
                if (rec->policies_json && strlen(rec->policies_json) > 2) {
                        /* the record keeps the start's list: re-emit its body */
                        strbuf_append(&out->policies, rec->policies_json + 1, strlen(rec->policies_json) - 2);
                        out->n_policies = 1;
                }
                outcome_extra_u64(out, "container_duration_us", now_usec_realtime() - rec->started_realtime_usec);
                if (rec->build)
                        buildguard_after_build(rec->extra_json, o->sysroot, out);
                verdict = evidence_at_stop(o, rec, out);
                if (rec->build && rec->extra_json && strstr(rec->extra_json, "\"limit\"")) {
                        _cleanup_json_ struct json_node *extra = NULL;
                        struct mg_error jerr = {0};
                        if (json_parse(rec->extra_json, strlen(rec->extra_json), NULL, &extra, &jerr) == 0)
                                buildlimit_at_stop(json_get(extra, "limit"), rec->id, rec->cgroup_dir, o, out);
                }
                if (rec->policies_json && strlen(rec->policies_json) < sizeof policies)
                        snprintf(policies, sizeof policies, "%s", rec->policies_json);
                ledger_remove(&l, st.id);
        } else {
                /* poststop runs twice under some engines (podman#9983), or
                 * for containers no policy matched. */
                outcome_skip(out, "no record for this container (nothing held, or already given back)");
        }
        /* rec points into the records, which the top-ups may read in
         * full (and so move): what is needed of it is taken now. */
        bool was_build = rec && rec->build;
        _cleanup_free_ char *snapshot = was_build && rec->extra_json ? strdup(rec->extra_json) : NULL;
        rec = NULL;
        prune_stale_with_evidence(o, &l, out);
        (void) ledger_apply(&l);
        budget_topup_after_apply(o, &host, &l, out);
        struct ledger_totals totals;
        ledger_totals_now(&l, &totals);
        if (totals.builds > 0) { /* not the last build */
                free(snapshot);
                snapshot = NULL;
        }
        metrics_under_lock(o, &l, out, verdict, policies, snapshot != NULL);
        ledger_close(&l);
        if (snapshot) {
                buildguard_after_last_build(snapshot, o, out);
                metrics_after_guard(o, out);
        }
        hook_state_free(&st);
        cgroup_host_close(&host);
        return 0;
}

int hook_stage_main(const char *stage, struct hook_opts *o) {
        if (!stage_is_start(stage) && !STREQ(stage, "poststop") && !STREQ(stage, "prune"))
                return 0; /* nothing to do at this stage */
        if (!o->deadline_usec)
                o->deadline_usec = now_usec_monotonic() + MEMGUARD_RUN_DEADLINE_USEC;
        {
                /* Read once for the run: where the metrics go, the budget of
                 * a start, a stop's top-ups. An invalid file is reported by
                 * a start (container_decide), once. */
                struct mg_error herr = {0};
                if (host_config_load(o->sysroot, true, &o->host_config, NULL, 0, &herr) < 0)
                        snprintf(o->host_config_error, sizeof o->host_config_error, "%s", herr.msg);
                o->host_config_read = true;
                snprintf(o->metrics_dir, sizeof o->metrics_dir, "%s", o->host_config.metrics_dir);
        }
        struct outcome out;
        outcome_init(&out, stage);
        out.dry_run = o->dry_run;
        if (o->use_syslog)
                log_open_syslog();
        int ret = stage_is_start(stage) ? stage_start(o, &out) : STREQ(stage, "prune") ? stage_prune(o, &out) : stage_poststop(o, &out);
        finish(&out, o);
        outcome_free(&out);
        return STREQ(stage, "poststop") ? 0 : ret;
}
