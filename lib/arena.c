/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

struct arena {
        struct arena *next;
        size_t used, size;
        max_align_t data[];
};

void *arena_alloc(struct arena **a, size_t size) {
        size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
        if (!*a || (*a)->size - (*a)->used < size) {
                size_t chunk = *a ? (*a)->size * 2 : 8192u;
                if (chunk > 1024u * 1024u)
                        chunk = 1024u * 1024u;
                if (chunk < size)
                        chunk = size;
                struct arena *n = malloc(sizeof *n + chunk);
                if (!n)
                        return NULL;
                *n = (struct arena) { .next = *a, .size = chunk };
                *a = n;
        }
        void *r = (char *) (*a)->data + (*a)->used;
        (*a)->used += size;
        return memset(r, 0, size);
}

void arena_free(struct arena *a) {
        while (a) {
                struct arena *next = a->next;
                free(a);
                a = next;
        }
}
