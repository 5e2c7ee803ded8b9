/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Protection of systemd's own units, through systemd (issue 9).
 *
 * systemd re-applies a unit's MemoryMin=/MemoryLow= to its cgroup whenever it
 * realizes the unit (a property change, daemon-reload), so a value written
 * into system.slice/memory.min behind its back does not last. The hook asks
 * systemd instead: org.freedesktop.systemd1.Manager.SetUnitProperties(unit,
 * runtime=true, [("MemoryMin", t)]), the call behind `systemctl set-property
 * --runtime`. Runtime properties live in /run/systemd/system.control and are
 * gone at reboot, like the ledger in /run.
 *
 * Spoken with the small client of dbus.c, not sd-bus: the hook is linked
 * static-pie for its start-time cost, and libsystemd exists only as a
 * shared library. When the bus cannot be reached or refuses, the ledger
 * writes directly, loudly. */
#include "systemd.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dbus.h"
#include "util.h"

/* The unit a cgroup directory stands for: its last component, with the "_"
 * systemd puts in front of names that would clash with kernel files
 * (cg_escape(): "_foo", "cpu.slice", "tasks"...) taken off again. */
static int unit_of_cgroup(const char *cgroup_path, char *buf, size_t size) {
        const char *last = strrchr(cgroup_path, '/');
        last = last ? last + 1 : cgroup_path;
        if (last[0] == '_')
                last++;
        size_t l = strlen(last);
        /* systemd's UNIT_NAME_MAX is 256 with the NUL */
        if (l == 0 || l >= 256 || l >= size)
                return -EINVAL;
        for (const char *p = last; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr(":-_.\\@", *p)))
                        return -EINVAL;
        memcpy(buf, last, l + 1);
        return 0;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t l = strlen(s), n = strlen(suffix);
        return l > n && STREQ(s + l - n, suffix);
}

/* The bus: systemd's private socket below the sysroot (what systemctl uses
 * as root: a direct connection to PID 1, no dbus-daemon, no Hello, and it
 * answers while dbus is (re)starting), unless DBUS_SYSTEM_BUS_ADDRESS names
 * a bus daemon (secure_getenv: never from a setuid context). */
static int bus_open(const char *sysroot, uint64_t deadline, struct dbus **ret, char *ret_where, size_t where_size) {
        char path[PATH_MAX];
        const char *env = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS");
        bool hello = env != NULL;
        int r;

        if (env)
                r = dbus_address_path(env, path, sizeof path);
        else
                r = path_join(path, sizeof path, sysroot, "/run/systemd/private");
        if (ret_where)
                snprintf(ret_where, where_size, "%s", r < 0 ? (env ? env : "/run/systemd/private") : path);
        if (r < 0)
                return r;
        return dbus_open_unix(path, hello, deadline, ret);
}

/* The sysroot systemd_manages() last found systemd running in: the bus
 * lives there too (fixtures put a fake systemd at
 * <sysroot>/run/systemd/private). The ledger asks systemd_manages() before
 * every systemd_set_memory_protection(), for the same sysroot. */
static char run_sysroot[PATH_MAX] = "/";

