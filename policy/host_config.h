/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The host configuration, /etc/oci-memguard/host.json: settings of the host
 * rather than of a container (the protection budget first; more keys join
 * the table in host_config.c).  Same language and same strictness as a
 * policy: unknown keys, wrong types and bad sizes are errors reported as
 * one "FILE:LINE:COL: message" line; the file must be root's and not group
 * or world writable (a symlink is judged by its target).  No file at all
 * means the defaults; an invalid file is ignored as a whole and the
 * defaults apply (the hook never fails a start for it). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define HOST_CONFIG_PATH "/etc/oci-memguard/host.json"
#define HOST_CONFIG_MAX_BYTES (64u * 1024u)
/* Budgets above 100 % are allowed (doctor warns); beyond this it is a typo. */
#define HOST_CONFIG_MAX_PERCENT 1000u

/* A cap as written: a size of the policy language (bytes, K/M/G/T, N% of
 * MemTotal), or "max": no cap. */
struct host_cap {
        bool unlimited;
        struct policy_size size;
};

struct host_config {
        struct {
                /* the most memory.min the top of the cgroup tree may hold */
                struct host_cap min;
                /* the most memory min and low together may shield from
                 * reclaim: max(min, low) per cgroup, summed (budget.h) */
                struct host_cap protection;
        } budget;
        /* node_exporter's textfile directory the hook keeps its metrics
         * file in; "" (the default): no metrics file */
        char metrics_dir[256];
        bool from_file;     /* the file existed and was valid */
};

/* The kinds of value a key can hold. */
enum host_key_type {
        HOST_KEY_CAP,       /* struct host_cap; hi: the largest percentage */
        HOST_KEY_UINT,      /* uint64_t in [lo, hi] */
        HOST_KEY_BOOL,      /* bool */
        HOST_KEY_PATH,      /* char[size]: an absolute path, no "." or "..";
                             * "" for not set */
};

/* One key of the file. Objects are implied by the dots: "budget.min" makes
 * "budget" an object that allows "min". def is the value used when the key
 * is absent, written as in the file (a JSON string's content, or the text
 * of a number or of true/false). */
struct host_key {
        const char *key;
        enum host_key_type type;
        size_t offset;      /* into the configuration struct */
        size_t size;        /* HOST_KEY_PATH: the buffer's size */
        uint64_t lo, hi;
        const char *def;
};

/* The keys of struct host_config, for callers that list them (policy check,
 * documentation tests). */
extern const struct host_key host_config_keys[];
extern const size_t host_config_n_keys;

/* The defaults, as with no file at all. */
void host_config_defaults(struct host_config *ret);

/* Parses and validates one document against a table of keys into ret (the
 * struct the offsets point into, defaults already in place for what the
 * document leaves out).  On error: negative errno, err->msg is
 * "PATH:LINE:COL: message", and ret is left as it was.  The table is a
 * parameter so that the unit tests cover every type. */
int host_config_parse_table(const struct host_key *keys, size_t n_keys, const char *path, const char *buf, size_t len, void *ret,
                            size_t ret_size, struct mg_error *err);
/* The same for struct host_config; *ret always holds a usable
 * configuration afterwards (the defaults when the document is invalid). */
int host_config_parse(const char *path, const char *buf, size_t len, struct host_config *ret, struct mg_error *err);
/* Sets defaults for every key of the table (fails only for a bad default:
 * a programming error the unit tests catch). */
int host_config_defaults_table(const struct host_key *keys, size_t n_keys, void *ret, size_t ret_size);

/* Reads <sysroot>/etc/oci-memguard/host.json with the policy loader's
 * checks (owner and mode only when check_owner).  A missing file is the
 * defaults and returns 0 (from_file false).  Any other problem: the
 * defaults, a negative errno and err->msg one line naming the file.
 * display_path (may be NULL) receives the path it read, for messages. */
int host_config_load(const char *sysroot, bool check_owner, struct host_config *ret, char *display_path, size_t display_size,
                     struct mg_error *err);
/* The same for a given path (policy check FILE); a missing file is
 * -ENOENT here (with err set), a dangling symlink -ENOLINK. */
int host_config_load_path(const char *path, bool check_owner, struct host_config *ret, struct mg_error *err);

/* "50%", "4294967296", "max": the cap as the operator would write it. */
const char *host_cap_format(const struct host_cap *c, char *buf, size_t size);
/* The cap in bytes for this MemTotal, rounded down to page_size;
 * UINT64_MAX for "max". */
uint64_t host_cap_bytes(const struct host_cap *c, uint64_t mem_total, uint64_t page_size);
