/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the protection budget (policy/budget.h): the caps resolved
 * from the host configuration and MemTotal, the grant of one start (fits,
 * clamped to part or to nothing, others already above the cap, budgets of
 * 100 % and more or "max", a MemTotal that shrank, cgroup values "max",
 * page rounding, on_error=fail), the overcommit scenario of twenty starts
 * on a small host, and top-ups oldest first.  Table-driven; after every
 * case the invariants are checked too: nothing granted above what was
 * asked, nothing above what the caps leave, a cut value on a page
 * boundary.  Plain C, TAP lines, a final "N passed, M failed". */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "budget.h"
#include "budget_view.h"
#include "test-helpers.h"

#define P UINT64_C(4096)
#define K UINT64_C(1024)
#define M (K * K)
#define G (M * K)
#define T (G * K)
#define MAX UINT64_MAX

/* ---- resolving the caps ------------------------------------------------ */

static void test_limits(void) {
        struct host_config hc;
        struct budget_limits l;
        host_config_defaults(&hc);

        CHECK(hc.budget.min.size.percent && hc.budget.min.size.value == BUDGET_SAFE_MIN_PERCENT && hc.budget.protection.size.percent &&
                      hc.budget.protection.size.value == BUDGET_SAFE_PROTECTION_PERCENT,
              "defaults: the default budget is the safe share doctor warns above");

        /* The overcommit host: MemTotal 7969177 kB (7.6 GiB). */
        uint64_t small = UINT64_C(7969177) * K;
        budget_limits_resolve(&hc, small, P, &l);
        CHECK(l.min == small / 2 - (small / 2) % P && l.min % P == 0, "defaults: min = 50%% of MemTotal, page-rounded (%" PRIu64 ")", l.min);
        CHECK(l.protection == small * 80 / 100 - (small * 80 / 100) % P, "defaults: protection = 80%% of MemTotal (%" PRIu64 ")", l.protection);

        struct {
                const char *desc;
                bool min_unlimited;
                uint64_t min_value;
                bool min_percent;
                uint64_t mem_total, page, want_min;
        } cases[] = {
                { "150% is allowed: 1.5 x MemTotal", false, 150, true, 8 * G, P, 12 * G },
                { "100%: all of MemTotal", false, 100, true, 8 * G, P, 8 * G },
                { "0%: nothing", false, 0, true, 8 * G, P, 0 },
                { "bytes: rounded down to the page", false, 4 * G + 100, false, 8 * G, P, 4 * G },
                { "bytes above MemTotal stay as written", false, 64 * G, false, 8 * G, P, 64 * G },
                { "max: no cap", true, 0, false, 8 * G, P, MAX },
                { "percent of an unknown MemTotal (0) promises nothing", false, 50, true, 0, P, 0 },
                { "1000% of a huge MemTotal saturates instead of wrapping", false, 1000, true, MAX / 2, P, MAX - MAX % P },
                { "page size 64 KiB", false, 50, true, 8 * G + 12345, 64 * K, (8 * G + 12345) / 2 - ((8 * G + 12345) / 2) % (64 * K) },
                { "MemTotal that shrank (VM resized): the cap shrinks with it", false, 50, true, 4 * G, P, 2 * G },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                host_config_defaults(&hc);
                hc.budget.min = (struct host_cap) { .unlimited = cases[i].min_unlimited,
                                                    .size = { .set = true, .percent = cases[i].min_percent, .value = cases[i].min_value } };
                budget_limits_resolve(&hc, cases[i].mem_total, cases[i].page, &l);
                CHECK(l.min == cases[i].want_min, "limits: %s (%" PRIu64 ", want %" PRIu64 ")", cases[i].desc, l.min, cases[i].want_min);
        }
}

/* ---- one start ----------------------------------------------------------- */

struct grant_case {
        const char *desc;
        struct budget_limits limits;
        struct budget_usage used;
        struct budget_claim request;
        bool refuse;
        enum budget_verdict want;
        struct budget_claim granted;
};

