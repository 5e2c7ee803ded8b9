/* SPDX-License-Identifier: GPL-2.0-or-later */
/* memhog MiB [active]: touches MiB of anonymous memory with non-zero data
 * (zero pages would be special-cased by zram), then either holds it idle
 * (a protected working set that pressure would like to steal) or, with
 * "active", keeps re-touching it (the noisy neighbour). Runs until killed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
        if (argc < 2)
                return 2;
        size_t mib = strtoul(argv[1], NULL, 10);
        int active = argc > 2 && strcmp(argv[2], "active") == 0;
        size_t len = mib << 20, page = (size_t) sysconf(_SC_PAGESIZE);
        unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return 1;
        /* no THP: protection is measured in base pages */
        madvise(p, len, MADV_NOHUGEPAGE);
        unsigned long round = 1;
        for (;;) {
                for (size_t off = 0; off < len; off += page)
                        p[off] = (unsigned char) (off / page + round) | 1;
                if (!active)
                        break;
                round++;
        }
        for (;;)
                pause();
}
