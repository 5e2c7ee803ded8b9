/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One policy file from JSON text to a typed struct policy.
 *
 * Validation is strict because a policy that is quietly misread protects
 * nothing: unknown keys, wrong types, bad sizes, out-of-range numbers,
 * duplicates and empty pattern lists are all errors, each reported as one
 * "PATH:LINE:COL: message" line naming the field by its dotted path.  Keys
 * "$schema" and "//..." are comments (JSON has none) and are skipped with
 * whatever value they hold. */
#include "policy.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

#define POLICY_MAX_GLOB 4096u

void policy_free(struct policy *p) {
        if (!p)
                return;
        if (p->packed)
                return; /* its set's arena holds it */
        free(p->path);
        free(p->name);
        free(p->description);
        for (size_t i = 0; i < p->match.n_images; i++)
                free(p->match.images[i]);
        free(p->match.images);
        for (size_t i = 0; i < p->match.n_commands; i++)
                free(p->match.commands[i]);
        free(p->match.commands);
        for (size_t i = 0; i < p->match.n_cgroups; i++)
                free(p->match.cgroups[i]);
        free(p->match.cgroups);
        for (size_t i = 0; i < p->match.n_annotations; i++) {
                free(p->match.annotations[i].key);
                free(p->match.annotations[i].value);
        }
        free(p->match.annotations);
        free(p);
}

struct pctx {
        const char *path;
        struct mg_error *err;
};

/* Keys have positions only in the second, located parse of a wrong file. */
#define KEY_LINE(obj, i) ((obj)->key_line ? (obj)->key_line[i] : 0)
#define KEY_COL(obj, i) ((obj)->key_col ? (obj)->key_col[i] : 0)

int policy_error_at(struct mg_error *err, const char *path, unsigned line, unsigned col, int code, const char *fmt, ...) {
        char msg[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return mg_error_set(err, code, "%s:%u:%u: %s", path, line, col, msg);
}

bool policy_is_comment_key(const char *k) { return strncmp(k, "//", 2) == 0 || STREQ(k, "$schema"); }

/* The JSON reader refuses "\u0000" already; this keeps a string whose C
 * length differs from its JSON length from ever being compared as a
 * shorter one ("1G\u0000junk" read as "1G") should that change. */
static int want_string(struct pctx *c, const struct json_node *n, const char *dotted, const char *what) {
        if (n->type != JSON_STRING)
                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "type: '%s' %s, not %s", dotted, what, json_type_name(n->type));
        if (strlen(n->str) != n->len)
                return policy_error_at(c->err, c->path, n->line, n->col, -EBADMSG, "NUL: '%s' contains a NUL byte", dotted);
        return 0;
}

/* Checks every key of obj against the allowed list; dotted is the object's
 * path for messages ("" at the top). */
static int check_keys(struct pctx *c, const struct json_node *obj, const char *dotted, const char *const *allowed) {
        for (size_t i = 0; i < obj->n; i++) {
                const char *k = obj->keys[i];
                if (policy_is_comment_key(k))
                        continue;
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        if (STREQ(*a, k))
                                ok = true;
                if (!ok)
                        return policy_error_at(c->err, c->path, KEY_LINE(obj, i), KEY_COL(obj, i), -EINVAL, "unknown key '%s%s%.100s'", dotted, *dotted ? "." : "", k);
        }
        return 0;
}

static int want_object(struct pctx *c, const struct json_node *n, const char *dotted) {
        if (n->type != JSON_OBJECT)
                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "type: '%s' must be an object, not %s", dotted, json_type_name(n->type));
        return 0;
}

static int get_bool(struct pctx *c, const struct json_node *n, const char *dotted, enum policy_tristate *ret) {
        if (n->type != JSON_TRUE && n->type != JSON_FALSE)
                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "type: '%s' must be true or false, not %s", dotted, json_type_name(n->type));
        *ret = n->type == JSON_TRUE ? POLICY_TRUE : POLICY_FALSE;
        return 0;
}

