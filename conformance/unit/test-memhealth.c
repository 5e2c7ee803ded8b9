/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the build guard's pieces: /proc/buddyinfo and /proc/zoneinfo
 * parsing, the verdict, memory.reclaim in chunks with the swappiness=
 * fallback (EINVAL, < 6.11), EAGAIN as a stop, the timer, and sysctl writes
 * bounded by a child process. A fixture file cannot answer EINVAL or EAGAIN:
 * the write is replaced through reclaim_set_write_fn. TAP output. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memhealth.h"
#include "reclaim.h"
#include "util.h"
#include "test-helpers.h"

/* The CI host's own buddyinfo (6.18, 2 cores, 24G). */
static const char host_buddy[] =
        "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n"
        "Node 0, zone    DMA32      1      2      4      2      5      4      3      3      4      2    752 \n"
        "Node 0, zone   Normal    844   2670   2117   1455    874    349     75     80     96     39    193 \n";

static void test_buddyinfo(void) {
        uint64_t free_pages, blocks;
        CHECK(memhealth_parse_buddyinfo(host_buddy, 4, &free_pages, &blocks) == 0, "host buddyinfo parses");
        /* DMA is not counted; order >= 4 blocks of DMA32 + Normal */
        uint64_t want_blocks = (5 + 4 + 3 + 3 + 4 + 2 + 752) + (874 + 349 + 75 + 80 + 96 + 39 + 193);
        CHECK(blocks == want_blocks, "blocks at order >= 4: %llu (want %llu)", (unsigned long long) blocks, (unsigned long long) want_blocks);
        uint64_t want_free = 0;
        const unsigned long long dma32[] = { 1, 2, 4, 2, 5, 4, 3, 3, 4, 2, 752 }, normal[] = { 844, 2670, 2117, 1455, 874, 349, 75, 80, 96, 39, 193 };
        for (unsigned k = 0; k < 11; k++)
                want_free += (dma32[k] + normal[k]) << k;
        CHECK(free_pages == want_free, "free pages of DMA32 + Normal: %llu", (unsigned long long) free_pages);
        CHECK(memhealth_parse_buddyinfo(host_buddy, 10, &free_pages, &blocks) == 0 && blocks == 752 + 193, "order 10: only the top column");
        CHECK(memhealth_parse_buddyinfo("Node 0, zone   Normal   10 10 10 10 0 0 0 0 0 0 0\n", 4, &free_pages, &blocks) == 0 && blocks == 0,
              "no block of order >= 4: fragmented");
        CHECK(memhealth_parse_buddyinfo("Node 0, zone      DMA      1 1 1 1 1 1 1 1 1 1 1\n", 4, &free_pages, &blocks) == -ENODATA,
              "only DMA: no data (the verdict does not say fragmented)");
        CHECK(memhealth_parse_buddyinfo("", 4, &free_pages, &blocks) == -ENODATA, "empty");
        CHECK(memhealth_parse_buddyinfo("Node 0, zone Normal 1 2 x\nNode 1, zone Normal 0 0 0 0 7\n", 4, &free_pages, &blocks) == 0 &&
                      blocks == 7 && free_pages == 1 + 4 + (7u << 4),
              "garbage stops a line, the next node still counts");
        CHECK(memhealth_parse_buddyinfo("Node 0, zone Normal 1 1 1 1 1 1 1 1 1 1 1 99 99\n", 4, &free_pages, &blocks) == 0 && blocks == 7,
              "columns past MAX_ORDER are ignored");
}

static void test_zoneinfo(void) {
        const char zi[] = "Node 0, zone      DMA\n  pages free     3840\n        min      13\n        low      16\n        high     19\n"
                          "Node 0, zone    DMA32\n  pages free     771000\n        min      1200\n        low      1500\n        high     1800\n"
                          "Node 0, zone   Normal\n  pages free     100000\n        min      1000\n        low      1250\n        high     1500\n"
                          "      nr_free_pages 100000\n";
        uint64_t high = 0;
        CHECK(memhealth_parse_zoneinfo(zi, &high) == 0 && high == 3300, "high watermarks of DMA32 + Normal: %llu", (unsigned long long) high);
        CHECK(memhealth_parse_zoneinfo("Node 0, zone DMA\n high 5\n", &high) == -ENODATA, "only DMA: no data");
}

static void test_judge(void) {
        struct memhealth h = { .mem_total = 16ull << 30, .mem_available = 8ull << 30, .have_buddy = true, .blocks_at_order = 3 };
        CHECK(memhealth_judge(&h, 1ull << 30) == MEMHEALTH_HEALTHY, "healthy");
        CHECK(memhealth_judge(&h, 9ull << 30) == MEMHEALTH_SHORT, "short");
        h.blocks_at_order = 0;
        CHECK(memhealth_judge(&h, 1ull << 30) == MEMHEALTH_FRAGMENTED, "fragmented");
        CHECK(memhealth_judge(&h, 9ull << 30) == MEMHEALTH_SHORT_AND_FRAGMENTED, "short and fragmented");
        h.have_buddy = false;
        CHECK(memhealth_judge(&h, 1ull << 30) == MEMHEALTH_HEALTHY, "no buddyinfo: never called fragmented");
        CHECK(STREQ(memhealth_verdict_name(MEMHEALTH_SHORT_AND_FRAGMENTED), "short+fragmented"), "names");
}

