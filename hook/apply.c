/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "apply.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "killpoint.h"
#include "sysctl.h"
#include "systemd.h"

/* A start must not hang on a wedged bus: at most this per value, then a
 * direct write. */
#define SYSTEMD_TIMEOUT_USEC (2u * 1000u * 1000u)
/* A bus that did not answer in time is not asked again by any run for this
 * long: 64 starts at once wait for it once, not 64 times in turn. */
#define SYSTEMD_SLOW_USEC (30u * 1000u * 1000u)
#define SYSTEMD_SLOW_MARKER "systemd-slow"
/* What a D-Bus call leaves of the deadline for the rest of the run. */
#define SYSTEMD_DEADLINE_RESERVE_USEC (500u * 1000u)

/* ---- value backends ---------------------------------------------------- */

static int cgroupfs_write(struct value_backend *b, const char *path, int cgfd, int v, uint64_t value, uint64_t *ret_actual, char *via,
                          size_t via_size, char *why, size_t why_size) {
        (void) b;
        (void) path;
        snprintf(via, via_size, "%s", "");
        int r = cgroup_write_value(cgfd, plan_value_file[v], value, ret_actual);
        if (r < 0)
                snprintf(why, why_size, "%s", strerror(-r));
        return r;
}

static void systemd_mark_slow(struct value_backend *b) {
        b->bus_slow = true;
        if (b->state_dirfd < 0)
                return;
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", now_usec_realtime());
        (void) write_file_atomic_at(b->state_dirfd, SYSTEMD_SLOW_MARKER, buf, (size_t) n, 0600);
}

static bool systemd_recently_slow(int state_dirfd) {
        char buf[32];
        uint64_t when;
        if (state_dirfd < 0 || read_small_at(state_dirfd, SYSTEMD_SLOW_MARKER, buf, sizeof buf) < 0 || safe_atou64(buf, &when) < 0)
                return false;
        uint64_t now = now_usec_realtime();
        return when <= now && now - when < SYSTEMD_SLOW_USEC;
}

static int systemd_write(struct value_backend *b, const char *path, int cgfd, int v, uint64_t value, uint64_t *ret_actual, char *via,
                         size_t via_size, char *why, size_t why_size) {
        const char *file = plan_value_file[v];
        char unit[256];
        struct mg_error serr = {0};
        uint64_t t0 = now_usec_monotonic();
        int kind = SYSTEMD_CGROUP_PLAIN, sr = 0;
        if (b->bus_slow) {
                /* Only a slice is known without asking: a scope would cost
                 * a question to the bus that just did not answer. */
                kind = systemd_cgroup_kind(path, unit, sizeof unit);
                if (kind == SYSTEMD_CGROUP_UNIT || kind == SYSTEMD_CGROUP_MISPLACED)
                        sr = mg_error_set(&serr, -ETIMEDOUT, "%s (no answer in time within the last %u s: not asked again)", strerror(ETIMEDOUT),
                                          SYSTEMD_SLOW_USEC / 1000000u);
        } else
                kind = systemd_client_resolve(b->sd, path, unit, sizeof unit, &serr);
        if (kind == SYSTEMD_CGROUP_MISPLACED)
                /* a directory that only carries a unit's name is a plain
                 * cgroup: changing the unit would change another cgroup */
                outcome_skip(b->out, "%s of %s: named like the systemd unit %s, but not its cgroup: written directly", file, path, unit);
        if (sr == 0 && kind == SYSTEMD_CGROUP_UNIT) {
                sr = systemd_client_set_memory_protection(b->sd, unit, cgfd, file, value, ret_actual, &serr);
                if (sr == 0) {
                        snprintf(via, via_size, " via systemd");
                        return 0;
                }
        } else if (kind < 0)
                sr = kind;
        if (!b->bus_slow && now_usec_monotonic() - t0 >= SYSTEMD_TIMEOUT_USEC / 2)
                systemd_mark_slow(b);
        if (sr == 0)
                return cgroupfs_write(b, path, cgfd, v, value, ret_actual, via, via_size, why, why_size);
        /* Loud: systemd will reset this value the next time it realizes
         * the unit. */
        outcome_error(b->out, "set %s of %s through systemd: %s: written directly instead, systemd may reset it", file, path, serr.msg);
        snprintf(via, via_size, " (direct, not via systemd)");
        int r = cgroup_write_value(cgfd, file, value, ret_actual);
        if (r < 0)
                snprintf(why, why_size, "%s", strerror(-r));
        return r;
}

