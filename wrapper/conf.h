/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* /etc/oci-memguard/runtime.conf: which real runtime the wrapper execs and
 * which hook it registers.  The file, never the environment, decides:
 * engines run us with environments of their own (a container's, a build
 * step's), which must not choose what runs as root.
 *
 *   # comment
 *   runtime  = /usr/bin/crun          absolute path of the real runtime
 *   hook     = /usr/local/bin/oci-memguard
 *   hook_arg = --policy-dir=/srv/mg   one extra hook argument per line,
 *                                     appended after the stage (repeatable)
 *   timeout  = 10                     hook timeout in seconds (1..3600)
 *   log_file = /var/log/oci-memguard/events.jsonl
 *                                     where the wrapper logs its failures;
 *                                     also passed to the hook as --log-file
 */

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#ifndef MEMGUARD_RUNTIME_CONF
#define MEMGUARD_RUNTIME_CONF "/etc/oci-memguard/runtime.conf"
#endif
#ifndef MEMGUARD_HOOK_PATH
#define MEMGUARD_HOOK_PATH "/usr/local/bin/oci-memguard"
#endif
#ifndef MEMGUARD_LOG_FILE
#define MEMGUARD_LOG_FILE "/var/log/oci-memguard/events.jsonl"
#endif

#define WRAPPER_MAX_CONF_BYTES (64u * 1024u)
#define WRAPPER_MAX_HOOK_ARGS 32u
#define WRAPPER_DEFAULT_TIMEOUT 10u

struct wrapper_conf {
        char *runtime;                   /* NULL: the built-in search list */
        char *hook;                      /* never NULL after conf_load */
        char *hook_args[WRAPPER_MAX_HOOK_ARGS];
        size_t n_hook_args;
        unsigned timeout;
        char *log_file;                  /* never NULL after conf_load */
        bool log_file_set;               /* given in the file: pass it on */
        /* Problems found while reading; the caller logs them once it knows
         * the container. */
        char problems[1024];
};

/* Loads path (absent file = defaults).  Always leaves a usable conf; returns
 * 0, or -errno when the file existed but was (partly) rejected, with the
 * reasons in conf->problems. */
int conf_load(const char *path, struct wrapper_conf *conf);
void conf_free(struct wrapper_conf *conf);
