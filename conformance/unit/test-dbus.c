/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the D-Bus client (hook/dbus.c) and of the call systemd.c
 * makes with it. Each case runs the client against a scripted
 * fake server in a forked child, over a socketpair (or an AF_UNIX socket
 * in a temporary directory): authentication, replies, refusals, signals to
 * skip, and every way a peer can be broken — truncated, oversized, garbage,
 * silent. The child checks what it received and says so in its exit
 * status. TAP output. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbus.h"
#include "systemd.h"
#include "util.h"
#include "test-helpers.h"

#define MS 1000u

/* ---- the fake server's side ----------------------------------------------- */

static uint8_t sbuf[2 * DBUS_MAX_MESSAGE];
static size_t shave;

static int s_send(int fd, const void *p, size_t n) {
        const uint8_t *b = p;
        while (n > 0) {
                ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
                if (k <= 0)
                        return -1;
                b += k;
                n -= (size_t) k;
        }
        return 0;
}

static bool s_fill(int fd) {
        if (shave >= sizeof sbuf)
                return false;
        ssize_t n = read(fd, sbuf + shave, sizeof sbuf - shave);
        if (n <= 0)
                return false;
        shave += (size_t) n;
        return true;
}

static void s_consume(size_t n) {
        memmove(sbuf, sbuf + n, shave - n);
        shave -= n;
}

/* One line of the SASL exchange into line (CRLF removed). */
static bool s_line(int fd, char *line, size_t size) {
        uint8_t *e;
        while (!(e = memmem(sbuf, shave, "\r\n", 2)))
                if (!s_fill(fd))
                        return false;
        size_t l = (size_t) (e - sbuf);
        if (l >= size)
                return false;
        memcpy(line, sbuf, l);
        line[l] = '\0';
        s_consume(l + 2);
        return true;
}

/* The client's opening: NUL, AUTH EXTERNAL hex(euid); answered with reply. */
static bool s_auth(int fd, const char *reply) {
        char line[128], want[64], uid[16];
        snprintf(uid, sizeof uid, "%u", (unsigned) geteuid());
        size_t o = snprintf(want, sizeof want, "AUTH EXTERNAL ");
        for (const char *p = uid; *p; p++)
                o += snprintf(want + o, sizeof want - o, "%02x", (unsigned char) *p);
        while (shave < 1)
                if (!s_fill(fd))
                        return false;
        if (sbuf[0] != '\0')
                return false;
        s_consume(1);
        if (!s_line(fd, line, sizeof line) || !STREQ(line, want))
                return false;
        return s_send(fd, reply, strlen(reply)) == 0;
}

static bool s_auth_ok(int fd) {
        char line[64];
        return s_auth(fd, "OK 0123456789abcdef0123456789abcdef\r\n") && s_line(fd, line, sizeof line) && STREQ(line, "BEGIN");
}

static bool s_message(int fd, struct dbus_message *m) {
        for (;;) {
                size_t size;
                int r = dbus_message_parse(sbuf, shave, m, &size);
                if (r == 0) {
                        /* the body stays valid until the next s_message: keep a copy */
                        static uint8_t body[DBUS_MAX_MESSAGE];
                        memcpy(body, m->body, m->body_len);
                        m->body = body;
                        s_consume(size);
                        return true;
                }
                if (r != -EAGAIN || !s_fill(fd))
                        return false;
        }
}

static bool s_reply(int fd, const struct dbus_message *call, uint8_t type, const char *error, uint32_t reply_serial) {
        uint8_t msg[1024];
        size_t len;
        static uint32_t next_serial = 1000;
        next_serial++;
        struct dbus_header h = { .type = type, .serial = next_serial, .reply_serial = reply_serial ? reply_serial : call->serial,
                                 .error_name = error };
        if (type == DBUS_TYPE_SIGNAL) {
                h.reply_serial = 0;
                h.path = "/org/freedesktop/DBus";
                h.interface = "org.freedesktop.DBus";
                h.member = "NameAcquired";
        }
        return dbus_message_build(&h, NULL, 0, msg, sizeof msg, &len) == 0 && s_send(fd, msg, len) == 0;
}

static bool s_return(int fd, const struct dbus_message *call) {
        return s_reply(fd, call, DBUS_TYPE_METHOD_RETURN, NULL, 0);
}

/* Holds the connection open, answering nothing, until the client closes. */
static void s_hold(int fd) {
        while (s_fill(fd))
                shave = 0;
}

/* ---- running a case ---------------------------------------------------------- */

typedef bool (*server_fn)(int fd);

struct peer {
        pid_t pid;
        int fd; /* the client's end */
};

static struct peer fork_server(server_fn fn) {
        int sv[2];
        struct peer p = { -1, -1 };
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return p;
        fflush(stdout);
        p.pid = fork();
        if (p.pid == 0) {
                close(sv[0]);
                shave = 0;
                bool ok = fn(sv[1]);
                _exit(ok ? 0 : 1);
        }
        close(sv[1]);
        p.fd = sv[0];
        return p;
}

