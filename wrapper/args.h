/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Reading a runc/crun command line without changing it: where the
 * subcommand is, and for create/run the bundle and the container id. */

#include <stdbool.h>

struct runtime_args {
        int sub;               /* index of the subcommand in argv, or -1 */
        const char *command;   /* argv[sub] or NULL */
        const char *bundle;    /* --bundle/-b value, NULL: the cwd */
        const char *id;        /* first positional argument after the subcommand */
};

/* Fills ret from argv (argc entries, argv[0] is our name).  Never fails:
 * what it cannot recognise it leaves NULL. */
void runtime_args_parse(int argc, char *const *argv, struct runtime_args *ret);

/* create and run are the subcommands that read config.json. */
bool runtime_args_wants_hooks(const struct runtime_args *a);
