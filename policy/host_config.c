/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /etc/oci-memguard/host.json: one table of keys (host_config_keys), one
 * generic walker that validates a document against it.
 *
 * Adding a setting is one line in the table and one field in struct
 * host_config; the walker derives the objects from the dotted names, so
 * "unknown key" errors, types, FILE:LINE:COL messages and defaults come for
 * free and stay the same for every key.  The strictness is the policies':
 * a typo must not silently leave a host without its budget. */
#include "host_config.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "policy.h"

/* The defaults, and why (README "Protection budget"): memory.min is hard —
 * reclaim never touches it, so what it holds is gone for everyone else — and
 * half of RAM leaves the other half for the kernel, the daemons, the page
 * cache and the unprotected containers.  Min and low together shield at
 * most 80 %: low gives way when nothing else is left to reclaim, so it may
 * reach further, but not so far that reclaim of unprotected memory has
 * nothing to work with before it must break low. */
const struct host_key host_config_keys[] = {
        { "budget.min", HOST_KEY_CAP, offsetof(struct host_config, budget.min), 0, 0, HOST_CONFIG_MAX_PERCENT, "50%" },
        { "budget.protection", HOST_KEY_CAP, offsetof(struct host_config, budget.protection), 0, 0, HOST_CONFIG_MAX_PERCENT, "80%" },
        { "metrics_dir", HOST_KEY_PATH, offsetof(struct host_config, metrics_dir), sizeof ((struct host_config *) 0)->metrics_dir, 0, 0, "" },
};
const size_t host_config_n_keys = ELEMENTSOF(host_config_keys);

#define HOST_MAX_DOTTED 256u

struct hctx {
        const char *path;
        struct mg_error *err;
        const struct host_key *keys;
        size_t n_keys;
        char *base;
};


static const struct host_key *key_find(const struct hctx *c, const char *dotted) {
        for (size_t i = 0; i < c->n_keys; i++)
                if (STREQ(c->keys[i].key, dotted))
                        return &c->keys[i];
        return NULL;
}

/* Is dotted an object of the table: does some key continue it with "."? */
static bool key_is_object(const struct hctx *c, const char *dotted) {
        size_t l = strlen(dotted);
        for (size_t i = 0; i < c->n_keys; i++)
                if (strncmp(c->keys[i].key, dotted, l) == 0 && c->keys[i].key[l] == '.')
                        return true;
        return false;
}

/* An absolute path without "." or ".." components or control characters:
 * it becomes a path the hook opens as root. */
static bool path_is_clean(const char *s) {
        if (s[0] != '/')
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return false;
        for (const char *p = s; *p;) {
                while (*p == '/')
                        p++;
                size_t l = strcspn(p, "/");
                if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                p += l;
        }
        return true;
}

/* Stores text (a string's content, or a number's or boolean's source text)
 * as the key's value. Returns 0, or -EINVAL/-ERANGE with *ret_why set to
 * what the message says about it. */
static int store_text(const struct host_key *k, const char *text, bool is_string, void *base, const char **ret_why) {
        void *dst = (char *) base + k->offset;
        switch (k->type) {
        case HOST_KEY_CAP: {
                struct host_cap cap = {0};
                if (is_string && STREQ(text, "max"))
                        cap.unlimited = true;
                else if (policy_size_parse_percent(text, k->hi, &cap.size) < 0) {
                        *ret_why = "size";
                        return -EINVAL;
                }
                memcpy(dst, &cap, sizeof cap);
                return 0;
        }
        case HOST_KEY_UINT: {
                uint64_t v;
                if (is_string || safe_atou64(text, &v) < 0) {
                        *ret_why = "type";
                        return -EINVAL;
                }
                if (v < k->lo || v > k->hi) {
                        *ret_why = "range";
                        return -ERANGE;
                }
                memcpy(dst, &v, sizeof v);
                return 0;
        }
        case HOST_KEY_BOOL: {
                bool b;
                if (!is_string && STREQ(text, "true"))
                        b = true;
                else if (!is_string && STREQ(text, "false"))
                        b = false;
                else {
                        *ret_why = "type";
                        return -EINVAL;
                }
                memcpy(dst, &b, sizeof b);
                return 0;
        }
        case HOST_KEY_PATH:
                if (!is_string) {
                        *ret_why = "type";
                        return -EINVAL;
                }
                /* "" is "not set": a path key names something optional */
                if ((text[0] && !path_is_clean(text)) || strlen(text) >= k->size) {
                        *ret_why = "path";
                        return -EINVAL;
                }
                memcpy(dst, text, strlen(text) + 1);
                return 0;
        }
        *ret_why = "type";
        return -EINVAL;
}

