/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The incremental plan (hook/plan.c: plan_synthetic_claims, and the sums
 * plan_cgroups leaves for the node files): the other containers enter the plan as one
 * synthetic claim per node of the set. First the construction case by
 * case (the claims it makes, or the node whose sums do not add up); then
 * the property the design rests on: for every container of a tree
 * starting or stopping, the plan over its chain alone (own claims +
 * synthetic ones) decides exactly what the plan over every record
 * decides, and leaves the same sums behind. TAP output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "test-helpers.h"

#define M (1024ull * 1024ull)

/* ---- the construction, case by case ---- */

struct syn_case {
        const char *name;
        struct node_summary nodes[6];
        struct {
                const char *cgroup;
                uint64_t min, low;
                enum claim_state state;
                bool counted_min, counted_low;
        } own[4];
        int r;           /* 0 or -EUCLEAN */
        const char *bad; /* -EUCLEAN: the node named */
        const char *want; /* "path min low xN; ..." of the synthetic claims */
};

static const struct syn_case syn_cases[] = {
        { .name = "alone on its chain: no synthetic claim",
          .nodes = { { "/a", { 8 * M, 0 }, 1 }, { "/a/b", { 0, 0 }, 1 } },
          .own = { { "/a/b", 8 * M, 0, CLAIM_KEPT, true, false } },
          .want = "" },
        { .name = "a starting container among others: their sums stand in at the top",
          .nodes = { { "/a", { 30 * M, 2 * M }, 3 }, { "/a/b", { 0, 0 }, 0 } },
          .own = { { "/a/b", 8 * M, 0, CLAIM_NEW } },
          .want = "/a/\\1 31457280 2097152 x3" },
        { .name = "a stopping container: what it counted is taken off the others' share",
          .nodes = { { "/a", { 38 * M, 0 }, 4 }, { "/a/b", { 0, 0 }, 1 } },
          .own = { { "/a/b", 8 * M, 0, CLAIM_REMOVED, true, false } },
          .want = "/a/\\1 31457280 0 x3" },
        { .name = "an uncounted own claim is not taken off (the leaf could not hold it)",
          .nodes = { { "/a", { 30 * M, 0 }, 4 }, { "/a/b", { 0, 0 }, 1 } },
          .own = { { "/a/b", 8 * M, 0, CLAIM_KEPT, false, false } },
          .want = "/a/\\1 31457280 0 x3" },
        { .name = "siblings below a middle node: the lower synthetic share is not counted twice",
          .nodes = { { "/a", { 20 * M, 0 }, 4 }, { "/a/m", { 12 * M, 0 }, 3 }, { "/a/m/c", { 0, 0 }, 1 } },
          .own = { { "/a/m/c", 4 * M, 0, CLAIM_KEPT, true, false } },
          .want = "/a/\\1 8388608 0 x1; /a/m/\\1 8388608 0 x2" },
        { .name = "others only above the middle node: the share sits at the top",
          .nodes = { { "/a", { 20 * M, 0 }, 3 }, { "/a/m", { 4 * M, 0 }, 1 }, { "/a/m/c", { 0, 0 }, 1 } },
          .own = { { "/a/m/c", 4 * M, 0, CLAIM_KEPT, true, false } },
          .want = "/a/\\1 16777216 0 x2" },
        { .name = "others protecting nothing still keep the node claimed",
          .nodes = { { "/a", { 0, 0 }, 2 }, { "/a/b", { 0, 0 }, 0 } },
          .own = { { "/a/b", 1 * M, 0, CLAIM_NEW } },
          .want = "/a/\\1 0 0 x2" },
        { .name = "two containers in one cgroup: both written out",
          .nodes = { { "/a", { 3 * M, 0 }, 2 }, { "/a/b", { 0, 0 }, 2 } },
          .own = { { "/a/b", 1 * M, 0, CLAIM_KEPT, true, false }, { "/a/b", 2 * M, 0, CLAIM_REMOVED, true, false } },
          .want = "" },
        { .name = "a sum below what is written out under it: inconsistent",
          .nodes = { { "/a", { 4 * M, 0 }, 2 }, { "/a/b", { 0, 0 }, 1 } },
          .own = { { "/a/b", 8 * M, 0, CLAIM_KEPT, true, false } },
          .r = -EUCLEAN, .bad = "/a" },
        { .name = "fewer claims than written out under it: inconsistent",
          .nodes = { { "/a", { 8 * M, 0 }, 0 }, { "/a/b", { 0, 0 }, 1 } },
          .own = { { "/a/b", 8 * M, 0, CLAIM_KEPT, true, false } },
          .r = -EUCLEAN, .bad = "/a" },
        { .name = "a sum with no claim left to carry it: inconsistent",
          .nodes = { { "/a", { 9 * M, 0 }, 1 }, { "/a/b", { 0, 0 }, 1 } },
          .own = { { "/a/b", 8 * M, 0, CLAIM_KEPT, true, false } },
          .r = -EUCLEAN, .bad = "/a" },
};

