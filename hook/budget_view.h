/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The protection budget as operators see it: what the top of the cgroup
 * tree holds (read from cgroupfs), and a decision put into words and into
 * the outcome record.  The rules themselves are in policy/budget.h. */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "cgroup.h"
#include "json.h"
#include "outcome.h"

/* One child of the root that holds protection. */
struct budget_holder {
        char name[NAME_MAX + 2];   /* "/" and the directory name */
        uint64_t min, low;
};

/* What the root's children hold now: their memory.min and memory.low as
 * they are (originals and the hook's raises together). */
struct budget_top {
        struct budget_usage used;
        struct budget_holder *holders;  /* those with min or low > 0, the
                                         * largest protection first */
        size_t n_holders;
        size_t n_children;
};

/* Reads memory.min/memory.low of every directory directly below the
 * cgroup2 root, without following symlinks, at most BUDGET_TOP_MAX_CHILDREN
 * of them (the rest would only raise the sums: -E2BIG, with the sums of
 * those read). A child without the files holds nothing. */
#define BUDGET_TOP_MAX_CHILDREN 65536u
int budget_top_read(const struct cgroup_host *h, struct budget_top *ret);
void budget_top_free(struct budget_top *t);

/* "7.6 GiB", "512 MiB", "4096 B", "max". */
const char *budget_format_bytes(uint64_t v, char *buf, size_t size);

/* The record's structured field: {"verdict", "requested": {"min","low"},
 * "granted": {...}, "budget": {"min","protection"}, "used": {...}} with
 * bytes as numbers (a cap "max" as the string "max"). */
void budget_decision_json(const struct budget_decision *d, struct strbuf *sb);
/* The same in words, one line for syslog and explain: "memory.min 1 GiB
 * asked, 512 MiB granted (clamped: 7.3 GiB of the 7.8 GiB budget held)". */
void budget_decision_describe(const struct budget_decision *d, char *buf, size_t size);

/* The caps of hc on this host: MemTotal from <sysroot>/proc/meminfo (0
 * when unreadable: percentages then promise nothing), the page size of
 * the running kernel. */
int budget_limits_for_host(const char *sysroot, const struct host_config *hc, struct budget_limits *ret, uint64_t *ret_mem_total);
/* "7.8 GiB (50% of MemTotal)", "6 GiB", "max (no cap)". */
const char *budget_cap_describe(const struct host_cap *c, uint64_t bytes, char *buf, size_t size);
/* Is the cap at or above all of RAM (>= 100 %, bytes >= MemTotal, max)? */
bool budget_cap_exceeds_ram(const struct host_cap *c, uint64_t bytes, uint64_t mem_total);

/* Puts a start's decision into its outcome record: the "budget" field;
 * when it did not fit, the sentence of budget_decision_describe in
 * "skipped" and a short " budget=clamped min=512MiB/1GiB low=2GiB/2GiB"
 * (granted/asked) on the syslog line. */
void budget_outcome(struct outcome *out, const struct budget_decision *d);
