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
 *   nodes/<hash>.json     one per cgroup the hook holds a value of or plans
 *                         for (nodefile.h): the original value, what the hook
 *                         last wrote, whether someone else changed it since,
 *                         and what the claims at or below it add up to
 *   ledger.json           the host-wide part: "clean" (false while a run
 *                         changes the state), vm.swappiness's held value and
 *                         the builds' claims on it, totals for the gauges,
 *                         when the last full pass ran
 *   prune-cursor          where the next run's pruning slice starts
 *
 * A run reads only what its own container changes: its record and the
 * node files of its chain; the other containers enter the plan as what
 * the node files say they add up to. Everything in the node files and
 * totals can be derived from the records: a run that finds "clean" false
 * (a run was killed half-way), a sum that does not add up or a file
 * missing reads every record and node and rewrites them (a full pass). */

#include <stdbool.h>
#include <stdint.h>

#include "budget_view.h"
#include "cgroup.h"
#include "outcome.h"
#include "plan.h"
#include "nodefile.h"

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
        bool stub;                /* only a build's vm.swappiness claim, from
                                   * ledger.json: its record was not read */
        bool on_disk;             /* read from containers/ in this run */
        bool in_nodes;            /* the node files count its claim (as
                                   * read, or as this run's plan left them) */
        char *policies_json;      /* array of matched policy names */
        /* The record file as read, NULL when none: a save that would write
         * the same bytes writes nothing (and needs no journal). */
        char *saved;
        size_t saved_len;
};
void record_free(struct record *r);

struct lentry {
        char *path;
        struct held_value v[LV_N];
        /* What its node file says of the claims at or below it (nodefile.h),
         * as the last plan that touched the node decided. */
        uint64_t n_claims;
        uint64_t below[LV_N];
        struct node_own *own;
        size_t n_own;
        bool planned;    /* this run's plan covered it: the fields above are current */
        char *saved;     /* the node file as on disk, NULL when none */
        size_t saved_len;
};

/* What the records not read in this run add up to (ledger.json's
 * "totals"): the gauges and the last-build check need no record. */
struct ledger_totals {
        uint64_t records, protected_, held_min, held_low, builds, clamped;
        /* what the clamped containers still wait for: memory.min, and
         * protection (min or low) as the budget counts it */
        uint64_t short_min, short_protection;
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
        size_t n_entries, cap_entries;
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
        /* The container this run starts: its record, if one exists, is
         * read (a second start of the same id replaces it). */
        const char *start_record_id;
        bool full;              /* every record and node file is read */
        bool force_full;        /* read everything whatever ledger.json says */
        bool clean_on_disk;     /* ledger.json on disk says "clean" */
        struct ledger_totals totals; /* of the records not read (0 when full) */
        uint64_t full_pass_usec;     /* CLOCK_MONOTONIC of the last full pass */
        char replaced_cgroup[1024];  /* the cgroup of a record a start replaced */
        /* The budget's view of the top of the tree (what the root's
         * children hold), kept in ledger.json between reads of cgroupfs:
         * ledger_top_cached. */
        bool top_kept;
        uint64_t top_read_usec;      /* CLOCK_MONOTONIC of the read it started from */
        struct budget_holder *top;   /* those holding min or low > 0 */
        size_t n_top;
};

/* Opens (creating) the state dir and takes the lock; with dry_run only reads
 * (no lock file is created if absent). */
/* Opens (creating) the state dir and takes the lock, waiting at most until
 * deadline_usec less the time kept for the locked work; with dry_run only
 * reads (no lock file is created if absent). */
int ledger_open(struct ledger *l, const char *state_dir, const char *sysroot, const struct cgroup_host *host, struct outcome *out, bool dry_run,
                uint64_t deadline_usec, struct mg_error *err);
void ledger_close(struct ledger *l);

