/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The protection budget's rules (budget.h): what a start may be granted,
 * and how clamped containers are topped up.  Pure functions, table-tested
 * in conformance/unit/test-budget.c; the ledger calls them under its lock
 * with the sums it keeps, doctor and explain with what they can read. */
#include "budget.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const budget_verdict_names[] = {
        [BUDGET_FITS] = "fits",
        [BUDGET_CLAMPED] = "clamped",
        [BUDGET_REFUSED] = "refused",
};

const char *budget_verdict_name(enum budget_verdict v) { return NAME_FROM_TABLE(budget_verdict_names, v, "unknown"); }

uint64_t budget_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

uint64_t budget_protection_of(uint64_t min, uint64_t low) { return min > low ? min : low; }

void budget_usage_add(struct budget_usage *u, uint64_t min, uint64_t low) {
        assert(u);
        u->min = budget_add(u->min, min);
        u->protection = budget_add(u->protection, budget_protection_of(min, low));
}

static uint64_t round_down(uint64_t v, uint64_t page_size) { return page_size ? v - v % page_size : v; }

/* What is left under a cap; an unlimited cap never runs out, whatever is
 * held (a cgroup value "max" included). */
static uint64_t room(uint64_t cap, uint64_t used) {
        if (cap == UINT64_MAX)
                return UINT64_MAX;
        return used >= cap ? 0 : cap - used;
}

void budget_limits_resolve(const struct host_config *hc, uint64_t mem_total, uint64_t page_size, struct budget_limits *ret) {
        assert(hc);
        assert(ret);
        *ret = (struct budget_limits) {
                .min = host_cap_bytes(&hc->budget.min, mem_total, page_size),
                .protection = host_cap_bytes(&hc->budget.protection, mem_total, page_size),
        };
}

/* The largest grant of request that fits in room_min (for min) and
 * room_prot (for max(min, low)). A value that fits whole is granted whole;
 * one cut is cut to a page boundary, so the kernel, which stores pages,
 * holds no more than the cap. */
static struct budget_claim fit(const struct budget_claim *request, uint64_t room_min, uint64_t room_prot, uint64_t page_size) {
        uint64_t min_room = room_min < room_prot ? room_min : room_prot;
        struct budget_claim g = {
                .min = request->min <= min_room ? request->min : round_down(min_room, page_size),
                .low = request->low <= room_prot ? request->low : round_down(room_prot, page_size),
        };
        return g;
}

bool budget_near_cap(const struct budget_limits *limits, const struct budget_usage *used, const struct budget_claim *request,
                     uint64_t margin) {
        assert(limits);
        assert(used);
        assert(request);
        uint64_t min_after = budget_add(budget_add(used->min, request->min), margin);
        uint64_t prot_after = budget_add(budget_add(used->protection, budget_protection_of(request->min, request->low)), margin);
        return (limits->min != UINT64_MAX && min_after > limits->min) || (limits->protection != UINT64_MAX && prot_after > limits->protection);
}

uint64_t budget_margin_for(uint64_t mem_total) { return mem_total == 0 ? UINT64_MAX : mem_total / 10; }

void budget_grant(const struct budget_limits *limits, const struct budget_usage *used, const struct budget_claim *request,
                  uint64_t page_size, bool refuse_clamped, struct budget_decision *ret) {
        assert(limits);
        assert(used);
        assert(request);
        assert(ret);
        struct budget_claim g = fit(request, room(limits->min, used->min), room(limits->protection, used->protection), page_size);
        bool whole = g.min == request->min && g.low == request->low;
        enum budget_verdict v = whole ? BUDGET_FITS : refuse_clamped ? BUDGET_REFUSED : BUDGET_CLAMPED;
        if (v == BUDGET_REFUSED)
                g = (struct budget_claim) {0};
        *ret = (struct budget_decision) {
                .verdict = v,
                .requested = *request,
                .granted = g,
                .budget = *limits,
                .used = *used,
        };
}

static int topup_cmp(const void *a, const void *b) {
        const struct budget_topup *x = a, *y = b;
        if (x->started_usec != y->started_usec)
                return x->started_usec < y->started_usec ? -1 : 1;
        return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

size_t budget_topup(const struct budget_limits *limits, const struct budget_usage *used, uint64_t page_size, struct budget_topup *items,
                    size_t n) {
        assert(limits);
        assert(used);
        assert(items || n == 0);
        if (n > 1)
                qsort(items, n, sizeof *items, topup_cmp);
        uint64_t free_min = room(limits->min, used->min), free_prot = room(limits->protection, used->protection);
        size_t grown = 0;
        for (size_t i = 0; i < n; i++) {
                struct budget_topup *t = &items[i];
                /* Its own grant is room it may use again: fit the whole
                 * request in what is free plus what it holds, then never
                 * go below what it holds. */
                uint64_t held_prot = budget_protection_of(t->granted.min, t->granted.low);
                struct budget_claim g = fit(&t->requested, budget_add(free_min, t->granted.min), budget_add(free_prot, held_prot), page_size);
                if (g.min < t->granted.min)
                        g.min = t->granted.min;
                if (g.low < t->granted.low)
                        g.low = t->granted.low;
                uint64_t new_prot = budget_protection_of(g.min, g.low);
                if (g.min == t->granted.min && g.low == t->granted.low)
                        continue;
                if (free_min != UINT64_MAX)
                        free_min -= g.min - t->granted.min;
                if (free_prot != UINT64_MAX)
                        free_prot -= new_prot - held_prot;
                t->granted = g;
                grown++;
        }
        return grown;
}

size_t budget_plan_run(const struct budget_limits *limits, const struct budget_usage *others, struct budget_topup *running,
                       size_t n_running, const struct budget_claim *start, bool refuse_clamped, uint64_t page_size,
                       struct budget_decision *ret_start) {
        assert(limits);
        assert(others);
        assert(running || n_running == 0);
        assert(!start || ret_start);
        struct budget_usage used = *others;
        for (size_t i = 0; i < n_running; i++)
                budget_usage_add(&used, running[i].granted.min, running[i].granted.low);
        size_t grown = budget_topup(limits, &used, page_size, running, n_running);
        if (!start)
                return grown;
        used = *others;
        for (size_t i = 0; i < n_running; i++)
                budget_usage_add(&used, running[i].granted.min, running[i].granted.low);
        budget_grant(limits, &used, start, page_size, refuse_clamped, ret_start);
        return grown;
}
