/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A minimal D-Bus client: just enough of the wire protocol
 * (dbus-specification, "Message Protocol" and "Authentication Protocol")
 * for the hook's calls to systemd. Not sd-bus: libsystemd has no static
 * archive, and linking it dynamically costs every container start about
 * 1.3 ms, for one method call and one Ping.
 *
 * One connection, one call at a time, every step bounded by the caller's
 * deadline (CLOCK_MONOTONIC microseconds, as now_usec_monotonic()). Messages
 * are sent little-endian; replies are read in either byte order, at most
 * DBUS_MAX_MESSAGE bytes each, and everything that is not the awaited reply
 * (signals, NameAcquired...) is skipped. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The hook's replies are a few hundred bytes; systemd's largest answers
 * (GetAll on a unit) stay well below. A peer sending more is not
 * systemd: the connection is dropped rather than a larger buffer kept. */
#define DBUS_MAX_MESSAGE (64u * 1024u)
/* Interface, member and error names (dbus-specification: 255 at most). */
#define DBUS_NAME_MAX 255u

enum dbus_type {
        DBUS_TYPE_METHOD_CALL = 1,
        DBUS_TYPE_METHOD_RETURN = 2,
        DBUS_TYPE_ERROR = 3,
        DBUS_TYPE_SIGNAL = 4,
};

enum dbus_field {
        DBUS_FIELD_PATH = 1,
        DBUS_FIELD_INTERFACE = 2,
        DBUS_FIELD_MEMBER = 3,
        DBUS_FIELD_ERROR_NAME = 4,
        DBUS_FIELD_REPLY_SERIAL = 5,
        DBUS_FIELD_DESTINATION = 6,
        DBUS_FIELD_SENDER = 7,
        DBUS_FIELD_SIGNATURE = 8,
        DBUS_FIELD_UNIX_FDS = 9,
};

/* ---- marshalling (little-endian) ---------------------------------------
 * Into a caller's buffer; offsets are relative to w->buf, which must be
 * where the body (or message) starts: both are 8-aligned in a message, so
 * alignment relative to either is the same. A write past size sets
 * overflow and writes nothing more; check it once at the end. */
struct dbus_writer {
        uint8_t *buf;
        size_t size, len;
        bool overflow;
};

void dbus_w_align(struct dbus_writer *w, size_t n);
void dbus_w_u8(struct dbus_writer *w, uint8_t v);
void dbus_w_u32(struct dbus_writer *w, uint32_t v);
void dbus_w_u64(struct dbus_writer *w, uint64_t v);
void dbus_w_bool(struct dbus_writer *w, bool v);
/* "s" and "o" */
void dbus_w_string(struct dbus_writer *w, const char *s);
/* "g", and a variant's signature */
void dbus_w_signature(struct dbus_writer *w, const char *s);

/* An array: its u32 byte length is filled in by dbus_w_array_end(), and
 * counts from the first element (after the padding to its alignment). */
struct dbus_array {
        size_t len_at, start;
};
struct dbus_array dbus_w_array_begin(struct dbus_writer *w, size_t element_alignment);
void dbus_w_array_end(struct dbus_writer *w, struct dbus_array a);

/* ---- messages ----------------------------------------------------------- */
struct dbus_header {
        uint8_t type, flags;
        uint32_t serial;
        uint32_t reply_serial; /* 0: no REPLY_SERIAL field */
        /* NULL: no such field */
        const char *path, *interface, *member, *error_name, *destination, *sender, *signature;
};

/* Builds a complete message: header, padding, then body_len bytes of a
 * body marshalled from offset 0 (signature in h). -ENOBUFS when it does not
 * fit in size, -EINVAL for a header the protocol forbids. */
int dbus_message_build(const struct dbus_header *h, const void *body, size_t body_len, uint8_t *buf, size_t size,
                       size_t *ret_len);

struct dbus_message {
        uint8_t type, flags;
        bool big_endian;
        uint32_t serial, reply_serial;
        /* "" when absent; path is "" too when longer than fits (object
         * paths have no length limit, and the client never needs one) */
        char path[256], interface[DBUS_NAME_MAX + 1], member[DBUS_NAME_MAX + 1], error_name[DBUS_NAME_MAX + 1],
                destination[DBUS_NAME_MAX + 1], sender[DBUS_NAME_MAX + 1], signature[256];
        const uint8_t *body; /* inside the parsed buffer */
        size_t body_len;
};

/* Parses the message at the start of buf (len bytes). 0: *ret filled and
 * *ret_size is its length in buf. -EAGAIN: incomplete; *ret_size is then
 * the full length once the fixed header is in (0 before). -EMSGSIZE: it
 * would exceed DBUS_MAX_MESSAGE. -EBADMSG: malformed (bad byte order or
 * version, lengths, padding, field types, strings, missing fields). */
int dbus_message_parse(const uint8_t *buf, size_t len, struct dbus_message *ret, size_t *ret_size);

/* The body of a reply whose signature is "s" or "o" (GetUnit*, Hello):
 * its one string, copied to buf. -EBADMSG for another signature, a
 * malformed or trailing body, or a string that does not fit in size. */
int dbus_message_body_string(const struct dbus_message *m, char *buf, size_t size);

/* ---- a connection -------------------------------------------------------- */
struct dbus;

/* Connects to the AF_UNIX stream socket at path (non-blocking, close-on-
 * exec) and authenticates with EXTERNAL as our euid. hello: the peer is a
 * bus daemon, so org.freedesktop.DBus.Hello is called first; systemd's
 * private socket is a direct connection and needs none. */
int dbus_open_unix(const char *path, bool hello, uint64_t deadline, struct dbus **ret);
/* The same on a connected stream socket, which it takes over (closed on
 * failure too). The unit tests use it with a socketpair. */
int dbus_open_fd(int fd, bool hello, uint64_t deadline, struct dbus **ret);
struct dbus *dbus_close(struct dbus *b);
static inline void dbus_closep(struct dbus **b) { *b = dbus_close(*b); }

/* Sends a METHOD_CALL (h->type and h->serial are set here) and waits for
 * its reply. 0: a METHOD_RETURN. An ERROR reply: dbus_errno_of() its name,
 * which is copied to ret_error (may be NULL). *ret_answered (may be NULL)
 * is true in both cases: the peer works. Anything else — timeout, I/O error,
 * a malformed or oversized message — is negative errno with *ret_answered
 * false, and the connection is then dead: later calls fail at once with
 * the same error. */
int dbus_call(struct dbus *b, struct dbus_header *h, const void *body, size_t body_len, uint64_t deadline,
              bool *ret_answered, char *ret_error, size_t error_size);

/* dbus_call() for a method that answers one string or object path ("s" or
 * "o"), copied to ret_string. A METHOD_RETURN with any other body is
 * -EBADMSG with *ret_answered true: the connection stays usable. */
int dbus_call_string(struct dbus *b, struct dbus_header *h, const void *body, size_t body_len, uint64_t deadline,
                     bool *ret_answered, char *ret_error, size_t error_size, char *ret_string, size_t string_size);

/* org.freedesktop.systemd1.NoSuchUnit -ENOENT, ...DBus.Error.AccessDenied
 * -EACCES, ...DBus.Error.InvalidArgs -EINVAL, anything else -EIO. */
int dbus_errno_of(const char *error_name);

/* The path of a "unix:path=..." address (DBUS_SYSTEM_BUS_ADDRESS: the first
 * of ';'-separated addresses, its %-escapes decoded). -EAFNOSUPPORT for any
 * other transport (abstract sockets, tcp), -EINVAL when malformed. */
int dbus_address_path(const char *address, char *buf, size_t size);
