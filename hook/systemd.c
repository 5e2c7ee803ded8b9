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
 * Built with sd-bus when MEMGUARD_WITH_SD_BUS is defined (mk/systemd.mk);
 * without it every call answers -EOPNOTSUPP and the ledger writes directly,
 * loudly. */
#include "systemd.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>

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
        return has_suffix(unit, ".slice") || has_suffix(unit, ".scope");
}

#ifndef MEMGUARD_WITH_SD_BUS

bool systemd_sd_bus_built(void) {
        return false;
}

int systemd_set_memory_protection(const char *cgroup_path, const char *file, uint64_t value, uint64_t timeout_usec) {
        (void) cgroup_path;
        (void) file;
        (void) value;
        (void) timeout_usec;
        return -EOPNOTSUPP;
}

#else

#include <systemd/sd-bus.h>

bool systemd_sd_bus_built(void) {
        return true;
}

struct call {
        bool done;
        int r;
};

static int call_done(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct call *c = userdata;
        (void) ret_error;
        c->done = true;
        /* A D-Bus error systemd's errno table knows (NoSuchUnit, AccessDenied,
         * InvalidArgs...) becomes that errno; anything else EIO. */
        c->r = sd_bus_message_is_method_error(m, NULL) ? -sd_bus_message_get_errno(m) : 0;
        if (c->r == 0 && sd_bus_message_is_method_error(m, NULL))
                c->r = -EIO;
        return 1;
}

/* Sends m and runs the connection until its reply or the deadline. Not
 * sd_bus_call(): it waits for the authentication and Hello without a bound
 * of ours (up to systemd's own 90 s default), and the container waits with
 * it. *ret_answered tells systemd's refusal (the bus works) from a bus
 * that does not. */
static int call_until(sd_bus *bus, sd_bus_message *m, uint64_t deadline, bool *ret_answered) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        struct call c = {0};
        uint64_t now = now_usec_monotonic();
        *ret_answered = false;
        if (now >= deadline)
                return -ETIMEDOUT;
        int r = sd_bus_call_async(bus, &slot, m, call_done, &c, deadline - now);
        if (r < 0)
                return r;
        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (c.done) {
                        *ret_answered = true;
                        return c.r;
                }
                if (r > 0)
                        continue;
                now = now_usec_monotonic();
                if (now >= deadline)
                        return -ETIMEDOUT;
                r = sd_bus_wait(bus, deadline - now);
                if (r < 0 && r != -EINTR)
                        return r;
        }
}

/* As root, systemd's private socket first: it is what systemctl uses, needs
 * neither dbus-daemon nor a Hello round trip, and answers while dbus is
 * (re)starting. Then the system bus, which honours DBUS_SYSTEM_BUS_ADDRESS
 * (secure_getenv). */
static int bus_open(sd_bus **ret) {
        /* never sd_bus_flush_close_unref(): a flush waits for a wedged peer
         * without our deadline */
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        int r;
        if (geteuid() == 0 && !secure_getenv("DBUS_SYSTEM_BUS_ADDRESS")) {
                r = sd_bus_new(&bus);
                if (r < 0)
                        return r;
                r = sd_bus_set_address(bus, "unix:path=/run/systemd/private");
                if (r >= 0)
                        r = sd_bus_start(bus);
                if (r >= 0) {
                        *ret = TAKE_PTR(bus);
                        return 0;
                }
                bus = sd_bus_close_unref(bus);
        }
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

/* One connection per run of the hook (a start changes up to four values:
 * min and low of the slice and of the scope), and once the bus has failed
 * it stays failed for the run: a wedged bus costs one timeout, not four. */
static sd_bus *run_bus;
static int run_bus_error;

static void run_bus_close(void) __attribute__((destructor));
static void run_bus_close(void) {
        run_bus = sd_bus_close_unref(run_bus);
}

int systemd_set_memory_protection(const char *cgroup_path, const char *file, uint64_t value, uint64_t timeout_usec) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *ping = NULL;
        char unit[256];
        const char *property;
        bool answered;
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
                r = bus_open(&run_bus);
                if (r < 0)
                        return (run_bus_error = r);
        }

        /* "t": bytes; UINT64_MAX is systemd's "infinity", the cgroup "max"
         * (MEMGUARD_VALUE_MAX). runtime=true: /run/systemd/system.control
         * (/run/systemd/transient for a transient scope). */
        r = sd_bus_message_new_method_call(run_bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", "SetUnitProperties");
        if (r >= 0)
                r = sd_bus_message_append(m, "sb", unit, 1);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sv)", 1, property, "t", value);
        if (r < 0)
                return r;
        r = call_until(run_bus, m, deadline, &answered);
        if (r < 0)
                goto fail;

        /* systemd answers the property change before it writes the cgroup:
         * the write waits in its realize queue, which its main loop runs
         * before it reads the next message (manager_loop()). A second call
         * on the same connection is therefore answered only after the
         * write, and the ledger's read-back sees the value systemd set. */
        r = sd_bus_message_new_method_call(run_bus, &ping, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.DBus.Peer", "Ping");
        if (r < 0)
                return r;
        r = call_until(run_bus, ping, deadline, &answered);
        if (r < 0)
                goto fail;
        return 0;
fail:
        /* systemd said no (NoSuchUnit, AccessDenied...): the bus works, try
         * the next value. No answer: give up on the bus for this run. */
        if (!answered) {
                run_bus_error = r;
                run_bus = sd_bus_close_unref(run_bus);
        }
        return r;
}

#endif
