/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A minimal D-Bus client for the hook's calls to systemd; see dbus.h for
 * why it is not sd-bus. Wire format: dbus-specification,
 * "Message Protocol" (marshalling, header fields) and "Authentication
 * Protocol" (SASL EXTERNAL).
 *
 * It runs under the hook's seccomp allowlist (sandbox.c), so it keeps to
 * what that admits: socket(AF_UNIX), connect, sendmsg (never write(): a
 * closed peer would raise SIGPIPE; MSG_NOSIGNAL instead), recvmsg (recv()
 * is recvfrom, not admitted), ppoll (glibc's poll() is the poll syscall on
 * x86-64, not admitted), getsockopt(SOL_SOCKET), nanosleep, geteuid. */
#include "dbus.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* ---- marshalling ---------------------------------------------------------- */

static void w_put(struct dbus_writer *w, const void *p, size_t n) {
        if (n == 0) /* p may be NULL then (an empty body) */
                return;
        if (w->overflow || n > w->size - w->len) {
                w->overflow = true;
                return;
        }
        memcpy(w->buf + w->len, p, n);
        w->len += n;
}

void dbus_w_align(struct dbus_writer *w, size_t n) {
        static const uint8_t zero[8];
        size_t pad = (n - w->len % n) % n;
        w_put(w, zero, pad);
}

void dbus_w_u8(struct dbus_writer *w, uint8_t v) {
        w_put(w, &v, 1);
}

void dbus_w_u32(struct dbus_writer *w, uint32_t v) {
        uint8_t b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff };
        dbus_w_align(w, 4);
        w_put(w, b, sizeof b);
}

void dbus_w_u64(struct dbus_writer *w, uint64_t v) {
        uint8_t b[8];
        for (size_t i = 0; i < 8; i++)
                b[i] = (v >> (8 * i)) & 0xff;
        dbus_w_align(w, 8);
        w_put(w, b, sizeof b);
}

void dbus_w_bool(struct dbus_writer *w, bool v) {
        dbus_w_u32(w, v ? 1 : 0);
}

void dbus_w_string(struct dbus_writer *w, const char *s) {
        size_t l = strlen(s);
        if (l > UINT32_MAX) {
                w->overflow = true;
                return;
        }
        dbus_w_u32(w, (uint32_t) l);
        w_put(w, s, l + 1);
}

void dbus_w_signature(struct dbus_writer *w, const char *s) {
        size_t l = strlen(s);
        if (l > 255) {
                w->overflow = true;
                return;
        }
        dbus_w_u8(w, (uint8_t) l);
        w_put(w, s, l + 1);
}

struct dbus_array dbus_w_array_begin(struct dbus_writer *w, size_t element_alignment) {
        struct dbus_array a;
        dbus_w_u32(w, 0);
        a.len_at = w->len - 4;
        dbus_w_align(w, element_alignment);
        a.start = w->len;
        return a;
}

void dbus_w_array_end(struct dbus_writer *w, struct dbus_array a) {
        if (w->overflow)
                return;
        size_t n = w->len - a.start;
        /* the protocol's own limit on an array (2^26 bytes) */
        if (n > (64u << 20)) {
                w->overflow = true;
                return;
        }
        for (size_t i = 0; i < 4; i++)
                w->buf[a.len_at + i] = (n >> (8 * i)) & 0xff;
}

static void w_field(struct dbus_writer *w, uint8_t code, const char *type, const char *value) {
        dbus_w_align(w, 8);
        dbus_w_u8(w, code);
        dbus_w_signature(w, type);
        if (type[0] == 'g')
                dbus_w_signature(w, value);
        else
                dbus_w_string(w, value);
}

