/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* systemd owns the cgroups it created: a value written into
 * system.slice/memory.min behind its back is reset the next time systemd
 * realizes the unit (docs/CGROUP_DELEGATION.md: "Never write to any of the
 * attributes of a cgroup systemd created for you"). Such ancestors are
 * changed through systemd instead, as runtime properties. */

/* True when systemd runs (<sysroot>/run/systemd/system exists) and the last
 * component of cgroup_path is a unit: a .slice, or a .scope — the
 * container's own delegated scope included, since delegation covers only
 * what is below it (systemd resets the scope's memory.min on
 * daemon-reload). What is below a scope (crun's "container") is the
 * runtime's, written directly. */
bool systemd_manages(const char *sysroot, const char *cgroup_path);

/* Sets MemoryMin= (file "memory.min") or MemoryLow= ("memory.low") of the
 * unit named by the last component of cgroup_path, as a runtime property,
 * waiting at most timeout_usec, on the bus below the sysroot that the last
 * systemd_manages() returning true was given. 0 once systemd has written
 * the cgroup. Negative errno otherwise: systemd's refusal (-ENOENT no such
 * unit, -EACCES, -EINVAL, -EIO) leaves the connection usable for the next
 * value; no answer (unreachable, timeout, protocol error) makes every later
 * call of this run fail at once with the same error. */
int systemd_set_memory_protection(const char *cgroup_path, const char *file, uint64_t value, uint64_t timeout_usec);

/* For doctor: one Ping round trip on a fresh connection to the bus the hook
 * would use (<sysroot>/run/systemd/private, or DBUS_SYSTEM_BUS_ADDRESS).
 * ret_where receives that socket's path, for the message. */
int systemd_bus_ping(const char *sysroot, uint64_t timeout_usec, char *ret_where, size_t where_size);
