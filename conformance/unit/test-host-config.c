/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the host configuration (policy/host_config.h): the
 * defaults, every key of the table, every class of error with its
 * FILE:LINE:COL and word (unknown key at any depth, type, size, range,
 * path, duplicate, syntax, NUL, depth), comments, a document that is wrong
 * half-way changing nothing, every value type through a test table, and
 * loading from a sysroot (missing file, owner, mode, size, FIFO, symlinks
 * judged by their target, dangling symlink).  Plain C, TAP lines. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_config.h"
#include "test-helpers.h"

#define PATH "/etc/oci-memguard/host.json"

static bool cap_is(const struct host_cap *c, bool unlimited, bool percent, uint64_t value) {
        return c->unlimited == unlimited && (unlimited || (c->size.set && c->size.percent == percent && c->size.value == value));
}

static void test_defaults(void) {
        struct host_config hc;
        host_config_defaults(&hc);
        CHECK(cap_is(&hc.budget.min, false, true, 50) && cap_is(&hc.budget.protection, false, true, 80) && !hc.from_file,
              "defaults: budget.min 50%%, budget.protection 80%%");
        bool all = true;
        for (size_t i = 0; i < host_config_n_keys; i++)
                all = all && host_config_keys[i].def && host_config_keys[i].offset < sizeof(struct host_config);
        CHECK(all, "every key of the table has a default inside struct host_config");
}

static int parse(const char *doc, struct host_config *hc, struct mg_error *e) {
        *e = (struct mg_error) {0};
        return host_config_parse(PATH, doc, strlen(doc), hc, e);
}

static void expect_ok(const char *doc, bool min_unl, bool min_pct, uint64_t min, bool p_unl, bool p_pct, uint64_t prot, const char *desc) {
        struct host_config hc;
        struct mg_error e;
        int r = parse(doc, &hc, &e);
        CHECK(r == 0 && hc.from_file && cap_is(&hc.budget.min, min_unl, min_pct, min) && cap_is(&hc.budget.protection, p_unl, p_pct, prot),
              "valid: %s%s%s", desc, r < 0 ? ": " : "", r < 0 ? e.msg : "");
}

/* Refused with exactly this message (after "PATH:"), and the defaults in place. */
static void expect_err(const char *doc, const char *want, const char *desc) {
        struct host_config hc;
        struct mg_error e;
        int r = parse(doc, &hc, &e);
        char full[600];
        snprintf(full, sizeof full, PATH ":%s", want);
        CHECK(r < 0 && STREQ(e.msg, full) && !hc.from_file && cap_is(&hc.budget.min, false, true, 50) && !strchr(e.msg, '\n'), "invalid: %s: %s",
              desc, e.msg);
        if (r < 0 && !STREQ(e.msg, full))
                printf("#   want: %s\n", full);
}

/* Refused at line:col with word in the message. */
static void expect_err_at(const char *doc, unsigned line, unsigned col, const char *word, const char *desc) {
        struct host_config hc;
        struct mg_error e;
        int r = parse(doc, &hc, &e);
        char pos[128];
        snprintf(pos, sizeof pos, PATH ":%u:%u: ", line, col);
        CHECK(r < 0 && strncmp(e.msg, pos, strlen(pos)) == 0 && strstr(e.msg, word), "invalid: %s [%u:%u '%s']: %s", desc, line, col, word, e.msg);
}