/* The server's verdict (after the client closed its end). */
static bool server_ok(struct peer *p) {
        int st;
        if (p->pid <= 0 || waitpid(p->pid, &st, 0) != p->pid)
                return false;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static uint64_t deadline_in(uint64_t usec) {
        return now_usec_monotonic() + usec;
}

static struct dbus_header call_header(const char *member) {
        return (struct dbus_header) { .destination = "org.freedesktop.systemd1", .path = "/org/freedesktop/systemd1",
                                      .interface = "org.freedesktop.systemd1.Manager", .member = member };
}

/* ---- cases --------------------------------------------------------------------- */

/* A call answered after a signal and a reply to someone else, both skipped. */
static bool srv_return(int fd) {
        struct dbus_message m;
        if (!s_auth_ok(fd) || !s_message(fd, &m))
                return false;
        bool ok = m.type == DBUS_TYPE_METHOD_CALL && !m.big_endian && STREQ(m.member, "Reload") &&
                  STREQ(m.interface, "org.freedesktop.systemd1.Manager") && STREQ(m.path, "/org/freedesktop/systemd1") &&
                  STREQ(m.destination, "org.freedesktop.systemd1") && m.body_len == 0 && m.signature[0] == '\0';
        ok = ok && s_reply(fd, &m, DBUS_TYPE_SIGNAL, NULL, 0) && s_reply(fd, &m, DBUS_TYPE_METHOD_RETURN, NULL, m.serial + 100) &&
             s_return(fd, &m);
        s_hold(fd);
        return ok;
}

static void test_return(void) {
        struct peer p = fork_server(srv_return);
        struct dbus *b = NULL;
        int r = dbus_open_fd(p.fd, false, deadline_in(2000 * MS), &b);
        CHECK(r == 0, "authenticates: AUTH EXTERNAL with hex(euid), OK, BEGIN (%d)", r);
        bool answered = false;
        struct dbus_header h = call_header("Reload");
        r = b ? dbus_call(b, &h, NULL, 0, deadline_in(2000 * MS), &answered, NULL, 0) : -1;
        CHECK(r == 0 && answered, "a METHOD_RETURN after a signal and a reply to another serial: 0, answered (%d)", r);
        b = dbus_close(b);
        CHECK(server_ok(&p), "the server saw the expected call (destination, path, interface, member, no body)");
}

/* Errors: NoSuchUnit, AccessDenied, InvalidArgs, something else; the
 * connection stays usable after each. */
static bool srv_errors(int fd) {
        static const char *const names[] = { "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.DBus.Error.AccessDenied",
                                             "org.freedesktop.DBus.Error.InvalidArgs", "org.freedesktop.systemd1.Weird" };
        struct dbus_message m;
        if (!s_auth_ok(fd))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (!s_message(fd, &m) || !s_reply(fd, &m, DBUS_TYPE_ERROR, names[i], 0))
                        return false;
        if (!s_message(fd, &m) || !STREQ(m.member, "Ping") || !s_return(fd, &m))
                return false;
        s_hold(fd);
        return true;
}

static void test_errors(void) {
        struct peer p = fork_server(srv_errors);
        _cleanup_(dbus_closep) struct dbus *b = NULL;
        int r = dbus_open_fd(p.fd, false, deadline_in(2000 * MS), &b);
        CHECK(r == 0, "authenticated (%d)", r);
        if (r < 0)
                return;
        static const int want[] = { -ENOENT, -EACCES, -EINVAL, -EIO };
        static const char *const what[] = { "NoSuchUnit", "AccessDenied", "InvalidArgs", "an unknown error" };
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                char name[DBUS_NAME_MAX + 1];
                bool answered = false;
                struct dbus_header h = call_header("SetUnitProperties");
                r = dbus_call(b, &h, NULL, 0, deadline_in(2000 * MS), &answered, name, sizeof name);
                CHECK(r == want[i] && answered, "%s -> %s, answered (%d, %s)", what[i], strerror(-want[i]), r, name);
        }
        struct dbus_header h = call_header("Ping");
        r = dbus_call(b, &h, NULL, 0, deadline_in(2000 * MS), NULL, NULL, 0);
        CHECK(r == 0, "after four error replies the connection still works (%d)", r);
        b = dbus_close(b);
        CHECK(server_ok(&p), "the server saw five calls");
}

static bool srv_rejected(int fd) {
        return s_auth(fd, "REJECTED EXTERNAL\r\n");
}
static bool srv_error_line(int fd) {
        return s_auth(fd, "ERROR \"what\"\r\n");
}
static bool srv_ok_bad_guid(int fd) {
        return s_auth(fd, "OK xyz\r\n");
}
static bool srv_endless_line(int fd) {
        char junk[600];
        memset(junk, 'A', sizeof junk);
        return s_auth(fd, "") && s_send(fd, junk, sizeof junk) == 0 && (s_hold(fd), true);
}
static bool srv_auth_silent(int fd) {
        s_hold(fd);
        return true;
}
static bool srv_auth_eof(int fd) {
        return s_auth(fd, "");
}

static void test_auth(void) {
        static const struct {
                server_fn fn;
                int want;
                const char *what;
        } cases[] = {
                { srv_rejected, -EACCES, "REJECTED -> EACCES" },
                { srv_error_line, -EPROTO, "ERROR -> EPROTO" },
                { srv_ok_bad_guid, -EPROTO, "OK without a 32-hex guid -> EPROTO" },
                { srv_endless_line, -EPROTO, "a line that never ends (600 bytes, no CRLF) -> EPROTO" },
                { srv_auth_silent, -ETIMEDOUT, "no answer to AUTH -> ETIMEDOUT at the deadline" },
                { srv_auth_eof, -ECONNRESET, "the peer closes during AUTH -> ECONNRESET" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct peer p = fork_server(cases[i].fn);
                struct dbus *b = NULL;
                /* 300 ms where the deadline is the point, else room for a
                 * child slowed down by valgrind to close its end */
                uint64_t t0 = now_usec_monotonic();
                int r = dbus_open_fd(p.fd, false, t0 + (cases[i].want == -ETIMEDOUT ? 300 : 3000) * MS, &b);
                uint64_t took = now_usec_monotonic() - t0;
                CHECK(r == cases[i].want && !b && took < 2900 * MS, "%s (%d: %s, %" PRIu64 " ms)", cases[i].what, r, strerror(-r),
                      took / MS);
                b = dbus_close(b);
                (void) server_ok(&p);
        }
}

/* A bus daemon: Hello first, NameAcquired follows its reply. */
static bool srv_hello(int fd) {
        struct dbus_message m;
        if (!s_auth_ok(fd) || !s_message(fd, &m))
                return false;
        bool ok = STREQ(m.member, "Hello") && STREQ(m.interface, "org.freedesktop.DBus") && STREQ(m.destination, "org.freedesktop.DBus") &&
                  STREQ(m.path, "/org/freedesktop/DBus");
        ok = ok && s_return(fd, &m) && s_reply(fd, &m, DBUS_TYPE_SIGNAL, NULL, 0) && s_message(fd, &m) && STREQ(m.member, "Ping") &&
             s_return(fd, &m);
        s_hold(fd);
        return ok;
}

static void test_hello(void) {
        struct peer p = fork_server(srv_hello);
        _cleanup_(dbus_closep) struct dbus *b = NULL;
        int r = dbus_open_fd(p.fd, true, deadline_in(2000 * MS), &b);
        CHECK(r == 0, "a bus daemon: Hello answered (%d)", r);
        if (r < 0)
                return;
        struct dbus_header h = call_header("Ping");
        r = dbus_call(b, &h, NULL, 0, deadline_in(2000 * MS), NULL, NULL, 0);
        CHECK(r == 0, "the NameAcquired signal after Hello is skipped (%d)", r);
        b = dbus_close(b);
        CHECK(server_ok(&p), "Hello went to org.freedesktop.DBus before anything else");
}

/* Broken replies: each ends the connection. */
static int bad_kind;
enum { BAD_TRUNC_EOF, BAD_TRUNC_STALL, BAD_HUGE_BODY, BAD_JUST_OVER, BAD_ENDIAN, BAD_VERSION, BAD_PADDING, BAD_NO_ERROR_NAME,
       BAD_STRING_NUL, BAD_FIELD_TYPE, BAD_SILENT, BAD_COUNT };

static void put32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (v >> (8 * i)) & 0xff;
}