int dbus_message_build(const struct dbus_header *h, const void *body, size_t body_len, uint8_t *buf, size_t size,
                       size_t *ret_len) {
        if (h->type < DBUS_TYPE_METHOD_CALL || h->type > DBUS_TYPE_SIGNAL || h->serial == 0 || body_len > UINT32_MAX)
                return -EINVAL;
        /* a body needs its signature; the fields each type requires */
        if ((body_len > 0 && !h->signature) ||
            (h->type == DBUS_TYPE_METHOD_CALL && (!h->path || !h->member)) ||
            (h->type == DBUS_TYPE_ERROR && (!h->error_name || !h->reply_serial)) ||
            (h->type == DBUS_TYPE_METHOD_RETURN && !h->reply_serial) ||
            (h->type == DBUS_TYPE_SIGNAL && (!h->path || !h->interface || !h->member)))
                return -EINVAL;

        struct dbus_writer w = { .buf = buf, .size = size };
        dbus_w_u8(&w, 'l');
        dbus_w_u8(&w, h->type);
        dbus_w_u8(&w, h->flags);
        dbus_w_u8(&w, 1); /* protocol version */
        dbus_w_u32(&w, (uint32_t) body_len);
        dbus_w_u32(&w, h->serial);
        struct dbus_array a = dbus_w_array_begin(&w, 8);
        if (h->path)
                w_field(&w, DBUS_FIELD_PATH, "o", h->path);
        if (h->interface)
                w_field(&w, DBUS_FIELD_INTERFACE, "s", h->interface);
        if (h->member)
                w_field(&w, DBUS_FIELD_MEMBER, "s", h->member);
        if (h->error_name)
                w_field(&w, DBUS_FIELD_ERROR_NAME, "s", h->error_name);
        if (h->reply_serial) {
                dbus_w_align(&w, 8);
                dbus_w_u8(&w, DBUS_FIELD_REPLY_SERIAL);
                dbus_w_signature(&w, "u");
                dbus_w_u32(&w, h->reply_serial);
        }
        if (h->destination)
                w_field(&w, DBUS_FIELD_DESTINATION, "s", h->destination);
        if (h->sender)
                w_field(&w, DBUS_FIELD_SENDER, "s", h->sender);
        if (h->signature && h->signature[0])
                w_field(&w, DBUS_FIELD_SIGNATURE, "g", h->signature);
        dbus_w_array_end(&w, a);
        dbus_w_align(&w, 8); /* the body starts 8-aligned */
        w_put(&w, body, body_len);
        if (w.overflow)
                return -ENOBUFS;
        *ret_len = w.len;
        return 0;
}

/* ---- parsing -------------------------------------------------------------- */

struct reader {
        const uint8_t *p;
        size_t len, pos;
        bool be;
};

/* Padding must be zero (dbus-specification): anything else is not a
 * message we understand. */
static int rd_align(struct reader *r, size_t n) {
        size_t pad = (n - r->pos % n) % n;
        if (pad > r->len - r->pos)
                return -EBADMSG;
        for (size_t i = 0; i < pad; i++)
                if (r->p[r->pos + i] != 0)
                        return -EBADMSG;
        r->pos += pad;
        return 0;
}

static int rd_bytes(struct reader *r, size_t n, const uint8_t **ret) {
        if (n > r->len - r->pos)
                return -EBADMSG;
        *ret = r->p + r->pos;
        r->pos += n;
        return 0;
}

static uint64_t decode(const uint8_t *b, size_t n, bool be) {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++)
                v |= (uint64_t) b[be ? n - 1 - i : i] << (8 * i);
        return v;
}

static int rd_uint(struct reader *r, size_t n, uint64_t *ret) {
        const uint8_t *b;
        int k = rd_align(r, n);
        if (k < 0)
                return k;
        k = rd_bytes(r, n, &b);
        if (k < 0)
                return k;
        *ret = decode(b, n, r->be);
        return 0;
}

/* A string of l bytes and its NUL, none inside it; copied when out is
 * given and it fits, else -EBADMSG (names) or "" (truncate_ok: paths). */
static int rd_chars(struct reader *r, size_t l, char *out, size_t size, bool truncate_ok) {
        const uint8_t *b;
        if (l >= r->len - r->pos) /* the NUL too */
                return -EBADMSG;
        int k = rd_bytes(r, l + 1, &b);
        if (k < 0)
                return k;
        if (b[l] != 0 || memchr(b, 0, l))
                return -EBADMSG;
        if (!out)
                return 0;
        if (l >= size) {
                if (!truncate_ok)
                        return -EBADMSG;
                out[0] = '\0';
                return 0;
        }
        memcpy(out, b, l + 1);
        return 0;
}

static int rd_string(struct reader *r, char *out, size_t size, bool truncate_ok) {
        uint64_t l;
        int k = rd_uint(r, 4, &l);
        if (k < 0)
                return k;
        return rd_chars(r, (size_t) l, out, size, truncate_ok);
}

static int rd_signature(struct reader *r, char *out, size_t size) {
        const uint8_t *b;
        int k = rd_bytes(r, 1, &b);
        if (k < 0)
                return k;
        return rd_chars(r, b[0], out, size, false);
}

