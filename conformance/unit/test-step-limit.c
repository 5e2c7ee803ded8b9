/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of a build step's hard limits (policy/step_limit.h): the
 * policy's value as bytes or N % of MemTotal, page-rounded; annotations
 * that lower it and annotations that try to raise it; a limit the engine
 * already set lower kept; files the kernel does not have; cgroup v1's
 * memsw arithmetic (memory and swap together); memory.oom.group switched
 * on only. Table-driven; after every case the invariants are checked: a
 * write never raises what the leaf had, never goes above what was asked,
 * and lands on a page boundary. Plain C, TAP lines. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "step_limit.h"
#include "test-helpers.h"

#define P UINT64_C(4096)
#define M (UINT64_C(1024) * 1024)
#define G (M * 1024)
#define MAX MEMGUARD_VALUE_MAX

#define bytes(v) { .set = true, .value = (v) }
#define pct(v) { .set = true, .percent = true, .value = (v) }
#define unset { .set = false }

struct limit_case {
        const char *desc;
        struct policy_limit policy;
        struct limit_claims ann;
        struct limit_leaf leaf;
        uint64_t mem_total;
        /* expected */
        enum limit_action max_action; uint64_t max_value; enum limit_source max_source; uint64_t max_effective;
        enum limit_action swap_action; uint64_t swap_value; uint64_t swap_effective;
        enum limit_action oom_group;
        bool ann_ignored;
};

#define V2_OPEN { .v2 = true, .has_max = true, .max = MAX, .has_swap = true, .swap = MAX, .has_oom_group = true }
#define V1_OPEN { .v2 = false, .has_max = true, .max = MAX, .has_swap = true, .swap = MAX }

