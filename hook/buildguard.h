/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The build guard (SPEC §4 build.reclaim, §5): before a build step starts,
 * check memory health and free memory only when needed; at poststop report
 * what the build went through. vm.swappiness claims are kept by the ledger. */

#include <stdint.h>

#include "hook.h"
#include "log.h"

/* A JSON object (malloc'd string) kept in the container's record for
 * poststop: /proc/vmstat counters at start, and the bytes build.after asks
 * to reclaim when the last build ends (0: nothing). NULL when unreadable. */
char *buildguard_snapshot_json(const char *sysroot, uint64_t after_reclaim, int after_when);

/* Runs after the ledger is released (it may take up to the policy's time
 * budget per step): healthy → nothing written; short of memory → targeted
 * memory.reclaim of the deficit at the cgroup2 root (drop_caches where the
 * kernel has no memory.reclaim); fragmented → compact_memory, then
 * drop_caches=2 and compact once more if no block of the order appeared.
 * Honours o->dry_run (actions "planned"). Records "build_guard" in out. */
void buildguard_before_build(const struct container_view *v, const struct hook_opts *o, struct outcome *out);

/* poststop of a build: /proc/vmstat deltas since the snapshot into out. */
void buildguard_after_build(const char *snapshot_json, const char *sysroot, struct outcome *out);

/* poststop when the last build has left: build.after's reclaim. */
void buildguard_after_last_build(const char *snapshot_json, const struct hook_opts *o, struct outcome *out);
