/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* systemd owns the cgroups it created: a value written into
 * system.slice/memory.min behind its back is reset the next time systemd
 * realizes the unit (docs/CGROUP_DELEGATION.md: "Never write to any of the
 * attributes of a cgroup systemd created for you"). Such ancestors are
 * changed through systemd instead, as runtime properties — but only when
 * the cgroup really is that unit's: a directory that merely carries a
 * unit's name (an engine's --cgroup-parent=/tenant/system.slice) is a
 * plain cgroup, and asking systemd to change "system.slice" would change
 * the host's real system.slice instead. */

/* What a cgroup path is by systemd's naming rule alone (no I/O):
 * - a slice "a-b.slice" lives at /a.slice/a-b.slice ("-.slice" is the
 *   root itself, never a component);
 * - a scope lives directly below its slice (or the root);
 * - each component is the unit's name through cg_escape() ("_cpu.slice").
 * Only .slice and .scope are units here: below a scope is the runtime's
 * (crun's "container"), and services are not container ancestors. */
enum systemd_cgroup_kind {
        SYSTEMD_CGROUP_PLAIN,     /* its last component names no slice or scope */
        SYSTEMD_CGROUP_UNIT,      /* where systemd puts the unit it names */
        SYSTEMD_CGROUP_MISPLACED, /* named like a unit, but not where systemd puts it */
};

/* The kind of cgroup_path (absolute, relative to the cgroup root), and
 * for UNIT and MISPLACED the unit name its last component stands for
 * (ret_unit may be NULL). -EINVAL for a path that is not absolute. */
int systemd_cgroup_kind(const char *cgroup_path, char *ret_unit, size_t unit_size);

/* The D-Bus object path systemd gives a unit
 * ("/org/freedesktop/systemd1/unit/system_2eslice"). -ENAMETOOLONG when it
 * does not fit. */
int systemd_unit_object_path(const char *unit, char *buf, size_t size);

/* ---- the client -----------------------------------------------------------
 * One per run of the hook, created with everything it needs and freed with
 * _cleanup_(systemd_client_freep); no state outside it. It connects on
 * first use (a run that changes no unit never talks to systemd), keeps one
 * connection for the run (a start changes up to four values), and once the
 * bus has not answered it stays failed for the run: a wedged bus costs one
 * timeout, not one per value. */
struct systemd_client;

/* sysroot: where systemd's files are looked for (/ on a host; fixtures put
 * a fake systemd below theirs). Every exchange is bounded by
 * call_timeout_usec, and none runs past deadline (CLOCK_MONOTONIC
 * microseconds as now_usec_monotonic(); UINT64_MAX: none). Only -ENOMEM. */
int systemd_client_new(const char *sysroot, uint64_t call_timeout_usec, uint64_t deadline, struct systemd_client **ret);
struct systemd_client *systemd_client_free(struct systemd_client *c);
static inline void systemd_client_freep(struct systemd_client **c) { *c = systemd_client_free(*c); }

/* sd_booted()'s test below the sysroot: <sysroot>/run/systemd/system is a
 * directory. Read once, when the client is created. */
bool systemd_client_running(const struct systemd_client *c);

/* Which unit owns cgroup_path. PLAIN when systemd does not run. A slice
 * is decided by its name (its cgroup follows from it). A scope's unit may
 * live in another slice than the directory suggests, so systemd is asked
 * (GetUnitByControlGroup: in systemd 247 and later, so in
 * Debian 12's 252), and only an answer naming that
 * very unit makes it UNIT (systemd answers the nearest ancestor's unit
 * for a cgroup it does not know). ret_unit gets the unit's name.
 * Negative errno, with err filled, when systemd could not tell (no answer,
 * or an error reply other than "no unit for this cgroup"). */
int systemd_client_resolve(struct systemd_client *c, const char *cgroup_path, char *ret_unit, size_t unit_size,
                           struct mg_error *err);

/* Sets MemoryMin= (file "memory.min") or MemoryLow= ("memory.low") of unit
 * as a runtime property, waits until systemd has written the cgroup, then
 * reads file back in cgroup_fd — the directory of the cgroup
 * systemd_client_resolve() found to be that unit's. 0 only when it reads
 * value; *ret_actual (may be NULL) gets what it reads whenever it could be
 * read. Negative errno with err filled otherwise:
 * - systemd refused (-ENOENT no such unit, -EACCES, -EINVAL, -EIO): the
 *   connection stays usable for the next value;
 * - no answer (unreachable, timeout, protocol error): every later call of
 *   this client fails at once with the same error;
 * - -EREMOTEIO: systemd accepted, but the cgroup does not show the value
 *   (systemd changed another cgroup, or could not write this one). */
int systemd_client_set_memory_protection(struct systemd_client *c, const char *unit, int cgroup_fd, const char *file,
                                         uint64_t value, uint64_t *ret_actual, struct mg_error *err);

/* For doctor: one Ping round trip on a fresh connection to the bus the hook
 * would use (<sysroot>/run/systemd/private, or DBUS_SYSTEM_BUS_ADDRESS).
 * ret_where receives that socket's path, for the message. */
int systemd_bus_ping(const char *sysroot, uint64_t timeout_usec, char *ret_where, size_t where_size);
