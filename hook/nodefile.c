/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "nodefile.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

void node_file_free(struct node_file *nf) {
        assert(nf);
        free(nf->path);
        for (size_t i = 0; i < nf->n_own; i++)
                free(nf->own[i].record);
        free(nf->own);
        *nf = (struct node_file) {0};
}

void node_file_name(const char *path, char ret[NODE_FILE_NAME_SIZE]) {
        assert(path);
        assert(ret);
        static const char hex[] = "0123456789abcdef";
        uint8_t d[SHA256_DIGEST_SIZE];
        sha256(path, strlen(path), d);
        for (size_t i = 0; i < 16; i++) {
                ret[2 * i] = hex[d[i] >> 4];
                ret[2 * i + 1] = hex[d[i] & 15];
        }
        memcpy(ret + 32, ".json", 6);
}

void held_value_json_format(struct strbuf *sb, const char *key, const struct held_value *v) {
        assert(sb);
        assert(key);
        assert(v);
        char a[32];
        strbuf_puts(sb, "\"");
        strbuf_puts(sb, key);
        strbuf_puts(sb, "\":{\"orig\":\"");
        strbuf_puts(sb, format_cgroup_value(v->orig, a, sizeof a));
        strbuf_puts(sb, "\",\"set\":\"");
        strbuf_puts(sb, format_cgroup_value(v->set, a, sizeof a));
        strbuf_puts(sb, "\",\"prev\":\"");
        strbuf_puts(sb, format_cgroup_value(v->prev, a, sizeof a));
        strbuf_puts(sb, v->foreign ? "\",\"foreign\":true}" : "\",\"foreign\":false}");
}

void held_value_json_parse(const struct json_node *n, struct held_value *ret) {
        assert(ret);
        struct held_value v = {0};
        uint64_t u;
        const char *s;
        if (n && n->type == JSON_OBJECT && json_get_string(n, "orig", &s, NULL) == 0 && parse_cgroup_value(s, &u) == 0) {
                v.managed = true;
                v.orig = u;
                if (json_get_string(n, "set", &s, NULL) == 0 && parse_cgroup_value(s, &u) == 0)
                        v.set = u;
                else
                        v.managed = false;
                if (json_get_string(n, "prev", &s, NULL) == 0 && parse_cgroup_value(s, &u) == 0)
                        v.prev = u;
                else
                        v.prev = v.set;
                (void) json_get_bool(n, "foreign", &v.foreign, NULL);
        }
        if (!v.managed)
                v = (struct held_value) {0};
        *ret = v;
}

int node_file_format(const struct node_file *nf, struct strbuf *sb, struct mg_error *err) {
        assert(nf);
        assert(nf->path);
        assert(sb);
        strbuf_puts(sb, "{\"path\":");
        strbuf_json_string(sb, nf->path);
        for (int v = 0; v < LV_N; v++)
                if (nf->held[v].managed) {
                        strbuf_puts(sb, ",");
                        held_value_json_format(sb, plan_value_file[v], &nf->held[v]);
                }
        strbuf_printf(sb, ",\"claims\":%llu,\"below\":{\"memory.min\":%llu,\"memory.low\":%llu},\"own\":[", (unsigned long long) nf->n_claims,
                      (unsigned long long) nf->below[LV_MIN], (unsigned long long) nf->below[LV_LOW]);
        for (size_t i = 0; i < nf->n_own; i++) {
                const struct node_own *o = &nf->own[i];
                strbuf_puts(sb, i ? ",{\"record\":" : "{\"record\":");
                strbuf_json_string(sb, o->record);
                strbuf_printf(sb, ",\"memory.min\":%llu,\"memory.low\":%llu,\"counted\":{\"memory.min\":%s,\"memory.low\":%s}}",
                              (unsigned long long) o->value[LV_MIN], (unsigned long long) o->value[LV_LOW], o->counted[LV_MIN] ? "true" : "false",
                              o->counted[LV_LOW] ? "true" : "false");
        }
        strbuf_puts(sb, "]}\n");
        if (sb->oom)
                return mg_error_oom(err);
        return 0;
}

