/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The JSON tree, its builder (the callbacks) and yajl, the reference
 * parser.  The fast reader for plain-ASCII documents lives apart in
 * json_fast.c: it is an optimisation whose twin is yajl, feeding the same
 * callbacks so that tree, positions and errors are the same; test-json and
 * fuzz-json compare the two.  json_internal.h is all they share. */
#include "json.h"
#include "json_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <yajl/yajl_parse.h>

/* ---- nodes ---------------------------------------------------------- */

struct json_node *json_new(enum json_type t) {
        struct json_node *n = calloc(1, sizeof *n);
        if (n)
                n->type = t;
        return n;
}

struct json_node *json_new_string(const char *s) {
        struct json_node *n = json_new(JSON_STRING);
        if (!n)
                return NULL;
        n->str = strdup(s);
        if (!n->str) {
                free(n);
                return NULL;
        }
        n->len = strlen(s);
        return n;
}

void json_free(struct json_node *n) {
        /* Iterative in spirit: depth is bounded at parse time (64), so the
         * recursion here is bounded too. */
        if (!n)
                return;
        if (n->in_arena) {
                arena_free(n->arena); /* the root frees the tree; a node in it, nothing */
                return;
        }
        for (size_t i = 0; i < n->n; i++) {
                json_free(n->items[i]);
                if (n->keys)
                        free(n->keys[i]);
        }
        free(n->items);
        free(n->keys);
        free(n->key_line);
        free(n->key_col);
        free(n->str);
        free(n);
}

static int json_grow(struct json_node *c, bool positions) {
        if (c->n < c->cap)
                return 0;
        size_t ncap = c->cap ? c->cap * 2 : 8;
        struct json_node **items = realloc(c->items, ncap * sizeof *items);
        if (!items)
                return -ENOMEM;
        c->items = items;
        if (c->type == JSON_OBJECT) {
                char **keys = realloc(c->keys, ncap * sizeof *keys);
                if (!keys)
                        return -ENOMEM;
                c->keys = keys;
        }
        if (c->type == JSON_OBJECT && (positions || c->key_line)) {
                unsigned *kl = realloc(c->key_line, ncap * sizeof *kl);
                if (!kl)
                        return -ENOMEM;
                c->key_line = kl;
                unsigned *kc = realloc(c->key_col, ncap * sizeof *kc);
                if (!kc)
                        return -ENOMEM;
                c->key_col = kc;
        }
        c->cap = ncap;
        return 0;
}

static ssize_t json_find_key(const struct json_node *obj, const char *key) {
        for (size_t i = 0; i < obj->n; i++)
                if (STREQ(obj->keys[i], key))
                        return (ssize_t) i;
        return -1;
}

int json_object_set(struct json_node *obj, const char *key, struct json_node *val) {
        if (!obj || obj->type != JSON_OBJECT || !val || obj->in_arena) {
                json_free(val);
                return -EINVAL;
        }
        ssize_t i = json_find_key(obj, key);
        if (i >= 0) {
                json_free(obj->items[i]);
                obj->items[i] = val;
                return 0;
        }
        char *k = strdup(key);
        if (!k || json_grow(obj, false) < 0) {
                free(k);
                json_free(val);
                return -ENOMEM;
        }
        obj->keys[obj->n] = k;
        if (obj->key_line) {
                obj->key_line[obj->n] = 0;
                obj->key_col[obj->n] = 0;
        }
        obj->items[obj->n++] = val;
        return 0;
}

int json_array_append(struct json_node *arr, struct json_node *val) {
        if (!arr || arr->type != JSON_ARRAY || !val || arr->in_arena) {
                json_free(val);
                return -EINVAL;
        }
        if (json_grow(arr, false) < 0) {
                json_free(val);
                return -ENOMEM;
        }
        arr->items[arr->n++] = val;
        return 0;
}

struct json_node *json_get(const struct json_node *obj, const char *key) {
        if (!obj || obj->type != JSON_OBJECT)
                return NULL;
        ssize_t i = json_find_key(obj, key);
        return i < 0 ? NULL : obj->items[i];
}

struct json_node *json_get_path(const struct json_node *obj, const char *const *keys) {
        const struct json_node *n = obj;
        for (; *keys; keys++) {
                n = json_get(n, *keys);
                if (!n)
                        return NULL;
        }
        return (struct json_node *) n;
}

static const char *const json_type_names[] = {
        [JSON_NULL] = "null",
        [JSON_FALSE] = "boolean",
        [JSON_TRUE] = "boolean",
        [JSON_NUMBER] = "number",
        [JSON_STRING] = "string",
        [JSON_OBJECT] = "object",
        [JSON_ARRAY] = "array",
};

