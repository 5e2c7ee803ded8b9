/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the bounded JSON reader, the string escaper and the helpers
 * in hook/util.c that every input goes through. TAP output. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "json-compare.h" /* fuzz/: the fuzzer compares the same way */
#include "json.h"
#include "util.h"
#include "cgroup.h"
#include "test-helpers.h"

static int parse(const char *s, bool dups, struct json_node **ret, struct mg_error *err) {
        struct json_parse_opts o = { .reject_duplicates = dups, .positions = dups };
        *err = (struct mg_error) {0};
        return json_parse(s, strlen(s), &o, ret, err);
}

static void test_parse(void) {
        struct json_node *n = NULL;
        struct mg_error e;
        CHECK(parse("{\"a\": [1, -2, 3.5e2], \"b\": {\"c\": null}}", false, &n, &e) == 0, "parses a document");
        const struct json_node *a = json_get(n, "a");
        CHECK(a && a->type == JSON_ARRAY && a->n == 3, "array with three items");
        CHECK(a && STREQ(a->items[2]->str, "3.5e2"), "numbers keep their source text");
        int64_t i;
        CHECK(a && json_number_i64(a->items[1], &i) == 0 && i == -2, "negative integer");
        uint64_t u;
        CHECK(a && json_number_u64(a->items[1], &u) < 0, "u64 getter refuses a negative number");
        CHECK(a && json_number_u64(a->items[2], &u) < 0, "u64 getter refuses a float");
        json_free(n);

        CHECK(parse("{\n  \"x\": 1,\n  \"y\": tru}", false, &n, &e) == -EINVAL && strstr(e.msg, "3:") == e.msg && strstr(e.msg, "syntax"),
              "syntax error has line:col first (%s)", e.msg);
        CHECK(parse("{\"a\":1,\n\"a\":2}", true, &n, &e) == -EINVAL && strstr(e.msg, "2:1: syntax: duplicate key 'a'"), "duplicate rejected at 2:1 (%s)", e.msg);
        CHECK(parse("{\"a\":1,\"a\":2}", false, &n, &e) == 0, "duplicate accepted when allowed");
        CHECK(json_get(n, "a") && STREQ(json_get(n, "a")->str, "2") && n->n == 1, "last duplicate wins");
        json_free(n);

        char deep[200];
        memset(deep, '[', 65);
        memset(deep + 65, ']', 65);
        deep[130] = '\0';
        CHECK(parse(deep, false, &n, &e) == -E2BIG && strstr(e.msg, "depth"), "65 levels rejected: %s", e.msg);
        deep[64] = '\0';
        memset(deep, '[', 64);
        char ok64[200];
        snprintf(ok64, sizeof ok64, "%s", deep);
        memset(ok64 + 64, ']', 64);
        ok64[128] = '\0';
        CHECK(parse(ok64, false, &n, &e) == 0, "64 levels accepted");
        json_free(n);

        CHECK(parse("{\"a\":\"x\\u0000y\"}", false, &n, &e) == -EBADMSG && strstr(e.msg, "NUL"), "escaped NUL rejected");
        CHECK(json_parse("{\"a\":\0}", 7, NULL, &n, &e) == -EBADMSG, "raw NUL rejected");
        CHECK(parse("", false, &n, &e) == -EINVAL, "empty document rejected");
        CHECK(parse("{} x", false, &n, &e) == -EINVAL && strstr(e.msg, "syntax"), "trailing garbage rejected");
        CHECK(parse("{/*c*/}", false, &n, &e) == -EINVAL, "comments rejected");
        CHECK(parse("{\"a\":\"\xff\"}", false, &n, &e) == -EINVAL, "invalid UTF-8 rejected");
}

