/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The state: what makes every change reversible and every killed run
 * healable. Decisions are in plan.c, the writes in apply.c.
 *
 * State dir layout (default /run/oci-memguard, mode 0700):
 *   lock                  flock(2)ed while a run plans and records
 *   containers/<id>.json  one record per managed container: its claims (an
 *                         id too long for a file name is stored under
 *                         "~<sha-256 of the id>.json", the id inside)
 *   ledger.json           per shared value (a cgroup's memory.min/low,
 *                         vm.swappiness): the original value, what the hook
 *                         last wrote, and whether someone else changed it since
 *
 * Nothing is stored that can be derived: the value every shared setting
 * should have is recomputed from the live records, so a run that was
 * killed half-way is healed by the next one. */

#include <stdbool.h>
#include <stdint.h>

#include "cgroup.h"
#include "outcome.h"
#include "plan.h"

#define LEDGER_NO_SWAPPINESS PLAN_NO_SWAPPINESS

/* The whole run of a start or stop must end well inside the runtime's hook
 * timeout (10 s in the hooks.d files and the wrapper; runc and crun kill a
 * hook past it and fail the container's create). 5 s leaves the other half
 * for the exec, reading the inputs and the build guard's own bounded work,
 * and is still 2.5x the slowest systemd answer the hook waits for. */
#define MEMGUARD_RUN_DEADLINE_USEC (5u * 1000u * 1000u)
/* The build guard runs after the lock, and its steps may each take a
 * policy's time budget (build.reclaim.timeout_ms, up to 60 s): whatever the
 * budgets say, its last step ends by this long after the run began, so the
 * whole hook ends well inside the runtimes' 10 s (2 s kept for the outcome
 * record and exit). */
#define MEMGUARD_GUARD_END_USEC (8u * 1000u * 1000u)
/* Time kept back from the lock wait for the work done under the lock. */
#define MEMGUARD_LOCKED_WORK_USEC (1u * 1000u * 1000u)

/* How long a build's vm.swappiness claim holds. A build step that runs for
 * days is not a build; 6 h is the longest job the common CI services run
 * (GitHub Actions' limit per job; GitLab's default is 1 h), so every real
 * build step ends before its claim lapses. The one place the value enters
 * the ledger: state.c's ledger_swappiness_expiry(). */
#define MEMGUARD_SWAPPINESS_LIFETIME_USEC (6ull * 3600u * 1000000u)

struct record {
        char id[1025];
        char cgroup[1024];        /* v2 path of the container's cgroup, "" if none */
        char cgroup_dir[1600];    /* host directory whose existence means "alive" */
        int64_t pid;              /* 0 when unknown */
        uint64_t starttime;       /* /proc/<pid>/stat field 22 at start */
        bool protect;             /* claims apply to the v2 chain of cgroup */
        uint64_t min, low;        /* the leaf values this container holds */
        /* What its policies asked before the protection budget clamped it
         * (== min/low when it fitted): a clamped container is topped up
         * when room frees. */
        uint64_t requested_min, requested_low;
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
        /* Which claims the leaf took (the ancestors were raised for them):
         * all a rebuild of a lost ledger may subtract. */
        bool applied[LV_N];
        uint64_t swappiness_expires_usec; /* CLOCK_MONOTONIC, 0 = never */
        char *extra_json;         /* an object modules keep for poststop (vmstat) */
        char *policies_json;      /* array of matched policy names */
};
void record_free(struct record *r);

struct lentry {
        char *path;
        struct held_value v[LV_N];
};

enum rec_state { REC_KEEP, REC_NEW, REC_REMOVED, REC_DIRTY /* kept, rewritten */ };

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
        struct held_value swappiness;

        char *saved;            /* ledger.json as on disk (loaded or last written) */
        size_t saved_len;
        unsigned write_errors;  /* failed writes during apply */
        bool loaded_ledger_corrupt;
        bool reconcile_all;     /* read every held value this run (plan.c:
                                 * node_is_quiet says when one is not read) */
        uint64_t deadline_usec; /* CLOCK_MONOTONIC: the run ends by then */
        /* The record ledger_load reads whole (its "policies" and "extra":
         * poststop of that container reports them); every other record is
         * read for its claims only. NULL: none. */
        const char *full_record_id;
};

/* Opens (creating) the state dir and takes the lock; with dry_run only reads
 * (no lock file is created if absent). */
/* Opens (creating) the state dir and takes the lock, waiting at most until
 * deadline_usec less the time kept for the locked work; with dry_run only
 * reads (no lock file is created if absent). */
int ledger_open(struct ledger *l, const char *state_dir, const char *sysroot, const struct cgroup_host *host, struct outcome *out, bool dry_run,
                uint64_t deadline_usec, struct mg_error *err);
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

/* For apply.c: the entry of a cgroup (NULL when none / out of memory). */
struct lentry *ledger_entry_find(struct ledger *l, const char *path);
struct lentry *ledger_entry_add(struct ledger *l, const char *path);
/* Writes ledger.json (only when it changed). */
int ledger_save(struct ledger *l);
/* Writes the record (NEW or DIRTY) of recs[i]; unlinks a REMOVED one. */
int ledger_save_record(struct ledger *l, size_t i);
void ledger_unlink_record(struct ledger *l, size_t i);
/* The record's file name below containers/: "<id>.json" when that and
 * its temporary name fit NAME_MAX, else "~<sha-256 hex of id>.json". */
int record_file_name(const char *id, char *buf, size_t size);
/* When a build's vm.swappiness claim that starts now lapses. */
uint64_t ledger_swappiness_expiry(uint64_t now_monotonic_usec);

/* Read /proc/<pid>/stat's start time (field 22). */
int proc_starttime(const char *sysroot, int64_t pid, uint64_t *ret);
