/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* `oci-memguard report`: a summary of the event log (README "Logs") and of
 * the rotated files next to it, per (image, policies) key.
 *
 * Every line of the log is a claim: the hook writes it, but anyone with
 * access to the file may have too, a crash may have cut it, and the image
 * names in it come from containers. So the line parser is a pure function
 * that classifies each line (record, foreign, truncated) and copies out a
 * bounded, typed event; the summary only ever sees those events. Memory is
 * bounded by the key cap, not by the log: files are streamed line by line. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "util.h"

/* Distinct (image, policies) keys kept apart; the records of any further
 * key are folded into one "(other)" row and counted. */
#define REPORT_MAX_KEYS 1024u
/* A line longer than this is skipped (counted as too long): records are
 * far smaller (MEMGUARD_MAX_RECORD_BYTES), only a foreign writer gets near. */
#define REPORT_MAX_LINE_BYTES (1024u * 1024u)
/* Rotated files read next to the log, newest first. */
#define REPORT_MAX_FILES 1000u
/* Build-guard decision names kept per key; more go to "other". */
#define REPORT_MAX_DECISIONS 8u
/* Hook latency histogram: exact below 16 us, then 16 buckets per power of
 * two (a percentile is the upper bound of its bucket: at most 1/16 above
 * the true value), up to 2^40 us. */
#define REPORT_HIST_BUCKETS (16u + 37u * 16u)

enum report_line_kind {
        REPORT_LINE_RECORD,
        REPORT_LINE_FOREIGN,   /* not one of the hook's records */
        REPORT_LINE_TRUNCATED, /* the start of a record, cut short */
};

/* What one record says, copied out of the line (strings bounded). */
struct report_event {
        uint64_t time_usec;
        bool start, poststop;            /* prestart/createRuntime; poststop */
        bool build;
        bool limit_stopped;              /* poststop: a build step its memory limit stopped */
        char image[512];                 /* "" when the record has none */
        char policies[512];              /* the matched files, '\n'-separated */
        char guard_decision[32];         /* "" when no build guard ran */
        uint64_t bytes_freed;
        bool has_duration, has_container_duration, has_low_events;
        uint64_t duration_us, container_duration_us, low_events;
        unsigned n_errors;
};

/* Classifies one line (without its newline) and fills ev for a record.
 * Returns a report_line_kind, or -ENOMEM. Pure: no I/O, no state. */
int report_parse_line(const char *line, size_t len, struct report_event *ev);

/* "90s", "15m", "1h30m", "7d", "2w", "3600" (seconds) -> microseconds. */
int report_parse_duration(const char *s, uint64_t *ret_usec);
/* RFC 3339 UTC as the hook writes it ("2026-12-04T22:20:14.123456Z"; the
 * fraction optional) -> microseconds since the epoch. */
int report_parse_time(const char *s, uint64_t *ret_usec);

struct report;
/* since_usec: records before it are skipped (0: none). */
int report_new(uint64_t since_usec, struct report **ret);
void report_free(struct report *r);
static inline void report_freep(struct report **r) { report_free(*r); }
#define _cleanup_report_ _cleanup_(report_freep)
/* Feeds one line; complete is false for a last line without its newline. */
int report_add_line(struct report *r, const char *line, size_t len, bool complete);

int report_main(struct cli *c);
