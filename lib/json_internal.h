/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What json.c (tree, callbacks, yajl) and json_fast.c (the fast path) share;
 * not part of json.h's API.  The split exists because the fast path is an
 * optimisation whose twin is yajl: both feed the callbacks below, and
 * test-json and fuzz-json compare what they build. */
#pragma once

#include "json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_parse.h>

/* Where the keys of an open object are, once it has more than
 * KEY_INDEX_MIN of them: open addressing over their indices (+1; 0 is
 * empty), at most half full.  Looking every new key up in the list made
 * building an object quadratic (80,000 annotations: 9 s). */
#define KEY_INDEX_MIN 16u
struct key_index {
        uint32_t *slots;
        size_t cap;       /* slots in use: a power of two */
        size_t alloc;     /* slots allocated (a bigger earlier object's) */
        bool valid;       /* built for the object now open at this depth */
};

struct parse_ctx {
        const char *buf;
        size_t len;
        yajl_handle h;
        const struct json_parse_opts *opts;
        struct json_node *root;
        struct json_node *stack[MEMGUARD_MAX_JSON_DEPTH + 2];
        unsigned depth, max_depth;
        /* filters: keep[d] applies to the container at stack[d] */
        const struct json_keep *keep[MEMGUARD_MAX_JSON_DEPTH + 2];
        /* the index of the object at stack[d]; how stack[d] is named in
         * its parent (key, or index in an array), for errors */
        struct key_index index[MEMGUARD_MAX_JSON_DEPTH + 2];
        const char *name_key[MEMGUARD_MAX_JSON_DEPTH + 2];
        size_t name_index[MEMGUARD_MAX_JSON_DEPTH + 2];
        const char *added_key;             /* the key add_value last stored */
        uint64_t hash_key[2];              /* SipHash key: the kernel's AT_RANDOM */
        unsigned max_keys;
        unsigned ticks;                    /* callbacks since the clock was read */
        const struct json_keep *next_keep; /* for the value of the last key */
        bool skip_next;                    /* the value of the last key is not kept */
        unsigned skip_depth;               /* > 0: inside a skipped container */
        char *pending_key;
        unsigned key_line, key_col;
        /* position tracking: offset/line/col of `pos` */
        size_t pos;
        unsigned line, col;
        size_t last_end;
        size_t consumed;   /* the fast path's yajl_get_bytes_consumed() */
        struct arena *arena; /* .arena: the tree's memory until it is whole */
        int err_code;
        char err_msg[256];
        unsigned err_line, err_col;
};

/* yajl's callbacks, which the fast path calls as yajl would: 1 to go on,
 * 0 to cancel (the reason is in ctx->err_*). */
int json_cb_null(void *ctx);
int json_cb_boolean(void *ctx, int v);
int json_cb_number(void *ctx, const char *s, size_t len);
int json_cb_string(void *ctx, const unsigned char *s, size_t len);
int json_cb_map_key(void *ctx, const unsigned char *s, size_t len);
int json_cb_start_map(void *ctx);
int json_cb_start_array(void *ctx);
int json_cb_end(void *ctx);

/* json_fast_parse(): FP_OK, the tree is in ctx->root; FP_CANCEL, a callback
 * cancelled (ctx->err_code says why when it is the document's error);
 * FP_OTHER, not in the plain subset or malformed: yajl decides. */
enum { FP_CANCEL = -1, FP_OTHER = 0, FP_OK = 1 };
int json_fast_parse(struct parse_ctx *ctx);