static void test_keep(void) {
        static const struct json_keep inner[] = { { "x", NULL }, { NULL, NULL } };
        static const struct json_keep keep[] = { { "a", inner }, { "b", NULL }, { NULL, NULL } };
        struct json_parse_opts o = { .keep = keep };
        struct json_node *n = NULL;
        struct mg_error e = {0};
        const char *src = "{\"a\": {\"x\": 1, \"y\": [1,2]}, \"b\": [{\"z\": 2}], \"c\": {\"big\": [1,2,3]}}";
        CHECK(json_parse(src, strlen(src), &o, &n, &e) == 0, "keep filter parses");
        const struct json_node *a = json_get(n, "a");
        CHECK(n && n->n == 2 && a && a->n == 1 && json_get(a, "x") && !json_get(a, "y") && !json_get(n, "c"), "only kept keys get nodes");
        const struct json_node *b = json_get(n, "b");
        CHECK(b && b->n == 1 && json_get(b->items[0], "z"), "a kept key without children keeps its whole value");
        json_free(n);
        char deep[300] = "{\"c\": ";
        for (int i = 0; i < 70; i++)
                strcat(deep, "[");
        for (int i = 0; i < 70; i++)
                strcat(deep, "]");
        strcat(deep, "}");
        CHECK(json_parse(deep, strlen(deep), &o, &n, &e) == -E2BIG, "depth is enforced inside skipped values");
        const char *nul = "{\"c\": \"a\\u0000\"}";
        CHECK(json_parse(nul, strlen(nul), &o, &n, &e) == -EBADMSG, "NUL is rejected inside skipped values");
        const char *bad = "{\"c\": [1,}";
        CHECK(json_parse(bad, strlen(bad), &o, &n, &e) == -EINVAL && strstr(e.msg, "syntax"), "syntax is checked inside skipped values");
}

static void test_positions(void) {
        struct json_node *n = NULL;
        struct mg_error e;
        CHECK(parse("{\n  \"memory\": {\n    \"min\": \"5X\"\n  }\n}", true, &n, &e) == 0, "parse for positions");
        const struct json_node *m = json_get(n, "memory");
        const struct json_node *v = json_get(m, "min");
        CHECK(v && v->line == 3 && v->col == 12, "value position 3:12 (got %u:%u)", v ? v->line : 0, v ? v->col : 0);
        CHECK(m && m->key_line[0] == 3 && m->key_col[0] == 5, "key position 3:5 (got %u:%u)", m ? m->key_line[0] : 0, m ? m->key_col[0] : 0);
        json_free(n);
}

/* Without .positions nodes carry no position, yet the parser's own errors
 * are located exactly as with it, kept or skipped. */
static void test_errors_without_positions(void) {
        static const struct json_keep keep[] = { { "a", NULL }, { NULL, NULL } };
        struct json_parse_opts with = { .positions = true }, without = {0}, filtered = { .keep = keep };
        struct json_node *n = NULL;
        struct mg_error e1, e2;
        CHECK(json_parse("{\n \"a\": [1]}", 12, &without, &n, &e1) == 0 && json_get(n, "a")->line == 0, "no positions: nodes at 0:0");
        json_free(n);
        n = NULL;
        const char *cases[] = {
                "{\n  \"a\": \"x\\u0000\"}",           /* kept string */
                "{\n  \"b\": \"x\\u0000\"}",           /* string of a skipped key */
                "{\"b\": 1,\n  \"a\\u0000\": 1}",      /* key */
                "{\"a\": 1,\n  \"b\": 2, \n\n x}",      /* syntax */
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                const struct json_parse_opts *o2 = i == 1 ? &filtered : &without;
                e1 = e2 = (struct mg_error) {0};
                int r1 = json_parse(cases[i], strlen(cases[i]), &with, &n, &e1);
                int r2 = json_parse(cases[i], strlen(cases[i]), o2, &n, &e2);
                CHECK(r1 < 0 && r1 == r2 && STREQ(e1.msg, e2.msg), "case %zu located alike: '%s' / '%s'", i, e1.msg, e2.msg);
        }
        char deep[200] = "{\"a\":\n";
        for (int i = 0; i < 70; i++)
                strcat(deep, "[");
        e1 = e2 = (struct mg_error) {0};
        CHECK(json_parse(deep, strlen(deep), &with, &n, &e1) == -E2BIG && json_parse(deep, strlen(deep), &without, &n, &e2) == -E2BIG &&
                      STREQ(e1.msg, e2.msg) && strstr(e1.msg, "2:64:"),
              "depth located alike at 2:64: '%s' / '%s'", e1.msg, e2.msg);
}

