/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the policy language: sizes, validation errors with their
 * positions and SPEC words, matching and key-by-key merge. TAP output. */
#include <stdio.h>
#include <string.h>

#include "policy.h"

static unsigned n_pass, n_fail, n_test;

#define CHECK(cond, ...)                                         \
        do {                                                     \
                bool ok_ = (cond); /* evaluated once */         \
                n_test++;                                        \
                if (ok_)                                         \
                        n_pass++;                                \
                else                                             \
                        n_fail++;                                \
                printf("%s %u - ", ok_ ? "ok" : "not ok", n_test); \
                printf(__VA_ARGS__);                             \
                printf("\n");                                    \
        } while (0)

static void test_sizes(void) {
        struct policy_size s;
        CHECK(policy_size_parse("512", &s) == 0 && s.value == 512 && !s.percent, "plain bytes");
        CHECK(policy_size_parse("512K", &s) == 0 && s.value == 512u << 10, "K");
        CHECK(policy_size_parse("2g", &s) == 0 && s.value == 2ull << 30, "g, case-insensitive");
        CHECK(policy_size_parse("1T", &s) == 0 && s.value == 1ull << 40, "T");
        CHECK(policy_size_parse("15%", &s) == 0 && s.percent && s.value == 15, "percent");
        CHECK(policy_size_parse("101%", &s) < 0, "percent over 100");
        CHECK(policy_size_parse("1.5G", &s) < 0 && policy_size_parse("1GB", &s) < 0 && policy_size_parse("-1", &s) < 0 &&
                      policy_size_parse("", &s) < 0 && policy_size_parse("G", &s) < 0 && policy_size_parse(" 1G", &s) < 0,
              "garbage refused");
        CHECK(policy_size_parse("18446744073709551616", &s) == -ERANGE, "overflow refused");
        CHECK(policy_size_parse("17179869184G", &s) == -ERANGE, "overflow by suffix refused");
        s = (struct policy_size) { .set = true, .percent = true, .value = 10 };
        CHECK(policy_size_bytes(&s, 16777216000ull, 4096) == 1677721600ull - 1677721600ull % 4096, "percent of MemTotal, page-aligned");
        s = (struct policy_size) { .set = true, .value = 5000 };
        CHECK(policy_size_bytes(&s, 0, 4096) == 4096, "bytes rounded down to the page");
}

static int parse(const char *src, struct policy **p, struct mg_error *e) {
        *e = (struct mg_error) {0};
        *p = NULL;
        return policy_parse("/etc/p.json", src, strlen(src), p, e);
}

