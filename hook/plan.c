/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "plan.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const plan_value_file[LV_N] = { "memory.min", "memory.low" };

#define VALUE_MAX UINT64_MAX /* the cgroup value "max" */

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

bool cgroup_path_is_below(const char *a, const char *b) {
        assert(a);
        assert(b);
        size_t lb = strlen(b);
        return strncmp(a, b, lb) == 0 && a[lb] == '/';
}

unsigned cgroup_path_depth(const char *p) {
        assert(p);
        unsigned d = 0;
        for (; *p; p++)
                d += *p == '/';
        return d;
}

enum observe_result held_value_observe(struct held_value *hv, uint64_t cur, uint64_t adopt_orig) {
        assert(hv);
        if (!hv->managed) {
                *hv = (struct held_value) { .managed = true, .orig = adopt_orig, .set = cur, .prev = cur };
                return OBSERVE_ADOPTED;
        }
        if (!hv->foreign && cur != hv->set && cur != hv->prev) {
                hv->foreign = true;
                return OBSERVE_FOREIGN;
        }
        return OBSERVE_UNCHANGED;
}

bool held_value_decide(struct held_value *hv, uint64_t cur, bool claimed, uint64_t target) {
        assert(hv);
        if (hv->foreign || target == cur) {
                /* Someone else's now, or already there: nothing to write.
                 * Held only while a claim needs it. */
                if (!claimed)
                        *hv = (struct held_value) {0};
                else if (!hv->foreign)
                        hv->set = hv->prev = cur;
                return false;
        }
        /* The intent: if the run dies during the write, the next one
         * recognises either value as its own. */
        hv->prev = cur;
        hv->set = target;
        return true;
}

void plan_cgroups_free(struct plan_cgroups *p) {
        assert(p);
        free(p->held);
        free(p->claimed);
        free(p->claim_counted);
        free(p->need_read);
        free(p->writes);
        free(p->notes);
        free(p->below);
        free(p->n_claims);
        free(p->claim_leaf);
        *p = (struct plan_cgroups) {0};
}

/* ---- the chains ---------------------------------------------------------
 * Each claim walks its own chain (leaf, then every ancestor) through an
 * index of the nodes by path: the plan costs claims x depth, not
 * claims x nodes. */

struct node_index {
        size_t *slot; /* node index + 1; 0 = empty */
        size_t mask;
};

static uint64_t path_hash(const char *p, size_t len) {
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (size_t i = 0; i < len; i++)
                h = (h ^ (unsigned char) p[i]) * 1099511628211ull;
        return h;
}

static int node_index_build(const struct plan_cgroup_input *in, struct node_index *ret) {
        size_t cap = 16;
        while (cap < in->n_nodes * 2)
                cap *= 2;
        ret->slot = calloc(cap, sizeof *ret->slot);
        if (!ret->slot)
                return -ENOMEM;
        ret->mask = cap - 1;
        for (size_t i = 0; i < in->n_nodes; i++) {
                const char *p = in->nodes[i].path;
                size_t h = (size_t) path_hash(p, strlen(p)) & ret->mask;
                while (ret->slot[h])
                        h = (h + 1) & ret->mask;
                ret->slot[h] = i + 1;
        }
        return 0;
}

/* The node of the first len bytes of path, or -1. */
static ssize_t node_lookup(const struct plan_cgroup_input *in, const struct node_index *ix, const char *path, size_t len) {
        size_t h = (size_t) path_hash(path, len) & ix->mask;
        for (; ix->slot[h]; h = (h + 1) & ix->mask) {
                const char *p = in->nodes[ix->slot[h] - 1].path;
                if (strncmp(p, path, len) == 0 && p[len] == '\0')
                        return (ssize_t) (ix->slot[h] - 1);
        }
        return -1;
}

/* Calls fn for the claim's leaf node (mine = true) and each ancestor node. */
#define FOR_CHAIN(in, ix, cgroup, node, mine, body)                                        \
        do {                                                                               \
                size_t len_ = strlen(cgroup);                                              \
                bool mine = true;                                                          \
                while (len_ > 1) {                                                         \
                        ssize_t node = node_lookup((in), (ix), (cgroup), len_);            \
                        if (node >= 0) {                                                   \
                                body;                                                      \
                        }                                                                  \
                        mine = false;                                                      \
                        while (len_ > 0 && (cgroup)[len_ - 1] != '/')                      \
                                len_--;                                                    \
                        if (len_ > 0)                                                      \
                                len_--; /* the '/' */                                      \
                }                                                                          \
        } while (0)

