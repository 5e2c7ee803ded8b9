/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The policy language: parsing and validation of one file, loading the
 * vendor and admin directories, matching a container, merging matches. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "util.h"

/* A size as written: bytes, or a percentage of MemTotal resolved later. */
struct policy_size {
        bool set;
        bool percent;       /* value is a percentage (0..100) */
        uint64_t value;     /* bytes, or percent */
};

enum policy_when { POLICY_WHEN_UNSET = 0, POLICY_WHEN_AUTO, POLICY_WHEN_ALWAYS, POLICY_WHEN_NEVER };
enum policy_on_error { POLICY_ON_ERROR_UNSET = 0, POLICY_ON_ERROR_IGNORE, POLICY_ON_ERROR_FAIL };
enum policy_tristate { POLICY_UNSET = 0, POLICY_FALSE, POLICY_TRUE };

/* Signals that a container's user or its image can set: claims, not facts.
 * A policy names the ones it accepts in "trust" (policy_claim_name() is the
 * word it uses, and the source the outcome record shows).  Zero is "none":
 * a signal from the engine's own records (attested) or no signal at all. */
enum policy_claim {
        POLICY_CLAIM_NONE = 0,
        POLICY_CLAIM_IMAGE_ANNOTATION,  /* oci-memguard.image */
        POLICY_CLAIM_CRI_IMAGE,         /* io.kubernetes.cri.image-name outside containerd's CRI */
        POLICY_CLAIM_CRIO_IMAGE,        /* io.kubernetes.cri-o.ImageName */
        POLICY_CLAIM_REF_NAME,          /* org.opencontainers.image.ref.name */
        POLICY_CLAIM_BUILD_ANNOTATION,  /* oci-memguard.build */
        POLICY_CLAIM_BUILDKIT_HOSTNAME, /* hostname "buildkitsandbox" */
        POLICY_CLAIM_BUILDKIT_CGROUP,   /* a cgroup under /buildkit */
        POLICY_CLAIM_DOCKER_CLASSIC,    /* a Docker container from a bare image id running /bin/sh -c */
        _POLICY_CLAIM_MAX,
};
/* "oci-memguard.image", ...; NULL for POLICY_CLAIM_NONE or out of range. */
const char *policy_claim_name(enum policy_claim c);
/* The claim a trust entry names, or POLICY_CLAIM_NONE when it names none. */
enum policy_claim policy_claim_from_name(const char *name);

struct policy_kv {
        char *key;
        char *value; /* glob */
};

struct policy_match {
        char **images;   size_t n_images;    /* NULL when absent */
        struct policy_kv *annotations; size_t n_annotations;
        char **commands; size_t n_commands;
        char **cgroups;  size_t n_cgroups;
        enum policy_tristate build;
        bool has_images, has_annotations, has_commands, has_cgroups;
};

struct policy_reclaim {
        enum policy_when when;
        struct policy_size available_below;
        bool has_order;     unsigned order;          /* 0..10 */
        bool has_drop_caches; unsigned drop_caches;  /* 0..3 */
        enum policy_tristate compact;
        bool has_timeout_ms; uint64_t timeout_ms;    /* per step; default 2000 */
};

/* "build": {"limit": {...}}: hard limits on a build step's own cgroup
 * (the kernel's memory.max, memory.swap.max, memory.oom.group). */
struct policy_limit {
        struct policy_size max;                      /* memory.max */
        struct policy_size swap_max;                 /* memory.swap.max (swap only) */
        enum policy_tristate oom_group;              /* memory.oom.group=1: kill the step whole */
};
/* A hard limit below this is a typo ("6" for "6G"), not a build step. */
#define POLICY_LIMIT_MIN_BYTES (4u * 1024u * 1024u)

struct policy_build {
        bool has_swappiness; unsigned swappiness;    /* 0..200 */
        struct policy_limit limit;
        struct policy_reclaim reclaim;
        enum policy_tristate detect;                 /* false: builder heuristics off */
        enum policy_tristate builder;                /* this image is a builder:
                                                      * "/bin/sh -c" steps count as builds */
        struct {
                enum policy_when when;               /* reclaim when the last build ends */
                struct policy_size reclaim;          /* how much (memory.reclaim) */
        } after;
};

struct policy_overrides {
        enum policy_tristate annotations;
        struct policy_size max_min;
        struct policy_size max_low;
};

struct policy {
        char *path;          /* file it came from (for merged: NULL) */
        char *name;          /* basename */
        char *description;
        struct policy_match match;
        struct policy_size min, low;
        /* "memory": {"adopt_engine": true}: what the engine asked the
         * runtime for (reservation, unified memory.min/low) becomes part of
         * the container's claim, as if the policy had said it */
        enum policy_tristate adopt_engine;
        struct policy_build build;
        bool has_build;      /* a "build" object was given */
        struct policy_overrides overrides;
        enum policy_on_error on_error;
        uint32_t trust;      /* bit (1 << claim) for each claim in "trust" */
        bool packed;         /* decoded from the policy cache into its
                              * set's arena (struct, arrays and strings):
                              * freed with the set, policy_free leaves it */
};

void policy_free(struct policy *p);

static inline bool policy_trusts(const struct policy *p, enum policy_claim c) {
        return c > POLICY_CLAIM_NONE && c < _POLICY_CLAIM_MAX && (p->trust >> c) & 1u;
}