/* ---- memory.reclaim with a fake kernel --------------------------------- */

static char writes[16][64];
static unsigned n_writes;
static bool fake_knows_swappiness;
static unsigned fake_eagain_at; /* 1-based write that answers EAGAIN, 0 never */
static int fake_error;

static int fake_write(int dirfd, const char *file, const char *value) {
        (void) dirfd;
        if (!STREQ(file, "memory.reclaim"))
                return -ENOENT;
        if (n_writes < 16)
                snprintf(writes[n_writes], sizeof writes[0], "%s", value);
        n_writes++;
        if (fake_error)
                return fake_error;
        if (!fake_knows_swappiness && strstr(value, "swappiness="))
                return -EINVAL;
        if (fake_eagain_at && n_writes == fake_eagain_at)
                return -EAGAIN;
        return 0;
}

static int slow_write(int dirfd, const char *file, const char *value) {
        (void) dirfd, (void) file, (void) value;
        pause(); /* until the deadline's SIGALRM: EINTR, no SA_RESTART */
        return -errno;
}

static void fake_reset(bool knows_swappiness) {
        n_writes = 0;
        memset(writes, 0, sizeof writes);
        fake_knows_swappiness = knows_swappiness;
        fake_eagain_at = 0;
        fake_error = 0;
        reclaim_reset_kernel_knowledge();
        reclaim_set_write_fn(fake_write);
}

