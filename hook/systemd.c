/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Protection of systemd's own units, through systemd.
 *
 * systemd re-applies a unit's MemoryMin=/MemoryLow= to its cgroup whenever it
 * realizes the unit (a property change, daemon-reload), so a value written
 * into system.slice/memory.min behind its back does not last. The hook asks
 * systemd instead: org.freedesktop.systemd1.Manager.SetUnitProperties(unit,
 * runtime=true, [("MemoryMin", t)]), the call behind `systemctl set-property
 * --runtime`. Runtime properties live in /run/systemd/system.control and are
 * gone at reboot, like the ledger in /run.
 *
 * A unit is addressed by name, so the name must be the cgroup's: the path
 * is checked against systemd's naming rule (and, for a scope, against
 * systemd's own answer) before anything is sent, and the cgroup is read
 * back afterwards.
 *
 * Spoken with the small client of dbus.c, not sd-bus: the hook is linked
 * static-pie for its start-time cost, and libsystemd exists only as a
 * shared library. When the bus cannot be reached or refuses, the ledger
 * writes directly, loudly. */
#include "systemd.h"

#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup.h"
#include "dbus.h"

/* systemd's UNIT_NAME_MAX, with the NUL */
#define UNIT_NAME_MAX 256u

static bool has_suffix(const char *s, const char *suffix) {
        size_t l = strlen(s), n = strlen(suffix);
        return l > n && STREQ(s + l - n, suffix);
}

static bool unit_name_chars_ok(const char *name) {
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr(":-_.\\@", *p)))
                        return false;
        return true;
}

/* cg_escape(): systemd puts "_" in front of a unit name that would clash
 * with the kernel's own files in a cgroup directory: names starting with
 * "_" or ".", "tasks" and friends, "cgroup.*", and "<controller>.*"
 * ("cpu.slice" lives at "_cpu.slice"). */
static bool cg_needs_escape(const char *name) {
        static const char *const reserved[] = { "notify_on_release", "release_agent", "tasks" };
        static const char *const controllers[] = { "cpu", "cpuacct", "cpuset", "io", "blkio", "memory", "devices",
                                                   "pids", "bpf-firewall", "bpf-devices", "bpf-foreign",
                                                   "bpf-socket-bind", "bpf-restrict-network-interfaces", "cgroup" };
        if (name[0] == '_' || name[0] == '.')
                return true;
        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (STREQ(name, reserved[i]))
                        return true;
        for (size_t i = 0; i < ELEMENTSOF(controllers); i++) {
                size_t l = strlen(controllers[i]);
                if (strncmp(name, controllers[i], l) == 0 && name[l] == '.')
                        return true;
        }
        return false;
}

/* Whether the directory name component (len bytes) is cg_escape(name). */
static bool component_is(const char *component, size_t len, const char *name) {
        size_t nl = strlen(name);
        if (cg_needs_escape(name))
                return len == nl + 1 && component[0] == '_' && memcmp(component + 1, name, nl) == 0;
        return len == nl && memcmp(component, name, nl) == 0;
}

/* The unit name a last component stands for: cg_escape() undone. */
static int unit_of_component(const char *component, char *buf, size_t size) {
        const char *name = component[0] == '_' ? component + 1 : component;
        size_t l = strlen(name);
        if (l == 0 || l >= UNIT_NAME_MAX || l >= size || !unit_name_chars_ok(name))
                return -EINVAL;
        memcpy(buf, name, l + 1);
        return 0;
}

/* Whether the first len bytes of path ("/a.slice/a-b.slice") are where
 * systemd puts slice (here "a-b.slice"): one component per dash-separated
 * prefix of its name. "-.slice" is the root, which has no component. */
static bool slice_path_is(const char *path, size_t len, const char *slice) {
        char prefix[UNIT_NAME_MAX];
        size_t base = strlen(slice) - strlen(".slice"); /* slice ends in ".slice" */
        if (base == 0 || slice[0] == '-' || slice[base - 1] == '-')
                return false;
        size_t pos = 0;
        for (size_t i = 0; i <= base; i++) {
                if (i < base && slice[i] != '-')
                        continue;
                if (i > 0 && slice[i - 1] == '-') /* "a--b.slice": no such slice */
                        return false;
                /* the prefix up to here, as a slice: "a" -> "a.slice" */
                if (i + sizeof ".slice" > sizeof prefix)
                        return false;
                memcpy(prefix, slice, i);
                memcpy(prefix + i, ".slice", sizeof ".slice");
                if (pos >= len || path[pos] != '/')
                        return false;
                pos++;
                size_t clen = strcspn(path + pos, "/");
                if (clen > len - pos)
                        clen = len - pos;
                if (!component_is(path + pos, clen, prefix))
                        return false;
                pos += clen;
        }
        return pos == len;
}

