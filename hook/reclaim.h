/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Freeing memory for a build, every step bounded in time. */

#include <stdbool.h>
#include <stdint.h>

#include "cgroup.h"

/* memory.reclaim writes go in chunks of at most this: with transparent huge
 * pages and the classic LRU, one large write was seen to ignore memory.min
 * (TESTBED, 6.1 and 6.12); chunks of 256M respected it. */
#define RECLAIM_CHUNK_BYTES (256ull << 20)

struct reclaim_result {
        uint64_t reclaimed;       /* bytes asked and accepted by the kernel */
        unsigned chunks;
        bool swappiness_arg;      /* the kernel took "swappiness=0" (>= 6.11) */
        bool stopped_eagain;      /* the kernel could not reach the target */
        bool timed_out;
        int error;                /* negative errno of the last failure, 0 */
};

/* Writes "<chunk> swappiness=0" (falling back to "<chunk>" on EINVAL) to
 * memory.reclaim of the cgroup dir fd until bytes are reclaimed, EAGAIN, an
 * error or the deadline. */
int reclaim_memcg(int cgfd, uint64_t bytes, uint64_t timeout_ms, struct reclaim_result *ret);

/* Writes value to an existing file (sysctl) with a timer: a write that
 * blocks past timeout_ms is interrupted (-EINTR). */
int write_bounded(const char *path, const char *value, uint64_t timeout_ms);