/* An object of nkeys keys "k00000".."kNNNNN", one per line (key i on line
 * i + 2, at column 3), then extra (one line each), wrapped in prefix and
 * suffix. */
static char *many_keys(const char *prefix, unsigned nkeys, const char *const *extra, size_t n_extra, const char *suffix) {
        struct strbuf sb = {0};
        strbuf_printf(&sb, "%s{", prefix);
        for (unsigned i = 0; i < nkeys; i++)
                strbuf_printf(&sb, "%s\n  \"k%05u\": %u", i ? "," : "", i, i);
        for (size_t i = 0; i < n_extra; i++)
                strbuf_printf(&sb, ",\n  %s", extra[i]);
        strbuf_printf(&sb, "\n}%s", suffix);
        return sb.oom ? NULL : sb.buf;
}

/* Duplicate keys are found through the index as they were by searching the
 * list: same tree, same first error, same positions, at any size. */
static void test_many_keys(void) {
        const unsigned max = MEMGUARD_MAX_JSON_KEYS;
        struct json_node *n = NULL;
        struct mg_error e = {0};
        const struct json_parse_opts plain = {0}, dups = { .reject_duplicates = true, .positions = true },
                                     last_wins = { .positions = true }, arena = { .arena = true, .positions = true };

        char *doc = many_keys("", max, NULL, 0, "");
        CHECK(doc && json_parse(doc, strlen(doc), &dups, &n, &e) == 0 && n->n == max, "%u distinct keys, duplicates rejected: accepted (%s)", max, e.msg);
        CHECK(n && STREQ(n->keys[max - 1], "k65535") && n->key_line[max - 1] == max + 1 && json_get(n, "k40000") &&
                      STREQ(json_get(n, "k40000")->str, "40000"),
              "the last key is in place, at line %u", max + 1);
        json_free(n);
        n = NULL;
        CHECK(doc && json_paths_agree(doc, strlen(doc), &arena) && json_paths_agree(doc, strlen(doc), &plain),
              "%u keys: the fast path and yajl build the same tree", max);
        free(doc);

        /* duplicates of early and late keys, at the cap: the last wins in
         * the first one's place, or the first duplicate is the error */
        const char *const extra[] = { "\"k00007\": \"seven\"", "\"k65535\": [1]", "\"k00007\": \"again\"" };
        doc = many_keys("", max, extra, ELEMENTSOF(extra), "");
        e = (struct mg_error) {0};
        CHECK(doc && json_parse(doc, strlen(doc), &last_wins, &n, &e) == 0 && n->n == max, "duplicates at the cap: accepted, still %u keys (%s)", max, e.msg);
        CHECK(n && STREQ(n->keys[7], "k00007") && STREQ(n->items[7]->str, "again") && n->key_line[7] == max + 4 &&
                      n->items[max - 1]->type == JSON_ARRAY,
              "the last duplicate wins in the first one's place, with its own position");
        json_free(n);
        n = NULL;
        e = (struct mg_error) {0};
        char want[64];
        snprintf(want, sizeof want, "%u:3: syntax: duplicate key 'k00007'", max + 2);
        CHECK(doc && json_parse(doc, strlen(doc), &dups, &n, &e) == -EINVAL && STREQ(e.msg, want), "the first duplicate is the error: '%s'", e.msg);
        CHECK(doc && json_paths_agree(doc, strlen(doc), &dups) && json_paths_agree(doc, strlen(doc), &last_wins),
              "duplicates at scale: the fast path and yajl agree");
        free(doc);

        /* one key more: an error at that key, naming the object, with or
         * without positions */
        const char *const one_more[] = { "\"k65536\": 0" };
        doc = many_keys("{\"a\": {\"b\": [0, ", max, one_more, 1, "]}}");
        snprintf(want, sizeof want, "%u:3: size: 'a.b[1]' has more than %u keys", max + 2, max);
        e = (struct mg_error) {0};
        CHECK(doc && json_parse(doc, strlen(doc), &plain, &n, &e) == -E2BIG && STREQ(e.msg, want), "%u keys rejected: '%s'", max + 1, e.msg);
        e = (struct mg_error) {0};
        CHECK(doc && json_parse(doc, strlen(doc), &dups, &n, &e) == -E2BIG && STREQ(e.msg, want), "...located alike with positions: '%s'", e.msg);
        CHECK(doc && json_paths_agree(doc, strlen(doc), &plain) && json_paths_agree(doc, strlen(doc), &arena), "...by the fast path and yajl alike");
        free(doc);
        doc = many_keys("", max, one_more, 1, "");
        e = (struct mg_error) {0};
        CHECK(doc && json_parse(doc, strlen(doc), &plain, &n, &e) == -E2BIG && strstr(e.msg, "size: the top-level object has more than"),
              "...at the top level: '%s'", e.msg);
        free(doc);

        /* a smaller cap, as callers may ask; a duplicate at the cap is no new key */
        const struct json_parse_opts three = { .max_keys = 3 };
        const char *small = "{\"x\": {\"a\": 1, \"b\": 2, \"c\": 3, \"a\": 4}, \"y\": {\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4}}";
        e = (struct mg_error) {0};
        CHECK(json_parse(small, strlen(small), &three, &n, &e) == -E2BIG && STREQ(e.msg, "1:71: size: 'y' has more than 3 keys"),
              "max_keys 3: a duplicate at the cap passes, a fourth key is the error: '%s'", e.msg);
        CHECK(json_paths_agree(small, strlen(small), &three), "...the same both ways");

        /* a skipped object is checked, never built: no cap there */
        static const struct json_keep keep_a[] = { { "a", NULL }, { NULL, NULL } };
        const struct json_parse_opts filtered = { .keep = keep_a, .arena = true };
        doc = many_keys("{\"a\": 1, \"skipped\": ", max, one_more, 1, "}");
        e = (struct mg_error) {0};
        CHECK(doc && json_parse(doc, strlen(doc), &filtered, &n, &e) == 0 && n->n == 1, "a skipped object of %u keys costs nothing: '%s'", max + 1, e.msg);
        json_free(n);
        n = NULL;
        free(doc);

        /* many indexed objects in a row after a big one at the same depth */
        struct strbuf sb = {0};
        strbuf_puts(&sb, "[");
        for (unsigned o = 0; o < 2000; o++) {
                strbuf_puts(&sb, o ? ",{" : "{");
                unsigned nk = o == 0 ? 5000 : 20 + o % 7;
                for (unsigned i = 0; i < nk; i++)
                        strbuf_printf(&sb, "%s\"%u\":%u", i ? "," : "", (i * 7919u) % nk, i);
                strbuf_puts(&sb, "}");
        }
        strbuf_puts(&sb, "]");
        bool ok = !sb.oom && json_parse(sb.buf, sb.len, &plain, &n, &e) == 0 && n->n == 2000;
        for (size_t o = 0; ok && o < n->n; o++) {
                size_t nk = o == 0 ? 5000 : 20 + o % 7;
                ok = n->items[o]->n == nk && json_get(n->items[o], "0") && json_get(n->items[o], "19");
        }
        CHECK(ok, "2000 objects at one depth, the first of 5000 keys: each sees only its own keys");
        json_free(n);
        n = NULL;
        strbuf_free(&sb);
}

