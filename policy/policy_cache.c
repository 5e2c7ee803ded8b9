/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What each policy file parsed to, kept between container starts.
 *
 * Every start needs every policy, and reading and parsing 1000 files cost
 * 8 ms a start. The parsed result of each file (or its error) is kept in
 * <state dir>/policy-cache, keyed by what stat says of the file: device,
 * inode, size, mtime, ctime, owner and mode. Any write, chmod, chown,
 * rename over it or symlink retarget changes that key, so the file is read
 * again; an editor's in-place write included. The directory is still listed
 * and every file still stat()ed on every start: a file is never judged by a
 * cache alone.
 *
 * A file changed within the last MIN_AGE seconds is not cached: two writes
 * within one tick of the file system's clock could leave the same mtime and
 * ctime with a different content (git's "racily clean" problem).
 *
 * The cache is only an optimisation: anything odd about it (wrong magic or
 * layout, truncated, another owner) makes every file be read as if it were
 * not there, and it is rewritten. It is written by the same binary that
 * reads it (layout signature below); the state dir is root's (0700), the
 * file 0600, and install.sh removes it on upgrade anyway. */
#include "policy_cache.h"

#include "json.h"
#include "prefault.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_MAX_BYTES (64u * 1024u * 1024u)
#define MIN_AGE_SEC 2
#define NO_STRING UINT32_MAX
#ifndef MEMGUARD_VERSION
#define MEMGUARD_VERSION "dev"
#endif

struct cache_header {
        char magic[8];
        uint32_t layout[6];
        char version[16];
        uint32_t check_owner;
        uint32_t n;
};

static void header_init(struct cache_header *h, bool check_owner) {
        memset(h, 0, sizeof *h);
        /* 2: policies carry "trust"; 3: build steps carry "limit". An
         * older cache is not read. */
        memcpy(h->magic, "MGPCACH3", 8);
        h->layout[0] = (uint32_t) sizeof(struct policy);
        h->layout[1] = (uint32_t) sizeof(struct policy_match);
        h->layout[2] = (uint32_t) sizeof(struct policy_build);
        h->layout[3] = (uint32_t) offsetof(struct policy, overrides);
        h->layout[4] = (uint32_t) offsetof(struct policy, on_error);
        h->layout[5] = (uint32_t) sizeof(struct policy_cache_key);
        snprintf(h->version, sizeof h->version, "%s", MEMGUARD_VERSION);
        h->check_owner = check_owner;
}

void policy_cache_key_of(const struct stat *st, struct policy_cache_key *k) {
        *k = (struct policy_cache_key) {
                .dev = st->st_dev,
                .ino = st->st_ino,
                .size = (uint64_t) st->st_size,
                .mtime_s = (uint64_t) st->st_mtim.tv_sec,
                .mtime_ns = (uint64_t) st->st_mtim.tv_nsec,
                .ctime_s = (uint64_t) st->st_ctim.tv_sec,
                .ctime_ns = (uint64_t) st->st_ctim.tv_nsec,
                .mode = st->st_mode,
                .uid = st->st_uid,
        };
}

/* ---- reading ------------------------------------------------------------ */

struct cursor {
        const char *p, *end;
        bool bad;
};

static const void *take(struct cursor *c, size_t n) {
        if (c->bad || (size_t) (c->end - c->p) < n) {
                c->bad = true;
                return NULL;
        }
        const void *r = c->p;
        c->p += n;
        return r;
}

static uint32_t take_u32(struct cursor *c) {
        const void *p = take(c, sizeof(uint32_t));
        uint32_t v = 0;
        if (p)
                memcpy(&v, p, sizeof v);
        return v;
}

/* A string: u32 length (NO_STRING for NULL) and its bytes, without a NUL
 * inside. *ret points into the cache (not terminated), or is NULL. */
static int take_str_view(struct cursor *c, const char **ret, uint32_t *ret_len) {
        *ret = NULL;
        *ret_len = 0;
        uint32_t l = take_u32(c);
        if (c->bad)
                return -EBADMSG;
        if (l == NO_STRING)
                return 0;
        if (l > MEMGUARD_MAX_POLICY_BYTES) {
                c->bad = true;
                return -EBADMSG;
        }
        const char *s = take(c, l);
        if (!s)
                return -EBADMSG;
        if (memchr(s, '\0', l)) {
                c->bad = true;
                return -EBADMSG;
        }
        *ret = s;
        *ret_len = l;
        return 0;
}

/* A fresh copy of a string (a cached error message), or NULL. */
static int take_str(struct cursor *c, char **ret) {
        const char *s;
        uint32_t l;
        *ret = NULL;
        int r = take_str_view(c, &s, &l);
        if (r < 0 || !s)
                return r;
        *ret = strndup(s, l);
        return *ret ? 0 : -ENOMEM;
}

/* Copies the next string of c to *w (terminated) and points *ret at it.
 * Only after the measuring pass has checked every length and byte. */
static void place_str(struct cursor *c, char **w, char **ret) {
        uint32_t l = take_u32(c);
        *ret = NULL;
        if (l == NO_STRING)
                return;
        const char *s = take(c, l);
        if (!s)
                return;
        memcpy(*w, s, l);
        (*w)[l] = '\0';
        *ret = *w;
        *w += l + 1;
}

/* A policy is decoded into one block of the set's arena (struct, pointer
 * arrays, strings): with 1000 policies, a malloc and a free per string were
 * a quarter of a container start. The strings are measured in a first pass
 * over a copy of the cursor, which also checks every length against the
 * cache's end, so the second pass cannot fail. */
static int decode_policy(struct cursor *c, struct arena **arena, struct policy **ret) {
        const void *raw = take(c, sizeof(struct policy));
        if (!raw)
                return -EBADMSG;
        struct policy hdr;
        memcpy(&hdr, raw, sizeof hdr);
        size_t n_images = hdr.match.n_images, n_commands = hdr.match.n_commands, n_cgroups = hdr.match.n_cgroups,
               n_ann = hdr.match.n_annotations;
        if (n_images > MEMGUARD_MAX_POLICY_BYTES || n_commands > MEMGUARD_MAX_POLICY_BYTES || n_cgroups > MEMGUARD_MAX_POLICY_BYTES ||
            n_ann > MEMGUARD_MAX_POLICY_BYTES) {
                c->bad = true;
                return -EBADMSG;
        }
        size_t n_strings = 3 + n_images + n_commands + n_cgroups + 2 * n_ann, str_bytes = 0;
        struct cursor m = *c;
        for (size_t i = 0; i < n_strings; i++) {
                const char *s;
                uint32_t l;
                if (take_str_view(&m, &s, &l) < 0)
                        break;
                /* only the description may be absent */
                if (!s && i != 2) {
                        m.bad = true;
                        break;
                }
                if (s)
                        str_bytes += (size_t) l + 1;
        }
        if (m.bad) {
                c->bad = true;
                return -EBADMSG;
        }
        size_t n_ptrs = n_images + n_commands + n_cgroups;
        size_t size = sizeof(struct policy) + n_ptrs * sizeof(char *) + n_ann * sizeof(struct policy_kv) + str_bytes;
        struct policy *p = arena_alloc(arena, size);
        if (!p)
                return -ENOMEM;
        *p = hdr;
        p->packed = true;
        char **ptrs = (char **) (p + 1);
        struct policy_kv *kv = (struct policy_kv *) (ptrs + n_ptrs);
        char *w = (char *) (kv + n_ann);
        p->match.images = n_images ? ptrs : NULL;
        p->match.commands = n_commands ? ptrs + n_images : NULL;
        p->match.cgroups = n_cgroups ? ptrs + n_images + n_commands : NULL;
        p->match.annotations = n_ann ? kv : NULL;
        place_str(c, &w, &p->path);
        place_str(c, &w, &p->name);
        place_str(c, &w, &p->description);
        for (size_t i = 0; i < n_ptrs; i++)
                place_str(c, &w, &ptrs[i]);
        for (size_t i = 0; i < n_ann; i++) {
                place_str(c, &w, &kv[i].key);
                place_str(c, &w, &kv[i].value);
        }
        *ret = p;
        return 0;
}

/* One entry: path, key, result (0 and a policy, or an error and its
 * message). */
struct entry {
        const char *start, *end; /* the entry's bytes, to copy it unchanged */
        const char *path;
        uint32_t path_len;
        struct policy_cache_key key;
        const char *result;      /* where the result starts */
};

/* Entries are u32 length-prefixed, so finding one costs no decoding. */
static bool entry_scan(struct cursor *c, struct entry *e) {
        uint32_t len = take_u32(c);
        e->start = c->p - sizeof len;
        const char *body = take(c, len);
        if (!body)
                return false;
        e->end = c->p;
        struct cursor in = { .p = body, .end = e->end };
        e->path_len = take_u32(&in);
        if (in.bad || e->path_len == 0 || e->path_len > 4096)
                return c->bad = true, false;
        e->path = take(&in, e->path_len);
        const void *k = take(&in, sizeof e->key);
        if (!k)
                return c->bad = true, false;
        memcpy(&e->key, k, sizeof e->key);
        e->result = in.p;
        return true;
}

/* One cache per set of policy directories (FNV-1a of their paths): a host
 * has one set, but --policy-dir runs (tests, the bench) must not keep
 * rewriting each other's. */
static void cache_name(const char *const *dirs, size_t n_dirs, char *buf, size_t size) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t d = 0; d < n_dirs; d++)
                for (const char *p = dirs[d];; p++) {
                        h = (h ^ (unsigned char) *p) * 0x100000001b3ull;
                        if (!*p)
                                break;
                }
        snprintf(buf, size, "policy-cache.%016llx", (unsigned long long) h);
}

