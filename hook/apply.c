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

/* The entries by path: records x depth lookups, not records x entries. */
struct entry_index {
        size_t *slot; /* entry index + 1, 0 = free */
        size_t mask;
};

static void entry_index_free(struct entry_index *ix) {
        free(ix->slot);
        *ix = (struct entry_index) {0};
}

static size_t *entry_index_slot(const struct ledger *l, const struct entry_index *ix, const char *path) {
        size_t h = (size_t) path_hash(path) & ix->mask;
        for (; ix->slot[h]; h = (h + 1) & ix->mask)
                if (STREQ(l->entries[ix->slot[h] - 1].path, path))
                        break;
        return &ix->slot[h];
}

/* Room for `most` entries in all. */
static int entry_index_build(const struct ledger *l, size_t most, struct entry_index *ret) {
        size_t cap = 64;
        while (cap < most * 2)
                cap *= 2;
        struct entry_index ix = { .slot = calloc(cap, sizeof(size_t)), .mask = cap - 1 };
        if (!ix.slot)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_entries; i++)
                *entry_index_slot(l, &ix, l->entries[i].path) = i + 1;
        *ret = ix;
        return 0;
}

static bool rec_claims(const struct record *rec) { return !rec->stub && rec->protect && rec->cgroup[0] && !STREQ(rec->cgroup, "/"); }

/* A full pass: every cgroup in the chain of every protecting record gets
 * an entry (leaf and ancestors below the root; the root has no
 * memory.min). */
static int ensure_entries_full(struct ledger *l) {
        size_t most = l->n_entries;
        for (size_t i = 0; i < l->n_recs; i++)
                most += cgroup_path_depth(l->recs[i].cgroup);
        _cleanup_(entry_index_free) struct entry_index ix = {0};
        int r = entry_index_build(l, most, &ix);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n_recs; i++) {
                const struct record *rec = &l->recs[i];
                /* After a corrupt ledger the chains of the records pruned
                 * in this run still hold their raise: give it back too. */
                bool held = l->loaded_ledger_corrupt && l->rec_state[i] == REC_REMOVED;
                if ((!rec_live(l, i) && !held) || !rec_claims(rec))
                        continue;
                char path[1024];
                snprintf(path, sizeof path, "%s", rec->cgroup);
                while (path[0] && !STREQ(path, "/")) {
                        size_t *slot = entry_index_slot(l, &ix, path);
                        if (!*slot) {
                                if (!ledger_entry_add(l, path))
                                        return -ENOMEM;
                                *slot = l->n_entries;
                        }
                        char *slash = strrchr(path, '/');
                        if (slash == path)
                                break;
                        *slash = '\0';
                }
        }
        return 0;
}

static int load_chain(struct ledger *l, const char *cgroup) {
        char path[1024];
        snprintf(path, sizeof path, "%s", cgroup);
        while (path[0] && !STREQ(path, "/")) {
                struct lentry *e;
                int r = ledger_entry_load(l, path, &e);
                if (r < 0)
                        return r;
                char *slash = strrchr(path, '/');
                if (slash == path)
                        break;
                *slash = '\0';
        }
        return 0;
}

/* An incremental run: the node files of the chains it changes (those of
 * the records it read, stopping ones too). -EUCLEAN: one is corrupt. */
static int ensure_entries_chains(struct ledger *l) {
        for (size_t i = 0; i < l->n_recs; i++) {
                if (!rec_claims(&l->recs[i]))
                        continue;
                int r = load_chain(l, l->recs[i].cgroup);
                if (r < 0)
                        return r;
        }
        if (l->replaced_cgroup[0] && !STREQ(l->replaced_cgroup, "/"))
                return load_chain(l, l->replaced_cgroup);
        return 0;
}

struct apply_run {
        struct ledger *l;
        struct value_backend be;
        struct plan_node *nodes; /* node i is entry i */
        int *fds;
        size_t n_nodes;
        struct plan_claim *claims;
        size_t n_claims;
        /* per claim: */
        size_t *claim_rec;          /* the record it comes from, or SIZE_MAX */
        char **claim_name;          /* the record's file name for the node's own list; NULL: synthetic */
        uint64_t (*own_value)[LV_N]; /* what the record claims (before a refusal zeroed it) */
        struct plan_synthetic syn;
        bool (*refused)[LV_N]; /* per record: its leaf refused the raise */
};