/* A caller with a deadline gets an error past it, never a late tree. */
static void test_deadline(void) {
        char *doc = many_keys("", 5000, NULL, 0, "");
        struct json_node *n = NULL;
        struct mg_error e = {0};
        const struct json_parse_opts past = { .deadline_usec = 1 }, future = { .deadline_usec = now_usec_monotonic() + 60 * 1000000ull };
        CHECK(doc && json_parse(doc, strlen(doc), &past, &n, &e) == -ETIMEDOUT && strstr(e.msg, ": time: "), "past the deadline: '%s'", e.msg);
        e = (struct mg_error) {0};
        CHECK(doc && json_parse(doc, strlen(doc), &future, &n, &e) == 0 && n->n == 5000, "before it: parsed (%s)", e.msg);
        json_free(n);
        free(doc);
}

static void test_serialize(void) {
        struct json_node *n = NULL;
        struct mg_error e;
        const char *src = "{\"a\":[1,2.50,{\"b\":\"c\\\"d\"}],\"n\":null,\"t\":true}";
        CHECK(parse(src, false, &n, &e) == 0, "parse for round trip");
        struct strbuf sb = {0};
        CHECK(json_serialize(n, false, &sb) == 0 && STREQ(sb.buf, src), "compact round trip is exact: %s", sb.buf);
        strbuf_free(&sb);
        struct json_node *arr = json_new(JSON_ARRAY);
        json_array_append(arr, json_new_string("x"));
        json_object_set(n, "new", arr);
        json_object_set(n, "t", json_new(JSON_FALSE));
        CHECK(json_serialize(n, false, &sb) == 0 && strstr(sb.buf, "\"t\":false") && strstr(sb.buf, "\"new\":[\"x\"]"), "mutation serializes");
        strbuf_free(&sb);
        json_free(n);

        strbuf_json_string(&sb, "a\"b\\c\n\x01\xff%n\xc3\xa9");
        CHECK(STREQ(sb.buf, "\"a\\\"b\\\\c\\n\\u0001\\ufffd%n\xc3\xa9\""), "escaper: %s", sb.buf);
        strbuf_free(&sb);
}