static bool srv_bad(int fd) {
        struct dbus_message m;
        uint8_t msg[1024];
        size_t len;
        if (!s_auth_ok(fd) || !s_message(fd, &m))
                return false;
        struct dbus_header h = { .type = DBUS_TYPE_METHOD_RETURN, .serial = 7, .reply_serial = m.serial };
        if (dbus_message_build(&h, NULL, 0, msg, sizeof msg, &len) < 0)
                return false;
        /* the built reply: 'l' 2 0 1, body 0, serial 7, fields 8 bytes:
         * code 5, "u", pad, serial (offsets 16..23) */
        switch (bad_kind) {
        case BAD_TRUNC_EOF:
                return s_send(fd, msg, len - 3) == 0;
        case BAD_TRUNC_STALL:
                if (s_send(fd, msg, len - 3) < 0)
                        return false;
                s_hold(fd);
                return true;
        case BAD_HUGE_BODY:
                put32(msg + 4, 1u << 20);
                break;
        case BAD_JUST_OVER:
                /* header 24 bytes + body: one byte over the cap */
                put32(msg + 4, DBUS_MAX_MESSAGE - 24 + 1);
                break;
        case BAD_ENDIAN:
                msg[0] = 'x';
                break;
        case BAD_VERSION:
                msg[3] = 2;
                break;
        case BAD_NO_ERROR_NAME:
                msg[1] = DBUS_TYPE_ERROR;
                break;
        case BAD_STRING_NUL:
        case BAD_PADDING: {
                struct dbus_header e = { .type = DBUS_TYPE_ERROR, .serial = 7, .reply_serial = m.serial, .error_name = "a.b" };
                if (dbus_message_build(&e, NULL, 0, msg, sizeof msg, &len) < 0)
                        return false;
                /* ERROR_NAME first (16: code, "s" signature, length at
                 * 20, "a.b\0" at 24), padding 28..31, REPLY_SERIAL at 32 */
                if (bad_kind == BAD_STRING_NUL)
                        msg[25] = '\0';
                else
                        msg[29] = 0xff;
                break;
        }
        case BAD_FIELD_TYPE:
                msg[18] = 's'; /* REPLY_SERIAL typed as a string */
                break;
        case BAD_SILENT:
                s_hold(fd);
                return true;
        }
        if (s_send(fd, msg, len) < 0)
                return false;
        s_hold(fd);
        return true;
}

static void test_bad(void) {
        static const struct {
                int want;
                const char *what;
        } cases[BAD_COUNT] = {
                [BAD_TRUNC_EOF] = { -ECONNRESET, "a truncated reply, then EOF -> ECONNRESET" },
                [BAD_TRUNC_STALL] = { -ETIMEDOUT, "a truncated reply, then silence -> ETIMEDOUT at the deadline" },
                [BAD_HUGE_BODY] = { -EMSGSIZE, "a reply announcing a 1 MiB body -> EMSGSIZE, nothing read" },
                [BAD_JUST_OVER] = { -EMSGSIZE, "a reply one byte over the 64 KiB cap -> EMSGSIZE" },
                [BAD_ENDIAN] = { -EBADMSG, "an unknown byte-order mark -> EBADMSG" },
                [BAD_VERSION] = { -EBADMSG, "protocol version 2 -> EBADMSG" },
                [BAD_PADDING] = { -EBADMSG, "non-zero padding -> EBADMSG" },
                [BAD_NO_ERROR_NAME] = { -EBADMSG, "an ERROR without ERROR_NAME -> EBADMSG" },
                [BAD_STRING_NUL] = { -EBADMSG, "a NUL inside the error name -> EBADMSG" },
                [BAD_FIELD_TYPE] = { -EBADMSG, "REPLY_SERIAL with the wrong type -> EBADMSG" },
                [BAD_SILENT] = { -ETIMEDOUT, "a call never answered -> ETIMEDOUT at the deadline" },
        };
        for (bad_kind = 0; bad_kind < BAD_COUNT; bad_kind++) {
                struct peer p = fork_server(srv_bad);
                _cleanup_(dbus_closep) struct dbus *b = NULL;
                int r = dbus_open_fd(p.fd, false, deadline_in(2000 * MS), &b);
                if (r < 0) {
                        CHECK(false, "%s: authenticated (%d)", cases[bad_kind].what, r);
                        continue;
                }
                bool answered = true;
                struct dbus_header h = call_header("Ping");
                uint64_t t0 = now_usec_monotonic();
                r = dbus_call(b, &h, NULL, 0, t0 + (cases[bad_kind].want == -ETIMEDOUT ? 300 : 3000) * MS, &answered, NULL, 0);
                uint64_t took = now_usec_monotonic() - t0;
                bool timed = cases[bad_kind].want != -ETIMEDOUT || (took >= 290 * MS && took < 1000 * MS);
                CHECK(r == cases[bad_kind].want && !answered && timed, "%s (%d: %s, %" PRIu64 " ms)", cases[bad_kind].what, r,
                      strerror(-r), took / MS);
                /* the connection is dead from now on: no second wait */
                t0 = now_usec_monotonic();
                int r2 = dbus_call(b, &h, NULL, 0, t0 + 300 * MS, &answered, NULL, 0);
                CHECK(r2 == r && !answered && now_usec_monotonic() - t0 < 50 * MS, "  then the next call fails at once with the same error (%d)", r2);
                b = dbus_close(b);
                (void) server_ok(&p);
        }
}

