/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* Keeps freed heap mapped for the run, and where this run's first page
 * faults prove dear (a VM whose faults trap to the hypervisor) maps in, with
 * a few madvise(MADV_POPULATE_*) calls, the pages a hook run is going to
 * touch anyway: the binary's segments, the top of the stack and the first
 * heap chunk. Best effort: nothing is reported, an old kernel (before 5.14)
 * just takes the faults. prefault.c says why. */
/* caller_frame: __builtin_frame_address(0) of main, whose locals are
 * populated too. */
void prefault_startup(const void *caller_frame);
/* Makes the next `bytes` of heap (up to 8 MiB) populated: the policy cache
 * calls it with its size before decoding a policy set into the heap. */
void prefault_heap(size_t bytes);
