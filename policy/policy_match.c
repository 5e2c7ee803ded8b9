/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Which policies apply to a container, and their key-by-key merge.
 *
 * Patterns are fnmatch(3) with flags 0: a star also crosses '/', so the
 * command pattern "STAR/make" matches "/usr/bin/make" and the cgroup pattern
 * "/docker/STAR" matches a nested cgroup (STAR being '*', which cannot be
 * written next to a slash in a C comment).  Image references, commands and
 * cgroup paths are strings to classify, not file names to walk. */
#include "policy.h"

#include <fnmatch.h>
#include <stdint.h>
#include <string.h>

/* With flags 0 a character other than * ? [ and \\ matches only itself:
 * a pattern whose literal start differs from s cannot match, and with
 * 1000 policies most are turned away here without fnmatch. */
bool policy_glob_prefix_differs(const char *glob, size_t len, const char *s) {
        for (size_t i = 0; i < len && glob[i] && !strchr("*?[\\", glob[i]); i++)
                if (glob[i] != s[i])
                        return true;
        return false;
}

static bool any_glob(char *const *globs, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (!policy_glob_prefix_differs(globs[i], SIZE_MAX, s) && fnmatch(globs[i], s, 0) == 0)
                        return true;
        return false;
}

/* policy_cache.c's entry_rules_out() applies the image, command and cgroup
 * tests below to cached policies before decoding them: change both. */
bool policy_matches(const struct policy *p, const struct policy_subject *s) {
        const struct policy_match *m = &p->match;
        if (m->has_images) {
                /* An unknown image ("") matches only policies without an
                 * images list: a glob such as "*" must not turn a
                 * container we could not identify into a protected one. */
                if (!s->image || !*s->image || !any_glob(m->images, m->n_images, s->image))
                        return false;
                /* An image only a claim names (an annotation anyone who
                 * starts the container can type, or the image itself
                 * carries) selects only a policy that trusts that claim. */
                if (s->image_claim != POLICY_CLAIM_NONE && !policy_trusts(p, s->image_claim))
                        return false;
        }
        if (m->has_commands && (!s->command || !any_glob(m->commands, m->n_commands, s->command)))
                return false;
        if (m->has_cgroups && (!s->cgroup || !*s->cgroup || !any_glob(m->cgroups, m->n_cgroups, s->cgroup)))
                return false;
        if (m->build != POLICY_UNSET) {
                /* A claimed build is a build only for a policy trusting it. */
                bool build = s->build && (s->build_claim == POLICY_CLAIM_NONE || policy_trusts(p, s->build_claim));
                if ((m->build == POLICY_TRUE) != build)
                        return false;
        }
        for (size_t i = 0; i < m->n_annotations; i++) {
                const char *v = NULL;
                for (size_t j = 0; j < s->n_annotations; j++)
                        if (STREQ(s->annotation_keys[j], m->annotations[i].key)) {
                                v = s->annotation_values[j];
                                break;
                        }
                if (!v || fnmatch(m->annotations[i].value, v, 0) != 0)
                        return false;
        }
        return true;
}

static void merge_size(struct policy_size *dst, const struct policy_size *src) {
        if (src->set)
                *dst = *src;
}

static void merge_tri(enum policy_tristate *dst, enum policy_tristate src) {
        if (src != POLICY_UNSET)
                *dst = src;
}

static void merge_one(struct policy *d, const struct policy *s) {
        merge_size(&d->min, &s->min);
        merge_size(&d->low, &s->low);
        merge_tri(&d->adopt_engine, s->adopt_engine);
        if (s->has_build)
                d->has_build = true;
        const struct policy_build *sb = &s->build;
        struct policy_build *db = &d->build;
        if (sb->has_swappiness) {
                db->has_swappiness = true;
                db->swappiness = sb->swappiness;
        }
        merge_tri(&db->detect, sb->detect);
        merge_tri(&db->builder, sb->builder);
        if (sb->reclaim.when != POLICY_WHEN_UNSET)
                db->reclaim.when = sb->reclaim.when;
        merge_size(&db->reclaim.available_below, &sb->reclaim.available_below);
        if (sb->reclaim.has_order) {
                db->reclaim.has_order = true;
                db->reclaim.order = sb->reclaim.order;
        }
        if (sb->reclaim.has_drop_caches) {
                db->reclaim.has_drop_caches = true;
                db->reclaim.drop_caches = sb->reclaim.drop_caches;
        }
        merge_tri(&db->reclaim.compact, sb->reclaim.compact);
        if (sb->reclaim.has_timeout_ms) {
                db->reclaim.has_timeout_ms = true;
                db->reclaim.timeout_ms = sb->reclaim.timeout_ms;
        }
        if (sb->after.when != POLICY_WHEN_UNSET)
                db->after.when = sb->after.when;
        merge_size(&db->after.reclaim, &sb->after.reclaim);
        merge_size(&db->limit.max, &sb->limit.max);
        merge_size(&db->limit.swap_max, &sb->limit.swap_max);
        merge_tri(&db->limit.oom_group, sb->limit.oom_group);
        merge_tri(&d->overrides.annotations, s->overrides.annotations);
        merge_size(&d->overrides.max_min, &s->overrides.max_min);
        merge_size(&d->overrides.max_low, &s->overrides.max_low);
        if (s->on_error != POLICY_ON_ERROR_UNSET)
                d->on_error = s->on_error;
        d->trust |= s->trust;
}

int policy_merge_matching(const struct policy_set *set, const struct policy_subject *s, struct policy *ret, size_t **ret_matched, size_t *ret_n_matched) {
        _cleanup_free_ size_t *matched = calloc(set->n ? set->n : 1, sizeof *matched);
        if (!matched)
                return -ENOMEM;
        /* Built from zero, not on top of *ret: a field no matching policy
         * sets stays unset, so the caller's defaults (on_error "ignore",
         * timeout 2000 ms) apply exactly there.  path, name and match stay
         * empty: the merge is no one file. */
        struct policy m = {0};
        size_t n = 0;
        const char *description = NULL;
        for (size_t i = 0; i < set->n; i++) {
                if (!policy_matches(set->items[i], s))
                        continue;
                matched[n++] = i;
                merge_one(&m, set->items[i]);
                if (set->items[i]->description)
                        description = set->items[i]->description;
        }
        /* The merged policy owns its strings, so policy_free() works on it. */
        if (description && !(m.description = strdup(description)))
                return -ENOMEM;
        *ret = m;
        *ret_matched = TAKE_PTR(matched);
        *ret_n_matched = n;
        return 0;
}