static int get_uint(struct pctx *c, const struct json_node *n, const char *dotted, uint64_t lo, uint64_t hi, uint64_t *ret) {
        uint64_t v;
        if (n->type != JSON_NUMBER || json_number_u64(n, &v) < 0)
                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "type: '%s' must be an integer from %llu to %llu", dotted, (unsigned long long) lo,
                            (unsigned long long) hi);
        if (v < lo || v > hi)
                return policy_error_at(c->err, c->path, n->line, n->col, -ERANGE, "'%s' must be from %llu to %llu, not %llu", dotted, (unsigned long long) lo,
                            (unsigned long long) hi, (unsigned long long) v);
        *ret = v;
        return 0;
}

static int get_size(struct pctx *c, const struct json_node *n, const char *dotted, struct policy_size *ret) {
        if (n->type == JSON_NUMBER) {
                uint64_t v;
                if (json_number_u64(n, &v) < 0)
                        return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "size: '%s' must be a non-negative integer number of bytes", dotted);
                *ret = (struct policy_size) { .set = true, .value = v };
                return 0;
        }
        int r = want_string(c, n, dotted, "must be a size string or integer");
        if (r < 0)
                return r;
        r = policy_size_parse(n->str, ret);
        if (r < 0)
                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "size: '%s' = '%.64s' is not a size (bytes with K, M, G or T, or N%% of MemTotal)",
                            dotted, n->str);
        return 0;
}

static int get_enum(struct pctx *c, const struct json_node *n, const char *dotted, const char *const *names, int *ret) {
        int r = want_string(c, n, dotted, "must be a string");
        if (r < 0)
                return r;
        for (int i = 0; names[i]; i++)
                if (STREQ(names[i], n->str)) {
                        *ret = i;
                        return 0;
                }
        char list[200] = "";
        for (int i = 0; names[i]; i++) {
                strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, names[i], sizeof list - strlen(list) - 1);
        }
        return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "'%s' must be one of %s, not '%.64s'", dotted, list, n->str);
}

static int check_glob(struct pctx *c, const struct json_node *n, const char *dotted) {
        int r = want_string(c, n, dotted, "entries must be pattern strings");
        if (r < 0)
                return r;
        /* An empty pattern matches only the empty string: surely a mistake. */
        if (n->len == 0 || n->len > POLICY_MAX_GLOB)
                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "'%s': a pattern must be 1 to %u bytes", dotted, POLICY_MAX_GLOB);
        return 0;
}

static int get_globs(struct pctx *c, const struct json_node *n, const char *dotted, char ***ret, size_t *ret_n) {
        if (n->type != JSON_ARRAY)
                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "type: '%s' must be an array of patterns, not %s", dotted, json_type_name(n->type));
        /* "[]" would match no container at all: a policy silently disabled
         * by an edit, which must be an error, not a quiet no-op. */
        if (n->n == 0)
                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "'%s' is empty: list at least one pattern, or leave the key out", dotted);
        char **v = calloc(n->n ? n->n : 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n->n; i++) {
                int r = check_glob(c, n->items[i], dotted);
                if (r == 0 && !(v[i] = strdup(n->items[i]->str)))
                        r = -ENOMEM;
                if (r < 0) {
                        for (size_t j = 0; j < i; j++)
                                free(v[j]);
                        free(v);
                        return r;
                }
        }
        *ret = v;
        *ret_n = n->n;
        return 0;
}

static const char *const when_names[] = { "", "auto", "always", "never", NULL };

static int parse_when(struct pctx *c, const struct json_node *n, const char *dotted, enum policy_when *ret) {
        int i;
        int r = get_enum(c, n, dotted, when_names + 1, &i);
        if (r == 0)
                *ret = (enum policy_when) (i + 1);
        return r;
}

