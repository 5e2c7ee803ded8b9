/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "oci.h"

#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

void annotations_free(struct annotations *a) {
        for (size_t i = 0; i < a->n; i++) {
                free(a->keys[i]);
                free(a->values[i]);
        }
        free(a->keys);
        free(a->values);
        *a = (struct annotations) {0};
}

const char *annotations_get(const struct annotations *a, const char *key) {
        for (size_t i = 0; i < a->n; i++)
                if (STREQ(a->keys[i], key))
                        return a->values[i];
        return NULL;
}

static int annotations_from_json(const struct json_node *obj, const char *what, struct annotations *ret, struct mg_error *err) {
        /* Docker 20.10 writes "annotations": null. */
        if (!obj || obj->type == JSON_NULL)
                return 0;
        if (obj->type != JSON_OBJECT)
                return mg_error_set(err, -EINVAL, "type: '%s' must be an object", what);
        struct annotations a = {0};
        a.keys = calloc(obj->n ? obj->n : 1, sizeof(char *));
        a.values = calloc(obj->n ? obj->n : 1, sizeof(char *));
        if (!a.keys || !a.values) {
                annotations_free(&a);
                return mg_error_oom(err);
        }
        for (size_t i = 0; i < obj->n; i++) {
                const struct json_node *v = obj->items[i];
                if (v->type != JSON_STRING) {
                        annotations_free(&a);
                        return mg_error_set(err, -EINVAL, "type: '%s.%.100s' must be a string", what, obj->keys[i]);
                }
                a.keys[a.n] = strdup(obj->keys[i]);
                a.values[a.n] = strdup(v->str);
                if (!a.keys[a.n] || !a.values[a.n]) {
                        a.n++;
                        annotations_free(&a);
                        return mg_error_oom(err);
                }
                a.n++;
        }
        *ret = a;
        return 0;
}

void hook_state_free(struct hook_state *s) {
        free(s->id);
        free(s->status);
        free(s->bundle);
        annotations_free(&s->annotations);
        *s = (struct hook_state) {0};
}

static int dup_string(const struct json_node *obj, const char *key, bool required, char **ret, struct mg_error *err) {
        const char *v = NULL;
        int r = json_get_string(obj, key, &v, err);
        if (r == -ENOENT) {
                if (required)
                        return mg_error_set(err, -EINVAL, "missing required field '%s'", key);
                return 0;
        }
        if (r < 0)
                return r;
        *ret = strdup(v);
        return *ret ? 0 : mg_error_oom(err);
}

