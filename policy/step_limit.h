/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A build step's hard limits (step_limit: not limits.h, which would
 * shadow the C library's header): pure decisions, no I/O.
 *
 * The limits live on the step's own cgroup only. The kernel's memory.max
 * is hierarchical (a parent's limit caps its children anyway), so nothing
 * above the leaf is touched and nothing needs to be given back to
 * ancestors. The rules:
 *   - the policy's value (a size, or N % of MemTotal);
 *   - an annotation may lower it, never raise it (a container's user
 *     only ever constrains their own step);
 *   - a limit the engine already set lower is kept: the hook never
 *     raises a limit it finds.
 * On cgroup v1 the swap limit is memory.memsw.limit_in_bytes, which
 * counts memory and swap together: the file's value is the hard limit in
 * effect plus the swap allowed, and there is none to write without a hard
 * limit. memory.oom.group exists only on v2.
 *
 * Every figure is in bytes; MEMGUARD_VALUE_MAX is "max" (no limit). */

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

enum limit_source { LIMIT_FROM_NONE, LIMIT_FROM_POLICY, LIMIT_FROM_ANNOTATION, LIMIT_FROM_ENGINE };
const char *limit_source_name(enum limit_source s);

enum limit_action {
        LIMIT_NOTHING,        /* nothing asked */
        LIMIT_WRITE,          /* write value */
        LIMIT_KEEP_ENGINE,    /* the leaf already has a limit at or below what is asked */
        LIMIT_UNAVAILABLE,    /* the kernel file is missing (no swap accounting, v1 oom.group,
                               * or a v1 swap limit with no hard limit to add it to) */
        LIMIT_TOO_SMALL,      /* a hard limit that resolves below POLICY_LIMIT_MIN_BYTES
                               * (N % of an unknown MemTotal): not written */
};
const char *limit_action_name(enum limit_action a);

/* What the step's cgroup has now. */
struct limit_leaf {
        bool v2;
        bool has_max; uint64_t max;        /* memory.max (v1: memory.limit_in_bytes) */
        bool has_swap; uint64_t swap;      /* memory.swap.max (v1: memory.memsw.limit_in_bytes) */
        bool has_oom_group; bool oom_group;
};

/* What annotations ask, resolved to bytes (the hook parses them: a claim
 * that is not a size never gets here). */
struct limit_claims {
        bool has_max; uint64_t max;
        bool has_swap; uint64_t swap;
};

struct limit_input {
        const struct policy_limit *policy;
        uint64_t mem_total, page_size;
        struct limit_claims annotation;
        struct limit_leaf leaf;
};

struct limit_value {
        enum limit_action action;
        enum limit_source source;     /* where the limit in effect comes from */
        uint64_t asked;               /* policy or annotation, MAX when neither */
        uint64_t value;               /* LIMIT_WRITE: what to write to the file */
        uint64_t effective;           /* the limit in effect afterwards (v1 swap: swap alone) */
        bool annotation_ignored;      /* an annotation asked more than the policy */
};

struct limit_plan {
        struct limit_value max, swap;
        enum limit_action oom_group;  /* LIMIT_WRITE: write 1 */
        bool any;                     /* something was asked */
};

/* The leaf's values. Writes go in plan order: max first, then swap (on v1
 * memsw must never be below limit_in_bytes, and both only ever drop). */
void limit_decide(const struct limit_input *in, struct limit_plan *ret);
