/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A node's own state file (hook/nodefile.c): its name, a round trip of
 * everything it holds, and every way a file can be corrupt, each named by
 * its field. TAP output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodefile.h"
#include "test-helpers.h"

static void test_name(void) {
        char a[NODE_FILE_NAME_SIZE], b[NODE_FILE_NAME_SIZE], c[NODE_FILE_NAME_SIZE];
        node_file_name("/a/b", a);
        node_file_name("/a/b", b);
        node_file_name("/a/b/", c);
        CHECK(strlen(a) == 37 && strcmp(a + 32, ".json") == 0 && strspn(a, "0123456789abcdef") == 32, "name: 32 hex digits and .json (%s)", a);
        CHECK(strcmp(a, b) == 0 && strcmp(a, c) != 0, "name: one per path");
        char *deep = malloc(4000);
        if (deep) {
                memset(deep, 'x', 3999);
                deep[0] = '/';
                deep[3999] = '\0';
                node_file_name(deep, c);
                CHECK(strlen(c) == 37, "name: fixed length for a path longer than NAME_MAX");
                free(deep);
        }
}

static void test_round_trip(void) {
        struct node_own own[2] = { { .record = "c1.json", .value = { 8u << 20, 0 }, .counted = { true, false } },
                                   { .record = "~0123.json", .value = { 0, 1u << 20 }, .counted = { false, true } } };
        struct node_file nf = { .path = "/sys\"weird\x01/c",
                                .held = { { .managed = true, .orig = 4096, .set = 8192, .prev = 4096 },
                                          { .managed = true, .foreign = true, .orig = 0, .set = UINT64_MAX, .prev = UINT64_MAX } },
                                .n_claims = 5, .below = { 3u << 20, 7u << 20 }, .own = own, .n_own = 2 };
        _cleanup_strbuf_ struct strbuf sb = {0};
        struct mg_error e = {0};
        char name[NODE_FILE_NAME_SIZE];
        node_file_name(nf.path, name);
        struct node_file back = {0};
        int r = node_file_format(&nf, &sb, &e);
        if (r == 0)
                r = node_file_parse(sb.buf, sb.len, name, &back, &e);
        bool same = r == 0 && strcmp(back.path, nf.path) == 0 && memcmp(back.held, nf.held, sizeof nf.held) == 0 && back.n_claims == 5 &&
                    back.below[LV_MIN] == nf.below[LV_MIN] && back.below[LV_LOW] == nf.below[LV_LOW] && back.n_own == 2;
        for (size_t i = 0; same && i < 2; i++)
                same = strcmp(back.own[i].record, own[i].record) == 0 && memcmp(back.own[i].value, own[i].value, sizeof own[i].value) == 0 &&
                       memcmp(back.own[i].counted, own[i].counted, sizeof own[i].counted) == 0;
        CHECK(same, "round trip: held values (max, foreign, mid-write), sums, own records (r=%d %s)\n#   %s", r, e.msg, sb.buf ? sb.buf : "");
        node_file_free(&back);

        struct node_file bare = { .path = "/a" };
        struct strbuf sb2 = {0};
        node_file_name("/a", name);
        r = node_file_format(&bare, &sb2, &e);
        if (r == 0)
                r = node_file_parse(sb2.buf, sb2.len, name, &back, &e);
        CHECK(r == 0 && !back.held[LV_MIN].managed && !back.held[LV_LOW].managed && back.n_own == 0 && back.own, "round trip: nothing held, no own record");
        node_file_free(&back);
        strbuf_free(&sb2);
}

struct corrupt_case {
        const char *name;
        const char *json;
        const char *path_for_name; /* the file's name is this path's */
        const char *want;          /* in the error message */
};