static const struct grant_case grant_cases[] = {
        { "fits: granted as asked", { 8 * G, 12 * G }, { 0, 0 }, { 1 * G, 2 * G }, false, BUDGET_FITS, { 1 * G, 2 * G } },
        { "fits exactly to the last byte", { 4 * G, 4 * G }, { 3 * G, 2 * G }, { 1 * G, 2 * G }, false, BUDGET_FITS, { 1 * G, 2 * G } },
        { "min clamped to the room left", { 4 * G, 8 * G }, { 3 * G + 512 * M, 4 * G }, { 1 * G, 2 * G }, false, BUDGET_CLAMPED,
          { 512 * M, 2 * G } },
        { "low clamped by the protection cap", { 8 * G, 8 * G }, { 1 * G, 7 * G }, { 1 * G, 2 * G }, false, BUDGET_CLAMPED, { 1 * G, 1 * G } },
        { "min bounded by the protection cap too (min shields as well)", { 8 * G, 8 * G }, { 0, 7 * G + 512 * M }, { 1 * G, 0 }, false,
          BUDGET_CLAMPED, { 512 * M, 0 } },
        { "min larger than low: each against its room", { 8 * G, 8 * G }, { 0, 6 * G + 512 * M }, { 2 * G, 1 * G }, false, BUDGET_CLAMPED,
          { 1 * G + 512 * M, 1 * G } },
        { "low only, clamped", { 8 * G, 12 * G }, { 4 * G, 11 * G }, { 0, 2 * G }, false, BUDGET_CLAMPED, { 0, 1 * G } },
        { "budget used up: clamped to 0", { 4 * G, 8 * G }, { 4 * G, 8 * G }, { 1 * G, 2 * G }, false, BUDGET_CLAMPED, { 0, 0 } },
        { "others already hold more than the cap: 0, nobody lowered", { 4 * G, 8 * G }, { 10 * G, 20 * G }, { 1 * G, 2 * G }, false,
          BUDGET_CLAMPED, { 0, 0 } },
        { "a top-level memory.low of max fills the protection cap", { 4 * G, 8 * G }, { 0, MAX }, { 1 * G, 2 * G }, false, BUDGET_CLAMPED,
          { 0, 0 } },
        { "caps of max: everything fits, whatever is held", { MAX, MAX }, { 100 * T, MAX }, { 1 * G, 2 * G }, false, BUDGET_FITS,
          { 1 * G, 2 * G } },
        { "budget above 100%: more than MemTotal may be granted", { 12 * G, 16 * G }, { 7 * G, 7 * G }, { 4 * G, 8 * G }, false, BUDGET_FITS,
          { 4 * G, 8 * G } },
        { "a request of max against finite caps: what is left", { 8 * G, 12 * G }, { 0, 0 }, { MAX, MAX }, false, BUDGET_CLAMPED,
          { 8 * G, 12 * G } },
        { "a request of max against caps of max: max", { MAX, MAX }, { 0, 0 }, { MAX, MAX }, false, BUDGET_FITS, { MAX, MAX } },
        { "room not on a page boundary: a cut value is rounded down", { 4 * G + 100, MAX }, { 3 * G, 3 * G }, { 2 * G, 0 }, false,
          BUDGET_CLAMPED, { 1 * G, 0 } },
        { "room one byte short of a page: rounded down to 0", { P - 1, MAX }, { 0, 0 }, { 1 * G, 0 }, false, BUDGET_CLAMPED, { 0, 0 } },
        { "a request off the page boundary that fits is kept as it is", { 8 * G, 8 * G }, { 0, 0 }, { 1000, 3000 }, false, BUDGET_FITS,
          { 1000, 3000 } },
        { "nothing asked: fits even with no room", { 0, 0 }, { 4 * G, 4 * G }, { 0, 0 }, false, BUDGET_FITS, { 0, 0 } },
        { "on_error=fail and it does not fit: refused, nothing granted", { 4 * G, 8 * G }, { 3 * G + 512 * M, 4 * G }, { 1 * G, 2 * G }, true,
          BUDGET_REFUSED, { 0, 0 } },
        { "on_error=fail and it fits: granted", { 4 * G, 8 * G }, { 0, 0 }, { 1 * G, 2 * G }, true, BUDGET_FITS, { 1 * G, 2 * G } },
        { "on_error=fail, room for nothing: refused", { 4 * G, 8 * G }, { 4 * G, 8 * G }, { 1 * G, 0 }, true, BUDGET_REFUSED, { 0, 0 } },
        { "MemTotal shrank below what runs: new starts get 0 min, the rest of protection", { 2 * G, 6 * G + 400 * M },
          { 5 * G, 6 * G }, { 1 * G, 1 * G }, false, BUDGET_CLAMPED, { 0, 400 * M } },
};