/* The value of a header field whose type is not one the client reads:
 * only single basic types are accepted (every field the specification
 * defines is one), which keeps the skipping trivial. */
static int rd_skip_basic(struct reader *r, char type) {
        uint64_t v;
        switch (type) {
        case 'y': {
                const uint8_t *b;
                return rd_bytes(r, 1, &b);
        }
        case 'n': case 'q':
                return rd_uint(r, 2, &v);
        case 'b': case 'i': case 'u': case 'h':
                return rd_uint(r, 4, &v);
        case 'x': case 't': case 'd':
                return rd_uint(r, 8, &v);
        case 's': case 'o':
                return rd_string(r, NULL, 0, false);
        case 'g':
                return rd_signature(r, NULL, 0);
        default:
                return -EBADMSG;
        }
}

int dbus_message_parse(const uint8_t *buf, size_t len, struct dbus_message *ret, size_t *ret_size) {
        *ret_size = 0;
        if (len < 16)
                return -EAGAIN;
        if (buf[0] != 'l' && buf[0] != 'B')
                return -EBADMSG;
        bool be = buf[0] == 'B';
        if (buf[3] != 1)
                return -EBADMSG;
        uint64_t body_len = decode(buf + 4, 4, be), serial = decode(buf + 8, 4, be), fields_len = decode(buf + 12, 4, be);
        /* compared before any sum, so nothing below can overflow */
        if (body_len > DBUS_MAX_MESSAGE || fields_len > DBUS_MAX_MESSAGE)
                return -EMSGSIZE;
        size_t hdr_end = 16 + (size_t) fields_len;
        size_t body_off = (hdr_end + 7) & ~(size_t) 7;
        size_t total = body_off + (size_t) body_len;
        if (total > DBUS_MAX_MESSAGE)
                return -EMSGSIZE;
        *ret_size = total;
        if (len < total)
                return -EAGAIN;
        if (serial == 0)
                return -EBADMSG;

        struct dbus_message m = {
                .type = buf[1],
                .flags = buf[2],
                .big_endian = be,
                .serial = (uint32_t) serial,
        };
        bool has_reply_serial = false, has_signature = false;
        /* the fields, read within their array only */
        struct reader r = { .p = buf, .len = hdr_end, .pos = 16, .be = be };
        int k;
        while (r.pos < hdr_end) {
                const uint8_t *code;
                char type[256];
                uint64_t v;
                if ((k = rd_align(&r, 8)) < 0 || (k = rd_bytes(&r, 1, &code)) < 0 ||
                    (k = rd_signature(&r, type, sizeof type)) < 0)
                        return k;
                if (strlen(type) != 1)
                        return -EBADMSG;
                /* each field the client reads, with the type the
                 * specification gives it; any other type is malformed */
                static const char want[] = { [DBUS_FIELD_PATH] = 'o', [DBUS_FIELD_INTERFACE] = 's',
                                             [DBUS_FIELD_MEMBER] = 's', [DBUS_FIELD_ERROR_NAME] = 's',
                                             [DBUS_FIELD_REPLY_SERIAL] = 'u', [DBUS_FIELD_DESTINATION] = 's',
                                             [DBUS_FIELD_SENDER] = 's', [DBUS_FIELD_SIGNATURE] = 'g',
                                             [DBUS_FIELD_UNIX_FDS] = 'u' };
                if (*code < ELEMENTSOF(want) && want[*code] && want[*code] != type[0])
                        return -EBADMSG;
                switch (*code) {
                case DBUS_FIELD_PATH:
                        k = rd_string(&r, m.path, sizeof m.path, true);
                        break;
                case DBUS_FIELD_INTERFACE:
                        k = rd_string(&r, m.interface, sizeof m.interface, false);
                        break;
                case DBUS_FIELD_MEMBER:
                        k = rd_string(&r, m.member, sizeof m.member, false);
                        break;
                case DBUS_FIELD_ERROR_NAME:
                        k = rd_string(&r, m.error_name, sizeof m.error_name, false);
                        break;
                case DBUS_FIELD_DESTINATION:
                        k = rd_string(&r, m.destination, sizeof m.destination, false);
                        break;
                case DBUS_FIELD_SENDER:
                        k = rd_string(&r, m.sender, sizeof m.sender, false);
                        break;
                case DBUS_FIELD_SIGNATURE:
                        k = rd_signature(&r, m.signature, sizeof m.signature);
                        has_signature = true;
                        break;
                case DBUS_FIELD_REPLY_SERIAL:
                        k = rd_uint(&r, 4, &v);
                        if (k >= 0 && v == 0)
                                k = -EBADMSG;
                        m.reply_serial = (uint32_t) v;
                        has_reply_serial = true;
                        break;
                default: /* UNIX_FDS, and fields of later versions: ignored */
                        k = rd_skip_basic(&r, type[0]);
                        break;
                }
                if (k < 0)
                        return k;
        }
        for (size_t i = hdr_end; i < body_off; i++)
                if (buf[i] != 0)
                        return -EBADMSG;
        if (body_len > 0 && !has_signature)
                return -EBADMSG;
        switch (m.type) {
        case DBUS_TYPE_METHOD_CALL:
                if (!m.member[0])
                        return -EBADMSG;
                break;
        case DBUS_TYPE_METHOD_RETURN:
                if (!has_reply_serial)
                        return -EBADMSG;
                break;
        case DBUS_TYPE_ERROR:
                if (!has_reply_serial || !m.error_name[0])
                        return -EBADMSG;
                break;
        case DBUS_TYPE_SIGNAL:
                if (!m.interface[0] || !m.member[0])
                        return -EBADMSG;
                break;
        default: /* unknown types are to be ignored, not refused */
                break;
        }
        m.body = buf + body_off;
        m.body_len = (size_t) body_len;
        *ret = m;
        return 0;
}