static int parse_match(struct pctx *c, const struct json_node *m, struct policy_match *ret) {
        static const char *const keys[] = { "images", "annotations", "commands", "cgroups", "build", NULL };
        int r;
        if ((r = want_object(c, m, "match")) < 0 || (r = check_keys(c, m, "match", keys)) < 0)
                return r;
        const struct json_node *n;
        if ((n = json_get(m, "images")) && (r = get_globs(c, n, "match.images", &ret->images, &ret->n_images)) < 0)
                return r;
        ret->has_images = n != NULL;
        if ((n = json_get(m, "commands")) && (r = get_globs(c, n, "match.commands", &ret->commands, &ret->n_commands)) < 0)
                return r;
        ret->has_commands = n != NULL;
        if ((n = json_get(m, "cgroups")) && (r = get_globs(c, n, "match.cgroups", &ret->cgroups, &ret->n_cgroups)) < 0)
                return r;
        ret->has_cgroups = n != NULL;
        if ((n = json_get(m, "build")) && (r = get_bool(c, n, "match.build", &ret->build)) < 0)
                return r;
        if ((n = json_get(m, "annotations"))) {
                if ((r = want_object(c, n, "match.annotations")) < 0)
                        return r;
                ret->annotations = calloc(n->n ? n->n : 1, sizeof *ret->annotations);
                if (!ret->annotations)
                        return -ENOMEM;
                ret->has_annotations = true;
                for (size_t i = 0; i < n->n; i++) {
                        if (policy_is_comment_key(n->keys[i]))
                                continue;
                        if (n->keys[i][0] == '\0' || strlen(n->keys[i]) > POLICY_MAX_GLOB)
                                return policy_error_at(c->err, c->path, KEY_LINE(n, i), KEY_COL(n, i), -EINVAL, "'match.annotations': a key must be 1 to %u bytes",
                                            POLICY_MAX_GLOB);
                        if ((r = check_glob(c, n->items[i], "match.annotations")) < 0)
                                return r;
                        struct policy_kv *kv = &ret->annotations[ret->n_annotations];
                        kv->key = strdup(n->keys[i]);
                        kv->value = strdup(n->items[i]->str);
                        ret->n_annotations++;
                        if (!kv->key || !kv->value)
                                return -ENOMEM;
                }
        }
        return 0;
}

/* "limit": {"max": SIZE, "swap_max": SIZE, "oom_group": BOOL}. No
 * "high": throttling a step that keeps allocating stalls it for as long as
 * it runs instead of failing it, which a CI job waiting on it cannot tell
 * from a hang. */
static int parse_limit(struct pctx *c, const struct json_node *lm, struct policy_limit *ret) {
        static const char *const keys[] = { "max", "swap_max", "oom_group", NULL };
        const struct json_node *n;
        int r;
        if ((r = want_object(c, lm, "build.limit")) < 0 || (r = check_keys(c, lm, "build.limit", keys)) < 0)
                return r;
        if ((n = json_get(lm, "max"))) {
                if ((r = get_size(c, n, "build.limit.max", &ret->max)) < 0)
                        return r;
                if (ret->max.percent ? ret->max.value == 0 : ret->max.value < POLICY_LIMIT_MIN_BYTES)
                        return policy_error_at(c->err, c->path, n->line, n->col, -ERANGE,
                                               "'build.limit.max' must be at least 4M or 1%%: a smaller hard limit kills every step");
        }
        if ((n = json_get(lm, "swap_max")) && (r = get_size(c, n, "build.limit.swap_max", &ret->swap_max)) < 0)
                return r;
        if ((n = json_get(lm, "oom_group")) && (r = get_bool(c, n, "build.limit.oom_group", &ret->oom_group)) < 0)
                return r;
        return 0;
}