const char *json_type_name(enum json_type t) { return NAME_FROM_TABLE(json_type_names, t, "?"); }

int json_get_string(const struct json_node *obj, const char *key, const char **ret, struct mg_error *err) {
        assert(key);
        assert(ret);
        const struct json_node *n = json_get(obj, key);
        if (!n || n->type == JSON_NULL)
                return mg_error_set(err, -ENOENT, "missing '%s'", key);
        if (n->type != JSON_STRING)
                return mg_error_set(err, -EINVAL, "type: '%s' must be a string, not %s", key, json_type_name(n->type));
        *ret = n->str;
        return 0;
}

int json_get_bool(const struct json_node *obj, const char *key, bool *ret, struct mg_error *err) {
        assert(key);
        assert(ret);
        const struct json_node *n = json_get(obj, key);
        if (!n || n->type == JSON_NULL)
                return mg_error_set(err, -ENOENT, "missing '%s'", key);
        if (n->type != JSON_TRUE && n->type != JSON_FALSE)
                return mg_error_set(err, -EINVAL, "type: '%s' must be a boolean, not %s", key, json_type_name(n->type));
        *ret = n->type == JSON_TRUE;
        return 0;
}

int json_number_u64(const struct json_node *n, uint64_t *ret) {
        if (!n || n->type != JSON_NUMBER)
                return -EINVAL;
        return safe_atou64(n->str, ret);
}

int json_number_i64(const struct json_node *n, int64_t *ret) {
        if (!n || n->type != JSON_NUMBER)
                return -EINVAL;
        const char *s = n->str;
        bool neg = *s == '-';
        uint64_t v;
        int r = safe_atou64(neg ? s + 1 : s, &v);
        if (r < 0)
                return r;
        if (neg ? v > (uint64_t) INT64_MAX + 1 : v > (uint64_t) INT64_MAX)
                return -ERANGE;
        *ret = neg ? (int64_t) (0 - v) : (int64_t) v;
        return 0;
}

int json_get_u64(const struct json_node *obj, const char *key, uint64_t *ret, struct mg_error *err) {
        assert(key);
        assert(ret);
        const struct json_node *n = json_get(obj, key);
        if (!n || n->type == JSON_NULL)
                return mg_error_set(err, -ENOENT, "missing '%s'", key);
        if (json_number_u64(n, ret) < 0)
                return mg_error_set(err, -EINVAL, "type: '%s' must be a non-negative integer", key);
        return 0;
}

int json_get_i64(const struct json_node *obj, const char *key, int64_t *ret, struct mg_error *err) {
        assert(key);
        assert(ret);
        const struct json_node *n = json_get(obj, key);
        if (!n || n->type == JSON_NULL)
                return mg_error_set(err, -ENOENT, "missing '%s'", key);
        if (json_number_i64(n, ret) < 0)
                return mg_error_set(err, -EINVAL, "type: '%s' must be an integer", key);
        return 0;
}

/* ---- parser ----------------------------------------------------------- */


/* Where the token the current callback is about ends. */
static size_t bytes_consumed(const struct parse_ctx *c) { return c->h ? yajl_get_bytes_consumed(c->h) : c->consumed; }

static void advance_to(struct parse_ctx *c, size_t off) {
        if (off > c->len)
                off = c->len;
        for (; c->pos < off; c->pos++) {
                if (c->buf[c->pos] == '\n') {
                        c->line++;
                        c->col = 1;
                } else
                        c->col++;
        }
}

/* Position of the token the current callback is about: the first byte after
 * the previous token that is not white space or a separator. Counts lines
 * from where the last count stopped: cheap once, linear in the document
 * when done for every token. */
static void token_locate(struct parse_ctx *c, unsigned *line, unsigned *col) {
        size_t s = c->last_end;
        while (s < c->len && strchr(" \t\r\n,:", c->buf[s]))
                s++;
        advance_to(c, s);
        *line = c->line;
        *col = c->col;
}

/* A token is being kept: note where it ends (the next token's search starts
 * there) and, only when the caller wants positions, where it starts. */
static void token_start(struct parse_ctx *c, unsigned *line, unsigned *col) {
        if (c->opts->positions)
                token_locate(c, line, col);
        else
                *line = *col = 0;
        c->last_end = bytes_consumed(c);
}

static int fail(struct parse_ctx *c, int code, unsigned line, unsigned col, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err_msg, sizeof c->err_msg, fmt, ap);
        va_end(ap);
        c->err_code = code;
        c->err_line = line;
        c->err_col = col;
        return 0; /* cancels the parse */
}

/* Where a parse's nodes, strings and arrays come from: the heap, or with
 * .arena the tree's arena (nothing in it is freed alone). */