int policy_cache_open(struct policy_cache *pc, int state_dirfd, const char *const *dirs, size_t n_dirs, bool check_owner, bool writable) {
        *pc = (struct policy_cache) { .dirfd = -1, .check_owner = check_owner, .writable = writable };
        if (state_dirfd < 0)
                return 0;
        pc->dirfd = state_dirfd;
        cache_name(dirs, n_dirs, pc->name, sizeof pc->name);
        _cleanup_close_ int fd = openat(state_dirfd, pc->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return 0; /* no cache yet: every file is read */
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) ||
            st.st_size < (off_t) sizeof(struct cache_header) || st.st_size > (off_t) CACHE_MAX_BYTES)
                return 0;
        /* Read, not mapped: a cache truncated in place under a mapping
         * (an operator's ": > policy-cache.*") would kill the hook with
         * SIGBUS. The heap it is read into is reserved populated first:
         * every page of it is written, and one madvise maps them for less
         * than their faults cost on any machine (lib/prefault.c), with room
         * for the few policies a start decodes (policy_cache.filter). */
        size_t size = (size_t) st.st_size;
        prefault_heap(size + 64u * 1024u);
        char *buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        size_t got = 0;
        while (got < size) {
                ssize_t n = read(fd, buf + got, size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t) n;
        }
        struct cache_header want, have = {0};
        header_init(&want, check_owner);
        if (got == size)
                memcpy(&have, buf, sizeof have);
        uint32_t n = have.n;
        have.n = 0;
        if (got != size || memcmp(&have, &want, sizeof have) != 0) {
                free(buf);
                return 0;
        }
        pc->buf = buf;
        pc->len = size;
        pc->n_cached = n;
        pc->next = sizeof(struct cache_header);
        return 0;
}

