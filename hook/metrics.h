/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Prometheus metrics without a daemon: the counters live in the state dir
 * (metrics.json, a fixed set of series, rewritten under the ledger lock:
 * O(1) per run, never growing), and every run that changes them rewrites
 * node_exporter's textfile (<metrics_dir>/oci-memguard.prom) with write +
 * rename, so a scrape sees the old file or the new one, never half.
 * Labels are bounded: stage, outcome, verdict, decision (closed sets) and
 * policy file names (at most METRICS_MAX_POLICY_LABELS, then "other");
 * never container ids or images. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define METRICS_STATE_FILE "metrics.json"
#define METRICS_FILE_NAME "oci-memguard.prom"
#define METRICS_MAX_SERIES 256u
#define METRICS_MAX_KEY 160u
#define METRICS_MAX_POLICY_LABELS 32u
#define METRICS_MAX_STATE_BYTES (64u * 1024u)

struct metrics_series {
        char key[METRICS_MAX_KEY];   /* name{labels}, as rendered */
        uint64_t value;
};

struct metrics {
        size_t n;
        struct metrics_series s[METRICS_MAX_SERIES];
};

/* metrics.json: {"series": value, ...}. -EBADMSG on junk, -E2BIG over
 * METRICS_MAX_SERIES; ret is then empty (the counters restart from zero,
 * which Prometheus' rate() reads as a counter reset). Pure. */
int metrics_parse(const char *buf, size_t len, struct metrics *ret);
void metrics_serialize(const struct metrics *m, struct strbuf *sb);

/* Adds delta to a series (created at 0). -E2BIG when the table is full. */
int metrics_add(struct metrics *m, const char *key, uint64_t delta);
int metrics_set(struct metrics *m, const char *key, uint64_t value);
void metrics_unset(struct metrics *m, const char *key);
const struct metrics_series *metrics_find(const struct metrics *m, const char *key);

/* One run's contribution. Strings NULL: not counted. */
struct metrics_run {
        const char *stage;            /* "start" / "poststop" */
        const char *outcome;          /* "ok" / "error" / "skipped" */
        bool have_duration;
        uint64_t duration_us;
        bool have_lock_wait;
        uint64_t lock_wait_us;
        const char *verdict;          /* evidence verdict at a stop */
        const char *policies_body;    /* "a.json","b.json": breaches by policy */
        const char *guard_decision;   /* the build guard's decision */
        uint64_t guard_freed_bytes;
};

/* The state's figures, set (not added) by a run that holds the ledger. */
struct metrics_gauges {
        uint64_t held_min, held_low;  /* leaf claims, summed */
        uint64_t mem_total;           /* 0: unknown */
        uint64_t protected_containers;
        bool swappiness_claimed;
        uint64_t swappiness;
};

/* Pure: the run's counters and histograms into m. */
void metrics_account(struct metrics *m, const struct metrics_run *run);
void metrics_set_gauges(struct metrics *m, const struct metrics_gauges *g);

/* Pure: the textfile (HELP, TYPE, series; histograms' sums in seconds,
 * the protection's share of MemTotal derived). */
void metrics_render(const struct metrics *m, struct strbuf *sb);

/* Under the ledger lock (state_dirfd's lock held): loads metrics.json,
 * accounts run (may be NULL), sets g (may be NULL: keep the stored
 * figures), saves it and, when metrics_dir is not "", rewrites the
 * textfile there atomically. */
int metrics_commit(int state_dirfd, const char *metrics_dir, const struct metrics_run *run, const struct metrics_gauges *g);