/* A reply in big-endian byte order (systemd on s390x, say), by hand. */
static void test_big_endian(void) {
        static const uint8_t msg[] = {
                'B', DBUS_TYPE_ERROR, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 56,
                /* REPLY_SERIAL u 5 */
                DBUS_FIELD_REPLY_SERIAL, 1, 'u', 0, 0, 0, 0, 5,
                /* ERROR_NAME s "org.freedesktop.DBus.Error.AccessDenied" (39) */
                DBUS_FIELD_ERROR_NAME, 1, 's', 0, 0, 0, 0, 39,
                'o', 'r', 'g', '.', 'f', 'r', 'e', 'e', 'd', 'e', 's', 'k', 't', 'o', 'p', '.', 'D', 'B', 'u', 's', '.',
                'E', 'r', 'r', 'o', 'r', '.', 'A', 'c', 'c', 'e', 's', 's', 'D', 'e', 'n', 'i', 'e', 'd', 0,
        };
        struct dbus_message m;
        size_t size;
        int r = dbus_message_parse(msg, sizeof msg, &m, &size);
        CHECK(r == 0 && size == sizeof msg && m.big_endian && m.serial == 9 && m.reply_serial == 5 &&
                      STREQ(m.error_name, "org.freedesktop.DBus.Error.AccessDenied") && dbus_errno_of(m.error_name) == -EACCES,
              "a big-endian ERROR is read (%d, reply_serial %" PRIu32 ", %s)", r, m.reply_serial, m.error_name);
        for (size_t cut = 0; cut < sizeof msg; cut++) {
                r = dbus_message_parse(msg, cut, &m, &size);
                if (r != -EAGAIN) {
                        CHECK(false, "every prefix of a message is incomplete (%zu bytes: %d)", cut, r);
                        return;
                }
        }
        CHECK(true, "every prefix of a message is -EAGAIN, never read past");
}

static void test_build_parse(void) {
        uint8_t body[256] = { 0 }, msg[1024];
        struct dbus_writer w = { .buf = body, .size = sizeof body };
        dbus_w_string(&w, "system.slice");
        dbus_w_bool(&w, true);
        struct dbus_array a = dbus_w_array_begin(&w, 8);
        dbus_w_align(&w, 8);
        dbus_w_string(&w, "MemoryMin");
        dbus_w_signature(&w, "t");
        dbus_w_u64(&w, 134217728);
        dbus_w_array_end(&w, a);
        CHECK(!w.overflow && w.len == 64 && body[24] == 32 && body[28] == 0 && body[32] == 9 && body[47] == 't' && body[56 + 3] == 8,
              "the sba(sv) body: 64 bytes, array of 32 from offset 32, value 128M at 56 (%zu)", w.len);
        struct dbus_header h = { .type = DBUS_TYPE_METHOD_CALL, .serial = 3, .destination = "org.freedesktop.systemd1",
                                 .path = "/org/freedesktop/systemd1", .interface = "org.freedesktop.systemd1.Manager",
                                 .member = "SetUnitProperties", .signature = "sba(sv)" };
        size_t len, size;
        struct dbus_message m;
        int r = dbus_message_build(&h, body, w.len, msg, sizeof msg, &len);
        r = r < 0 ? r : dbus_message_parse(msg, len, &m, &size);
        CHECK(r == 0 && size == len && len % 8 == 0 && m.serial == 3 && STREQ(m.signature, "sba(sv)") && m.body_len == 64 &&
                      memcmp(m.body, body, 64) == 0 && STREQ(m.member, "SetUnitProperties"),
              "build then parse: every field and the body back (%d)", r);
        CHECK(dbus_message_build(&h, body, w.len, msg, 100, &len) == -ENOBUFS, "a message larger than the buffer: ENOBUFS");
        struct dbus_writer small = { .buf = body, .size = 10 };
        dbus_w_string(&small, "system.slice");
        CHECK(small.overflow && small.len <= 10, "the writer stops at its size");
        h.member = NULL;
        CHECK(dbus_message_build(&h, NULL, 0, msg, sizeof msg, &len) == -EINVAL, "a METHOD_CALL without member is refused");
}