static void check_invariants(const struct grant_case *c, const struct budget_decision *d) {
        const struct budget_claim *g = &d->granted;
        bool ok = g->min <= c->request.min && g->low <= c->request.low;
        /* what the caps count after the grant stays under them (unless it
         * was above already: then nothing was added) */
        uint64_t after_min = budget_add(c->used.min, g->min), after_prot = budget_add(c->used.protection, budget_protection_of(g->min, g->low));
        if (c->limits.min != MAX && g->min > 0)
                ok = ok && after_min <= c->limits.min;
        if (c->limits.protection != MAX && (g->min > 0 || g->low > 0))
                ok = ok && after_prot <= c->limits.protection;
        if (g->min != c->request.min)
                ok = ok && g->min % P == 0;
        if (g->low != c->request.low)
                ok = ok && g->low % P == 0;
        ok = ok && d->budget.min == c->limits.min && d->budget.protection == c->limits.protection && d->used.min == c->used.min &&
             d->used.protection == c->used.protection && d->requested.min == c->request.min && d->requested.low == c->request.low;
        CHECK(ok, "invariants: %s", c->desc);
}

static void test_grant(void) {
        for (size_t i = 0; i < ELEMENTSOF(grant_cases); i++) {
                const struct grant_case *c = &grant_cases[i];
                struct budget_decision d;
                budget_grant(&c->limits, &c->used, &c->request, P, c->refuse, &d);
                CHECK(d.verdict == c->want && d.granted.min == c->granted.min && d.granted.low == c->granted.low,
                      "grant: %s (%s %" PRIu64 "/%" PRIu64 ")", c->desc, budget_verdict_name(d.verdict), d.granted.min, d.granted.low);
                check_invariants(c, &d);
        }
}

/* Twenty containers asking min 1G, low 2G on a 7.6 GiB host, one after
 * the other as the ledger would grant them: the first ones get all, one
 * gets what is left, the rest nothing, and the top of the tree stays under
 * both caps. Without a budget the same starts held 20 and 40 GiB. */
static void test_overcommit(void) {
        struct host_config hc;
        host_config_defaults(&hc);
        struct budget_limits l;
        budget_limits_resolve(&hc, UINT64_C(7969177) * K, P, &l);
        struct budget_usage used = {0};
        unsigned full = 0, partial = 0, none = 0;
        for (int i = 0; i < 20; i++) {
                struct budget_decision d;
                struct budget_claim req = { 1 * G, 2 * G };
                budget_grant(&l, &used, &req, P, false, &d);
                budget_usage_add(&used, d.granted.min, d.granted.low);
                if (d.verdict == BUDGET_FITS)
                        full++;
                else if (d.granted.min || d.granted.low)
                        partial++;
                else
                        none++;
        }
        CHECK(used.min <= l.min && used.protection <= l.protection,
              "overcommit: 20 x (1G, 2G) on 7.6 GiB holds min %" PRIu64 " <= %" PRIu64 ", protection %" PRIu64 " <= %" PRIu64, used.min, l.min,
              used.protection, l.protection);
        CHECK(full == 3 && partial == 1 && none == 16, "overcommit: 3 granted whole, 1 clamped to what was left, 16 to nothing (%u/%u/%u)", full,
              partial, none);
        CHECK(l.protection - used.protection < P && l.protection - used.protection < P, "overcommit: the protection cap is used to the last page");
}

/* ---- top-ups --------------------------------------------------------------- */

struct topup_case {
        const char *desc;
        struct budget_limits limits;
        struct budget_usage used; /* includes what the items hold */
        size_t n;
        struct budget_topup in[4];
        size_t want_grown;
        const char *want_order;   /* ids in the order served */
        struct budget_claim want[4]; /* in the order served */
};