static void test_parse(void) {
        expect_ok("{}", false, true, 50, false, true, 80, "an empty object: the defaults");
        expect_ok("{\"budget\": {}}", false, true, 50, false, true, 80, "an empty budget: the defaults");
        expect_ok("{\"budget\": {\"min\": \"40%\", \"protection\": \"6G\"}}", false, true, 40, false, false, 6ull << 30, "percent and suffix");
        expect_ok("{\"budget\": {\"min\": 1073741824}}", false, false, 1ull << 30, false, true, 80, "an integer of bytes; the other key keeps its default");
        expect_ok("{\"budget\": {\"min\": \"max\", \"protection\": \"max\"}}", true, false, 0, true, false, 0, "max: no cap");
        expect_ok("{\"budget\": {\"min\": \"150%\", \"protection\": \"1000%\"}}", false, true, 150, false, true, 1000, "100% and more is allowed");
        expect_ok("{\"//\": \"comment\", \"$schema\": 1, \"budget\": {\"//min\": [1, {}], \"min\": \"0\"}}", false, false, 0, false, true, 80,
                  "comments at every level");
        expect_ok("{\n  \"budget\": {\n    \"min\": \"2g\"\n  }\n}\n", false, false, 2ull << 30, false, true, 80, "lower-case suffix, multi-line");

        expect_err("{\"budgte\": {}}", "1:2: unknown key 'budgte'", "unknown key at the top");
        expect_err("{\n  \"budget\": {\n    \"mni\": \"1G\"\n  }\n}", "3:5: unknown key 'budget.mni'", "unknown nested key");
        expect_err("{\"budget\": \"50%\"}", "1:12: type: 'budget' must be an object, not string", "budget not an object");
        expect_err("{\"budget\": {\"min\": true}}", "1:20: type: 'budget.min' must be a size string or integer, not boolean", "a size of the wrong type");
        expect_err("{\"budget\": {\"min\": \"1.5G\"}}",
                   "1:20: size: 'budget.min' = '1.5G' is not a size (bytes with K, M, G or T, N% of MemTotal up to 1000%, or max)", "a fraction");
        expect_err_at("{\"budget\": {\"min\": \"1001%\"}}", 1, 20, "size", "more than 1000%");
        expect_err_at("{\"budget\": {\"min\": \"-1\"}}", 1, 20, "size", "negative");
        expect_err_at("{\"budget\": {\"min\": -1}}", 1, 20, "size", "a negative integer");
        expect_err_at("{\"budget\": {\"min\": \"50 %\"}}", 1, 20, "size", "a space");
        expect_err_at("{\"budget\": {\"min\": \"\"}}", 1, 20, "size", "empty");
        expect_err_at("{\"budget\": {\"min\": \"MAX\"}}", 1, 20, "size", "MAX is not max");
        expect_err_at("{\"budget\": {\"min\": \"1GB\"}}", 1, 20, "size", "1GB");
        expect_err_at("{\"budget\": {\"min\": 1.5}}", 1, 20, "size", "a JSON fraction");
        expect_err_at("{\"budget\": {\"min\": \"1G\", \"min\": \"2G\"}}", 1, 26, "duplicate", "a duplicate key");
        expect_err_at("[]", 1, 1, "type", "not an object");
        expect_err_at("{\"budget\": {\"min\": \"1G\",}}", 1, 26, "syntax", "a syntax error");
        expect_err_at("{\"budget\": {\"protection\": \"6G\", \"min\": \"x\"}}", 1, 40, "size", "wrong half-way: nothing taken (checked above)");
        {
                const char doc[] = "{\"budget\":\n {\"min\": \"1G\x00\"}}";
                struct host_config hc;
                struct mg_error e = {0};
                int r = host_config_parse(PATH, doc, sizeof doc - 1, &hc, &e);
                CHECK(r == -EBADMSG && STREQ(e.msg, PATH ":2:13: NUL: the file contains a NUL byte"), "invalid: a NUL byte, located: %s", e.msg);
        }
        {
                char deep[300];
                strcpy(deep, "{\"//\": ");
                for (int i = 0; i < 100; i++)
                        strcat(deep, "[");
                for (int i = 0; i < 100; i++)
                        strcat(deep, "]");
                strcat(deep, "}");
                struct host_config hc;
                struct mg_error e;
                CHECK(parse(deep, &hc, &e) < 0 && strstr(e.msg, "depth") && strncmp(e.msg, PATH ":", strlen(PATH) + 1) == 0,
                      "invalid: nested 100 deep (depth): %s", e.msg);
        }
}

/* A table with every type, as other settings will add them. */
struct test_conf {
        struct host_cap cap;
        uint64_t n;
        bool flag;
        char dir[32];
};

static const struct host_key test_keys[] = {
        { "a.cap", HOST_KEY_CAP, offsetof(struct test_conf, cap), 0, 0, 100, "10%" },
        { "a.b.n", HOST_KEY_UINT, offsetof(struct test_conf, n), 0, 1, 3600, "60" },
        { "flag", HOST_KEY_BOOL, offsetof(struct test_conf, flag), 0, 0, 0, "true" },
        { "dir", HOST_KEY_PATH, offsetof(struct test_conf, dir), sizeof(((struct test_conf *) 0)->dir), 0, 0, "/var/lib/x" },
};

static int tparse(const char *doc, struct test_conf *c, struct mg_error *e) {
        *e = (struct mg_error) {0};
        int r = host_config_defaults_table(test_keys, ELEMENTSOF(test_keys), c, sizeof *c);
        if (r < 0)
                return r;
        return host_config_parse_table(test_keys, ELEMENTSOF(test_keys), "t.json", doc, strlen(doc), c, sizeof *c, e);
}

