/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Memory handed out in order and freed all at once: for what a run builds
 * once and only reads (parsed JSON trees, the policies decoded from the
 * cache), where a malloc and a free per node or string were a third of a
 * container start's instructions. */

#include <stddef.h>

struct arena;

/* size bytes, zeroed and aligned for any type; NULL when out of memory.
 * *a starts as NULL; chunks double from 8 KiB (at most 1 MiB, or the
 * request). */
void *arena_alloc(struct arena **a, size_t size);
/* Frees every chunk; NULL is fine. */
void arena_free(struct arena *a);