int dbus_message_body_string(const struct dbus_message *m, char *buf, size_t size) {
        assert(m);
        assert(buf);
        if (!STREQ(m->signature, "s") && !STREQ(m->signature, "o"))
                return -EBADMSG;
        if (!m->body)
                return -EBADMSG;
        /* the body is 8-aligned in its message, so offsets from its start
         * align as the specification wants */
        struct reader r = { .p = m->body, .len = m->body_len, .be = m->big_endian };
        int k = rd_string(&r, buf, size, false);
        if (k < 0)
                return k;
        /* exactly one string: anything after it is not the reply we asked for */
        return r.pos == r.len ? 0 : -EBADMSG;
}

/* ---- the connection --------------------------------------------------------- */

struct dbus {
        int fd;
        uint32_t serial;
        int broken; /* 0, or the error that ended the connection */
        size_t have;
        uint8_t buf[DBUS_MAX_MESSAGE];
};

struct dbus *dbus_close(struct dbus *b) {
        if (b) {
                closep(&b->fd);
                free(b);
        }
        return NULL;
}

/* Waits until fd is ready for events or the deadline has passed. ppoll:
 * see the top of this file. */
static int wait_fd(int fd, short events, uint64_t deadline) {
        for (;;) {
                uint64_t now = now_usec_monotonic();
                if (now >= deadline)
                        return -ETIMEDOUT;
                uint64_t left = deadline - now;
                struct timespec ts = { .tv_sec = (time_t) (left / 1000000u), .tv_nsec = (long) (left % 1000000u) * 1000 };
                struct pollfd p = { .fd = fd, .events = events };
                int r = ppoll(&p, 1, &ts, NULL);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r > 0)
                        return 0; /* ready, or HUP/ERR: the next call says which */
        }
}