int value_backend_choose(struct value_backend *ret, const char *sysroot, struct outcome *out, int state_dirfd, uint64_t deadline_usec) {
        assert(ret);
        assert(sysroot);
        *ret = (struct value_backend) { .name = "cgroupfs", .write = cgroupfs_write, .out = out, .state_dirfd = state_dirfd };
        /* The D-Bus exchanges leave time for the rest of the run. */
        uint64_t deadline = deadline_usec > SYSTEMD_DEADLINE_RESERVE_USEC ? deadline_usec - SYSTEMD_DEADLINE_RESERVE_USEC : 0;
        int r = systemd_client_new(sysroot, SYSTEMD_TIMEOUT_USEC, deadline, &ret->sd);
        if (r < 0)
                return r;
        if (!systemd_client_running(ret->sd)) {
                ret->sd = systemd_client_free(ret->sd);
                return 0;
        }
        ret->name = "systemd";
        ret->write = systemd_write;
        ret->bus_slow = systemd_recently_slow(state_dirfd);
        return 0;
}

void value_backend_done(struct value_backend *b) {
        assert(b);
        b->sd = systemd_client_free(b->sd);
}

/* ---- the run ----------------------------------------------------------- */

static bool rec_live(const struct ledger *l, size_t i) { return l->rec_state[i] != REC_REMOVED; }

static void fmt_val(uint64_t v, char *buf, size_t n) { format_cgroup_value(v, buf, n); }

static uint64_t path_hash(const char *p) {
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (; *p; p++)
                h = (h ^ (unsigned char) *p) * 1099511628211ull;
        return h;
}

/* Every cgroup in the chain of every protecting record gets an entry (leaf
 * and ancestors below the root; the root has no memory.min). The entries
 * are found through a hash set: records x depth, not records x entries. */
static int ensure_entries(struct ledger *l) {
        size_t most = l->n_entries;
        for (size_t i = 0; i < l->n_recs; i++)
                most += cgroup_path_depth(l->recs[i].cgroup);
        size_t cap = 64;
        while (cap < most * 2)
                cap *= 2;
        _cleanup_free_ size_t *slot = calloc(cap, sizeof *slot); /* entry index + 1 */
        if (!slot)
                return -ENOMEM;
        size_t mask = cap - 1;
        for (size_t i = 0; i < l->n_entries; i++) {
                size_t h = (size_t) path_hash(l->entries[i].path) & mask;
                while (slot[h])
                        h = (h + 1) & mask;
                slot[h] = i + 1;
        }
        for (size_t i = 0; i < l->n_recs; i++) {
                const struct record *rec = &l->recs[i];
                /* After a corrupt ledger the chains of the records pruned
                 * in this run still hold their raise: give it back too. */
                bool held = l->loaded_ledger_corrupt && l->rec_state[i] == REC_REMOVED;
                if ((!rec_live(l, i) && !held) || !rec->protect || !rec->cgroup[0])
                        continue;
                char path[1024];
                snprintf(path, sizeof path, "%s", rec->cgroup);
                while (path[0] && !STREQ(path, "/")) {
                        size_t h = (size_t) path_hash(path) & mask;
                        bool found = false;
                        for (; slot[h]; h = (h + 1) & mask)
                                if (STREQ(l->entries[slot[h] - 1].path, path)) {
                                        found = true;
                                        break;
                                }
                        if (!found) {
                                if (!ledger_entry_add(l, path))
                                        return -ENOMEM;
                                slot[h] = l->n_entries;
                        }
                        char *slash = strrchr(path, '/');
                        if (slash == path)
                                break;
                        *slash = '\0';
                }
        }
        return 0;
}

struct apply_run {
        struct ledger *l;
        struct value_backend be;
        struct plan_node *nodes; /* node i is entry i */
        int *fds;
        struct plan_claim *claims;
        size_t *claim_rec;
        size_t n_claims;
        bool (*refused)[LV_N]; /* per record: its leaf refused the raise */
};