static char *ctx_strndup(struct parse_ctx *c, const char *s, size_t len) {
        if (!c->opts->arena)
                return strndup(s, len);
        char *r = arena_alloc(&c->arena, len + 1);
        if (r)
                memcpy(r, s, len);
        return r;
}

static void ctx_free_str(struct parse_ctx *c, char *s) {
        if (!c->opts->arena)
                free(s);
}

static int ctx_grow(struct parse_ctx *c, struct json_node *p, bool positions) {
        if (!p->in_arena)
                return json_grow(p, positions);
        if (p->n < p->cap)
                return 0;
        size_t ncap = p->cap ? p->cap * 2 : 8;
        struct json_node **items = arena_alloc(&c->arena, ncap * sizeof *items);
        if (!items)
                return -ENOMEM;
        if (p->n)
                memcpy(items, p->items, p->n * sizeof *items);
        p->items = items;
        if (p->type == JSON_OBJECT) {
                char **keys = arena_alloc(&c->arena, ncap * sizeof *keys);
                if (!keys)
                        return -ENOMEM;
                if (p->n)
                        memcpy(keys, p->keys, p->n * sizeof *keys);
                p->keys = keys;
                if (positions) {
                        unsigned *kl = arena_alloc(&c->arena, ncap * sizeof *kl), *kc = arena_alloc(&c->arena, ncap * sizeof *kc);
                        if (!kl || !kc)
                                return -ENOMEM;
                        if (p->key_line && p->n) {
                                memcpy(kl, p->key_line, p->n * sizeof *kl);
                                memcpy(kc, p->key_col, p->n * sizeof *kc);
                        }
                        p->key_line = kl;
                        p->key_col = kc;
                }
        }
        p->cap = ncap;
        return 0;
}

/* ---- keys of open objects ----------------------------------------------
 *
 * The hash is SipHash-1-3 keyed with the 16 random bytes the kernel gives
 * every process (AT_RANDOM): keys that all land in one slot cannot be
 * prepared in advance, so a document cannot make the index linear again. */

#define SIP_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND(v0, v1, v2, v3)                                                                                   \
        do {                                                                                                         \
                v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32);                                  \
                v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2;                                                          \
                v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0;                                                          \
                v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32);                                  \
        } while (0)

static uint64_t siphash13(const char *data, size_t len, const uint64_t k[2]) {
        const unsigned char *p = (const unsigned char *) data;
        uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k[0], v1 = UINT64_C(0x646f72616e646f6d) ^ k[1];
        uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k[0], v3 = UINT64_C(0x7465646279746573) ^ k[1];
        uint64_t last = (uint64_t) len << 56;
        for (; len >= 8; p += 8, len -= 8) {
                uint64_t m = 0;
                for (unsigned i = 0; i < 8; i++)
                        m |= (uint64_t) p[i] << (8 * i);
                v3 ^= m;
                SIP_ROUND(v0, v1, v2, v3);
                v0 ^= m;
        }
        for (size_t i = 0; i < len; i++)
                last |= (uint64_t) p[i] << (8 * i);
        v3 ^= last;
        SIP_ROUND(v0, v1, v2, v3);
        v0 ^= last;
        v2 ^= 0xff;
        SIP_ROUND(v0, v1, v2, v3);
        SIP_ROUND(v0, v1, v2, v3);
        SIP_ROUND(v0, v1, v2, v3);
        return v0 ^ v1 ^ v2 ^ v3;
}

static size_t key_hash(const struct parse_ctx *c, const char *key) {
        return (size_t) siphash13(key, strlen(key), c->hash_key);
}

static void index_insert(struct key_index *x, size_t hash, size_t i) {
        size_t mask = x->cap - 1;
        for (size_t s = hash & mask;; s = (s + 1) & mask)
                if (!x->slots[s]) {
                        x->slots[s] = (uint32_t) i + 1;
                        return;
                }
}

/* An index of obj's keys with room for want keys before it is half full.
 * The slots of a bigger earlier object at this depth are reused, but only
 * as many as this one needs are cleared. */
static int index_build(struct parse_ctx *c, struct key_index *x, const struct json_node *obj, size_t want) {
        size_t cap = 4 * KEY_INDEX_MIN;
        while (cap < 2 * want)
                cap *= 2;
        if (cap > x->alloc) {
                uint32_t *slots = malloc(cap * sizeof *slots);
                if (!slots)
                        return -ENOMEM;
                free(x->slots);
                x->slots = slots;
                x->alloc = cap;
        }
        memset(x->slots, 0, cap * sizeof *x->slots);
        x->cap = cap;
        x->valid = true;
        for (size_t i = 0; i < obj->n; i++)
                index_insert(x, key_hash(c, obj->keys[i]), i);
        return 0;
}