static int parse_build(struct pctx *c, const struct json_node *b, struct policy_build *ret) {
        static const char *const keys[] = { "swappiness", "detect", "builder", "reclaim", "after", "limit", NULL };
        static const char *const rkeys[] = { "when", "available_below", "order", "drop_caches", "compact", "timeout_ms", NULL };
        static const char *const akeys[] = { "when", "reclaim", NULL };
        int r;
        uint64_t v;
        if ((r = want_object(c, b, "build")) < 0 || (r = check_keys(c, b, "build", keys)) < 0)
                return r;
        const struct json_node *n;
        if ((n = json_get(b, "swappiness"))) {
                if ((r = get_uint(c, n, "build.swappiness", 0, 200, &v)) < 0)
                        return r;
                ret->has_swappiness = true;
                ret->swappiness = (unsigned) v;
        }
        if ((n = json_get(b, "detect")) && (r = get_bool(c, n, "build.detect", &ret->detect)) < 0)
                return r;
        if ((n = json_get(b, "builder")) && (r = get_bool(c, n, "build.builder", &ret->builder)) < 0)
                return r;
        const struct json_node *rc = json_get(b, "reclaim");
        if (rc) {
                if ((r = want_object(c, rc, "build.reclaim")) < 0 || (r = check_keys(c, rc, "build.reclaim", rkeys)) < 0)
                        return r;
                if ((n = json_get(rc, "when")) && (r = parse_when(c, n, "build.reclaim.when", &ret->reclaim.when)) < 0)
                        return r;
                if ((n = json_get(rc, "available_below")) && (r = get_size(c, n, "build.reclaim.available_below", &ret->reclaim.available_below)) < 0)
                        return r;
                if ((n = json_get(rc, "order"))) {
                        if ((r = get_uint(c, n, "build.reclaim.order", 0, 10, &v)) < 0)
                                return r;
                        ret->reclaim.has_order = true;
                        ret->reclaim.order = (unsigned) v;
                }
                if ((n = json_get(rc, "drop_caches"))) {
                        if ((r = get_uint(c, n, "build.reclaim.drop_caches", 0, 3, &v)) < 0)
                                return r;
                        ret->reclaim.has_drop_caches = true;
                        ret->reclaim.drop_caches = (unsigned) v;
                }
                if ((n = json_get(rc, "compact")) && (r = get_bool(c, n, "build.reclaim.compact", &ret->reclaim.compact)) < 0)
                        return r;
                if ((n = json_get(rc, "timeout_ms"))) {
                        if ((r = get_uint(c, n, "build.reclaim.timeout_ms", 1, 60000, &v)) < 0)
                                return r;
                        ret->reclaim.has_timeout_ms = true;
                        ret->reclaim.timeout_ms = v;
                }
        }
        const struct json_node *af = json_get(b, "after");
        if (af) {
                if ((r = want_object(c, af, "build.after")) < 0 || (r = check_keys(c, af, "build.after", akeys)) < 0)
                        return r;
                if ((n = json_get(af, "when")) && (r = parse_when(c, n, "build.after.when", &ret->after.when)) < 0)
                        return r;
                if ((n = json_get(af, "reclaim")) && (r = get_size(c, n, "build.after.reclaim", &ret->after.reclaim)) < 0)
                        return r;
        }
        const struct json_node *lm = json_get(b, "limit");
        if (lm && (r = parse_limit(c, lm, &ret->limit)) < 0)
                return r;
        return 0;
}

static const char *const claim_names[_POLICY_CLAIM_MAX] = {
        [POLICY_CLAIM_IMAGE_ANNOTATION] = "oci-memguard.image",
        [POLICY_CLAIM_CRI_IMAGE] = "io.kubernetes.cri.image-name",
        [POLICY_CLAIM_CRIO_IMAGE] = "io.kubernetes.cri-o.ImageName",
        [POLICY_CLAIM_REF_NAME] = "org.opencontainers.image.ref.name",
        [POLICY_CLAIM_BUILD_ANNOTATION] = "oci-memguard.build",
        [POLICY_CLAIM_BUILDKIT_HOSTNAME] = "buildkit-hostname",
        [POLICY_CLAIM_BUILDKIT_CGROUP] = "buildkit-cgroup",
        [POLICY_CLAIM_DOCKER_CLASSIC] = "docker-classic-builder",
};

const char *policy_claim_name(enum policy_claim c) {
        return c > POLICY_CLAIM_NONE && c < _POLICY_CLAIM_MAX ? claim_names[c] : NULL;
}