int systemd_cgroup_kind(const char *cgroup_path, char *ret_unit, size_t unit_size) {
        char unit[UNIT_NAME_MAX];
        assert(cgroup_path);
        if (cgroup_path[0] != '/')
                return -EINVAL;
        size_t len = strlen(cgroup_path);
        while (len > 1 && cgroup_path[len - 1] == '/')
                len--;
        const char *last = cgroup_path + len;
        while (last > cgroup_path && last[-1] != '/')
                last--;
        size_t last_len = (size_t) (cgroup_path + len - last);
        if (last_len == 0 || last_len >= sizeof unit)
                return SYSTEMD_CGROUP_PLAIN;
        char component[UNIT_NAME_MAX];
        memcpy(component, last, last_len);
        component[last_len] = '\0';
        if (unit_of_component(component, unit, sizeof unit) < 0)
                return SYSTEMD_CGROUP_PLAIN;
        bool slice = has_suffix(unit, ".slice"), scope = has_suffix(unit, ".scope");
        if (!slice && !scope)
                return SYSTEMD_CGROUP_PLAIN;
        if (ret_unit)
                snprintf(ret_unit, unit_size, "%s", unit);

        bool placed;
        if (!component_is(last, last_len, unit))
                placed = false; /* "_system.slice": systemd would not escape it */
        else if (slice)
                placed = slice_path_is(cgroup_path, len, unit);
        else {
                /* directly below its slice, or below the root ("/init.scope") */
                size_t parent_len = (size_t) (last - cgroup_path) - 1;
                if (parent_len == 0)
                        placed = true;
                else {
                        char parent[UNIT_NAME_MAX];
                        const char *pl = cgroup_path + parent_len;
                        while (pl > cgroup_path && pl[-1] != '/')
                                pl--;
                        size_t pl_len = (size_t) (cgroup_path + parent_len - pl);
                        char pcomp[UNIT_NAME_MAX];
                        placed = pl_len > 0 && pl_len < sizeof pcomp;
                        if (placed) {
                                memcpy(pcomp, pl, pl_len);
                                pcomp[pl_len] = '\0';
                                placed = unit_of_component(pcomp, parent, sizeof parent) == 0 &&
                                         has_suffix(parent, ".slice") && component_is(pl, pl_len, parent) &&
                                         slice_path_is(cgroup_path, parent_len, parent);
                        }
                }
        }
        return placed ? SYSTEMD_CGROUP_UNIT : SYSTEMD_CGROUP_MISPLACED;
}

/* bus_label_escape(): letters and digits stay (a digit only after the
 * first character), everything else is "_" and two hex digits. */
int systemd_unit_object_path(const char *unit, char *buf, size_t size) {
        static const char prefix[] = "/org/freedesktop/systemd1/unit/", hex[] = "0123456789abcdef";
        assert(unit);
        assert(buf);
        size_t o = sizeof prefix - 1;
        if (size < sizeof prefix)
                return -ENAMETOOLONG;
        memcpy(buf, prefix, sizeof prefix);
        if (!unit[0]) {
                if (o + 2 > size)
                        return -ENAMETOOLONG;
                buf[o++] = '_';
        }
        for (const char *p = unit; *p; p++) {
                char c = *p;
                bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (p > unit && c >= '0' && c <= '9');
                if (o + (keep ? 1 : 3) >= size)
                        return -ENAMETOOLONG;
                if (keep)
                        buf[o++] = c;
                else {
                        buf[o++] = '_';
                        buf[o++] = hex[(unsigned char) c >> 4];
                        buf[o++] = hex[(unsigned char) c & 0xf];
                }
        }
        buf[o] = '\0';
        return 0;
}

/* ---- the client ------------------------------------------------------------ */