static void test_address(void) {
        char p[128];
        CHECK(dbus_address_path("unix:path=/run/dbus/system_bus_socket", p, sizeof p) == 0 && STREQ(p, "/run/dbus/system_bus_socket"),
              "unix:path=");
        CHECK(dbus_address_path("unix:guid=abc,path=/tmp/a%2cb%20c;unix:path=/x", p, sizeof p) == 0 && STREQ(p, "/tmp/a,b c"),
              "path= among other keys, %%-escapes decoded, the first address only (%s)", p);
        CHECK(dbus_address_path("unix:abstract=/tmp/dbus-x", p, sizeof p) == -EAFNOSUPPORT, "abstract socket: EAFNOSUPPORT");
        CHECK(dbus_address_path("tcp:host=localhost,port=1", p, sizeof p) == -EAFNOSUPPORT, "tcp: EAFNOSUPPORT");
        CHECK(dbus_address_path("unix:path=", p, sizeof p) == -EINVAL, "empty path: EINVAL");
        CHECK(dbus_address_path("unix:path=/a%zz", p, sizeof p) == -EINVAL, "a bad escape: EINVAL");
        CHECK(dbus_address_path("unix:path=/a%00b", p, sizeof p) == -EINVAL, "an escaped NUL: EINVAL");
        CHECK(dbus_address_path("unix:path=/0123456789", p, 8) == -ENAMETOOLONG, "too long for the buffer: ENAMETOOLONG");
}

/* ---- a real AF_UNIX socket, and systemd.c's call over it -------------------- */

static char tmpdir[64];

static int listen_at(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(fd, 4) < 0)
                return -1;
        return fd;
}

static server_fn accept_fn;
static int accept_listener = -1;

static bool srv_accept(int unused) {
        (void) unused;
        int fd = accept(accept_listener, NULL, NULL);
        return fd >= 0 && accept_fn(fd);
}

/* A reply carrying one object path (GetUnitByControlGroup's answer). */
static bool s_return_path(int fd, const struct dbus_message *call, const char *path) {
        uint8_t msg[1024], body[512];
        size_t len;
        struct dbus_writer w = { .buf = body, .size = sizeof body };
        dbus_w_string(&w, path);
        struct dbus_header h = { .type = DBUS_TYPE_METHOD_RETURN, .serial = 2000, .reply_serial = call->serial,
                                 .signature = "o" };
        return !w.overflow && dbus_message_build(&h, body, w.len, msg, sizeof msg, &len) == 0 && s_send(fd, msg, len) == 0;
}

static bool s_get_unit(int fd, const char *cgroup, const char *answer) {
        struct dbus_message m;
        uint32_t l = 0;
        if (!s_message(fd, &m))
                return false;
        if (m.body_len >= 4)
                memcpy(&l, m.body, 4);
        bool ok = STREQ(m.member, "GetUnitByControlGroup") && STREQ(m.interface, "org.freedesktop.systemd1.Manager") &&
                  STREQ(m.signature, "s") && l == strlen(cgroup) && m.body_len == 4 + l + 1 &&
                  memcmp(m.body + 4, cgroup, l) == 0;
        if (!ok)
                fprintf(stderr, "# GetUnitByControlGroup: unexpected message (%s, %s)\n", m.member, m.signature);
        return ok && s_return_path(fd, &m, answer);
}

/* The call systemd.c makes: SetUnitProperties with the exact body systemctl
 * set-property --runtime system.slice MemoryMin=134217728 would send,
 * byte for byte, then Ping on the same connection; a second accepted value
 * the cgroup does not show; NoSuchUnit keeps the connection; a scope's unit
 * asked for (once per cgroup), a scope that systemd says is another unit's;
 * and a silent peer ends it. */
static bool srv_systemd(int fd) {
        static const uint8_t want[64] = {
                12, 0, 0, 0, 's', 'y', 's', 't', 'e', 'm', '.', 's', 'l', 'i', 'c', 'e', 0, 0, 0, 0, 1, 0, 0, 0,
                32, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 'M', 'e', 'm', 'o', 'r', 'y', 'M', 'i', 'n', 0, 1, 't', 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 8, 0, 0, 0, 0,
        };
        struct dbus_message m;
        if (!s_auth_ok(fd) || !s_message(fd, &m))
                return false;
        bool ok = STREQ(m.member, "SetUnitProperties") && STREQ(m.interface, "org.freedesktop.systemd1.Manager") &&
                  STREQ(m.signature, "sba(sv)") && m.body_len == sizeof want && memcmp(m.body, want, sizeof want) == 0;
        if (!ok)
                fprintf(stderr, "# SetUnitProperties: unexpected message (%s, %s, %zu bytes)\n", m.member, m.signature, m.body_len);
        ok = ok && s_return(fd, &m) && s_message(fd, &m) && STREQ(m.member, "Ping") && STREQ(m.interface, "org.freedesktop.DBus.Peer") &&
             s_return(fd, &m);
        /* second value: accepted, but the cgroup will not show it */
        ok = ok && s_message(fd, &m) && STREQ(m.member, "SetUnitProperties") && s_return(fd, &m) && s_message(fd, &m) &&
             STREQ(m.member, "Ping") && s_return(fd, &m);
        /* third: refused, the connection stays */
        ok = ok && s_message(fd, &m) && s_reply(fd, &m, DBUS_TYPE_ERROR, "org.freedesktop.systemd1.NoSuchUnit", 0);
        /* the scopes' units */
        ok = ok && s_get_unit(fd, "/system.slice/docker-x.scope", "/org/freedesktop/systemd1/unit/docker_2dx_2escope");
        ok = ok && s_get_unit(fd, "/system.slice/session-3.scope", "/org/freedesktop/systemd1/unit/system_2eslice");
        /* no unit for the cgroup at all: refused, the connection stays */
        ok = ok && s_message(fd, &m) && STREQ(m.member, "GetUnitByControlGroup") &&
             s_reply(fd, &m, DBUS_TYPE_ERROR, "org.freedesktop.systemd1.NoSuchUnit", 0);
        /* then: silence */
        s_hold(fd);
        return ok;
}

