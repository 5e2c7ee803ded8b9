/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the policy language: sizes, every class of validation
 * error with its FILE:LINE:COL and its word (size, depth, NUL, syntax,
 * unknown key, type, owner, mode), comments,
 * duplicates, depth and NUL limits, matching, key-by-key merge, loading of
 * the vendor and admin directories (lexical order, masking, ownership and
 * mode, symlinks judged by their target, limits), `policy check`, and the
 * shipped default policy.  Plain C, TAP lines, a final "N passed, M failed".
 *
 * Owner tests need root (chown); without it they are reported as skipped. */
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "policy_check.h"
#include "test-helpers.h"

#define PATH "/etc/oci-memguard/policy.d/10-ci.json"

/* ---- helpers ---------------------------------------------------------- */

/* Does msg have the form "PATH:LINE:COL: ..." on one line? */
static bool well_formed(const char *path, const char *msg) {
        size_t l = strlen(path);
        if (strncmp(msg, path, l) != 0 || msg[l] != ':' || strchr(msg, '\n'))
                return false;
        const char *p = msg + l + 1;
        for (int field = 0; field < 2; field++) {
                if (*p < '1' || *p > '9')
                        return false;
                while (*p >= '0' && *p <= '9')
                        p++;
                if (*p++ != ':')
                        return false;
        }
        return *p == ' ';
}

static int parse_n(const char *src, size_t len, struct policy **p, struct mg_error *e) {
        *e = (struct mg_error) {0};
        *p = NULL;
        return policy_parse(PATH, src, len, p, e);
}

static int parse(const char *src, struct policy **p, struct mg_error *e) { return parse_n(src, strlen(src), p, e); }

/* The document must be refused with exactly this message. */
static void expect_msg(const char *src, const char *want, const char *desc) {
        struct policy *p;
        struct mg_error e;
        int r = parse(src, &p, &e);
        CHECK(r < 0 && !p && STREQ(e.msg, want), "%s: %s", desc, e.msg);
        if (r < 0 && !STREQ(e.msg, want))
                printf("#   want: %s\n", want);
        policy_free(p);
}

/* The document must be refused at line:col with word in the message. */
static void expect_err(const char *src, unsigned line, unsigned col, const char *word, const char *desc) {
        struct policy *p;
        struct mg_error e;
        char pos[64];
        /* col 0: any column. Syntax errors are positioned by the JSON
         * reader where yajl's lexer stopped, which need not be the first
         * byte of the offending token. */
        if (col)
                snprintf(pos, sizeof pos, PATH ":%u:%u: ", line, col);
        else
                snprintf(pos, sizeof pos, PATH ":%u:", line);
        int r = parse(src, &p, &e);
        CHECK(r < 0 && !p && well_formed(PATH, e.msg) && strncmp(e.msg, pos, strlen(pos)) == 0 && strstr(e.msg, word),
              "%s [%u:%u, '%s']: %s", desc, line, col, word, e.msg);
        policy_free(p);
}

static struct policy *must_parse(const char *src, const char *desc) {
        struct policy *p;
        struct mg_error e;
        int r = parse(src, &p, &e);
        CHECK(r == 0 && p, "%s%s%s", desc, r < 0 ? ": " : "", r < 0 ? e.msg : "");
        return r == 0 ? p : NULL;
}

static char *xstrdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xstrdup_printf(const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        return s;
}

/* {"//": [[...]]} nested depth levels deep in total (the object is one). */
static char *nested(unsigned depth) {
        size_t inner = depth - 1, len = strlen("{\"//\": ") + 2 * inner + 2;
        char *s = malloc(len);
        if (!s)
                abort();
        char *p = stpcpy(s, "{\"//\": ");
        memset(p, '[', inner);
        memset(p + inner, ']', inner);
        strcpy(p + 2 * inner, "}");
        return s;
}

/* ---- sizes ------------------------------------------------------------ */

static void test_sizes(void) {
        struct policy_size s;
        CHECK(policy_size_parse("512", &s) == 0 && s.set && s.value == 512 && !s.percent, "size: plain bytes");
        CHECK(policy_size_parse("0", &s) == 0 && s.set && s.value == 0, "size: zero");
        CHECK(policy_size_parse("512K", &s) == 0 && s.value == 512u << 10, "size: K");
        CHECK(policy_size_parse("512k", &s) == 0 && s.value == 512u << 10, "size: k, case-insensitive");
        CHECK(policy_size_parse("3M", &s) == 0 && s.value == 3u << 20, "size: M");
        CHECK(policy_size_parse("2g", &s) == 0 && s.value == 2ull << 30, "size: g");
        CHECK(policy_size_parse("1T", &s) == 0 && s.value == 1ull << 40, "size: T");
        CHECK(policy_size_parse("15%", &s) == 0 && s.percent && s.value == 15, "size: percent");
        CHECK(policy_size_parse("0%", &s) == 0 && policy_size_parse("100%", &s) == 0 && s.value == 100, "size: 0%% and 100%%");
        CHECK(policy_size_parse("101%", &s) < 0, "size: percent over 100 refused");
        CHECK(policy_size_parse("18446744073709551615", &s) == 0 && s.value == UINT64_MAX, "size: UINT64_MAX bytes");
        CHECK(policy_size_parse("18446744073709551616", &s) == -ERANGE, "size: overflow of the digits refused");
        CHECK(policy_size_parse("16777216T", &s) == -ERANGE && policy_size_parse("17179869184G", &s) == -ERANGE,
              "size: overflow by the suffix refused");
        CHECK(policy_size_parse("16777215T", &s) == 0 && s.value == 16777215ull << 40, "size: largest T that fits");
        static const char *const bad[] = { "1.5G", "1GB", "1Ki", "-1", "+1", "", " 1G", "1G ", "1 G", "G", "%", "15%%", "1%G",
                                           "0x10", "1e3", "1K1", "one", "1\n" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                s = (struct policy_size) {0};
                int r = policy_size_parse(bad[i], &s);
                char shown[32];
                snprintf(shown, sizeof shown, "%s", bad[i][0] == '\0' ? "(empty)" : bad[i]);
                shown[strcspn(shown, "\n")] = '\0'; /* one TAP line */
                CHECK(r == -EINVAL && !s.set, "size: '%s%s' refused", shown, strchr(bad[i], '\n') ? "\\n" : "");
        }
        CHECK(policy_size_parse(NULL, &s) == -EINVAL, "size: NULL refused");
        s = (struct policy_size) { .set = true, .value = 7 };
        CHECK(policy_size_parse("xx", &s) < 0 && s.value == 7, "size: ret untouched on failure");

        s = (struct policy_size) { .set = true, .percent = true, .value = 10 };
        CHECK(policy_size_bytes(&s, 16777216000ull, 4096) == 1677721600ull - 1677721600ull % 4096, "size: percent of MemTotal, page-aligned");
        s = (struct policy_size) { .set = true, .percent = true, .value = 100 };
        CHECK(policy_size_bytes(&s, UINT64_MAX, 1) == UINT64_MAX, "size: 100%% of a huge MemTotal does not overflow");
        s = (struct policy_size) { .set = true, .value = 5000 };
        CHECK(policy_size_bytes(&s, 0, 4096) == 4096, "size: bytes rounded down to the page");
        s = (struct policy_size) {0};
        CHECK(policy_size_bytes(&s, 1 << 30, 4096) == 0, "size: unset is 0");
}