static int send_all(struct dbus *b, const void *data, size_t len, uint64_t deadline) {
        const uint8_t *p = data;
        while (len > 0) {
                struct iovec iov = { .iov_base = (void *) p, .iov_len = len };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t n = sendmsg(b->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        int r = wait_fd(b->fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Reads whatever has arrived (at least one byte) into the buffer. No
 * control buffer: a file descriptor the peer might pass is closed by the
 * kernel (MSG_CTRUNC), never received. */
static int recv_some(struct dbus *b, uint64_t deadline) {
        if (b->have >= sizeof b->buf)
                return -EMSGSIZE;
        for (;;) {
                struct iovec iov = { .iov_base = b->buf + b->have, .iov_len = sizeof b->buf - b->have };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t n = recvmsg(b->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n > 0) {
                        b->have += (size_t) n;
                        return 0;
                }
                if (n == 0)
                        return -ECONNRESET;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                int r = wait_fd(b->fd, POLLIN, deadline);
                if (r < 0)
                        return r;
        }
}

static void consume(struct dbus *b, size_t n) {
        memmove(b->buf, b->buf + n, b->have - n);
        b->have -= n;
}

/* SASL (dbus-specification, "Authentication Protocol"): a NUL byte, then
 * AUTH EXTERNAL with our euid in decimal, hex-encoded; the server checks it
 * against SO_PEERCRED. "OK <guid>" accepts, "REJECTED <mechanisms>" refuses;
 * anything else is a peer that does not speak D-Bus. */
static int authenticate(struct dbus *b, uint64_t deadline) {
        char uid[16], line[64];
        int n = snprintf(uid, sizeof uid, "%u", (unsigned) geteuid());
        if (n < 0 || (size_t) n >= sizeof uid)
                return -EINVAL;
        size_t l = 0;
        static const char head[] = "AUTH EXTERNAL ";
        line[l++] = '\0';
        memcpy(line + l, head, sizeof head - 1);
        l += sizeof head - 1;
        for (const char *p = uid; *p; p++) {
                static const char hex[] = "0123456789abcdef";
                line[l++] = hex[(unsigned char) *p >> 4];
                line[l++] = hex[(unsigned char) *p & 0xf];
        }
        line[l++] = '\r';
        line[l++] = '\n';
        int r = send_all(b, line, l, deadline);
        if (r < 0)
                return r;

        /* the server's line, bounded: a peer that never ends it is not a bus */
        char *end;
        while (!(end = memmem(b->buf, b->have, "\r\n", 2))) {
                if (b->have >= 512)
                        return -EPROTO;
                r = recv_some(b, deadline);
                if (r < 0)
                        return r;
        }
        size_t ll = (size_t) (end - (char *) b->buf);
        bool ok = ll == 3 + 32 && memcmp(b->buf, "OK ", 3) == 0;
        for (size_t i = 3; ok && i < ll; i++)
                ok = strchr("0123456789abcdefABCDEF", b->buf[i]) && b->buf[i] != '\0';
        if (!ok) {
                bool rejected = ll >= 8 && memcmp(b->buf, "REJECTED", 8) == 0 && (ll == 8 || b->buf[8] == ' ');
                return rejected ? -EACCES : -EPROTO;
        }
        consume(b, ll + 2);
        return send_all(b, "BEGIN\r\n", 7, deadline);
}

int dbus_open_fd(int fd, bool hello, uint64_t deadline, struct dbus **ret) {
        _cleanup_close_ int owned = fd;
        _cleanup_(dbus_closep) struct dbus *b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->fd = TAKE_FD(owned);
        int r = authenticate(b, deadline);
        if (r < 0)
                return r;
        if (hello) {
                /* A bus daemon answers nothing else before Hello; the
                 * unique name it returns is not needed. */
                struct dbus_header h = { .destination = "org.freedesktop.DBus", .path = "/org/freedesktop/DBus",
                                         .interface = "org.freedesktop.DBus", .member = "Hello" };
                r = dbus_call(b, &h, NULL, 0, deadline, NULL, NULL, 0);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(b);
        return 0;
}

int dbus_open_unix(const char *path, bool hello, uint64_t deadline, struct dbus **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t l = strlen(path);
        if (l == 0 || l >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, l + 1);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        for (;;) {
                if (connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno == EINPROGRESS) {
                        int r = wait_fd(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        int err = 0;
                        socklen_t sl = sizeof err;
                        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
                                return -errno;
                        if (err != 0)
                                return -err;
                        break;
                }
                /* A full listen backlog: AF_UNIX answers EAGAIN, not
                 * EINPROGRESS, and poll cannot tell when room frees up;
                 * retry briefly until the deadline. */
                if (errno == EAGAIN) {
                        if (now_usec_monotonic() + 5000 >= deadline)
                                return -ETIMEDOUT;
                        struct timespec ts = { .tv_nsec = 5 * 1000 * 1000 };
                        (void) nanosleep(&ts, NULL);
                        continue;
                }
                return -errno;
        }
        return dbus_open_fd(TAKE_FD(fd), hello, deadline, ret);
}

/* Reads messages until the reply to serial; others are skipped. The
 * reply's body is read (into ret_string, when given) before the buffer
 * moves on; *ret_body_error is then its verdict. */
static int read_reply(struct dbus *b, uint32_t serial, uint64_t deadline, struct dbus_message *m, char *ret_string,
                      size_t string_size, int *ret_body_error) {
        for (;;) {
                size_t size;
                int r = dbus_message_parse(b->buf, b->have, m, &size);
                if (r == -EAGAIN) {
                        r = recv_some(b, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (r < 0)
                        return r;
                bool mine = (m->type == DBUS_TYPE_METHOD_RETURN || m->type == DBUS_TYPE_ERROR) && m->reply_serial == serial;
                if (mine) {
                        *ret_body_error = 0;
                        if (ret_string && m->type == DBUS_TYPE_METHOD_RETURN)
                                *ret_body_error = dbus_message_body_string(m, ret_string, string_size);
                        /* the body points into the buffer, which moves on */
                        m->body = NULL;
                        m->body_len = 0;
                }
                consume(b, size);
                if (mine)
                        return 0;
        }
}

int dbus_call(struct dbus *b, struct dbus_header *h, const void *body, size_t body_len, uint64_t deadline,
              bool *ret_answered, char *ret_error, size_t error_size) {
        return dbus_call_string(b, h, body, body_len, deadline, ret_answered, ret_error, error_size, NULL, 0);
}

int dbus_call_string(struct dbus *b, struct dbus_header *h, const void *body, size_t body_len, uint64_t deadline,
                     bool *ret_answered, char *ret_error, size_t error_size, char *ret_string, size_t string_size) {
        struct dbus_message m;
        uint8_t msg[4096];
        size_t len;
        int body_error = 0;
        int r;

        assert(b);
        assert(h);
        if (ret_string && string_size)
                ret_string[0] = '\0';
        if (ret_answered)
                *ret_answered = false;
        if (ret_error && error_size)
                ret_error[0] = '\0';
        if (b->broken)
                return b->broken;
        h->type = DBUS_TYPE_METHOD_CALL;
        /* serials are never 0; wrapping after 2^32 calls is harmless here */
        if (++b->serial == 0)
                b->serial = 1;
        h->serial = b->serial;
        r = dbus_message_build(h, body, body_len, msg, sizeof msg, &len);
        if (r < 0)
                return r; /* nothing was sent: the connection is fine */
        r = send_all(b, msg, len, deadline);
        if (r >= 0)
                r = read_reply(b, h->serial, deadline, &m, ret_string, string_size, &body_error);
        if (r < 0) {
                /* a half-sent message or a half-read stream cannot be
                 * resynchronised */
                b->broken = r;
                return r;
        }
        if (ret_answered)
                *ret_answered = true;
        if (m.type == DBUS_TYPE_METHOD_RETURN) {
                /* a reply whose body is not the one string asked for: the
                 * stream is still in step, only this answer is unusable */
                if (body_error < 0 && ret_string && string_size)
                        ret_string[0] = '\0';
                return body_error;
        }
        if (ret_error && error_size)
                snprintf(ret_error, error_size, "%s", m.error_name);
        return dbus_errno_of(m.error_name);
}

int dbus_errno_of(const char *error_name) {
        static const struct {
                const char *name;
                int r;
        } map[] = {
                { "org.freedesktop.systemd1.NoSuchUnit", -ENOENT },
                { "org.freedesktop.DBus.Error.AccessDenied", -EACCES },
                { "org.freedesktop.DBus.Error.InvalidArgs", -EINVAL },
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (STREQ(error_name, map[i].name))
                        return map[i].r;
        return -EIO;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int dbus_address_path(const char *address, char *buf, size_t size) {
        /* "transport:key=value,key=value;next-address" */
        size_t alen = strcspn(address, ";");
        if (alen < 5 || strncmp(address, "unix:", 5) != 0)
                return -EAFNOSUPPORT;
        const char *p = address + 5, *end = address + alen;
        while (p < end) {
                size_t kv = strcspn(p, ",;");
                if (kv >= 5 && strncmp(p, "path=", 5) == 0) {
                        size_t o = 0;
                        for (const char *s = p + 5; s < p + kv; s++) {
                                char c = *s;
                                if (c == '%') {
                                        int hi = s + 2 < p + kv ? unhex(s[1]) : -1, lo = hi >= 0 ? unhex(s[2]) : -1;
                                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                                                return -EINVAL;
                                        c = (char) (hi << 4 | lo);
                                        s += 2;
                                }
                                if (o + 1 >= size)
                                        return -ENAMETOOLONG;
                                buf[o++] = c;
                        }
                        if (o == 0)
                                return -EINVAL;
                        buf[o] = '\0';
                        return 0;
                }
                p += kv + (p[kv] == ',');
        }
        /* unix:abstract=, unix:tmpdir=... */
        return -EAFNOSUPPORT;
}