/* What the claims say about each node. */
struct node_agg {
        bool claimed;          /* a live claim at or below */
        bool changed;          /* a claim at or below starts or stops in this run */
        bool wants[LV_N];      /* a live claim at or below asks for this value */
        uint64_t rebuilt_below[LV_N]; /* applied claims recorded strictly below */
        uint64_t own[LV_N];
};

/* A node the run cannot change, so its values need not be read: no claim at
 * or below it starts or stops in this run, and every value it needs is held
 * and settled (the last write finished: set == prev) or someone else's. Its
 * value is then what the ledger says; should that not be the target after
 * all, plan_cgroups asks for it to be read. */
static bool node_is_quiet(const struct plan_cgroup_input *in, const struct plan_node *n, const struct node_agg *agg) {
        if (in->observe_all || in->rebuild || agg->changed)
                return false;
        for (int v = 0; v < LV_N; v++) {
                const struct held_value *hv = &n->held[v];
                if (hv->managed != agg->wants[v])
                        return false;
                if (hv->managed && !hv->foreign && hv->set != hv->prev)
                        return false;
        }
        return true;
}

static int add_note(struct plan_cgroups *p, size_t *cap, struct plan_note note) {
        if (p->n_notes == *cap) {
                size_t ncap = *cap ? *cap * 2 : 8;
                struct plan_note *nn = realloc(p->notes, ncap * sizeof *nn);
                if (!nn)
                        return -ENOMEM;
                p->notes = nn;
                *cap = ncap;
        }
        p->notes[p->n_notes++] = note;
        return 0;
}

/* The order of the writes: every raise before any lowering; raises
 * top-down, lowerings bottom-up; otherwise the order of the nodes. */
struct write_key {
        struct plan_write w;
        unsigned depth;
        size_t seq;
};
static int write_key_cmp(const void *a, const void *b) {
        const struct write_key *x = a, *y = b;
        if (x->w.raise != y->w.raise)
                return x->w.raise ? -1 : 1;
        if (x->depth != y->depth)
                return x->w.raise ? (x->depth < y->depth ? -1 : 1) : (x->depth > y->depth ? -1 : 1);
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int plan_order_writes(const struct plan_cgroup_input *in, struct plan_cgroups *p) {
        if (p->n_writes < 2)
                return 0;
        struct write_key *k = calloc(p->n_writes, sizeof *k);
        if (!k)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_writes; i++)
                k[i] = (struct write_key) { .w = p->writes[i], .depth = cgroup_path_depth(in->nodes[p->writes[i].node].path), .seq = i };
        qsort(k, p->n_writes, sizeof *k, write_key_cmp);
        for (size_t i = 0; i < p->n_writes; i++)
                p->writes[i] = k[i].w;
        free(k);
        return 0;
}