/* Sizes as they come from a file: strings and integers, where the error
 * says "size", and NUL bytes that must not shorten a string. */
static void test_sizes_in_json(void) {
        struct policy *p = must_parse("{\"memory\": {\"min\": 1048576, \"low\": \"2G\"}}", "size: integer and string in a policy");
        if (p) {
                CHECK(p->min.set && p->min.value == 1048576 && p->low.set && p->low.value == 2ull << 30 && !p->low.percent,
                      "size: values land in memory.min/low");
                policy_free(p);
        }
        expect_err("{\"memory\": {\"min\": -1}}", 1, 20, "size: 'memory.min'", "size: negative integer");
        expect_err("{\"memory\": {\"min\": 1.5}}", 1, 20, "size: 'memory.min'", "size: fraction as a number");
        expect_err("{\"memory\": {\"min\": 1e9}}", 1, 20, "size: 'memory.min'", "size: exponent");
        expect_err("{\"memory\": {\"min\": 18446744073709551616}}", 1, 20, "size: 'memory.min'", "size: integer overflow");
        expect_err("{\"memory\": {\"low\": \"1.5G\"}}", 1, 20, "size: 'memory.low' = '1.5G'", "size: 1.5G");
        expect_err("{\"memory\": {\"low\": \"1GB\"}}", 1, 20, "size:", "size: 1GB");
        expect_err("{\"memory\": {\"low\": \"-1\"}}", 1, 20, "size:", "size: negative string");
        expect_err("{\"overrides\": {\"max_min\": \"1X\"}}", 1, 27, "size: 'overrides.max_min'", "size: overrides.max_min");
        expect_err("{\"build\": {\"after\": {\"reclaim\": \"x\"}}}", 1, 33, "size: 'build.after.reclaim'", "size: build.after.reclaim");
        expect_err("{\"build\": {\"reclaim\": {\"available_below\": \"200%\"}}}", 1, 43, "size: 'build.reclaim.available_below'",
                   "size: percent over 100 in a file");
        /* "1G" then a NUL then more: parsed by length it is not "1G". */
        static const char nul_in_string[] = "{\"memory\": {\"min\": \"1G\\u0000junk\"}}";
        struct policy *q;
        struct mg_error e;
        CHECK(parse(nul_in_string, &q, &e) < 0 && !q && well_formed(PATH, e.msg) && strstr(e.msg, "NUL"), "NUL: \\u0000 in a size string: %s",
              e.msg);
        static const char raw_nul[] = "{\n  \"memory\": {\"min\": \"1G\0\"}\n}";
        CHECK(parse_n(raw_nul, sizeof raw_nul - 1, &q, &e) < 0 && !q && strncmp(e.msg, PATH ":2:24: NUL", strlen(PATH ":2:24: NUL")) == 0,
              "NUL: a raw NUL byte is refused at its line:col: %s", e.msg);
        static const char nul_key[] = "{\"memory\\u0000x\": {}}";
        CHECK(parse(nul_key, &q, &e) < 0 && !q && well_formed(PATH, e.msg) && strstr(e.msg, "NUL"), "NUL: \\u0000 in a key: %s", e.msg);
}

/* ---- validation errors ------------------------------------------------ */