/* Where key is in the object open at depth d: *ret its index or -1. */
static int object_find(struct parse_ctx *c, unsigned d, const char *key, ssize_t *ret) {
        const struct json_node *obj = c->stack[d];
        if (obj->n < KEY_INDEX_MIN) {
                *ret = json_find_key(obj, key);
                return 0;
        }
        struct key_index *x = &c->index[d];
        if (!x->valid && index_build(c, x, obj, obj->n + 1) < 0)
                return -ENOMEM;
        size_t mask = x->cap - 1;
        for (size_t s = key_hash(c, key) & mask; x->slots[s]; s = (s + 1) & mask)
                if (STREQ(obj->keys[x->slots[s] - 1], key)) {
                        *ret = (ssize_t) x->slots[s] - 1;
                        return 0;
                }
        *ret = -1;
        return 0;
}

/* The key just appended to the object open at depth d goes into its
 * index, if it has one yet. */
static int object_added(struct parse_ctx *c, unsigned d) {
        const struct json_node *obj = c->stack[d];
        struct key_index *x = &c->index[d];
        if (!x->valid)
                return 0;
        if (2 * obj->n > x->cap)
                return index_build(c, x, obj, 2 * obj->n);
        index_insert(x, key_hash(c, obj->keys[obj->n - 1]), obj->n - 1);
        return 0;
}

/* How errors name the object open at depth d: 'annotations',
 * 'mounts[2].options', or the top-level object. */
static void object_name(const struct parse_ctx *c, unsigned d, char *buf, size_t size) {
        if (d == 0) {
                snprintf(buf, size, "the top-level object");
                return;
        }
        size_t n = 0;
        buf[0] = '\0';
        for (unsigned i = 1; i <= d && n < size; i++) {
                int k = c->stack[i - 1]->type == JSON_OBJECT
                                ? snprintf(buf + n, size - n, "%s%.64s", i > 1 ? "." : "'", c->name_key[i])
                                : snprintf(buf + n, size - n, "%s[%zu]", i > 1 ? "" : "'", c->name_index[i]);
                if (k < 0)
                        break;
                n += (size_t) k;
        }
        if (n + 1 < size)
                strcat(buf, "'");
}

static int add_value(struct parse_ctx *c, struct json_node *n) {
        if (!n)
                return fail(c, -ENOMEM, 0, 0, "out of memory");
        if (c->depth == 0) {
                c->root = n;
                return 1;
        }
        unsigned d = c->depth - 1;
        struct json_node *parent = c->stack[d];
        if (parent->type == JSON_ARRAY) {
                if (ctx_grow(c, parent, false) < 0) {
                        json_free(n);
                        return fail(c, -ENOMEM, 0, 0, "out of memory");
                }
                parent->items[parent->n++] = n;
                return 1;
        }
        char *key = TAKE_PTR(c->pending_key);
        ssize_t i;
        if (object_find(c, d, key, &i) < 0) {
                ctx_free_str(c, key);
                json_free(n);
                return fail(c, -ENOMEM, 0, 0, "out of memory");
        }
        if (i >= 0) {
                if (c->opts->reject_duplicates) {
                        unsigned l = c->key_line, co = c->key_col;
                        fail(c, -EINVAL, l, co, "syntax: duplicate key '%.100s'", key);
                        ctx_free_str(c, key);
                        json_free(n);
                        return 0;
                }
                /* Last one wins, as Go's encoding/json does. */
                json_free(parent->items[i]);
                parent->items[i] = n;
                if (parent->key_line) {
                        parent->key_line[i] = c->key_line;
                        parent->key_col[i] = c->key_col;
                }
                ctx_free_str(c, key);
                c->added_key = parent->keys[i];
                return 1;
        }
        if (ctx_grow(c, parent, c->opts->positions) < 0) {
                ctx_free_str(c, key);
                json_free(n);
                return fail(c, -ENOMEM, 0, 0, "out of memory");
        }
        parent->keys[parent->n] = key;
        if (parent->key_line) {
                parent->key_line[parent->n] = c->key_line;
                parent->key_col[parent->n] = c->key_col;
        }
        parent->items[parent->n++] = n;
        c->added_key = key;
        if (object_added(c, d) < 0)
                return fail(c, -ENOMEM, 0, 0, "out of memory");
        return 1;
}

/* Past the caller's deadline the parse stops; the clock is read every 256
 * tokens. */