struct systemd_client {
        char sysroot[PATH_MAX];
        uint64_t call_timeout_usec, deadline;
        bool running;
        struct dbus *bus;
        int bus_error; /* 0, or why the bus is down for the rest of the run */
        /* systemd's last answer about a scope: min and low of the same
         * cgroup are set one after the other, one question does for both */
        char asked[PATH_MAX];
        int asked_kind;
};

int systemd_client_new(const char *sysroot, uint64_t call_timeout_usec, uint64_t deadline, struct systemd_client **ret) {
        char path[PATH_MAX];
        struct stat st;
        assert(sysroot);
        assert(ret);
        _cleanup_free_ struct systemd_client *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        if (strlen(sysroot) >= sizeof c->sysroot)
                return -ENAMETOOLONG;
        strcpy(c->sysroot, sysroot);
        c->call_timeout_usec = call_timeout_usec;
        c->deadline = deadline;
        /* sd_booted()'s test, below the sysroot so that fixtures can pretend */
        c->running = path_join(path, sizeof path, sysroot, "/run/systemd/system") == 0 && lstat(path, &st) == 0 &&
                     S_ISDIR(st.st_mode);
        *ret = TAKE_PTR(c);
        return 0;
}

struct systemd_client *systemd_client_free(struct systemd_client *c) {
        if (c) {
                c->bus = dbus_close(c->bus);
                free(c);
        }
        return NULL;
}

bool systemd_client_running(const struct systemd_client *c) {
        assert(c);
        return c->running;
}