#define OWN1 "[{\"record\":\"c.json\",\"memory.min\":1,\"memory.low\":0,\"counted\":{\"memory.min\":true,\"memory.low\":false}}]"
static const struct corrupt_case corrupt_cases[] = {
        { "not JSON", "{\"path\":", "/a", "" },
        { "not an object", "[]", "/a", "not an object" },
        { "a relative path", "{\"path\":\"a\",\"claims\":0,\"below\":{\"memory.min\":0,\"memory.low\":0},\"own\":[]}", "a", "path" },
        { "a path that is not the file's", "{\"path\":\"/b\",\"claims\":0,\"below\":{\"memory.min\":0,\"memory.low\":0},\"own\":[]}", "/a",
          "does not match the file name" },
        { "no claims", "{\"path\":\"/a\",\"below\":{\"memory.min\":0,\"memory.low\":0},\"own\":[]}", "/a", "claims" },
        { "a negative sum", "{\"path\":\"/a\",\"claims\":1,\"below\":{\"memory.min\":-1,\"memory.low\":0},\"own\":[]}", "/a", "below" },
        { "a sum missing", "{\"path\":\"/a\",\"claims\":1,\"below\":{\"memory.min\":0},\"own\":[]}", "/a", "below: no number memory.low" },
        { "more own records than claims", "{\"path\":\"/a\",\"claims\":0,\"below\":{\"memory.min\":0,\"memory.low\":0},\"own\":" OWN1 "}", "/a", "own" },
        { "a record name with a slash",
          "{\"path\":\"/a\",\"claims\":1,\"below\":{\"memory.min\":0,\"memory.low\":0},\"own\":[{\"record\":\"../x\",\"memory.min\":1,\"memory.low\":0,"
          "\"counted\":{\"memory.min\":true,\"memory.low\":false}}]}",
          "/a", "own[0].record" },
        { "an own record without counted",
          "{\"path\":\"/a\",\"claims\":1,\"below\":{\"memory.min\":0,\"memory.low\":0},\"own\":[{\"record\":\"c.json\",\"memory.min\":1,\"memory.low\":0}]}",
          "/a", "own[0].counted" },
};

static void run_corrupt_case(const struct corrupt_case *tc) {
        char name[NODE_FILE_NAME_SIZE];
        node_file_name(tc->path_for_name, name);
        struct node_file nf = {0};
        struct mg_error e = {0};
        int r = node_file_parse(tc->json, strlen(tc->json), name, &nf, &e);
        CHECK(r == -EINVAL && strstr(e.msg, tc->want), "corrupt: %s (r=%d: %s)", tc->name, r, e.msg);
        if (r == 0)
                node_file_free(&nf);
}

static void test_too_many_own(void) {
        struct strbuf sb = {0};
        strbuf_printf(&sb, "{\"path\":\"/a\",\"claims\":%u,\"below\":{\"memory.min\":0,\"memory.low\":0},\"own\":[", NODE_FILE_MAX_OWN + 1);
        for (unsigned i = 0; i <= NODE_FILE_MAX_OWN; i++)
                strbuf_printf(&sb, "%s{\"record\":\"c%u.json\",\"memory.min\":1,\"memory.low\":0,\"counted\":{\"memory.min\":true,\"memory.low\":false}}",
                              i ? "," : "", i);
        strbuf_puts(&sb, "]}");
        char name[NODE_FILE_NAME_SIZE];
        node_file_name("/a", name);
        struct node_file nf = {0};
        struct mg_error e = {0};
        int r = node_file_parse(sb.buf, sb.len, name, &nf, &e);
        CHECK(r == -EINVAL && strstr(e.msg, "own"), "corrupt: more own records than one cgroup can have (%s)", e.msg);
        if (r == 0)
                node_file_free(&nf);
        strbuf_free(&sb);
}

int main(void) {
        test_name();
        test_round_trip();
        for (size_t i = 0; i < sizeof corrupt_cases / sizeof corrupt_cases[0]; i++)
                run_corrupt_case(&corrupt_cases[i]);
        test_too_many_own();
        return test_report();
}
