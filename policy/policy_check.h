/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* `oci-memguard policy check [PATH...]`.  For each path: a directory means
 * each of its policy files ("*.json", not dot files) in lexical order, a file
 * means that file — the host configuration when it is named host.json.  Prints one "FILE:LINE:COL: message" per invalid file and
 * "FILE: ok" per good one to out.  missing_ok: a path that does not exist is
 * skipped silently (the default directories need not exist); otherwise it
 * counts as invalid.  Returns the number of invalid files (0: all good), or
 * a negative errno for a usage problem or when out of memory. */
int policy_check_paths(char *const *paths, size_t n, bool check_owner, bool missing_ok, FILE *out);
/* The host configuration file (host_config.h) with the hook's own loader:
 * prints "FILE: ok" or its one error line.  missing_ok: a file that does
 * not exist (the defaults) is fine and prints nothing.  Returns 1 when
 * invalid, 0 when good, -ENOMEM. */
int policy_check_host_config(const char *path, bool check_owner, bool missing_ok, FILE *out);