static int parse_value(struct hctx *c, const struct host_key *k, const struct json_node *n, const char *dotted) {
        bool is_string = n->type == JSON_STRING;
        bool ok_type = k->type == HOST_KEY_CAP    ? is_string || n->type == JSON_NUMBER
                       : k->type == HOST_KEY_UINT ? n->type == JSON_NUMBER
                       : k->type == HOST_KEY_BOOL ? n->type == JSON_TRUE || n->type == JSON_FALSE
                                                  : is_string;
        static const char *const wanted[] = {
                [HOST_KEY_CAP] = "a size string or integer",
                [HOST_KEY_UINT] = "an integer",
                [HOST_KEY_BOOL] = "true or false",
                [HOST_KEY_PATH] = "a path string",
        };
        if (!ok_type)
                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "type: '%s' must be %s, not %s", dotted, wanted[k->type], json_type_name(n->type));
        if (is_string && strlen(n->str) != n->len)
                return policy_error_at(c->err, c->path, n->line, n->col, -EBADMSG, "NUL: '%s' contains a NUL byte", dotted);
        const char *text = n->type == JSON_TRUE ? "true" : n->type == JSON_FALSE ? "false" : n->str;
        const char *why = "type";
        int r = store_text(k, text, is_string, c->base, &why);
        if (r >= 0)
                return 0;
        if (STREQ(why, "size"))
                return policy_error_at(c->err, c->path, n->line, n->col, r,
                            "size: '%s' = '%.64s' is not a size (bytes with K, M, G or T, N%% of MemTotal up to %" PRIu64 "%%, or max)", dotted,
                            text, k->hi);
        if (STREQ(why, "range"))
                return policy_error_at(c->err, c->path, n->line, n->col, r, "'%s' must be from %" PRIu64 " to %" PRIu64 ", not %.64s", dotted, k->lo, k->hi, text);
        if (STREQ(why, "path"))
                return policy_error_at(c->err, c->path, n->line, n->col, r, "path: '%s' = '%.64s' must be an absolute path of less than %zu bytes without . or ..",
                            dotted, text, k->size);
        return policy_error_at(c->err, c->path, n->line, n->col, r, "type: '%s' must be %s, not '%.64s'", dotted, wanted[k->type], text);
}

static int walk(struct hctx *c, const struct json_node *obj, const char *prefix) {
        for (size_t i = 0; i < obj->n; i++) {
                const char *k = obj->keys[i];
                if (policy_is_comment_key(k))
                        continue;
                unsigned line = obj->key_line ? obj->key_line[i] : 0, col = obj->key_col ? obj->key_col[i] : 0;
                char dotted[HOST_MAX_DOTTED];
                int w = snprintf(dotted, sizeof dotted, "%s%s%s", prefix, *prefix ? "." : "", k);
                const struct host_key *hk = w > 0 && (size_t) w < sizeof dotted ? key_find(c, dotted) : NULL;
                int r;
                if (hk)
                        r = parse_value(c, hk, obj->items[i], dotted);
                else if (w > 0 && (size_t) w < sizeof dotted && key_is_object(c, dotted)) {
                        const struct json_node *n = obj->items[i];
                        if (n->type != JSON_OBJECT)
                                return policy_error_at(c->err, c->path, n->line, n->col, -EINVAL, "type: '%s' must be an object, not %s", dotted, json_type_name(n->type));
                        r = walk(c, n, dotted);
                } else
                        r = policy_error_at(c->err, c->path, line, col, -EINVAL, "unknown key '%s%s%.100s'", prefix, *prefix ? "." : "", k);
                if (r < 0)
                        return r;
        }
        return 0;
}

int host_config_defaults_table(const struct host_key *keys, size_t n_keys, void *ret, size_t ret_size) {
        assert(keys || n_keys == 0);
        assert(ret);
        for (size_t i = 0; i < n_keys; i++) {
                const char *why;
                if (keys[i].offset >= ret_size || !keys[i].def)
                        return -EINVAL;
                /* A default is written as the file would say it: a CAP or a
                 * PATH as a string, the others as JSON literals. */
                bool is_string = keys[i].type == HOST_KEY_CAP || keys[i].type == HOST_KEY_PATH;
                if (store_text(&keys[i], keys[i].def, is_string, ret, &why) < 0)
                        return -EINVAL;
        }
        return 0;
}

void host_config_defaults(struct host_config *ret) {
        assert(ret);
        *ret = (struct host_config) {0};
        int r = host_config_defaults_table(host_config_keys, host_config_n_keys, ret, sizeof *ret);
        assert(r == 0); /* the table's own defaults: test-host-config checks them */
        (void) r;
}