static void test_types(void) {
        struct test_conf c;
        struct mg_error e;
        CHECK(tparse("{}", &c, &e) == 0 && cap_is(&c.cap, false, true, 10) && c.n == 60 && c.flag && STREQ(c.dir, "/var/lib/x"),
              "types: the defaults of every type");
        CHECK(tparse("{\"a\": {\"cap\": \"100%\", \"b\": {\"n\": 3600}}, \"flag\": false, \"dir\": \"/run/m\"}", &c, &e) == 0 &&
                      cap_is(&c.cap, false, true, 100) && c.n == 3600 && !c.flag && STREQ(c.dir, "/run/m"),
              "types: every type set, objects two deep %s", e.msg);
        static const struct {
                const char *doc, *want;
        } bad[] = {
                { "{\"a\": {\"cap\": \"101%\"}}", "t.json:1:15: size: 'a.cap' = '101%' is not a size (bytes with K, M, G or T, N% of MemTotal up to 100%, or max)" },
                { "{\"a\": {\"b\": {\"n\": 0}}}", "t.json:1:19: 'a.b.n' must be from 1 to 3600, not 0" },
                { "{\"a\": {\"b\": {\"n\": 3601}}}", "t.json:1:19: 'a.b.n' must be from 1 to 3600, not 3601" },
                { "{\"a\": {\"b\": {\"n\": \"60\"}}}", "t.json:1:19: type: 'a.b.n' must be an integer, not string" },
                { "{\"a\": {\"b\": {\"n\": -5}}}", "t.json:1:19: type: 'a.b.n' must be an integer, not '-5'" },
                { "{\"a\": {\"b\": {\"m\": 1}}}", "t.json:1:14: unknown key 'a.b.m'" },
                { "{\"a\": {\"b\": 1}}", "t.json:1:13: type: 'a.b' must be an object, not number" },
                { "{\"flag\": \"true\"}", "t.json:1:10: type: 'flag' must be true or false, not string" },
                { "{\"dir\": \"run/m\"}", "t.json:1:9: path: 'dir' = 'run/m' must be an absolute path of less than 32 bytes without . or .." },
                { "{\"dir\": \"/run/../etc\"}", "t.json:1:9: path: 'dir' = '/run/../etc' must be an absolute path of less than 32 bytes without . or .." },
                { "{\"dir\": \"/run/./m\"}", "t.json:1:9: path: 'dir' = '/run/./m' must be an absolute path of less than 32 bytes without . or .." },
                { "{\"dir\": \"/a/very/long/path/that/does/not/fit\"}",
                  "t.json:1:9: path: 'dir' = '/a/very/long/path/that/does/not/fit' must be an absolute path of less than 32 bytes without . or .." },
                { "{\"dir\": \"/run/\\nm\"}", "t.json:1:9: path: 'dir' = '/run/\nm' must be an absolute path of less than 32 bytes without . or .." },
                { "{\"dir\": 1}", "t.json:1:9: type: 'dir' must be a path string, not number" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                /* messages are one line: control characters become spaces */
                char want[300];
                snprintf(want, sizeof want, "%s", bad[i].want);
                for (char *p = want; *p; p++)
                        if (*p == '\n')
                                *p = ' ';
                int r = tparse(bad[i].doc, &c, &e);
                CHECK(r < 0 && STREQ(e.msg, want) && c.n == 60 && c.flag, "types: %s -> %s", bad[i].doc, e.msg);
                if (r < 0 && !STREQ(e.msg, want))
                        printf("#   want: %s\n", want);
        }
        static const struct host_key bad_default[] = { { "n", HOST_KEY_UINT, 0, 0, 1, 10, "11" } };
        uint64_t n;
        CHECK(host_config_defaults_table(bad_default, 1, &n, sizeof n) == -EINVAL, "types: a default out of its own range is refused");
}

/* ---- loading from a sysroot ---------------------------------------------- */

static char root[PATH_MAX];

static void write_file(const char *rel, const char *content, mode_t mode) {
        char p[PATH_MAX * 2];
        snprintf(p, sizeof p, "%s%s", root, rel);
        (void) unlink(p);
        FILE *f = fopen(p, "w");
        if (!f)
                abort();
        fputs(content, f);
        fclose(f);
        (void) chmod(p, mode);
}

static int load(struct host_config *hc, struct mg_error *e) {
        *e = (struct mg_error) {0};
        return host_config_load(root, true, hc, NULL, 0, e);
}

static void test_load(void) {
        snprintf(root, sizeof root, "/tmp/test-host-config.XXXXXX");
        if (!mkdtemp(root))
                abort();
        char dir[PATH_MAX * 2], file[PATH_MAX * 2], disp[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/etc", root);
        (void) mkdir(dir, 0755);
        snprintf(dir, sizeof dir, "%s/etc/oci-memguard", root);
        (void) mkdir(dir, 0755);
        snprintf(file, sizeof file, "%s" PATH, root);

        struct host_config hc;
        struct mg_error e;
        int r = host_config_load(root, true, &hc, disp, sizeof disp, &e);
        CHECK(r == 0 && !hc.from_file && cap_is(&hc.budget.min, false, true, 50) && STREQ(disp, file), "load: no file: the defaults, no error");

        write_file(PATH, "{\"budget\": {\"min\": \"30%\"}}\n", 0644);
        r = load(&hc, &e);
        CHECK(r == 0 && hc.from_file && cap_is(&hc.budget.min, false, true, 30), "load: a valid file");

        write_file(PATH, "{\"budget\": {\"mni\": \"30%\"}}\n", 0644);
        r = load(&hc, &e);
        CHECK(r < 0 && !hc.from_file && cap_is(&hc.budget.min, false, true, 50) && strstr(e.msg, "host.json:1:13: unknown key 'budget.mni'"),
              "load: an invalid file: one line, the defaults: %s", e.msg);

        write_file(PATH, "{\"budget\": {\"min\": \"30%\"}}\n", 0666);
        r = load(&hc, &e);
        CHECK(r == -EPERM && !hc.from_file && strstr(e.msg, "host.json:1:1: mode: 0666 is group or world writable: refused"), "load: mode: %s", e.msg);
        CHECK(host_config_load(root, false, &hc, NULL, 0, &e) == 0 && hc.from_file, "load: without the owner check (policy check as a user) the mode is not judged");

        if (geteuid() == 0) {
                write_file(PATH, "{\"budget\": {\"min\": \"30%\"}}\n", 0644);
                (void) chown(file, 1000, 1000);
                r = load(&hc, &e);
                CHECK(r == -EPERM && !hc.from_file && strstr(e.msg, "host.json:1:1: owner: owned by uid 1000, not root: refused"), "load: owner: %s", e.msg);
        } else {
                test_skip("load: owner (needs root)");
        }

        {
                char big[HOST_CONFIG_MAX_BYTES + 10];
                memset(big, ' ', sizeof big - 1);
                big[0] = '{';
                big[sizeof big - 3] = '}';
                big[sizeof big - 2] = '\n';
                big[sizeof big - 1] = '\0';
                write_file(PATH, big, 0644);
                r = load(&hc, &e);
                CHECK(r == -EFBIG && strstr(e.msg, "host.json:1:1: size: larger than 65536 bytes"), "load: size: %s", e.msg);
        }

        /* symlinks: judged by the target; a dangling one is an error, not "no file" */
        char target[PATH_MAX * 2];
        snprintf(target, sizeof target, "%s/etc/oci-memguard/real.json", root);
        write_file("/etc/oci-memguard/real.json", "{\"budget\": {\"protection\": \"70%\"}}\n", 0644);
        (void) unlink(file);
        if (symlink(target, file) < 0)
                abort();
        r = load(&hc, &e);
        CHECK(r == 0 && hc.from_file && cap_is(&hc.budget.protection, false, true, 70), "load: a symlink to a good file");
        (void) chmod(target, 0664);
        r = load(&hc, &e);
        CHECK(r == -EPERM && strstr(e.msg, "mode: 0664"), "load: a symlink is judged by its target's mode: %s", e.msg);
        (void) unlink(target);
        r = load(&hc, &e);
        CHECK(r < 0 && !hc.from_file && strstr(e.msg, "host.json:1:1: cannot open: the symlink's target does not exist"), "load: a dangling symlink: %s",
              e.msg);
        (void) unlink(file);
        if (mkfifo(file, 0644) < 0)
                abort();
        r = load(&hc, &e);
        CHECK(r < 0 && strstr(e.msg, "host.json:1:1: type: not a regular file: refused"), "load: a FIFO does not hang, refused: %s", e.msg);
        (void) unlink(file);
        (void) rmdir(dir);
        snprintf(dir, sizeof dir, "%s/etc", root);
        (void) rmdir(dir);
        (void) rmdir(root);
}

int main(void) {
        test_defaults();
        test_parse();
        test_types();
        test_load();
        return test_report();
}