static void apply_run_free(struct apply_run *a) {
        if (a->fds)
                for (size_t i = 0; i < a->n_nodes; i++)
                        if (a->fds[i] >= 0)
                                close(a->fds[i]);
        if (a->claim_name)
                for (size_t c = 0; c < a->n_claims; c++)
                        free(a->claim_name[c]);
        free(a->fds);
        free(a->nodes);
        if (a->claims != a->syn.claims)
                free(a->claims);
        plan_synthetic_free(&a->syn);
        free(a->claim_rec);
        free(a->claim_name);
        free(a->own_value);
        a->fds = NULL;
        a->nodes = NULL;
        a->claims = NULL;
        a->claim_rec = NULL;
        a->claim_name = NULL;
        a->own_value = NULL;
        a->n_nodes = a->n_claims = 0;
}

static enum claim_state claim_state_of(const struct ledger *l, size_t i) {
        return l->rec_state[i] == REC_NEW ? CLAIM_NEW : l->rec_state[i] == REC_REMOVED ? CLAIM_REMOVED : CLAIM_KEPT;
}

static struct plan_claim record_claim(const struct apply_run *a, size_t i, const char *cgroup) {
        const struct record *rec = &a->l->recs[i];
        return (struct plan_claim) {
                .cgroup = cgroup,
                .value = { a->refused[i][LV_MIN] ? 0 : rec->min, a->refused[i][LV_LOW] ? 0 : rec->low },
                .applied = { rec->applied[LV_MIN], rec->applied[LV_LOW] },
                .state = claim_state_of(a->l, i),
        };
}

static int claim_arrays(struct apply_run *a, size_t n) {
        a->claim_rec = calloc(n + 1, sizeof *a->claim_rec);
        a->claim_name = calloc(n + 1, sizeof *a->claim_name);
        a->own_value = calloc(n + 1, sizeof *a->own_value);
        return a->claim_rec && a->claim_name && a->own_value ? 0 : -ENOMEM;
}

static int set_record_claim_meta(struct apply_run *a, size_t c, size_t i) {
        char name[NAME_MAX + 1];
        a->claim_rec[c] = i;
        a->own_value[c][LV_MIN] = a->l->recs[i].min;
        a->own_value[c][LV_LOW] = a->l->recs[i].low;
        if (record_file_name(a->l->recs[i].id, name, sizeof name) < 0)
                return 0; /* cannot be written either */
        a->claim_name[c] = strdup(name);
        return a->claim_name[c] ? 0 : -ENOMEM;
}

/* A full pass: one claim per protecting record (those stopping in this
 * run too: their chains must be read). */