static bool past_deadline(struct parse_ctx *c) {
        if (!c->opts->deadline_usec || ++c->ticks < 256)
                return false;
        c->ticks = 0;
        if (now_usec_monotonic() < c->opts->deadline_usec)
                return false;
        unsigned l, co;
        token_locate(c, &l, &co);
        fail(c, -ETIMEDOUT, l, co, "time: not parsed before the deadline");
        return true;
}

/* Inside a skipped value, or the value of a key the filter does not keep:
 * nothing is built; the next kept token is located from here. */
static bool skipping_scalar(struct parse_ctx *c) {
        if (c->skip_depth)
                return true;
        if (!c->skip_next)
                return false;
        c->skip_next = false;
        c->last_end = bytes_consumed(c);
        return true;
}

static const struct json_keep *keep_find(const struct json_keep *k, const unsigned char *s, size_t len) {
        for (; k->key; k++)
                if (strlen(k->key) == len && memcmp(k->key, s, len) == 0)
                        return k;
        return NULL;
}

static struct json_node *new_at(struct parse_ctx *c, enum json_type t) {
        struct json_node *n = c->opts->arena ? arena_alloc(&c->arena, sizeof *n) : json_new(t);
        if (n && c->opts->arena) {
                n->type = t;
                n->in_arena = true;
        }
        if (n)
                token_start(c, &n->line, &n->col);
        return n;
}

int json_cb_null(void *ctx) {
        struct parse_ctx *c = ctx;
        if (past_deadline(c))
                return 0;
        if (skipping_scalar(c))
                return 1;
        return add_value(c, new_at(c, JSON_NULL));
}

int json_cb_boolean(void *ctx, int v) {
        struct parse_ctx *c = ctx;
        if (past_deadline(c))
                return 0;
        if (skipping_scalar(c))
                return 1;
        return add_value(c, new_at(c, v ? JSON_TRUE : JSON_FALSE));
}

int json_cb_number(void *ctx, const char *s, size_t len) {
        struct parse_ctx *c = ctx;
        if (past_deadline(c))
                return 0;
        if (skipping_scalar(c))
                return 1;
        struct json_node *n = new_at(c, JSON_NUMBER);
        if (!n)
                return fail(c, -ENOMEM, 0, 0, "out of memory");
        n->str = ctx_strndup(c, s, len);
        n->len = len;
        if (!n->str) {
                json_free(n);
                return fail(c, -ENOMEM, 0, 0, "out of memory");
        }
        return add_value(c, n);
}

int json_cb_string(void *ctx, const unsigned char *s, size_t len) {
        struct parse_ctx *c = ctx;
        if (past_deadline(c))
                return 0;
        if (c->skip_depth || c->skip_next) {
                /* not kept, still checked */
                if (memchr(s, '\0', len)) {
                        unsigned l, co;
                        token_locate(c, &l, &co);
                        return fail(c, -EBADMSG, l, co, "NUL: string contains a NUL byte (\\u0000)");
                }
                (void) skipping_scalar(c);
                return 1;
        }
        if (memchr(s, '\0', len)) {
                unsigned l, co;
                token_locate(c, &l, &co);
                return fail(c, -EBADMSG, l, co, "NUL: string contains a NUL byte (\\u0000)");
        }
        struct json_node *n = new_at(c, JSON_STRING);
        if (!n)
                return fail(c, -ENOMEM, 0, 0, "out of memory");
        n->str = ctx_strndup(c, (const char *) s, len);
        n->len = len;
        if (!n->str) {
                json_free(n);
                return fail(c, -ENOMEM, 0, 0, "out of memory");
        }
        return add_value(c, n);
}

int json_cb_map_key(void *ctx, const unsigned char *s, size_t len) {
        struct parse_ctx *c = ctx;
        if (past_deadline(c))
                return 0;
        if (c->skip_depth || (c->depth > 0 && c->keep[c->depth - 1])) {
                const struct json_keep *k = c->skip_depth ? NULL : keep_find(c->keep[c->depth - 1], s, len);
                if (!k) {
                        if (memchr(s, '\0', len)) {
                                unsigned l, co;
                                token_locate(c, &l, &co);
                                return fail(c, -EBADMSG, l, co, "NUL: key contains a NUL byte (\\u0000)");
                        }
                        if (!c->skip_depth)
                                c->skip_next = true;
                        /* the value's position is searched from here */
                        c->last_end = bytes_consumed(c);
                        return 1;
                }
                c->next_keep = k->children;
        } else
                c->next_keep = NULL;
        if (memchr(s, '\0', len)) {
                unsigned l, co;
                token_locate(c, &l, &co);
                return fail(c, -EBADMSG, l, co, "NUL: key contains a NUL byte (\\u0000)");
        }
        char *key = ctx_strndup(c, (const char *) s, len);
        if (!key)
                return fail(c, -ENOMEM, 0, 0, "out of memory");
        /* At the cap only a duplicate may follow: found in the index. */
        unsigned d = c->depth - 1;
        if (c->stack[d]->n >= c->max_keys) {
                ssize_t i;
                int r = object_find(c, d, key, &i);
                if (r < 0 || i < 0)
                        ctx_free_str(c, key);
                if (r < 0)
                        return fail(c, -ENOMEM, 0, 0, "out of memory");
                if (i < 0) {
                        char name[256];
                        unsigned l, co;
                        object_name(c, d, name, sizeof name);
                        token_locate(c, &l, &co);
                        return fail(c, -E2BIG, l, co, "size: %s has more than %u keys", name, c->max_keys);
                }
        }
        token_start(c, &c->key_line, &c->key_col);
        ctx_free_str(c, c->pending_key);
        c->pending_key = key;
        return 1;
}

