/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the bounded JSON reader in its modes (state/config: last
 * duplicate wins; policies: duplicates rejected, with positions; config.json:
 * keep filter; the last two also into an arena; a small cap on keys per
 * object), then a serialize/re-parse
 * round trip of what it built. In every mode the fast path and yajl alone
 * must agree: same result, same error message, same tree and positions. */
#include <string.h>

#include "json-compare.h"
#include "json.h"

static const struct json_keep keep_in[] = { { "x", NULL }, { NULL, NULL } };
static const struct json_keep keep[] = { { "a", keep_in }, { "b", NULL }, { NULL, NULL } };

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        const struct json_parse_opts modes[] = {
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH },
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .reject_duplicates = true, .positions = true },
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .keep = keep },
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .keep = keep, .arena = true },
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .reject_duplicates = true, .positions = true, .arena = true },
                /* a small key cap, and one past the size at which objects
                 * get a key index: both reached by inputs of a few hundred
                 * bytes */
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .max_keys = 4 },
                { .max_depth = MEMGUARD_MAX_JSON_DEPTH, .max_keys = 20, .reject_duplicates = true, .positions = true, .arena = true },
        };
        for (size_t m = 0; m < ELEMENTSOF(modes); m++) {
                if (!json_paths_agree((const char *) data, size, &modes[m]))
                        __builtin_trap();
                struct json_node *n = NULL;
                struct mg_error e = {0};
                if (json_parse((const char *) data, size, &modes[m], &n, &e) < 0) {
                        /* errors are one line */
                        if (strchr(e.msg, '\n'))
                                __builtin_trap();
                        continue;
                }
                struct strbuf sb = {0};
                if (json_serialize(n, m == 1, &sb) == 0 && m == 0) {
                        struct json_node *n2 = NULL;
                        if (json_parse(sb.buf, sb.len, &modes[0], &n2, &e) < 0)
                                __builtin_trap(); /* what we write we must read */
                        json_free(n2);
                }
                strbuf_free(&sb);
                json_free(n);
        }
        return 0;
}
