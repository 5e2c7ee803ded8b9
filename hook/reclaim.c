/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "reclaim.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static volatile sig_atomic_t deadline_fired;

static void on_alarm(int sig) {
        (void) sig;
        deadline_fired = 1;
}

/* A timer whose SIGALRM has no SA_RESTART: a blocking write into
 * memory.reclaim, or our wait for a child, returns EINTR when it fires. */
struct deadline {
        struct sigaction old;
        bool armed;
};

static void deadline_arm(struct deadline *d, uint64_t ms) {
        struct sigaction sa = { .sa_handler = on_alarm }; /* sa_flags 0: no SA_RESTART */
        sigemptyset(&sa.sa_mask);
        deadline_fired = 0;
        d->armed = sigaction(SIGALRM, &sa, &d->old) == 0;
        if (ms == 0)
                ms = 1;
        struct itimerval it = { .it_value = { .tv_sec = (time_t) (ms / 1000), .tv_usec = (suseconds_t) ((ms % 1000) * 1000) } };
        if (d->armed && setitimer(ITIMER_REAL, &it, NULL) < 0) {
                (void) sigaction(SIGALRM, &d->old, NULL);
                d->armed = false;
        }
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

static reclaim_write_fn reclaim_write = write_once_at;

void reclaim_set_write_fn(reclaim_write_fn fn) { reclaim_write = fn ? fn : write_once_at; }

/* Learnt once per run: the kernel rejected "swappiness=" with EINVAL. */
static bool kernel_rejects_swappiness_arg;

void reclaim_reset_kernel_knowledge(void) { kernel_rejects_swappiness_arg = false; }

/* The child of a detached write: nothing of the hook's stays open in it
 * (stdio are the runtime's pipes, which it reads to EOF before it goes on;
 * a ledger lock would stay held), then the write, then the errno as the
 * exit status. It runs under the hook's seccomp filter. */
_Noreturn static void detached_child(int fd, const char *value, unsigned flags) {
        for (int i = 0; i < 1024; i++)
                if (i != fd)
                        (void) close(i);
        if (flags & WRITE_BOUNDED_SYNC_FIRST)
                sync();
        ssize_t n = write(fd, value, strlen(value));
        _exit(n < 0 ? (errno & 0xff) : 0);
}

static int write_detached(const char *path, const char *value, uint64_t timeout_ms, unsigned flags) {
        uint64_t start = now_usec_monotonic();
        if (timeout_ms == 0)
                timeout_ms = 1;
        struct deadline d = {0};
        deadline_arm(&d, timeout_ms);
        /* Opened here so that a wrong path fails at once, with its errno
         * (and a FIFO fixture without reader is interrupted: -EINTR). */
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;
                deadline_disarm(&d);
                return r;
        }
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                deadline_disarm(&d);
                return r;
        }
        if (pid == 0)
                detached_child(fd, value, flags);
        /* The timer only bounds the open above. The wait is a poll against
         * the clock: a SIGALRM that fires before waitpid() blocks (fork can
         * take longer than a 1 ms budget) would interrupt nothing, and the
         * hook would wait for the whole write after all. */
        deadline_disarm(&d);
        uint64_t end = start + timeout_ms * 1000u, nap = 100;
        int status = 0, r;
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid) {
                        if (WIFEXITED(status))
                                r = WEXITSTATUS(status) ? -WEXITSTATUS(status) : 0;
                        else
                                r = -ECHILD; /* killed (e.g. SIGSYS): nothing known to be written */
                        break;
                }
                if (w < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                uint64_t now = now_usec_monotonic();
                if (now >= end) {
                        /* Out of time: the child finishes on its own and is
                         * reaped by whoever inherits it. */
                        r = -ETIMEDOUT;
                        break;
                }
                uint64_t left = end - now, us = nap < left ? nap : left;
                struct timespec ts = { .tv_sec = (time_t) (us / 1000000u), .tv_nsec = (long) (us % 1000000u) * 1000 };
                (void) nanosleep(&ts, NULL);
                if (nap < 10000)
                        nap *= 2; /* 0.1 ms doubling to 10 ms: quick writes answer quickly */
        }
        return r;
}

int write_bounded(const char *path, const char *value, uint64_t timeout_ms, unsigned flags) {
        if (flags & WRITE_BOUNDED_DETACH)
                return write_detached(path, value, timeout_ms, flags);
        /* In-process fallback (no fork allowed): sync is not bounded. */
        if (flags & WRITE_BOUNDED_SYNC_FIRST)
                sync();
        struct deadline d = {0};
        deadline_arm(&d, timeout_ms);
        int r = write_once_at(AT_FDCWD, path, value);
        deadline_disarm(&d);
        return r;
}

int reclaim_memcg(int cgfd, uint64_t bytes, uint64_t timeout_ms, struct reclaim_result *ret) {
        struct reclaim_result res = { .swappiness_arg = !kernel_rejects_swappiness_arg };
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
                int n = res.swappiness_arg ? snprintf(value, sizeof value, "%" PRIu64 " swappiness=0", chunk)
                                           : snprintf(value, sizeof value, "%" PRIu64, chunk);
                if (n < 0 || (size_t) n >= sizeof value) {
                        res.error = -ENAMETOOLONG;
                        break;
                }
                struct deadline d = {0};
                deadline_arm(&d, (budget - spent + 999) / 1000);
                int r = reclaim_write(cgfd, "memory.reclaim", value);
                deadline_disarm(&d);
                if (r == -EINVAL && res.swappiness_arg) {
                        /* Kernels before 6.11 know no swappiness= key
                         * (memory_reclaim: unknown token → -EINVAL). */
                        res.swappiness_arg = false;
                        kernel_rejects_swappiness_arg = true;
                        continue;
                }
                if (r == -EAGAIN) {
                        /* "If less bytes are reclaimed than the specified
                         * amount, -EAGAIN is returned": stop, not an error. */
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