/* Entries are looked up in the order they were written, which is the
 * order files are loaded in: the next entry is almost always the one.
 * Otherwise (files added or removed) a scan from the start. */
static bool cache_find(struct policy_cache *pc, const char *path, const struct policy_cache_key *key, struct entry *ret) {
        if (!pc->buf)
                return false;
        size_t l = strlen(path);
        for (int pass = 0; pass < 2; pass++) {
                struct cursor c = { .p = pc->buf + (pass == 0 ? pc->next : sizeof(struct cache_header)), .end = pc->buf + pc->len };
                struct entry e;
                while (c.p < c.end && entry_scan(&c, &e)) {
                        if (e.path_len == l && memcmp(e.path, path, l) == 0) {
                                if (memcmp(&e.key, key, sizeof *key) != 0)
                                        return false;
                                pc->next = (size_t) (e.end - pc->buf);
                                *ret = e;
                                return true;
                        }
                        if (pass == 0)
                                break; /* not the next one: scan from the start */
                }
        }
        return false;
}

/* ---- writing ------------------------------------------------------------- */

static void put_u32(struct strbuf *sb, uint32_t v) { strbuf_append(sb, (const char *) &v, sizeof v); }

static void put_str(struct strbuf *sb, const char *s) {
        if (!s) {
                put_u32(sb, NO_STRING);
                return;
        }
        size_t l = strlen(s);
        put_u32(sb, (uint32_t) l);
        strbuf_append(sb, s, l);
}

