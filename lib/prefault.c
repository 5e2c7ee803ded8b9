/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Why a hook prefaults its own pages, and only where faults are dear.
 *
 * What a page fault costs depends on where the hook runs. In a guest whose
 * faults trap to the hypervisor (a nested or software-paged VM with pti on)
 * one costs 11-13 us, even for a page already in the page cache or the
 * shared zero page, while madvise(MADV_POPULATE_*) maps pages at 0.1-0.6 us
 * each in one call: there a start took 79 faults, nearly a third of its
 * time, and populating its segments, the top of the stack and the first
 * heap brought it to 37. On bare metal and in a guest with hardware paging
 * a fault costs 0.3-1.5 us, a read fault maps 16 page-cache pages at once,
 * and populating costs 0.24 us a page-cache page and 1.2 us a zeroed one
 * (measured on a KVM guest with free page reporting): there populating the
 * 330 pages of the segments and 80 of stack and heap, most of which a start
 * never touches, cost 120 us a start against the ~40 faults it saved.
 *
 * So the first fault of the run is timed (two fresh heap pages, the best of
 * the two: a preemption makes one look dear, never cheap), and the bulk
 * populate runs only when it costs more than FAULT_DEAR_NSEC. Whatever is
 * certain to be written in bulk (the policy cache's buffer) is populated
 * either way: prefault_heap(). It runs before anything else, before the
 * seccomp filter. */
#include "prefault.h"

#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Deep enough for a start's deepest path (the ledger apply under the
 * outcome and the policy set), shallow enough to stay inside the 128 KiB
 * the kernel maps below the initial stack at exec. */
#define STACK_PREFAULT (64u * 1024u)
/* What a start with ten neighbours allocates: config.json and its tree,
 * the records (4.9 KiB each), the ledger, the policies. */
#define HEAP_START (256u * 1024u)
#define HEAP_RESERVE_MAX (8u * 1024u * 1024u)
/* Between the two kinds of machine above, with room for a fault that has to
 * take a zone lock. */
#define FAULT_DEAR_NSEC 5000u

static uintptr_t page_size(void) {
        long ps = sysconf(_SC_PAGESIZE);
        return ps > 0 ? (uintptr_t) ps : 4096u;
}

static void populate(uintptr_t start, uintptr_t end, int advice) {
        uintptr_t ps = page_size();
        start &= ~(ps - 1);
        end = (end + ps - 1) & ~(ps - 1);
        if (end > start)
                (void) madvise((void *) start, end - start, advice);
}

/* The main program's PT_LOAD segments: read-only ones are mapped from the
 * page cache; the writable one is copied on write anyway, except its RELRO
 * part, which is read-only by now. */
static int populate_segments(struct dl_phdr_info *info, size_t size, void *data) {
        (void) size;
        (void) data;
        uintptr_t relro_start = 0, relro_end = 0;
        for (int i = 0; i < info->dlpi_phnum; i++) {
                const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
                if (ph->p_type == PT_GNU_RELRO) {
                        relro_start = info->dlpi_addr + ph->p_vaddr;
                        relro_end = (relro_start + ph->p_memsz) & ~(page_size() - 1);
                }
        }
        for (int i = 0; i < info->dlpi_phnum; i++) {
                const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
                if (ph->p_type != PT_LOAD)
                        continue;
                uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
                if (!(ph->p_flags & PF_W)) {
                        populate(start, end, MADV_POPULATE_READ);
                        continue;
                }
                if (relro_end > start && relro_start < end) {
                        populate(start, relro_end, MADV_POPULATE_READ);
                        start = relro_end;
                }
                populate(start, end, MADV_POPULATE_WRITE);
        }
        return 1; /* the first object is the program itself */
}

static uint64_t now_nsec(void) {
        struct timespec ts;
        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* The cost of this run's first write faults, on pages of a fresh heap
 * block that nothing has touched yet (malloc writes a header at each end of
 * a chunk, not in its middle). The block is given back, populated or not,
 * and the next allocations are carved from it. */
static bool faults_are_dear(void) {
        uintptr_t ps = page_size();
        if (HEAP_START < 4 * ps)
                return false;
        char *p = malloc(HEAP_START);
        if (!p)
                return false;
        uintptr_t probe = ((uintptr_t) p + HEAP_START / 2) & ~(ps - 1);
        uint64_t best = UINT64_MAX;
        for (unsigned i = 0; i < 2; i++) {
                uint64_t t0 = now_nsec();
                *(volatile char *) (probe + i * ps) = 0;
                uint64_t t = now_nsec() - t0;
                if (t < best)
                        best = t;
        }
        free(p);
        return best > FAULT_DEAR_NSEC;
}

void prefault_startup(const void *caller_frame) {
#if !defined(__SANITIZE_ADDRESS__)
        /* Large blocks from the heap too, and a free never gives memory
         * back: what prefault_heap() populated stays for the whole run
         * (a hook lives milliseconds; its peak is its footprint anyway).
         * Worth it wherever the hook runs: a block freed and taken again
         * is not unmapped and faulted in anew. */
        (void) mallopt(M_MMAP_THRESHOLD, HEAP_RESERVE_MAX);
        (void) mallopt(M_TRIM_THRESHOLD, 4 * HEAP_RESERVE_MAX);
#endif
        if (!faults_are_dear())
                return;

        (void) dl_iterate_phdr(populate_segments, NULL);

        /* from below this frame up to the caller's (main's large locals) */
        volatile char here = 0;
        uintptr_t sp = (uintptr_t) &here, top = (uintptr_t) caller_frame;
        if (top < sp || top - sp > STACK_PREFAULT)
                top = sp;
        populate(sp - STACK_PREFAULT, top, MADV_POPULATE_WRITE);

        prefault_heap(HEAP_START);
}

void prefault_heap(size_t bytes) {
#if !defined(__SANITIZE_ADDRESS__)
        if (bytes > HEAP_RESERVE_MAX)
                bytes = HEAP_RESERVE_MAX;
        /* Taken from the top of the heap and given back at once: the pages
         * stay mapped, and the allocations that follow are carved from
         * them. */
        void *p = malloc(bytes);
        if (!p)
                return;
        populate((uintptr_t) p, (uintptr_t) p + bytes, MADV_POPULATE_WRITE);
        free(p);
#else
        (void) bytes;
#endif
}