static void apply_run_free(struct apply_run *a) {
        if (a->fds)
                for (size_t i = 0; i < a->l->n_entries; i++)
                        if (a->fds[i] >= 0)
                                close(a->fds[i]);
        free(a->fds);
        free(a->nodes);
        free(a->claims);
        free(a->claim_rec);
        a->fds = NULL;
        a->nodes = NULL;
        a->claims = NULL;
        a->claim_rec = NULL;
}

/* The plan's inputs: one node per ledger entry, one claim per protecting
 * record (those stopping in this run too: their chains must be read). */
static int build_inputs(struct apply_run *a) {
        struct ledger *l = a->l;
        int r = ensure_entries(l);
        if (r < 0)
                return r;
        a->nodes = calloc(l->n_entries + 1, sizeof *a->nodes);
        a->fds = malloc((l->n_entries + 1) * sizeof *a->fds);
        a->claims = calloc(l->n_recs + 1, sizeof *a->claims);
        a->claim_rec = calloc(l->n_recs + 1, sizeof *a->claim_rec);
        if (!a->nodes || !a->fds || !a->claims || !a->claim_rec)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_entries; i++) {
                a->fds[i] = -1;
                a->nodes[i] = (struct plan_node) { .path = l->entries[i].path };
                memcpy(a->nodes[i].held, l->entries[i].v, sizeof a->nodes[i].held);
        }
        a->n_claims = 0;
        for (size_t i = 0; i < l->n_recs; i++) {
                const struct record *rec = &l->recs[i];
                if (!rec->protect || !rec->cgroup[0] || STREQ(rec->cgroup, "/"))
                        continue;
                enum claim_state st = l->rec_state[i] == REC_NEW ? CLAIM_NEW : l->rec_state[i] == REC_REMOVED ? CLAIM_REMOVED : CLAIM_KEPT;
                a->claim_rec[a->n_claims] = i;
                a->claims[a->n_claims++] = (struct plan_claim) {
                        .cgroup = rec->cgroup,
                        .value = { a->refused[i][LV_MIN] ? 0 : rec->min, a->refused[i][LV_LOW] ? 0 : rec->low },
                        .applied = { rec->applied[LV_MIN], rec->applied[LV_LOW] },
                        .state = st,
                };
        }
        return 0;
}

/* Reads what the plan asked for. */
static void read_values(struct apply_run *a, const struct plan_cgroups *p) {
        struct ledger *l = a->l;
        for (size_t i = 0; i < l->n_entries; i++) {
                struct plan_node *nd = &a->nodes[i];
                if (!p->need_read[i][LV_MIN] && !p->need_read[i][LV_LOW])
                        continue;
                if (a->fds[i] < 0) {
                        int ro = cgroup_open(l->host, nd->path, &a->fds[i]);
                        if (ro < 0) {
                                /* Gone (a stopped container's leaf): nothing
                                 * left to give back. */
                                if (ro != -ENOENT)
                                        outcome_error(l->out, "open cgroup %s: %s", nd->path, strerror(-ro));
                                nd->gone = true;
                                continue;
                        }
                }
                for (int v = 0; v < LV_N; v++) {
                        if (!p->need_read[i][v] || nd->observed[v] || nd->read_failed[v])
                                continue;
                        int rr = cgroup_read_value(a->fds[i], plan_value_file[v], &nd->cur[v]);
                        if (rr < 0) {
                                char why[512];
                                if (rr == -ENOENT)
                                        cgroup_explain_missing(l->host, nd->path, why, sizeof why);
                                else
                                        snprintf(why, sizeof why, "%s", strerror(-rr));
                                outcome_error(l->out, "read %s of %s: %s", plan_value_file[v], nd->path, why);
                                l->write_errors++;
                                nd->read_failed[v] = true;
                        } else
                                nd->observed[v] = true;
                }
        }
}

