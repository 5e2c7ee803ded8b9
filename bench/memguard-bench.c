/* SPDX-License-Identifier: GPL-2.0-or-later */
/* memguard-bench: times fork+exec+wait of commands, for `make bench`.
 *
 *   memguard-bench ab --rounds R --iters M [--warmup W] [--label L] CMD CMD...
 *   memguard-bench burst --n N --bursts B [--label L] [--lock-log F] [--reset SCRIPT] [--stdin-fmt FMT] -- ARGV...
 *
 * A CMD is: @NAME [stdin=FILE] [pre=SCRIPT] [prestdin=FILE] -- ARGV...
 *   (ARGV ends at the next @NAME or at the end).  pre=SCRIPT runs untimed
 *   (/bin/sh SCRIPT) before every timed exec of that command, stdin from
 *   prestdin=FILE; e.g. the start that makes a record for a timed poststop,
 *   or a fresh copy of config.json for the wrapper.
 *
 * ab: R rounds; in each round every command runs M times in a row, and the
 * order of the commands rotates from round to round (A B, B A, ...), so slow
 * drifts of a noisy machine hit all of them alike.  Each exec is timed with
 * CLOCK_MONOTONIC around fork → execv → wait4.  Reported per command: the
 * median and quartiles of all execs, the per-round medians; per command
 * against the first one (the baseline): the ratio of the round medians,
 * its median, quartiles and min/max across rounds, and the difference in
 * microseconds; the largest ru_maxrss of the children; how many execs
 * failed (non-zero exit).  One JSON object on stdout, a table on stderr.
 *
 * burst: N children wait on one pipe, are released together and exec ARGV
 * (stdin from the file FMT with %d = 0..N-1).  Per burst the wall time until
 * the last one is reaped; per hook its latency from the release.  With
 * --lock-log F the driver summarises F, where bench/flockwait.so (put in
 * LD_PRELOAD by the caller) appends one line per hook: how long it waited
 * for the ledger's flock and in how many attempts.  --reset SCRIPT runs
 * untimed between bursts. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CMDS 16

struct cmd {
        const char *name;
        const char *stdin_file;
        const char *pre;
        const char *pre_stdin;
        char **argv;
        double *samples; /* microseconds, all rounds */
        size_t n_samples;
        double *round_med;
        long max_rss_kb;
        unsigned failures;
        int last_status;
};

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void die(const char *msg) {
        fprintf(stderr, "memguard-bench: %s\n", msg);
        exit(2);
}

static void child_io(const char *stdin_file, bool quiet) {
        int fd = open(stdin_file ? stdin_file : "/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || dup2(fd, 0) < 0)
                _exit(126);
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, 1) < 0 || (quiet && dup2(null, 2) < 0))
                _exit(126);
}

/* fork, exec, wait; returns microseconds or -1. */
static double run_once(char **argv, const char *stdin_file, int *ret_status, struct rusage *ret_ru) {
        uint64_t t0 = now_ns();
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                child_io(stdin_file, true);
                execv(argv[0], argv);
                _exit(127);
        }
        int status;
        struct rusage ru;
        while (wait4(pid, &status, 0, &ru) < 0)
                if (errno != EINTR)
                        return -1;
        uint64_t t1 = now_ns();
        *ret_status = status;
        if (ret_ru)
                *ret_ru = ru;
        return (double) (t1 - t0) / 1000.0;
}