static void test_format_and_join(void) {
        char b[32], small[4];
        CHECK(STREQ(format_cgroup_value(0, b, sizeof b), "0"), "0");
        CHECK(STREQ(format_cgroup_value(67108864, b, sizeof b), "67108864"), "67108864");
        CHECK(STREQ(format_cgroup_value(UINT64_MAX - 1, b, sizeof b), "18446744073709551614"), "UINT64_MAX-1 (%s)", b);
        CHECK(STREQ(format_cgroup_value(MEMGUARD_VALUE_MAX, b, sizeof b), "max"), "max");
        CHECK(STREQ(format_cgroup_value(123456, small, sizeof small), "123"), "cut to the buffer (%s)", small);
        char p[16];
        CHECK(path_join(p, sizeof p, "/a/", "/b") == 0 && STREQ(p, "/a/b"), "slashes collapse (%s)", p);
        CHECK(path_join(p, sizeof p, "", "x") == 0 && STREQ(p, "/x"), "empty root (%s)", p);
        CHECK(path_join(p, sizeof p, "/0123456789", "abc") == 0 && STREQ(p, "/0123456789/abc"), "exactly fits");
        CHECK(path_join(p, sizeof p, "/0123456789", "abcd") == -ENAMETOOLONG, "one byte too long");
}

