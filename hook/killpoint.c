/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "killpoint.h"

#ifdef MEMGUARD_KILLPOINTS
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Test build only: MEMGUARD_KILLPOINT=name kills the process there. */
void killpoint(const char *name) {
        const char *want = getenv("MEMGUARD_KILLPOINT");
        if (want && strcmp(want, name) == 0)
                raise(SIGKILL);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int killpoint_unused_t;
#endif
