/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Apply: reads what the plan (plan.c) needs to know, saves the intent
 * (state.c), performs the plan's writes through the value backend chosen
 * once for the run, and records the outcome. */

#include "state.h"
#include "systemd.h"

/* Where a cgroup value is written. cgroupfs writes the file; systemd sets
 * the unit's runtime property on the units it owns (a .slice or .scope: a
 * value written behind systemd's back is reset when it next realizes the
 * unit) and writes the file for everything else. Both read the value back:
 * a read-back that does not show the value is a failure. */
struct value_backend {
        const char *name;
        /* 0 and *ret_actual = what the kernel reads back, or -errno with why
         * filled. via: how it was written, for the action's result. */
        int (*write)(struct value_backend *b, const char *path, int cgfd, int v, uint64_t value, uint64_t *ret_actual, char *via,
                     size_t via_size, char *why, size_t why_size);
        struct outcome *out;
        /* systemd only */
        struct systemd_client *sd;
        int state_dirfd;        /* where the slow-bus marker is */
        bool bus_slow;          /* did not answer in time recently: not asked */
};

/* Picks the backend for this run: systemd when it runs on the host
 * (<sysroot>/run/systemd/system), else cgroupfs. Its D-Bus exchanges end
 * before deadline_usec. 0 or -ENOMEM. */
int value_backend_choose(struct value_backend *ret, const char *sysroot, struct outcome *out, int state_dirfd, uint64_t deadline_usec);
void value_backend_done(struct value_backend *b);

/* Recomputes the shared values the run can change from the live records,
 * writes what differs (plan.c says which and in which order), restores
 * originals no longer needed, and saves records and ledger. Records are
 * saved first: a record that cannot be written stops the run's writes. */
int ledger_apply(struct ledger *l);
