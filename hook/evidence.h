/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Did the protection hold? The kernel counts, per cgroup, every time it was
 * reclaimed although under its protection (memory.events "low"; "min" is
 * never breached short of OOM) and how much of its working set had to be
 * faulted back (memory.stat workingset_refault_*). A snapshot at start and
 * one at stop give the container's own deltas and a verdict.
 * Documentation/admin-guide/cgroup-v2.rst, "memory.events". */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* memory.events is a few lines and memory.stat ~60 (3 KiB on 6.x):
 * anything past this is not a kernel file. */
#define EVIDENCE_MAX_FILE_BYTES (64u * 1024u)

enum { EV_LOW, EV_HIGH, EV_MAX, EV_OOM, EV_OOM_KILL, EV_OOM_GROUP_KILL, EV_N_EVENTS };
enum { EV_REFAULT_ANON, EV_REFAULT_FILE, EV_PGSCAN, EV_PGSTEAL, EV_N_STAT };
extern const char *const evidence_event_keys[EV_N_EVENTS];
extern const char *const evidence_stat_keys[EV_N_STAT];

struct ev_sample {
        bool have_events, have_stat, have_peak, have_current;
        bool have_event[EV_N_EVENTS], have_stat_key[EV_N_STAT];
        uint64_t events[EV_N_EVENTS];
        uint64_t stat[EV_N_STAT];
        uint64_t peak, current;   /* bytes */
};

/* A flat-keyed cgroup file ("key value\n" lines): the values of keys[]
 * into vals[] / have[]; other keys are skipped (newer kernels add some).
 * Bounded by len; -EBADMSG for a line without a decimal value, an
 * overflowing value or a key seen twice. Pure. */
int evidence_parse_flat(const char *text, size_t len, const char *const keys[], size_t n_keys, uint64_t vals[], bool have[]);

/* Reads memory.events, memory.stat, memory.peak (6.12+ only; absent is
 * fine) and memory.current of the open cgroup directory. -errno when
 * memory.events cannot be read (the cgroup is gone). */
int evidence_read_at(int cgfd, struct ev_sample *ret);

/* {"events":{...},"stat":{...},"current":N[,"peak":N]} */
void evidence_sample_json(const struct ev_sample *s, struct strbuf *sb);
/* The inverse, for the snapshot kept in the record. -EINVAL on junk. */
int evidence_sample_from_json(const struct json_node *n, struct ev_sample *ret);

enum ev_verdict {
        EV_NOT_APPLICABLE,   /* the container holds no protection */
        EV_NOT_AVAILABLE,    /* cgroup v1/hybrid, or the counters could not be read */
        EV_HELD,             /* protected, and never reclaimed under its protection */
        EV_BREACHED,         /* "low" events while under memory.low (or an OOM kill with memory.min) */
};
const char *evidence_verdict_name(enum ev_verdict v);

struct ev_judge_input {
        bool v2;                 /* the memory controller is on cgroup v2 */
        bool protected_;         /* the container holds memory.min or memory.low */
        uint64_t min;
        bool have_before, have_after;
        const struct ev_sample *before, *after;
};
/* Pure: the verdict from the two snapshots. */
enum ev_verdict evidence_judge(const struct ev_judge_input *in);

/* after - before, 0 when a counter went backwards (a recreated cgroup). */
static inline uint64_t evidence_delta(uint64_t before, uint64_t after) { return after >= before ? after - before : 0; }

/* The record's "evidence" object: the verdict, the peak (memory.peak,
 * else the highest memory.current seen) and, when not available, why. */
void evidence_format(const struct ev_judge_input *in, enum ev_verdict v, const char *why, struct strbuf *sb);
/* The record's "memory_events_delta" (stat false: every memory.events key)
 * or "memory_stat_delta" (stat true) object; false (nothing written) when
 * there are not two snapshots to compare. */
bool evidence_deltas_format(const struct ev_judge_input *in, bool stat, struct strbuf *sb);
