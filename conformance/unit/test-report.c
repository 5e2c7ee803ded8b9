/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of `oci-memguard report`'s pure pieces: --since durations, the
 * hook's RFC 3339 times, and the line parser that decides what a log line
 * is (record, foreign, truncated) and what a record says. TAP output. */
#include <stdio.h>
#include <string.h>

#include "report.h"
#include "util.h"
#include "test-helpers.h"

#define S 1000000ull

static void test_duration(void) {
        static const struct {
                const char *in;
                int ret;
                uint64_t usec;
        } cases[] = {
                { "90s", 0, 90 * S },           { "15m", 0, 900 * S },      { "1h30m", 0, 5400 * S },
                { "7d", 0, 7 * 86400 * S },     { "2w", 0, 14 * 86400 * S }, { "3600", 0, 3600 * S },
                { "0s", 0, 0 },                 { "1d2h3m4s", 0, (86400 + 7200 + 180 + 4) * S },
                { "", -EINVAL, 0 },             { "h", -EINVAL, 0 },         { "1y", -EINVAL, 0 },
                { "-1h", -EINVAL, 0 },          { "1h2", -EINVAL, 0 },       { "1 h", -EINVAL, 0 },
                { "1h ", -EINVAL, 0 },          { "5200w", 0, 5200ull * 7 * 86400 * S },
                { "5300w", -ERANGE, 0 },        { "99999999999999999999s", -ERANGE, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 12345;
                int r = report_parse_duration(cases[i].in, &v);
                CHECK(r == cases[i].ret && (r < 0 ? v == 12345 : v == cases[i].usec), "duration '%s' -> %d %llu", cases[i].in, r,
                      (unsigned long long) v);
        }
}

static void test_time(void) {
        static const struct {
                const char *in;
                int ret;
                uint64_t usec;
        } cases[] = {
                { "1970-01-01T00:00:00Z", 0, 0 },
                { "1970-01-01T00:00:00.000001Z", 0, 1 },
                { "2026-12-04T22:20:14.123456Z", 0, 1796422814ull * S + 123456 },
                { "2024-02-29T12:00:00.5Z", 0, 1709208000ull * S + 500000 },
                { "2026-12-04T22:20:14.123456789Z", 0, 1796422814ull * S + 123456 },
                { "2026-12-04T22:20:14", -EINVAL, 0 },
                { "2026-12-04T22:20:14.Z", -EINVAL, 0 },
                { "2026-12-04 22:20:14Z", -EINVAL, 0 },
                { "2026-13-04T22:20:14Z", -EINVAL, 0 },
                { "2026-12-04T24:00:00Z", -EINVAL, 0 },
                { "2026-12-04T22:20:14+01:00", -EINVAL, 0 },
                { "1969-12-31T23:59:59Z", -EINVAL, 0 },
                { "", -EINVAL, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 7;
                int r = report_parse_time(cases[i].in, &v);
                CHECK(r == cases[i].ret && (r < 0 ? v == 7 : v == cases[i].usec), "time '%s' -> %d %llu", cases[i].in, r,
                      (unsigned long long) v);
        }
        /* round trip with the hook's own formatter */
        char buf[64];
        uint64_t v;
        format_rfc3339(1796422814ull * S + 42, buf, sizeof buf);
        CHECK(report_parse_time(buf, &v) == 0 && v == 1796422814ull * S + 42, "format_rfc3339 round trip: %s", buf);
}

#define REC "{\"time\":\"2026-12-04T22:20:14.000001Z\",\"stage\":"

static void test_line_kind(void) {
        static const struct {
                const char *in;
                int kind;
        } cases[] = {
                { REC "\"prestart\",\"image\":\"a\"}", REPORT_LINE_RECORD },
                { REC "\"prestart\",\"image\":\"a\"}\r", REPORT_LINE_RECORD },
                { REC "\"poststart\"}", REPORT_LINE_RECORD },
                { REC "\"prestart\",\"image\":\"a", REPORT_LINE_TRUNCATED },
                { "{\"time\":\"2026-12", REPORT_LINE_TRUNCATED },
                { REC "\"prestart\"} trailing", REPORT_LINE_TRUNCATED },
                { "", REPORT_LINE_FOREIGN },
                { "   ", REPORT_LINE_FOREIGN },
                { "Dec  4 22:20:14 host kernel: x", REPORT_LINE_FOREIGN },
                { "[1,2]", REPORT_LINE_FOREIGN },
                { "{\"msg\":\"other program\"}", REPORT_LINE_FOREIGN },
                { "{\"stage\":\"prestart\",\"time\":\"2026-12-04T22:20:14Z\"}", REPORT_LINE_RECORD },
                { "{\"time\":\"yesterday\",\"stage\":\"prestart\"}", REPORT_LINE_FOREIGN },
                { "{\"time\":\"2026-12-04T22:20:14Z\"}", REPORT_LINE_FOREIGN },
                { "{\"time\":\"2026-12-04T22:20:14Z\",\"stage\":7}", REPORT_LINE_FOREIGN },
                { "{\"time\" : \"2026-12-04T22:20:14Z\",\"stage\":\"prestart\"", REPORT_LINE_FOREIGN },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct report_event ev;
                int k = report_parse_line(cases[i].in, strlen(cases[i].in), &ev);
                CHECK(k == cases[i].kind, "line kind %d (want %d): %s", k, cases[i].kind, cases[i].in);
        }
}

static void test_line_fields(void) {
        struct report_event ev;
        static const char line[] =
                REC "\"poststop\",\"id\":\"x\",\"image\":\"db:1\",\"policies\":[\"a.json\",\"b\\nc.json\"],\"build\":true,"
                    "\"actions\":[{\"file\":\"memory.min\",\"result\":\"ok\"},"
                    "{\"file\":\"memory.reclaim\",\"result\":\"ok: 4096 bytes in 1 chunk\"},"
                    "{\"file\":\"memory.reclaim\",\"result\":\"error: Device or resource busy: 0 bytes in 1 chunk\"},"
                    "{\"file\":\"memory.reclaim\",\"result\":\"ok: 100 bytes in 2 chunks\"}],"
                    "\"errors\":[\"e1\",\"e2\"],\"build_guard\":{\"decision\":\"slab-pinned\",\"mem_available_before\":1,\"mem_available_after\":99},"
                    "\"container_duration_us\":5000000,\"memory_events_delta\":{\"low\":4,\"oom\":1},\"duration_us\":1234}";
        CHECK(report_parse_line(line, strlen(line), &ev) == REPORT_LINE_RECORD, "full record parses");
        CHECK(ev.poststop && !ev.start && ev.build, "stage and build");
        CHECK(STREQ(ev.image, "db:1"), "image '%s'", ev.image);
        CHECK(STREQ(ev.policies, "a.json\nb?c.json"), "policies joined by newline, a newline inside made '?'");
        CHECK(STREQ(ev.guard_decision, "slab-pinned"), "guard decision");
        CHECK(ev.bytes_freed == 4196, "bytes freed: only memory.reclaim ok results (%llu)", (unsigned long long) ev.bytes_freed);
        CHECK(ev.has_duration && ev.duration_us == 1234, "duration_us");
        CHECK(ev.has_container_duration && ev.container_duration_us == 5000000, "container_duration_us");
        CHECK(ev.has_low_events && ev.low_events == 4, "memory_events_delta.low");
        CHECK(ev.n_errors == 2, "errors");

        static const char guard_only[] = REC "\"prestart\",\"build_guard\":{\"decision\":\"short\",\"mem_available_before\":1000,"
                                             "\"mem_available_after\":5000},\"duration_us\":\"fast\",\"memory_events_delta\":{\"low\":-1}}";
        CHECK(report_parse_line(guard_only, strlen(guard_only), &ev) == REPORT_LINE_RECORD && ev.start, "guard-only record parses");
        CHECK(ev.bytes_freed == 4000, "without memory.reclaim: the rise of MemAvailable (%llu)", (unsigned long long) ev.bytes_freed);
        CHECK(!ev.has_duration && !ev.has_low_events, "a wrong-typed field is absent, the record still counts");
        CHECK(ev.image[0] == '\0' && ev.policies[0] == '\0', "no image, no policies");

        static const char fell[] = REC "\"prestart\",\"build_guard\":{\"decision\":\"short\",\"mem_available_before\":5000,"
                                       "\"mem_available_after\":1000}}";
        CHECK(report_parse_line(fell, strlen(fell), &ev) == REPORT_LINE_RECORD && ev.bytes_freed == 0, "MemAvailable fell: 0 freed");

        /* an image longer than the event keeps: cut, not overflowed */
        char big[2048];
        int n = snprintf(big, sizeof big, REC "\"prestart\",\"image\":\"%0900d\"}", 0);
        CHECK(n > 0 && report_parse_line(big, (size_t) n, &ev) == REPORT_LINE_RECORD && strlen(ev.image) == sizeof ev.image - 1,
              "a 900-byte image is kept to %zu bytes", sizeof ev.image - 1);
}

int main(void) {
        test_duration();
        test_time();
        test_line_kind();
        test_line_fields();
        return test_report();
}