static void test_util(void) {
        CHECK(container_id_is_valid("abc-1.2+x_y"), "valid id");
        CHECK(!container_id_is_valid("../x") && !container_id_is_valid("a/b") && !container_id_is_valid(".a") &&
                      !container_id_is_valid("") && !container_id_is_valid("a b") && !container_id_is_valid("-a"),
              "invalid ids");
        char big[1100];
        memset(big, 'a', 1025);
        big[1025] = '\0';
        CHECK(!container_id_is_valid(big), "1025-char id rejected");
        big[1024] = '\0';
        CHECK(container_id_is_valid(big), "1024-char id accepted");

        uint64_t v;
        CHECK(parse_cgroup_value("max", &v) == 0 && v == MEMGUARD_VALUE_MAX, "max");
        CHECK(safe_atou64("18446744073709551615", &v) == 0 && v == UINT64_MAX, "u64 max");
        CHECK(safe_atou64("18446744073709551616", &v) == -ERANGE, "u64 overflow");
        CHECK(safe_atou64("12a", &v) == -EINVAL && safe_atou64("", &v) == -EINVAL && safe_atou64("-1", &v) == -EINVAL, "garbage");

        char p[64];
        strcpy(p, "//a///b/");
        CHECK(cgroup_path_normalize(p) == 0 && STREQ(p, "/a/b"), "normalize %s", p);
        strcpy(p, "/a/../b");
        CHECK(cgroup_path_normalize(p) == -EINVAL, "normalize refuses ..");
        strcpy(p, "/a/./b");
        CHECK(cgroup_path_normalize(p) == -EINVAL, "normalize refuses .");

        char cg[512];
        CHECK(cgroup_path_from_config("system.slice:docker:abc", "abc", cg, sizeof cg) == 0 && STREQ(cg, "/system.slice/docker-abc.scope"), "%s", cg);
        CHECK(cgroup_path_from_config(":libpod:abc", "abc", cg, sizeof cg) == 0 && STREQ(cg, "/system.slice/libpod-abc.scope"), "%s", cg);
        CHECK(cgroup_path_from_config("a-b-c.slice:cri:x", "x", cg, sizeof cg) == 0 && STREQ(cg, "/a.slice/a-b.slice/a-b-c.slice/cri-x.scope"), "%s", cg);
        CHECK(cgroup_path_from_config("machine.slice::my.slice", "x", cg, sizeof cg) == 0 && STREQ(cg, "/machine.slice/my.slice"), "%s", cg);
        CHECK(cgroup_path_from_config("bad:x", "x", cg, sizeof cg) < 0, "two-part systemd path refused");
        CHECK(cgroup_path_from_config("a--b.slice:p:x", "x", cg, sizeof cg) < 0, "bad slice refused");
        CHECK(cgroup_path_from_config("", "id1", cg, sizeof cg) == 0 && STREQ(cg, "/id1"), "%s", cg);

        /* bounded reads */
        char tmpl[] = "/tmp/memguard-unit-XXXXXX";
        int fd = mkstemp(tmpl);
        CHECK(fd >= 0, "tmp file");
        if (fd >= 0) {
                CHECK(write(fd, "0123456789", 10) == 10, "write");
                char *buf = NULL;
                size_t len;
                CHECK(read_file_at(AT_FDCWD, tmpl, 10, &buf, &len) == 0 && len == 10, "exactly at the limit");
                free(buf);
                buf = NULL;
                CHECK(read_file_at(AT_FDCWD, tmpl, 9, &buf, &len) == -EFBIG && !buf, "one over the limit");
                CHECK(write(fd, "\0", 1) == 1, "write NUL");
                CHECK(read_file_at(AT_FDCWD, tmpl, 100, &buf, &len) == -EBADMSG && !buf, "NUL rejected");
                close(fd);
                unlink(tmpl);
        }
        struct mg_error e = {0};
        mg_error_set(&e, -EINVAL, "a\nb\tc  ");
        CHECK(STREQ(e.msg, "a b c"), "error text flattened to one line: '%s'", e.msg);
}

/* The fast path must build exactly what yajl builds, or hand over: every
 * document below, in every mode, gives the same result both ways. */
static const struct json_keep fp_keep_in[] = { { "x", NULL }, { NULL, NULL } };
static const struct json_keep fp_keep[] = { { "a", fp_keep_in }, { "b", NULL }, { NULL, NULL } };

