/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fragment MiB: fragments free memory the way a long-running host does.
 * Touches MiB of anonymous memory page by page (the buddy allocator hands
 * out physically neighbouring pages; more than is free takes the rest from
 * the page cache and swap), then gives back all but one page in every 16:
 * the memory is free again, but each 64 KiB block still holds a page, so no
 * free block of order 4 or above comes back. Prints "ready" and
 * holds the pinning pages until killed. Those pages are movable: compaction
 * can migrate them away, which is what the build guard's compact_memory is
 * for. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
        if (argc < 2)
                return 2;
        size_t len = strtoul(argv[1], NULL, 10) << 20, page = (size_t) sysconf(_SC_PAGESIZE);
        unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return 1;
        madvise(p, len, MADV_NOHUGEPAGE);
        for (size_t off = 0; off < len; off += page)
                p[off] = 1;
        size_t kept = 0;
        for (size_t off = 0; off < len; off += 16 * page) {
                size_t rest = len - off - page < 15 * page ? len - off - page : 15 * page;
                if (off + page < len && madvise(p + off + page, rest, MADV_DONTNEED) != 0)
                        return 1;
                kept++;
        }
        printf("ready: %zu pages of 4 KiB pin %zu blocks of 64 KiB\n", kept, kept);
        fflush(stdout);
        for (;;)
                pause();
}
