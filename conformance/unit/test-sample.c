/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the sample file: what the stop accepts as the last reading
 * of a container whose cgroup is gone (its own id, bounded, strict), and
 * the round trip of what the sampler writes. TAP output. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"
#include "util.h"
#include "test-helpers.h"

static void test_parse_table(void) {
        static const struct {
                const char *text;
                const char *id;
                int want;
                const char *what;
        } cases[] = {
                { "{\"id\":\"db1\",\"sampled_realtime_usec\":5,\"sample\":{\"events\":{\"low\":3}}}", "db1", 0, "minimal sample" },
                { "{\"id\":\"db2\",\"sampled_realtime_usec\":5,\"sample\":{\"events\":{\"low\":3}}}", "db1", -ESTALE, "another container's sample" },
                { "{\"id\":\"db1\",\"sample\":{\"events\":{\"low\":3}}}", "db1", -EBADMSG, "no time: its age is unknown" },
                { "{\"id\":\"db1\",\"sampled_realtime_usec\":5}", "db1", -EBADMSG, "no reading" },
                { "{\"id\":\"db1\",\"sampled_realtime_usec\":5,\"sample\":{\"events\":{\"low\":-3}}}", "db1", -EBADMSG, "negative counter" },
                { "{\"id\":\"db1\",\"sampled_realtime_usec\":5,\"sample\":{\"events\":{\"low\":3}},\"min\":\"x\"}", "db1", -EBADMSG,
                  "min not a number" },
                { "{\"id\":1,\"sampled_realtime_usec\":5,\"sample\":{\"events\":{}}}", "db1", -EBADMSG, "id not a string" },
                { "{\"id\":\"db1\",", "db1", -EBADMSG, "truncated" },
                { "", "db1", -EBADMSG, "empty" },
                { "[]", "db1", -EBADMSG, "not an object" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct sample_file f;
                int r = sample_parse(cases[i].text, strlen(cases[i].text), cases[i].id, &f);
                CHECK(r == cases[i].want, "%s: %d, want %d", cases[i].what, r, cases[i].want);
        }
        char *big = malloc(SAMPLE_MAX_FILE_BYTES + 2);
        if (big) {
                memset(big, ' ', SAMPLE_MAX_FILE_BYTES + 1);
                struct sample_file f;
                CHECK(sample_parse(big, SAMPLE_MAX_FILE_BYTES + 1, "db1", &f) == -EFBIG, "over the cap: -EFBIG before parsing");
                free(big);
        }
}

static void test_round_trip(void) {
        struct sample_file f = { .id = "db1", .sampled_realtime_usec = 1234567, .have_start = true, .min = 512, .low = 1024 };
        f.s.have_events = f.s.have_event[EV_LOW] = f.s.have_current = true;
        f.s.events[EV_LOW] = 9;
        f.s.current = 4096;
        f.start.have_events = f.start.have_event[EV_LOW] = true;
        f.start.events[EV_LOW] = 2;
        _cleanup_strbuf_ struct strbuf sb = {0};
        sample_format(&f, &sb);
        struct sample_file g;
        int r = sb.buf ? sample_parse(sb.buf, sb.len, "db1", &g) : -ENOMEM;
        CHECK(r == 0 && g.sampled_realtime_usec == 1234567 && g.s.events[EV_LOW] == 9 && g.s.current == 4096 && g.have_start &&
                      g.start.events[EV_LOW] == 2 && g.min == 512 && g.low == 1024,
              "what the sampler writes reads back: %s", sb.buf ? sb.buf : "(oom)");
}

int main(void) {
        test_parse_table();
        test_round_trip();
        return test_report();
}
