/* SPDX-License-Identifier: GPL-2.0-or-later */
/* flockwait.so: LD_PRELOAD for the 64-concurrent-starts bench.  Measures how
 * long a hook waits for the ledger lock: from its first flock(LOCK_EX) call
 * on a descriptor to the call that gets it (the hook polls with LOCK_NB and
 * sleeps in between), and appends "<wait_us> <attempts>\n" to the file named
 * by MEMGUARD_BENCH_LOCKLOG with one write(2) on an O_APPEND descriptor.
 * Bench only: never installed, never linked into the product. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static uint64_t first_ns;
static unsigned attempts;

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

int flock(int fd, int op) {
        static int (*real)(int, int);
        if (!real)
                real = (int (*)(int, int)) dlsym(RTLD_NEXT, "flock");
        if (!(op & LOCK_EX))
                return real(fd, op);
        uint64_t t = now_ns();
        if (!attempts)
                first_ns = t;
        attempts++;
        int r = real(fd, op);
        if (r == 0) {
                int saved = errno;
                const char *p = getenv("MEMGUARD_BENCH_LOCKLOG");
                if (p) {
                        int lf = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
                        if (lf >= 0) {
                                char line[64];
                                int n = snprintf(line, sizeof line, "%.1f %u\n", (double) (now_ns() - first_ns) / 1000.0, attempts);
                                if (n > 0)
                                        (void) !write(lf, line, (size_t) n);
                                close(lf);
                        }
                }
                attempts = 0;
                errno = saved;
        }
        return r;
}
