/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Is the host healthy enough for a build? (build.reclaim)
 *
 * Short of memory: MemAvailable below the policy's threshold.
 * Fragmented: no free block of the policy's order or above in the DMA32 and
 * Normal zones (/proc/buddyinfo) — an order-4 allocation (veth queues, the
 * classic `page allocation failure: order:4` of docker builds) is "costly"
 * and fails after one reclaim+compaction attempt, without OOM kill. */

#include <stdbool.h>
#include <stdint.h>

#define MEMHEALTH_MAX_ORDER 10

struct memhealth {
        uint64_t mem_total, mem_available, mem_free, cached;   /* bytes */
        bool have_buddy;
        uint64_t free_pages;                          /* DMA32+Normal, pages */
        uint64_t blocks_at_order;                     /* free blocks of order >= N, DMA32+Normal */
        bool have_watermarks;
        uint64_t wmark_high;                          /* DMA32+Normal, pages */
};

/* Reads /proc/meminfo, /proc/buddyinfo and /proc/zoneinfo below sysroot
 * (buddyinfo/zoneinfo may be missing: have_* false). */
int memhealth_read(const char *sysroot, unsigned order, struct memhealth *ret);

/* Parsers, exposed for unit tests. */
int memhealth_parse_buddyinfo(const char *text, unsigned order, uint64_t *ret_free_pages, uint64_t *ret_blocks);
int memhealth_parse_zoneinfo(const char *text, uint64_t *ret_high);

enum memhealth_verdict { MEMHEALTH_HEALTHY, MEMHEALTH_SHORT, MEMHEALTH_FRAGMENTED, MEMHEALTH_SHORT_AND_FRAGMENTED };
const char *memhealth_verdict_name(enum memhealth_verdict v);
enum memhealth_verdict memhealth_judge(const struct memhealth *h, uint64_t available_below);
