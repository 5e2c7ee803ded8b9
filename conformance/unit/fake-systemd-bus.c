/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A fake systemd for conformance/systemd.bats: listens where the hook looks
 * for systemd's private socket in a fixture sysroot, speaks the server side
 * of SASL EXTERNAL and the few calls the hook makes, and logs each call, one
 * line per call:
 *
 *   GetUnitByControlGroup /system.slice/docker-d1.scope
 *   SetUnitProperties system.slice runtime=1 MemoryMin=134217728
 *   Ping
 *   Hello
 *
 * Its units are the directories below --cgroot whose name ends in .slice or
 * .scope (cg_escape()d or not), except the --foreign-cgroup ones (made by
 * someone else, systemd does not know them). A unit's cgroup is the
 * shallowest such directory of its name, as systemd's is where its name
 * puts it. GetUnitByControlGroup answers, like systemd, the unit of the
 * nearest ancestor that is one ("-.slice" at the root).
 *
 * SetUnitProperties writes the value into <cgroot>/.../<unit>/memory.min
 * (or memory.low) like systemd: *after* its reply, before it reads the next
 * message (systemd's realize queue runs between two messages), and late by
 * --write-delay-ms, so a client that reads back right after the reply sees
 * the old value and only one that waits for its Ping sees the new one.
 *
 *   fake-systemd-bus --socket PATH --cgroot DIR --log FILE
 *                    [--error NAME [--error-unit UNIT]]  every (or UNIT's)
 *                                 SetUnitProperties answered with error NAME
 *                    [--reject]   SASL answered REJECTED
 *                    [--silent]   authenticates, then never answers
 *                    [--write-delay-ms N]  (default 50)
 *                    [--no-write] answers SetUnitProperties, writes nothing
 *                    [--foreign-cgroup PATH]...  not a unit's cgroup
 *
 * Runs until killed; connections one after the other. Test code: blocking
 * I/O, little-endian bodies (what the hook sends). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dbus.h"
#include "util.h"

static const char *opt_cgroot, *opt_log, *opt_error, *opt_error_unit;
static bool opt_reject, opt_silent, opt_no_write;
static const char *opt_foreign[16];
static size_t n_foreign;
static long opt_delay_ms = 50;

static void logf_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_line(const char *fmt, ...) {
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof line - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n > sizeof line - 2)
                n = sizeof line - 2;
        line[n++] = '\n';
        int fd = open(opt_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        (void) !write(fd, line, (size_t) n);
        close(fd);
}

static int send_all(int fd, const void *p, size_t n) {
        const uint8_t *b = p;
        while (n > 0) {
                ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -1;
                b += k;
                n -= (size_t) k;
        }
        return 0;
}

/* path (below --cgroot, "/a/b") is one systemd does not know */
static bool is_foreign(const char *path) {
        for (size_t i = 0; i < n_foreign; i++)
                if (STREQ(opt_foreign[i], path))
                        return true;
        return false;
}

static bool names_unit(const char *component, const char *unit) {
        return STREQ(component, unit) || (component[0] == '_' && STREQ(component + 1, unit));
}

/* A directory named UNIT (or _UNIT, systemd's cg_escape) exactly `want`
 * levels below dir (rel: dir's path below --cgroot), not a foreign one. */
static bool find_unit_at(const char *dir, const char *rel, const char *unit, char *out, size_t size, int want) {
        DIR *d = opendir(dir);
        if (!d)
                return false;
        struct dirent *e;
        bool found = false;
        while (!found && (e = readdir(d))) {
                if (e->d_type != DT_DIR || e->d_name[0] == '.')
                        continue;
                char sub[PATH_MAX], subrel[PATH_MAX];
                if (snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name) >= (int) sizeof sub ||
                    snprintf(subrel, sizeof subrel, "%s/%s", rel, e->d_name) >= (int) sizeof subrel)
                        continue;
                if (want == 0) {
                        if (names_unit(e->d_name, unit) && !is_foreign(subrel)) {
                                snprintf(out, size, "%s", sub);
                                found = true;
                        }
                } else
                        found = find_unit_at(sub, subrel, unit, out, size, want - 1);
        }
        closedir(d);
        return found;
}

/* The unit's cgroup directory: the shallowest one of its name. */
static bool find_unit(const char *unit, char *out, size_t size) {
        for (int depth = 0; depth < 16; depth++)
                if (find_unit_at(opt_cgroot, "", unit, out, size, depth))
                        return true;
        return false;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t l = strlen(s), n = strlen(suffix);
        return l > n && STREQ(s + l - n, suffix);
}

/* systemd's object path of a unit (bus_label_escape) */
static void unit_object_path(const char *unit, char *out, size_t size) {
        size_t o = (size_t) snprintf(out, size, "/org/freedesktop/systemd1/unit/");
        for (const char *p = unit; *p && o + 4 < size; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (p > unit && *p >= '0' && *p <= '9'))
                        out[o++] = *p;
                else
                        o += (size_t) snprintf(out + o, size - o, "_%02x", (unsigned char) *p);
        }
        out[o] = '\0';
}