static void report_notes(struct apply_run *a, const struct plan_cgroups *p) {
        for (size_t k = 0; k < p->n_notes; k++) {
                const struct plan_note *n = &p->notes[k];
                const char *path = a->nodes[n->node].path, *file = plan_value_file[n->v];
                char x[32], y[32];
                fmt_val(n->a, x, sizeof x);
                fmt_val(n->b, y, sizeof y);
                switch (n->kind) {
                case NOTE_FOREIGN:
                        outcome_skip(a->l->out, "%s of %s was changed by someone else (%s, the hook set %s): leaving it alone", file, path, x, y);
                        break;
                case NOTE_REBUILT_ORIG:
                        outcome_skip(a->l->out, "ledger.json was corrupt: original %s of %s taken as %s (%s less the recorded claims below it)", file,
                                     path, x, y);
                        break;
                case NOTE_LEAF_ABOVE_CLAIM:
                        outcome_skip(a->l->out, "%s of %s is %s, above the container's claim %s: kept on the leaf, its ancestors cover only the claim",
                                     file, path, x, y);
                        break;
                }
        }
}

/* Plans the cgroups, reading what the plan needs, until it can decide. */
static int plan_with_reads(struct apply_run *a, struct plan_cgroups *ret) {
        struct ledger *l = a->l;
        const struct plan_cgroup_input in = {
                .nodes = a->nodes,
                .n_nodes = l->n_entries,
                .claims = a->claims,
                .n_claims = a->n_claims,
                .page_size = l->page_size,
                .observe_all = l->reconcile_all,
                .rebuild = l->loaded_ledger_corrupt,
        };
        /* Each round reads only values not read before: a few rounds at most
         * (the chains, then quiet values that do not add up). */
        for (unsigned round = 0; round < 4; round++) {
                struct plan_cgroups p;
                int r = plan_cgroups(&in, &p);
                if (r < 0)
                        return r;
                if (p.n_reads == 0) {
                        *ret = p;
                        return 0;
                }
                read_values(a, &p);
                plan_cgroups_free(&p);
        }
        return -EAGAIN;
}

static int plan_vm_swappiness(struct ledger *l, struct plan_swappiness *ret) {
        _cleanup_free_ struct swappiness_claim *c = calloc(l->n_recs + 1, sizeof *c);
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_recs; i++)
                c[i] = (struct swappiness_claim) { .value = l->recs[i].swappiness, .expires_usec = l->recs[i].swappiness_expires_usec,
                                                   .live = rec_live(l, i) };
        struct plan_swappiness_input in = { .held = l->swappiness, .claims = c, .n_claims = l->n_recs, .now_usec = now_usec_monotonic() };
        plan_swappiness(&in, ret);
        if (ret->n_lapsed > 0)
                for (size_t i = 0; i < l->n_recs; i++)
                        if (c[i].live && c[i].value >= 0 && c[i].expires_usec && in.now_usec >= c[i].expires_usec)
                                outcome_skip(l->out, "vm.swappiness claim of %s (%d) lapsed: a build step holds it at most %" PRIu64 " h", l->recs[i].id,
                                             c[i].value, (uint64_t) MEMGUARD_SWAPPINESS_LIFETIME_USEC / 3600000000u);
        if (!ret->needs_read)
                return 0;
        int rr = sysctl_swappiness_get(l->sysroot, &in.cur);
        if (rr < 0) {
                outcome_error(l->out, "read vm.swappiness: %s", strerror(-rr));
                if (ret->claim >= 0)
                        l->write_errors++;
                ret->held = l->swappiness;
                return 0;
        }
        in.observed = true;
        plan_swappiness(&in, ret);
        if (ret->foreign_seen)
                outcome_skip(l->out, "vm.swappiness was changed by someone else (%" PRIu64 ", the hook set %" PRIu64 ") while builds ran: leaving it alone, claim dropped",
                             in.cur, l->swappiness.set);
        return 0;
}

/* After the writes: a value back at its original that no claim needs is
 * no longer held, and every value is settled (prev = set). */
static void held_value_settle(struct held_value *hv, bool claimed) {
        if (hv->managed && !hv->foreign && hv->set == hv->orig && !claimed)
                *hv = (struct held_value) {0};
        hv->prev = hv->set;
}