static void run_syn_case(const struct syn_case *tc) {
        struct own_claim own[4];
        size_t n_nodes = 0, n_own = 0;
        while (n_nodes < 6 && tc->nodes[n_nodes].path)
                n_nodes++;
        for (; n_own < 4 && tc->own[n_own].cgroup; n_own++)
                own[n_own] = (struct own_claim) {
                        .claim = { .cgroup = tc->own[n_own].cgroup, .value = { tc->own[n_own].min, tc->own[n_own].low }, .state = tc->own[n_own].state },
                        .counted = { tc->own[n_own].counted_min, tc->own[n_own].counted_low },
                };
        struct plan_synthetic_input in = { .nodes = tc->nodes, .n_nodes = n_nodes, .own = own, .n_own = n_own };
        struct plan_synthetic s;
        int r = plan_synthetic_claims(&in, &s);
        if (tc->r) {
                CHECK(r == tc->r && strcmp(tc->nodes[s.bad_node].path, tc->bad) == 0, "%s: r=%d at %s", tc->name, r,
                      r < 0 ? tc->nodes[s.bad_node].path : "-");
                return;
        }
        char got[512] = "";
        size_t o = 0;
        for (size_t c = s.n_own; r == 0 && c < s.n_claims; c++) {
                char path[128];
                snprintf(path, sizeof path, "%s", s.claims[c].cgroup);
                char *x = strchr(path, '\x01');
                if (x)
                        memcpy(x, "\\1", 3);
                o += (size_t) snprintf(got + o, sizeof got - o, "%s%s %llu %llu x%llu", o ? "; " : "", path, (unsigned long long) s.claims[c].value[LV_MIN],
                                       (unsigned long long) s.claims[c].value[LV_LOW], (unsigned long long) s.claims[c].represents);
        }
        CHECK(r == 0 && s.n_own == n_own && strcmp(got, tc->want) == 0, "%s\n#   got:  %s (r=%d)\n#   want: %s", tc->name, got, r, tc->want);
        if (r == 0)
                plan_synthetic_free(&s);
}

/* ---- the property: the chain alone decides what the whole tree does ---- */

static const char *const tree[] = { "/a", "/a/b", "/a/b/c1", "/a/b/c2", "/a/d", "/a/d/e", "/x", "/x/y", "/x/y/z" };
#define N_TREE (sizeof tree / sizeof tree[0])
static const uint64_t tree_orig[N_TREE][LV_N] = { [4] = { 4096, 0 }, [7] = { 0, 8192 } };

struct rec {
        const char *cgroup;
        uint64_t min, low;
};
static const struct rec recs[] = {
        { "/a/b/c1", 8 * M, 16 * M }, { "/a/b/c2", 4 * M, 0 }, { "/a/b/c2", 2 * M, 1 * M }, { "/a/d/e", 0, 32 * M },
        { "/a/d", 1 * M, 0 },         { "/x/y/z", 64 * M, 64 * M }, { "/a/b", 3 * M, 3 * M },
};
#define N_RECS (sizeof recs / sizeof recs[0])

