/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the host configuration (host.json) and the budget rules.
 * The document: valid or one-line error, never a half-taken value, caps
 * within their bounds.  Then the first 64 bytes as limits, usage and a
 * request: the grant never exceeds the request or what the caps leave,
 * and a top-up never lowers anyone nor overshoots, whatever the values
 * (max included). */
#include <stdint.h>
#include <string.h>

#include "budget.h"
#include "host_config.h"

static uint64_t take(const unsigned char *d, size_t size, size_t i) {
        uint64_t v = 0;
        if (size >= (i + 1) * 8)
                memcpy(&v, d + i * 8, 8);
        /* make "max" and small values likely */
        switch (v & 3) {
        case 0: return UINT64_MAX;
        case 1: return v >> 20;
        default: return v;
        }
}

static void check_budget(const unsigned char *d, size_t size) {
        struct budget_limits l = { take(d, size, 0), take(d, size, 1) };
        struct budget_usage u = { take(d, size, 2), take(d, size, 3) };
        struct budget_claim req = { take(d, size, 4), take(d, size, 5) };
        struct budget_decision dec;
        budget_grant(&l, &u, &req, 4096, size & 1, &dec);
        if (dec.granted.min > req.min || dec.granted.low > req.low)
                __builtin_trap();
        if (dec.verdict != BUDGET_FITS && l.min != UINT64_MAX && dec.granted.min > 0 && budget_add(u.min, dec.granted.min) > l.min)
                __builtin_trap();
        uint64_t p = budget_protection_of(dec.granted.min, dec.granted.low);
        if (dec.verdict != BUDGET_FITS && l.protection != UINT64_MAX && p > 0 && budget_add(u.protection, p) > l.protection)
                __builtin_trap();
        struct budget_topup t[2] = {
                { "a", take(d, size, 6), { req.min, req.low }, { dec.granted.min, dec.granted.low } },
                { "b", take(d, size, 7), { req.low, req.min }, { 0, 0 } },
        };
        struct budget_topup before[2];
        memcpy(before, t, sizeof t);
        budget_usage_add(&u, dec.granted.min, dec.granted.low);
        (void) budget_topup(&l, &u, 4096, t, 2);
        for (int i = 0; i < 2; i++) {
                const struct budget_topup *b = STREQ(t[i].id, "a") ? &before[0] : &before[1];
                if (t[i].granted.min < b->granted.min || t[i].granted.low < b->granted.low)
                        __builtin_trap();
                if (t[i].granted.min > t[i].requested.min || t[i].granted.low > t[i].requested.low)
                        __builtin_trap();
        }
        /* one run: the start after the top-ups never exceeds its request */
        struct budget_decision ds;
        struct budget_usage others = { take(d, size, 2), take(d, size, 3) };
        (void) budget_plan_run(&l, &others, t, 2, &req, false, 4096, &ds);
        if (ds.granted.min > req.min || ds.granted.low > req.low)
                __builtin_trap();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        struct host_config hc;
        struct mg_error err = {0};
        int r = host_config_parse("host.json", (const char *) data, size, &hc, &err);
        if (r < 0) {
                if (hc.from_file || !err.msg[0] || strchr(err.msg, '\n'))
                        __builtin_trap();
        } else {
                const struct host_cap *caps[] = { &hc.budget.min, &hc.budget.protection };
                for (size_t i = 0; i < 2; i++)
                        if (!caps[i]->unlimited && caps[i]->size.percent && caps[i]->size.value > HOST_CONFIG_MAX_PERCENT)
                                __builtin_trap();
                struct budget_limits l;
                budget_limits_resolve(&hc, UINT64_MAX / 3, 4096, &l);
        }
        check_budget(data, size);
        return 0;
}