bool systemd_manages(const char *sysroot, const char *cgroup_path) {
        char path[PATH_MAX], unit[256];
        struct stat st;
        /* sd_booted()'s test, below the sysroot so that fixtures can pretend */
        if (path_join(path, sizeof path, sysroot, "/run/systemd/system") < 0 || lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                return false;
        if (unit_of_cgroup(cgroup_path, unit, sizeof unit) < 0)
                return false;
        /* The container's own scope too: Delegate=yes hands over what is
         * *below* it, while the scope's own memory.min stays systemd's, and
         * systemd rewrites it from the unit (MemoryMin= unset: 0) on
         * daemon-reload (measured in conformance/vm-systemd: 128M -> 0).
         * Runtime properties of a transient scope go to
         * /run/systemd/transient and vanish with it. crun's "container"
         * sub-cgroup below the scope is no unit: written directly. */
        if (!has_suffix(unit, ".slice") && !has_suffix(unit, ".scope"))
                return false;
        snprintf(run_sysroot, sizeof run_sysroot, "%s", sysroot);
        return true;
}

/* One connection per run of the hook (a start changes up to four values:
 * min and low of the slice and of the scope), and once the bus has failed
 * it stays failed for the run: a wedged bus costs one timeout, not four. */
static struct dbus *run_bus;
static int run_bus_error;

static void run_bus_close(void) __attribute__((destructor));
static void run_bus_close(void) {
        run_bus = dbus_close(run_bus);
}

static const char systemd_dest[] = "org.freedesktop.systemd1", systemd_path[] = "/org/freedesktop/systemd1";

/* org.freedesktop.DBus.Peer.Ping: every sd-bus peer answers it itself. */
static int ping(struct dbus *b, uint64_t deadline, bool *ret_answered) {
        struct dbus_header h = { .destination = systemd_dest, .path = systemd_path, .interface = "org.freedesktop.DBus.Peer",
                                 .member = "Ping" };
        return dbus_call(b, &h, NULL, 0, deadline, ret_answered, NULL, 0);
}

int systemd_set_memory_protection(const char *cgroup_path, const char *file, uint64_t value, uint64_t timeout_usec) {
        char unit[256];
        const char *property;
        bool answered = false;
        int r;

        if (STREQ(file, "memory.min"))
                property = "MemoryMin";
        else if (STREQ(file, "memory.low"))
                property = "MemoryLow";
        else
                return -EINVAL;
        r = unit_of_cgroup(cgroup_path, unit, sizeof unit);
        if (r < 0)
                return r;
        if (run_bus_error < 0)
                return run_bus_error;

        uint64_t deadline = now_usec_monotonic() + timeout_usec;
        if (!run_bus) {
                r = bus_open(run_sysroot, deadline, &run_bus, NULL, 0);
                if (r < 0)
                        return (run_bus_error = r);
        }

        /* SetUnitProperties(s name, b runtime, a(sv) properties), the call
         * behind `systemctl set-property --runtime`. "t": bytes; UINT64_MAX
         * is systemd's "infinity", the cgroup "max" (MEMGUARD_VALUE_MAX).
         * runtime=true: /run/systemd/system.control (/run/systemd/transient
         * for a transient scope). */
        uint8_t body[512];
        struct dbus_writer w = { .buf = body, .size = sizeof body };
        dbus_w_string(&w, unit);
        dbus_w_bool(&w, true);
        struct dbus_array a = dbus_w_array_begin(&w, 8);
        dbus_w_align(&w, 8); /* the (sv) struct */
        dbus_w_string(&w, property);
        dbus_w_signature(&w, "t");
        dbus_w_u64(&w, value);
        dbus_w_array_end(&w, a);
        if (w.overflow)
                return -ENOBUFS;
        struct dbus_header h = { .destination = systemd_dest, .path = systemd_path,
                                 .interface = "org.freedesktop.systemd1.Manager", .member = "SetUnitProperties",
                                 .signature = "sba(sv)" };
        r = dbus_call(run_bus, &h, body, w.len, deadline, &answered, NULL, 0);
        if (r < 0)
                goto fail;

        /* systemd answers the property change before it writes the cgroup:
         * the write waits in its realize queue, which its main loop runs
         * before it reads the next message (manager_loop()). A second call
         * on the same connection is therefore answered only after the
         * write, and the ledger's read-back sees the value systemd set. */
        r = ping(run_bus, deadline, &answered);
        if (r < 0)
                goto fail;
        return 0;
fail:
        /* systemd said no (NoSuchUnit, AccessDenied...): the bus works, try
         * the next value. No answer: give up on the bus for this run. */
        if (!answered) {
                run_bus_error = r;
                run_bus = dbus_close(run_bus);
        }
        return r;
}

int systemd_bus_ping(const char *sysroot, uint64_t timeout_usec, char *ret_where, size_t where_size) {
        _cleanup_(dbus_closep) struct dbus *b = NULL;
        uint64_t deadline = now_usec_monotonic() + timeout_usec;
        int r = bus_open(sysroot, deadline, &b, ret_where, where_size);
        if (r < 0)
                return r;
        return ping(b, deadline, NULL);
}
