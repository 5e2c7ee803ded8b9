/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What each policy file parsed to, kept between container starts (issue 8).
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

#include "../hook/json.h"

#include <fcntl.h>
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
        memcpy(h->magic, "MGPCACH1", 8);
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

/* A string: u32 length (NO_STRING for NULL) and its bytes. *ret is a fresh
 * copy, or NULL. */
static int take_str(struct cursor *c, char **ret) {
        *ret = NULL;
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
        *ret = strndup(s, l);
        return *ret ? 0 : -ENOMEM;
}

static int take_strv(struct cursor *c, size_t n, char ***ret) {
        *ret = NULL;
        if (n == 0)
                return 0;
        if (n > MEMGUARD_MAX_POLICY_BYTES) {
                c->bad = true;
                return -EBADMSG;
        }
        char **v = calloc(n, sizeof *v);
        if (!v)
                return -ENOMEM;
        *ret = v; /* partially filled is fine: policy_free frees what is there */
        for (size_t i = 0; i < n; i++) {
                int r = take_str(c, &v[i]);
                if (r < 0)
                        return r;
                if (!v[i]) {
                        c->bad = true;
                        return -EBADMSG;
                }
        }
        return 0;
}

static int decode_policy(struct cursor *c, struct policy **ret) {
        const void *raw = take(c, sizeof(struct policy));
        if (!raw)
                return -EBADMSG;
        struct policy *p = malloc(sizeof *p);
        if (!p)
                return -ENOMEM;
        memcpy(p, raw, sizeof *p);
        /* every pointer is NULL until decoded, so policy_free is safe at any
         * point; the counts stay until their arrays are decoded */
        size_t n_images = p->match.n_images, n_commands = p->match.n_commands, n_cgroups = p->match.n_cgroups,
               n_ann = p->match.n_annotations;
        p->path = p->name = p->description = NULL;
        p->match.images = p->match.commands = p->match.cgroups = NULL;
        p->match.annotations = NULL;
        p->match.n_images = p->match.n_commands = p->match.n_cgroups = p->match.n_annotations = 0;
        _cleanup_policy_ struct policy *owned = p;
        int r;
        if ((r = take_str(c, &p->path)) < 0 || (r = take_str(c, &p->name)) < 0 || (r = take_str(c, &p->description)) < 0)
                return r;
        if (!p->path || !p->name)
                return -EBADMSG;
        if ((r = take_strv(c, n_images, &p->match.images)) < 0)
                return r;
        p->match.n_images = n_images;
        if ((r = take_strv(c, n_commands, &p->match.commands)) < 0)
                return r;
        p->match.n_commands = n_commands;
        if ((r = take_strv(c, n_cgroups, &p->match.cgroups)) < 0)
                return r;
        p->match.n_cgroups = n_cgroups;
        if (n_ann > 0) {
                if (n_ann > MEMGUARD_MAX_POLICY_BYTES)
                        return -EBADMSG;
                p->match.annotations = calloc(n_ann, sizeof *p->match.annotations);
                if (!p->match.annotations)
                        return -ENOMEM;
                p->match.n_annotations = n_ann;
                for (size_t i = 0; i < n_ann; i++) {
                        if ((r = take_str(c, &p->match.annotations[i].key)) < 0 ||
                            (r = take_str(c, &p->match.annotations[i].value)) < 0)
                                return r;
                        if (!p->match.annotations[i].key || !p->match.annotations[i].value)
                                return -EBADMSG;
                }
        }
        *ret = TAKE_PTR(owned);
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
        pc->buf = malloc((size_t) st.st_size);
        if (!pc->buf)
                return -ENOMEM;
        size_t got = 0;
        while (got < (size_t) st.st_size) {
                ssize_t n = read(fd, pc->buf + got, (size_t) st.st_size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t) n;
        }
        struct cache_header want, have;
        header_init(&want, check_owner);
        if (got != (size_t) st.st_size || (memcpy(&have, pc->buf, sizeof have), have.n = 0, memcmp(&have, &want, sizeof have) != 0)) {
                free(pc->buf);
                pc->buf = NULL;
                return 0;
        }
        memcpy(&have, pc->buf, sizeof have);
        pc->len = got;
        pc->n_cached = have.n;
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
        pc->n_out++;
}

int policy_cache_get(struct policy_cache *pc, const char *path, const struct policy_cache_key *key, struct policy **ret,
                     struct mg_error *err) {
        struct entry e;
        if (!cache_find(pc, path, key, &e)) {
                pc->dirty = true;
                return -ENOENT;
        }
        struct cursor c = { .p = e.result, .end = e.end };
        int32_t code = (int32_t) take_u32(&c);
        int r;
        if (code < 0) {
                char *msg = NULL;
                r = take_str(&c, &msg);
                if (r == 0 && msg)
                        mg_error_set(err, code, "%s", msg);
                free(msg);
                r = r < 0 ? r : code;
        } else
                r = decode_policy(&c, ret);
        if (r == -ENOMEM)
                return r;
        if (r == -EBADMSG && c.bad) {
                pc->dirty = true;
                return -ENOENT;
        }
        /* kept unchanged in the next cache */
        if (pc->writable) {
                strbuf_append(&pc->out, e.start, (size_t) (e.end - e.start));
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

int policy_cache_close(struct policy_cache *pc) {
        int r = 0;
        if (pc->writable && pc->dirfd >= 0 && (pc->dirty || pc->n_used != pc->n_cached) && !pc->out.oom) {
                struct cache_header h;
                header_init(&h, pc->check_owner);
                h.n = pc->n_out;
                struct strbuf file = {0};
                strbuf_append(&file, (const char *) &h, sizeof h);
                strbuf_append(&file, pc->out.buf ? pc->out.buf : "", pc->out.len);
                r = file.oom ? -ENOMEM : write_file_atomic_at(pc->dirfd, pc->name, file.buf, file.len, 0600);
                strbuf_free(&file);
        }
        strbuf_free(&pc->out);
        free(pc->buf);
        *pc = (struct policy_cache) { .dirfd = -1 };
        return r;
}
