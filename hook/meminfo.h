/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

/* /proc/meminfo figures, in bytes. */
struct meminfo {
        uint64_t total, free, available, cached, buffers, swap_total, swap_free;
};

int meminfo_read(const char *sysroot, struct meminfo *ret);