int host_config_parse_table(const struct host_key *keys, size_t n_keys, const char *path, const char *buf, size_t len, void *ret,
                            size_t ret_size, struct mg_error *err) {
        assert(path);
        assert(buf);
        assert(ret);
        const char *nul = memchr(buf, '\0', len);
        if (nul) {
                unsigned line = 1, col = 1;
                for (const char *p = buf; p < nul; p++) {
                        if (*p == '\n') {
                                line++;
                                col = 1;
                        } else
                                col++;
                }
                return mg_error_set(err, -EBADMSG, "%s:%u:%u: NUL: the file contains a NUL byte", path, line, col);
        }
        /* One small file read once per run: parse with positions at once. */
        _cleanup_json_ struct json_node *root = NULL;
        struct json_parse_opts opts = { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .reject_duplicates = true, .positions = true };
        struct mg_error jerr = {0};
        int r = json_parse(buf, len, &opts, &root, &jerr);
        if (r < 0) {
                bool positioned = jerr.msg[0] >= '0' && jerr.msg[0] <= '9';
                return mg_error_set(err, r, "%s:%s%s", path, positioned ? "" : "1:1: ", jerr.msg);
        }
        if (root->type != JSON_OBJECT)
                return mg_error_set(err, -EINVAL, "%s:%u:%u: type: the host configuration must be a JSON object, not %s", path, root->line,
                                    root->col, json_type_name(root->type));
        /* Into a copy: a document that is wrong half-way changes nothing. */
        _cleanup_free_ char *scratch = malloc(ret_size ? ret_size : 1);
        if (!scratch)
                return mg_error_set(err, -ENOMEM, "%s:1:1: out of memory", path);
        memcpy(scratch, ret, ret_size);
        struct hctx c = { .path = path, .err = err, .keys = keys, .n_keys = n_keys, .base = scratch };
        r = walk(&c, root, "");
        if (r < 0)
                return r;
        memcpy(ret, scratch, ret_size);
        return 0;
}

int host_config_parse(const char *path, const char *buf, size_t len, struct host_config *ret, struct mg_error *err) {
        assert(ret);
        struct host_config hc;
        host_config_defaults(&hc);
        int r = host_config_parse_table(host_config_keys, host_config_n_keys, path, buf, len, &hc, sizeof hc, err);
        if (r < 0) {
                host_config_defaults(ret);
                return r;
        }
        hc.from_file = true;
        *ret = hc;
        return 0;
}

int host_config_load_path(const char *path, bool check_owner, struct host_config *ret, struct mg_error *err) {
        assert(path);
        assert(ret);
        host_config_defaults(ret);
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = policy_file_read(AT_FDCWD, path, path, check_owner, HOST_CONFIG_MAX_BYTES, &buf, &len, NULL, err);
        if (r == -ENOENT) {
                /* No file is the defaults; a symlink to nothing is a
                 * configuration that went missing, and says so. */
                struct stat st;
                if (lstat(path, &st) < 0 && errno == ENOENT)
                        return r;
                return mg_error_set(err, -ENOLINK, "%s:1:1: cannot open: the symlink's target does not exist", path);
        }
        if (r < 0)
                return r;
        return host_config_parse(path, buf, len, ret, err);
}

int host_config_load(const char *sysroot, bool check_owner, struct host_config *ret, char *display_path, size_t display_size,
                     struct mg_error *err) {
        assert(sysroot);
        assert(ret);
        char path[PATH_MAX];
        host_config_defaults(ret);
        int r = path_join(path, sizeof path, sysroot, HOST_CONFIG_PATH);
        if (display_path && display_size)
                snprintf(display_path, display_size, "%s", r < 0 ? HOST_CONFIG_PATH : path);
        if (r < 0)
                return mg_error_set(err, r, "%s: path too long", HOST_CONFIG_PATH);
        r = host_config_load_path(path, check_owner, ret, err);
        return r == -ENOENT ? 0 : r;
}

const char *host_cap_format(const struct host_cap *c, char *buf, size_t size) {
        assert(c);
        assert(buf);
        if (c->unlimited)
                snprintf(buf, size, "max");
        else if (c->size.percent)
                snprintf(buf, size, "%" PRIu64 "%%", c->size.value);
        else
                snprintf(buf, size, "%" PRIu64, c->size.value);
        return buf;
}

uint64_t host_cap_bytes(const struct host_cap *c, uint64_t mem_total, uint64_t page_size) {
        assert(c);
        if (c->unlimited)
                return UINT64_MAX;
        return policy_size_bytes(&c->size, mem_total, page_size);
}
