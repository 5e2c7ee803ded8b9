/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Adds oci-memguard's start and poststop hooks to <bundle>/config.json. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct hook_spec {
        const char *path;               /* absolute path of the hook program */
        char *const *extra_args;        /* appended after "oci-memguard STAGE" */
        size_t n_extra_args;
        unsigned timeout;               /* seconds, > 0 */
        uint64_t deadline_usec;         /* now_usec_monotonic() past which
                                         * config.json is left as it was
                                         * (-ETIMEDOUT); 0: none */
};

enum bundle_hooks_result {
        BUNDLE_HOOKS_ADDED,             /* config.json rewritten */
        BUNDLE_HOOKS_PRESENT,           /* both already there: untouched */
};

/* dirfd: the bundle directory.  Keeps every existing hook (Docker's
 * libnetwork-setkey, BuildKit's network hooks) and every other byte of
 * meaning: numbers keep their text, keys their order.  A start hook counts
 * as present when hooks.prestart or hooks.createRuntime already runs
 * oci-memguard (Podman turns hooks.d prestart into createRuntime).  The
 * new file replaces the old atomically, with the same mode and owner.
 * On failure returns -errno with err filled; config.json is unchanged,
 * except when only restoring its owner failed (then *ret is ADDED).
 * -EINVAL and -ENOENT: config.json is missing or not a valid config (not
 * JSON, or a field the runtime reads has the wrong type), so the runtime
 * will refuse it too; any other error is one of ours (a limit, the
 * deadline, I/O), and the runtime may well start the container. */
int bundle_hooks_add(int dirfd, const struct hook_spec *spec, enum bundle_hooks_result *ret, struct mg_error *err);