/* A full plan over the tree, the values settled (apply's part: cur = what
 * the plan wrote). held: in/out; counted: out per record. */
static int full_plan(struct held_value held[N_TREE][LV_N], const enum claim_state st[N_RECS], bool counted[N_RECS][LV_N],
                     struct node_summary sums[N_TREE]) {
        struct plan_node nodes[N_TREE];
        struct plan_claim claims[N_RECS];
        for (size_t i = 0; i < N_TREE; i++) {
                nodes[i] = (struct plan_node) { .path = tree[i], .observed = { true, true } };
                memcpy(nodes[i].held, held[i], sizeof nodes[i].held);
                for (int v = 0; v < LV_N; v++)
                        nodes[i].cur[v] = held[i][v].managed ? held[i][v].set : tree_orig[i][v];
        }
        size_t n = 0;
        for (size_t k = 0; k < N_RECS; k++)
                claims[n++] = (struct plan_claim) { .cgroup = recs[k].cgroup, .value = { recs[k].min, recs[k].low }, .state = st[k] };
        struct plan_cgroup_input in = { .nodes = nodes, .n_nodes = N_TREE, .claims = claims, .n_claims = n, .page_size = 4096 };
        struct plan_cgroups p;
        if (plan_cgroups(&in, &p) < 0 || p.n_reads > 0)
                return -1;
        for (size_t i = 0; i < N_TREE; i++)
                memcpy(held[i], p.held[i], sizeof held[i]);
        for (size_t k = 0; k < N_RECS; k++)
                memcpy(counted[k], p.claim_counted[k], sizeof counted[k]);
        /* The sums as every node file would say them: each record is its own
         * claim here, no synthetic ones. Checked against the definition,
         * claim by claim and node by node, not the plan's walk up the
         * chains. */
        bool as_defined = true;
        for (size_t i = 0; i < N_TREE; i++) {
                sums[i] = (struct node_summary) { .path = tree[i], .below = { p.below[i][LV_MIN], p.below[i][LV_LOW] }, .n_claims = p.n_claims[i] };
                uint64_t want_n = 0, want_below[LV_N] = {0};
                for (size_t k = 0; k < n; k++) {
                        bool below = cgroup_path_is_below(claims[k].cgroup, tree[i]);
                        if (st[k] == CLAIM_REMOVED || (!below && strcmp(claims[k].cgroup, tree[i]) != 0))
                                continue;
                        want_n++;
                        for (int v = 0; below && v < LV_N; v++)
                                if (p.claim_counted[k][v])
                                        want_below[v] += claims[k].value[v];
                }
                as_defined &= want_n == p.n_claims[i] && want_below[LV_MIN] == p.below[i][LV_MIN] && want_below[LV_LOW] == p.below[i][LV_LOW];
        }
        CHECK(as_defined, "the whole tree's plan: each node's sums are the live claims at or below it and the counted values strictly below");
        plan_cgroups_free(&p);
        return 0;
}

