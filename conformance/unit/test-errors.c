/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The error contract under allocation failure: for each parser and loader,
 * fail the 1st, 2nd, ... allocation (one at a time) until the call no
 * longer allocates that many times, and check every step:
 *   r < 0  =>  err.code == r and err.msg is a line written where the
 *              failure happened (not mg_error_wrap's MG_ERROR_NO_DETAIL);
 *   r == 0 =>  the result is complete (the same as without failures).
 * Leaks on the failure paths show under ASan (LeakSanitizer) and valgrind.
 * Allocation failure is injected with the linker's --wrap (mk/unit-errors.mk)
 * in this test binary only: the product never carries the hook.  Plain C,
 * TAP lines. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_config.h"
#include "json.h"
#include "oci.h"
#include "policy.h"
#include "test-helpers.h"

/* ---- allocation failure injection ---------------------------------------- */

static unsigned long alloc_count, alloc_fail_at; /* 0: never fail */

static bool alloc_should_fail(void) {
        return ++alloc_count == alloc_fail_at;
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t size) {
        return alloc_should_fail() ? NULL : __real_malloc(size);
}
void *__wrap_calloc(size_t n, size_t size) {
        return alloc_should_fail() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t size) {
        return alloc_should_fail() ? NULL : __real_realloc(p, size);
}
char *__wrap_strdup(const char *s) {
        return alloc_should_fail() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n) {
        return alloc_should_fail() ? NULL : __real_strndup(s, n);
}

/* ---- fingerprints: what a complete result holds -------------------------- */

struct fp {
        char s[8192];
        size_t n;
};

static void fp_add(struct fp *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fp_add(struct fp *f, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(f->s + f->n, sizeof f->s - f->n, fmt, ap);
        va_end(ap);
        if (k > 0)
                f->n = f->n + (size_t) k < sizeof f->s ? f->n + (size_t) k : sizeof f->s - 1;
}

static void fp_strv(struct fp *f, const char *what, char **v, size_t n) {
        fp_add(f, "%s[%zu]:", what, n);
        for (size_t i = 0; i < n; i++)
                fp_add(f, "%s,", v[i] ? v[i] : "(null)");
}

static void fp_annotations(struct fp *f, const struct annotations *a) {
        fp_add(f, "annotations[%zu]:", a->n);
        for (size_t i = 0; i < a->n; i++)
                fp_add(f, "%s=%s,", a->keys[i] ? a->keys[i] : "(null)", a->values[i] ? a->values[i] : "(null)");
}

static void fp_size(struct fp *f, const char *what, const struct policy_size *s) {
        fp_add(f, "%s=%d/%d/%" PRIu64 ";", what, s->set, s->percent, s->value);
}

static void fp_json(struct fp *f, const struct json_node *n) {
        if (!n) {
                fp_add(f, "(null)");
                return;
        }
        fp_add(f, "<%d:%s", (int) n->type, n->str ? n->str : "");
        for (size_t i = 0; i < n->n; i++) {
                if (n->type == JSON_OBJECT)
                        fp_add(f, "%s=", n->keys[i] ? n->keys[i] : "(null)");
                fp_json(f, n->items[i]);
        }
        fp_add(f, ">");
}

static void fp_policy(struct fp *f, const struct policy *p) {
        fp_add(f, "path=%s;name=%s;desc=%s;", p->path ? p->path : "-", p->name ? p->name : "-",
               p->description ? p->description : "-");
        fp_strv(f, "images", p->match.images, p->match.n_images);
        fp_add(f, "match.annotations[%zu]:", p->match.n_annotations);
        for (size_t i = 0; i < p->match.n_annotations; i++)
                fp_add(f, "%s=%s,", p->match.annotations[i].key ? p->match.annotations[i].key : "(null)",
                       p->match.annotations[i].value ? p->match.annotations[i].value : "(null)");
        fp_strv(f, "commands", p->match.commands, p->match.n_commands);
        fp_strv(f, "cgroups", p->match.cgroups, p->match.n_cgroups);
        fp_add(f, "build=%d;", (int) p->match.build);
        fp_size(f, "min", &p->min);
        fp_size(f, "low", &p->low);
        fp_add(f, "swappiness=%d/%u;reclaim=%d/%u/%u/%d;", p->build.has_swappiness, p->build.swappiness,
               (int) p->build.reclaim.when, p->build.reclaim.order, p->build.reclaim.drop_caches, (int) p->build.reclaim.compact);
        fp_size(f, "available_below", &p->build.reclaim.available_below);
        fp_size(f, "max_min", &p->overrides.max_min);
        fp_size(f, "max_low", &p->overrides.max_low);
        fp_add(f, "overrides.annotations=%d;on_error=%d;trust=%" PRIu32, (int) p->overrides.annotations, (int) p->on_error,
               p->trust);
}

/* ---- the parsers, each as one call with a fingerprint -------------------- */

static const char state_doc[] =
        "{\"ociVersion\":\"1.0.2\",\"id\":\"c0ffee\",\"status\":\"creating\",\"pid\":4242,"
        "\"bundle\":\"/run/bundles/c0ffee\",\"annotations\":{\"a\":\"1\",\"io.example/b\":\"two\"}}";

static const char config_doc[] =
        "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},\"hostname\":\"box\","
        "\"process\":{\"args\":[\"/bin/sh\",\"-c\",\"make -j4\"],\"env\":[\"PATH=/bin\"]},"
        "\"mounts\":[{\"destination\":\"/proc\",\"source\":\"proc\"},{\"destination\":\"/etc/hosts\",\"source\":\"/var/lib/x/hosts\"},"
        "{\"destination\":\"/data\",\"source\":\"/srv/data\"}],"
        "\"linux\":{\"cgroupsPath\":\"/docker/c0ffee\",\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\"}},"
        "\"annotations\":{\"oci-memguard.image\":\"golang:1.22\",\"x\":\"y\"}}";

static const char policy_doc[] =
        "{\n"
        "  \"description\": \"Go and Node builders on CI agents\",\n"
        "  \"match\": {\n"
        "    \"images\":      [\"golang:*\", \"*/ci/builder:*\"],\n"
        "    \"annotations\": {\"io.kubernetes.cri.container-type\": \"container\", \"tier\": \"ci\"},\n"
        "    \"commands\":    [\"/bin/sh\", \"*/make\"],\n"
        "    \"cgroups\":     [\"/docker/*\", \"/system.slice/docker-*.scope\"],\n"
        "    \"build\":       true\n"
        "  },\n"
        "  \"memory\": { \"min\": \"512M\", \"low\": \"2G\" },\n"
        "  \"build\": {\n"
        "    \"swappiness\": 10,\n"
        "    \"reclaim\":    { \"when\": \"auto\", \"available_below\": \"15%\", \"order\": 4, \"drop_caches\": 1, \"compact\": true }\n"
        "  },\n"
        "  \"overrides\": { \"annotations\": true, \"max_min\": \"2G\", \"max_low\": \"8G\" },\n"
        "  \"trust\": [\"oci-memguard.image\"],\n"
        "  \"on_error\": \"ignore\"\n"
        "}\n";

static const char host_doc[] = "{ \"//\": \"comment\", \"budget\": { \"min\": \"40%\", \"protection\": \"max\" } }\n";

static char policy_dir[] = "/tmp/test-errors.XXXXXX";

static int call_hook_state_parse(struct fp *f, struct mg_error *err) {
        struct hook_state s = {0};
        int r = hook_state_parse(state_doc, strlen(state_doc), &s, err);
        if (r == 0) {
                fp_add(f, "id=%s;status=%s;bundle=%s;pid=%d/%" PRId64 ";", s.id, s.status ? s.status : "-",
                       s.bundle ? s.bundle : "-", s.has_pid, s.pid);
                fp_annotations(f, &s.annotations);
        }
        hook_state_free(&s);
        return r;
}

static int call_oci_info_parse(struct fp *f, struct mg_error *err) {
        struct oci_info o = {0};
        int r = oci_info_parse("/run/bundles/c0ffee/config.json", config_doc, strlen(config_doc), "/run/bundles/c0ffee", &o, err);
        if (r == 0) {
                fp_add(f, "root=%s;cgroups=%s;hostname=%s;", o.root_path ? o.root_path : "-",
                       o.cgroups_path ? o.cgroups_path : "-", o.hostname ? o.hostname : "-");
                fp_strv(f, "args", o.args, o.n_args);
                fp_strv(f, "mounts", o.mount_sources, o.n_mount_sources);
                fp_annotations(f, &o.annotations);
        }
        oci_info_free(&o);
        return r;
}

static int json_parse_with(const struct json_parse_opts *opts, struct fp *f, struct mg_error *err) {
        struct json_node *root = NULL;
        int r = json_parse(config_doc, strlen(config_doc), opts, &root, err);
        if (r == 0)
                fp_json(f, root);
        json_free(root);
        return r;
}

static int call_json_parse_tree(struct fp *f, struct mg_error *err) {
        return json_parse_with(&(struct json_parse_opts) { .max_depth = MEMGUARD_MAX_JSON_DEPTH }, f, err);
}

static int call_json_parse_arena(struct fp *f, struct mg_error *err) {
        return json_parse_with(&(struct json_parse_opts) { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .arena = true }, f, err);
}

static int call_json_parse_positions(struct fp *f, struct mg_error *err) {
        return json_parse_with(&(struct json_parse_opts) { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .positions = true,
                                                           .reject_duplicates = true },
                               f, err);
}

static int call_policy_parse(struct fp *f, struct mg_error *err) {
        struct policy *p = NULL;
        int r = policy_parse("/etc/oci-memguard/policy.d/ci.json", policy_doc, strlen(policy_doc), &p, err);
        if (r == 0)
                fp_policy(f, p);
        policy_free(p);
        return r;
}

static int call_policy_load_file(struct fp *f, struct mg_error *err) {
        struct policy *p = NULL;
        _cleanup_close_ int dfd = open(policy_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return mg_error_set(err, -errno, "%s: cannot open", policy_dir);
        int r = policy_load_file(dfd, "ci.json", "/etc/oci-memguard/policy.d/ci.json", false, &p, err);
        if (r == 0)
                fp_policy(f, p);
        policy_free(p);
        return r;
}

static int call_host_config_parse(struct fp *f, struct mg_error *err) {
        struct host_config hc;
        int r = host_config_parse("/etc/oci-memguard/host.json", host_doc, strlen(host_doc), &hc, err);
        if (r == 0)
                fp_add(f, "min=%d/%d/%d/%" PRIu64 ";protection=%d/%d/%d/%" PRIu64 ";", hc.budget.min.unlimited,
                       hc.budget.min.size.set, hc.budget.min.size.percent, hc.budget.min.size.value,
                       hc.budget.protection.unlimited, hc.budget.protection.size.set, hc.budget.protection.size.percent,
                       hc.budget.protection.size.value);
        return r;
}

static int call_host_config_load_path(struct fp *f, struct mg_error *err) {
        char path[512];
        snprintf(path, sizeof path, "%s/host.json", policy_dir);
        struct host_config hc;
        int r = host_config_load_path(path, false, &hc, err);
        if (r == 0)
                fp_add(f, "min=%d/%d/%" PRIu64 ";protection=%d;from_file=%d", hc.budget.min.unlimited, hc.budget.min.size.percent,
                       hc.budget.min.size.value, hc.budget.protection.unlimited, hc.from_file);
        return r;
}

/* policy_set_load keeps each file's error in the set and takes no err: a
 * negative return is -ENOMEM for the whole set, filled in here so that the
 * loop's check applies. */
static int call_policy_set_load(struct fp *f, struct mg_error *err) {
        const char *dirs[] = { policy_dir, "/nonexistent/oci-memguard/policy.d" };
        struct policy_set set = {0};
        int r = policy_set_load(dirs, ELEMENTSOF(dirs), false, &set);
        if (r == 0) {
                fp_add(f, "n=%zu;n_errors=%zu;", set.n, set.n_errors);
                for (size_t i = 0; i < set.n; i++)
                        fp_policy(f, set.items[i]);
                for (size_t i = 0; i < set.n_errors; i++)
                        fp_add(f, "error=%s;", set.errors[i].msg);
        }
        policy_set_free(&set);
        if (r < 0 && r != -ENOMEM)
                return mg_error_set(err, r, "policy_set_load: unexpected %s", strerror(-r));
        return r < 0 ? mg_error_oom(err) : r;
}

/* ---- the loop ------------------------------------------------------------ */

static void run_failing_each_allocation(const char *name, int (*call)(struct fp *f, struct mg_error *err)) {
        struct fp want = {0};
        struct mg_error err = {0};
        alloc_fail_at = 0;
        int r = call(&want, &err);
        CHECK(r == 0, "%s: succeeds with no allocation failing (%d %s)", name, r, err.msg);
        if (r < 0)
                return;

        unsigned steps = 0, bad = 0;
        for (unsigned long n = 1; n < 100000; n++) {
                struct fp got = {0};
                err = (struct mg_error) {0};
                alloc_count = 0;
                alloc_fail_at = n;
                r = call(&got, &err);
                alloc_fail_at = 0;
                bool injected = alloc_count >= n;
                steps++;
                /* mg_error_wrap() marks an err that nobody below it filled. */
                if (r < 0 && (err.code != r || err.msg[0] == '\0' || strstr(err.msg, MG_ERROR_NO_DETAIL))) {
                        if (bad++ < 3)
                                CHECK(false, "%s: allocation %lu failing: returns %d but err = {%d, \"%s\"}", name, n, r, err.code,
                                      err.msg);
                } else if (r == 0 && strcmp(got.s, want.s) != 0) {
                        if (bad++ < 3)
                                CHECK(false, "%s: allocation %lu failing: returns 0 with an incomplete result\n#  got:  %s\n#  want: %s",
                                      name, n, got.s, want.s);
                } else if (r > 0) {
                        if (bad++ < 3)
                                CHECK(false, "%s: allocation %lu failing: returns %d", name, n, r);
                }
                if (!injected)
                        break;
        }
        CHECK(bad == 0, "%s: every one of %u allocations failing: err filled with the code returned, or a complete result",
              name, steps - 1);
}

int main(void) {
        if (!mkdtemp(policy_dir)) {
                perror("mkdtemp");
                return 1;
        }
        char path[512];
        snprintf(path, sizeof path, "%s/ci.json", policy_dir);
        FILE *fh = fopen(path, "we");
        if (!fh || fputs(policy_doc, fh) < 0 || fclose(fh) != 0) {
                perror(path);
                return 1;
        }
        snprintf(path, sizeof path, "%s/host.json", policy_dir);
        fh = fopen(path, "we");
        if (!fh || fputs(host_doc, fh) < 0 || fclose(fh) != 0) {
                perror(path);
                return 1;
        }

        /* The contract's helpers themselves. */
        struct mg_error e = {0};
        CHECK(mg_error_oom(&e) == -ENOMEM && e.code == -ENOMEM && e.msg[0], "mg_error_oom fills err and returns -ENOMEM");
        (void) mg_error_set(&e, -EINVAL, "type: 'x' must be a string");
        CHECK(mg_error_wrap(&e, -EINVAL, "%s: ", "f.json") == -EINVAL && e.code == -EINVAL &&
                      STREQ(e.msg, "f.json: type: 'x' must be a string"),
              "mg_error_wrap prefixes the message and returns the code it was given");
        e = (struct mg_error) {0};
        CHECK(mg_error_wrap(&e, -ENOMEM, "state: ") == -ENOMEM && e.code == -ENOMEM && strstr(e.msg, "state: ") == e.msg &&
                      strstr(e.msg, MG_ERROR_NO_DETAIL),
              "mg_error_wrap on an empty err still returns the code and a message (%s)", e.msg);
        CHECK(mg_error_wrap(NULL, -EIO, "x") == -EIO, "mg_error_wrap(NULL, r) returns r");

        run_failing_each_allocation("hook_state_parse", call_hook_state_parse);
        run_failing_each_allocation("oci_info_parse", call_oci_info_parse);
        run_failing_each_allocation("json_parse (tree)", call_json_parse_tree);
        run_failing_each_allocation("json_parse (arena)", call_json_parse_arena);
        run_failing_each_allocation("json_parse (positions, duplicates rejected)", call_json_parse_positions);
        run_failing_each_allocation("policy_parse", call_policy_parse);
        run_failing_each_allocation("policy_load_file", call_policy_load_file);
        run_failing_each_allocation("policy_set_load", call_policy_set_load);
        run_failing_each_allocation("host_config_parse", call_host_config_parse);
        run_failing_each_allocation("host_config_load_path", call_host_config_load_path);

        snprintf(path, sizeof path, "%s/ci.json", policy_dir);
        (void) unlink(path);
        snprintf(path, sizeof path, "%s/host.json", policy_dir);
        (void) unlink(path);
        (void) rmdir(policy_dir);
        return test_report();
}
