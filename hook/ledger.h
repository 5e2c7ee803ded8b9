/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The bookkeeping that makes every change reversible (SPEC §5).
 *
 * State dir layout (default /run/oci-memguard, mode 0700):
 *   lock                  flock(2)ed for the whole of every run that changes state
 *   containers/<id>.json  one record per managed container: its claims
 *   ledger.json           per shared value (a cgroup's memory.min/low,
 *                         vm.swappiness): the original value, what the hook
 *                         last wrote, and whether someone else changed it since
 *
 * Nothing is stored that can be derived: the value every shared setting
 * should have is recomputed on every run from the live records, so a run that
 * was killed half-way is healed by the next one. */

#include <stdbool.h>
#include <stdint.h>

#include "cgroup.h"
#include "log.h"

#define LEDGER_NO_SWAPPINESS (-1)

struct record {
        char id[1025];
        char cgroup[1024];        /* v2 path of the container's cgroup, "" if none */
        char cgroup_dir[1600];    /* host directory whose existence means "alive" */
        int64_t pid;              /* 0 when unknown */
        uint64_t starttime;       /* /proc/<pid>/stat field 22 at start */
        bool protect;             /* claims apply to the v2 chain of cgroup */
        uint64_t min, low;        /* the leaf values this container holds */
        int swappiness;           /* claim on vm.swappiness, or LEDGER_NO_SWAPPINESS */
        bool build;
        char build_signal[128];
        char build_source[64];    /* which signal decided build status */
        bool build_trusted;
        char image[1024];
        char image_source[64];    /* which signal named the image */
        bool image_trusted;
        uint64_t started_realtime_usec;
        uint64_t started_monotonic_usec;
        char *extra_json;         /* an object modules keep for poststop (vmstat) */
        char *policies_json;      /* array of matched policy names */
};
void record_free(struct record *r);

enum { LV_MIN, LV_LOW, LV_N };
extern const char *const ledger_value_file[LV_N];

struct lvalue {
        bool managed;   /* the hook holds this value */
        bool foreign;   /* someone else changed it while held: hands off */
        uint64_t orig, set, prev;
};

struct lentry {
        char *path;
        struct lvalue v[LV_N];
};

enum rec_state { REC_KEEP, REC_NEW, REC_REMOVED };

struct ledger {
        int dirfd;          /* state dir */
        int lockfd;
        const char *sysroot;
        const struct cgroup_host *host;
        struct outcome *out;
        bool dry_run;
        uint64_t page_size;

        struct record *recs;
        enum rec_state *rec_state;
        size_t n_recs, cap_recs;

        struct lentry *entries;
        size_t n_entries;
        struct lvalue swappiness;

        char *saved;            /* ledger.json as on disk (loaded or last written) */
        size_t saved_len;
        unsigned write_errors;  /* failed writes during apply */
        bool loaded_ledger_corrupt;
        bool reconcile_all;     /* read every held value this run (ledger.c:
                                 * entry_is_quiet says when one is not read) */
        /* The record ledger_load reads whole (its "policies" and "extra":
         * poststop of that container reports them); every other record is
         * read for its claims only. NULL: none. */
        const char *full_record_id;
};

/* Opens (creating) the state dir and takes the lock; with dry_run only reads
 * (no lock file is created if absent). */
int ledger_open(struct ledger *l, const char *state_dir, const char *sysroot, const struct cgroup_host *host, struct outcome *out, bool dry_run, struct mg_error *err);
void ledger_close(struct ledger *l);

/* Loads every record and ledger.json. Corrupt files are reported to the
 * outcome and moved aside; never fatal. */
int ledger_load(struct ledger *l);

/* A record is stale when its cgroup directory no longer exists and its
 * process is gone (no /proc/<pid>, or another start time). Stale records are
 * removed (and logged); apply then gives back what they held. */
void ledger_prune_stale(struct ledger *l);

struct record *ledger_find(struct ledger *l, const char *id);
/* Takes ownership of rec's heap fields; replaces a record with the same id. */
int ledger_add(struct ledger *l, struct record *rec);
/* Marks the record removed; returns -ENOENT when there is none. */
int ledger_remove(struct ledger *l, const char *id);

/* Recomputes every shared value from the live records, writes what changed
 * (raises top-down, lowers bottom-up), restores originals no longer needed,
 * and saves records and ledger. Every write is an outcome action. */
int ledger_apply(struct ledger *l);

/* Read /proc/<pid>/stat's start time (field 22). */
int proc_starttime(const char *sysroot, int64_t pid, uint64_t *ret);
