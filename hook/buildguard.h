/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The build guard (SPEC §4 build.reclaim, §5): before a build step starts,
 * check memory health and free memory only when needed; at poststop report
 * what the build went through. vm.swappiness claims are kept by the ledger. */

#include "hook.h"
#include "log.h"

/* A JSON object (malloc'd string) kept in the container's record for
 * poststop: /proc/vmstat counters at start. NULL when unreadable. */
char *buildguard_snapshot_json(const char *sysroot);

/* Runs after the ledger is released (it may take up to the policy's time
 * budget); decides healthy / short / fragmented and acts per
 * v->merged->build.reclaim, recording before/after figures in out. */
void buildguard_before_build(const struct container_view *v, const struct hook_opts *o, struct outcome *out);

/* poststop of a build: /proc/vmstat deltas since snapshot (the record's
 * extra object) into out. */
void buildguard_after_build(const char *snapshot_json, const char *sysroot, struct outcome *out);

/* poststop when the last build has left (build.after). */
void buildguard_after_last_build(const struct hook_opts *o, struct outcome *out);