static int write_one(struct apply_run *a, const struct plan_write *w, bool *ret_retry) {
        struct ledger *l = a->l;
        struct lentry *e = &l->entries[w->node];
        struct held_value *hv = &e->v[w->v];
        const char *file = plan_value_file[w->v];
        char from[32], to[32], res[700], via[64] = "", why[512] = "";
        fmt_val(w->from, from, sizeof from);
        fmt_val(w->to, to, sizeof to);
        uint64_t actual = w->to;
        int r = a->fds[w->node] >= 0 ? 0 : cgroup_open(l->host, e->path, &a->fds[w->node]);
        if (r < 0)
                snprintf(why, sizeof why, "%s", strerror(-r));
        else
                r = a->be.write(&a->be, e->path, a->fds[w->node], w->v, w->to, &actual, via, sizeof via, why, sizeof why);
        if (r < 0) {
                if (r == -ENOENT)
                        cgroup_explain_missing(l->host, e->path, why, sizeof why);
                snprintf(res, sizeof res, "error: %s", why);
                outcome_action(l->out, e->path, file, from, to, res);
                outcome_error(l->out, "write %s to %s of %s: %s", to, file, e->path, why);
                l->write_errors++;
                /* What is there now is what we hold. */
                hv->set = w->from;
                /* A leaf that refuses its own raise (EACCES, EINVAL,
                 * removed under us) is not protected: its claim must not
                 * keep the ancestors raised (in memory only: the next run
                 * tries again). */
                if (w->raise)
                        for (size_t c = 0; c < a->n_claims; c++) {
                                size_t i = a->claim_rec[c];
                                if (a->claims[c].state != CLAIM_REMOVED && STREQ(a->claims[c].cgroup, e->path) && a->claims[c].value[w->v] > 0) {
                                        a->refused[i][w->v] = true;
                                        *ret_retry = true;
                                }
                        }
                return 0;
        }
        if (actual != w->to) {
                char c[32];
                fmt_val(actual, c, sizeof c);
                snprintf(res, sizeof res, "ok%s (kernel reads back %s)", via, c);
                hv->set = actual;
        } else
                snprintf(res, sizeof res, "ok%s", via);
        outcome_action(l->out, e->path, file, from, to, res);
        KILLPOINT("apply-after-write");
        return 0;
}

static void dry_run_report(struct apply_run *a, const struct plan_cgroups *p, const struct plan_swappiness *sw) {
        for (size_t k = 0; k < p->n_writes; k++) {
                char x[32], y[32];
                fmt_val(p->writes[k].from, x, sizeof x);
                fmt_val(p->writes[k].to, y, sizeof y);
                outcome_action(a->l->out, a->nodes[p->writes[k].node].path, plan_value_file[p->writes[k].v], x, y, "planned");
        }
        if (sw->write) {
                char x[32], y[32];
                snprintf(x, sizeof x, "%" PRIu64, sw->from);
                snprintf(y, sizeof y, "%" PRIu64, sw->to);
                outcome_action(a->l->out, "vm.swappiness", "/proc/sys/vm/swappiness", x, y, "planned");
        }
}

/* One pass: plan, save the intent, write. *ret_retry when a leaf refused
 * its raise: the ancestors raised for it are given back by another pass. */
