/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A small JSON tree built from yajl's event parser.
 *
 * Why not yajl_tree: it records no positions (policy errors must say
 * FILE:LINE:COL), and freeing a deeply nested yajl tree recurses without
 * bound.  Here the depth limit is enforced while parsing, every node knows
 * its line and column, and numbers keep their source text so a document can
 * be written back without changing them (the runtime wrapper rewrites
 * config.json). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "util.h"

/* Keys in one object (a duplicate is not a new key).  runc, Docker, Podman
 * and CRI write a few dozen annotations; Kubernetes caps a pod's annotations
 * at 256 KiB in all, which leaves room for tens of thousands of tiny ones,
 * and still no real config.json comes near this.  A key past it is an
 * error ("size"), at the key, naming the object. */
#define MEMGUARD_MAX_JSON_KEYS 65536u

enum json_type {
        JSON_NULL,
        JSON_FALSE,
        JSON_TRUE,
        JSON_NUMBER,
        JSON_STRING,
        JSON_OBJECT,
        JSON_ARRAY,
};

struct json_node {
        enum json_type type;
        unsigned line, col;         /* 1-based position of the value (0:0
                                     * unless parsed with .positions) */
        char *str;                  /* STRING: the value; NUMBER: source text */
        size_t len;                 /* length of str */
        size_t n;                   /* OBJECT/ARRAY: number of children */
        size_t cap;
        char **keys;                /* OBJECT: n keys */
        unsigned *key_line, *key_col; /* OBJECT, with .positions: where each key is */
        struct json_node **items;   /* OBJECT/ARRAY: n children */
        bool in_arena;              /* parsed with .arena: freed with the root */
        struct arena *arena;        /* the root of such a tree: its memory */
};

/* What to build a tree for: at an object under a filter only the listed
 * keys get nodes (children == NULL: the whole value; otherwise the filter
 * for that object, or for each object element of that array).  Everything
 * else is still parsed and checked (syntax, depth, NUL) but allocates
 * nothing.  A list ends with { NULL }. */
struct json_keep {
        const char *key;
        const struct json_keep *children;
};

struct json_parse_opts {
        unsigned max_depth;      /* default MEMGUARD_MAX_JSON_DEPTH */
        const struct json_keep *keep; /* NULL: build everything */
        bool reject_duplicates;  /* policies: a duplicate key is an error
                                  * (at 0:0 without .positions);
                                  * state/config: the last one wins, as in
                                  * Go's encoding/json that runc and the
                                  * engines use */
        bool arena;              /* one block list for the whole tree, freed
                                  * with the root: for trees only read
                                  * (json_object_set and json_array_append
                                  * refuse them). A malloc and a free per
                                  * node and string were a third of a
                                  * container start's instructions. */
        bool positions;          /* give every node and key its line:col
                                  * (policies report FILE:LINE:COL for what
                                  * they find wrong after parsing). Without
                                  * it only the parser's own errors are
                                  * located: counting lines up to every
                                  * token cost 13% of a container start */
        unsigned max_keys;       /* keys per object; 0: MEMGUARD_MAX_JSON_KEYS
                                  * (also the most it can be) */
        uint64_t deadline_usec;  /* now_usec_monotonic() past which the parse
                                  * gives up with -ETIMEDOUT ("time"); 0:
                                  * none.  For a caller that must not wait
                                  * on its input (the runtime wrapper). */
};

/* Parses buf (len bytes, no NUL inside). On error returns -EINVAL (syntax),
 * -E2BIG (depth, or more keys in an object than allowed), -ETIMEDOUT (past
 * the deadline) and fills err with "LINE:COL: message" (one line, with the
 * word "syntax", "depth", "size" or "time"). Comments are rejected.  Time
 * and memory grow linearly with the input: a duplicate key is found
 * through a keyed hash index once an object has more than a few keys. */
int json_parse(const char *buf, size_t len, const struct json_parse_opts *opts, struct json_node **ret, struct mg_error *err);
/* Tests only: parse everything with yajl, to compare with the fast path
 * (json_fast.c says what that is). */
extern bool json_fast_path_disabled;
void json_free(struct json_node *n);
static inline void json_freep(struct json_node **n) { json_free(*n); }
#define _cleanup_json_ _cleanup_(json_freep)

/* Lookups return NULL when absent. */
struct json_node *json_get(const struct json_node *obj, const char *key);
/* Follows a path of keys; NULL if any is absent or not an object. */
struct json_node *json_get_path(const struct json_node *obj, const char *const *keys);

const char *json_type_name(enum json_type t);

/* Typed getters: 0 on success, -ENOENT when absent/null (ret untouched,
 * err says "missing"; callers for whom absence is fine test for it),
 * -EINVAL on wrong type or range (err names key and says "type"). */
int json_get_string(const struct json_node *obj, const char *key, const char **ret, struct mg_error *err);
int json_get_bool(const struct json_node *obj, const char *key, bool *ret, struct mg_error *err);
int json_get_u64(const struct json_node *obj, const char *key, uint64_t *ret, struct mg_error *err);
int json_get_i64(const struct json_node *obj, const char *key, int64_t *ret, struct mg_error *err);
int json_number_u64(const struct json_node *n, uint64_t *ret);
int json_number_i64(const struct json_node *n, int64_t *ret);

/* Building and mutating trees (the wrapper's config rewrite). */
struct json_node *json_new(enum json_type t);
struct json_node *json_new_string(const char *s);
int json_object_set(struct json_node *obj, const char *key, struct json_node *val); /* takes val */
int json_array_append(struct json_node *arr, struct json_node *val);              /* takes val */

/* Growable string buffer, also used for log records. */
struct strbuf {
        char *buf;
        size_t len, cap;
        bool oom;
};
void strbuf_free(struct strbuf *sb);
void strbuf_append(struct strbuf *sb, const char *s, size_t len);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal with quotes; control characters and
 * invalid UTF-8 bytes are escaped, so container-supplied text can never
 * break a record. */
void strbuf_json_string(struct strbuf *sb, const char *s);
/* One member of an object being written, after sep ("," or "{"):
 * <sep>"key":"value" (value escaped as above), <sep>"key":true|false. */
void strbuf_json_member_str(struct strbuf *sb, const char *sep, const char *key, const char *value);
void strbuf_json_member_bool(struct strbuf *sb, const char *sep, const char *key, bool value);
static inline void strbuf_freep(struct strbuf *sb) { strbuf_free(sb); }
#define _cleanup_strbuf_ _cleanup_(strbuf_freep)

/* Serializes a tree compactly (indent=false) or with two-space indent. */
int json_serialize(const struct json_node *n, bool indent, struct strbuf *out);
