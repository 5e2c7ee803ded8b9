/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "hook.h"

/* Options of the operator commands, parsed once in main. */
struct cli {
        struct hook_opts opts;
        bool json;                  /* doctor --json */
        const char *bundle;         /* explain --bundle */
        long long pid;              /* explain --pid */
        const char *image;          /* explain --image */
        const char *annotations[64];/* explain --annotation K=V */
        size_t n_annotations;
        const char *command;        /* explain --command */
        bool build;                 /* explain --build */
        const char *since;          /* report --since */
        char **args;                /* remaining positional arguments after the command */
        int n_args;
};

int doctor_main(struct cli *c);
int explain_main(struct cli *c);
/* oci-memguard status [--json] (status.c) */
int status_main(struct cli *c);
int sample_main(struct cli *c);