static void test_errors(void) {
        struct policy *p;
        struct mg_error e;
        CHECK(parse("{\n  \"memroy\": {}\n}", &p, &e) < 0 && STREQ(e.msg, "/etc/p.json:2:3: unknown key 'memroy'"), "%s", e.msg);
        CHECK(parse("{\"memory\": {\"min\": \"12Q\"}}", &p, &e) < 0 && strstr(e.msg, "/etc/p.json:1:20: size:"), "%s", e.msg);
        CHECK(parse("{\"memory\": {\"min\": true}}", &p, &e) < 0 && strstr(e.msg, ":1:20: type: 'memory.min'"), "%s", e.msg);
        CHECK(parse("{\"build\": {\"reclaim\": {\"ordr\": 4}}}", &p, &e) < 0 && strstr(e.msg, "unknown key 'build.reclaim.ordr'"), "%s", e.msg);
        CHECK(parse("{\"build\": {\"swappiness\": 201}}", &p, &e) < 0 && strstr(e.msg, "'build.swappiness' must be from 0 to 200"), "%s", e.msg);
        CHECK(parse("{\"on_error\": \"explode\"}", &p, &e) < 0 && strstr(e.msg, "'on_error' must be one of ignore, fail"), "%s", e.msg);
        CHECK(parse("{\"match\": {\"images\": [\"\"]}}", &p, &e) < 0 && strstr(e.msg, "pattern"), "%s", e.msg);
        CHECK(parse("{\"match\": {\"images\": \"x\"}}", &p, &e) < 0 && strstr(e.msg, "type: 'match.images'"), "%s", e.msg);
        CHECK(parse("{\"a\": 1, \"a\": 2}", &p, &e) < 0 && strstr(e.msg, "duplicate key"), "%s", e.msg);
        CHECK(parse("[]", &p, &e) < 0 && strstr(e.msg, "type: a policy must be a JSON object"), "%s", e.msg);
        CHECK(parse("{", &p, &e) < 0 && strstr(e.msg, "/etc/p.json:1:") && strstr(e.msg, "syntax"), "%s", e.msg);
        char deep[300] = "{\"description\": ";
        for (int i = 0; i < 70; i++)
                strcat(deep, "[");
        for (int i = 0; i < 70; i++)
                strcat(deep, "]");
        strcat(deep, "}");
        CHECK(parse(deep, &p, &e) < 0 && strstr(e.msg, "depth"), "%s", e.msg);
        CHECK(parse("{\"//\": \"comment\", \"$schema\": \"x\", \"match\": {\"//c\": 1}}", &p, &e) == 0, "comment keys ignored: %s", e.msg);
        policy_free(p);
        CHECK(parse("{\"memory\": {\"min\": 1048576, \"low\": \"2G\"}, \"overrides\": {\"annotations\": true, \"max_min\": \"1G\"}, "
                    "\"build\": {\"swappiness\": 10, \"reclaim\": {\"when\": \"always\", \"order\": 4, \"drop_caches\": 2, \"compact\": false, "
                    "\"timeout_ms\": 500, \"available_below\": \"15%\"}, \"after\": {\"when\": \"auto\", \"reclaim\": \"1G\"}}, \"on_error\": \"fail\"}",
                    &p, &e) == 0,
              "full policy parses: %s", e.msg);
        if (p) {
                CHECK(p->min.value == 1048576 && p->low.value == 2ull << 30 && p->overrides.annotations == POLICY_TRUE &&
                              p->build.swappiness == 10 && p->build.reclaim.when == POLICY_WHEN_ALWAYS && p->build.reclaim.order == 4 &&
                              p->build.reclaim.drop_caches == 2 && p->build.reclaim.compact == POLICY_FALSE &&
                              p->build.reclaim.timeout_ms == 500 && p->build.reclaim.available_below.percent &&
                              p->build.after.when == POLICY_WHEN_AUTO && p->on_error == POLICY_ON_ERROR_FAIL,
                      "every field lands where it belongs");
                policy_free(p);
        }
}

static void test_match_merge(void) {
        struct policy *a, *b, *c;
        struct mg_error e;
        parse("{\"memory\": {\"min\": \"1M\", \"low\": \"2M\"}, \"on_error\": \"fail\"}", &a, &e);
        parse("{\"match\": {\"images\": [\"golang:*\"], \"annotations\": {\"tier\": \"gold*\"}}, \"memory\": {\"low\": \"4M\"}}", &b, &e);
        parse("{\"match\": {\"build\": true, \"commands\": [\"*/make\"]}, \"build\": {\"swappiness\": 5}, \"on_error\": \"ignore\"}", &c, &e);
        CHECK(a && b && c, "three policies parse");
        if (!a || !b || !c)
                return;
        struct policy *items[] = { a, b, c };
        struct policy_set set = { .items = items, .n = 3 };
        const char *keys[] = { "tier" }, *vals[] = { "golden" };
        struct policy_subject s = { .image = "golang:1.22", .annotation_keys = keys, .annotation_values = vals, .n_annotations = 1,
                                    .command = "/usr/bin/make", .cgroup = "/docker/x", .build = true };
        struct policy m = {0};
        size_t *idx = NULL, n = 0;
        CHECK(policy_merge_matching(&set, &s, &m, &idx, &n) == 0 && n == 3, "all three match");
        CHECK(m.min.value == 1 << 20 && m.low.value == 4 << 20 && m.build.swappiness == 5 && m.on_error == POLICY_ON_ERROR_IGNORE,
              "key by key, later wins");
        free(idx);
        free(m.description);
        s.image = "";
        struct policy m2 = {0};
        CHECK(policy_merge_matching(&set, &s, &m2, &idx, &n) == 0 && n == 2 && idx[0] == 0 && idx[1] == 2, "unknown image skips the images policy");
        free(idx);
        s.image = "golang:1.22";
        vals[0] = "silver";
        CHECK(!policy_matches(b, &s), "annotation glob must match");
        s.build = false;
        CHECK(!policy_matches(c, &s), "match.build=true needs a build");
        s.build = true;
        s.command = "/bin/sh";
        CHECK(!policy_matches(c, &s), "commands glob on args[0]");
        policy_free(a);
        policy_free(b);
        policy_free(c);
}

int main(void) {
        test_sizes();
        test_errors();
        test_match_merge();
        printf("1..%u\n%u passed, %u failed\n", n_test, n_pass, n_fail);
        return n_fail ? 1 : 0;
}
