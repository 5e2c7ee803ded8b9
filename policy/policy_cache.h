/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The parsed result of each policy file, kept between container starts in
 * <state dir>/policy-cache.<hash> and trusted only while stat() of the file says
 * exactly what it said when it was parsed (policy_cache.c says why that is
 * safe). */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "json.h"
#include "policy.h"

struct policy_cache_key {
        uint64_t dev, ino, size, mtime_s, mtime_ns, ctime_s, ctime_ns;
        uint32_t mode, uid;
};
void policy_cache_key_of(const struct stat *st, struct policy_cache_key *k);

/* A run of bytes of the next cache: unchanged entries of the one mapped,
 * or entries of this run in out. */
struct policy_cache_piece {
        bool from_out;
        size_t start, end;
};

struct policy_cache {
        int dirfd;               /* the state dir (not owned), -1: no cache */
        char name[32];           /* policy-cache.<hash of the directories> */
        bool check_owner, writable, dirty;
        const char *buf;         /* the cache as read */
        size_t len, next;        /* next: where the next lookup starts */
        uint32_t n_cached, n_used, n_out;
        struct strbuf out;       /* entries parsed in this run */
        /* The next cache, in load order. Only written when something
         * changed: an unchanged entry is not copied until then. */
        struct policy_cache_piece *pieces;
        size_t n_pieces, cap_pieces;
        bool oom;
        struct arena *arena;     /* the policies decoded from it */
        /* Not NULL: a container start for this subject. A cached policy
         * its image, command or cgroup patterns rule out is not decoded:
         * policy_cache_get says POLICY_CACHE_RULED_OUT, and the set goes
         * without it. */
        const struct policy_subject *filter;
};

/* Reads the cache of state_dirfd (-1: none). A missing or unusable cache is
 * no error: every file is read. writable=false (dry run): never written. */
int policy_cache_open(struct policy_cache *pc, int state_dirfd, const char *const *dirs, size_t n_dirs, bool check_owner, bool writable);
/* What policy_cache_get says besides a policy or the file's error. Neither
 * is a failure, so err is left alone: with a thousand policies, most are
 * ruled out on every start, and formatting a message for each one cost more
 * than the lookups themselves. */
enum {
        POLICY_CACHE_MISS = 1,      /* not cached, or its entry is damaged: read the file */
        POLICY_CACHE_RULED_OUT = 2, /* cached, and it cannot match pc->filter */
};
/* The cached result for the file at path with stat key: 0 and *ret, or the
 * file's error (negative, err filled), or one of the above. */
int policy_cache_get(struct policy_cache *pc, const char *path, const struct policy_cache_key *key, struct policy **ret,
                     struct mg_error *err);
/* Remembers what reading the file gave (r: 0 with p, or its error). */
void policy_cache_put(struct policy_cache *pc, const char *path, const struct policy_cache_key *key, int r, const struct policy *p,
                      const struct mg_error *err);
/* The arena the policies it returned live in: the caller's to free (a
 * policy_set's). */
struct arena *policy_cache_take_arena(struct policy_cache *pc);
/* Writes the cache if anything changed; frees (and the arena, if not
 * taken). */
int policy_cache_close(struct policy_cache *pc);