static const struct topup_case topup_cases[] = {
        { "room for one: the oldest is topped up first, whatever the input order",
          { 4 * G, 8 * G }, { 3 * G, 7 * G }, 2,
          { { "young", 200, { 1 * G, 1 * G }, { 0, 0 } }, { "old", 100, { 1 * G, 1 * G }, { 0, 0 } } },
          1, "old,young", { { 1 * G, 1 * G }, { 0, 0 } } },
        { "room for one and a half: the next gets the half",
          { 4 * G, 8 * G }, { 2 * G + 512 * M, 6 * G + 512 * M }, 2,
          { { "b", 200, { 1 * G, 1 * G }, { 0, 0 } }, { "a", 100, { 1 * G, 1 * G }, { 0, 0 } } },
          2, "a,b", { { 1 * G, 1 * G }, { 512 * M, 512 * M } } },
        { "a partial grant grows by what is free, its own share counted once",
          { 4 * G, 8 * G }, { 3 * G + 512 * M, 7 * G }, 1,
          { { "a", 100, { 1 * G, 2 * G }, { 512 * M, 512 * M } } },
          1, "a", { { 1 * G, 1 * G + 512 * M } } },
        { "never above what was asked",
          { MAX, MAX }, { 1 * G, 1 * G }, 1,
          { { "a", 100, { 1 * G, 1 * G }, { 512 * M, 0 } } },
          1, "a", { { 1 * G, 1 * G } } },
        { "same start time: by id",
          { 4 * G, 8 * G }, { 3 * G, 3 * G }, 2,
          { { "b", 100, { 1 * G, 0 }, { 0, 0 } }, { "a", 100, { 1 * G, 0 }, { 0, 0 } } },
          1, "a,b", { { 1 * G, 0 }, { 0, 0 } } },
        { "no room: nothing grows, nothing is lowered",
          { 4 * G, 8 * G }, { 4 * G, 8 * G }, 2,
          { { "a", 100, { 1 * G, 1 * G }, { 512 * M, 512 * M } }, { "b", 200, { 1 * G, 1 * G }, { 0, 256 * M } } },
          0, "a,b", { { 512 * M, 512 * M }, { 0, 256 * M } } },
        { "low up to the min already held costs nothing: it grows with no room",
          { 4 * G, 8 * G }, { 4 * G, 8 * G }, 1,
          { { "a", 100, { 1 * G, 1 * G }, { 512 * M, 0 } } },
          1, "a", { { 512 * M, 512 * M } } },
        { "MemTotal shrank below what is held: nothing grows, nothing is lowered",
          { 1 * G, 2 * G }, { 3 * G, 3 * G }, 1,
          { { "a", 100, { 2 * G, 2 * G }, { 1 * G, 1 * G } } },
          0, "a", { { 1 * G, 1 * G } } },
        { "a held value off the page boundary is never rounded below itself",
          { 4 * G, 4 * G }, { 4 * G, 4 * G }, 1,
          { { "a", 100, { 2 * G, 2 * G }, { 1 * G - 100, 1 * G - 100 } } },
          0, "a", { { 1 * G - 100, 1 * G - 100 } } },
        { "room off the page boundary: the top-up is rounded down",
          { 4 * G, MAX }, { 3 * G - 100, 0 }, 1,
          { { "a", 100, { 2 * G, 0 }, { 0, 0 } } },
          1, "a", { { 1 * G, 0 } } },
        { "only the protection cap has room: low grows, min stays",
          { 4 * G, 8 * G }, { 4 * G, 6 * G }, 1,
          { { "a", 100, { 1 * G, 4 * G }, { 0, 0 } } },
          1, "a", { { 0, 2 * G } } },
        { "caps of max: everyone gets all",
          { MAX, MAX }, { MAX, MAX }, 3,
          { { "c", 300, { MAX, 1 }, { 0, 0 } }, { "b", 200, { 1 * G, 1 * G }, { 0, 0 } }, { "a", 100, { 0, 5 * G }, { 0, 0 } } },
          3, "a,b,c", { { 0, 5 * G }, { 1 * G, 1 * G }, { MAX, 1 } } },
};