static void test_systemd(void) {
        char path[256], sysroot[128], unit[256];
        struct mg_error err = {0};
        snprintf(sysroot, sizeof sysroot, "%s/root", tmpdir);
        snprintf(path, sizeof path, "%s/run/systemd/system", sysroot);
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s/cg'", path, tmpdir);
        CHECK(system(cmd) == 0, "a sysroot where systemd runs");
        snprintf(path, sizeof path, "%s/cg/memory.min", tmpdir);
        int wfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(wfd >= 0 && write(wfd, "134217728\n", 10) == 10, "a cgroup directory whose memory.min reads 134217728");
        close(wfd);
        snprintf(path, sizeof path, "%s/cg", tmpdir);
        _cleanup_close_ int cgfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        snprintf(path, sizeof path, "%s/run/systemd/private", sysroot);
        accept_listener = listen_at(path);
        CHECK(accept_listener >= 0, "a fake systemd at <sysroot>/run/systemd/private");
        accept_fn = srv_systemd;
        struct peer p = fork_server(srv_accept);
        close(p.fd);

        _cleanup_(systemd_client_freep) struct systemd_client *c = NULL;
        CHECK(systemd_client_new(sysroot, 1000 * MS, UINT64_MAX, &c) == 0 && systemd_client_running(c), "a client for the sysroot");
        CHECK(systemd_client_resolve(c, "/system.slice", unit, sizeof unit, &err) == SYSTEMD_CGROUP_UNIT && STREQ(unit, "system.slice"),
              "a top-level slice is its unit by name, nothing asked");
        CHECK(systemd_client_resolve(c, "/machine.slice/libpod-x.scope/container", unit, sizeof unit, &err) == SYSTEMD_CGROUP_PLAIN,
              "crun's container sub-cgroup is no unit");
        uint64_t actual = 0;
        int r = systemd_client_set_memory_protection(c, "system.slice", cgfd, "memory.min", 134217728, &actual, &err);
        CHECK(r == 0 && actual == 134217728, "SetUnitProperties then Ping over <sysroot>/run/systemd/private, read back (%d: %s)", r, err.msg);
        r = systemd_client_set_memory_protection(c, "system.slice", cgfd, "memory.min", 268435456, &actual, &err);
        CHECK(r == -EREMOTEIO && actual == 134217728 &&
                      STREQ(err.msg, "systemd accepted MemoryMin=268435456 for system.slice, but memory.min reads back 134217728"),
              "accepted, but the cgroup does not show it: EREMOTEIO (%d: %s)", r, err.msg);
        r = systemd_client_set_memory_protection(c, "system.slice", cgfd, "memory.low", 0, NULL, &err);
        CHECK(r == -ENOENT && err.code == -ENOENT, "NoSuchUnit: ENOENT (%d: %s)", r, err.msg);
        r = systemd_client_resolve(c, "/system.slice/docker-x.scope", unit, sizeof unit, &err);
        CHECK(r == SYSTEMD_CGROUP_UNIT && STREQ(unit, "docker-x.scope"), "systemd names the scope's own unit: UNIT (%d)", r);
        r = systemd_client_resolve(c, "/system.slice/docker-x.scope", unit, sizeof unit, &err);
        CHECK(r == SYSTEMD_CGROUP_UNIT, "asked once per cgroup (the server expects no second question) (%d)", r);
        r = systemd_client_resolve(c, "/system.slice/session-3.scope", unit, sizeof unit, &err);
        CHECK(r == SYSTEMD_CGROUP_MISPLACED && STREQ(unit, "session-3.scope"),
              "systemd names the slice above it (it does not know the cgroup): MISPLACED (%d)", r);
        r = systemd_client_resolve(c, "/system.slice/gone.scope", unit, sizeof unit, &err);
        CHECK(r == SYSTEMD_CGROUP_MISPLACED, "systemd knows no unit for it (NoSuchUnit): MISPLACED (%d)", r);
        CHECK(systemd_client_resolve(c, "/tenant/system.slice", unit, sizeof unit, &err) == SYSTEMD_CGROUP_MISPLACED,
              "a slice name outside its place: MISPLACED, nothing asked");
        uint64_t t0 = now_usec_monotonic();
        r = systemd_client_set_memory_protection(c, "docker-x.scope", cgfd, "memory.min", 1, NULL, &err);
        uint64_t took = now_usec_monotonic() - t0;
        CHECK(r == -ETIMEDOUT && took >= 990 * MS && STREQ(err.msg, "Connection timed out"),
              "on the same connection, no answer: ETIMEDOUT after %" PRIu64 " ms", took / MS);
        t0 = now_usec_monotonic();
        r = systemd_client_set_memory_protection(c, "docker-x.scope", cgfd, "memory.low", 1, NULL, &err);
        CHECK(r == -ETIMEDOUT && now_usec_monotonic() - t0 < 50 * MS, "then the bus stays failed for the run: no second wait (%d)", r);
        r = systemd_client_resolve(c, "/system.slice/other.scope", unit, sizeof unit, &err);
        CHECK(r == -ETIMEDOUT && now_usec_monotonic() - t0 < 50 * MS, "resolving a scope on the failed bus: the same error at once (%d)", r);
        CHECK(systemd_client_set_memory_protection(c, "system.slice", cgfd, "memory.max", 1, NULL, &err) == -EINVAL,
              "only memory.min and memory.low");
        close(accept_listener);
        CHECK(server_ok(&p), "the fake systemd saw the exact SetUnitProperties body, a Ping after each, the scopes' questions");

        /* the run's deadline bounds every call, whatever the call timeout:
         * a socket that listens and never accepts takes the connection and
         * the authentication line, then nothing answers */
        char late_root[128];
        snprintf(late_root, sizeof late_root, "%s/late", tmpdir);
        snprintf(cmd, sizeof cmd, "mkdir -p '%s/run/systemd/system'", late_root);
        CHECK(system(cmd) == 0, "a second sysroot");
        snprintf(path, sizeof path, "%s/run/systemd/private", late_root);
        _cleanup_close_ int mute = listen_at(path);
        _cleanup_(systemd_client_freep) struct systemd_client *late = NULL;
        CHECK(mute >= 0 && systemd_client_new(late_root, 10000 * MS, now_usec_monotonic() + 200 * MS, &late) == 0,
              "a client with 10 s per call and 200 ms for the run");
        t0 = now_usec_monotonic();
        r = systemd_client_set_memory_protection(late, "system.slice", cgfd, "memory.min", 1, NULL, &err);
        took = now_usec_monotonic() - t0;
        CHECK(r == -ETIMEDOUT && took >= 150 * MS && took < 1000 * MS, "gives up at the run's deadline (%d after %" PRIu64 " ms)", r,
              took / MS);

        /* no /run/systemd/system: nothing is a unit */
        _cleanup_(systemd_client_freep) struct systemd_client *none = NULL;
        CHECK(systemd_client_new(tmpdir, 1000 * MS, UINT64_MAX, &none) == 0 && !systemd_client_running(none) &&
                      systemd_client_resolve(none, "/system.slice", unit, sizeof unit, &err) == SYSTEMD_CGROUP_PLAIN,
              "without systemd every cgroup is plain");
}