/* Little-endian body reader (the hook's bodies). */
struct rd {
        const uint8_t *p;
        size_t len, pos;
};
static bool rd_align(struct rd *r, size_t n) {
        r->pos = (r->pos + n - 1) / n * n;
        return r->pos <= r->len;
}
static bool rd_u32(struct rd *r, uint32_t *v) {
        if (!rd_align(r, 4) || r->len - r->pos < 4)
                return false;
        *v = (uint32_t) r->p[r->pos] | (uint32_t) r->p[r->pos + 1] << 8 | (uint32_t) r->p[r->pos + 2] << 16 |
             (uint32_t) r->p[r->pos + 3] << 24;
        r->pos += 4;
        return true;
}
static bool rd_u64(struct rd *r, uint64_t *v) {
        if (!rd_align(r, 8) || r->len - r->pos < 8)
                return false;
        *v = 0;
        for (int i = 0; i < 8; i++)
                *v |= (uint64_t) r->p[r->pos + i] << (8 * i);
        r->pos += 8;
        return true;
}
static bool rd_str(struct rd *r, char *out, size_t size) {
        uint32_t l;
        if (!rd_u32(r, &l) || l >= size || r->len - r->pos < (size_t) l + 1)
                return false;
        memcpy(out, r->p + r->pos, l + 1);
        r->pos += l + 1;
        return out[l] == '\0';
}
static bool rd_sig(struct rd *r, char *out, size_t size) {
        if (r->pos >= r->len)
                return false;
        size_t l = r->p[r->pos++];
        if (l >= size || r->len - r->pos < l + 1)
                return false;
        memcpy(out, r->p + r->pos, l + 1);
        r->pos += l + 1;
        return out[l] == '\0';
}

static int reply(int fd, const struct dbus_message *call, uint32_t *serial, const char *error, const char *sig,
                 const void *body, size_t body_len) {
        uint8_t msg[2048];
        size_t len;
        struct dbus_header h = {
                .type = error ? DBUS_TYPE_ERROR : DBUS_TYPE_METHOD_RETURN,
                .serial = ++*serial,
                .reply_serial = call->serial,
                .error_name = error,
                .sender = "org.freedesktop.systemd1",
                .signature = sig,
        };
        if (dbus_message_build(&h, body, body_len, msg, sizeof msg, &len) < 0)
                return -1;
        return send_all(fd, msg, len);
}

struct pending {
        bool set;
        char path[PATH_MAX];
        char value[32];
};