/* Does the literal start of a pattern (up to its first * ? [ or \, at most
 * len bytes) already differ from s? Then the pattern cannot match s. */
bool policy_glob_prefix_differs(const char *glob, size_t len, const char *s);
static inline void policy_freep(struct policy **p) { if (*p) policy_free(*p); }
#define _cleanup_policy_ _cleanup_(policy_freep)

/* Parses a size: "512", "512K", "2G", "1T", "25%". Suffixes are binary
 * (K = 1024), case-insensitive; no spaces, no fractions; overflow is an
 * error. Percent is 0..100. */
int policy_size_parse(const char *s, struct policy_size *ret);
/* The same with percentages up to max_percent (the host configuration's
 * budgets may be set above 100 %). */
int policy_size_parse_percent(const char *s, uint64_t max_percent, struct policy_size *ret);
/* Resolves against MemTotal (bytes), rounding down to page_size. */
uint64_t policy_size_bytes(const struct policy_size *s, uint64_t mem_total, uint64_t page_size);

/* Parses and validates one policy document. On error: negative errno and
 * err->msg = "PATH:LINE:COL: message" (one line, naming the kind of problem:
 * syntax, depth, unknown key, type, size, NUL ...). */
/* The one error form of every file of the policy language (policies and
 * host.json): "PATH:LINE:COL: message", returning code. */
int policy_error_at(struct mg_error *err, const char *path, unsigned line, unsigned col, int code, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));
/* "//..." and "$schema" keys are comments, in policies and host.json. */
bool policy_is_comment_key(const char *k);
int policy_parse(const char *path, const char *buf, size_t len, struct policy **ret, struct mg_error *err);

/* Opens name relative to dirfd (a symlinked policy is followed and judged by
 * its target's owner and mode, via fstat of the opened file), checks that it
 * is a regular file, owner root and not group/world writable ("owner",
 * "mode"; only when check_owner), the size limit ("size"), then parses.
 * Errors are "PATH:LINE:COL: ..." with display_path; problems of the whole
 * file are at 1:1. */
int policy_load_file(int dirfd, const char *name, const char *display_path, bool check_owner, struct policy **ret, struct mg_error *err);
/* The reading half of policy_load_file, for every root-owned configuration
 * file of the policy language (policies, the host configuration): the same
 * open, type, owner, mode, size (max_bytes) and NUL checks with the same
 * "PATH:LINE:COL: ..." messages; *ret_buf is NUL-terminated. ret_st (may be
 * NULL) receives the stat of the file opened, even when a later check
 * fails. */
struct stat;
int policy_file_read(int dirfd, const char *name, const char *display_path, bool check_owner, size_t max_bytes, char **ret_buf,
                     size_t *ret_len, struct stat *ret_st, struct mg_error *err);

/* A loaded set of policies from the directories, in lexical order of file
 * name, admin masking vendor by name. Invalid files are skipped and their
 * errors collected. */
struct policy_set {
        struct policy **items; size_t n;
        struct mg_error *errors; size_t n_errors;
        struct arena *arena; /* what packed items live in (hook/arena.h) */
};
void policy_set_free(struct policy_set *s);
/* Is name a policy file name: "*.json", not a dot file. */
bool policy_name_is_valid(const char *name);
/* The policy file names of an open directory, sorted with strcmp: the
 * lexically first max + 1 of them, so that the caller can tell "more than
 * max" (*ret_n > max) and name the first file left out, whatever order
 * readdir returns.  Memory stays bounded (at most 2 * (max + 1) names).
 * dirfd is not consumed.  Free with policy_dir_list_free(). */
int policy_dir_list(int dirfd, size_t max, char ***ret, size_t *ret_n);
void policy_dir_list_free(char **names, size_t n);
/* dirs are tried in order; a later dir masks an earlier one for the same file
 * name (vendor first, then admin). A missing directory is not an error; one
 * that exists but cannot be read is an error of the set, as is each invalid
 * file, and more than MEMGUARD_MAX_POLICY_FILES names (the lexically last
 * are left out). Returns negative errno only when out of memory. */
int policy_set_load(const char *const *dirs, size_t n_dirs, bool check_owner, struct policy_set *ret);
/* The same, with the parsed files kept between runs (policy_cache.h);
 * pc NULL: none. */
struct policy_cache;
int policy_set_load_cached(const char *const *dirs, size_t n_dirs, bool check_owner, struct policy_cache *pc, struct policy_set *ret);

/* What the matcher looks at. */
struct policy_subject {
        const char *image;        /* "" when unknown */
        const char *const *annotation_keys; const char *const *annotation_values; size_t n_annotations;
        const char *command;      /* process.args[0], or NULL */
        const char *cgroup;       /* path relative to the cgroup2 root, starting with '/' */
        bool build;
        /* Where image and build came from when a claim said so: a claimed
         * image is matched only by a policy that trusts that claim, and a
         * claimed build counts as one only for such a policy. NONE (zero,
         * the default) when the engine attested it. */
        enum policy_claim image_claim;
        enum policy_claim build_claim;
};

bool policy_matches(const struct policy *p, const struct policy_subject *s);

/* Merges every matching policy of set key by key (later files win) into
 * *ret (fields left unset where no policy set them). ret_matched receives the
 * indices into set->items of the policies that matched (caller frees). */
int policy_merge_matching(const struct policy_set *set, const struct policy_subject *s, struct policy *ret, size_t **ret_matched, size_t *ret_n_matched);
