/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the evidence: memory.events / memory.stat parsing (bounded,
 * strict about values, lenient about new keys), the snapshot's JSON round
 * trip, and the verdict case by case. TAP output. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "evidence.h"
#include "util.h"
#include "test-helpers.h"

/* A 6.18 memory.events and the head of its memory.stat. */
static const char host_events[] = "low 3\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
static const char host_stat[] = "anon 1048576\nfile 2097152\nworkingset_refault_anon 7\nworkingset_refault_file 99\n"
                                "pgscan 1234\npgsteal 1000\npgfault 5\n";

static void test_parse(void) {
        uint64_t v[EV_N_EVENTS];
        bool h[EV_N_EVENTS];
        CHECK(evidence_parse_flat(host_events, strlen(host_events), evidence_event_keys, EV_N_EVENTS, v, h) == 0 && v[EV_LOW] == 3 &&
                      v[EV_MAX] == 12 && v[EV_OOM_KILL] == 1 && h[EV_OOM_GROUP_KILL],
              "memory.events of 6.18: every key");
        const char old[] = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n";
        CHECK(evidence_parse_flat(old, strlen(old), evidence_event_keys, EV_N_EVENTS, v, h) == 0 && h[EV_OOM_KILL] && !h[EV_OOM_GROUP_KILL],
              "4.19 has no oom_group_kill: absent, not zero");
        uint64_t s[EV_N_STAT];
        bool hs[EV_N_STAT];
        CHECK(evidence_parse_flat(host_stat, strlen(host_stat), evidence_stat_keys, EV_N_STAT, s, hs) == 0 && s[EV_REFAULT_FILE] == 99 &&
                      s[EV_PGSCAN] == 1234 && hs[EV_PGSTEAL],
              "memory.stat: the four counters, other keys skipped");
        CHECK(evidence_parse_flat("", 0, evidence_event_keys, EV_N_EVENTS, v, h) == 0 && !h[EV_LOW], "empty: nothing");
        CHECK(evidence_parse_flat("low 5", 5, evidence_event_keys, EV_N_EVENTS, v, h) == 0 && v[EV_LOW] == 5, "no final newline");
        CHECK(evidence_parse_flat("low 5\nlow 6\n", 12, evidence_event_keys, EV_N_EVENTS, v, h) == -EBADMSG, "a key twice is rejected");
        CHECK(evidence_parse_flat("low -1\n", 7, evidence_event_keys, EV_N_EVENTS, v, h) == -EBADMSG, "negative value");
        CHECK(evidence_parse_flat("low 18446744073709551616\n", 25, evidence_event_keys, EV_N_EVENTS, v, h) == -EBADMSG, "2^64 overflows");
        CHECK(evidence_parse_flat("low 18446744073709551615\n", 25, evidence_event_keys, EV_N_EVENTS, v, h) == 0 && v[EV_LOW] == UINT64_MAX,
              "2^64-1 is a value");
        CHECK(evidence_parse_flat("low\n", 4, evidence_event_keys, EV_N_EVENTS, v, h) == -EBADMSG, "no value");
        CHECK(evidence_parse_flat(" 5\n", 3, evidence_event_keys, EV_N_EVENTS, v, h) == -EBADMSG, "no key");
        CHECK(evidence_parse_flat("low 5 6\n", 8, evidence_event_keys, EV_N_EVENTS, v, h) == -EBADMSG, "two values");
        CHECK(evidence_parse_flat("lowx 5\nlo 4\n", 12, evidence_event_keys, EV_N_EVENTS, v, h) == 0 && !h[EV_LOW], "prefixes are other keys");
        CHECK(evidence_parse_flat("low 5\n", 3, evidence_event_keys, EV_N_EVENTS, v, h) == -EBADMSG, "bounded by len, not by NUL");
        size_t big = EVIDENCE_MAX_FILE_BYTES + 1;
        char *b = malloc(big);
        memset(b, '\n', big);
        CHECK(b && evidence_parse_flat(b, big, evidence_event_keys, EV_N_EVENTS, v, h) == -EFBIG, "larger than 64 KiB: not a kernel file");
        free(b);
}

static struct ev_sample sample(uint64_t low, uint64_t oom_kill, uint64_t cur) {
        struct ev_sample s = { .have_events = true, .have_current = true, .current = cur };
        for (unsigned k = 0; k < EV_N_EVENTS; k++)
                s.have_event[k] = true;
        s.events[EV_LOW] = low;
        s.events[EV_OOM_KILL] = oom_kill;
        return s;
}