static void apply_pending(struct pending *p) {
        if (!p->set)
                return;
        p->set = false;
        struct timespec ts = { .tv_sec = opt_delay_ms / 1000, .tv_nsec = (opt_delay_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        int fd = open(p->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0) {
                logf_line("write %s: %s", p->path, strerror(errno));
                return;
        }
        (void) !write(fd, p->value, strlen(p->value));
        close(fd);
}

static int handle_set(int fd, const struct dbus_message *m, uint32_t *serial, struct pending *pend) {
        struct rd r = { .p = m->body, .len = m->body_len };
        char unit[256], name[256], sig[256], line[768] = "";
        uint32_t runtime, alen;
        if (!STREQ(m->signature, "sba(sv)") || !rd_str(&r, unit, sizeof unit) || !rd_u32(&r, &runtime) || !rd_u32(&r, &alen) ||
            !rd_align(&r, 8) || alen > r.len - r.pos)
                return reply(fd, m, serial, "org.freedesktop.DBus.Error.InvalidArgs", NULL, NULL, 0);
        size_t end = r.pos + alen;
        char prop[256] = "";
        uint64_t value = 0;
        while (r.pos < end) {
                if (!rd_align(&r, 8) || !rd_str(&r, name, sizeof name) || !rd_sig(&r, sig, sizeof sig) || !STREQ(sig, "t") ||
                    !rd_u64(&r, &value))
                        return reply(fd, m, serial, "org.freedesktop.DBus.Error.InvalidArgs", NULL, NULL, 0);
                size_t l = strlen(line);
                snprintf(line + l, sizeof line - l, " %s=%" PRIu64, name, value);
                snprintf(prop, sizeof prop, "%s", name);
        }
        logf_line("SetUnitProperties %s runtime=%" PRIu32 "%s", unit, runtime, line);
        if (opt_error && (!opt_error_unit || STREQ(opt_error_unit, unit)))
                return reply(fd, m, serial, opt_error, NULL, NULL, 0);
        char dir[PATH_MAX];
        if (!find_unit(unit, dir, sizeof dir))
                return reply(fd, m, serial, "org.freedesktop.systemd1.NoSuchUnit", NULL, NULL, 0);
        const char *file = STREQ(prop, "MemoryMin") ? "memory.min" : STREQ(prop, "MemoryLow") ? "memory.low" : NULL;
        if (!file)
                return reply(fd, m, serial, "org.freedesktop.DBus.Error.PropertyReadOnly", NULL, NULL, 0);
        int n = snprintf(pend->path, sizeof pend->path, "%s/%s", dir, file);
        if (n < 0 || (size_t) n >= sizeof pend->path)
                return reply(fd, m, serial, "org.freedesktop.DBus.Error.InvalidArgs", NULL, NULL, 0);
        if (value == UINT64_MAX)
                snprintf(pend->value, sizeof pend->value, "max\n");
        else
                snprintf(pend->value, sizeof pend->value, "%" PRIu64 "\n", value);
        pend->set = !opt_no_write;
        return reply(fd, m, serial, NULL, NULL, NULL, 0);
}

static int handle_get_by_cgroup(int fd, const struct dbus_message *m, uint32_t *serial) {
        struct rd r = { .p = m->body, .len = m->body_len };
        char cg[PATH_MAX], unit[256] = "-.slice";
        if (!STREQ(m->signature, "s") || !rd_str(&r, cg, sizeof cg) || cg[0] != '/')
                return reply(fd, m, serial, "org.freedesktop.DBus.Error.InvalidArgs", NULL, NULL, 0);
        logf_line("GetUnitByControlGroup %s", cg);
        /* the nearest ancestor (or itself) that is a unit's directory */
        for (size_t len = strlen(cg); len > 1;) {
                cg[len] = '\0';
                char dir[PATH_MAX];
                struct stat st;
                const char *last = strrchr(cg, '/') + 1;
                const char *name = last[0] == '_' ? last + 1 : last;
                if ((has_suffix(name, ".slice") || has_suffix(name, ".scope")) && !is_foreign(cg) &&
                    snprintf(dir, sizeof dir, "%s%s", opt_cgroot, cg) < (int) sizeof dir && stat(dir, &st) == 0 &&
                    S_ISDIR(st.st_mode)) {
                        snprintf(unit, sizeof unit, "%s", name);
                        break;
                }
                len = (size_t) (last - cg) - 1;
        }
        char obj[512];
        unit_object_path(unit, obj, sizeof obj);
        uint8_t body[600];
        struct dbus_writer w = { .buf = body, .size = sizeof body };
        dbus_w_string(&w, obj);
        return reply(fd, m, serial, NULL, "o", body, w.len);
}

static void serve(int fd) {
        static uint8_t buf[DBUS_MAX_MESSAGE];
        size_t have = 0;
        uint32_t serial = 0;
        struct pending pend = { 0 };

        /* SASL: the NUL, AUTH EXTERNAL, then BEGIN */
        for (int lines = 0; lines < 2;) {
                uint8_t *e = memmem(buf, have, "\r\n", 2);
                if (!e) {
                        ssize_t n = read(fd, buf + have, sizeof buf - have);
                        if (n <= 0)
                                return;
                        have += (size_t) n;
                        continue;
                }
                size_t ll = (size_t) (e - buf) + 2;
                if (lines == 0) {
                        if (buf[0] != '\0' || memcmp(buf + 1, "AUTH EXTERNAL ", 14) != 0) {
                                (void) send_all(fd, "ERROR\r\n", 7);
                                return;
                        }
                        logf_line("AUTH EXTERNAL %.*s", (int) (ll - 17), buf + 15);
                        if (opt_reject) {
                                (void) send_all(fd, "REJECTED EXTERNAL\r\n", 19);
                                return;
                        }
                        static const char ok[] = "OK 6d656d67756172642d66616b652d7364\r\n";
                        (void) send_all(fd, ok, sizeof ok - 1);
                } else if (ll != 7 || memcmp(buf, "BEGIN\r\n", 7) != 0)
                        return;
                memmove(buf, buf + ll, have - ll);
                have -= ll;
                lines++;
        }
        if (opt_silent) {
                while (read(fd, buf, sizeof buf) > 0)
                        ;
                return;
        }
        for (;;) {
                struct dbus_message m;
                size_t size;
                int r = dbus_message_parse(buf, have, &m, &size);
                if (r == -EAGAIN) {
                        ssize_t n = read(fd, buf + have, sizeof buf - have);
                        if (n <= 0)
                                return;
                        have += (size_t) n;
                        continue;
                }
                if (r < 0) {
                        logf_line("bad message: %s", strerror(-r));
                        return;
                }
                if (m.type == DBUS_TYPE_METHOD_CALL) {
                        if (STREQ(m.member, "Hello")) {
                                logf_line("Hello");
                                uint8_t body[64];
                                struct dbus_writer w = { .buf = body, .size = sizeof body };
                                dbus_w_string(&w, ":1.42");
                                r = reply(fd, &m, &serial, NULL, "s", body, w.len);
                        } else if (STREQ(m.member, "Ping") && STREQ(m.interface, "org.freedesktop.DBus.Peer")) {
                                logf_line("Ping");
                                r = reply(fd, &m, &serial, NULL, NULL, NULL, 0);
                        } else if (STREQ(m.member, "SetUnitProperties") && STREQ(m.interface, "org.freedesktop.systemd1.Manager") &&
                                   STREQ(m.path, "/org/freedesktop/systemd1") && STREQ(m.destination, "org.freedesktop.systemd1"))
                                r = handle_set(fd, &m, &serial, &pend);
                        else if (STREQ(m.member, "GetUnitByControlGroup") && STREQ(m.interface, "org.freedesktop.systemd1.Manager"))
                                r = handle_get_by_cgroup(fd, &m, &serial);
                        else {
                                logf_line("unknown %s.%s", m.interface, m.member);
                                r = reply(fd, &m, &serial, "org.freedesktop.DBus.Error.UnknownMethod", NULL, NULL, 0);
                        }
                        if (r < 0)
                                return;
                }
                memmove(buf, buf + size, have - size);
                have -= size;
                /* systemd's realize queue: after the reply, before the next message */
                apply_pending(&pend);
        }
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "socket", required_argument, NULL, 's' },  { "cgroot", required_argument, NULL, 'c' },
                { "log", required_argument, NULL, 'l' },     { "error", required_argument, NULL, 'e' },
                { "error-unit", required_argument, NULL, 'u' }, { "reject", no_argument, NULL, 'r' },
                { "silent", no_argument, NULL, 'q' },        { "write-delay-ms", required_argument, NULL, 'd' },
                { "no-write", no_argument, NULL, 'n' },      { "foreign-cgroup", required_argument, NULL, 'f' },
                {},
        };
        const char *sock = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 's': sock = optarg; break;
                case 'c': opt_cgroot = optarg; break;
                case 'l': opt_log = optarg; break;
                case 'e': opt_error = optarg; break;
                case 'u': opt_error_unit = optarg; break;
                case 'r': opt_reject = true; break;
                case 'q': opt_silent = true; break;
                case 'd': opt_delay_ms = strtol(optarg, NULL, 10); break;
                case 'n': opt_no_write = true; break;
                case 'f':
                        if (n_foreign >= ELEMENTSOF(opt_foreign))
                                return 2;
                        opt_foreign[n_foreign++] = optarg;
                        break;
                default: return 2;
                }
        if (!sock || !opt_cgroot || !opt_log) {
                fprintf(stderr, "usage: fake-systemd-bus --socket PATH --cgroot DIR --log FILE [--error NAME [--error-unit UNIT]] [--reject] [--silent] [--write-delay-ms N] [--no-write] [--foreign-cgroup PATH]...\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(sock) >= sizeof sa.sun_path) {
                fprintf(stderr, "fake-systemd-bus: socket path too long\n");
                return 1;
        }
        strcpy(sa.sun_path, sock);
        int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        unlink(sock);
        /* bind to a temporary name, then rename: the socket appears only
         * once it listens, so a test waiting for it never connects early */
        char tmp[sizeof sa.sun_path];
        if (snprintf(tmp, sizeof tmp, "%s.t", sock) >= (int) sizeof tmp) {
                fprintf(stderr, "fake-systemd-bus: socket path too long\n");
                return 1;
        }
        unlink(tmp);
        strcpy(sa.sun_path, tmp);
        if (ls < 0 || bind(ls, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(ls, 16) < 0 || rename(tmp, sock) < 0) {
                perror("fake-systemd-bus");
                return 1;
        }
        for (;;) {
                int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("fake-systemd-bus: accept");
                        return 1;
                }
                logf_line("connect");
                serve(fd);
                close(fd);
                logf_line("disconnect");
        }
}