int plan_cgroups(const struct plan_cgroup_input *in, struct plan_cgroups *ret) {
        assert(in);
        assert(ret);
        size_t n = in->n_nodes;
        struct plan_cgroups p = {0};
        size_t notes_cap = 0;
        int r = -ENOMEM;
        struct node_index ix = {0};
        struct node_agg *agg = NULL;
        p.held = calloc(n + 1, sizeof *p.held);
        p.claimed = calloc(n + 1, sizeof *p.claimed);
        p.need_read = calloc(n + 1, sizeof *p.need_read);
        p.claim_counted = calloc(in->n_claims + 1, sizeof *p.claim_counted);
        p.writes = calloc(n * LV_N + 1, sizeof *p.writes);
        p.below = calloc(n + 1, sizeof *p.below);
        p.n_claims = calloc(n + 1, sizeof *p.n_claims);
        p.claim_leaf = calloc(in->n_claims + 1, sizeof *p.claim_leaf);
        bool(*have)[LV_N] = calloc(n + 1, sizeof *have);
        bool(*provisional)[LV_N] = calloc(n + 1, sizeof *provisional);
        uint64_t(*cur)[LV_N] = calloc(n + 1, sizeof *cur);
        if (!p.held || !p.claimed || !p.need_read || !p.claim_counted || !p.writes || !p.below || !p.n_claims || !p.claim_leaf || !have ||
            !provisional || !cur)
                goto fail;

        agg = calloc(n + 1, sizeof *agg);
        if (!agg || node_index_build(in, &ix) < 0)
                goto fail;
        for (size_t c = 0; c < in->n_claims; c++) {
                const struct plan_claim *cl = &in->claims[c];
                p.claim_leaf[c] = -1;
                FOR_CHAIN(in, &ix, cl->cgroup, node, mine, {
                        struct node_agg *g = &agg[node];
                        if (mine)
                                p.claim_leaf[c] = node;
                        g->changed |= cl->state != CLAIM_KEPT;
                        if (cl->state != CLAIM_REMOVED) {
                                g->claimed = true;
                                p.n_claims[node] = sat_add(p.n_claims[node], cl->represents ? cl->represents : 1);
                                for (int v = 0; v < LV_N; v++)
                                        g->wants[v] |= cl->value[v] > 0;
                        }
                        /* What the lost ledger had added for the containers
                         * recorded below: only claims their leaf took. */
                        if (in->rebuild && !mine && cl->state != CLAIM_NEW)
                                for (int v = 0; v < LV_N; v++)
                                        if (cl->applied[v])
                                                g->rebuilt_below[v] = sat_add(g->rebuilt_below[v], cl->value[v]);
                });
        }

        /* Observe: what each node holds now, adopting originals and
         * noticing foreign changes. */
        for (size_t i = 0; i < n; i++) {
                const struct plan_node *nd = &in->nodes[i];
                const bool *wants = agg[i].wants;
                const uint64_t *rebuilt_below = agg[i].rebuilt_below;
                p.claimed[i] = agg[i].claimed;
                memcpy(p.held[i], nd->held, sizeof p.held[i]);
                if (nd->gone) {
                        /* A stopped container's leaf: nothing to give back. */
                        memset(p.held[i], 0, sizeof p.held[i]);
                        continue;
                }
                bool quiet = node_is_quiet(in, nd, &agg[i]);
                for (int v = 0; v < LV_N; v++) {
                        struct held_value *hv = &p.held[i][v];
                        if (!hv->managed && !wants[v] && rebuilt_below[v] == 0)
                                continue;
                        if (nd->read_failed[v]) {
                                *hv = (struct held_value) {0};
                                continue;
                        }
                        if (!nd->observed[v]) {
                                if (quiet && hv->managed) {
                                        cur[i][v] = hv->set;
                                        have[i][v] = provisional[i][v] = true;
                                } else {
                                        p.need_read[i][v] = true;
                                        p.n_reads++;
                                }
                                continue;
                        }
                        uint64_t c = nd->cur[v], orig = c;
                        bool rebuilt = !hv->managed && rebuilt_below[v] > 0 && c != VALUE_MAX && c >= rebuilt_below[v];
                        if (rebuilt)
                                orig = c - rebuilt_below[v];
                        enum observe_result o = held_value_observe(hv, c, orig);
                        if (o == OBSERVE_ADOPTED && rebuilt && add_note(&p, &notes_cap, (struct plan_note) { NOTE_REBUILT_ORIG, i, v, orig, c }) < 0)
                                goto fail;
                        if (o == OBSERVE_FOREIGN && add_note(&p, &notes_cap, (struct plan_note) { NOTE_FOREIGN, i, v, c, nd->held[v].set }) < 0)
                                goto fail;
                        cur[i][v] = c;
                        have[i][v] = true;
                }
        }

        /* Decide: the value each node must hold — once every value it
         * depends on is known (a leaf not read yet would look unclaimed). */
        for (size_t c = 0; p.n_reads == 0 && c < in->n_claims; c++) {
                const struct plan_claim *cl = &in->claims[c];
                if (cl->state == CLAIM_REMOVED)
                        continue;
                ssize_t leaf = node_lookup(in, &ix, cl->cgroup, strlen(cl->cgroup));
                for (int v = 0; v < LV_N; v++) {
                        /* A leaf that cannot be read cannot hold its claim:
                         * it raises no ancestor either. */
                        if (cl->value[v] == 0 || (leaf >= 0 && !have[leaf][v]))
                                continue;
                        p.claim_counted[c][v] = true;
                        FOR_CHAIN(in, &ix, cl->cgroup, node, mine, {
                                if (mine)
                                        agg[node].own[v] = cl->value[v] > agg[node].own[v] ? cl->value[v] : agg[node].own[v];
                                else
                                        p.below[node][v] = sat_add(p.below[node][v], cl->value[v]);
                        });
                }
        }
        for (size_t i = 0; p.n_reads == 0 && i < n; i++) {
                const uint64_t *own = agg[i].own, *below = p.below[i];
                for (int v = 0; v < LV_N; v++) {
                        struct held_value *hv = &p.held[i][v];
                        if (!have[i][v])
                                continue;
                        if (hv->foreign) {
                                (void) held_value_decide(hv, cur[i][v], p.claimed[i], cur[i][v]);
                                continue;
                        }
                        /* The leaf keeps what it declared beyond its claim
                         * (never lowered), but its ancestors cover only the
                         * claim: a value the runtime wrote from the
                         * container's own request is not made host-wide. */
                        if (own[v] > 0 && hv->orig > own[v] &&
                            add_note(&p, &notes_cap, (struct plan_note) { NOTE_LEAF_ABOVE_CLAIM, i, v, hv->orig, own[v] }) < 0)
                                goto fail;
                        uint64_t target = p.claimed[i] ? sat_add(hv->orig > own[v] ? hv->orig : own[v], below[v]) : hv->orig;
                        /* The kernel keeps pages: write what it will read
                         * back, but never round below the original. */
                        if (target != VALUE_MAX && in->page_size > 0) {
                                target -= target % in->page_size;
                                if (target < hv->orig)
                                        target = hv->orig;
                        }
                        if (provisional[i][v] && target != cur[i][v]) {
                                /* The ledger's value is not the target after
                                 * all: read it before deciding. */
                                p.need_read[i][v] = true;
                                p.n_reads++;
                                continue;
                        }
                        uint64_t from = cur[i][v];
                        if (held_value_decide(hv, from, p.claimed[i], target))
                                p.writes[p.n_writes++] = (struct plan_write) { .node = i, .v = v, .from = from, .to = target, .raise = target > from };
                }
        }
        if (p.n_reads > 0)
                p.n_writes = 0;
        r = plan_order_writes(in, &p);
        if (r < 0)
                goto fail;
        free(have);
        free(provisional);
        free(cur);
        free(agg);
        free(ix.slot);
        *ret = p;
        return 0;
fail:
        free(have);
        free(provisional);
        free(cur);
        free(agg);
        free(ix.slot);
        plan_cgroups_free(&p);
        return r;
}

