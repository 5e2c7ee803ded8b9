/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "step_limit.h"

#include <assert.h>

static const char *const limit_source_names[] = {
        [LIMIT_FROM_NONE] = "none",
        [LIMIT_FROM_POLICY] = "policy",
        [LIMIT_FROM_ANNOTATION] = "annotation",
        [LIMIT_FROM_ENGINE] = "engine",
};
const char *limit_source_name(enum limit_source s) { return NAME_FROM_TABLE(limit_source_names, s, "?"); }

static const char *const limit_action_names[] = {
        [LIMIT_NOTHING] = "nothing",
        [LIMIT_WRITE] = "write",
        [LIMIT_KEEP_ENGINE] = "kept",
        [LIMIT_UNAVAILABLE] = "unavailable",
        [LIMIT_TOO_SMALL] = "too small",
};
const char *limit_action_name(enum limit_action a) { return NAME_FROM_TABLE(limit_action_names, a, "?"); }

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > MEMGUARD_VALUE_MAX - b ? MEMGUARD_VALUE_MAX : a + b; }

static uint64_t page_down(uint64_t v, uint64_t page_size) { return v == MEMGUARD_VALUE_MAX ? v : v - v % page_size; }

/* The policy's value, lowered by the annotation: *ret_asked MAX when
 * neither asks. */
static enum limit_source asked_of(const struct policy_size *pol, bool has_ann, uint64_t ann, const struct limit_input *in,
                                  uint64_t *ret_asked, bool *ret_ignored) {
        enum limit_source src = LIMIT_FROM_NONE;
        uint64_t asked = MEMGUARD_VALUE_MAX;
        *ret_ignored = false;
        if (pol->set) {
                asked = page_down(policy_size_bytes(pol, in->mem_total, in->page_size), in->page_size);
                src = LIMIT_FROM_POLICY;
        }
        if (has_ann) {
                uint64_t a = page_down(ann, in->page_size);
                if (src == LIMIT_FROM_NONE || a < asked) {
                        asked = a;
                        src = LIMIT_FROM_ANNOTATION;
                } else if (a > asked)
                        *ret_ignored = true;
        }
        *ret_asked = asked;
        return src;
}

void limit_decide(const struct limit_input *in, struct limit_plan *ret) {
        assert(in && in->policy && ret);
        assert(in->page_size > 0);
        const struct limit_leaf *leaf = &in->leaf;
        *ret = (struct limit_plan) {0};

        /* memory.max */
        struct limit_value *m = &ret->max;
        m->source = asked_of(&in->policy->max, in->annotation.has_max, in->annotation.max, in, &m->asked, &m->annotation_ignored);
        uint64_t engine_max = leaf->has_max ? leaf->max : MEMGUARD_VALUE_MAX;
        m->effective = engine_max;
        if (m->source == LIMIT_FROM_NONE)
                m->action = LIMIT_NOTHING;
        else if (m->asked < POLICY_LIMIT_MIN_BYTES)
                m->action = LIMIT_TOO_SMALL;
        else if (!leaf->has_max)
                m->action = LIMIT_UNAVAILABLE;
        else if (engine_max <= m->asked) {
                m->action = LIMIT_KEEP_ENGINE;
                m->source = LIMIT_FROM_ENGINE;
        } else {
                m->action = LIMIT_WRITE;
                m->value = m->effective = m->asked;
        }
        if (m->source == LIMIT_FROM_NONE && engine_max != MEMGUARD_VALUE_MAX)
                m->source = LIMIT_FROM_ENGINE;

        /* swap: v2 counts swap alone; v1's memsw counts memory and swap */
        struct limit_value *s = &ret->swap;
        s->source = asked_of(&in->policy->swap_max, in->annotation.has_swap, in->annotation.swap, in, &s->asked, &s->annotation_ignored);
        uint64_t engine_swap = MEMGUARD_VALUE_MAX;
        if (leaf->has_swap) {
                if (leaf->v2)
                        engine_swap = leaf->swap;
                else if (leaf->swap != MEMGUARD_VALUE_MAX && engine_max != MEMGUARD_VALUE_MAX)
                        engine_swap = leaf->swap > engine_max ? leaf->swap - engine_max : 0;
        }
        s->effective = engine_swap;
        /* v1: the memsw value that allows asked bytes of swap beside the
         * hard limit in effect after this plan */
        uint64_t memsw_target = sat_add(m->effective, s->asked);
        if (s->source == LIMIT_FROM_NONE)
                s->action = LIMIT_NOTHING;
        else if (!leaf->has_swap || (!leaf->v2 && m->effective == MEMGUARD_VALUE_MAX))
                s->action = LIMIT_UNAVAILABLE;
        else if (leaf->v2 ? leaf->swap <= s->asked : leaf->swap <= memsw_target) {
                s->action = LIMIT_KEEP_ENGINE;
                s->source = LIMIT_FROM_ENGINE;
                if (!leaf->v2)
                        /* what memsw leaves for swap beside the new hard limit */
                        s->effective = leaf->swap == MEMGUARD_VALUE_MAX ? MEMGUARD_VALUE_MAX
                                     : leaf->swap > m->effective ? leaf->swap - m->effective : 0;
        } else {
                s->action = LIMIT_WRITE;
                s->effective = s->asked;
                s->value = leaf->v2 ? s->asked : memsw_target;
        }
        if (s->source == LIMIT_FROM_NONE && engine_swap != MEMGUARD_VALUE_MAX)
                s->source = LIMIT_FROM_ENGINE;

        /* memory.oom.group: only ever switched on */
        if (in->policy->oom_group == POLICY_TRUE) {
                if (!leaf->v2 || !leaf->has_oom_group)
                        ret->oom_group = LIMIT_UNAVAILABLE;
                else
                        ret->oom_group = leaf->oom_group ? LIMIT_KEEP_ENGINE : LIMIT_WRITE;
        }
        ret->any = m->action != LIMIT_NOTHING || s->action != LIMIT_NOTHING || ret->oom_group != LIMIT_NOTHING;
}
