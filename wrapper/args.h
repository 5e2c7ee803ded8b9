/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Reading a runc/crun command line without changing it: where the
 * subcommand is, and for create/run/restore the bundle and the container
 * id. */

#include <stdbool.h>

struct runtime_args {
        int sub;               /* index of the subcommand in argv, or -1 */
        const char *command;   /* argv[sub] or NULL */
        const char *bundle;    /* --bundle/-b value, NULL: the cwd */
        const char *id;        /* first positional argument after the subcommand */
        bool help;             /* a help or version flag: the runtime only prints */
};

/* Fills ret from argv (argc entries, argv[0] is our name).  Never fails:
 * what it cannot recognise it leaves NULL. */
void runtime_args_parse(int argc, char *const *argv, struct runtime_args *ret);

/* Whether this command starts a container from <bundle>/config.json:
 * create, run, or restore (a restored container runs again and holds
 * memory again: its start hook protects it and its poststop gives back),
 * with a container id and no help flag (then the runtime only prints
 * usage, and nothing starts). */
bool runtime_args_wants_hooks(const struct runtime_args *a);
