/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Freeing memory for a build, every step bounded in time.
 *
 * Two kinds of kernel writes, two ways to bound them:
 * - memory.reclaim checks signal_pending() between reclaim rounds
 *   (mm/memcontrol.c memory_reclaim: "if (signal_pending(current)) return
 *   -EINTR"), so a timer signal without SA_RESTART interrupts it in-process.
 * - vm.drop_caches, vm.compact_memory and sync(2) do not: drop_caches walks
 *   every inode without looking at signals, compaction only stops for a
 *   *fatal* signal (fatal_signal_pending), sync waits uninterruptibly.
 *   Measured on this CI host (6.18): a 1 ms SIGALRM left compact_memory
 *   (42 ms) and drop_caches (114 ms) running to completion, both "ok". Those
 *   writes run in a child process; the hook waits for it at most the time
 *   budget and then carries on, leaving the child to finish on its own with
 *   no descriptor of ours (not the runtime's stdout/stderr pipes, not the
 *   ledger lock) open. */

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

/* Writes "<chunk> swappiness=0" to memory.reclaim of the cgroup dir fd until
 * bytes are reclaimed, EAGAIN (the kernel cannot reach the target: a stop
 * signal, not an error), an error or the deadline. A kernel that answers
 * EINVAL to "swappiness=" (< 6.11) gets "<chunk>" alone, and is remembered
 * for the rest of the run. Returns 0 or the negative errno of a failure;
 * ret is always filled. */
int reclaim_memcg(int cgfd, uint64_t bytes, uint64_t timeout_ms, struct reclaim_result *ret);

/* Forget what reclaim_memcg learnt about the kernel (tests). */
void reclaim_reset_kernel_knowledge(void);

/* Test seam: the single write(2) reclaim_memcg makes per chunk. NULL
 * restores the real one. The function returns 0 or -errno. */
typedef int (*reclaim_write_fn)(int dirfd, const char *file, const char *value);
void reclaim_set_write_fn(reclaim_write_fn fn);

enum {
        WRITE_BOUNDED_SYNC_FIRST = 1 << 0, /* sync(2) before the write (drop_caches frees clean pages only) */
        WRITE_BOUNDED_DETACH     = 1 << 1, /* run in a child process the deadline need not interrupt */
};

/* Writes value to an existing file (a sysctl: no O_CREAT) within timeout_ms.
 * With WRITE_BOUNDED_DETACH: in a child process; -ETIMEDOUT when the budget
 * ran out (the child goes on in the background). Without: in-process under
 * a SIGALRM timer, -EINTR when the timer interrupted an interruptible wait
 * (a kernel path that ignores signals just finishes late). Returns 0 or a
 * negative errno (the write's own, e.g. -EINVAL, -ENOENT). */
int write_bounded(const char *path, const char *value, uint64_t timeout_ms, unsigned flags);