static int start_container(struct parse_ctx *c, enum json_type t) {
        if (past_deadline(c))
                return 0;
        if (c->skip_depth || c->skip_next) {
                if (c->depth + 1 > c->max_depth) {
                        unsigned l, co;
                        token_locate(c, &l, &co);
                        return fail(c, -E2BIG, l, co, "depth: nesting deeper than %u", c->max_depth);
                }
                c->stack[c->depth++] = NULL;
                if (c->skip_next) {
                        c->skip_next = false;
                        c->skip_depth = c->depth;
                }
                return 1;
        }
        /* The filter of this container: the root's from the options; a
         * key's from its entry; an array element's is the array's. */
        const struct json_keep *keep = c->depth == 0 ? c->opts->keep
                                       : c->stack[c->depth - 1]->type == JSON_ARRAY ? c->keep[c->depth - 1]
                                                                                    : c->next_keep;
        if (c->depth + 1 > c->max_depth) {
                unsigned l, co;
                token_locate(c, &l, &co);
                return fail(c, -E2BIG, l, co, "depth: nesting deeper than %u", c->max_depth);
        }
        struct json_node *n = new_at(c, t);
        if (!n)
                return fail(c, -ENOMEM, 0, 0, "out of memory");
        if (!add_value(c, n))
                return 0;
        if (c->depth > 0) {
                const struct json_node *parent = c->stack[c->depth - 1];
                if (parent->type == JSON_OBJECT)
                        c->name_key[c->depth] = c->added_key;
                else
                        c->name_index[c->depth] = parent->n - 1;
        }
        c->keep[c->depth] = keep;
        c->index[c->depth].valid = false;
        c->stack[c->depth++] = n;
        return 1;
}

static int end_container(struct parse_ctx *c) {
        if (past_deadline(c))
                return 0;
        if (c->skip_depth) {
                if (c->depth == c->skip_depth) {
                        c->skip_depth = 0;
                        c->last_end = bytes_consumed(c);
                }
                c->depth--;
                return 1;
        }
        c->last_end = bytes_consumed(c);
        if (c->depth > 0)
                c->depth--;
        return 1;
}

int json_cb_start_map(void *ctx) { return start_container(ctx, JSON_OBJECT); }
int json_cb_start_array(void *ctx) { return start_container(ctx, JSON_ARRAY); }
int json_cb_end(void *ctx) { return end_container(ctx); }

static const yajl_callbacks callbacks = {
        .yajl_null = json_cb_null,
        .yajl_boolean = json_cb_boolean,
        .yajl_number = json_cb_number,
        .yajl_string = json_cb_string,
        .yajl_start_map = json_cb_start_map,
        .yajl_map_key = json_cb_map_key,
        .yajl_end_map = json_cb_end,
        .yajl_start_array = json_cb_start_array,
        .yajl_end_array = json_cb_end,
};

static void ctx_init(struct parse_ctx *c, const char *buf, size_t len, const struct json_parse_opts *opts) {
        *c = (struct parse_ctx) {
                .buf = buf,
                .len = len,
                .opts = opts,
                .max_depth = opts->max_depth ? opts->max_depth : MEMGUARD_MAX_JSON_DEPTH,
                .line = 1,
                .col = 1,
                .max_keys = opts->max_keys && opts->max_keys < MEMGUARD_MAX_JSON_KEYS ? opts->max_keys : MEMGUARD_MAX_JSON_KEYS,
        };
        if (c->max_depth > MEMGUARD_MAX_JSON_DEPTH)
                c->max_depth = MEMGUARD_MAX_JSON_DEPTH;
        const unsigned char *rnd = (const unsigned char *) getauxval(AT_RANDOM);
        if (rnd) {
                memcpy(&c->hash_key[0], rnd, sizeof c->hash_key[0]);
                memcpy(&c->hash_key[1], rnd + 8, sizeof c->hash_key[1]);
        } else {
                /* no auxiliary vector: at least as random as the stack's address */
                c->hash_key[0] = (uint64_t) (uintptr_t) c;
                c->hash_key[1] = UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t) (uintptr_t) buf;
        }
}

