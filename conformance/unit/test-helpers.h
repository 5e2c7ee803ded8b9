/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* What every unit test shares: one TAP line per check ("ok N - what" or
 * "not ok N - what"), skips with their reason, and the plan and summary at
 * the end, which give the exit status. Each test is one program: the
 * counters are its own. */

#include <stdbool.h>
#include <stdio.h>

static unsigned n_pass, n_fail, n_test;

/* Starts the TAP line of one result: "ok N - " or "not ok N - ". */
static inline void test_result(bool ok) {
        n_test++;
        if (ok)
                n_pass++;
        else
                n_fail++;
        printf("%s %u - ", ok ? "ok" : "not ok", n_test);
}

/* CHECK(cond, fmt, ...): cond is evaluated once; the rest says what was
 * checked (printf). Flushed: some tests fork. */
#define CHECK(cond, ...)                           \
        do {                                       \
                test_result(!!(cond));             \
                printf(__VA_ARGS__);               \
                printf("\n");                      \
                fflush(stdout);                    \
        } while (0)

/* A case this host or build cannot run, and why (counts as passed). */
static inline void test_skip(const char *why) {
        n_test++;
        n_pass++;
        printf("ok %u - # SKIP %s\n", n_test, why);
        fflush(stdout);
}

/* The plan and the summary; main returns this: 1 when a check failed. */
static inline int test_report(void) {
        printf("1..%u\n# %u passed, %u failed\n", n_test, n_pass, n_fail);
        fflush(stdout);
        return n_fail ? 1 : 0;
}
