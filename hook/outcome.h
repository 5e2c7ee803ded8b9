/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The outcome record of one run: built up while the hook works,
 * written once at the end as one JSON line plus one syslog line. */

#include <stdbool.h>
#include <stdint.h>

#include "json.h"

struct outcome {
        const char *stage;
        char id[1025];
        char image[1024];
        char image_source[64];   /* which signal named the image (hook/image.h) */
        bool image_trusted;      /* attested, or a claim a policy trusts */
        char cgroup[1024];
        const char *cgroup_mode;
        bool recursiveprot;
        bool build;
        char build_signal[128];
        char build_source[64];   /* which signal decided build status (hook/build.h) */
        bool build_trusted;
        bool dry_run;
        struct strbuf policies;  /* JSON array body: "a.json","b.json" */
        struct strbuf actions;   /* JSON array body of action objects */
        struct strbuf errors;    /* JSON array body of strings */
        struct strbuf skipped;   /* JSON array body of strings */
        struct strbuf extra;     /* ,"key":value pairs added by modules */
        unsigned n_actions, n_errors, n_skipped, n_policies;
        char budget_summary[160]; /* " budget=clamped ..." for the syslog
                                   * line when a start did not fit its
                                   * protection budget (budget_view.h) */
        char limit_notice[256];  /* a build step stopped by its memory
                                  * limit, in words (hook/buildlimit.h) */
        uint64_t start_usec;
};

void outcome_init(struct outcome *o, const char *stage);
void outcome_free(struct outcome *o);

void outcome_policy(struct outcome *o, const char *name);
/* old/new are already formatted values ("0", "536870912", "max", "60");
 * result "ok", "planned", "unchanged", or an error text. */
void outcome_action(struct outcome *o, const char *target, const char *file, const char *old, const char *new_, const char *result);
void outcome_error(struct outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void outcome_skip(struct outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds "key": <raw JSON value> to the record. */
void outcome_extra_raw(struct outcome *o, const char *key, const char *json);
void outcome_extra_u64(struct outcome *o, const char *key, uint64_t v);
void outcome_extra_str(struct outcome *o, const char *key, const char *v);

/* Serializes the record (one line, no newline) into out. */
int outcome_format(const struct outcome *o, struct strbuf *out);

/* Appends the record to log_file (creating its directory 0750 and the file
 * 0640 when missing) and sends the summary to syslog unless use_syslog is
 * false. Returns -errno when the file could not be written (the caller
 * reports it on stderr: the log is the one place it cannot go). */
int outcome_write(const struct outcome *o, const char *log_file, bool use_syslog);

/* syslog must be opened before the sandbox closes the door on socket(). */
void log_open_syslog(void);
