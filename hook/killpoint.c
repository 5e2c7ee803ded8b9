/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "killpoint.h"

#ifdef MEMGUARD_KILLPOINTS
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Test build only: MEMGUARD_KILLPOINT=name kills the process there;
 * MEMGUARD_PAUSEPOINT=name stops it there the first time it passes (the
 * test changes the fixture, then sends SIGCONT). */
void killpoint(const char *name) {
        const char *want = getenv("MEMGUARD_KILLPOINT");
        if (want && strcmp(want, name) == 0)
                raise(SIGKILL);
        static bool paused; /* once: a point may be passed again */
        want = getenv("MEMGUARD_PAUSEPOINT");
        if (!paused && want && strcmp(want, name) == 0) {
                paused = true;
                raise(SIGSTOP);
        }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int killpoint_unused_t;
#endif