static void test_topup(void) {
        for (size_t i = 0; i < ELEMENTSOF(topup_cases); i++) {
                const struct topup_case *c = &topup_cases[i];
                struct budget_topup items[4];
                memcpy(items, c->in, sizeof items);
                size_t grown = budget_topup(&c->limits, &c->used, P, items, c->n);
                char order[64] = "";
                bool ok = grown == c->want_grown;
                struct budget_usage added = {0};
                for (size_t j = 0; j < c->n; j++) {
                        size_t l = strlen(order);
                        snprintf(order + l, sizeof order - l, "%s%s", j ? "," : "", items[j].id);
                        ok = ok && items[j].granted.min == c->want[j].min && items[j].granted.low == c->want[j].low;
                        /* never lowered, never above the request */
                        for (size_t k = 0; k < c->n; k++)
                                if (STREQ(c->in[k].id, items[j].id)) {
                                        ok = ok && items[j].granted.min >= c->in[k].granted.min && items[j].granted.low >= c->in[k].granted.low;
                                        added.min = budget_add(added.min, items[j].granted.min - c->in[k].granted.min);
                                        added.protection =
                                                budget_add(added.protection, budget_protection_of(items[j].granted.min, items[j].granted.low) -
                                                                                     budget_protection_of(c->in[k].granted.min, c->in[k].granted.low));
                                }
                        ok = ok && items[j].granted.min <= items[j].requested.min && items[j].granted.low <= items[j].requested.low;
                }
                /* what was added fits in what was free */
                if (c->limits.min != MAX)
                        ok = ok && (added.min == 0 || budget_add(c->used.min, added.min) <= c->limits.min);
                if (c->limits.protection != MAX)
                        ok = ok && (added.protection == 0 || budget_add(c->used.protection, added.protection) <= c->limits.protection);
                ok = ok && STREQ(order, c->want_order);
                CHECK(ok, "top-up: %s (grown %zu, order %s)", c->desc, grown, order);
        }
        CHECK(budget_topup(&(struct budget_limits) { G, G }, &(struct budget_usage) {0}, P, NULL, 0) == 0, "top-up: no items");
}

/* ---- one run: top-ups first, then the start -------------------------------- */

/* The life of the overcommit host through budget_plan_run, as the ledger
 * runs it: twenty starts of (1G, 2G) on 7.6 GiB, then stops. A stop frees
 * room; the next run gives it to the clamped containers, oldest first,
 * before any new start. */
