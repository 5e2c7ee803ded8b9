/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "reclaim.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "util.h"

static void on_alarm(int sig) { (void) sig; }

/* A timer whose SIGALRM has no SA_RESTART: a blocking write into
 * memory.reclaim or a sysctl returns EINTR when it fires. The kernel's
 * reclaim loop checks for pending signals (memory_reclaim:
 * signal_pending → -EINTR). */
struct deadline {
        struct sigaction old;
        bool armed;
};

static void deadline_arm(struct deadline *d, uint64_t ms) {
        struct sigaction sa = { .sa_handler = on_alarm };
        sigemptyset(&sa.sa_mask);
        d->armed = sigaction(SIGALRM, &sa, &d->old) == 0;
        struct itimerval it = { .it_value = { .tv_sec = (time_t) (ms / 1000), .tv_usec = (suseconds_t) ((ms % 1000) * 1000) } };
        if (d->armed && setitimer(ITIMER_REAL, &it, NULL) < 0)
                d->armed = false;
}

static void deadline_disarm(struct deadline *d) {
        if (!d->armed)
                return;
        struct itimerval off = {0};
        (void) setitimer(ITIMER_REAL, &off, NULL);
        (void) sigaction(SIGALRM, &d->old, NULL);
        d->armed = false;
}

/* One write(2), no EINTR retry: EINTR is the deadline. */
static int write_once_at(int dirfd, const char *file, const char *value) {
        _cleanup_close_ int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, value, strlen(value));
        if (n < 0)
                return -errno;
        return 0;
}

int write_bounded(const char *path, const char *value, uint64_t timeout_ms) {
        struct deadline d = {0};
        deadline_arm(&d, timeout_ms);
        int r = write_once_at(AT_FDCWD, path, value);
        deadline_disarm(&d);
        return r;
}

int reclaim_memcg(int cgfd, uint64_t bytes, uint64_t timeout_ms, struct reclaim_result *ret) {
        struct reclaim_result res = { .swappiness_arg = true };
        uint64_t start = now_usec_monotonic(), budget = timeout_ms * 1000u;
        while (res.reclaimed < bytes) {
                uint64_t spent = now_usec_monotonic() - start;
                if (spent >= budget) {
                        res.timed_out = true;
                        break;
                }
                uint64_t chunk = bytes - res.reclaimed;
                if (chunk > RECLAIM_CHUNK_BYTES)
                        chunk = RECLAIM_CHUNK_BYTES;
                char value[64];
                snprintf(value, sizeof value, res.swappiness_arg ? "%" PRIu64 " swappiness=0" : "%" PRIu64, chunk);
                struct deadline d = {0};
                uint64_t left_ms = (budget - spent + 999) / 1000;
                deadline_arm(&d, left_ms ? left_ms : 1);
                int r = write_once_at(cgfd, "memory.reclaim", value);
                deadline_disarm(&d);
                if (r == -EINVAL && res.swappiness_arg) {
                        /* Kernels before 6.11 know no swappiness= key. */
                        res.swappiness_arg = false;
                        continue;
                }
                if (r == -EAGAIN) {
                        res.stopped_eagain = true;
                        break;
                }
                if (r == -EINTR) {
                        res.timed_out = true;
                        break;
                }
                if (r < 0) {
                        res.error = r;
                        break;
                }
                res.reclaimed += chunk;
                res.chunks++;
        }
        *ret = res;
        return res.error;
}