int hook_state_parse(const char *buf, size_t len, struct hook_state *ret, struct mg_error *err) {
        assert(buf);
        assert(ret);
        _cleanup_json_ struct json_node *root = NULL;
        struct json_parse_opts opts = { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .arena = true };
        int r = json_parse(buf, len, &opts, &root, err);
        if (r < 0)
                return mg_error_wrap(err, r, "state:");
        if (root->type != JSON_OBJECT)
                return mg_error_set(err, -EINVAL, "state: type: the state must be a JSON object");

        struct hook_state s = {0};
        if ((r = dup_string(root, "id", true, &s.id, err)) < 0 ||
            (r = dup_string(root, "status", false, &s.status, err)) < 0 ||
            (r = dup_string(root, "bundle", false, &s.bundle, err)) < 0)
                goto fail;
        if (!container_id_is_valid(s.id)) {
                r = mg_error_set(err, -EINVAL, "invalid container id (must match [A-Za-z0-9][A-Za-z0-9_.+-]{0,1023})");
                goto fail;
        }
        int64_t pid;
        r = json_get_i64(root, "pid", &pid, err);
        if (r == 0) {
                /* crun sends pid 0 at poststop: that means "no process". */
                if (pid < 0 || pid > INT_MAX) {
                        r = mg_error_set(err, -EINVAL, "type: 'pid' out of range");
                        goto fail;
                }
                s.has_pid = pid > 0;
                s.pid = pid;
        } else if (r != -ENOENT)
                goto fail;
        if ((r = annotations_from_json(json_get(root, "annotations"), "annotations", &s.annotations, err)) < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        hook_state_free(&s);
        return mg_error_wrap(err, r, "state: ");
}

void oci_info_free(struct oci_info *o) {
        free(o->root_path);
        free(o->cgroups_path);
        free(o->hostname);
        for (size_t i = 0; i < o->n_args; i++)
                free(o->args[i]);
        free(o->args);
        for (size_t i = 0; i < o->n_mount_sources; i++)
                free(o->mount_sources[i]);
        free(o->mount_sources);
        annotations_free(&o->annotations);
        *o = (struct oci_info) {0};
}

static int string_array(const struct json_node *arr, const char *what, char ***ret, size_t *ret_n, struct mg_error *err) {
        if (!arr || arr->type == JSON_NULL)
                return 0;
        if (arr->type != JSON_ARRAY)
                return mg_error_set(err, -EINVAL, "type: '%s' must be an array", what);
        char **v = calloc(arr->n ? arr->n : 1, sizeof(char *));
        if (!v)
                return mg_error_oom(err);
        size_t n = 0;
        for (size_t i = 0; i < arr->n; i++) {
                if (arr->items[i]->type != JSON_STRING) {
                        for (size_t j = 0; j < n; j++)
                                free(v[j]);
                        free(v);
                        return mg_error_set(err, -EINVAL, "type: '%s[%zu]' must be a string", what, i);
                }
                if (!(v[n++] = strdup(arr->items[i]->str))) {
                        for (size_t j = 0; j < n; j++)
                                free(v[j]);
                        free(v);
                        return mg_error_oom(err);
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* The only parts of config.json the hook reads (struct oci_info): Docker
 * and Podman write ~20 KiB, most of it the seccomp profile, which is
 * checked (syntax, depth, NUL) but not built into a tree. */
static const struct json_keep keep_path[] = { { "path", NULL }, { NULL, NULL } };
static const struct json_keep keep_memory[] = { { "reservation", NULL }, { NULL, NULL } };
static const struct json_keep keep_resources[] = { { "memory", keep_memory }, { "unified", NULL }, { NULL, NULL } };
static const struct json_keep keep_linux[] = { { "cgroupsPath", NULL }, { "resources", keep_resources }, { NULL, NULL } };
static const struct json_keep keep_process[] = { { "args", NULL }, { NULL, NULL } };
static const struct json_keep keep_mount[] = { { "source", NULL }, { NULL, NULL } };
static const struct json_keep keep_config[] = {
        { "root", keep_path },       { "linux", keep_linux }, { "hostname", NULL },
        { "process", keep_process }, { "mounts", keep_mount }, { "annotations", NULL },
        { NULL, NULL },
};

/* linux.resources: what the engine asked for itself. Never an error: the
 * runtime judges these fields; a value that is not a byte count ("max",
 * negative, a string where a number belongs) is only not adopted. */
static void engine_memory(const struct json_node *resources, struct oci_engine_memory *ret) {
        if (!resources || resources->type != JSON_OBJECT)
                return;
        const struct json_node *mem = json_get(resources, "memory");
        if (mem && mem->type == JSON_OBJECT) {
                int r = json_get_u64(mem, "reservation", &ret->reservation, NULL);
                if (r == 0)
                        ret->has_reservation = ret->reservation > 0;
                else if (r != -ENOENT)
                        ret->invalid = "linux.resources.memory.reservation";
        }
        const struct json_node *unified = json_get(resources, "unified");
        if (!unified || unified->type != JSON_OBJECT)
                return;
        static const struct {
                const char *key, *field;
        } files[] = { { "memory.min", "linux.resources.unified[\"memory.min\"]" }, { "memory.low", "linux.resources.unified[\"memory.low\"]" } };
        for (size_t i = 0; i < 2; i++) {
                const char *v = NULL;
                uint64_t bytes;
                int r = json_get_string(unified, files[i].key, &v, NULL);
                if (r == -ENOENT)
                        continue;
                /* "max" would be unbounded protection: not a claim to adopt */
                if (r < 0 || safe_atou64(v, &bytes) < 0) {
                        if (!ret->invalid)
                                ret->invalid = files[i].field;
                        continue;
                }
                if (i == 0) {
                        ret->min = bytes;
                        ret->has_min = bytes > 0;
                } else {
                        ret->low = bytes;
                        ret->has_low = bytes > 0;
                }
        }
}

int oci_info_parse(const char *path, const char *buf, size_t len, const char *bundle, struct oci_info *ret, struct mg_error *err) {
        assert(path);
        assert(buf);
        assert(ret);
        _cleanup_json_ struct json_node *root = NULL;
        struct json_parse_opts opts = { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .keep = keep_config, .arena = true };
        int r = json_parse(buf, len, &opts, &root, err);
        if (r < 0)
                return mg_error_wrap(err, r, "%s:", path);
        if (root->type != JSON_OBJECT)
                return mg_error_set(err, -EINVAL, "%s: type: config must be a JSON object", path);

        struct oci_info o = {0};
        const struct json_node *n;

        n = json_get(root, "root");
        if (n && n->type != JSON_NULL) {
                const char *rp = NULL;
                r = json_get_string(n, "path", &rp, err);
                if (r == 0) {
                        char buf2[PATH_MAX];
                        if (rp[0] == '/' || !bundle)
                                o.root_path = strdup(rp);
                        else if ((r = path_join(buf2, sizeof buf2, bundle, rp)) < 0) {
                                r = mg_error_set(err, r, "size: 'root.path' joined to the bundle is too long");
                                goto fail;
                        } else
                                o.root_path = strdup(buf2);
                        if (!o.root_path) {
                                r = mg_error_oom(err);
                                goto fail;
                        }
                } else if (r != -ENOENT) {
                        r = mg_error_set(err, -EINVAL, "type: 'root.path' must be a string");
                        goto fail;
                }
        }
        n = json_get(root, "linux");
        if (n && n->type != JSON_NULL) {
                if (n->type != JSON_OBJECT) {
                        r = mg_error_set(err, -EINVAL, "type: 'linux' must be an object");
                        goto fail;
                }
                if ((r = dup_string(n, "cgroupsPath", false, &o.cgroups_path, err)) < 0) {
                        if (r != -ENOMEM)
                                r = mg_error_set(err, -EINVAL, "type: 'linux.cgroupsPath' must be a string");
                        goto fail;
                }
                engine_memory(json_get(n, "resources"), &o.engine);
        }
        if ((r = dup_string(root, "hostname", false, &o.hostname, err)) < 0)
                goto fail;
        n = json_get(root, "process");
        if (n && n->type != JSON_NULL) {
                if (n->type != JSON_OBJECT) {
                        r = mg_error_set(err, -EINVAL, "type: 'process' must be an object");
                        goto fail;
                }
                if ((r = string_array(json_get(n, "args"), "process.args", &o.args, &o.n_args, err)) < 0)
                        goto fail;
        }
        n = json_get(root, "mounts");
        if (n && n->type == JSON_ARRAY) {
                o.mount_sources = calloc(n->n ? n->n : 1, sizeof(char *));
                if (!o.mount_sources) {
                        r = mg_error_oom(err);
                        goto fail;
                }
                for (size_t i = 0; i < n->n; i++) {
                        const char *src = NULL;
                        if (json_get_string(n->items[i], "source", &src, NULL) == 0 && src[0] == '/') {
                                if (!(o.mount_sources[o.n_mount_sources] = strdup(src))) {
                                        r = mg_error_oom(err);
                                        goto fail;
                                }
                                o.n_mount_sources++;
                        }
                }
        } else if (n && n->type != JSON_NULL) {
                r = mg_error_set(err, -EINVAL, "type: 'mounts' must be an array");
                goto fail;
        }
        if ((r = annotations_from_json(json_get(root, "annotations"), "annotations", &o.annotations, err)) < 0)
                goto fail;
        *ret = o;
        return 0;
fail:
        oci_info_free(&o);
        return mg_error_wrap(err, r, "%s: ", path);
}

int oci_info_load(const char *bundle, struct oci_info *ret, struct mg_error *err) {
        assert(ret);
        char path[PATH_MAX];
        if (!bundle || bundle[0] != '/')
                return mg_error_set(err, -EINVAL, "state: 'bundle' must be an absolute path");
        int r = path_join(path, sizeof path, bundle, "config.json");
        if (r < 0)
                return mg_error_set(err, r, "bundle path too long");
        _cleanup_free_ char *buf = NULL;
        size_t len;
        /* The bundle is the engine's directory; config.json itself must not
         * be a symlink pointing elsewhere. */
        r = read_file_at(AT_FDCWD, path, MEMGUARD_MAX_CONFIG_BYTES, &buf, &len);
        if (r == -EFBIG)
                return mg_error_set(err, r, "%s: size: larger than %u bytes", path, MEMGUARD_MAX_CONFIG_BYTES);
        if (r == -EBADMSG)
                return mg_error_set(err, r, "%s: NUL: file contains a NUL byte", path);
        if (r < 0)
                return mg_error_set(err, r, "%s: %s", path, strerror(-r));
        return oci_info_parse(path, buf, len, bundle, ret, err);
}
