/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Validates each path (a file, or every *.json of a directory); prints one
 * "FILE:LINE:COL: message" per error and "FILE: ok" per good file to out.
 * Returns the number of invalid files, or a negative errno. */
/* missing_ok: a path that does not exist is skipped (the default
 * directories need not exist). */
int policy_check_paths(char *const *paths, size_t n, bool check_owner, bool missing_ok, FILE *out);
