/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The build guard (build.reclaim): before a build step starts,
 * check memory health and free memory only when needed; at poststop report
 * what the build went through. vm.swappiness claims are kept by the ledger. */

#include <stdint.h>

#include "hook.h"
#include "outcome.h"

/* A JSON object (malloc'd string) kept in the container's record for
 * poststop: /proc/vmstat counters at start, and the bytes build.after asks
 * to reclaim when the last build ends (0: nothing). NULL when unreadable. */
char *buildguard_snapshot_json(const char *sysroot, uint64_t after_reclaim, int after_when);

/* Runs after the ledger is released (it may take up to the policy's time
 * budget per step). The record's "build_guard" object names the decision:
 *   off          build.reclaim.when=never: nothing read, nothing written;
 *   healthy      MemAvailable >= available_below (default 10% of MemTotal)
 *                and a free block of order >= N (default 4) in DMA32/Normal:
 *                two reads (meminfo, buddyinfo), nothing written;
 *   short        memory.reclaim of the deficit at the cgroup2 root, in 256M
 *                chunks with swappiness=0 where the kernel takes it; without
 *                memory.reclaim, sync + drop_caches=build.reclaim.drop_caches;
 *   fragmented   compact_memory (after the reclaim when also short, and only
 *                if the reclaim did not already merge a block);
 *   slab-pinned  compaction made no block: sync + drop_caches=2, compact again.
 * when=always runs the steps on a healthy host too. Each step has
 * build.reclaim.timeout_ms (default 2000); a step that uses it all ends the
 * sequence. Honours o->dry_run (actions "planned", conditional steps say on
 * what). */
void buildguard_before_build(const struct container_view *v, const struct hook_opts *o, struct outcome *out);

/* poststop of a build: /proc/vmstat deltas since the snapshot into out. */
void buildguard_after_build(const char *snapshot_json, const char *sysroot, struct outcome *out);

/* poststop when the last build has left: build.after's reclaim. */
void buildguard_after_last_build(const char *snapshot_json, const struct hook_opts *o, struct outcome *out);