static void test_plan_run(void) {
        struct host_config hc;
        host_config_defaults(&hc);
        struct budget_limits l;
        budget_limits_resolve(&hc, UINT64_C(7969177) * K, P, &l);
        struct budget_usage others = {0};
        struct budget_topup run[20];
        char ids[20][16];
        size_t n = 0;
        for (int i = 0; i < 20; i++) {
                struct budget_decision d;
                struct budget_claim req = { 1 * G, 2 * G };
                size_t grown = budget_plan_run(&l, &others, run, n, &req, false, P, &d);
                CHECK(grown == 0 || i == 0, "run: start %d tops up nobody (nothing freed)", i);
                snprintf(ids[i], sizeof ids[i], "c%02d", i);
                run[n++] = (struct budget_topup) { ids[i], (uint64_t) (100 + i), req, d.granted };
        }
        struct budget_usage used = {0};
        for (size_t i = 0; i < n; i++)
                budget_usage_add(&used, run[i].granted.min, run[i].granted.low);
        CHECK(used.min <= l.min && used.protection <= l.protection && run[3].granted.min > 0 && run[3].granted.min < 1 * G && run[4].granted.min == 0,
              "run: after 20 starts the top holds min %" PRIu64 " <= %" PRIu64 "; c03 got part, c04 nothing", used.min, l.min);

        /* c00 and c01 stop: 2G of min and 4G of protection free up. */
        memmove(&run[0], &run[2], (n - 2) * sizeof run[0]);
        n -= 2;
        struct budget_decision d;
        struct budget_claim req = { 1 * G, 2 * G };
        size_t grown = budget_plan_run(&l, &others, run, n, &req, false, P, &d);
        /* served oldest first: c03 (clamped) is completed, then c04 and c05
         * take what is left; the new start gets nothing */
        bool order_ok = STREQ(run[0].id, "c02") && STREQ(run[1].id, "c03") && STREQ(run[2].id, "c04");
        CHECK(order_ok && run[1].granted.min == 1 * G && run[1].granted.low == 2 * G && run[2].granted.min > 0, "run: a stop tops up the oldest clamped first (c03 whole, then c04)");
        CHECK(grown >= 2 && d.granted.min == 0 && d.granted.low == 0 && d.verdict == BUDGET_CLAMPED,
              "run: the start of the same run comes after the top-ups (grown %zu, start got %" PRIu64 ")", grown, d.granted.min);
        used = (struct budget_usage) {0};
        for (size_t i = 0; i < n; i++)
                budget_usage_add(&used, run[i].granted.min, run[i].granted.low);
        CHECK(used.min <= l.min && used.protection <= l.protection, "run: still under both caps after the top-ups");

        /* a poststop run (no start) with nothing freed changes nothing */
        struct budget_topup copy[20];
        memcpy(copy, run, n * sizeof run[0]);
        CHECK(budget_plan_run(&l, &others, run, n, NULL, false, P, NULL) == 0 && memcmp(copy, run, n * sizeof run[0]) == 0,
              "run: with no room freed, a run without a start changes nothing");

        /* others grow (an admin raises system.slice): nobody is lowered */
        struct budget_usage more = { 3 * G, 3 * G };
        CHECK(budget_plan_run(&l, &more, run, n, &req, false, P, &d) == 0 && memcmp(copy, run, n * sizeof run[0]) == 0 && d.granted.min == 0,
              "run: others taking more lowers nobody, the start gets nothing");
}

/* ---- words and the record ---------------------------------------------------- */

static void test_format(void) {
        char b[32];
        CHECK(STREQ(budget_format_bytes(0, b, sizeof b), "0 B"), "bytes: 0 B");
        CHECK(STREQ(budget_format_bytes(512 * M, b, sizeof b), "512 MiB"), "bytes: 512 MiB");
        CHECK(STREQ(budget_format_bytes(UINT64_C(7969177) * K, b, sizeof b), "7.5 GiB"), "bytes: rounded down (7.59 GiB shows 7.5): %s", b);
        CHECK(STREQ(budget_format_bytes(MAX, b, sizeof b), "max"), "bytes: max");
        CHECK(STREQ(budget_format_bytes(MAX - 1, b, sizeof b), "15.9 EiB"), "bytes: just below max: %s", b);

        struct budget_decision d;
        budget_grant(&(struct budget_limits) { 4 * G, MAX }, &(struct budget_usage) { 3 * G + 512 * M, 0 }, &(struct budget_claim) { 1 * G, 2 * G },
                     P, false, &d);
        struct strbuf sb = {0};
        budget_decision_json(&d, &sb);
        const char *want = "{\"verdict\":\"clamped\",\"requested\":{\"min\":1073741824,\"low\":2147483648},"
                           "\"granted\":{\"min\":536870912,\"low\":2147483648},\"budget\":{\"min\":4294967296,\"protection\":\"max\"},"
                           "\"used\":{\"min\":3758096384,\"protection\":0}}";
        CHECK(sb.buf && STREQ(sb.buf, want), "record field: %s", sb.buf ? sb.buf : "(null)");
        strbuf_free(&sb);
        char line[512];
        budget_decision_describe(&d, line, sizeof line);
        CHECK(strstr(line, "budget clamped") && strstr(line, "min 1 GiB asked, 512 MiB granted") && strstr(line, "memory.min 3.5 GiB of its budget 4 GiB") &&
                      !strchr(line, '\n'),
              "in words: %s", line);
}

/* What a start's record and syslog line get (the ledger's plan calls
 * budget_outcome with its decision). */
