/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The plan: from the live claims and the values observed on the host, the
 * list of writes that makes every shared value what the claims need.
 * Pure: no I/O, no globals, no clock (time is an input); the state
 * (state.c) supplies the inputs and apply (apply.c) performs the result.
 * conformance/unit/test-plan.c states the rules case by case.
 *
 * The rule, per cgroup in the chain of a claim (the root has no
 * memory.min and is never written):
 *   target = max(original, own claim) + sum of the claims strictly below
 * An ancestor covers only the (capped) claims below it: a leaf that
 * declares more than its claim keeps it, but that surplus raises nothing
 * above it (plan_cgroups: NOTE_LEAF_ABOVE_CLAIM). A cgroup no claim
 * needs any more gets its original back. Raises are ordered top-down and
 * lowerings bottom-up (plan_order_writes), so an ancestor never drops
 * below what its children still claim, even for an instant. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum { LV_MIN, LV_LOW, LV_N };
extern const char *const plan_value_file[LV_N]; /* "memory.min", "memory.low" */

#define PLAN_NO_SWAPPINESS (-1)

/* A shared value as the ledger holds it. */
struct held_value {
        bool managed;   /* the hook holds this value */
        bool foreign;   /* someone else changed it while held: hands off */
        uint64_t orig;  /* what was there before the hook */
        uint64_t set;   /* what the hook last wrote (or intends to) */
        uint64_t prev;  /* the value before that; == set once the write finished */
};

/* The one rule for a value someone else may have changed, for cgroups and
 * vm.swappiness alike: adopt what is found when not held yet (orig =
 * adopt_orig, normally cur); when held, a value that is neither what the
 * hook set nor what was there before its last write is foreign. */
enum observe_result { OBSERVE_UNCHANGED, OBSERVE_ADOPTED, OBSERVE_FOREIGN };
enum observe_result held_value_observe(struct held_value *hv, uint64_t cur, uint64_t adopt_orig);

/* The one rule for what to do with a held value whose target is known:
 * true when target must be written (hv then carries the intent: prev =
 * cur, set = target); false when nothing is written (a foreign value, or
 * already there), hv released when no claim needs it any more. */
bool held_value_decide(struct held_value *hv, uint64_t cur, bool claimed, uint64_t target);

enum claim_state { CLAIM_KEPT, CLAIM_NEW, CLAIM_REMOVED };

/* One container's claim on the chain of its cgroup. */
struct plan_claim {
        const char *cgroup;        /* the leaf, normalised, never "/" */
        uint64_t value[LV_N];      /* capped by the policy already */
        bool applied[LV_N];        /* the record says the leaf took it */
        enum claim_state state;    /* NEW/REMOVED: starts or stops in this run */
        /* The live claims it stands for in plan_cgroups.n_claims: a
         * synthetic claim (plan_synthetic_claims) all those below its
         * node. 0 is read as 1: a container's own claim. */
        uint64_t represents;
};

/* One cgroup of a chain (or one the ledger holds). */
struct plan_node {
        const char *path;
        struct held_value held[LV_N]; /* from the ledger */
        bool gone;                    /* cannot be opened: nothing to give back */
        bool observed[LV_N];          /* cur[v] was read in this run */
        bool read_failed[LV_N];       /* reading it failed: it cannot hold a claim */
        uint64_t cur[LV_N];
};

struct plan_cgroup_input {
        const struct plan_node *nodes;
        size_t n_nodes;
        const struct plan_claim *claims;
        size_t n_claims;
        uint64_t page_size;
        /* Read every value this run touches (no quiet nodes): after an
         * interrupted run, a corrupt ledger or a refused write. */
        bool observe_all;
        /* ledger.json was lost: a value found unheld on an ancestor is
         * taken as its current value less the applied claims recorded
         * below it (an estimate that errs upwards only). */
        bool rebuild;
};

enum plan_note_kind {
        NOTE_FOREIGN,          /* node/v: changed by someone else (a = cur, b = set) */
        NOTE_REBUILT_ORIG,     /* node/v: original rebuilt (a = orig, b = cur) */
        NOTE_LEAF_ABOVE_CLAIM, /* node/v: the leaf declares a (> claim b): not added to ancestors */
};
struct plan_note {
        enum plan_note_kind kind;
        size_t node;
        int v;
        uint64_t a, b;
};

struct plan_write {
        size_t node;
        int v;
        uint64_t from, to;
        bool raise;
};