static void test_errors(void) {
        /* Exact messages for the examples the operators will see most. */
        expect_msg("{\n  \"memroy\": {}\n}", PATH ":2:3: unknown key 'memroy'", "unknown key at the top");
        expect_msg("{\n  \"memory\": {\n    \"min\": true\n  }\n}", PATH ":3:12: type: 'memory.min' must be a size string or integer, not boolean",
                   "type: memory.min");
        expect_msg("{\"memory\": {\"mni\": \"1G\"}}", PATH ":1:13: unknown key 'memory.mni'", "unknown key names the dotted path");

        /* unknown key: every object, with its dotted path */
        expect_err("{\"match\": {\"image\": []}}", 1, 12, "unknown key 'match.image'", "unknown key: match");
        expect_err("{\"build\": {\"reclaim\": {\"ordr\": 4}}}", 1, 24, "unknown key 'build.reclaim.ordr'", "unknown key: build.reclaim");
        expect_err("{\"build\": {\"after\": {\"how\": 1}}}", 1, 22, "unknown key 'build.after.how'", "unknown key: build.after");
        expect_err("{\"build\": {\"swapiness\": 1}}", 1, 12, "unknown key 'build.swapiness'", "unknown key: build");
        expect_err("{\"overrides\": {\"max\": \"1G\"}}", 1, 16, "unknown key 'overrides.max'", "unknown key: overrides");
        expect_err("{\"Memory\": {}}", 1, 2, "unknown key 'Memory'", "unknown key: keys are case-sensitive");
        expect_err("{\"/\": 1}", 1, 2, "unknown key '/'", "unknown key: one slash is not a comment");

        /* type: every kind of field */
        expect_err("[]", 1, 1, "type: a policy must be a JSON object", "type: top-level array");
        expect_err("\n \"x\"", 2, 2, "type: a policy must be a JSON object", "type: top-level string");
        expect_err("42", 1, 1, "type:", "type: top-level number");
        expect_err("null", 1, 1, "type:", "type: top-level null");
        expect_err("{\"description\": 1}", 1, 17, "type: 'description' must be a string", "type: description");
        expect_err("{\"match\": []}", 1, 11, "type: 'match' must be an object", "type: match");
        expect_err("{\"memory\": \"1G\"}", 1, 12, "type: 'memory' must be an object", "type: memory");
        expect_err("{\"match\": {\"images\": \"golang:*\"}}", 1, 22, "type: 'match.images' must be an array", "type: match.images");
        expect_err("{\"match\": {\"commands\": [1]}}", 1, 25, "type: 'match.commands' entries must be pattern strings",
                   "type: match.commands entry");
        expect_err("{\"match\": {\"cgroups\": {}}}", 1, 23, "type: 'match.cgroups'", "type: match.cgroups");
        expect_err("{\"match\": {\"annotations\": [\"a\"]}}", 1, 27, "type: 'match.annotations' must be an object",
                   "type: match.annotations");
        expect_err("{\"match\": {\"annotations\": {\"tier\": true}}}", 1, 36, "type: 'match.annotations'", "type: annotation value");
        expect_err("{\"match\": {\"build\": \"true\"}}", 1, 21, "type: 'match.build' must be true or false", "type: match.build");
        expect_err("{\"build\": {\"swappiness\": \"10\"}}", 1, 26, "type: 'build.swappiness' must be an integer", "type: build.swappiness");
        expect_err("{\"build\": {\"swappiness\": -1}}", 1, 26, "type: 'build.swappiness'", "type: negative swappiness");
        expect_err("{\"build\": {\"swappiness\": 10.5}}", 1, 26, "type: 'build.swappiness'", "type: fractional swappiness");
        expect_err("{\"build\": {\"detect\": 1}}", 1, 22, "type: 'build.detect'", "type: build.detect");
        expect_err("{\"build\": {\"builder\": null}}", 1, 23, "type: 'build.builder'", "type: build.builder");
        expect_err("{\"build\": {\"reclaim\": true}}", 1, 23, "type: 'build.reclaim' must be an object", "type: build.reclaim");
        expect_err("{\"build\": {\"reclaim\": {\"when\": 1}}}", 1, 32, "type: 'build.reclaim.when' must be a string", "type: build.reclaim.when");
        expect_err("{\"build\": {\"reclaim\": {\"compact\": \"yes\"}}}", 1, 35, "type: 'build.reclaim.compact'", "type: build.reclaim.compact");
        expect_err("{\"build\": {\"after\": []}}", 1, 21, "type: 'build.after' must be an object", "type: build.after");
        expect_err("{\"overrides\": {\"annotations\": \"yes\"}}", 1, 31, "type: 'overrides.annotations'", "type: overrides.annotations");
        expect_err("{\"memory\": {\"adopt_engine\": 1}}", 1, 29, "type: 'memory.adopt_engine' must be true or false", "type: memory.adopt_engine");
        expect_err("{\"on_error\": false}", 1, 14, "type: 'on_error' must be a string", "type: on_error");
        expect_err("{\"memory\": {\"min\": [\"1G\"]}}", 1, 20, "type: 'memory.min' must be a size string or integer", "type: size as array");

        /* ranges and enumerations */
        expect_err("{\"build\": {\"swappiness\": 201}}", 1, 26, "'build.swappiness' must be from 0 to 200", "range: swappiness 201");
        expect_err("{\"build\": {\"reclaim\": {\"order\": 11}}}", 1, 33, "'build.reclaim.order' must be from 0 to 10", "range: order 11");
        expect_err("{\"build\": {\"reclaim\": {\"drop_caches\": 4}}}", 1, 39, "'build.reclaim.drop_caches' must be from 0 to 3",
                   "range: drop_caches 4");
        expect_err("{\"build\": {\"reclaim\": {\"timeout_ms\": 0}}}", 1, 38, "'build.reclaim.timeout_ms' must be from 1 to 60000",
                   "range: timeout_ms 0");
        expect_err("{\"build\": {\"reclaim\": {\"timeout_ms\": 60001}}}", 1, 38, "timeout_ms", "range: timeout_ms 60001");
        expect_err("{\"on_error\": \"explode\"}", 1, 14, "'on_error' must be one of ignore, fail, not 'explode'", "enum: on_error");
        expect_err("{\"build\": {\"reclaim\": {\"when\": \"sometimes\"}}}", 1, 32, "must be one of auto, always, never", "enum: reclaim.when");
        expect_err("{\"build\": {\"after\": {\"when\": \"Auto\"}}}", 1, 30, "'build.after.when'", "enum: case-sensitive");

        /* patterns */
        expect_err("{\"match\": {\"images\": [\"\"]}}", 1, 23, "pattern must be 1 to 4096 bytes", "glob: empty string");
        expect_err("{\"match\": {\"images\": []}}", 1, 22, "'match.images' is empty", "glob: empty list (matches nothing) refused");
        expect_err("{\"match\": {\"cgroups\": []}}", 1, 23, "'match.cgroups' is empty", "glob: empty cgroups list refused");
        expect_err("{\"match\": {\"annotations\": {\"\": \"x\"}}}", 1, 28, "key must be 1 to 4096 bytes", "glob: empty annotation key");
        char *long_glob = malloc(4098);
        memset(long_glob, 'a', 4097);
        long_glob[4097] = '\0';
        char *src = xstrdup_printf("{\"match\": {\"commands\": [\"%s\"]}}", long_glob);
        expect_err(src, 1, 25, "pattern must be 1 to 4096", "glob: 4097 bytes refused");
        free(src);
        long_glob[4096] = '\0';
        src = xstrdup_printf("{\"match\": {\"commands\": [\"%s\"]}}", long_glob);
        struct policy *p = must_parse(src, "glob: 4096 bytes accepted");
        policy_free(p);
        free(src);
        free(long_glob);

        /* syntax */
        expect_err("{\n  \"memory\": {\"min\": \"1G\",}\n}", 2, 0, "syntax", "syntax: trailing comma");
        expect_err("{", 1, 0, "syntax", "syntax: unterminated object");
        expect_err("", 1, 0, "syntax", "syntax: empty file");
        expect_err("{} {}", 1, 0, "syntax", "syntax: two documents");
        expect_err("{/* c */}", 1, 0, "syntax", "syntax: C comments are not JSON");
        expect_err("{\"a\": 'x'}", 1, 0, "syntax", "syntax: single quotes");

        /* duplicates, at every level, at the second occurrence */
        expect_err("{\"memory\": {}, \"on_error\": \"fail\", \"memory\": {}}", 1, 36, "duplicate key 'memory'", "duplicate: top level");
        expect_err("{\"memory\": {\"min\": \"1G\",\n \"min\": \"2G\"}}", 2, 2, "duplicate key 'min'", "duplicate: nested (no first or last wins)");
        expect_err("{\"match\": {\"annotations\": {\"a\": \"1\", \"a\": \"2\"}}}", 1, 38, "duplicate key 'a'", "duplicate: annotation keys");
        expect_err("{\"//\": 1, \"//\": 2}", 1, 11, "duplicate key", "duplicate: even comment keys");

        /* depth: 64 levels are fine, 65 are not (MEMGUARD_MAX_JSON_DEPTH) */
        char *deep = nested(64);
        p = must_parse(deep, "depth: 64 levels accepted");
        policy_free(p);
        free(deep);
        deep = nested(65);
        expect_err(deep, 1, 71, "depth", "depth: 65 levels refused");
        free(deep);
        deep = nested(100000);
        expect_err(deep, 1, 71, "depth", "depth: 100000 levels refused without a crash");
        free(deep);
}

static void test_comments(void) {
        struct policy *p = must_parse("{\"$schema\": \"https://example.org/p.json\", \"//\": \"top\", \"//why\": {\"any\": [1, {\"x\": null}]},\n"
                                      " \"match\": {\"//\": 1, \"annotations\": {\"//\": \"c\", \"tier\": \"gold\"}},\n"
                                      " \"memory\": {\"//\": \"c\", \"min\": \"1M\"},\n"
                                      " \"build\": {\"//\": 0, \"reclaim\": {\"//\": 0}, \"after\": {\"//\": 0}},\n"
                                      " \"overrides\": {\"$schema\": 1}}",
                                      "comments: $schema and // keys anywhere, any value");
        if (p) {
                CHECK(p->match.n_annotations == 1 && STREQ(p->match.annotations[0].key, "tier") && p->min.value == 1 << 20,
                      "comments: a comment key inside annotations is not an annotation");
                policy_free(p);
        }
}