/* The per-value numbers of an object: {"memory.min":N,"memory.low":N}. */
static int values_parse(const struct json_node *obj, const char *field, uint64_t ret[LV_N], struct mg_error *err) {
        for (int v = 0; v < LV_N; v++)
                if (json_get_u64(obj, plan_value_file[v], &ret[v], NULL) < 0)
                        return mg_error_set(err, -EINVAL, "%s: no number %s", field, plan_value_file[v]);
        return 0;
}

static bool record_name_is_plain(const char *s) {
        size_t n = strlen(s);
        return n > 0 && n <= NAME_MAX && !strchr(s, '/') && !STREQ(s, ".") && !STREQ(s, "..");
}

int node_file_parse(const char *buf, size_t len, const char *name, struct node_file *ret, struct mg_error *err) {
        assert(buf);
        assert(name);
        assert(ret);
        _cleanup_json_ struct json_node *root = NULL;
        int r = json_parse(buf, len, &(const struct json_parse_opts) { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .arena = true }, &root, err);
        if (r < 0)
                return r;
        if (root->type != JSON_OBJECT)
                return mg_error_set(err, -EINVAL, "not an object");
        const char *path;
        if (json_get_string(root, "path", &path, NULL) < 0 || path[0] != '/' || strlen(path) >= PATH_MAX)
                return mg_error_set(err, -EINVAL, "path: missing or not an absolute cgroup path");
        char want[NODE_FILE_NAME_SIZE];
        node_file_name(path, want);
        if (!STREQ(want, name))
                return mg_error_set(err, -EINVAL, "path: does not match the file name");
        struct node_file nf = {0};
        for (int v = 0; v < LV_N; v++)
                held_value_json_parse(json_get(root, plan_value_file[v]), &nf.held[v]);
        if (json_get_u64(root, "claims", &nf.n_claims, NULL) < 0)
                return mg_error_set(err, -EINVAL, "claims: no number");
        const struct json_node *below = json_get(root, "below");
        if (!below || below->type != JSON_OBJECT)
                return mg_error_set(err, -EINVAL, "below: not an object");
        r = values_parse(below, "below", nf.below, err);
        if (r < 0)
                return r;
        const struct json_node *own = json_get(root, "own");
        if (!own || own->type != JSON_ARRAY)
                return mg_error_set(err, -EINVAL, "own: not an array");
        if (own->n > NODE_FILE_MAX_OWN)
                return mg_error_set(err, -EINVAL, "own: %zu records (at most %u)", own->n, NODE_FILE_MAX_OWN);
        if (own->n > nf.n_claims)
                return mg_error_set(err, -EINVAL, "own: %zu records but %llu claims", own->n, (unsigned long long) nf.n_claims);
        nf.path = strdup(path);
        nf.own = calloc(own->n + 1, sizeof *nf.own);
        if (!nf.path || !nf.own) {
                node_file_free(&nf);
                return mg_error_oom(err);
        }
        for (size_t i = 0; i < own->n; i++) {
                const struct json_node *o = own->items[i];
                struct node_own *no = &nf.own[i];
                const char *rec;
                const struct json_node *counted = o->type == JSON_OBJECT ? json_get(o, "counted") : NULL;
                if (o->type != JSON_OBJECT || json_get_string(o, "record", &rec, NULL) < 0 || !record_name_is_plain(rec)) {
                        node_file_free(&nf);
                        return mg_error_set(err, -EINVAL, "own[%zu].record: missing or not a file name", i);
                }
                r = values_parse(o, "own", no->value, err);
                for (int v = 0; r == 0 && v < LV_N; v++)
                        if (!counted || counted->type != JSON_OBJECT || json_get_bool(counted, plan_value_file[v], &no->counted[v], NULL) < 0)
                                r = mg_error_set(err, -EINVAL, "own[%zu].counted: missing %s", i, plan_value_file[v]);
                if (r == 0 && !(no->record = strdup(rec)))
                        r = mg_error_oom(err);
                nf.n_own = i + 1;
                if (r < 0) {
                        node_file_free(&nf);
                        return r;
                }
        }
        *ret = nf;
        return 0;
}