/* The end of the next exchange: its own timeout, never past the run's. */
static uint64_t call_deadline(const struct systemd_client *c) {
        uint64_t now = now_usec_monotonic();
        uint64_t d = c->call_timeout_usec > UINT64_MAX - now ? UINT64_MAX : now + c->call_timeout_usec;
        return d < c->deadline ? d : c->deadline;
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

/* The run's connection, opened on first use. */
static int client_bus(struct systemd_client *c, uint64_t deadline, struct mg_error *err) {
        if (c->bus_error < 0)
                return mg_error_set(err, c->bus_error, "%s", strerror(-c->bus_error));
        if (c->bus)
                return 0;
        int r = bus_open(c->sysroot, deadline, &c->bus, NULL, 0);
        if (r < 0) {
                c->bus_error = r;
                return mg_error_set(err, r, "%s", strerror(-r));
        }
        return 0;
}

/* After a call: systemd said no (NoSuchUnit, AccessDenied...) and the bus
 * works; or no answer, and the bus is given up for this run. */
static int call_failed(struct systemd_client *c, int r, bool answered, struct mg_error *err) {
        if (!answered) {
                c->bus_error = r;
                c->bus = dbus_close(c->bus);
        }
        return mg_error_set(err, r, "%s", strerror(-r));
}

static const char systemd_dest[] = "org.freedesktop.systemd1", systemd_path[] = "/org/freedesktop/systemd1";

/* org.freedesktop.DBus.Peer.Ping: every sd-bus peer answers it itself. */
static int ping(struct dbus *b, uint64_t deadline, bool *ret_answered) {
        struct dbus_header h = { .destination = systemd_dest, .path = systemd_path, .interface = "org.freedesktop.DBus.Peer",
                                 .member = "Ping" };
        return dbus_call(b, &h, NULL, 0, deadline, ret_answered, NULL, 0);
}

int systemd_client_resolve(struct systemd_client *c, const char *cgroup_path, char *ret_unit, size_t unit_size,
                           struct mg_error *err) {
        char unit[UNIT_NAME_MAX], want[512], got[512], error_name[DBUS_NAME_MAX + 1];
        bool answered = false;
        assert(c);
        assert(cgroup_path);
        assert(ret_unit);

        if (!c->running)
                return SYSTEMD_CGROUP_PLAIN;
        int kind = systemd_cgroup_kind(cgroup_path, unit, sizeof unit);
        if (kind < 0)
                return mg_error_set(err, kind, "'%s' is not an absolute cgroup path", cgroup_path);
        if (kind == SYSTEMD_CGROUP_PLAIN)
                return kind;
        snprintf(ret_unit, unit_size, "%s", unit);
        /* A slice's cgroup follows from its name; a scope's depends on the
         * slice it was started in, which only systemd knows. */
        if (kind == SYSTEMD_CGROUP_MISPLACED || has_suffix(unit, ".slice"))
                return kind;

        if (STREQ(c->asked, cgroup_path))
                return c->asked_kind;
        int r = systemd_unit_object_path(unit, want, sizeof want);
        if (r < 0)
                return mg_error_set(err, r, "unit name %s: too long for an object path", unit);
        uint64_t deadline = call_deadline(c);
        r = client_bus(c, deadline, err);
        if (r < 0)
                return r;
        uint8_t body[PATH_MAX + 16];
        struct dbus_writer w = { .buf = body, .size = sizeof body };
        dbus_w_string(&w, cgroup_path);
        if (w.overflow)
                return mg_error_set(err, -ENAMETOOLONG, "cgroup path too long for a D-Bus message: %s", cgroup_path);
        struct dbus_header h = { .destination = systemd_dest, .path = systemd_path,
                                 .interface = "org.freedesktop.systemd1.Manager", .member = "GetUnitByControlGroup",
                                 .signature = "s" };
        r = dbus_call_string(c->bus, &h, body, w.len, deadline, &answered, error_name, sizeof error_name, got, sizeof got);
        if (r < 0 && !(r == -ENOENT && answered))
                return call_failed(c, r, answered, err);
        /* "no unit for this cgroup" (NoSuchUnit): nobody's. Otherwise
         * systemd answers the nearest ancestor that is a unit for a cgroup
         * it does not know: only the unit's own object is a match. */
        kind = r == 0 && STREQ(got, want) ? SYSTEMD_CGROUP_UNIT : SYSTEMD_CGROUP_MISPLACED;
        if (strlen(cgroup_path) < sizeof c->asked) {
                strcpy(c->asked, cgroup_path);
                c->asked_kind = kind;
        }
        return kind;
}

int systemd_client_set_memory_protection(struct systemd_client *c, const char *unit, int cgroup_fd, const char *file,
                                         uint64_t value, uint64_t *ret_actual, struct mg_error *err) {
        const char *property;
        bool answered = false;
        int r;

        assert(c);
        assert(unit);
        assert(file);
        if (STREQ(file, "memory.min"))
                property = "MemoryMin";
        else if (STREQ(file, "memory.low"))
                property = "MemoryLow";
        else
                return mg_error_set(err, -EINVAL, "%s has no systemd property", file);

        uint64_t deadline = call_deadline(c);
        r = client_bus(c, deadline, err);
        if (r < 0)
                return r;

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
                return mg_error_set(err, -ENOBUFS, "unit name too long for SetUnitProperties: %s", unit);
        struct dbus_header h = { .destination = systemd_dest, .path = systemd_path,
                                 .interface = "org.freedesktop.systemd1.Manager", .member = "SetUnitProperties",
                                 .signature = "sba(sv)" };
        r = dbus_call(c->bus, &h, body, w.len, deadline, &answered, NULL, 0);
        if (r < 0)
                return call_failed(c, r, answered, err);

        /* systemd answers the property change before it writes the cgroup:
         * the write waits in its realize queue, which its main loop runs
         * before it reads the next message (manager_loop()). A second call
         * on the same connection is therefore answered only after the
         * write, and the read-back below sees the value systemd set. */
        r = ping(c->bus, deadline, &answered);
        if (r < 0)
                return call_failed(c, r, answered, err);

        /* systemd said yes: the cgroup must show it, or the unit was not
         * this cgroup's after all (or systemd could not write it) */
        uint64_t actual;
        r = cgroup_read_value(cgroup_fd, file, &actual);
        if (r < 0)
                return mg_error_set(err, r, "read back %s after systemd set %s=%" PRIu64 " on %s: %s", file, property,
                                    value, unit, strerror(-r));
        if (ret_actual)
                *ret_actual = actual;
        if (actual != value) {
                char got[32], want[32];
                format_cgroup_value(actual, got, sizeof got);
                format_cgroup_value(value, want, sizeof want);
                return mg_error_set(err, -EREMOTEIO, "systemd accepted %s=%s for %s, but %s reads back %s", property,
                                    want, unit, file, got);
        }
        return 0;
}

int systemd_bus_ping(const char *sysroot, uint64_t timeout_usec, char *ret_where, size_t where_size) {
        _cleanup_(dbus_closep) struct dbus *b = NULL;
        assert(sysroot);
        uint64_t deadline = now_usec_monotonic() + timeout_usec;
        int r = bus_open(sysroot, deadline, &b, ret_where, where_size);
        if (r < 0)
                return r;
        return ping(b, deadline, NULL);
}