static void test_full(void) {
        struct policy *p = must_parse(
                "{\"description\": \"all\", \"match\": {\"images\": [\"golang:*\", \"*/ci/builder:*\"], \"annotations\": {\"k\": \"v*\"},"
                " \"commands\": [\"/bin/sh\"], \"cgroups\": [\"/docker/*\"], \"build\": true},"
                " \"memory\": {\"min\": 1048576, \"low\": \"2G\"},"
                " \"build\": {\"swappiness\": 10, \"detect\": false, \"builder\": true, \"reclaim\": {\"when\": \"always\", \"available_below\": \"15%\","
                " \"order\": 4, \"drop_caches\": 2, \"compact\": false, \"timeout_ms\": 500}, \"after\": {\"when\": \"never\", \"reclaim\": \"1G\"}},"
                " \"overrides\": {\"annotations\": true, \"max_min\": \"1G\", \"max_low\": \"25%\"}, \"on_error\": \"fail\"}",
                "full policy parses");
        if (!p)
                return;
        CHECK(STREQ(p->path, PATH) && STREQ(p->name, "10-ci.json") && STREQ(p->description, "all"), "full: path, name, description");
        CHECK(p->match.has_images && p->match.n_images == 2 && STREQ(p->match.images[1], "*/ci/builder:*") && p->match.has_annotations &&
                      p->match.n_annotations == 1 && STREQ(p->match.annotations[0].value, "v*") && p->match.n_commands == 1 &&
                      p->match.n_cgroups == 1 && p->match.build == POLICY_TRUE,
              "full: match");
        CHECK(p->min.value == 1048576 && p->low.value == 2ull << 30, "full: memory");
        const struct policy_build *b = &p->build;
        CHECK(p->has_build && b->has_swappiness && b->swappiness == 10 && b->detect == POLICY_FALSE && b->builder == POLICY_TRUE &&
                      b->reclaim.when == POLICY_WHEN_ALWAYS && b->reclaim.available_below.percent && b->reclaim.available_below.value == 15 &&
                      b->reclaim.has_order && b->reclaim.order == 4 && b->reclaim.has_drop_caches && b->reclaim.drop_caches == 2 &&
                      b->reclaim.compact == POLICY_FALSE && b->reclaim.has_timeout_ms && b->reclaim.timeout_ms == 500 &&
                      b->after.when == POLICY_WHEN_NEVER && b->after.reclaim.value == 1ull << 30,
              "full: build");
        CHECK(p->overrides.annotations == POLICY_TRUE && p->overrides.max_min.value == 1ull << 30 && p->overrides.max_low.percent &&
                      p->on_error == POLICY_ON_ERROR_FAIL,
              "full: overrides, on_error");
        policy_free(p);

        p = must_parse("{\"memory\": {\"adopt_engine\": true}}", "memory.adopt_engine parses");
        if (p) {
                CHECK(p->adopt_engine == POLICY_TRUE && !p->min.set && !p->low.set, "memory.adopt_engine: true, no size of its own");
                policy_free(p);
        }
        p = must_parse("{\"memory\": {\"adopt_engine\": false}}", "memory.adopt_engine false parses");
        if (p) {
                CHECK(p->adopt_engine == POLICY_FALSE, "memory.adopt_engine: false (masks an earlier true when merged)");
                policy_free(p);
        }

        p = must_parse("{}", "empty policy parses");
        if (p) {
                CHECK(!p->min.set && !p->low.set && !p->has_build && !p->build.has_swappiness && p->on_error == POLICY_ON_ERROR_UNSET &&
                              p->overrides.annotations == POLICY_UNSET && !p->match.has_images && !p->description,
                      "empty policy: every field unset");
                policy_free(p);
        }
}

/* ---- matching --------------------------------------------------------- */

static void test_match(void) {
        const char *keys[] = { "tier", "team" }, *vals[] = { "golden", "ci" };
        struct policy_subject s = { .image = "golang:1.22", .annotation_keys = keys, .annotation_values = vals, .n_annotations = 2,
                                    .command = "/usr/bin/make", .cgroup = "/docker/abc", .build = false };
        struct policy_subject unknown = { .image = "", .cgroup = "/x" };

        struct policy *any = must_parse("{\"memory\": {\"min\": \"1M\"}}", "match: no match key");
        struct policy *empty = must_parse("{\"match\": {}}", "match: empty match");
        struct policy *img = must_parse("{\"match\": {\"images\": [\"node:*\", \"golang:*\"]}}", "match: images");
        struct policy *star = must_parse("{\"match\": {\"images\": [\"*\"]}}", "match: images *");
        struct policy *ann = must_parse("{\"match\": {\"annotations\": {\"tier\": \"gold*\", \"team\": \"ci\"}}}", "match: annotations");
        struct policy *cmd = must_parse("{\"match\": {\"commands\": [\"/bin/sh\", \"*/make\"]}}", "match: commands");
        struct policy *cg = must_parse("{\"match\": {\"cgroups\": [\"/kubepods/*\", \"/docker/*\"]}}", "match: cgroups");
        struct policy *bt = must_parse("{\"match\": {\"build\": true}}", "match: build true");
        struct policy *bf = must_parse("{\"match\": {\"build\": false}}", "match: build false");
        struct policy *all = must_parse("{\"match\": {\"images\": [\"golang:*\"], \"commands\": [\"*/make\"], \"build\": false}}", "match: combined");
        if (!any || !empty || !img || !star || !ann || !cmd || !cg || !bt || !bf || !all)
                goto out;

        CHECK(policy_matches(any, &s) && policy_matches(any, &unknown), "match: absent match matches every container");
        CHECK(policy_matches(empty, &s) && policy_matches(empty, &unknown), "match: empty match matches every container");
        CHECK(policy_matches(img, &s), "match: an image glob of the list matches");
        s.image = "golangci/lint:1";
        CHECK(!policy_matches(img, &s), "match: an image no glob matches");
        s.image = "golang:1.22";
        CHECK(!policy_matches(img, &unknown) && !policy_matches(star, &unknown), "match: unknown image \"\" never matches an images list, not even '*'");
        unknown.image = NULL;
        CHECK(!policy_matches(star, &unknown) && policy_matches(any, &unknown), "match: NULL image is unknown too");

        CHECK(policy_matches(ann, &s), "match: every annotation key present and its glob matches");
        vals[0] = "silver";
        CHECK(!policy_matches(ann, &s), "match: one annotation glob fails");
        vals[0] = "golden";
        s.n_annotations = 1;
        CHECK(!policy_matches(ann, &s), "match: a missing annotation key fails");
        s.n_annotations = 2;
        keys[1] = "Team";
        CHECK(!policy_matches(ann, &s), "match: annotation keys are exact");
        keys[1] = "team";

        CHECK(policy_matches(cmd, &s), "match: commands, any glob on process.args[0] ('*' crosses '/')");
        s.command = "/bin/bash";
        CHECK(!policy_matches(cmd, &s), "match: commands, no glob");
        s.command = NULL;
        CHECK(!policy_matches(cmd, &s), "match: commands, no process.args");
        s.command = "/usr/bin/make";

        CHECK(policy_matches(cg, &s), "match: cgroups, any glob");
        s.cgroup = "/docker/abc/nested";
        CHECK(policy_matches(cg, &s), "match: cgroups, '*' reaches nested cgroups (fnmatch flags 0)");
        s.cgroup = "/system.slice/x.scope";
        CHECK(!policy_matches(cg, &s), "match: cgroups, no glob");
        s.cgroup = NULL;
        CHECK(!policy_matches(cg, &s), "match: cgroups, unknown cgroup");
        s.cgroup = "/docker/abc";

        CHECK(!policy_matches(bt, &s) && policy_matches(bf, &s), "match: build=true needs a build, build=false a non-build");
        s.build = true;
        CHECK(policy_matches(bt, &s) && !policy_matches(bf, &s) && policy_matches(any, &s), "match: a build step; unset build matches both");
        CHECK(!policy_matches(all, &s), "match: combined, one key fails (build)");
        s.build = false;
        CHECK(policy_matches(all, &s), "match: combined, all keys match");
        s.command = "/bin/sh";
        CHECK(!policy_matches(all, &s), "match: combined, one key fails (command)");
out:
        policy_free(any);
        policy_free(empty);
        policy_free(img);
        policy_free(star);
        policy_free(ann);
        policy_free(cmd);
        policy_free(cg);
        policy_free(bt);
        policy_free(bf);
        policy_free(all);
}

