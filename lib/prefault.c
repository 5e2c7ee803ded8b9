/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Why a hook prefaults its own pages.
 *
 * On the virtual machines CI runners and build agents live in, a page fault
 * can trap to the hypervisor. On the bench machine (a Firecracker guest,
 * pti=on) one fault costs 11-13 us, even for a page already in the page
 * cache or the shared zero page, while madvise(MADV_POPULATE_*) maps pages
 * at 0.1-0.6 us each in one call. A start took 79 faults (perf), nearly a
 * third of its time; /bin/true, the floor the hook is measured against,
 * takes 48.
 *
 * What is populated is what nearly every run touches: the binary's
 * segments (text by fault-around 16 pages at a time otherwise; data and bss
 * page by page), STACK_PREFAULT below the current frame, and HEAP_START of
 * heap.
 * On bare metal a fault is ~0.2 us and this costs about as much as it
 * saves. It runs before anything else, before the seccomp filter. */
#include "prefault.h"

#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
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

void prefault_startup(const void *caller_frame) {
        (void) dl_iterate_phdr(populate_segments, NULL);

        /* from below this frame up to the caller's (main's large locals) */
        volatile char here = 0;
        uintptr_t sp = (uintptr_t) &here, top = (uintptr_t) caller_frame;
        if (top < sp || top - sp > STACK_PREFAULT)
                top = sp;
        populate(sp - STACK_PREFAULT, top, MADV_POPULATE_WRITE);

#if !defined(__SANITIZE_ADDRESS__)
        /* Large blocks from the heap too, and a free never gives memory
         * back: what prefault_heap() populated stays for the whole run
         * (a hook lives milliseconds; its peak is its footprint anyway). */
        (void) mallopt(M_MMAP_THRESHOLD, HEAP_RESERVE_MAX);
        (void) mallopt(M_TRIM_THRESHOLD, 4 * HEAP_RESERVE_MAX);
        prefault_heap(HEAP_START);
#endif
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
