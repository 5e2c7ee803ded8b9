/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The fast path of json_parse(), apart from json.c because it is an
 * optimisation with a twin: yajl parses every document this file gives up
 * on, and both feed json.c's callbacks (json_internal.h), so that the tree,
 * positions and errors are the same either way; test-json and fuzz-json
 * compare the two.
 *
 * yajl lexes a byte at a time: a third of a container start went there.
 * What runc, Docker, Podman and the hook itself write is almost always in
 * a plain subset of JSON: strings of printable ASCII without escapes. Such
 * a document is parsed here, feeding the same callbacks in the same order,
 * so it builds the same tree with the same positions. Anything else (an
 * escape, a non-ASCII byte, a control character, anything malformed) stops
 * the fast path, and the document is parsed again by yajl, which also says
 * what is wrong. A callback's own error (depth, NUL, duplicate key, out of
 * memory) is the document's error either way. */

#include "json.h"
#include "json_internal.h"

#include <string.h>

bool json_fast_path_disabled; /* tests: yajl only, to compare */

static size_t fp_ws(const char *b, size_t i, size_t n) {
        while (i < n && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r'))
                i++;
        return i;
}

/* b[*i] is the opening quote. */
static int fp_string(const struct parse_ctx *c, size_t *i, const unsigned char **ret, size_t *ret_len) {
        const unsigned char *b = (const unsigned char *) c->buf;
        size_t j = *i + 1;
        for (; j < c->len; j++) {
                unsigned char ch = b[j];
                if (ch == '"')
                        break;
                if (ch < 0x20 || ch > 0x7f || ch == '\\')
                        return FP_OTHER;
        }
        if (j >= c->len)
                return FP_OTHER;
        *ret = b + *i + 1;
        *ret_len = j - *i - 1;
        *i = j + 1;
        return FP_OK;
}

/* A scalar must end where a value may end (yajl: "truex", "01" are errors). */
static bool fp_delimited(const struct parse_ctx *c, size_t j) {
        return j >= c->len || strchr(" \t\r\n,]}", c->buf[j]);
}

static bool fp_digit(const struct parse_ctx *c, size_t j) { return j < c->len && c->buf[j] >= '0' && c->buf[j] <= '9'; }

static size_t fp_number_end(const struct parse_ctx *c, size_t j) {
        if (j < c->len && c->buf[j] == '-')
                j++;
        if (!fp_digit(c, j))
                return 0;
        if (c->buf[j] == '0')
                j++;
        else
                while (fp_digit(c, j))
                        j++;
        if (j < c->len && c->buf[j] == '.') {
                if (!fp_digit(c, ++j))
                        return 0;
                while (fp_digit(c, j))
                        j++;
        }
        if (j < c->len && (c->buf[j] == 'e' || c->buf[j] == 'E')) {
                j++;
                if (j < c->len && (c->buf[j] == '+' || c->buf[j] == '-'))
                        j++;
                if (!fp_digit(c, j))
                        return 0;
                while (fp_digit(c, j))
                        j++;
        }
        return fp_delimited(c, j) ? j : 0;
}

static bool fp_literal(const struct parse_ctx *c, size_t i, const char *lit, size_t l) {
        return c->len - i >= l && memcmp(c->buf + i, lit, l) == 0 && fp_delimited(c, i + l);
}

/* Callbacks return 0 to cancel, as yajl's do. */
#define FP_CALL(c, end, call)                                                                                                     \
        do {                                                                                                                       \
                (c)->consumed = (end);                                                                                             \
                if (!(call))                                                                                                       \
                        return FP_CANCEL;                                                                                          \
        } while (0)

static int fp_value(struct parse_ctx *c, size_t *i);

static int fp_container(struct parse_ctx *c, size_t *i, bool object) {
        const char close = object ? '}' : ']';
        FP_CALL(c, *i + 1, object ? json_cb_start_map(c) : json_cb_start_array(c));
        *i = fp_ws(c->buf, *i + 1, c->len);
        if (*i < c->len && c->buf[*i] == close) {
                FP_CALL(c, *i + 1, json_cb_end(c));
                (*i)++;
                return FP_OK;
        }
        for (;;) {
                int r;
                if (object) {
                        const unsigned char *k;
                        size_t kl;
                        if (*i >= c->len || c->buf[*i] != '"' || (r = fp_string(c, i, &k, &kl)) != FP_OK)
                                return FP_OTHER;
                        FP_CALL(c, *i, json_cb_map_key(c, k, kl));
                        *i = fp_ws(c->buf, *i, c->len);
                        if (*i >= c->len || c->buf[*i] != ':')
                                return FP_OTHER;
                        (*i)++;
                }
                if ((r = fp_value(c, i)) != FP_OK)
                        return r;
                *i = fp_ws(c->buf, *i, c->len);
                if (*i >= c->len)
                        return FP_OTHER;
                if (c->buf[*i] == ',') {
                        *i = fp_ws(c->buf, *i + 1, c->len);
                        continue;
                }
                if (c->buf[*i] != close)
                        return FP_OTHER;
                FP_CALL(c, *i + 1, json_cb_end(c));
                (*i)++;
                return FP_OK;
        }
}

static int fp_value(struct parse_ctx *c, size_t *i) {
        *i = fp_ws(c->buf, *i, c->len);
        if (*i >= c->len)
                return FP_OTHER;
        switch (c->buf[*i]) {
        case '{':
        case '[':
                return fp_container(c, i, c->buf[*i] == '{');
        case '"': {
                const unsigned char *s;
                size_t l;
                int r = fp_string(c, i, &s, &l);
                if (r != FP_OK)
                        return r;
                FP_CALL(c, *i, json_cb_string(c, s, l));
                return FP_OK;
        }
        case 't':
                if (!fp_literal(c, *i, "true", 4))
                        return FP_OTHER;
                *i += 4;
                FP_CALL(c, *i, json_cb_boolean(c, 1));
                return FP_OK;
        case 'f':
                if (!fp_literal(c, *i, "false", 5))
                        return FP_OTHER;
                *i += 5;
                FP_CALL(c, *i, json_cb_boolean(c, 0));
                return FP_OK;
        case 'n':
                if (!fp_literal(c, *i, "null", 4))
                        return FP_OTHER;
                *i += 4;
                FP_CALL(c, *i, json_cb_null(c));
                return FP_OK;
        default: {
                size_t e = fp_number_end(c, *i);
                if (e == 0)
                        return FP_OTHER;
                size_t start = *i;
                *i = e;
                FP_CALL(c, e, json_cb_number(c, c->buf + start, e - start));
                return FP_OK;
        }
        }
}

int json_fast_parse(struct parse_ctx *c) {
        size_t i = 0;
        int r = fp_value(c, &i);
        if (r != FP_OK)
                return r;
        return fp_ws(c->buf, i, c->len) == c->len ? FP_OK : FP_OTHER;
}