static void run_pre(const struct cmd *c) {
        if (!c->pre)
                return;
        char *argv[] = { (char *) "/bin/sh", (char *) c->pre, NULL };
        int st;
        if (run_once(argv, c->pre_stdin, &st, NULL) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                die("a pre= script failed");
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

/* Quantile by linear interpolation on a sorted copy. */
static double quantile(const double *v, size_t n, double q) {
        if (n == 0)
                return 0;
        double *s = malloc(n * sizeof *s);
        if (!s)
                die("out of memory");
        memcpy(s, v, n * sizeof *s);
        qsort(s, n, sizeof *s, cmp_double);
        double pos = q * (double) (n - 1);
        size_t i = (size_t) pos;
        double f = pos - (double) i;
        double r = i + 1 < n ? s[i] + f * (s[i + 1] - s[i]) : s[i];
        free(s);
        return r;
}

static double vmin(const double *v, size_t n) {
        double m = v[0];
        for (size_t i = 1; i < n; i++)
                m = v[i] < m ? v[i] : m;
        return m;
}

static double vmax(const double *v, size_t n) {
        double m = v[0];
        for (size_t i = 1; i < n; i++)
                m = v[i] > m ? v[i] : m;
        return m;
}

static unsigned long parse_ul(const char *s, const char *what) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || !*s)
                die(what);
        return v;
}

static void json_str(const char *s) {
        putchar('"');
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        printf("\\%c", *s);
                else if ((unsigned char) *s < 0x20)
                        printf("\\u%04x", *s);
                else
                        putchar(*s);
        }
        putchar('"');
}

/* ---- ab ---------------------------------------------------------------- */

static int parse_cmds(int argc, char **argv, int i, struct cmd *cmds, size_t *ret_n) {
        size_t n = 0;
        while (i < argc) {
                if (argv[i][0] != '@')
                        die("expected @NAME");
                if (n == MAX_CMDS)
                        die("too many commands");
                struct cmd *c = &cmds[n++];
                *c = (struct cmd) { .name = argv[i] + 1 };
                for (i++; i < argc && strcmp(argv[i], "--"); i++) {
                        if (!strncmp(argv[i], "stdin=", 6))
                                c->stdin_file = argv[i] + 6;
                        else if (!strncmp(argv[i], "pre=", 4))
                                c->pre = argv[i] + 4;
                        else if (!strncmp(argv[i], "prestdin=", 9))
                                c->pre_stdin = argv[i] + 9;
                        else
                                die("unknown command option (stdin= pre= prestdin=)");
                }
                if (i >= argc)
                        die("missing -- before ARGV");
                i++;
                int start = i;
                while (i < argc && argv[i][0] != '@')
                        i++;
                if (i == start)
                        die("empty ARGV");
                c->argv = calloc((size_t) (i - start + 1), sizeof(char *));
                if (!c->argv)
                        die("out of memory");
                for (int k = start; k < i; k++)
                        c->argv[k - start] = argv[k];
                if (c->argv[0][0] != '/')
                        die("ARGV[0] must be an absolute path (no PATH lookup: it would be timed)");
        }
        *ret_n = n;
        return 0;
}

