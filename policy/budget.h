/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The protection budget: pure arithmetic, no I/O.
 *
 * Two caps, both over the whole top of the cgroup tree (the root's
 * children, where the kernel's protection is finally bounded):
 *   min         the sum of memory.min;
 *   protection  the memory that min and low together shield from reclaim.
 *               The kernel protects a cgroup's usage up to memory.min
 *               hard and up to memory.low best-effort — two boundaries
 *               over the same pages, not two amounts — so one cgroup
 *               shields max(min, low), and a grant costs max(min, low).
 *               Summing that per grant never undercounts what the root's
 *               children shield: max(a + b, c + d) <= max(a, c) + max(b, d).
 *
 * Every figure is in bytes; UINT64_MAX is "max" (no cap, or a cgroup
 * value "max"), and every sum saturates there, so no input overflows. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host_config.h"

/* A safe share of RAM, whatever the host configuration allows: the
 * default budget (host_config.c says why). doctor warns above it. */
#define BUDGET_SAFE_MIN_PERCENT 50u
#define BUDGET_SAFE_PROTECTION_PERCENT 80u

struct budget_limits {
        uint64_t min, protection;       /* UINT64_MAX: no cap */
};

/* Protection held, as the caps count it. */
struct budget_usage {
        uint64_t min, protection;
};

struct budget_claim {
        uint64_t min, low;
};

enum budget_verdict {
        BUDGET_FITS,        /* granted what was asked */
        BUDGET_CLAMPED,     /* granted less (possibly 0) */
        BUDGET_REFUSED,     /* did not fit and the policy says on_error=fail:
                             * nothing granted, the start is refused */
};

/* What a start was granted and the figures behind it (the outcome
 * record's "budget" field). */
struct budget_decision {
        enum budget_verdict verdict;
        struct budget_claim requested, granted;
        struct budget_limits budget;
        struct budget_usage used;       /* held before this grant */
};

const char *budget_verdict_name(enum budget_verdict v);

/* max(min, low), what one cgroup's values shield from reclaim. */
uint64_t budget_protection_of(uint64_t min, uint64_t low);
/* a + b, saturating at UINT64_MAX. */
uint64_t budget_add(uint64_t a, uint64_t b);
/* Adds one cgroup's (or one grant's) values to a usage, saturating. */
void budget_usage_add(struct budget_usage *u, uint64_t min, uint64_t low);

/* The caps of the host configuration for this MemTotal, each rounded down
 * to page_size (a percentage of an unknown MemTotal, 0, is 0: nothing is
 * promised on a host whose size cannot be read). */
void budget_limits_resolve(const struct host_config *hc, uint64_t mem_total, uint64_t page_size, struct budget_limits *ret);

/* The grant for one start. used: everything held at the top of the tree
 * before it — the originals of the root's children (an admin's MemoryMin=,
 * kubelet's kubepods, another tool) plus what the hook already grants to
 * running containers.  Each granted value is the requested one when it
 * fits, else what fits rounded down to page_size; running containers are
 * never lowered, so a start that does not fit gets less, possibly 0.
 * refuse_clamped (the policy's on_error=fail): a start that would get less
 * than it asked gets nothing and BUDGET_REFUSED. */
void budget_grant(const struct budget_limits *limits, const struct budget_usage *used, const struct budget_claim *request,
                  uint64_t page_size, bool refuse_clamped, struct budget_decision *ret);

/* Whether a grant of request beside used could come within margin of a
 * cap: a start decided on a kept (possibly seconds old) view of the top
 * reads the top again when so, so what others changed since can only
 * matter far from the caps. A cap of UINT64_MAX is never near. */
bool budget_near_cap(const struct budget_limits *limits, const struct budget_usage *used, const struct budget_claim *request,
                     uint64_t margin);
/* The margin budget_near_cap is used with: a tenth of MemTotal (an
 * unknown MemTotal, 0, makes every grant near). */
uint64_t budget_margin_for(uint64_t mem_total);

/* A running container that holds less than it asked (clamped at its
 * start), for top-ups. */
struct budget_topup {
        const char *id;                 /* tie-break, and for the caller */
        uint64_t started_usec;          /* when it started: oldest first */
        struct budget_claim requested;
        struct budget_claim granted;    /* in: held now; out: its new grant */
};

/* When protection frees up (a stop, a pruned record, a larger MemTotal),
 * the containers that were clamped are topped up, oldest first (start
 * time, then id), each as far as the free budget allows, never above what
 * it asked and never below what it holds.  used must include what items
 * hold now.  items is sorted in place into the order served.  Returns how
 * many grants grew. */
size_t budget_topup(const struct budget_limits *limits, const struct budget_usage *used, uint64_t page_size, struct budget_topup *items,
                    size_t n);

/* One run of the ledger, the rule in one place: every running container
 * that holds less than it asked is topped up first, oldest first — it was
 * promised the next room that frees up — then the start of this run (start
 * NULL: none, e.g. a poststop) gets what is left.  others: what the
 * root's children hold for others (their originals); running: every
 * running container (granted == requested for those not clamped), sorted
 * in place and their grants raised where room allows.  Used is computed
 * here as others plus the running grants.  ret_start is filled when start
 * is given; returns how many running grants grew. */
size_t budget_plan_run(const struct budget_limits *limits, const struct budget_usage *others, struct budget_topup *running,
                       size_t n_running, const struct budget_claim *start, bool refuse_clamped, uint64_t page_size,
                       struct budget_decision *ret_start);
