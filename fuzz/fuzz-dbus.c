/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the D-Bus client's reply parser (dbus_message_parse) and its
 * body reader (dbus_message_body_string) — what a process listening on
 * systemd's socket, or a bus daemon, can send the hook. Never read outside
 * the buffer, never accept a message whose parts do not add up, and a
 * parsed message rebuilt by dbus_message_build parses to the same thing. */
#include <errno.h>
#include <string.h>

#include "dbus.h"

#define CHECK(x)                          \
        do {                              \
                if (!(x))                 \
                        __builtin_trap(); \
        } while (0)

static const char *or_null(const char *s) {
        return s[0] ? s : NULL;
}

static void check_strings(const struct dbus_message *m) {
        CHECK(memchr(m->path, 0, sizeof m->path));
        CHECK(memchr(m->interface, 0, sizeof m->interface));
        CHECK(memchr(m->member, 0, sizeof m->member));
        CHECK(memchr(m->error_name, 0, sizeof m->error_name));
        CHECK(memchr(m->destination, 0, sizeof m->destination));
        CHECK(memchr(m->sender, 0, sizeof m->sender));
        CHECK(memchr(m->signature, 0, sizeof m->signature));
}

/* The little-endian messages the client could have built itself. */
static void round_trip(const struct dbus_message *m) {
        static uint8_t again[DBUS_MAX_MESSAGE];
        if (m->big_endian || m->type < DBUS_TYPE_METHOD_CALL || m->type > DBUS_TYPE_SIGNAL)
                return;
        if (m->body_len > 0 && !m->signature[0])
                return;
        struct dbus_header h = {
                .type = m->type, .flags = m->flags, .serial = m->serial, .reply_serial = m->reply_serial,
                .path = or_null(m->path), .interface = or_null(m->interface), .member = or_null(m->member),
                .error_name = or_null(m->error_name), .destination = or_null(m->destination),
                .sender = or_null(m->sender), .signature = or_null(m->signature),
        };
        size_t len, size;
        if (dbus_message_build(&h, m->body, m->body_len, again, sizeof again, &len) < 0)
                return;
        struct dbus_message m2;
        CHECK(dbus_message_parse(again, len, &m2, &size) == 0);
        CHECK(size == len);
        CHECK(m2.type == m->type && m2.flags == m->flags && m2.serial == m->serial && m2.reply_serial == m->reply_serial);
        CHECK(strcmp(m2.path, m->path) == 0 && strcmp(m2.interface, m->interface) == 0 &&
              strcmp(m2.member, m->member) == 0 && strcmp(m2.error_name, m->error_name) == 0 &&
              strcmp(m2.destination, m->destination) == 0 && strcmp(m2.sender, m->sender) == 0 &&
              strcmp(m2.signature, m->signature) == 0);
        CHECK(m2.body_len == m->body_len && (m->body_len == 0 || memcmp(m2.body, m->body, m->body_len) == 0));
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len) {
        struct dbus_message m;
        size_t size = 12345;
        int r = dbus_message_parse(data, len, &m, &size);
        if (r == -EAGAIN) {
                /* incomplete: nothing, or the length it will have */
                CHECK(size == 0 || (size > len && size <= DBUS_MAX_MESSAGE));
                return 0;
        }
        if (r < 0) {
                CHECK(r == -EBADMSG || r == -EMSGSIZE);
                return 0;
        }
        CHECK(r == 0);
        CHECK(size >= 16 && size <= len && size <= DBUS_MAX_MESSAGE);
        CHECK(m.body >= data && m.body + m.body_len == data + size);
        CHECK(m.serial != 0);
        check_strings(&m);

        char s[512];
        memset(s, 0x5a, sizeof s);
        r = dbus_message_body_string(&m, s, sizeof s);
        if (r == 0)
                CHECK(memchr(s, 0, sizeof s) && strlen(s) < m.body_len);
        else
                CHECK(r == -EBADMSG);
        /* a small buffer never overflows either */
        char tiny[4];
        r = dbus_message_body_string(&m, tiny, sizeof tiny);
        CHECK(r == 0 ? strlen(tiny) < sizeof tiny : r == -EBADMSG);

        round_trip(&m);
        return 0;
}