void plan_swappiness(const struct plan_swappiness_input *in, struct plan_swappiness *ret) {
        assert(in);
        assert(ret);
        struct plan_swappiness p = { .held = in->held, .claim = PLAN_NO_SWAPPINESS };
        for (size_t i = 0; i < in->n_claims; i++) {
                const struct swappiness_claim *c = &in->claims[i];
                if (!c->live || c->value < 0)
                        continue;
                if (c->expires_usec != 0 && in->now_usec >= c->expires_usec) {
                        p.n_lapsed++;
                        continue;
                }
                if (p.claim < 0 || c->value < p.claim)
                        p.claim = c->value;
        }
        if (p.claim < 0 && !p.held.managed) {
                *ret = p;
                return;
        }
        if (!in->observed) {
                p.needs_read = true;
                *ret = p;
                return;
        }
        p.foreign_seen = held_value_observe(&p.held, in->cur, in->cur) == OBSERVE_FOREIGN;
        uint64_t target = p.claim >= 0 ? (uint64_t) p.claim : p.held.orig;
        if (held_value_decide(&p.held, in->cur, p.claim >= 0, target)) {
                p.write = true;
                p.from = in->cur;
                p.to = target;
        }
        *ret = p;
}

/* ---- the incremental plan ---------------------------------------------- */

void plan_synthetic_free(struct plan_synthetic *s) {
        assert(s);
        if (s->paths)
                for (size_t i = 0; i < s->n_claims - s->n_own; i++)
                        free(s->paths[i]);
        free(s->paths);
        free(s->claims);
        *s = (struct plan_synthetic) {0};
}

