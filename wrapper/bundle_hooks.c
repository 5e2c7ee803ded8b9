/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "bundle_hooks.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"

static const char *base_name(const char *p) {
        const char *s = strrchr(p, '/');
        return s ? s + 1 : p;
}

/* An entry is ours when it runs the configured hook, or any program named
 * oci-memguard (a hooks.d file or an older install with another prefix). */
static bool entry_is_ours(const struct json_node *e, const char *hook_path) {
        const struct json_node *p = json_get(e, "path");
        if (!p || p->type != JSON_STRING)
                return false;
        return STREQ(p->str, hook_path) || STREQ(base_name(p->str), "oci-memguard");
}

/* hooks[stage]: NULL when absent or null; -EINVAL when not an array. */
static int stage_array(struct json_node *hooks, const char *stage, struct json_node **ret, struct mg_error *err) {
        struct json_node *a = json_get(hooks, stage);
        if (a && a->type == JSON_NULL)
                a = NULL;
        if (a && a->type != JSON_ARRAY)
                return mg_error_set(err, -EINVAL, "config.json: type: hooks.%s is %s, not an array", stage, json_type_name(a->type));
        *ret = a;
        return 0;
}

static bool stage_has_ours(const struct json_node *a, const char *hook_path) {
        for (size_t i = 0; a && i < a->n; i++)
                if (entry_is_ours(a->items[i], hook_path))
                        return true;
        return false;
}

static struct json_node *new_number(unsigned v) {
        char buf[16];
        snprintf(buf, sizeof buf, "%u", v);
        struct json_node *n = json_new(JSON_NUMBER);
        if (!n)
                return NULL;
        if (!(n->str = strdup(buf))) {
                json_free(n);
                return NULL;
        }
        n->len = strlen(buf);
        return n;
}

/* {"path": P, "args": ["oci-memguard", STAGE, extra...], "timeout": T} */
static struct json_node *new_entry(const struct hook_spec *spec, const char *stage) {
        _cleanup_json_ struct json_node *e = json_new(JSON_OBJECT);
        struct json_node *args = json_new(JSON_ARRAY);
        if (!e || json_object_set(e, "path", json_new_string(spec->path)) < 0 || json_object_set(e, "args", args) < 0)
                return NULL;
        if (json_array_append(args, json_new_string("oci-memguard")) < 0 || json_array_append(args, json_new_string(stage)) < 0)
                return NULL;
        for (size_t i = 0; i < spec->n_extra_args; i++)
                if (json_array_append(args, json_new_string(spec->extra_args[i])) < 0)
                        return NULL;
        if (json_object_set(e, "timeout", new_number(spec->timeout)) < 0)
                return NULL;
        return TAKE_PTR(e);
}

static int append_entry(struct json_node *hooks, struct json_node *arr, const char *stage, const struct hook_spec *spec) {
        if (!arr) {
                arr = json_new(JSON_ARRAY);
                int r = json_object_set(hooks, stage, arr);
                if (r < 0)
                        return r;
        }
        struct json_node *e = new_entry(spec, stage);
        return e ? json_array_append(arr, e) : -ENOMEM;
}

/* A file written by "runc spec" or a person is indented; Docker and
 * containerd write one line.  Keep whichever it was, for people who read
 * bundles while debugging. */
static bool looks_indented(const char *buf, size_t len) {
        const char *nl = memchr(buf, '\n', len);
        return nl && (size_t) (nl - buf) + 1 < len;
}