static void test_judge(void) {
        struct ev_sample b = sample(2, 0, 10), a_same = sample(2, 0, 50), a_low = sample(9, 0, 50), a_kill = sample(2, 1, 50), a_back = sample(0, 0, 5);
        struct ev_sample no_low = a_same;
        no_low.have_event[EV_LOW] = false;
        const struct {
                struct ev_judge_input in;
                enum ev_verdict want;
                const char *what;
        } cases[] = {
                { { .v2 = true, .protected_ = false, .have_before = true, .have_after = true, .before = &b, .after = &a_low }, EV_NOT_APPLICABLE,
                  "no protection held: not applicable, whatever the kernel counted" },
                { { .v2 = false, .protected_ = true, .have_before = true, .have_after = true, .before = &b, .after = &a_same }, EV_NOT_AVAILABLE,
                  "v1/hybrid: not available" },
                { { .v2 = true, .protected_ = true, .have_before = false, .have_after = true, .before = &b, .after = &a_same }, EV_NOT_AVAILABLE,
                  "no snapshot at start: not available" },
                { { .v2 = true, .protected_ = true, .have_before = true, .have_after = false, .before = &b, .after = &a_same }, EV_NOT_AVAILABLE,
                  "cgroup gone before the stop: not available" },
                { { .v2 = true, .protected_ = true, .have_before = true, .have_after = true, .before = &b, .after = &no_low }, EV_NOT_AVAILABLE,
                  "no 'low' key: not available" },
                { { .v2 = true, .protected_ = true, .have_before = true, .have_after = true, .before = &b, .after = &a_same }, EV_HELD,
                  "low unchanged: held" },
                { { .v2 = true, .protected_ = true, .have_before = true, .have_after = true, .before = &b, .after = &a_low }, EV_BREACHED,
                  "low 2 -> 9: breached" },
                { { .v2 = true, .protected_ = true, .min = 0, .have_before = true, .have_after = true, .before = &b, .after = &a_kill }, EV_HELD,
                  "OOM kill with memory.low only: low held (the limit was hit, not the protection)" },
                { { .v2 = true, .protected_ = true, .min = 4096, .have_before = true, .have_after = true, .before = &b, .after = &a_kill }, EV_BREACHED,
                  "OOM kill while holding memory.min: breached" },
                { { .v2 = true, .protected_ = true, .have_before = true, .have_after = true, .before = &b, .after = &a_back }, EV_HELD,
                  "counters went backwards (cgroup recreated): no delta, held" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                enum ev_verdict got = evidence_judge(&cases[i].in);
                CHECK(got == cases[i].want, "%s (got %s)", cases[i].what, evidence_verdict_name(got));
        }
}

static void test_json(void) {
        struct ev_sample s = sample(4, 1, 123456);
        s.have_stat = true;
        s.have_stat_key[EV_REFAULT_FILE] = true;
        s.stat[EV_REFAULT_FILE] = 77;
        s.have_peak = true;
        s.peak = 999999;
        _cleanup_strbuf_ struct strbuf sb = {0};
        evidence_sample_json(&s, &sb);
        struct json_node *n = NULL;
        struct mg_error err = {0};
        CHECK(sb.buf && json_parse(sb.buf, sb.len, NULL, &n, &err) == 0, "snapshot is JSON: %s", sb.buf ? sb.buf : "(oom)");
        struct ev_sample back;
        CHECK(n && evidence_sample_from_json(n, &back) == 0 && back.events[EV_LOW] == 4 && back.stat[EV_REFAULT_FILE] == 77 &&
                      !back.have_stat_key[EV_PGSCAN] && back.peak == 999999 && back.current == 123456,
              "snapshot round trip");
        json_free(n);
        n = NULL;
        CHECK(json_parse("{\"events\":{\"low\":-1}}", 21, NULL, &n, &err) == 0 && evidence_sample_from_json(n, &back) == -EINVAL,
              "a negative count in a record is junk");
        json_free(n);

        struct ev_sample b = sample(1, 0, 100), a = sample(6, 0, 300);
        struct ev_judge_input in = { .v2 = true, .protected_ = true, .have_before = true, .have_after = true, .before = &b, .after = &a };
        _cleanup_strbuf_ struct strbuf out = {0};
        evidence_format(&in, evidence_judge(&in), NULL, &out);
        CHECK(out.buf && strstr(out.buf, "\"verdict\":\"breached\"") && strstr(out.buf, "\"peak_bytes\":300,\"peak_source\":\"memory.current\""),
              "record evidence: verdict, peak from memory.current: %s", out.buf ? out.buf : "(oom)");
        _cleanup_strbuf_ struct strbuf ev = {0};
        CHECK(evidence_deltas_format(&in, false, &ev) && ev.buf && strstr(ev.buf, "\"low\":5,") && strstr(ev.buf, "\"oom_kill\":0"),
              "memory_events_delta: every key, low 5: %s", ev.buf ? ev.buf : "(oom)");
        in.v2 = false;
        in.have_after = false;
        _cleanup_strbuf_ struct strbuf na = {0};
        evidence_format(&in, evidence_judge(&in), "cgroup v1", &na);
        _cleanup_strbuf_ struct strbuf nd = {0};
        CHECK(na.buf && strstr(na.buf, "\"verdict\":\"not available\",\"why\":\"cgroup v1\"") && !evidence_deltas_format(&in, false, &nd) && !nd.buf,
              "not available: the reason once, no invented numbers: %s", na.buf ? na.buf : "(oom)");
}

int main(void) {
        test_parse();
        test_judge();
        test_json();
        return test_report();
}
