/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the metrics model: the counters file round trip and its
 * bounds, a run's contribution (histogram buckets cumulative, sums in
 * seconds), the policy label cap and escaping, gauges set not added, the
 * rendered text. TAP output. */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"
#include "test-helpers.h"

static uint64_t val(const struct metrics *m, const char *key) {
        const struct metrics_series *s = metrics_find(m, key);
        return s ? s->value : UINT64_MAX;
}

static void test_account(void) {
        struct metrics *m = calloc(1, sizeof *m);
        struct metrics_run run = { .stage = "start", .outcome = "ok", .have_duration = true, .duration_us = 3000, .have_lock_wait = true,
                                   .lock_wait_us = 0 };
        metrics_account(m, &run);
        run.duration_us = 20000;
        metrics_account(m, &run);
        CHECK(val(m, "oci_memguard_runs_total{stage=\"start\",outcome=\"ok\"}") == 2, "two runs counted");
        CHECK(val(m, "oci_memguard_hook_duration_seconds_bucket{stage=\"start\",le=\"0.0025\"}") == 0 &&
                      val(m, "oci_memguard_hook_duration_seconds_bucket{stage=\"start\",le=\"0.005\"}") == 1 &&
                      val(m, "oci_memguard_hook_duration_seconds_bucket{stage=\"start\",le=\"0.025\"}") == 2 &&
                      val(m, "oci_memguard_hook_duration_seconds_bucket{stage=\"start\",le=\"+Inf\"}") == 2,
              "buckets are cumulative: 3 ms and 20 ms");
        CHECK(val(m, "oci_memguard_hook_duration_seconds_sum_us{stage=\"start\"}") == 23000, "sum kept in microseconds");
        CHECK(val(m, "oci_memguard_lock_wait_seconds_bucket{le=\"0.001\"}") == 2, "no wait: the first bucket");

        struct metrics_run stop = { .verdict = "breached", .policies_body = "[\"a.json\",\"we\\\"ird.json\"]" };
        metrics_account(m, &stop);
        CHECK(val(m, "oci_memguard_breaches_total{policy=\"a.json\"}") == 1, "breach under each matched policy (1)");
        CHECK(val(m, "oci_memguard_breaches_total{policy=\"we\\\\\\\"ird.json\"}") == 1, "a quote in a policy name is escaped in the label");
        struct metrics_run held = { .verdict = "held" };
        metrics_account(m, &held);
        CHECK(val(m, "oci_memguard_verdicts_total{verdict=\"held\"}") == 1 && val(m, "oci_memguard_breaches_total{policy=\"none\"}") == UINT64_MAX,
              "held: a verdict, no breach");
        struct metrics_run nopol = { .verdict = "breached", .policies_body = "[]" };
        metrics_account(m, &nopol);
        CHECK(val(m, "oci_memguard_breaches_total{policy=\"none\"}") == 1, "breach without policies: policy=\"none\"");

        for (unsigned i = 0; i < 40; i++) {
                char body[64];
                snprintf(body, sizeof body, "[\"p%u.json\"]", i);
                struct metrics_run r = { .verdict = "breached", .policies_body = body };
                metrics_account(m, &r);
        }
        unsigned labels = 0;
        for (size_t i = 0; i < m->n; i++)
                labels += strncmp(m->s[i].key, "oci_memguard_breaches_total{policy=", 35) == 0;
        CHECK(labels == METRICS_MAX_POLICY_LABELS + 1 && val(m, "oci_memguard_breaches_total{policy=\"other\"}") > 0,
              "policy labels capped at %u, then other (%u label values)", METRICS_MAX_POLICY_LABELS, labels);

        struct metrics_gauges g = { .held_min = 100, .held_low = 400, .mem_total = 1000, .protected_containers = 2, .swappiness_claimed = true,
                                    .swappiness = 10 };
        metrics_set_gauges(m, &g);
        metrics_set_gauges(m, &g);
        CHECK(val(m, "oci_memguard_protection_bytes{kind=\"low\"}") == 400 && val(m, "oci_memguard_protected_containers") == 2,
              "gauges are set, not added");
        g.swappiness_claimed = false;
        metrics_set_gauges(m, &g);
        CHECK(val(m, "oci_memguard_swappiness_claimed") == UINT64_MAX, "no claim: the series goes away");

        _cleanup_strbuf_ struct strbuf text = {0};
        metrics_render(m, &text);
        CHECK(text.buf && strstr(text.buf, "# TYPE oci_memguard_hook_duration_seconds histogram\n") &&
                      strstr(text.buf, "oci_memguard_hook_duration_seconds_sum{stage=\"start\"} 0.023000\n") &&
                      strstr(text.buf, "oci_memguard_protection_ratio{kind=\"low\"} 0.400000\n") && !strstr(text.buf, "_sum_us"),
              "rendered: types, sums in seconds, the ratio derived");

        _cleanup_strbuf_ struct strbuf state = {0};
        metrics_serialize(m, &state);
        struct metrics *back = calloc(1, sizeof *back);
        CHECK(state.buf && metrics_parse(state.buf, state.len, back) == 0 && back->n == m->n &&
                      val(back, "oci_memguard_runs_total{stage=\"start\",outcome=\"ok\"}") == 2,
              "counters file round trip (%zu series)", m->n);
        free(back);
        free(m);
}

static void test_parse_bounds(void) {
        struct metrics *m = calloc(1, sizeof *m);
        const char *bad[] = { "[]", "{\"oci_memguard_x\": -1}", "{\"other_metric\": 1}", "{\"oci_memguard_x\": 1.5}", "{", "" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                CHECK(metrics_parse(bad[i], strlen(bad[i]), m) < 0 && m->n == 0, "junk rejected, counters empty: %s", bad[i]);
        struct strbuf big = {0};
        strbuf_puts(&big, "{");
        for (unsigned i = 0; i <= METRICS_MAX_SERIES; i++)
                strbuf_printf(&big, "%s\"oci_memguard_s%u\":1", i ? "," : "", i);
        strbuf_puts(&big, "}");
        CHECK(big.buf && metrics_parse(big.buf, big.len, m) == -E2BIG && m->n == 0, "more than %u series: rejected", METRICS_MAX_SERIES);
        strbuf_free(&big);
        for (unsigned i = 0; i < METRICS_MAX_SERIES; i++) {
                char k[64];
                snprintf(k, sizeof k, "oci_memguard_s%u", i);
                (void) metrics_add(m, k, 1);
        }
        CHECK(metrics_add(m, "oci_memguard_one_more", 1) == -E2BIG && m->n == METRICS_MAX_SERIES, "a full table takes no new series");
        m->n = 0;
        CHECK(metrics_add(m, "oci_memguard_x", UINT64_MAX) == 0 && metrics_add(m, "oci_memguard_x", 5) == 0 && val(m, "oci_memguard_x") == UINT64_MAX,
              "a counter saturates instead of wrapping");
        free(m);
}

int main(void) {
        test_account();
        test_parse_bounds();
        return test_report();
}