int bundle_hooks_add(int dirfd, const struct hook_spec *spec, enum bundle_hooks_result *ret, struct mg_error *err) {
        struct stat st;
        if (fstatat(dirfd, "config.json", &st, AT_SYMLINK_NOFOLLOW) < 0)
                return mg_error_set(err, -errno, "config.json: %s", strerror(errno));
        /* A symlink is not followed (it could point anywhere), yet the
         * runtime follows it: ours to decline, not invalid. */
        if (S_ISLNK(st.st_mode))
                return mg_error_set(err, -ELOOP, "config.json: type: a symlink, not followed");
        if (!S_ISREG(st.st_mode))
                return mg_error_set(err, -EINVAL, "config.json: type: not a regular file");

        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_file_at(dirfd, "config.json", MEMGUARD_MAX_CONFIG_BYTES, &buf, &len);
        if (r == -EFBIG)
                return mg_error_set(err, r, "config.json: size: larger than %u bytes", MEMGUARD_MAX_CONFIG_BYTES);
        if (r == -EBADMSG) /* a raw NUL byte is not JSON */
                return mg_error_set(err, -EINVAL, "config.json: NUL byte in file");
        if (r < 0)
                return mg_error_set(err, r, "config.json: %s", strerror(-r));

        _cleanup_json_ struct json_node *root = NULL;
        struct mg_error perr = {0};
        const struct json_parse_opts opts = { .deadline_usec = spec->deadline_usec };
        r = json_parse(buf, len, &opts, &root, &perr);
        if (r < 0)
                return mg_error_set(err, r, "config.json:%s", perr.msg);
        if (root->type != JSON_OBJECT)
                return mg_error_set(err, -EINVAL, "config.json: type: top level is %s, not an object", json_type_name(root->type));

        struct json_node *hooks = json_get(root, "hooks");
        if (hooks && hooks->type == JSON_NULL)
                hooks = NULL;
        if (hooks && hooks->type != JSON_OBJECT)
                return mg_error_set(err, -EINVAL, "config.json: type: hooks is %s, not an object", json_type_name(hooks->type));
        if (!hooks) {
                hooks = json_new(JSON_OBJECT);
                if ((r = json_object_set(root, "hooks", hooks)) < 0)
                        return mg_error_set(err, r, "config.json: out of memory");
        }

        struct json_node *prestart, *create_runtime, *poststop;
        if ((r = stage_array(hooks, "prestart", &prestart, err)) < 0 ||
            (r = stage_array(hooks, "createRuntime", &create_runtime, err)) < 0 ||
            (r = stage_array(hooks, "poststop", &poststop, err)) < 0)
                return r;

        bool have_start = stage_has_ours(prestart, spec->path) || stage_has_ours(create_runtime, spec->path);
        bool have_stop = stage_has_ours(poststop, spec->path);
        if (have_start && have_stop) {
                *ret = BUNDLE_HOOKS_PRESENT;
                return 0;
        }
        if ((!have_start && (r = append_entry(hooks, prestart, "prestart", spec)) < 0) ||
            (!have_stop && (r = append_entry(hooks, poststop, "poststop", spec)) < 0))
                return mg_error_set(err, r, "config.json: out of memory");

        _cleanup_strbuf_ struct strbuf out = {0};
        if ((r = json_serialize(root, looks_indented(buf, len), &out)) < 0)
                return mg_error_set(err, r, "config.json: out of memory");
        strbuf_puts(&out, "\n");
        if (out.oom)
                return mg_error_set(err, -ENOMEM, "config.json: out of memory");

        /* The parse may have ended just before the deadline: past it, the
         * rewrite is not started. */
        if (spec->deadline_usec && now_usec_monotonic() >= spec->deadline_usec)
                return mg_error_set(err, -ETIMEDOUT, "config.json: time: not rewritten before the deadline");
        r = write_file_atomic_at(dirfd, "config.json", out.buf, out.len, st.st_mode & 07777);
        if (r < 0)
                return mg_error_set(err, r, "config.json: write: %s", strerror(-r));
        *ret = BUNDLE_HOOKS_ADDED;
        /* Same owner as before (a root engine may prepare a bundle for a
         * user).  The content is already in place, so a failure here is
         * reported but the hooks stay. */
        if ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
            fchownat(dirfd, "config.json", st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                return mg_error_set(err, -errno, "config.json: hooks added, but restoring owner %u:%u failed: %s",
                                    (unsigned) st.st_uid, (unsigned) st.st_gid, strerror(errno));
        return 0;
}