static bool agree_all_modes(const char *buf, size_t len) {
        const struct json_parse_opts modes[] = {
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH },
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .reject_duplicates = true, .positions = true },
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .keep = fp_keep },
                { .max_depth = 3 },
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .arena = true },
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .keep = fp_keep, .arena = true, .positions = true, .reject_duplicates = true },
        };
        for (size_t m = 0; m < ELEMENTSOF(modes); m++)
                if (!json_paths_agree(buf, len, &modes[m]))
                        return false;
        return true;
}

static void check_dir_agrees(const char *dir) {
        DIR *d = opendir(dir);
        if (!d) {
                CHECK(false, "fast path: open %s", dir);
                return;
        }
        unsigned n = 0, bad = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
                        continue;
                char path[1024];
                snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
                char *buf = NULL;
                size_t len;
                if (read_file_at(AT_FDCWD, path, 1u << 20, &buf, &len) < 0)
                        continue;
                n++;
                if (!agree_all_modes(buf, len)) {
                        bad++;
                        printf("# fast path and yajl differ on %s\n", path);
                }
                free(buf);
        }
        closedir(d);
        CHECK(n > 0 && bad == 0, "fast path: the %u documents of %s parse the same both ways", n, dir);
}

static void test_fast_path(void) {
        static const char *const docs[] = {
                "{}", "[]", "{\"a\":1}", " {\"a\" : [ 1 , 2 ] } \n", "{\"a\":{\"x\":1,\"y\":2},\"b\":[{\"x\":3}],\"c\":4}",
                "0", "-0", "1.5e+3", "-12.25E-2", "true", "false", "null", "\"s\"", "[true,false,null,\"x\",-1]",
                /* handed to yajl: escapes, non-ASCII, control characters, odd white space */
                "{\"a\":\"x\\\"y\"}", "{\"a\":\"\\u0041\"}", "{\"a\":\"caf\xc3\xa9\"}", "{\"a\":\"tab\there\"}", "{\"a\":\"us\x1f\"}", "{\"a\":\"del\x7f\"}", "{\f\"a\":1}",
                "{\"a\":\"\\u0000\"}",
                /* malformed: yajl's message either way */
                "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}",
                "{\"a\":1e}", "{\"a\":truex}", "{\"a\":tru}", "[1 2]", "{\"a\":1}{", "{\"a\":1} x", "[\"unterminated",
                "{1:2}", "{\"a\":+1}", "nul", "[[[[[[[[[[]]]]]]]]]]",
                /* the callbacks' own errors: duplicate key, depth */
                "{\"a\":1,\"a\":2}", "{\"p\":{\"q\":{\"r\":{}}}}", "[[[[1]]]]",
                "{\n  \"memory\": {\"min\": \"64M\"},\n  \"memory\": {}\n}",
        };
        unsigned bad = 0;
        for (size_t i = 0; i < ELEMENTSOF(docs); i++)
                if (!agree_all_modes(docs[i], strlen(docs[i]))) {
                        bad++;
                        printf("# fast path and yajl differ on: %s\n", docs[i]);
                }
        CHECK(bad == 0, "fast path: %zu crafted documents parse the same both ways", ELEMENTSOF(docs));
        /* deeper than the limit */
        char deep[300];
        memset(deep, '[', 150);
        memset(deep + 150, ']', 150);
        CHECK(agree_all_modes(deep, sizeof deep), "fast path: nesting past the limit fails the same both ways");
        check_dir_agrees("conformance/unit/policy-fixtures");
        check_dir_agrees("examples/policies");
        check_dir_agrees("policy/default");
}

int main(void) {
        test_parse();
        test_positions();
        test_errors_without_positions();
        test_format_and_join();
        test_keep();
        test_serialize();
        test_util();
        test_fast_path();
        test_many_keys();
        test_deadline();
        return test_report();
}