/* The whole tree, owning its arena. */
static struct json_node *ctx_take_root(struct parse_ctx *c) {
        struct json_node *root = TAKE_PTR(c->root);
        if (root->in_arena)
                root->arena = TAKE_PTR(c->arena);
        return root;
}

static void ctx_done(struct parse_ctx *c) {
        for (size_t d = 0; d < ELEMENTSOF(c->index); d++) {
                free(c->index[d].slots);
                c->index[d] = (struct key_index) {0};
        }
        json_free(c->root);
        c->root = NULL;
        ctx_free_str(c, c->pending_key);
        c->pending_key = NULL;
        arena_free(c->arena);
        c->arena = NULL;
        if (c->h)
                yajl_free(c->h);
        c->h = NULL;
}

int json_parse(const char *buf, size_t len, const struct json_parse_opts *opts, struct json_node **ret, struct mg_error *err) {
        static const struct json_parse_opts defaults = { .max_depth = MEMGUARD_MAX_JSON_DEPTH };
        if (!opts)
                opts = &defaults;
        if (memchr(buf, '\0', len))
                return mg_error_set(err, -EBADMSG, "NUL: input contains a NUL byte");
        struct parse_ctx c;
        ctx_init(&c, buf, len, opts);
        if (!json_fast_path_disabled) {
                int fr = json_fast_parse(&c);
                if (fr == FP_OK && c.root) {
                        *ret = ctx_take_root(&c);
                        ctx_done(&c);
                        return 0;
                }
                if (fr == FP_CANCEL && c.err_code) {
                        int r = mg_error_set(err, c.err_code, "%u:%u: %s", c.err_line, c.err_line ? c.err_col : 0, c.err_msg);
                        ctx_done(&c);
                        return r;
                }
                /* not in the plain subset, or malformed: yajl decides */
                ctx_done(&c);
                ctx_init(&c, buf, len, opts);
        }
        c.h = yajl_alloc(&callbacks, NULL, &c);
        if (!c.h)
                return mg_error_set(err, -ENOMEM, "out of memory");
        yajl_status st = yajl_parse(c.h, (const unsigned char *) buf, len);
        if (st == yajl_status_ok)
                st = yajl_complete_parse(c.h);
        int r = 0;
        if (st != yajl_status_ok || !c.root) {
                if (c.err_code) {
                        r = mg_error_set(err, c.err_code, "%u:%u: %s", c.err_line, c.err_line ? c.err_col : 0, c.err_msg);
                } else {
                        size_t off = yajl_get_bytes_consumed(c.h);
                        /* yajl reports errors against the whole buffer after
                         * yajl_complete_parse (premature EOF). */
                        if (st == yajl_status_error && off == 0 && len > 0)
                                off = len;
                        advance_to(&c, off);
                        unsigned char *e = yajl_get_error(c.h, 0, (const unsigned char *) buf, len);
                        r = mg_error_set(err, -EINVAL, "%u:%u: syntax: %s", c.line, c.col,
                                         e ? (const char *) e : (c.root ? "parse error" : "empty document"));
                        if (e)
                                yajl_free_error(c.h, e);
                }
        } else
                *ret = ctx_take_root(&c);
        ctx_done(&c);
        return r;
}

/* ---- strbuf ----------------------------------------------------------- */

void strbuf_free(struct strbuf *sb) {
        free(sb->buf);
        sb->buf = NULL;
        sb->len = sb->cap = 0;
}

void strbuf_append(struct strbuf *sb, const char *s, size_t len) {
        if (sb->oom)
                return;
        if (sb->len + len + 1 > sb->cap) {
                size_t ncap = sb->cap ? sb->cap : 256;
                while (ncap < sb->len + len + 1)
                        ncap *= 2;
                char *n = realloc(sb->buf, ncap);
                if (!n) {
                        sb->oom = true;
                        return;
                }
                sb->buf = n;
                sb->cap = ncap;
        }
        memcpy(sb->buf + sb->len, s, len);
        sb->len += len;
        sb->buf[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *s) { strbuf_append(sb, s, strlen(s)); }

void strbuf_printf(struct strbuf *sb, const char *fmt, ...) {
        char tmp[512];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
        va_end(ap);
        if (n < 0) {
                sb->oom = true;
                return;
        }
        if ((size_t) n < sizeof tmp) {
                strbuf_append(sb, tmp, (size_t) n);
                return;
        }
        char *big = malloc((size_t) n + 1);
        if (!big) {
                sb->oom = true;
                return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t) n + 1, fmt, ap);
        va_end(ap);
        strbuf_append(sb, big, (size_t) n);
        free(big);
}