static int claims_full(struct apply_run *a) {
        struct ledger *l = a->l;
        a->claims = calloc(l->n_recs + 1, sizeof *a->claims);
        if (!a->claims || claim_arrays(a, l->n_recs) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_recs; i++) {
                if (!rec_claims(&l->recs[i]))
                        continue;
                size_t c = a->n_claims++;
                a->claims[c] = record_claim(a, i, l->recs[i].cgroup);
                if (set_record_claim_meta(a, c, i) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* An incremental run: the claims written out in the node files of the
 * set (each from its record when this run read it), the records this run
 * adds, and one synthetic claim per node for everything else below it
 * (plan.h). -EUCLEAN: the node files and records do not agree. */
static int claims_incremental(struct apply_run *a) {
        struct ledger *l = a->l;
        size_t most = l->n_recs;
        for (size_t e = 0; e < l->n_entries; e++)
                most += l->entries[e].n_own;
        _cleanup_free_ struct own_claim *own = calloc(most + 1, sizeof *own);
        _cleanup_free_ bool *matched = calloc(l->n_recs + 1, sizeof *matched);
        _cleanup_free_ struct node_summary *sum = calloc(l->n_entries + 1, sizeof *sum);
        if (!own || !matched || !sum || claim_arrays(a, most + l->n_entries) < 0)
                return -ENOMEM;
        size_t n = 0;
        for (size_t e = 0; e < l->n_entries; e++) {
                const struct lentry *en = &l->entries[e];
                for (size_t k = 0; k < en->n_own; k++) {
                        const struct node_own *o = &en->own[k];
                        size_t i = ledger_record_by_file(l, o->record);
                        struct plan_claim cl = { .cgroup = en->path, .value = { o->value[LV_MIN], o->value[LV_LOW] },
                                                 .applied = { o->counted[LV_MIN], o->counted[LV_LOW] }, .state = CLAIM_KEPT };
                        a->claim_rec[n] = SIZE_MAX;
                        memcpy(a->own_value[n], o->value, sizeof a->own_value[n]);
                        if (i != SIZE_MAX && !l->recs[i].in_nodes)
                                cl.state = CLAIM_REMOVED; /* replaced by a start of the same id: it enters below */
                        else if (i != SIZE_MAX) {
                                if (matched[i] || !rec_claims(&l->recs[i]) || !STREQ(l->recs[i].cgroup, en->path))
                                        return -EUCLEAN;
                                matched[i] = true;
                                cl = record_claim(a, i, en->path);
                                a->claim_rec[n] = i;
                                a->own_value[n][LV_MIN] = l->recs[i].min;
                                a->own_value[n][LV_LOW] = l->recs[i].low;
                        }
                        if (cl.state != CLAIM_REMOVED && !(a->claim_name[n] = strdup(o->record)))
                                return -ENOMEM;
                        own[n] = (struct own_claim) { .claim = cl, .counted = { o->counted[LV_MIN], o->counted[LV_LOW] } };
                        n++;
                }
        }
        for (size_t i = 0; i < l->n_recs; i++) {
                if (matched[i] || !rec_claims(&l->recs[i]))
                        continue;
                /* read from disk, so counted in its node: it must be listed there */
                if (l->recs[i].in_nodes)
                        return -EUCLEAN;
                if (l->rec_state[i] == REC_REMOVED)
                        continue;
                own[n] = (struct own_claim) { .claim = record_claim(a, i, l->recs[i].cgroup) };
                if (set_record_claim_meta(a, n, i) < 0)
                        return -ENOMEM;
                n++;
        }
        for (size_t e = 0; e < l->n_entries; e++)
                sum[e] = (struct node_summary) { .path = l->entries[e].path, .below = { l->entries[e].below[LV_MIN], l->entries[e].below[LV_LOW] },
                                                 .n_claims = l->entries[e].n_claims };
        const struct plan_synthetic_input in = { .nodes = sum, .n_nodes = l->n_entries, .own = own, .n_own = n };
        a->n_claims = n; /* the names to free, should it fail */
        int r = plan_synthetic_claims(&in, &a->syn);
        if (r < 0)
                return r;
        a->claims = a->syn.claims;
        a->n_claims = a->syn.n_claims;
        for (size_t c = n; c < a->n_claims; c++) {
                a->claim_rec[c] = SIZE_MAX;
        }
        return 0;
}

/* The plan's inputs: one node per entry, the claims of the run. */
static int build_inputs(struct apply_run *a) {
        struct ledger *l = a->l;
        int r = l->full ? ensure_entries_full(l) : ensure_entries_chains(l);
        if (r < 0)
                return r;
        a->nodes = calloc(l->n_entries + 1, sizeof *a->nodes);
        a->fds = malloc((l->n_entries + 1) * sizeof *a->fds);
        if (!a->nodes || !a->fds)
                return -ENOMEM;
        a->n_nodes = l->n_entries;
        for (size_t i = 0; i < l->n_entries; i++) {
                a->fds[i] = -1;
                a->nodes[i] = (struct plan_node) { .path = l->entries[i].path };
                memcpy(a->nodes[i].held, l->entries[i].v, sizeof a->nodes[i].held);
        }
        a->n_claims = 0;
        return l->full ? claims_full(a) : claims_incremental(a);
}

/* After the plan: what each node's file says from now on (the plan's
 * sums, and its own records), and which records the node files now
 * count. */
static int update_node_summaries(struct apply_run *a, const struct plan_cgroups *p) {
        struct ledger *l = a->l;
        for (size_t e = 0; e < l->n_entries; e++) {
                struct lentry *en = &l->entries[e];
                for (size_t k = 0; k < en->n_own; k++)
                        free(en->own[k].record);
                free(en->own);
                en->own = NULL;
                en->n_own = 0;
                en->n_claims = p->n_claims[e];
                memcpy(en->below, p->below[e], sizeof en->below);
        }
        for (size_t i = 0; i < l->n_recs; i++)
                l->recs[i].in_nodes = false;
        for (size_t c = 0; c < a->n_claims; c++) {
                const struct plan_claim *cl = &a->claims[c];
                if (cl->state == CLAIM_REMOVED)
                        continue;
                if (a->claim_rec[c] != SIZE_MAX)
                        l->recs[a->claim_rec[c]].in_nodes = true;
                if (p->claim_leaf[c] < 0 || !a->claim_name[c])
                        continue;
                struct lentry *en = &l->entries[p->claim_leaf[c]];
                struct node_own *no = realloc(en->own, (en->n_own + 1) * sizeof *no);
                if (!no)
                        return -ENOMEM;
                en->own = no;
                no = &en->own[en->n_own];
                *no = (struct node_own) { .record = strdup(a->claim_name[c]),
                                          .value = { a->own_value[c][LV_MIN], a->own_value[c][LV_LOW] },
                                          .counted = { p->claim_counted[c][LV_MIN], p->claim_counted[c][LV_LOW] } };
                if (!no->record)
                        return -ENOMEM;
                en->n_own++;
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
                        outcome_skip(a->l->out, "the state was corrupt: original %s of %s taken as %s (%s less the recorded claims below it)", file,
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
                                if (i != SIZE_MAX && a->claims[c].state != CLAIM_REMOVED && STREQ(a->claims[c].cgroup, e->path) && a->claims[c].value[w->v] > 0) {
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

/* The children of the root as this pass left them, for the budget's kept
 * view of the top: what was written (or, a write failing, what stayed),
 * else what was read. */
static void note_top(struct apply_run *a, const struct plan_cgroups *p) {
        struct ledger *l = a->l;
        for (size_t i = 0; i < a->n_nodes; i++) {
                const char *path = l->entries[i].path;
                if (path[0] != '/' || strchr(path + 1, '/'))
                        continue;
                for (int v = 0; v < LV_N; v++) {
                        bool known = a->nodes[i].gone || a->nodes[i].observed[v];
                        uint64_t value = a->nodes[i].gone ? 0 : a->nodes[i].cur[v];
                        for (size_t k = 0; k < p->n_writes; k++)
                                if (p->writes[k].node == i && p->writes[k].v == v) {
                                        known = true;
                                        value = l->entries[i].v[v].set;
                                }
                        if (known)
                                ledger_top_note(l, path, v, value);
                }
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
        r = ledger_save(l, false);
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
        note_top(a, &p);

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

        r = update_node_summaries(a, &p);
        if (r < 0)
                return r;

        /* What each record's leaf took, as the ancestors now count it: all
         * a rebuild of a lost ledger may subtract. */
        for (size_t c = 0; c < a->n_claims; c++) {
                size_t i = a->claim_rec[c];
                if (i == SIZE_MAX || !rec_live(l, i) || *ret_retry)
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
        if (r == -EUCLEAN && !l->full) {
                /* The node files do not add up (or one is corrupt): nothing
                 * was written; plan over every record instead. */
                apply_run_free(&a);
                r = ledger_load_rest(l, "the node files of this container's cgroups do not add up");
                if (r == 0) {
                        bool(*more)[LV_N] = realloc(a.refused, (l->n_recs + 1) * sizeof *a.refused);
                        if (more) {
                                a.refused = more;
                                memset(a.refused, 0, (l->n_recs + 1) * sizeof *a.refused);
                        }
                        r = more ? apply_once(&a, &retry) : -ENOMEM;
                }
        }
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
        KILLPOINT("apply-before-unlink");
        for (size_t i = 0; i < l->n_recs; i++)
                if (l->rec_state[i] == REC_REMOVED && l->recs[i].on_disk)
                        ledger_unlink_record(l, i);
        KILLPOINT("apply-before-clean");
        /* Last: the state is clean again. */
        r = ledger_save(l, true);
        if (r < 0) {
                outcome_error(l->out, "write the state (ledger.json, nodes/): %s", strerror(-r));
                l->write_errors++;
        }
        return 0;
}