static int main_ab(int argc, char **argv) {
        unsigned long rounds = 10, iters = 500, warmup = 20;
        const char *label = "ab";
        int i = 2;
        for (; i < argc && argv[i][0] == '-'; i += 2) {
                if (i + 1 >= argc)
                        die("option needs a value");
                if (!strcmp(argv[i], "--rounds"))
                        rounds = parse_ul(argv[i + 1], "--rounds");
                else if (!strcmp(argv[i], "--iters"))
                        iters = parse_ul(argv[i + 1], "--iters");
                else if (!strcmp(argv[i], "--warmup"))
                        warmup = parse_ul(argv[i + 1], "--warmup");
                else if (!strcmp(argv[i], "--label"))
                        label = argv[i + 1];
                else
                        die("unknown option");
        }
        if (rounds < 1 || iters < 1)
                die("--rounds and --iters must be >= 1");
        struct cmd cmds[MAX_CMDS];
        size_t n;
        parse_cmds(argc, argv, i, cmds, &n);
        if (n < 1)
                die("no command");
        for (size_t c = 0; c < n; c++) {
                cmds[c].samples = calloc(rounds * iters, sizeof(double));
                cmds[c].round_med = calloc(rounds, sizeof(double));
                if (!cmds[c].samples || !cmds[c].round_med)
                        die("out of memory");
        }
        /* Warm-up: page cache, dynamic loader caches; untimed. */
        for (size_t c = 0; c < n; c++)
                for (unsigned long w = 0; w < warmup; w++) {
                        int st;
                        run_pre(&cmds[c]);
                        if (run_once(cmds[c].argv, cmds[c].stdin_file, &st, NULL) < 0)
                                die("fork/exec failed");
                }
        double *round_buf = calloc(iters, sizeof(double));
        if (!round_buf)
                die("out of memory");
        for (unsigned long r = 0; r < rounds; r++) {
                for (size_t k = 0; k < n; k++) {
                        struct cmd *c = &cmds[(k + r) % n];
                        for (unsigned long it = 0; it < iters; it++) {
                                run_pre(c);
                                int st;
                                struct rusage ru;
                                double us = run_once(c->argv, c->stdin_file, &st, &ru);
                                if (us < 0)
                                        die("fork/exec failed");
                                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                                        c->failures++;
                                        c->last_status = st;
                                }
                                if (ru.ru_maxrss > c->max_rss_kb)
                                        c->max_rss_kb = ru.ru_maxrss;
                                round_buf[it] = us;
                                c->samples[c->n_samples++] = us;
                        }
                        c->round_med[r] = quantile(round_buf, iters, 0.5);
                }
        }
        /* JSON */
        printf("{\"label\":");
        json_str(label);
        printf(",\"rounds\":%lu,\"iters\":%lu,\"commands\":[", rounds, iters);
        fprintf(stderr, "%-22s %10s %10s %10s %9s %8s %8s %8s %8s %7s\n", label, "median_us", "p25_us", "p75_us", "rss_kb",
                "ratio", "r_p25", "r_p75", "r_max", "fail");
        for (size_t c = 0; c < n; c++) {
                struct cmd *x = &cmds[c];
                double med = quantile(x->samples, x->n_samples, 0.5);
                double p25 = quantile(x->samples, x->n_samples, 0.25), p75 = quantile(x->samples, x->n_samples, 0.75);
                double p90 = quantile(x->samples, x->n_samples, 0.90), p99 = quantile(x->samples, x->n_samples, 0.99);
                double ratios[rounds], diffs[rounds];
                for (unsigned long r = 0; r < rounds; r++) {
                        ratios[r] = x->round_med[r] / cmds[0].round_med[r];
                        diffs[r] = x->round_med[r] - cmds[0].round_med[r];
                }
                printf("%s{\"name\":", c ? "," : "");
                json_str(x->name);
                printf(",\"median_us\":%.1f,\"p25_us\":%.1f,\"p75_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"min_us\":%.1f,\"max_us\":%.1f",
                       med, p25, p75, p90, p99, vmin(x->samples, x->n_samples), vmax(x->samples, x->n_samples));
                printf(",\"round_medians_us\":[");
                for (unsigned long r = 0; r < rounds; r++)
                        printf("%s%.1f", r ? "," : "", x->round_med[r]);
                printf("],\"ratio_to_first\":{\"median\":%.4f,\"p25\":%.4f,\"p75\":%.4f,\"min\":%.4f,\"max\":%.4f}",
                       quantile(ratios, rounds, 0.5), quantile(ratios, rounds, 0.25), quantile(ratios, rounds, 0.75), vmin(ratios, rounds),
                       vmax(ratios, rounds));
                printf(",\"diff_to_first_us\":{\"median\":%.1f,\"p25\":%.1f,\"p75\":%.1f,\"min\":%.1f,\"max\":%.1f}",
                       quantile(diffs, rounds, 0.5), quantile(diffs, rounds, 0.25), quantile(diffs, rounds, 0.75), vmin(diffs, rounds),
                       vmax(diffs, rounds));
                printf(",\"max_rss_kb\":%ld,\"failures\":%u,\"last_failed_status\":%d}", x->max_rss_kb, x->failures, x->last_status);
                fprintf(stderr, "  %-20s %10.1f %10.1f %10.1f %9ld %8.3f %8.3f %8.3f %8.3f %7u\n", x->name, med, p25, p75, x->max_rss_kb,
                        quantile(ratios, rounds, 0.5), quantile(ratios, rounds, 0.25), quantile(ratios, rounds, 0.75), vmax(ratios, rounds),
                        x->failures);
        }
        printf("]}\n");
        return 0;
}