static void test_reclaim(void) {
        struct reclaim_result rr;
        const uint64_t M = 1ull << 20;

        fake_reset(true);
        CHECK(reclaim_memcg(-1, 1000 * M, 2000, &rr) == 0 && rr.reclaimed == 1000 * M && rr.chunks == 4 && rr.swappiness_arg,
              ">= 6.11: 1000M in 4 chunks with swappiness=0");
        CHECK(n_writes == 4 && STREQ(writes[0], "268435456 swappiness=0") && STREQ(writes[3], "243269632 swappiness=0"),
              "chunks of 256M, the remainder last: '%s' .. '%s'", writes[0], writes[3]);

        fake_reset(false);
        CHECK(reclaim_memcg(-1, 300 * M, 2000, &rr) == 0 && rr.reclaimed == 300 * M && rr.chunks == 2 && !rr.swappiness_arg,
              "< 6.11: EINVAL on swappiness= retried without");
        CHECK(n_writes == 3 && STREQ(writes[0], "268435456 swappiness=0") && STREQ(writes[1], "268435456") && STREQ(writes[2], "46137344"),
              "one rejected write, then plain sizes: '%s', '%s', '%s'", writes[0], writes[1], writes[2]);
        /* remembered for the run: the next call does not ask again */
        n_writes = 0;
        CHECK(reclaim_memcg(-1, 4096, 2000, &rr) == 0 && n_writes == 1 && STREQ(writes[0], "4096") && !rr.swappiness_arg,
              "the kernel's answer is remembered for the run");

        fake_reset(true);
        fake_eagain_at = 2;
        CHECK(reclaim_memcg(-1, 1024 * M, 2000, &rr) == 0 && rr.stopped_eagain && rr.reclaimed == 256 * M && rr.chunks == 1 && n_writes == 2,
              "EAGAIN stops the loop (not an error): %llu bytes in %u chunk", (unsigned long long) rr.reclaimed, rr.chunks);

        fake_reset(true);
        fake_error = -EIO;
        CHECK(reclaim_memcg(-1, 1024 * M, 2000, &rr) == -EIO && rr.error == -EIO && rr.reclaimed == 0 && n_writes == 1, "other errors stop and are returned");

        fake_reset(false);
        fake_error = -EINVAL;
        CHECK(reclaim_memcg(-1, 4096, 2000, &rr) == -EINVAL && n_writes == 2, "EINVAL without swappiness= is an error, not a loop");

        reclaim_reset_kernel_knowledge();
        reclaim_set_write_fn(slow_write);
        uint64_t t0 = now_usec_monotonic();
        int r = reclaim_memcg(-1, 1024 * M, 150, &rr);
        uint64_t ms = (now_usec_monotonic() - t0) / 1000;
        CHECK(r == 0 && rr.timed_out && rr.reclaimed == 0 && ms >= 140 && ms < 1000, "a blocking write is interrupted by the timer (%llu ms)",
              (unsigned long long) ms);
        struct sigaction sa;
        CHECK(sigaction(SIGALRM, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL, "SIGALRM disposition restored");

        fake_reset(true);
        CHECK(reclaim_memcg(-1, 0, 2000, &rr) == 0 && n_writes == 0, "nothing to reclaim: no write");
        reclaim_set_write_fn(NULL);
}

/* The real write into a directory fd, as on cgroupfs. */
static void test_reclaim_file(const char *dir) {
        char p[4096];
        snprintf(p, sizeof p, "%s/memory.reclaim", dir);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        close(fd);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        struct reclaim_result rr;
        reclaim_reset_kernel_knowledge();
        CHECK(reclaim_memcg(dfd, 8192, 2000, &rr) == 0 && rr.chunks == 1, "a fixture memory.reclaim file takes the write");
        char *buf = NULL;
        CHECK(read_file_at(AT_FDCWD, p, 4096, &buf, NULL) == 0 && STREQ(buf, "8192 swappiness=0"), "content '%s'", buf ? buf : "(null)");
        free(buf);
        close(dfd);
}

/* ---- sysctl writes bounded by a child --------------------------------- */

static void test_write_bounded(const char *dir) {
        char p[4096], fifo[4096];
        snprintf(p, sizeof p, "%s/drop_caches", dir);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        close(fd);
        CHECK(write_bounded(p, "1", 2000, WRITE_BOUNDED_DETACH | WRITE_BOUNDED_SYNC_FIRST) == 0, "detached write to a file");
        char *buf = NULL;
        CHECK(read_file_at(AT_FDCWD, p, 64, &buf, NULL) == 0 && STREQ(buf, "1"), "the child wrote it");
        free(buf);
        snprintf(p, sizeof p, "%s/nonexistent", dir);
        CHECK(write_bounded(p, "1", 2000, WRITE_BOUNDED_DETACH) == -ENOENT, "a missing file fails at once, no O_CREAT");
        CHECK(write_bounded(p, "1", 2000, 0) == -ENOENT, "the same in-process");

        /* A write that cannot finish within the budget: a FIFO whose pipe
         * buffer is full. The child blocks in write(2) the way a child
         * blocks in drop_caches; the hook must go on without it. */
        snprintf(fifo, sizeof fifo, "%s/compact_memory", dir);
        CHECK(mkfifo(fifo, 0600) == 0, "fifo");
        int rd = open(fifo, O_RDONLY | O_NONBLOCK);
        int wr = open(fifo, O_WRONLY | O_NONBLOCK);
        char junk[4096];
        memset(junk, 'x', sizeof junk);
        while (write(wr, junk, sizeof junk) > 0)
                ;
        int canary[2];
        CHECK(pipe(canary) == 0, "canary pipe (stands for the runtime's stdout)");
        uint64_t t0 = now_usec_monotonic();
        int r = write_bounded(fifo, "1", 150, WRITE_BOUNDED_DETACH);
        uint64_t ms = (now_usec_monotonic() - t0) / 1000;
        CHECK(r == -ETIMEDOUT && ms >= 140 && ms < 1000, "out of time: -ETIMEDOUT after %llu ms, the child still blocked", (unsigned long long) ms);
        /* The child holds none of our descriptors: the canary's only
         * writer left is ours; closing it gives EOF at once. */
        close(canary[1]);
        struct pollfd pfd = { .fd = canary[0], .events = POLLIN };
        CHECK(poll(&pfd, 1, 1000) == 1 && (pfd.revents & (POLLHUP | POLLIN)) && read(canary[0], junk, 1) == 0,
              "the child closed every inherited descriptor (no pipe held open)");
        close(canary[0]);
        /* Drain: the child's write goes through, it exits 0. */
        fcntl(rd, F_SETFL, 0);
        size_t got = 0;
        bool saw_one = false;
        int status = -1;
        for (int i = 0; i < 200 && !saw_one; i++) {
                ssize_t n = read(rd, junk, sizeof junk);
                if (n <= 0)
                        break;
                got += (size_t) n;
                if (junk[n - 1] == '1')
                        saw_one = true;
        }
        pid_t w = wait(&status);
        CHECK(saw_one && w > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the background child finished the write later (%zu bytes drained)", got);
        close(wr);
        close(rd);

        /* In-process, a FIFO without reader blocks in open(2), interruptibly. */
        t0 = now_usec_monotonic();
        r = write_bounded(fifo, "1", 100, 0);
        ms = (now_usec_monotonic() - t0) / 1000;
        CHECK(r == -EINTR && ms < 1000, "in-process: the timer interrupts an interruptible wait (%llu ms)", (unsigned long long) ms);
        t0 = now_usec_monotonic();
        r = write_bounded(fifo, "1", 100, WRITE_BOUNDED_DETACH);
        ms = (now_usec_monotonic() - t0) / 1000;
        CHECK(r == -EINTR && ms < 1000, "detached: the open before the fork is bounded too (%llu ms)", (unsigned long long) ms);
        unlink(fifo);
}

int main(void) {
        char dir[] = "/tmp/test-memhealth.XXXXXX";
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        test_buddyinfo();
        test_zoneinfo();
        test_judge();
        test_reclaim();
        test_reclaim_file(dir);
        test_write_bounded(dir);
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                printf("# could not remove %s\n", dir);
        return test_report();
}