static void check_chain_alone(size_t changing, enum claim_state how) {
        /* Before: every record but a starting one is live, settled. */
        struct held_value held[N_TREE][LV_N] = {0};
        enum claim_state before[N_RECS], after[N_RECS];
        bool counted[N_RECS][LV_N], counted_after[N_RECS][LV_N];
        struct node_summary sums[N_TREE], sums_after[N_TREE];
        for (size_t k = 0; k < N_RECS; k++)
                before[k] = after[k] = (k == changing && how == CLAIM_NEW) ? CLAIM_REMOVED : CLAIM_KEPT;
        after[changing] = how;
        if (full_plan(held, before, counted, sums) < 0) {
                CHECK(false, "full plan before");
                return;
        }
        for (size_t k = 0; k < N_RECS; k++)
                if (before[k] == CLAIM_REMOVED)
                        memset(counted[k], 0, sizeof counted[k]);
        struct held_value held_full[N_TREE][LV_N];
        memcpy(held_full, held, sizeof held);
        if (full_plan(held_full, after, counted_after, sums_after) < 0) {
                CHECK(false, "full plan after");
                return;
        }

        /* The chain of the changing record, its nodes' sums as stored, and
         * the records whose cgroup is one of them. */
        const char *leaf = recs[changing].cgroup;
        size_t set[N_TREE], n_set = 0;
        struct node_summary stored[N_TREE];
        struct plan_node nodes[N_TREE];
        for (size_t i = 0; i < N_TREE; i++) {
                if (strcmp(leaf, tree[i]) != 0 && !cgroup_path_is_below(leaf, tree[i]))
                        continue;
                set[n_set] = i;
                stored[n_set] = sums[i];
                nodes[n_set] = (struct plan_node) { .path = tree[i], .observed = { true, true } };
                memcpy(nodes[n_set].held, held[i], sizeof nodes[n_set].held);
                for (int v = 0; v < LV_N; v++)
                        nodes[n_set].cur[v] = held[i][v].managed ? held[i][v].set : tree_orig[i][v];
                n_set++;
        }
        struct own_claim own[N_RECS];
        size_t n_own = 0;
        for (size_t k = 0; k < N_RECS; k++) {
                bool in_set = false;
                for (size_t j = 0; j < n_set; j++)
                        in_set |= strcmp(recs[k].cgroup, tree[set[j]]) == 0;
                if (!in_set || (before[k] == CLAIM_REMOVED && k != changing))
                        continue;
                own[n_own++] = (struct own_claim) { .claim = { .cgroup = recs[k].cgroup, .value = { recs[k].min, recs[k].low }, .state = after[k] },
                                                    .counted = { counted[k][LV_MIN], counted[k][LV_LOW] } };
        }
        struct plan_synthetic_input sin = { .nodes = stored, .n_nodes = n_set, .own = own, .n_own = n_own };
        struct plan_synthetic s;
        int r = plan_synthetic_claims(&sin, &s);
        if (r < 0) {
                CHECK(false, "record %zu %s: synthetic claims (r=%d)", changing, how == CLAIM_NEW ? "starts" : "stops", r);
                return;
        }
        struct plan_cgroup_input in = { .nodes = nodes, .n_nodes = n_set, .claims = s.claims, .n_claims = s.n_claims, .page_size = 4096 };
        struct plan_cgroups p;
        r = plan_cgroups(&in, &p);
        bool same = r == 0 && p.n_reads == 0, same_sums = same;
        char diff[256] = "";
        for (size_t j = 0; same && j < n_set; j++)
                for (int v = 0; v < LV_N; v++)
                        if (memcmp(&p.held[j][v], &held_full[set[j]][v], sizeof p.held[j][v]) != 0 ||
                            p.claimed[j] != (sums_after[set[j]].n_claims > 0)) {
                                snprintf(diff, sizeof diff, " (%s %s: set %llu, whole tree %llu)", tree[set[j]], plan_value_file[v],
                                         (unsigned long long) p.held[j][v].set, (unsigned long long) held_full[set[j]][v].set);
                                same = false;
                        }
        CHECK(same, "record %zu (%s) %s: the chain alone decides what the whole tree does%s", changing, leaf, how == CLAIM_NEW ? "starts" : "stops", diff);
        if (r == 0) {
                for (size_t j = 0; j < n_set; j++)
                        same_sums &= p.n_claims[j] == sums_after[set[j]].n_claims && p.below[j][LV_MIN] == sums_after[set[j]].below[LV_MIN] &&
                                     p.below[j][LV_LOW] == sums_after[set[j]].below[LV_LOW];
                CHECK(same_sums, "record %zu (%s) %s: the sums left behind are the whole tree's", changing, leaf, how == CLAIM_NEW ? "starts" : "stops");
                plan_cgroups_free(&p);
        }
        plan_synthetic_free(&s);
}

int main(void) {
        for (size_t i = 0; i < sizeof syn_cases / sizeof syn_cases[0]; i++)
                run_syn_case(&syn_cases[i]);
        for (size_t k = 0; k < N_RECS; k++) {
                check_chain_alone(k, CLAIM_NEW);
                check_chain_alone(k, CLAIM_REMOVED);
        }
        return test_report();
}