static const struct limit_case cases[] = {
        { "nothing asked: nothing written", { unset, unset, POLICY_UNSET }, {0}, V2_OPEN, 16 * G,
          LIMIT_NOTHING, 0, LIMIT_FROM_NONE, MAX, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "policy 6G on an open leaf: written", { bytes(6 * G), unset, POLICY_UNSET }, {0}, V2_OPEN, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "policy 25% of 16G: 4G", { pct(25), unset, POLICY_UNSET }, {0}, V2_OPEN, 16 * G,
          LIMIT_WRITE, 4 * G, LIMIT_FROM_POLICY, 4 * G, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "percent rounds down to the page", { pct(50), unset, POLICY_UNSET }, {0}, V2_OPEN, 8 * G + 3 * P + 100,
          LIMIT_WRITE, 4 * G + P, LIMIT_FROM_POLICY, 4 * G + P, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "bytes round down to the page", { bytes(G + 123), unset, POLICY_UNSET }, {0}, V2_OPEN, 16 * G,
          LIMIT_WRITE, G, LIMIT_FROM_POLICY, G, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "engine set 2G, policy 6G: the engine's lower limit is kept", { bytes(6 * G), unset, POLICY_UNSET }, {0},
          { .v2 = true, .has_max = true, .max = 2 * G, .has_swap = true, .swap = MAX, .has_oom_group = true }, 16 * G,
          LIMIT_KEEP_ENGINE, 0, LIMIT_FROM_ENGINE, 2 * G, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "engine set exactly the policy's value: kept, not rewritten", { bytes(6 * G), unset, POLICY_UNSET }, {0},
          { .v2 = true, .has_max = true, .max = 6 * G, .has_swap = true, .swap = MAX, .has_oom_group = true }, 16 * G,
          LIMIT_KEEP_ENGINE, 0, LIMIT_FROM_ENGINE, 6 * G, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "engine set 10G, policy 6G: lowered to 6G", { bytes(6 * G), unset, POLICY_UNSET }, {0},
          { .v2 = true, .has_max = true, .max = 10 * G, .has_swap = true, .swap = MAX, .has_oom_group = true }, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "annotation lowers 6G to 2G", { bytes(6 * G), unset, POLICY_UNSET }, { .has_max = true, .max = 2 * G }, V2_OPEN, 16 * G,
          LIMIT_WRITE, 2 * G, LIMIT_FROM_ANNOTATION, 2 * G, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "annotation cannot raise 6G to 12G", { bytes(6 * G), unset, POLICY_UNSET }, { .has_max = true, .max = 12 * G }, V2_OPEN, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, true },
        { "annotation alone (no policy limit) lowers from no limit", { unset, unset, POLICY_UNSET }, { .has_max = true, .max = 3 * G },
          V2_OPEN, 16 * G, LIMIT_WRITE, 3 * G, LIMIT_FROM_ANNOTATION, 3 * G, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "annotation below the engine's limit lowers it", { unset, unset, POLICY_UNSET }, { .has_max = true, .max = G },
          { .v2 = true, .has_max = true, .max = 2 * G, .has_swap = true, .swap = MAX, .has_oom_group = true }, 16 * G,
          LIMIT_WRITE, G, LIMIT_FROM_ANNOTATION, G, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "annotation above the engine's limit: kept", { unset, unset, POLICY_UNSET }, { .has_max = true, .max = 4 * G },
          { .v2 = true, .has_max = true, .max = 2 * G, .has_swap = true, .swap = MAX, .has_oom_group = true }, 16 * G,
          LIMIT_KEEP_ENGINE, 0, LIMIT_FROM_ENGINE, 2 * G, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "no memory.max file: unavailable", { bytes(6 * G), unset, POLICY_UNSET }, {0}, { .v2 = true }, 16 * G,
          LIMIT_UNAVAILABLE, 0, LIMIT_FROM_POLICY, MAX, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "v2 swap 0: written alone", { bytes(6 * G), bytes(0), POLICY_UNSET }, {0}, V2_OPEN, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_WRITE, 0, 0, LIMIT_NOTHING, false },
        { "v2 swap without a hard limit: written", { unset, bytes(G), POLICY_UNSET }, {0}, V2_OPEN, 16 * G,
          LIMIT_NOTHING, 0, LIMIT_FROM_NONE, MAX, LIMIT_WRITE, G, G, LIMIT_NOTHING, false },
        { "v2 engine's swap 0 kept against policy 1G", { unset, bytes(G), POLICY_UNSET }, {0},
          { .v2 = true, .has_max = true, .max = MAX, .has_swap = true, .swap = 0, .has_oom_group = true }, 16 * G,
          LIMIT_NOTHING, 0, LIMIT_FROM_NONE, MAX, LIMIT_KEEP_ENGINE, 0, 0, LIMIT_NOTHING, false },
        { "v2 no swap accounting (no memory.swap.max): unavailable", { bytes(6 * G), bytes(0), POLICY_UNSET }, {0},
          { .v2 = true, .has_max = true, .max = MAX, .has_oom_group = true }, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_UNAVAILABLE, 0, MAX, LIMIT_NOTHING, false },
        { "v2 swap annotation lowers 1G to 0", { unset, bytes(G), POLICY_UNSET }, { .has_swap = true, .swap = 0 }, V2_OPEN, 16 * G,
          LIMIT_NOTHING, 0, LIMIT_FROM_NONE, MAX, LIMIT_WRITE, 0, 0, LIMIT_NOTHING, false },
        { "v1: memsw is the hard limit plus the swap", { bytes(6 * G), bytes(G), POLICY_UNSET }, {0}, V1_OPEN, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_WRITE, 7 * G, G, LIMIT_NOTHING, false },
        { "v1: swap 0 makes memsw equal the hard limit", { bytes(6 * G), bytes(0), POLICY_UNSET }, {0}, V1_OPEN, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_WRITE, 6 * G, 0, LIMIT_NOTHING, false },
        { "v1: a swap limit with no hard limit cannot be said", { unset, bytes(G), POLICY_UNSET }, {0}, V1_OPEN, 16 * G,
          LIMIT_NOTHING, 0, LIMIT_FROM_NONE, MAX, LIMIT_UNAVAILABLE, 0, MAX, LIMIT_NOTHING, false },
        { "v1: engine's 2G hard limit kept, swap added to it", { bytes(6 * G), bytes(G), POLICY_UNSET }, {0},
          { .v2 = false, .has_max = true, .max = 2 * G, .has_swap = true, .swap = MAX }, 16 * G,
          LIMIT_KEEP_ENGINE, 0, LIMIT_FROM_ENGINE, 2 * G, LIMIT_WRITE, 3 * G, G, LIMIT_NOTHING, false },
        { "v1: engine's memsw already tighter: kept", { bytes(6 * G), bytes(G), POLICY_UNSET }, {0},
          { .v2 = false, .has_max = true, .max = 8 * G, .has_swap = true, .swap = 6 * G + 512 * M }, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_KEEP_ENGINE, 0, 512 * M, LIMIT_NOTHING, false },
        { "v1: no memsw file (swapaccount=0): unavailable", { bytes(6 * G), bytes(G), POLICY_UNSET }, {0},
          { .v2 = false, .has_max = true, .max = MAX }, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_UNAVAILABLE, 0, MAX, LIMIT_NOTHING, false },
        { "v1: swap near the top saturates instead of wrapping", { bytes(6 * G), bytes(MAX - G), POLICY_UNSET }, {0}, V1_OPEN, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_KEEP_ENGINE, 0, MAX, LIMIT_NOTHING, false },
        { "oom_group true on v2: switched on", { bytes(6 * G), unset, POLICY_TRUE }, {0}, V2_OPEN, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_NOTHING, 0, MAX, LIMIT_WRITE, false },
        { "oom_group already on: kept", { unset, unset, POLICY_TRUE }, {0},
          { .v2 = true, .has_max = true, .max = MAX, .has_swap = true, .swap = MAX, .has_oom_group = true, .oom_group = true }, 16 * G,
          LIMIT_NOTHING, 0, LIMIT_FROM_NONE, MAX, LIMIT_NOTHING, 0, MAX, LIMIT_KEEP_ENGINE, false },
        { "oom_group false: never written (not switched off)", { unset, unset, POLICY_FALSE }, {0},
          { .v2 = true, .has_max = true, .max = MAX, .has_swap = true, .swap = MAX, .has_oom_group = true, .oom_group = true }, 16 * G,
          LIMIT_NOTHING, 0, LIMIT_FROM_NONE, MAX, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "oom_group on v1: unavailable", { bytes(6 * G), unset, POLICY_TRUE }, {0}, V1_OPEN, 16 * G,
          LIMIT_WRITE, 6 * G, LIMIT_FROM_POLICY, 6 * G, LIMIT_NOTHING, 0, MAX, LIMIT_UNAVAILABLE, false },
        { "percent of an unknown MemTotal (0): a limit of 0 is not written", { pct(25), unset, POLICY_UNSET }, {0}, V2_OPEN, 0,
          LIMIT_TOO_SMALL, 0, LIMIT_FROM_POLICY, MAX, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
        { "an annotation below 4M is not written", { unset, unset, POLICY_UNSET }, { .has_max = true, .max = 1024 * 1024 }, V2_OPEN, 16 * G,
          LIMIT_TOO_SMALL, 0, LIMIT_FROM_ANNOTATION, MAX, LIMIT_NOTHING, 0, MAX, LIMIT_NOTHING, false },
};

static void check_case(const struct limit_case *c) {
        struct limit_input in = { .policy = &c->policy, .mem_total = c->mem_total, .page_size = P, .annotation = c->ann, .leaf = c->leaf };
        struct limit_plan p;
        limit_decide(&in, &p);
        CHECK(p.max.action == c->max_action, "%s: max action %s (want %s)", c->desc, limit_action_name(p.max.action),
              limit_action_name(c->max_action));
        if (c->max_action == LIMIT_WRITE)
                CHECK(p.max.value == c->max_value, "%s: max value %" PRIu64 " (want %" PRIu64 ")", c->desc, p.max.value, c->max_value);
        CHECK(p.max.source == c->max_source, "%s: max from %s (want %s)", c->desc, limit_source_name(p.max.source),
              limit_source_name(c->max_source));
        CHECK(p.max.effective == c->max_effective, "%s: max in effect %" PRIu64 " (want %" PRIu64 ")", c->desc, p.max.effective,
              c->max_effective);
        CHECK(p.swap.action == c->swap_action, "%s: swap action %s (want %s)", c->desc, limit_action_name(p.swap.action),
              limit_action_name(c->swap_action));
        if (c->swap_action == LIMIT_WRITE)
                CHECK(p.swap.value == c->swap_value, "%s: swap value %" PRIu64 " (want %" PRIu64 ")", c->desc, p.swap.value, c->swap_value);
        CHECK(p.swap.effective == c->swap_effective, "%s: swap in effect %" PRIu64 " (want %" PRIu64 ")", c->desc, p.swap.effective,
              c->swap_effective);
        CHECK(p.oom_group == c->oom_group, "%s: oom_group %s (want %s)", c->desc, limit_action_name(p.oom_group), limit_action_name(c->oom_group));
        CHECK(p.max.annotation_ignored == c->ann_ignored, "%s: annotation ignored %d (want %d)", c->desc, p.max.annotation_ignored, c->ann_ignored);

        /* invariants */
        if (p.max.action == LIMIT_WRITE) {
                CHECK(p.max.value < c->leaf.max, "%s: a write lowers the leaf's limit", c->desc);
                CHECK(p.max.value <= p.max.asked && p.max.value % P == 0, "%s: never above what was asked, page-aligned", c->desc);
                CHECK(p.max.value > 0, "%s: never a limit of 0", c->desc);
        }
        if (p.swap.action == LIMIT_WRITE) {
                CHECK(p.swap.value < c->leaf.swap, "%s: a swap write lowers the leaf's limit", c->desc);
                if (!c->leaf.v2)
                        CHECK(p.swap.value >= p.max.effective, "%s: v1 memsw never below the hard limit in effect", c->desc);
        }
        CHECK(p.any == (c->max_action != LIMIT_NOTHING || c->swap_action != LIMIT_NOTHING || c->oom_group != LIMIT_NOTHING),
              "%s: any says whether something was asked", c->desc);
}

int main(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                check_case(&cases[i]);
        return test_report();
}