/* systemd's naming rule, as a table. */
static void test_cgroup_kind(void) {
        static const struct {
                const char *path;
                int kind;
                const char *unit;
        } cases[] = {
                { "/system.slice", SYSTEMD_CGROUP_UNIT, "system.slice" },
                { "/system.slice/", SYSTEMD_CGROUP_UNIT, "system.slice" },
                { "/machine.slice/machine-pod.slice", SYSTEMD_CGROUP_UNIT, "machine-pod.slice" },
                { "/machine.slice/machine-pod.slice/libpod-p1.scope", SYSTEMD_CGROUP_UNIT, "libpod-p1.scope" },
                { "/a.slice/a-b.slice/a-b-c.slice", SYSTEMD_CGROUP_UNIT, "a-b-c.slice" },
                { "/user.slice/user-1000.slice/session-3.scope", SYSTEMD_CGROUP_UNIT, "session-3.scope" },
                { "/system.slice/docker-d1.scope", SYSTEMD_CGROUP_UNIT, "docker-d1.scope" },
                { "/init.scope", SYSTEMD_CGROUP_UNIT, "init.scope" },
                { "/_cpu.slice", SYSTEMD_CGROUP_UNIT, "cpu.slice" },
                { "/_cpu.slice/docker-e1.scope", SYSTEMD_CGROUP_UNIT, "docker-e1.scope" },
                { "/_cpu.slice/cpu-x.slice", SYSTEMD_CGROUP_UNIT, "cpu-x.slice" },
                { "/_cpuset.slice/cpuset-x.slice", SYSTEMD_CGROUP_UNIT, "cpuset-x.slice" },
                { "/_memory.scope", SYSTEMD_CGROUP_UNIT, "memory.scope" },
                /* named like units, not where systemd puts them */
                { "/tenant/system.slice", SYSTEMD_CGROUP_MISPLACED, "system.slice" },
                { "/docker/system.slice", SYSTEMD_CGROUP_MISPLACED, "system.slice" },
                { "/system.slice/system.slice", SYSTEMD_CGROUP_MISPLACED, "system.slice" },
                { "/machine-pod.slice", SYSTEMD_CGROUP_MISPLACED, "machine-pod.slice" },
                { "/system.slice/machine-pod.slice", SYSTEMD_CGROUP_MISPLACED, "machine-pod.slice" },
                { "/machine.slice/machine-pod.slice/machine-pod-x.slice/../x.slice", SYSTEMD_CGROUP_MISPLACED, "x.slice" },
                { "/user.slice/user-1000.slice/user@1000.service/app.slice", SYSTEMD_CGROUP_MISPLACED, "app.slice" },
                { "/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope", SYSTEMD_CGROUP_MISPLACED, "x.scope" },
                { "/tenant/system.slice/docker-d1.scope", SYSTEMD_CGROUP_MISPLACED, "docker-d1.scope" },
                { "/tenant/x.scope", SYSTEMD_CGROUP_MISPLACED, "x.scope" },
                { "/a.scope/b.scope", SYSTEMD_CGROUP_MISPLACED, "b.scope" },
                { "/cpu.slice", SYSTEMD_CGROUP_MISPLACED, "cpu.slice" },          /* systemd writes _cpu.slice */
                { "/_system.slice", SYSTEMD_CGROUP_MISPLACED, "system.slice" },   /* and never escapes this one */
                { "/-.slice", SYSTEMD_CGROUP_MISPLACED, "-.slice" },
                { "/_cpu.slice/_cpu-x.slice", SYSTEMD_CGROUP_MISPLACED, "cpu-x.slice" }, /* "cpu-" needs no escape */
                { "/cpuset-x.slice", SYSTEMD_CGROUP_MISPLACED, "cpuset-x.slice" },         /* it is below cpuset.slice */              /* the root has no component */
                { "/a--b.slice", SYSTEMD_CGROUP_MISPLACED, "a--b.slice" },
                { "/a-.slice", SYSTEMD_CGROUP_MISPLACED, "a-.slice" },
                { "/-a.slice", SYSTEMD_CGROUP_MISPLACED, "-a.slice" },
                { "//system.slice/x.scope", SYSTEMD_CGROUP_MISPLACED, "x.scope" },
                /* not units at all */
                { "/", SYSTEMD_CGROUP_PLAIN, "" },
                { "/docker/abc", SYSTEMD_CGROUP_PLAIN, "" },
                { "/machine.slice/libpod-x.scope/container", SYSTEMD_CGROUP_PLAIN, "" },
                { "/system.slice/docker.service", SYSTEMD_CGROUP_PLAIN, "" },
                { "/.slice", SYSTEMD_CGROUP_PLAIN, "" },
                { "/system.slice/a b.scope", SYSTEMD_CGROUP_PLAIN, "" },
                { "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-1.scope", SYSTEMD_CGROUP_UNIT,
                  "cri-containerd-1.scope" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char unit[256] = "";
                int k = systemd_cgroup_kind(cases[i].path, unit, sizeof unit);
                CHECK(k == cases[i].kind && STREQ(unit, cases[i].unit), "kind of %s: %d %s (want %d %s)", cases[i].path, k, unit,
                      cases[i].kind, cases[i].unit);
        }
        CHECK(systemd_cgroup_kind("system.slice", NULL, 0) == -EINVAL, "a relative path: EINVAL");
        char longp[600];
        memset(longp, 'a', sizeof longp - 1);
        longp[0] = '/';
        memcpy(longp + sizeof longp - 7, ".slice", 7);
        CHECK(systemd_cgroup_kind(longp, NULL, 0) == SYSTEMD_CGROUP_PLAIN, "a name longer than a unit's: plain");

        static const struct {
                const char *unit, *path;
        } objects[] = {
                { "system.slice", "/org/freedesktop/systemd1/unit/system_2eslice" },
                { "docker-d1.scope", "/org/freedesktop/systemd1/unit/docker_2dd1_2escope" },
                { "user@1000.service", "/org/freedesktop/systemd1/unit/user_401000_2eservice" },
                { "1a.scope", "/org/freedesktop/systemd1/unit/_31a_2escope" },
                { "-.slice", "/org/freedesktop/systemd1/unit/_2d_2eslice" },
        };
        for (size_t i = 0; i < ELEMENTSOF(objects); i++) {
                char buf[256];
                int r = systemd_unit_object_path(objects[i].unit, buf, sizeof buf);
                CHECK(r == 0 && STREQ(buf, objects[i].path), "object path of %s: %s", objects[i].unit, buf);
        }
        char small[40];
        CHECK(systemd_unit_object_path("system.slice", small, sizeof small) == -ENAMETOOLONG, "an object path that does not fit: ENAMETOOLONG");
}

/* The one-string body reader (GetUnitByControlGroup's reply), both byte orders. */
static void test_body_string(void) {
        uint8_t msg[512], body[256];
        size_t len, size;
        struct dbus_message m;
        char out[128];
        struct dbus_writer w = { .buf = body, .size = sizeof body };
        dbus_w_string(&w, "/org/freedesktop/systemd1/unit/system_2eslice");
        struct dbus_header h = { .type = DBUS_TYPE_METHOD_RETURN, .serial = 5, .reply_serial = 4, .signature = "o" };
        CHECK(dbus_message_build(&h, body, w.len, msg, sizeof msg, &len) == 0 && dbus_message_parse(msg, len, &m, &size) == 0 &&
                      dbus_message_body_string(&m, out, sizeof out) == 0 && STREQ(out, "/org/freedesktop/systemd1/unit/system_2eslice"),
              "an \"o\" reply: its path");
        CHECK(dbus_message_body_string(&m, out, 10) == -EBADMSG, "a path longer than the buffer: EBADMSG");
        dbus_w_u32(&w, 7);
        CHECK(dbus_message_build(&h, body, w.len, msg, sizeof msg, &len) == 0 && dbus_message_parse(msg, len, &m, &size) == 0 &&
                      dbus_message_body_string(&m, out, sizeof out) == -EBADMSG,
              "bytes after the string: EBADMSG");
        h.signature = "u";
        CHECK(dbus_message_build(&h, body, 4, msg, sizeof msg, &len) == 0 && dbus_message_parse(msg, len, &m, &size) == 0 &&
                      dbus_message_body_string(&m, out, sizeof out) == -EBADMSG,
              "another signature: EBADMSG");
        h.signature = NULL;
        CHECK(dbus_message_build(&h, NULL, 0, msg, sizeof msg, &len) == 0 && dbus_message_parse(msg, len, &m, &size) == 0 &&
                      dbus_message_body_string(&m, out, sizeof out) == -EBADMSG,
              "no body: EBADMSG");
        /* big-endian: "B", and the string's length the other way round */
        static const uint8_t be[] = { 'B', 2, 0, 1, 0, 0, 0, 10, 0, 0, 0, 9, 0, 0, 0, 15,
                                      5, 1, 'u', 0, 0, 0, 0, 4, 8, 1, 'g', 0, 1, 's', 0, 0,
                                      0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o', 0 };
        CHECK(dbus_message_parse(be, sizeof be, &m, &size) == 0 && dbus_message_body_string(&m, out, sizeof out) == 0 &&
                      STREQ(out, "hello"),
              "a big-endian \"s\" reply");
}

static void test_open_unix(void) {
        char path[PATH_MAX];
        struct dbus *b = NULL;
        snprintf(path, sizeof path, "%s/none", tmpdir);
        CHECK(dbus_open_unix(path, false, deadline_in(300 * MS), &b) == -ENOENT && !b, "no socket: ENOENT");
        snprintf(path, sizeof path, "%s/dead", tmpdir);
        int fd = listen_at(path);
        close(fd);
        CHECK(dbus_open_unix(path, false, deadline_in(300 * MS), &b) == -ECONNREFUSED && !b, "a socket nobody listens on: ECONNREFUSED");
        char longp[200];
        memset(longp, 'a', sizeof longp - 1);
        longp[0] = '/';
        longp[sizeof longp - 1] = '\0';
        CHECK(dbus_open_unix(longp, false, deadline_in(300 * MS), &b) == -ENAMETOOLONG, "a path longer than sun_path: ENAMETOOLONG");
        uint64_t t0 = now_usec_monotonic();
        CHECK(systemd_bus_ping(tmpdir, 300 * MS, path, sizeof path) == -ENOENT && now_usec_monotonic() - t0 < 100 * MS &&
                      strstr(path, "/run/systemd/private"),
              "doctor's ping: no socket below the sysroot: ENOENT at once (%s)", path);
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        snprintf(tmpdir, sizeof tmpdir, "/tmp/test-dbus.XXXXXX");
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        test_build_parse();
        test_big_endian();
        test_address();
        test_return();
        test_errors();
        test_auth();
        test_hello();
        test_bad();
        test_open_unix();
        test_systemd();
        test_cgroup_kind();
        test_body_string();
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        (void) !system(cmd);
        return test_report();
}
