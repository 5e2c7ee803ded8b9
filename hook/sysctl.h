/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include "util.h"

/* Sysctls by dotted name ("vm.swappiness"), below <sysroot>/proc/sys.
 * Names are validated ([a-z0-9_.], no "..") before they become paths. */
int sysctl_path(const char *sysroot, const char *name, char *buf, size_t size);
int sysctl_read_u64(const char *sysroot, const char *name, uint64_t *ret);
int sysctl_write_string(const char *sysroot, const char *name, const char *value);
int sysctl_write_u64(const char *sysroot, const char *name, uint64_t value);

int sysctl_swappiness_get(const char *sysroot, uint64_t *ret);
int sysctl_swappiness_set(const char *sysroot, uint64_t value);
