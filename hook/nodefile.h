/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* One held cgroup's state in its own small file, nodes/<name>.json, so a
 * run reads and writes only the nodes of the chains it changes: the
 * values held there (as ledger.json's entries), and what the claims at or
 * below it add up to (plan.h: struct node_summary), with the records whose
 * cgroup is exactly this node written out. Pure: buffers in and out; the
 * caller reads and writes the files. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "plan.h"
#include "util.h"

/* "<32 hex digits of the sha-256 of the path>.json" and its NUL. */
#define NODE_FILE_NAME_SIZE (32 + 5 + 1)
/* Records in one cgroup: more than this is not a container runtime's doing. */
#define NODE_FILE_MAX_OWN 256u

struct node_own {
        char *record;           /* the record's file name in containers/ */
        uint64_t value[LV_N];   /* its claim */
        bool counted[LV_N];     /* the last plan counted it */
};

struct node_file {
        char *path;                   /* the cgroup, normalised */
        struct held_value held[LV_N];
        uint64_t n_claims;            /* live claims at or below */
        uint64_t below[LV_N];         /* counted claim values strictly below */
        struct node_own *own;
        size_t n_own;
};

void node_file_free(struct node_file *nf);

/* The file name of a node: fixed length whatever the path (a path is up
 * to PATH_MAX, a name up to NAME_MAX). */
void node_file_name(const char *path, char ret[NODE_FILE_NAME_SIZE]);

/* The held values as ledger.json writes them: {"orig","set","prev","foreign"}. */
void held_value_json_format(struct strbuf *sb, const char *key, const struct held_value *v);
void held_value_json_parse(const struct json_node *n, struct held_value *ret);

/* 0 or -ENOMEM (err filled). */
int node_file_format(const struct node_file *nf, struct strbuf *sb, struct mg_error *err);

/* Parses a node file read from name: 0, or -EINVAL / -ENOMEM with err
 * naming the field. A path that does not give the name back, an own list
 * longer than NODE_FILE_MAX_OWN or a record name that is not a plain file
 * name make the file corrupt: the caller then plans over every record. */
int node_file_parse(const char *buf, size_t len, const char *name, struct node_file *ret, struct mg_error *err);