/* Is the node (or claim) at path a at or below b? */
static bool at_or_below(const char *a, const char *b) { return strcmp(a, b) == 0 || cgroup_path_is_below(a, b); }

int plan_synthetic_claims(const struct plan_synthetic_input *in, struct plan_synthetic *ret) {
        assert(in);
        assert(ret);
        size_t n = in->n_nodes;
        struct plan_synthetic s = { .n_own = in->n_own };
        s.claims = calloc(in->n_own + n + 1, sizeof *s.claims);
        s.paths = calloc(n + 1, sizeof *s.paths);
        uint64_t(*synth)[LV_N] = calloc(n + 1, sizeof *synth);
        uint64_t *synth_count = calloc(n + 1, sizeof *synth_count);
        size_t *order = calloc(n + 1, sizeof *order);
        int r = -ENOMEM;
        if (!s.claims || !s.paths || !synth || !synth_count || !order)
                goto fail;
        for (size_t k = 0; k < in->n_own; k++)
                s.claims[k] = in->own[k].claim;
        s.n_claims = in->n_own;

        /* Bottom-up (deepest first): what the set writes out strictly below
         * a node is known before the node's own remainder is taken. */
        for (size_t i = 0; i < n; i++)
                order[i] = i;
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && cgroup_path_depth(in->nodes[order[j]].path) > cgroup_path_depth(in->nodes[order[j - 1]].path); j--) {
                        size_t t = order[j];
                        order[j] = order[j - 1];
                        order[j - 1] = t;
                }
        for (size_t oi = 0; oi < n; oi++) {
                size_t i = order[oi];
                const struct node_summary *nd = &in->nodes[i];
                uint64_t shown[LV_N] = {0}, shown_count = 0;
                /* The own claims at or below the node that its state already
                 * counts (not the ones starting now): their values strictly
                 * below it, their number at or below it. */
                for (size_t k = 0; k < in->n_own; k++) {
                        const struct own_claim *oc = &in->own[k];
                        if (oc->claim.state == CLAIM_NEW || !at_or_below(oc->claim.cgroup, nd->path))
                                continue;
                        shown_count++;
                        if (strcmp(oc->claim.cgroup, nd->path) == 0)
                                continue;
                        for (int v = 0; v < LV_N; v++)
                                if (oc->counted[v])
                                        shown[v] = sat_add(shown[v], oc->claim.value[v]);
                }
                for (size_t j = 0; j < n; j++) {
                        if (!cgroup_path_is_below(in->nodes[j].path, nd->path))
                                continue;
                        shown_count += synth_count[j];
                        for (int v = 0; v < LV_N; v++)
                                shown[v] = sat_add(shown[v], synth[j][v]);
                }
                if (shown_count > nd->n_claims) {
                        s.bad_node = i;
                        r = -EUCLEAN;
                        goto fail;
                }
                for (int v = 0; v < LV_N; v++) {
                        if (shown[v] > nd->below[v]) {
                                s.bad_node = i;
                                r = -EUCLEAN;
                                goto fail;
                        }
                        synth[i][v] = nd->below[v] - shown[v];
                }
                synth_count[i] = nd->n_claims - shown_count;
                /* Values without a claim to carry them mean the sums are
                 * not what the claims add up to. */
                if (synth_count[i] == 0 && (synth[i][LV_MIN] || synth[i][LV_LOW])) {
                        s.bad_node = i;
                        r = -EUCLEAN;
                        goto fail;
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (synth_count[i] == 0)
                        continue;
                size_t len = strlen(in->nodes[i].path);
                char *p = malloc(len + 3);
                if (!p)
                        goto fail;
                memcpy(p, in->nodes[i].path, len);
                memcpy(p + len, "/\x01", 3);
                s.paths[s.n_claims - s.n_own] = p;
                s.claims[s.n_claims++] = (struct plan_claim) { .cgroup = p, .value = { synth[i][LV_MIN], synth[i][LV_LOW] },
                                                               .applied = { true, true }, .state = CLAIM_KEPT,
                                                               .represents = synth_count[i] };
        }
        free(synth);
        free(synth_count);
        free(order);
        *ret = s;
        return 0;
fail:
        free(synth);
        free(synth_count);
        free(order);
        size_t bad = s.bad_node;
        plan_synthetic_free(&s);
        *ret = (struct plan_synthetic) { .bad_node = bad };
        return r;
}