/* Length of a valid UTF-8 sequence at s, or 0. */
static size_t utf8_valid_len(const unsigned char *s) {
        if (s[0] < 0x80)
                return 1;
        size_t n;
        uint32_t cp;
        if ((s[0] & 0xe0) == 0xc0) { n = 2; cp = s[0] & 0x1f; }
        else if ((s[0] & 0xf0) == 0xe0) { n = 3; cp = s[0] & 0x0f; }
        else if ((s[0] & 0xf8) == 0xf0) { n = 4; cp = s[0] & 0x07; }
        else return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

void strbuf_json_string(struct strbuf *sb, const char *str) {
        const unsigned char *s = (const unsigned char *) (str ? str : "");
        strbuf_append(sb, "\"", 1);
        while (*s) {
                const unsigned char *run = s;
                while (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\')
                        s++;
                if (s > run)
                        strbuf_append(sb, (const char *) run, (size_t) (s - run));
                if (!*s)
                        break;
                char esc[8];
                switch (*s) {
                case '"': strbuf_append(sb, "\\\"", 2); s++; continue;
                case '\\': strbuf_append(sb, "\\\\", 2); s++; continue;
                case '\n': strbuf_append(sb, "\\n", 2); s++; continue;
                case '\t': strbuf_append(sb, "\\t", 2); s++; continue;
                case '\r': strbuf_append(sb, "\\r", 2); s++; continue;
                default: break;
                }
                if (*s < 0x20 || *s == 0x7f) {
                        snprintf(esc, sizeof esc, "\\u%04x", *s);
                        strbuf_append(sb, esc, 6);
                        s++;
                        continue;
                }
                size_t n = utf8_valid_len(s);
                if (n == 0) {
                        /* Invalid UTF-8 from a container: keep it visible
                         * but harmless, as U+FFFD. */
                        strbuf_append(sb, "\\ufffd", 6);
                        s++;
                } else {
                        strbuf_append(sb, (const char *) s, n);
                        s += n;
                }
        }
        strbuf_append(sb, "\"", 1);
}

/* ---- serializer ------------------------------------------------------- */

static void indent_to(struct strbuf *out, bool indent, unsigned level) {
        if (!indent)
                return;
        strbuf_append(out, "\n", 1);
        for (unsigned i = 0; i < level; i++)
                strbuf_append(out, "  ", 2);
}

static void serialize(const struct json_node *n, bool indent, unsigned level, struct strbuf *out) {
        switch (n->type) {
        case JSON_NULL: strbuf_puts(out, "null"); return;
        case JSON_TRUE: strbuf_puts(out, "true"); return;
        case JSON_FALSE: strbuf_puts(out, "false"); return;
        case JSON_NUMBER: strbuf_append(out, n->str, n->len); return;
        case JSON_STRING: strbuf_json_string(out, n->str); return;
        case JSON_OBJECT:
        case JSON_ARRAY: {
                bool obj = n->type == JSON_OBJECT;
                strbuf_append(out, obj ? "{" : "[", 1);
                for (size_t i = 0; i < n->n; i++) {
                        if (i)
                                strbuf_append(out, ",", 1);
                        indent_to(out, indent, level + 1);
                        if (obj) {
                                strbuf_json_string(out, n->keys[i]);
                                strbuf_puts(out, indent ? ": " : ":");
                        }
                        serialize(n->items[i], indent, level + 1, out);
                }
                if (n->n)
                        indent_to(out, indent, level);
                strbuf_append(out, obj ? "}" : "]", 1);
                return;
        }
        }
}

int json_serialize(const struct json_node *n, bool indent, struct strbuf *out) {
        serialize(n, indent, 0, out);
        return out->oom ? -ENOMEM : 0;
}

static void json_member_key(struct strbuf *sb, const char *sep, const char *key) {
        strbuf_puts(sb, sep);
        strbuf_json_string(sb, key);
        strbuf_append(sb, ":", 1);
}

void strbuf_json_member_str(struct strbuf *sb, const char *sep, const char *key, const char *value) {
        json_member_key(sb, sep, key);
        strbuf_json_string(sb, value);
}

void strbuf_json_member_bool(struct strbuf *sb, const char *sep, const char *key, bool value) {
        json_member_key(sb, sep, key);
        strbuf_puts(sb, value ? "true" : "false");
}
