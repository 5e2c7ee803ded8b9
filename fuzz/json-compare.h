/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Tests only: are two parsed trees the same, positions included? Used to
 * hold json_parse's fast path to what yajl builds (test-json, fuzz-json). */
#include <string.h>

#include "json.h"

static inline bool json_same_tree(const struct json_node *a, const struct json_node *b) {
        if (!a || !b)
                return a == b;
        if (a->type != b->type || a->line != b->line || a->col != b->col || a->n != b->n || a->len != b->len)
                return false;
        if ((a->str == NULL) != (b->str == NULL) || (a->str && memcmp(a->str, b->str, a->len) != 0))
                return false;
        for (size_t i = 0; i < a->n; i++) {
                if (a->type == JSON_OBJECT) {
                        if (strcmp(a->keys[i], b->keys[i]) != 0)
                                return false;
                        if ((a->key_line == NULL) != (b->key_line == NULL) ||
                            (a->key_line && (a->key_line[i] != b->key_line[i] || a->key_col[i] != b->key_col[i])))
                                return false;
                }
                if (!json_same_tree(a->items[i], b->items[i]))
                        return false;
        }
        return true;
}

/* Parses buf with the fast path and with yajl alone: same result, same
 * error, same tree. */
static inline bool json_paths_agree(const char *buf, size_t len, const struct json_parse_opts *o) {
        struct json_node *fast = NULL, *slow = NULL;
        struct mg_error ef = {0}, es = {0};
        json_fast_path_disabled = false;
        int rf = json_parse(buf, len, o, &fast, &ef);
        json_fast_path_disabled = true;
        int rs = json_parse(buf, len, o, &slow, &es);
        json_fast_path_disabled = false;
        bool same = rf == rs && (rf < 0 ? strcmp(ef.msg, es.msg) == 0 : json_same_tree(fast, slow));
        if (rf == 0)
                json_free(fast);
        if (rs == 0)
                json_free(slow);
        return same;
}