static int apply_once(struct apply_run *a, bool *ret_retry) {
        struct ledger *l = a->l;
        int r = build_inputs(a);
        if (r < 0)
                return r;
        _cleanup_(plan_cgroups_free) struct plan_cgroups p = {0};
        r = plan_with_reads(a, &p);
        if (r < 0)
                return r;
        report_notes(a, &p);
        /* The ledger with the plan's intents; originals are adopted, a
         * later pass of this run must not take them again. */
        for (size_t i = 0; i < l->n_entries; i++)
                memcpy(l->entries[i].v, p.held[i], sizeof l->entries[i].v);
        l->loaded_ledger_corrupt = false;

        struct plan_swappiness sw;
        r = plan_vm_swappiness(l, &sw);
        if (r < 0)
                return r;
        l->swappiness = sw.held;

        if (l->dry_run) {
                dry_run_report(a, &p, &sw);
                return 0;
        }

        /* Records first (a new container's claims must survive our death):
         * one that cannot be written stops the run, nothing is changed that
         * was not recorded first. Then the ledger with the intents, then the
         * writes. */
        for (size_t i = 0; i < l->n_recs; i++) {
                if (l->rec_state[i] != REC_NEW)
                        continue;
                r = ledger_save_record(l, i);
                if (r < 0) {
                        outcome_error(l->out, "write record of %s: %s: changing nothing", l->recs[i].id, strerror(-r));
                        l->write_errors++;
                        return r;
                }
        }
        KILLPOINT("apply-records-saved");
        r = ledger_save(l);
        KILLPOINT("apply-intent-saved");
        if (r < 0) {
                /* Without the ledger the originals could not be restored:
                 * change nothing. */
                outcome_error(l->out, "write ledger.json: %s: changing nothing", strerror(-r));
                l->write_errors++;
                return r;
        }

        for (size_t k = 0; k < p.n_writes; k++) {
                r = write_one(a, &p.writes[k], ret_retry);
                if (r < 0)
                        return r;
        }
        KILLPOINT("apply-cgroups-written");

        if (sw.write) {
                char x[32], y[32];
                snprintf(x, sizeof x, "%" PRIu64, sw.from);
                snprintf(y, sizeof y, "%" PRIu64, sw.to);
                int wr = sysctl_swappiness_set(l->sysroot, sw.to);
                if (wr < 0) {
                        char res[300];
                        snprintf(res, sizeof res, "error: %s", strerror(-wr));
                        outcome_action(l->out, "vm.swappiness", "/proc/sys/vm/swappiness", x, y, res);
                        outcome_error(l->out, "write %s to vm.swappiness: %s", y, strerror(-wr));
                        l->swappiness.set = sw.from;
                        if (sw.claim >= 0)
                                l->write_errors++;
                } else
                        outcome_action(l->out, "vm.swappiness", "/proc/sys/vm/swappiness", x, y, "ok");
        }
        held_value_settle(&l->swappiness, sw.claim >= 0);

        for (size_t i = 0; i < l->n_entries; i++) {
                if (a->nodes[i].gone) {
                        memset(l->entries[i].v, 0, sizeof l->entries[i].v);
                        continue;
                }
                for (int v = 0; v < LV_N; v++)
                        held_value_settle(&l->entries[i].v[v], p.claimed[i]);
        }

        /* What each record's leaf took, as the ancestors now count it: all
         * a rebuild of a lost ledger may subtract. */
        for (size_t c = 0; c < a->n_claims; c++) {
                size_t i = a->claim_rec[c];
                if (!rec_live(l, i) || *ret_retry)
                        continue;
                bool changed = false;
                for (int v = 0; v < LV_N; v++) {
                        bool applied = p.claim_counted[c][v];
                        changed |= applied != l->recs[i].applied[v];
                        l->recs[i].applied[v] = applied;
                }
                if (changed)
                        l->rec_state[i] = REC_DIRTY;
        }
        return 0;
}

int ledger_apply(struct ledger *l) {
        assert(l);
        struct apply_run a = { .l = l };
        a.refused = calloc(l->n_recs + 1, sizeof *a.refused);
        if (!a.refused)
                return -ENOMEM;
        int r = value_backend_choose(&a.be, l->sysroot, l->out, l->dirfd, l->deadline_usec);
        if (r < 0) {
                free(a.refused);
                return r;
        }
        bool retry = false;
        r = apply_once(&a, &retry);
        if (r == 0 && retry && !l->dry_run) {
                /* Give back at once what was raised for a claim its leaf
                 * refused: once, the second pass raises nothing new. */
                bool again = false;
                apply_run_free(&a);
                l->reconcile_all = true;
                r = apply_once(&a, &again);
        }
        apply_run_free(&a);
        value_backend_done(&a.be);
        free(a.refused);
        if (r < 0 || l->dry_run)
                return r;

        KILLPOINT("apply-before-final-save");
        for (size_t i = 0; i < l->n_recs; i++)
                if (l->rec_state[i] == REC_DIRTY && (r = ledger_save_record(l, i)) < 0)
                        outcome_error(l->out, "write record of %s: %s", l->recs[i].id, strerror(-r));
        r = ledger_save(l);
        if (r < 0) {
                outcome_error(l->out, "write ledger.json: %s", strerror(-r));
                l->write_errors++;
        }
        KILLPOINT("apply-before-unlink");
        for (size_t i = 0; i < l->n_recs; i++)
                if (l->rec_state[i] == REC_REMOVED)
                        ledger_unlink_record(l, i);
        return 0;
}