/* The view of the top of the tree a start may count on instead of
 * reading every child of the cgroup2 root: at most this old, and at most
 * MEMGUARD_TOP_NEAR_MAX_AGE_USEC for a grant that comes near a cap
 * (budget_near_cap). The hook's own writes keep the view current at once;
 * what others set there is counted by every start that begins that long
 * after it. MEMGUARD_TOP_MAX_AGE_USEC in the environment replaces the
 * first (and caps the second) for tests, honoured only with a sysroot. */
#define MEMGUARD_TOP_MAX_AGE_USEC (10ull * 1000000u)
#define MEMGUARD_TOP_NEAR_MAX_AGE_USEC (1000000u)
/* A top with more holders than this is read every time, never kept. */
#define MEMGUARD_TOP_KEPT_MAX 64u

/* The kept view when it was read from cgroupfs less than max_age_usec ago:
 * 0 and *ret filled (sums and holders); -ESTALE when there is none or it
 * is too old, -ENOMEM. */
int ledger_top_cached(const struct ledger *l, uint64_t max_age_usec, struct budget_top *ret);
/* Keeps t, just read from cgroupfs, as the view (saved with ledger.json). */
void ledger_top_keep(struct ledger *l, const struct budget_top *t);
/* A child of the root as this run left it (read or written): the view
 * follows at once. path is "/name"; anything deeper is ignored. */
void ledger_top_note(struct ledger *l, const char *path, int v, uint64_t value);
uint64_t ledger_top_max_age(const struct ledger *l, bool near_cap);

/* A full pass runs at least this often (MEMGUARD_PRUNE_FULL_AFTER_USEC in
 * the environment replaces it for tests): the bound on how long a stale
 * record the pruning slice has not reached yet keeps what it held. */
#define MEMGUARD_FULL_PASS_USEC (10ull * 60u * 1000000u)
/* Records a run checks for staleness, round-robin, between full passes. */
#define MEMGUARD_PRUNE_SLICE 4u

/* Loads ledger.json, then either every record and node file (a full
 * pass: the state was not left clean, it is due, or force_full), or only
 * the records this run changes (full_record_id, start_record_id, the
 * pruning slice) and the builds' swappiness claims. Corrupt files are
 * reported to the outcome and moved aside; never fatal. */
int ledger_load(struct ledger *l);
/* Turns an incremental run into a full pass (the state does not add up):
 * reads the records and node files not read yet. Nothing was written. */
int ledger_load_rest(struct ledger *l, const char *why);
/* The totals of every live record (what ledger.json's "totals" will say). */
void ledger_totals_now(const struct ledger *l, struct ledger_totals *ret);

/* A record is stale when its cgroup directory no longer exists and its
 * process is gone (no /proc/<pid>, or another start time). Stale records are
 * removed (and logged); apply then gives back what they held. */
void ledger_prune_stale(struct ledger *l);

struct record *ledger_find(struct ledger *l, const char *id);
/* The index of the record (not a stand-in) stored as containers/<name>
 * (record_file_name), SIZE_MAX when none was read. */
size_t ledger_record_by_file(const struct ledger *l, const char *name);
/* Takes ownership of rec's heap fields; replaces a record with the same id. */
int ledger_add(struct ledger *l, struct record *rec);
/* Marks the record removed; returns -ENOENT when there is none. */
int ledger_remove(struct ledger *l, const char *id);

/* For apply.c: the entry of a cgroup (NULL when none / out of memory). */
struct lentry *ledger_entry_find(struct ledger *l, const char *path);
struct lentry *ledger_entry_add(struct ledger *l, const char *path);
/* The entry of a cgroup, its node file read when the run has not yet:
 * 0, -ENOMEM, or -EUCLEAN when the node file cannot be read or is corrupt
 * (reported; the run must become a full pass). */
int ledger_entry_load(struct ledger *l, const char *path, struct lentry **ret);
/* Writes ledger.json with "clean": false before the first change of a run
 * (a record, a node file): a run killed after it is healed by a full pass. */
int ledger_mark_unclean(struct ledger *l);
/* Writes the node files that changed, removes those no claim needs, then
 * ledger.json: clean only when final (the run's writes are all done). */
int ledger_save(struct ledger *l, bool final);
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