/* ---- merge ------------------------------------------------------------ */

static void test_merge(void) {
        struct policy *a = must_parse("{\"description\": \"a\", \"memory\": {\"min\": \"1M\", \"low\": \"2M\"}, \"on_error\": \"fail\","
                                      " \"build\": {\"swappiness\": 30, \"reclaim\": {\"when\": \"auto\", \"order\": 3, \"timeout_ms\": 100},"
                                      " \"after\": {\"when\": \"auto\", \"reclaim\": \"1G\"}},"
                                      " \"overrides\": {\"annotations\": true, \"max_min\": \"1G\", \"max_low\": \"2G\"}}",
                                      "merge: a");
        struct policy *b = must_parse("{\"match\": {\"images\": [\"golang:*\"]}, \"memory\": {\"low\": \"4M\"},"
                                      " \"build\": {\"reclaim\": {\"order\": 5, \"drop_caches\": 1}, \"detect\": false},"
                                      " \"overrides\": {\"max_low\": \"3G\"}}",
                                      "merge: b");
        struct policy *c = must_parse("{\"match\": {\"images\": [\"node:*\"]}, \"memory\": {\"min\": \"64G\"}, \"on_error\": \"ignore\"}", "merge: c");
        struct policy *d = must_parse("{\"description\": \"d\", \"build\": {\"swappiness\": 5, \"builder\": true, \"reclaim\": {\"compact\": true},"
                                      " \"after\": {\"when\": \"never\"}}, \"overrides\": {\"annotations\": false}, \"on_error\": \"ignore\"}",
                                      "merge: d");
        if (!a || !b || !c || !d) {
                policy_free(a);
                policy_free(b);
                policy_free(c);
                policy_free(d);
                return;
        }
        struct policy *items[] = { a, b, c, d };
        struct policy_set set = { .items = items, .n = 4 };
        struct policy_subject s = { .image = "golang:1.22", .cgroup = "/docker/x" };
        struct policy m = {0};
        size_t *idx = NULL, n = 0;
        CHECK(policy_merge_matching(&set, &s, &m, &idx, &n) == 0 && n == 3 && idx[0] == 0 && idx[1] == 1 && idx[2] == 3,
              "merge: the matching policies, in order");
        CHECK(m.min.value == 1 << 20 && m.low.value == 4 << 20, "merge: memory.min from a (c did not match), memory.low from b");
        CHECK(m.build.has_swappiness && m.build.swappiness == 5 && m.build.reclaim.when == POLICY_WHEN_AUTO && m.build.reclaim.order == 5 &&
                      m.build.reclaim.has_drop_caches && m.build.reclaim.drop_caches == 1 && m.build.reclaim.compact == POLICY_TRUE &&
                      m.build.reclaim.timeout_ms == 100 && m.build.detect == POLICY_FALSE && m.build.builder == POLICY_TRUE &&
                      m.build.after.when == POLICY_WHEN_NEVER && m.build.after.reclaim.value == 1ull << 30 && m.has_build,
              "merge: each build.* field on its own, later wins");
        CHECK(m.overrides.annotations == POLICY_FALSE && m.overrides.max_min.value == 1ull << 30 && m.overrides.max_low.value == 3ull << 30,
              "merge: overrides key by key");
        CHECK(m.on_error == POLICY_ON_ERROR_IGNORE && m.description && STREQ(m.description, "d"), "merge: on_error and description, later wins");
        CHECK(!m.path && !m.name && !m.match.has_images && m.match.n_images == 0, "merge: no path, name or match of its own");
        CHECK(m.adopt_engine == POLICY_UNSET, "merge: adopt_engine unset when no policy says it");
        free(idx);
        free(m.description);

        /* An unknown image skips b; c never matches. */
        s.image = "";
        m = (struct policy) {0};
        CHECK(policy_merge_matching(&set, &s, &m, &idx, &n) == 0 && n == 2 && idx[0] == 0 && idx[1] == 3 && m.low.value == 2 << 20,
              "merge: unknown image, only policies without images");
        free(idx);
        free(m.description);

        /* Nothing matches: everything unset, including what *ret held. */
        struct policy_set only_c = { .items = &c, .n = 1 };
        m = (struct policy) { .on_error = POLICY_ON_ERROR_FAIL, .min = { .set = true, .value = 9 } };
        CHECK(policy_merge_matching(&only_c, &s, &m, &idx, &n) == 0 && n == 0 && !m.min.set && m.on_error == POLICY_ON_ERROR_UNSET &&
                      !m.description && !m.has_build,
              "merge: no match leaves every field unset");
        free(idx);

        struct policy_set none = {0};
        CHECK(policy_merge_matching(&none, &s, &m, &idx, &n) == 0 && n == 0, "merge: empty set");
        free(idx);

        policy_free(a);
        policy_free(b);
        policy_free(c);
        policy_free(d);
}

/* ---- files and directories -------------------------------------------- */

static char tmproot[PATH_MAX];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) {
        (void) st, (void) flag, (void) f;
        return remove(p);
}

static void rm_rf(const char *p) { (void) nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static char *tpath(const char *rel) { return xstrdup_printf("%s/%s", tmproot, rel); }

static void put(const char *rel, const char *content, mode_t mode) {
        _cleanup_free_ char *p = tpath(rel);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t) strlen(content) || fchmod(fd, mode) < 0) {
                perror(p);
                abort();
        }
        close(fd);
}

static void mkd(const char *rel) {
        _cleanup_free_ char *p = tpath(rel);
        if (mkdir(p, 0755) < 0) {
                perror(p);
                abort();
        }
}

static const char *names_of(const struct policy_set *s, char *buf, size_t size) {
        buf[0] = '\0';
        for (size_t i = 0; i < s->n; i++) {
                size_t l = strlen(buf);
                snprintf(buf + l, size - l, "%s%s", i ? "," : "", s->items[i]->name);
        }
        return buf;
}

static bool errors_have(const struct policy_set *s, const char *a, const char *b) {
        for (size_t i = 0; i < s->n_errors; i++)
                if (strstr(s->errors[i].msg, a) && strstr(s->errors[i].msg, b))
                        return true;
        return false;
}

static bool errors_well_formed(const struct policy_set *s) {
        for (size_t i = 0; i < s->n_errors; i++) {
                const char *m = s->errors[i].msg;
                /* PATH is everything up to ".json" */
                const char *j = strstr(m, ".json:");
                if (!j)
                        return false;
                char path[PATH_MAX];
                snprintf(path, sizeof path, "%.*s", (int) (j + 5 - m), m);
                if (!well_formed(path, m))
                        return false;
        }
        return true;
}

