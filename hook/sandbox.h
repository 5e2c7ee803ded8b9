/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "outcome.h"

/* The allowlist admits fork-style clone, wait4 and set_robust_list: the
 * build guard may run a step that ignores signals in a bounded child. */
#define SANDBOX_ALLOWS_FORK 1

/* Confines the hook once its inputs are read and syslog is open:
 * PR_SET_NO_NEW_PRIVS, then the allowlist libseccomp compiled at build time
 * (SCMP_ACT_KILL_PROCESS by default). disabled: --no-seccomp (debugging
 * only; logged). */
int sandbox_enter(bool disabled, struct outcome *out);

/* The libseccomp that compiled the filter. */
const char *sandbox_libseccomp_version(void);