/* ---- burst ------------------------------------------------------------- */

static int main_burst(int argc, char **argv) {
        unsigned long n = 64, bursts = 10;
        const char *label = "burst", *lock_log = NULL, *reset = NULL, *stdin_fmt = NULL;
        int i = 2;
        for (; i < argc && strcmp(argv[i], "--"); i += 2) {
                if (i + 1 >= argc)
                        die("option needs a value");
                if (!strcmp(argv[i], "--n"))
                        n = parse_ul(argv[i + 1], "--n");
                else if (!strcmp(argv[i], "--bursts"))
                        bursts = parse_ul(argv[i + 1], "--bursts");
                else if (!strcmp(argv[i], "--label"))
                        label = argv[i + 1];
                else if (!strcmp(argv[i], "--lock-log"))
                        lock_log = argv[i + 1];
                else if (!strcmp(argv[i], "--reset"))
                        reset = argv[i + 1];
                else if (!strcmp(argv[i], "--stdin-fmt"))
                        stdin_fmt = argv[i + 1];
                else
                        die("unknown option");
        }
        if (i >= argc || !argv[i + 1] || argv[i + 1][0] != '/')
                die("burst: -- /ABS/ARGV... required");
        char **cargv = argv + i + 1;
        if (n < 1 || n > 4096 || bursts < 1)
                die("bad --n/--bursts");
        double *lat = calloc(n * bursts, sizeof(double));
        double *wall = calloc(bursts, sizeof(double));
        pid_t *pids = calloc(n, sizeof(pid_t));
        if (!lat || !wall || !pids)
                die("out of memory");
        unsigned failures = 0;
        long max_rss = 0;
        size_t nl = 0;
        if (lock_log)
                (void) unlink(lock_log);
        for (unsigned long b = 0; b < bursts; b++) {
                if (reset) {
                        struct cmd rc = { .pre = reset };
                        run_pre(&rc);
                }
                int go[2];
                if (pipe2(go, O_CLOEXEC) < 0)
                        die("pipe");
                for (unsigned long k = 0; k < n; k++) {
                        char in[4096];
                        if (stdin_fmt)
                                snprintf(in, sizeof in, stdin_fmt, (int) k);
                        pid_t pid = fork();
                        if (pid < 0)
                                die("fork");
                        if (pid == 0) {
                                close(go[1]);
                                char c;
                                /* released when the parent closes the write end */
                                while (read(go[0], &c, 1) < 0 && errno == EINTR)
                                        ;
                                child_io(stdin_fmt ? in : NULL, true);
                                execv(cargv[0], cargv);
                                _exit(127);
                        }
                        pids[k] = pid;
                }
                usleep(20000); /* let every child reach read() */
                uint64_t t0 = now_ns();
                close(go[1]);
                close(go[0]);
                for (unsigned long k = 0; k < n; k++) {
                        int st;
                        struct rusage ru;
                        pid_t p;
                        while ((p = wait4(-1, &st, 0, &ru)) < 0 && errno == EINTR)
                                ;
                        if (p < 0)
                                die("wait4");
                        uint64_t t = now_ns();
                        lat[nl++] = (double) (t - t0) / 1000.0;
                        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                                failures++;
                        if (ru.ru_maxrss > max_rss)
                                max_rss = ru.ru_maxrss;
                }
                wall[b] = (double) (now_ns() - t0) / 1000.0;
        }
        /* lock waits: one line per hook, "<wait_us> <attempts>" */
        double *lw = NULL;
        size_t n_lw = 0, cap = 0;
        if (lock_log) {
                FILE *f = fopen(lock_log, "re");
                if (f) {
                        double w;
                        unsigned a;
                        while (fscanf(f, "%lf %u", &w, &a) == 2) {
                                if (n_lw == cap) {
                                        cap = cap ? cap * 2 : 256;
                                        lw = realloc(lw, cap * sizeof *lw);
                                        if (!lw)
                                                die("out of memory");
                                }
                                lw[n_lw++] = w;
                        }
                        fclose(f);
                }
        }
        double thr[bursts];
        for (unsigned long b = 0; b < bursts; b++)
                thr[b] = (double) n / (wall[b] / 1e6);
        printf("{\"label\":");
        json_str(label);
        printf(",\"n\":%lu,\"bursts\":%lu,\"wall_ms\":{\"median\":%.2f,\"min\":%.2f,\"max\":%.2f}", n, bursts,
               quantile(wall, bursts, 0.5) / 1000, vmin(wall, bursts) / 1000, vmax(wall, bursts) / 1000);
        printf(",\"throughput_per_s\":{\"median\":%.0f,\"min\":%.0f,\"max\":%.0f}", quantile(thr, bursts, 0.5), vmin(thr, bursts),
               vmax(thr, bursts));
        printf(",\"latency_ms\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"max\":%.2f,\"min\":%.2f}", quantile(lat, nl, 0.5) / 1000,
               quantile(lat, nl, 0.9) / 1000, quantile(lat, nl, 0.99) / 1000, vmax(lat, nl) / 1000, vmin(lat, nl) / 1000);
        double lw_sum = 0;
        for (size_t k = 0; k < n_lw; k++)
                lw_sum += lw[k];
        if (n_lw)
                printf(",\"lock_wait_ms\":{\"hooks\":%zu,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"max\":%.2f,\"mean\":%.3f}", n_lw,
                       quantile(lw, n_lw, 0.5) / 1000, quantile(lw, n_lw, 0.9) / 1000, quantile(lw, n_lw, 0.99) / 1000,
                       vmax(lw, n_lw) / 1000, lw_sum / (double) n_lw / 1000);
        printf(",\"max_rss_kb\":%ld,\"failures\":%u}\n", max_rss, failures);
        fprintf(stderr, "%s: %lu x %lu: wall median %.1f ms, %.0f hooks/s; latency p50 %.1f p90 %.1f p99 %.1f max %.1f ms%s\n", label, bursts,
                n, quantile(wall, bursts, 0.5) / 1000, quantile(thr, bursts, 0.5), quantile(lat, nl, 0.5) / 1000,
                quantile(lat, nl, 0.9) / 1000, quantile(lat, nl, 0.99) / 1000, vmax(lat, nl) / 1000, failures ? " (FAILURES)" : "");
        if (n_lw)
                fprintf(stderr, "%s: lock wait p50 %.2f p90 %.2f p99 %.2f max %.2f ms (%zu hooks)\n", label, quantile(lw, n_lw, 0.5) / 1000,
                        quantile(lw, n_lw, 0.9) / 1000, quantile(lw, n_lw, 0.99) / 1000, vmax(lw, n_lw) / 1000, n_lw);
        return 0;
}

int main(int argc, char **argv) {
        if (argc >= 2 && !strcmp(argv[1], "ab"))
                return main_ab(argc, argv);
        if (argc >= 2 && !strcmp(argv[1], "burst"))
                return main_burst(argc, argv);
        fprintf(stderr, "usage: memguard-bench ab [--rounds R] [--iters M] [--warmup W] [--label L] @NAME [stdin=F] [pre=S] [prestdin=F] -- ARGV... [@NAME ...]\n"
                        "       memguard-bench burst [--n N] [--bursts B] [--label L] [--lock-log F] [--reset S] [--stdin-fmt FMT] -- ARGV...\n");
        return 2;
}
