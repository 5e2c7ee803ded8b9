/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A build step's hard limits on its own cgroup (policy "build.limit"):
 * read what the leaf has, decide (policy/step_limit.h, pure), write and
 * read back; at the stop, the kernel's counters say whether the limit
 * stopped the step. Nothing above the leaf is touched: the kernel's
 * limits are hierarchical, so a parent needs no raise and nothing is
 * given back to it. */

#include "hook.h"
#include "json.h"

/* Annotations a step's user may set to lower (never raise) its limits. */
#define BUILDLIMIT_ANNOTATION_MAX "oci-memguard.limit.max"
#define BUILDLIMIT_ANNOTATION_SWAP "oci-memguard.limit.swap_max"

/* At a start, for a container treated as a build: decides and applies
 * the limits (with o->dry_run only "planned" actions), says what was done
 * in out ("limit" and actions), and appends the record's "limit" member
 * (",\"limit\":{...}": what was written, the originals, the counters at
 * start) to record_extra for the stop. Returns the number of writes that
 * failed (for on_error=fail). */
unsigned buildlimit_at_start(struct container_view *v, const struct hook_opts *o, struct outcome *out, struct strbuf *record_extra);

/* At the stop: the counters' deltas since the start (the leaf, else the
 * sampler's last reading), whether the limit stopped the step (the
 * outcome's "limit" and its message), and the originals put back on a
 * leaf that is still there and still holds what the hook wrote. limit is
 * the record's "limit" member; id and cgroup_dir are the record's. */
void buildlimit_at_stop(const struct json_node *limit, const char *id, const char *cgroup_dir, const struct hook_opts *o,
                        struct outcome *out);