static void encode_policy(struct strbuf *sb, const struct policy *p) {
        struct policy raw = *p;
        /* no addresses in the file: pointers are rebuilt on reading */
        raw.path = raw.name = raw.description = NULL;
        raw.match.images = raw.match.commands = raw.match.cgroups = NULL;
        raw.match.annotations = NULL;
        strbuf_append(sb, (const char *) &raw, sizeof raw);
        put_str(sb, p->path);
        put_str(sb, p->name);
        put_str(sb, p->description);
        for (size_t i = 0; i < p->match.n_images; i++)
                put_str(sb, p->match.images[i]);
        for (size_t i = 0; i < p->match.n_commands; i++)
                put_str(sb, p->match.commands[i]);
        for (size_t i = 0; i < p->match.n_cgroups; i++)
                put_str(sb, p->match.cgroups[i]);
        for (size_t i = 0; i < p->match.n_annotations; i++) {
                put_str(sb, p->match.annotations[i].key);
                put_str(sb, p->match.annotations[i].value);
        }
}

static bool old_enough(const struct policy_cache_key *k) {
        struct timespec now;
        if (clock_gettime(CLOCK_REALTIME, &now) < 0)
                return false;
        uint64_t newest = k->ctime_s > k->mtime_s ? k->ctime_s : k->mtime_s;
        return newest + MIN_AGE_SEC < (uint64_t) now.tv_sec;
}

/* Appends a run of bytes to the next cache, joined to the last run when
 * it continues it (the usual case: one run for the whole file). */
static void piece_add(struct policy_cache *pc, bool from_out, size_t start, size_t end) {
        if (pc->n_pieces > 0) {
                struct policy_cache_piece *last = &pc->pieces[pc->n_pieces - 1];
                if (last->from_out == from_out && last->end == start) {
                        last->end = end;
                        return;
                }
        }
        if (pc->n_pieces == pc->cap_pieces) {
                size_t nc = pc->cap_pieces ? pc->cap_pieces * 2 : 16;
                struct policy_cache_piece *np = realloc(pc->pieces, nc * sizeof *np);
                if (!np) {
                        pc->oom = true;
                        return;
                }
                pc->pieces = np;
                pc->cap_pieces = nc;
        }
        pc->pieces[pc->n_pieces++] = (struct policy_cache_piece) { .from_out = from_out, .start = start, .end = end };
}

/* Starts an entry; returns where its length goes (filled in by out_entry_end). */
static size_t out_entry_start(struct policy_cache *pc, const char *path, const struct policy_cache_key *key) {
        size_t at = pc->out.len;
        put_u32(&pc->out, 0);
        put_u32(&pc->out, (uint32_t) strlen(path));
        strbuf_append(&pc->out, path, strlen(path));
        strbuf_append(&pc->out, (const char *) key, sizeof *key);
        return at;
}

static void out_entry_end(struct policy_cache *pc, size_t at) {
        if (pc->out.oom)
                return;
        uint32_t len = (uint32_t) (pc->out.len - at - sizeof len);
        memcpy(pc->out.buf + at, &len, sizeof len);
        piece_add(pc, true, at, pc->out.len);
        pc->n_out++;
}

/* Does one of the n patterns at c match s (NULL: not asked, the cursor
 * only moves on)? A pattern longer than the buffer counts as matching: the
 * matcher decides. */
static int cached_globs_match(struct cursor *c, size_t n, const char *s, bool *ret) {
        bool any = false;
        for (size_t i = 0; i < n; i++) {
                const char *g;
                uint32_t l;
                if (take_str_view(c, &g, &l) < 0 || !g)
                        return -EBADMSG;
                if (any || !s || policy_glob_prefix_differs(g, l, s))
                        continue;
                char buf[512];
                if (l >= sizeof buf) {
                        any = true;
                        continue;
                }
                memcpy(buf, g, l);
                buf[l] = '\0';
                any = fnmatch(buf, s, 0) == 0;
        }
        *ret = any;
        return 0;
}

/* Can the cached policy at c match this container? Its image, command and
 * cgroup patterns are tested as policy_matches() tests them (annotations
 * and the build flag are left to it): with 1000 policies nearly all are
 * ruled out here without being decoded. Anything unexpected (an error
 * entry, a damaged entry) is left to the decoder. */