struct plan_cgroups {
        struct held_value (*held)[LV_N]; /* per node: the ledger after the plan (intents in) */
        bool *claimed;                   /* per node: some live claim at or below it */
        bool (*claim_counted)[LV_N];     /* per claim: its leaf holds it, the ancestors count it */
        /* Values the plan needs read before it can decide (a quiet node whose
         * ledger value does not add up, or a value not read yet): per node
         * and value. When n_reads > 0, writes are not valid yet. */
        bool (*need_read)[LV_N];
        size_t n_reads;
        struct plan_write *writes; /* in order: raises top-down, then lowerings bottom-up */
        size_t n_writes;
        struct plan_note *notes;
        size_t n_notes;
        /* What each node's file says from now on (valid with the writes):
         * the counted claim values strictly below it, and the live claims
         * at or below it (plan_claim.represents each). */
        uint64_t (*below)[LV_N];
        uint64_t *n_claims;
        ssize_t *claim_leaf; /* per claim: the node of its own cgroup, -1: none */
};

/* 0 or -ENOMEM. ret is filled on success; free with plan_cgroups_free. */
int plan_cgroups(const struct plan_cgroup_input *in, struct plan_cgroups *ret);
void plan_cgroups_free(struct plan_cgroups *p);

/* vm.swappiness: the most conservative claim of the running builds. A
 * claim holds for a bounded time (a build step running for days is not a
 * build): past expires_usec (monotonic; 0 = never) it lapses. */
struct swappiness_claim {
        int value;             /* 0..200, or PLAN_NO_SWAPPINESS */
        uint64_t expires_usec; /* CLOCK_MONOTONIC */
        bool live;
};
struct plan_swappiness_input {
        struct held_value held;
        const struct swappiness_claim *claims;
        size_t n_claims;
        uint64_t now_usec;
        bool observed; /* cur was read (always, when a claim or the ledger needs it) */
        uint64_t cur;
};
struct plan_swappiness {
        bool needs_read;      /* read vm.swappiness and plan again */
        bool write;
        uint64_t from, to;
        bool foreign_seen;    /* changed by someone else: left alone */
        size_t n_lapsed;      /* claims past their lifetime, not counted */
        int claim;            /* the effective claim, or PLAN_NO_SWAPPINESS */
        struct held_value held; /* after the plan */
};
void plan_swappiness(const struct plan_swappiness_input *in, struct plan_swappiness *ret);

/* Is a strictly below b? ("/a/b" below "/a", not "/ab") */
bool cgroup_path_is_below(const char *a, const char *b);
unsigned cgroup_path_depth(const char *p);

/* ---- the incremental plan -------------------------------------------------
 * A run that changes a few containers plans over the chains of those
 * containers only. The other containers enter plan_cgroups as synthetic
 * KEPT claims, one per node of the set, built from what each node's state
 * says about them: the sum of the counted claims strictly below it and how
 * many live claims are at or below it. A synthetic claim sits at
 * path + "/\x01", a path that is never a node, so the plan adds it to the
 * node and its ancestors only, and counts it (its leaf is no node). */

/* What a node's state says about the claims at or below it. */
struct node_summary {
        const char *path;
        uint64_t below[LV_N]; /* the counted claim values strictly below */
        uint64_t n_claims;    /* live claims at or below (own ones included) */
};

/* A claim written out in the set: the records whose cgroup is a node of
 * the set. counted: the last plan counted it (it is in the sums above). */
struct own_claim {
        struct plan_claim claim; /* claim.cgroup is the node's path */
        bool counted[LV_N];
};

struct plan_synthetic_input {
        const struct node_summary *nodes; /* the set: closed under ancestors */
        size_t n_nodes;
        const struct own_claim *own;
        size_t n_own;
};

struct plan_synthetic {
        struct plan_claim *claims; /* the own claims (in order), then the synthetic ones */
        size_t n_claims;
        size_t n_own;
        char **paths;              /* the synthetic claims' paths */
        size_t bad_node;           /* -EUCLEAN: the node whose sums do not add up */
};

/* 0, -ENOMEM, or -EUCLEAN when a node's sums are less than what is written
 * out below it (the state is inconsistent: plan over every record instead;
 * ret->bad_node names the node). Free with plan_synthetic_free. */
int plan_synthetic_claims(const struct plan_synthetic_input *in, struct plan_synthetic *ret);
void plan_synthetic_free(struct plan_synthetic *s);