static void test_outcome(void) {
        struct budget_decision d;
        budget_grant(&(struct budget_limits) { 4 * G, 8 * G }, &(struct budget_usage) { 3 * G + 512 * M, 0 }, &(struct budget_claim) { 1 * G, 2 * G },
                     P, false, &d);
        struct outcome out;
        outcome_init(&out, "prestart");
        budget_outcome(&out, &d);
        struct strbuf sb = {0};
        (void) outcome_format(&out, &sb);
        struct json_node *root = NULL;
        bool parsed = sb.buf && json_parse(sb.buf, sb.len, NULL, &root, NULL) == 0;
        const struct json_node *b = parsed ? json_get(root, "budget") : NULL;
        const struct json_node *v = b ? json_get(b, "verdict") : NULL;
        const struct json_node *sk = parsed ? json_get(root, "skipped") : NULL;
        CHECK(v && v->type == JSON_STRING && STREQ(v->str, "clamped") && sk && sk->n == 1 && strstr(sk->items[0]->str, "budget clamped"),
              "record: a clamped start has the budget field and says why in skipped");
        CHECK(STREQ(out.budget_summary, " budget=clamped min=512MiB/1GiB low=2GiB/2GiB"), "syslog: '%s'", out.budget_summary);
        json_free(root);
        strbuf_free(&sb);
        outcome_free(&out);

        budget_grant(&(struct budget_limits) { 4 * G, 8 * G }, &(struct budget_usage) {0}, &(struct budget_claim) { 1 * G, 2 * G }, P, false, &d);
        outcome_init(&out, "prestart");
        budget_outcome(&out, &d);
        CHECK(out.n_skipped == 0 && out.budget_summary[0] == '\0' && out.extra.buf && strstr(out.extra.buf, "\"verdict\":\"fits\""),
              "record: a start that fits has the field, nothing skipped, nothing on the syslog line");
        outcome_free(&out);
}

/* When a start decided on the kept view of the top must read the top again. */
static const struct near_case {
        const char *desc;
        struct budget_limits limits;
        struct budget_usage used;
        struct budget_claim request;
        uint64_t margin;
        bool want;
} near_cases[] = {
        { "far below both caps: the kept view will do", { 8 * G, 12 * G }, { 1 * G, 2 * G }, { 1 * G, 2 * G }, 1 * G, false },
        { "min lands exactly a margin below its cap: not near", { 8 * G, 12 * G }, { 6 * G, 6 * G }, { 1 * G, 0 }, 1 * G, false },
        { "min lands a byte into the margin: near", { 8 * G, 12 * G }, { 6 * G + 1, 6 * G + 1 }, { 1 * G, 0 }, 1 * G, true },
        { "protection (max of min, low) into the margin: near", { 8 * G, 12 * G }, { 1 * G, 9 * G }, { 0, 2 * G + 1 }, 1 * G, true },
        { "low counts as protection, not as min", { 4 * G, 12 * G }, { 1 * G, 1 * G }, { 0, 8 * G }, 1 * G, false },
        { "already over a cap with nothing asked: near", { 4 * G, 12 * G }, { 5 * G, 5 * G }, { 0, 0 }, 0, true },
        { "caps of max are never near", { MAX, MAX }, { MAX - 1, MAX - 1 }, { MAX, MAX }, 1 * G, false },
        { "an unknown MemTotal (margin max): always near", { 8 * G, 12 * G }, { 0, 0 }, { 0, 0 }, MAX, true },
        { "a request of max against finite caps: near", { 8 * G, 12 * G }, { 0, 0 }, { MAX, 0 }, 0, true },
};

static void test_near_cap(void) {
        for (size_t i = 0; i < ELEMENTSOF(near_cases); i++) {
                const struct near_case *c = &near_cases[i];
                CHECK(budget_near_cap(&c->limits, &c->used, &c->request, c->margin) == c->want, "near cap: %s", c->desc);
        }
        CHECK(budget_margin_for(10 * G) == G, "margin: a tenth of MemTotal");
        CHECK(budget_margin_for(0) == MAX, "margin: unknown MemTotal");
}

int main(void) {
        test_limits();
        test_near_cap();
        test_grant();
        test_overcommit();
        test_topup();
        test_plan_run();
        test_format();
        test_outcome();
        return test_report();
}