enum policy_claim policy_claim_from_name(const char *name) {
        assert(name);
        for (int i = POLICY_CLAIM_NONE + 1; i < _POLICY_CLAIM_MAX; i++)
                if (STREQ(claim_names[i], name))
                        return (enum policy_claim) i;
        return POLICY_CLAIM_NONE;
}

/* "trust": the claims this policy accepts. A word that names no claim is
 * an error like any unknown key: a misspelt trust entry would otherwise
 * leave the policy quietly matching nothing it was meant to. */
static int parse_trust(struct pctx *c, const struct json_node *n, uint32_t *ret) {
        if (n->type != JSON_ARRAY)
                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "type: 'trust' must be an array of claim names, not %s", json_type_name(n->type));
        if (n->n == 0)
                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "'trust' is empty: name at least one claim, or leave the key out");
        uint32_t bits = 0;
        for (size_t i = 0; i < n->n; i++) {
                const struct json_node *e = n->items[i];
                int r = want_string(c, e, "trust", "entries must be claim names");
                if (r < 0)
                        return r;
                enum policy_claim k = policy_claim_from_name(e->str);
                if (k == POLICY_CLAIM_NONE) {
                        char list[400] = "";
                        for (int j = POLICY_CLAIM_NONE + 1; j < _POLICY_CLAIM_MAX; j++) {
                                strncat(list, j > 1 ? ", " : "", sizeof list - strlen(list) - 1);
                                strncat(list, claim_names[j], sizeof list - strlen(list) - 1);
                        }
                        return policy_error_at(c->err, c->path, e->line, e->col, -EINVAL, "unknown claim in 'trust': '%.100s' (known: %s)", e->str, list);
                }
                bits |= 1u << k;
        }
        *ret = bits;
        return 0;
}

static int parse_root(struct pctx *c, const struct json_node *root, struct policy *p) {
        static const char *const keys[] = { "description", "match", "memory", "build", "overrides", "on_error", "trust", NULL };
        static const char *const mkeys[] = { "min", "low", "adopt_engine", NULL };
        static const char *const okeys[] = { "annotations", "max_min", "max_low", NULL };
        static const char *const on_error_names[] = { "ignore", "fail", NULL };
        int r;
        if (root->type != JSON_OBJECT)
                return policy_error_at(c->err, c->path, root->line, root->col, -EINVAL, "type: a policy must be a JSON object, not %s", json_type_name(root->type));
        if ((r = check_keys(c, root, "", keys)) < 0)
                return r;
        const struct json_node *n;
        if ((n = json_get(root, "description"))) {
                if ((r = want_string(c, n, "description", "must be a string")) < 0)
                        return r;
                if (!(p->description = strdup(n->str)))
                        return -ENOMEM;
        }
        if ((n = json_get(root, "match")) && (r = parse_match(c, n, &p->match)) < 0)
                return r;
        if ((n = json_get(root, "memory"))) {
                if ((r = want_object(c, n, "memory")) < 0 || (r = check_keys(c, n, "memory", mkeys)) < 0)
                        return r;
                const struct json_node *v;
                if ((v = json_get(n, "min")) && (r = get_size(c, v, "memory.min", &p->min)) < 0)
                        return r;
                if ((v = json_get(n, "low")) && (r = get_size(c, v, "memory.low", &p->low)) < 0)
                        return r;
                if ((v = json_get(n, "adopt_engine")) && (r = get_bool(c, v, "memory.adopt_engine", &p->adopt_engine)) < 0)
                        return r;
        }
        if ((n = json_get(root, "build"))) {
                if ((r = parse_build(c, n, &p->build)) < 0)
                        return r;
                p->has_build = true;
        }
        if ((n = json_get(root, "overrides"))) {
                if ((r = want_object(c, n, "overrides")) < 0 || (r = check_keys(c, n, "overrides", okeys)) < 0)
                        return r;
                const struct json_node *v;
                if ((v = json_get(n, "annotations")) && (r = get_bool(c, v, "overrides.annotations", &p->overrides.annotations)) < 0)
                        return r;
                if ((v = json_get(n, "max_min")) && (r = get_size(c, v, "overrides.max_min", &p->overrides.max_min)) < 0)
                        return r;
                if ((v = json_get(n, "max_low")) && (r = get_size(c, v, "overrides.max_low", &p->overrides.max_low)) < 0)
                        return r;
        }
        if ((n = json_get(root, "on_error"))) {
                int i;
                if ((r = get_enum(c, n, "on_error", on_error_names, &i)) < 0)
                        return r;
                p->on_error = i == 0 ? POLICY_ON_ERROR_IGNORE : POLICY_ON_ERROR_FAIL;
        }
        if ((n = json_get(root, "trust")) && (r = parse_trust(c, n, &p->trust)) < 0)
                return r;
        return 0;
}

