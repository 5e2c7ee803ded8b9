/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Named points where the fault suites kill the hook with SIGKILL, to prove
 * the next run heals, or stop it with SIGSTOP, to change the world under it
 * deterministically (a cgroup removed between its read and its write).
 * Compiled in only for the test build (build/killpoints/oci-memguard,
 * -DMEMGUARD_KILLPOINTS); the installed binary has no such switch. */
#ifdef MEMGUARD_KILLPOINTS
void killpoint(const char *name);
#define KILLPOINT(name) killpoint(name)
#else
#define KILLPOINT(name) \
        do {            \
        } while (0)
#endif