static bool entry_rules_out(struct cursor c, const struct policy_subject *s) {
        if ((int32_t) take_u32(&c) < 0)
                return false;
        const void *raw = take(&c, sizeof(struct policy));
        if (!raw)
                return false;
        struct policy hdr;
        memcpy(&hdr, raw, sizeof hdr);
        const struct policy_match *m = &hdr.match;
        for (int i = 0; i < 3; i++) { /* path, name, description */
                const char *str;
                uint32_t l;
                if (take_str_view(&c, &str, &l) < 0)
                        return false;
        }
        bool hit;
        const char *image = s->image && s->image[0] ? s->image : NULL;
        if (cached_globs_match(&c, m->n_images, image, &hit) < 0)
                return false;
        if (m->has_images && (!image || !hit || (s->image_claim != POLICY_CLAIM_NONE && !policy_trusts(&hdr, s->image_claim))))
                return true;
        if (cached_globs_match(&c, m->n_commands, s->command, &hit) < 0)
                return false;
        if (m->has_commands && (!s->command || !hit))
                return true;
        const char *cgroup = s->cgroup && s->cgroup[0] ? s->cgroup : NULL;
        if (cached_globs_match(&c, m->n_cgroups, cgroup, &hit) < 0)
                return false;
        return m->has_cgroups && (!cgroup || !hit);
}

int policy_cache_get(struct policy_cache *pc, const char *path, const struct policy_cache_key *key, struct policy **ret,
                     struct mg_error *err) {
        struct entry e;
        if (!cache_find(pc, path, key, &e)) {
                pc->dirty = true;
                return POLICY_CACHE_MISS;
        }
        struct cursor c = { .p = e.result, .end = e.end };
        if (pc->filter && entry_rules_out(c, pc->filter)) {
                if (pc->writable) {
                        piece_add(pc, false, (size_t) (e.start - pc->buf), (size_t) (e.end - pc->buf));
                        pc->n_out++;
                }
                pc->n_used++;
                return POLICY_CACHE_RULED_OUT;
        }
        int32_t code = (int32_t) take_u32(&c);
        int r;
        if (code < 0) {
                char *msg = NULL;
                r = take_str(&c, &msg);
                if (r == 0)
                        (void) mg_error_set(err, code, "%s", msg ? msg : strerror(-code));
                free(msg);
                r = r < 0 ? r : code;
        } else {
                r = decode_policy(&c, &pc->arena, ret);
                if (r < 0 && r != -ENOMEM)
                        (void) mg_error_set(err, r, "%s: policy cache entry: %s", path, strerror(-r));
        }
        if (r == -ENOMEM)
                return mg_error_oom(err);
        if (r == -EBADMSG && c.bad) {
                pc->dirty = true;
                return POLICY_CACHE_MISS;
        }
        /* kept unchanged in the next cache */
        if (pc->writable) {
                piece_add(pc, false, (size_t) (e.start - pc->buf), (size_t) (e.end - pc->buf));
                pc->n_out++;
        }
        pc->n_used++;
        return r;
}

void policy_cache_put(struct policy_cache *pc, const char *path, const struct policy_cache_key *key, int r, const struct policy *p,
                      const struct mg_error *err) {
        if (!pc->writable || r == -ENOMEM)
                return;
        if (!old_enough(key)) {
                pc->dirty = true; /* a later start caches it */
                return;
        }
        size_t at = out_entry_start(pc, path, key);
        put_u32(&pc->out, (uint32_t) (r < 0 ? r : 0));
        if (r < 0)
                put_str(&pc->out, err ? err->msg : "");
        else
                encode_policy(&pc->out, p);
        out_entry_end(pc, at);
}

struct arena *policy_cache_take_arena(struct policy_cache *pc) { return TAKE_PTR(pc->arena); }

int policy_cache_close(struct policy_cache *pc) {
        int r = 0;
        if (pc->writable && pc->dirfd >= 0 && (pc->dirty || pc->n_used != pc->n_cached) && !pc->out.oom && !pc->oom) {
                struct cache_header h;
                header_init(&h, pc->check_owner);
                h.n = pc->n_out;
                size_t total = sizeof h;
                for (size_t i = 0; i < pc->n_pieces; i++)
                        total += pc->pieces[i].end - pc->pieces[i].start;
                _cleanup_free_ char *file = malloc(total);
                if (!file)
                        r = -ENOMEM;
                else {
                        memcpy(file, &h, sizeof h);
                        size_t at = sizeof h;
                        for (size_t i = 0; i < pc->n_pieces; i++) {
                                const struct policy_cache_piece *pp = &pc->pieces[i];
                                memcpy(file + at, (pp->from_out ? pc->out.buf : pc->buf) + pp->start, pp->end - pp->start);
                                at += pp->end - pp->start;
                        }
                        r = write_file_atomic_at(pc->dirfd, pc->name, file, total, 0600);
                }
        }
        strbuf_free(&pc->out);
        free(pc->pieces);
        arena_free(pc->arena);
        free((char *) pc->buf);
        *pc = (struct policy_cache) { .dirfd = -1 };
        return r;
}