/* Line and column (1-based, in bytes) of offset off in buf. */
static void position_of(const char *buf, size_t off, unsigned *ret_line, unsigned *ret_col) {
        unsigned line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
                if (buf[i] == '\n') {
                        line++;
                        col = 1;
                } else
                        col++;
        }
        *ret_line = line;
        *ret_col = col;
}

static int parse_once(struct pctx *c, const char *buf, size_t len, bool positions, struct policy **ret) {
        const char *path = c->path;
        struct mg_error *err = c->err;
        _cleanup_json_ struct json_node *root = NULL;
        struct json_parse_opts opts = { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .reject_duplicates = true, .positions = positions };
        struct mg_error jerr = {0};
        int r = json_parse(buf, len, &opts, &root, &jerr);
        if (r < 0) {
                /* jerr.msg is "LINE:COL: syntax|depth: ..." (a full copy
                 * rather than mg_error_wrap, whose prefix buffer would cut
                 * a long path); anything without a position (out of memory)
                 * is put at the start of the file. */
                bool positioned = jerr.msg[0] >= '0' && jerr.msg[0] <= '9';
                return mg_error_set(err, r, "%s:%s%s", path, positioned ? "" : "1:1: ", jerr.msg);
        }

        _cleanup_policy_ struct policy *p = calloc(1, sizeof *p);
        if (!p)
                return mg_error_set(err, -ENOMEM, "%s:1:1: out of memory", path);
        const char *base = strrchr(path, '/');
        p->path = strdup(path);
        p->name = strdup(base ? base + 1 : path);
        if (!p->path || !p->name)
                return mg_error_set(err, -ENOMEM, "%s:1:1: out of memory", path);
        r = parse_root(c, root, p);
        if (r == -ENOMEM)
                /* Allocation failures carry no position of their own. */
                return mg_error_set(err, r, "%s:1:1: out of memory", path);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int policy_parse(const char *path, const char *buf, size_t len, struct policy **ret, struct mg_error *err) {
        struct pctx c = { .path = path, .err = err };

        /* The JSON reader refuses a NUL byte before it looks at anything,
         * without a position; point at it here so that the message has the
         * FILE:LINE:COL of every other policy error. */
        const char *nul = memchr(buf, '\0', len);
        if (nul) {
                unsigned line, col;
                position_of(buf, (size_t) (nul - buf), &line, &col);
                return policy_error_at(c.err, c.path, line, col, -EBADMSG, "NUL: the file contains a NUL byte");
        }

        /* Every start reads every policy file: parse without positions
         * (counting lines to each token was a tenth of a policy's cost),
         * and only for a file that is wrong parse again with them, so that
         * its error still says FILE:LINE:COL. */
        _cleanup_policy_ struct policy *p = NULL;
        int r = parse_once(&c, buf, len, false, &p);
        if (r < 0 && r != -ENOMEM) {
                struct mg_error first = err ? *err : (struct mg_error) {0};
                r = parse_once(&c, buf, len, true, &p);
                if (r == 0) /* cannot be: keep the first verdict */
                        return mg_error_set(err, -EINVAL, "%s", first.msg);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}