static void test_load(void) {
        bool root = geteuid() == 0;
        _cleanup_free_ char *vendor = tpath("vendor"), *admin = tpath("admin"), *missing = tpath("missing");
        const char *dirs[] = { vendor, admin };
        mkd("vendor");
        mkd("admin");

        /* lexical order over both dirs, strcmp: "10" < "2" < "20" */
        put("vendor/20-v.json", "{\"memory\": {\"min\": \"20M\"}}", 0644);
        put("admin/10-a.json", "{\"memory\": {\"min\": \"10M\"}}", 0644);
        put("vendor/2-v.json", "{}", 0644);
        put("vendor/B.json", "{}", 0644);
        put("vendor/a.json", "{}", 0644);
        /* masking: admin wins by name */
        put("vendor/50-x.json", "{\"memory\": {\"min\": \"64M\"}}", 0644);
        put("admin/50-x.json", "{\"memory\": {\"min\": \"8M\"}}", 0644);
        /* a broken vendor file masked by a good admin file is no error */
        put("vendor/60-broken.json", "{\"memroy\": 1}", 0644);
        put("admin/60-broken.json", "{}", 0644);
        /* not policies */
        put("admin/README", "{", 0644);
        put("admin/70.json.bak", "{", 0644);
        put("admin/.80-hidden.json", "{", 0644);
        put("admin/.json", "{", 0644);
        /* invalid: skipped, with its error */
        put("admin/90-typo.json", "{\n  \"memory\": {\"mni\": \"1G\"}\n}", 0644);

        struct policy_set s = {0};
        char names[1024];
        CHECK(policy_set_load(dirs, 2, root, &s) == 0, "load: two directories");
        CHECK(STREQ(names_of(&s, names, sizeof names), "10-a.json,2-v.json,20-v.json,50-x.json,60-broken.json,B.json,a.json"),
              "load: one lexical (strcmp) order over vendor and admin, only *.json, no dot files: %s", names);
        bool masked = false;
        for (size_t i = 0; i < s.n; i++)
                if (STREQ(s.items[i]->name, "50-x.json"))
                        masked = s.items[i]->min.value == 8u << 20 && strstr(s.items[i]->path, "/admin/50-x.json");
        CHECK(masked, "load: the admin file masks the vendor file of the same name");
        CHECK(s.n_errors == 1 && errors_have(&s, "/admin/90-typo.json:2:14: unknown key 'memory.mni'", ""),
              "load: the invalid file is skipped with its FILE:LINE:COL error, a masked broken file is not read: %s",
              s.n_errors ? s.errors[0].msg : "(none)");
        policy_set_free(&s);

        /* order of the directories decides who masks whom */
        const char *rdirs[] = { admin, vendor };
        CHECK(policy_set_load(rdirs, 2, root, &s) == 0 && s.n_errors == 2 && errors_have(&s, "/vendor/60-broken.json:1:2:", "unknown key"),
              "load: the later directory masks the earlier one");
        for (size_t i = 0; i < s.n; i++)
                if (STREQ(s.items[i]->name, "50-x.json"))
                        CHECK(s.items[i]->min.value == 64u << 20, "load: ... so vendor wins when listed last");
        policy_set_free(&s);

        /* a missing directory is fine */
        const char *mdirs[] = { missing, vendor };
        CHECK(policy_set_load(mdirs, 2, root, &s) == 0 && s.n == 5 && s.n_errors == 1, "load: a missing directory is not an error");
        policy_set_free(&s);
        mkd("empty");
        _cleanup_free_ char *empty = tpath("empty");
        const char *edirs[] = { empty, vendor, empty };
        CHECK(policy_set_load(edirs, 3, root, &s) == 0 && s.n == 5 && s.n_errors == 1, "load: empty directories around a full one");
        policy_set_free(&s);
        const char *e1[] = { empty };
        CHECK(policy_set_load(e1, 1, root, &s) == 0 && s.n == 0 && s.n_errors == 0, "load: only an empty directory");
        policy_set_free(&s);
        CHECK(policy_set_load(NULL, 0, root, &s) == 0 && s.n == 0 && s.n_errors == 0, "load: no directories");
        policy_set_free(&s);
        /* a path that is not a directory is reported */
        _cleanup_free_ char *notdir = tpath("vendor/a.json");
        const char *ndirs[] = { notdir };
        CHECK(policy_set_load(ndirs, 1, root, &s) == 0 && s.n == 0 && s.n_errors == 1 && strstr(s.errors[0].msg, "policy directory"),
              "load: a policy 'directory' that is a file is an error: %s", s.n_errors ? s.errors[0].msg : "");
        policy_set_free(&s);

        /* owner and mode, on files and through symlinks */
        mkd("own");
        mkd("outside");
        _cleanup_free_ char *own = tpath("own");
        const char *odirs[] = { own };
        put("own/10-good.json", "{}", 0644);
        put("own/20-gw.json", "{}", 0664);
        put("own/30-ow.json", "{}", 0646);
        put("own/35-ro.json", "{}", 0400);
        put("outside/target-good.json", "{\"memory\": {\"min\": \"1M\"}}", 0644);
        put("outside/target-ww.json", "{}", 0666);
        put("outside/target-user.json", "{}", 0644);
        put("outside/big.json", "", 0644);
        _cleanup_free_ char *tgood = tpath("outside/target-good.json"), *tww = tpath("outside/target-ww.json"),
                           *tuser = tpath("outside/target-user.json"), *l1 = tpath("own/40-link-good.json"), *l2 = tpath("own/41-link-ww.json"),
                           *l3 = tpath("own/42-link-user.json"), *l4 = tpath("own/43-dangling.json"), *l5 = tpath("own/44-dir.json"),
                           *l6 = tpath("own/45-dirlink.json"), *outside = tpath("outside");
        if (symlink(tgood, l1) < 0 || symlink(tww, l2) < 0 || symlink(tuser, l3) < 0 || symlink("/nonexistent/x.json", l4) < 0 ||
            mkdir(l5, 0755) < 0 || symlink(outside, l6) < 0)
                abort();
        bool chowned = root && chown(tuser, 1000, 1000) == 0;
        if (root) {
                put("own/50-user.json", "{}", 0644);
                _cleanup_free_ char *u = tpath("own/50-user.json");
                chowned = chowned && chown(u, 1000, 1000) == 0;
        }
        if (!root) {
                /* Every file here is the tester's, so check_owner refuses
                 * them all for "owner" before "mode" is looked at. */
                test_skip("owner/mode tests need root (files owned by uid 0, chown)");
                goto owner_done;
        }
        CHECK(policy_set_load(odirs, 1, true, &s) == 0, "owner/mode: load");
        CHECK(STREQ(names_of(&s, names, sizeof names), "10-good.json,35-ro.json,40-link-good.json"),
              "owner/mode: only root-owned files not writable by group or others load, symlink judged by its target: %s", names);
        CHECK(errors_have(&s, "20-gw.json:1:1: ", "mode: 0664") && errors_have(&s, "30-ow.json:1:1: ", "mode: 0646"),
              "owner/mode: group- and world-writable refused with 'mode'");
        CHECK(errors_have(&s, "41-link-ww.json:1:1: ", "mode: 0666"), "owner/mode: a symlink to a world-writable file refused ('mode' of the target)");
        CHECK(errors_have(&s, "43-dangling.json:1:1: ", "cannot open") && errors_have(&s, "44-dir.json:1:1: ", "type: not a regular file") &&
                      errors_have(&s, "45-dirlink.json:1:1: ", "type: not a regular file"),
              "owner/mode: dangling symlink, directory and symlink to a directory refused");
        if (chowned) {
                CHECK(errors_have(&s, "42-link-user.json:1:1: ", "owner: owned by uid 1000") && errors_have(&s, "50-user.json:1:1: ", "owner:"),
                      "owner/mode: a file (or symlink target) owned by uid 1000 refused with 'owner'");
                CHECK(s.n_errors == 8, "owner/mode: eight refusals, no more: %zu", s.n_errors);
        } else
                test_skip("chown to uid 1000 failed");
        CHECK(errors_well_formed(&s), "owner/mode: every error is one FILE:LINE:COL line");
        policy_set_free(&s);
        CHECK(policy_set_load(odirs, 1, false, &s) == 0 && s.n == (chowned ? 8u : 7u),
              "owner/mode: check_owner=false loads them (tests, explain on fixtures): %zu", s.n);
        policy_set_free(&s);
owner_done:

        /* policy_load_file on its own: size limit, NUL with position */
        char *big = malloc(MEMGUARD_MAX_POLICY_BYTES + 2);
        memset(big, ' ', MEMGUARD_MAX_POLICY_BYTES + 1);
        big[0] = '{';
        big[MEMGUARD_MAX_POLICY_BYTES - 1] = '}';
        big[MEMGUARD_MAX_POLICY_BYTES] = '\0';
        put("outside/exact.json", big, 0644);
        big[MEMGUARD_MAX_POLICY_BYTES] = '\n';
        big[MEMGUARD_MAX_POLICY_BYTES + 1] = '\0';
        put("outside/big.json", big, 0644);
        free(big);
        _cleanup_close_ int ofd = open(outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct policy *p = NULL;
        struct mg_error e = {0};
        CHECK(policy_load_file(ofd, "exact.json", "exact.json", root, &p, &e) == 0, "load_file: exactly 64 KiB accepted: %s", e.msg);
        policy_free(p);
        p = NULL;
        CHECK(policy_load_file(ofd, "big.json", "/x/big.json", root, &p, &e) == -EFBIG && !p && strstr(e.msg, "/x/big.json:1:1: size:"),
              "load_file: 64 KiB + 1 refused with 'size': %s", e.msg);
        {
                _cleanup_free_ char *np = tpath("outside/nul.json");
                int fd = open(np, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                static const char nul[] = "{\n\n   \0}";
                if (fd < 0 || write(fd, nul, sizeof nul - 1) != (ssize_t) (sizeof nul - 1))
                        abort();
                close(fd);
        }
        CHECK(policy_load_file(ofd, "nul.json", "/x/nul.json", root, &p, &e) < 0 && !p && strstr(e.msg, "/x/nul.json:3:4: NUL"),
              "load_file: a NUL byte in the file refused at its line:col: %s", e.msg);
        CHECK(policy_load_file(ofd, "absent.json", "/x/absent.json", root, &p, &e) == -ENOENT && !p && strstr(e.msg, "/x/absent.json:1:1:"),
              "load_file: a missing file: %s", e.msg);
        {
                _cleanup_free_ char *fifo = tpath("outside/fifo.json");
                if (mkfifo(fifo, 0644) < 0)
                        abort();
        }
        CHECK(policy_load_file(ofd, "fifo.json", "/x/fifo.json", root, &p, &e) < 0 && strstr(e.msg, "type: not a regular file"),
              "load_file: a FIFO named *.json is refused without blocking");

        /* At most 4096 files (MEMGUARD_MAX_POLICY_FILES); those sorting last are left out. */
        mkd("many");
        for (unsigned i = 0; i <= MEMGUARD_MAX_POLICY_FILES; i++) {
                char rel[64];
                snprintf(rel, sizeof rel, "many/%05u.json", i);
                put(rel, "{}", 0644);
        }
        _cleanup_free_ char *many = tpath("many");
        const char *mdir[] = { many };
        CHECK(policy_set_load(mdir, 1, root, &s) == 0 && s.n == MEMGUARD_MAX_POLICY_FILES && s.n_errors == 1 &&
                      strstr(s.errors[0].msg, "/04096.json:1:1: size: more than 4096 policy files") &&
                      STREQ(s.items[s.n - 1]->name, "04095.json"),
              "load: 4097 files, the 4096 first in lexical order load, the last is reported: %s", s.n_errors ? s.errors[0].msg : "");
        policy_set_free(&s);

        /* The same in small: whatever readdir's order, the lexically first
         * max + 1 names come back, sorted, after the buffer was cut back. */
        mkd("few");
        static const char *const few[] = { "g.json", "c.json", "e.json", "a.json", "f.json", "b.json", "d.json", "h.json" };
        for (size_t i = 0; i < ELEMENTSOF(few); i++) {
                char rel[64];
                snprintf(rel, sizeof rel, "few/%s", few[i]);
                put(rel, "{}", 0644);
        }
        put("few/.z.json", "{}", 0644);
        put("few/z.txt", "{}", 0644);
        _cleanup_free_ char *fewp = tpath("few");
        _cleanup_close_ int ffd = open(fewp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char **l = NULL;
        size_t ln = 0;
        CHECK(policy_dir_list(ffd, 2, &l, &ln) == 0 && ln == 3 && STREQ(l[0], "a.json") && STREQ(l[1], "b.json") && STREQ(l[2], "c.json"),
              "dir_list: max 2 of 8 gives the first 3 names in order");
        policy_dir_list_free(l, ln);
        CHECK(policy_dir_list(ffd, 100, &l, &ln) == 0 && ln == 8 && STREQ(l[7], "h.json"), "dir_list: listing the same fd again starts over");
        policy_dir_list_free(l, ln);
}

/* ---- policy check ----------------------------------------------------- */

static void test_check(void) {
        if (geteuid() != 0) {
                test_skip("policy check tests need root (files owned by uid 0)");
                return;
        }
        mkd("check");
        put("check/10-good.json", "{\"memory\": {\"min\": \"64M\"}}", 0644);
        put("check/20-bad.json", "{\n  \"memory\": {\"min\": \"12Q\"}\n}\n", 0644);
        put("check/30-ww.json", "{}", 0666);
        put("check/notes.txt", "{", 0644);
        _cleanup_free_ char *dir = tpath("check"), *good = tpath("check/10-good.json"), *missing = tpath("nope");
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        char *const paths[] = { dir };
        int r = policy_check_paths(paths, 1, true, false, out);
        fclose(out);
        _cleanup_free_ char *want = xstrdup_printf("%s/10-good.json: ok\n%s/20-bad.json:2:21: size: 'memory.min' = '12Q' is not a size", dir, dir);
        _cleanup_free_ char *want2 = xstrdup_printf("\n%s/30-ww.json:1:1: mode: 0666 is group or world writable: refused\n", dir);
        CHECK(r == 2 && strncmp(buf, want, strlen(want)) == 0 && strstr(buf, want2) && !strstr(buf, "notes"),
              "check: a directory, one line per file in order, returns the number of bad files (%d)", r);
        if (r != 2 || strncmp(buf, want, strlen(want)) != 0)
                printf("# output:\n%s", buf);
        free(buf);

        buf = NULL;
        out = open_memstream(&buf, &len);
        char *const files[] = { good, good };
        r = policy_check_paths(files, 2, true, false, out);
        fclose(out);
        _cleanup_free_ char *want3 = xstrdup_printf("%s: ok\n%s: ok\n", good, good);
        CHECK(r == 0 && STREQ(buf, want3), "check: good files print 'PATH: ok' and return 0");
        free(buf);

        buf = NULL;
        out = open_memstream(&buf, &len);
        char *const miss[] = { missing };
        int r1 = policy_check_paths(miss, 1, true, true, out);
        fflush(out);
        size_t len1 = len;
        int r2 = policy_check_paths(miss, 1, true, false, out);
        fclose(out);
        CHECK(r1 == 0 && len1 == 0 && r2 == 1 && strstr(buf, "No such file"), "check: a missing path is skipped only when missing_ok");
        free(buf);
        CHECK(policy_check_paths(NULL, 1, true, false, stdout) == -EINVAL, "check: usage error is a negative errno");
}

/* ---- shipped files and fixtures --------------------------------------- */

/* The repository root: from this file's path as compiled (make check runs
 * from the root), else upwards from the test binary (build/test-policy,
 * build/asan/test-policy), so that it also runs from elsewhere. */
static char *repo_path(const char *rel) {
        const char *me = __FILE__, *tail = strstr(me, "conformance/unit/test-policy.c");
        if (tail) {
                char *p = xstrdup_printf("%.*s%s", (int) (tail - me), me, rel);
                if (access(p, F_OK) == 0)
                        return p;
                free(p);
        }
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
                exe[n] = '\0';
                for (int up = 0; up < 4; up++) {
                        char *slash = strrchr(exe, '/');
                        if (!slash)
                                break;
                        *slash = '\0';
                        char *p = xstrdup_printf("%s/%s", exe, rel);
                        if (access(p, F_OK) == 0)
                                return p;
                        free(p);
                }
        }
        return strdup(rel);
}

static void test_shipped(void) {
        _cleanup_free_ char *def = repo_path("policy/default/00-defaults.json"), *fix = repo_path("conformance/unit/policy-fixtures");
        struct policy *p = NULL;
        struct mg_error e = {0};
        /* check_owner=false: a checkout need not be root's. */
        CHECK(policy_load_file(AT_FDCWD, def, def, false, &p, &e) == 0 && p, "default policy: valid: %s", e.msg);
        if (p) {
                struct policy_subject s = { .image = "postgres:16", .command = "/usr/bin/postgres", .cgroup = "/docker/x", .build = true };
                struct policy *items[] = { p };
                struct policy_set set = { .items = items, .n = 1 };
                struct policy m = {0};
                size_t *idx = NULL, n = 0;
                CHECK(policy_merge_matching(&set, &s, &m, &idx, &n) == 0 && n == 1 && !m.min.set && !m.low.set && !m.build.has_swappiness &&
                              m.build.reclaim.when == POLICY_WHEN_UNSET && m.overrides.annotations == POLICY_FALSE &&
                              m.on_error == POLICY_ON_ERROR_IGNORE,
                      "default policy: matches every container and protects nothing (its examples are comments)");
                free(idx);
                free(m.description);
                policy_free(p);
        }
        char *const paths[] = { def };
        FILE *null = fopen("/dev/null", "w");
        CHECK(null && policy_check_paths(paths, 1, false, false, null) == 0, "default policy: policy check passes");
        if (null)
                fclose(null);

        /* Fixtures: files that must parse, and files with the one error line
         * they must produce, in NAME.json + NAME.err (an fnmatch pattern, so
         * that a syntax error's column can be left open). */
        static const char *const good[] = { "spec-example.json", "ci-builders.json" };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_free_ char *f = xstrdup_printf("%s/%s", fix, good[i]);
                p = NULL;
                CHECK(policy_load_file(AT_FDCWD, f, good[i], false, &p, &e) == 0, "fixture %s parses: %s", good[i], p ? "" : e.msg);
                policy_free(p);
        }
        static const char *const bad[] = { "bad-nested-type", "bad-duplicate", "bad-unknown-deep", "bad-syntax" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *f = xstrdup_printf("%s/%s.json", fix, bad[i]), *ef = xstrdup_printf("%s/%s.err", fix, bad[i]),
                                    *name = xstrdup_printf("%s.json", bad[i]);
                char want[512] = "";
                FILE *w = fopen(ef, "re");
                if (w) {
                        if (!fgets(want, sizeof want, w))
                                want[0] = '\0';
                        fclose(w);
                }
                want[strcspn(want, "\n")] = '\0';
                p = NULL;
                e = (struct mg_error) {0};
                int r = policy_load_file(AT_FDCWD, f, name, false, &p, &e);
                CHECK(r < 0 && !p && want[0] && fnmatch(want, e.msg, 0) == 0, "fixture %s: %s", name, e.msg);
                if (r < 0 && fnmatch(want, e.msg, 0) != 0)
                        printf("#   want: %s\n", want);
                policy_free(p);
        }
}

/* Open descriptors of this process: the loaders must not leak any. */
static unsigned count_fds(void) {
        unsigned n = 0;
        for (int fd = 0; fd < 1024; fd++)
                if (fcntl(fd, F_GETFD) >= 0)
                        n++;
        return n;
}

static void test_glob_prefix(void) {
        /* a pattern ruled out by its literal start cannot match (fnmatch
         * agrees); one that is not ruled out may or may not */
        static const struct { const char *glob, *s; bool differs; } cases[] = {
                { "registry.example.com/team-1/*", "registry.example.com/shop/api:1", true },
                { "registry.example.com/shop/*", "registry.example.com/shop/api:1", false },
                { "*:1", "app:1", false },          { "[a]pp:*", "app:1", false },
                { "a?p:*", "app:1", false },        { "\\app", "app", false },
                { "ap", "app:1", false },           { "app:1x", "app:1", true },
                { "b*", "app", true },              { "", "app", false },
                { "app", "", true },
        };
        unsigned bad = 0;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                bool d = policy_glob_prefix_differs(cases[i].glob, SIZE_MAX, cases[i].s);
                if (d != cases[i].differs || (d && fnmatch(cases[i].glob, cases[i].s, 0) == 0)) {
                        bad++;
                        printf("# glob prefix: '%s' vs '%s': %d\n", cases[i].glob, cases[i].s, d);
                }
        }
        CHECK(bad == 0, "glob prefix: %zu patterns ruled out exactly when their literal start differs", ELEMENTSOF(cases));
        CHECK(!policy_glob_prefix_differs("app:zzz", 4, "app:1") && policy_glob_prefix_differs("app:zzz", 5, "app:1"),
              "glob prefix: only the first len bytes of a cached (unterminated) pattern count");
}

int main(void) {
        unsigned fds_before = count_fds();
        /* Unbuffered, so a crash still shows the last test that ran. */
        setvbuf(stdout, NULL, _IONBF, 0);
        snprintf(tmproot, sizeof tmproot, "/tmp/test-policy.XXXXXX");
        if (!mkdtemp(tmproot)) {
                perror("mkdtemp");
                return 2;
        }
        /* Files this test writes get exactly the modes it asks for. */
        umask(022);

        test_sizes();
        test_sizes_in_json();
        test_errors();
        test_comments();
        test_full();
        test_match();
        test_glob_prefix();
        test_merge();
        test_load();
        test_check();
        test_shipped();

        rm_rf(tmproot);
        unsigned fds_after = count_fds();
        CHECK(fds_after == fds_before, "no file descriptor leaked (%u before, %u after)", fds_before, fds_after);
        return test_report();
}
