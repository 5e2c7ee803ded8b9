/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Policy files from disk: one file with its ownership checks, and the set of
 * the vendor and admin directories.
 *
 * The hook runs as root and a policy decides what it writes into cgroupfs
 * and sysctls, so a file anyone but root can change is refused ("owner",
 * "mode").  Every problem with one file is collected and that file alone is
 * ignored: the other files still apply. */
#include "policy.h"
#include "policy_cache.h"

#include <stddef.h>

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Where the first NUL byte of the file is (read_fd_bounded only says that
 * there is one): the message should point at it like every other error.
 * Bounded by the file's size limit. */
static void nul_position(int fd, size_t max_bytes, unsigned *ret_line, unsigned *ret_col) {
        char chunk[4096];
        unsigned line = 1, col = 1;
        for (off_t off = 0; off < (off_t) max_bytes;) {
                ssize_t n = pread(fd, chunk, sizeof chunk, off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                for (ssize_t i = 0; i < n; i++) {
                        if (chunk[i] == '\0') {
                                *ret_line = line;
                                *ret_col = col;
                                return;
                        }
                        if (chunk[i] == '\n') {
                                line++;
                                col = 1;
                        } else
                                col++;
                }
                off += n;
        }
        *ret_line = 1;
        *ret_col = 1;
}

int policy_file_read(int dirfd, const char *name, const char *display_path, bool check_owner, size_t max_bytes, char **ret_buf,
                     size_t *ret_len, struct stat *ret_st, struct mg_error *err) {
        assert(name);
        assert(display_path);
        assert(ret_buf);
        assert(ret_len);
        /* Problems of the file as a whole (owner, mode, size, not a regular
         * file) are reported at 1:1 so that every policy error has the one
         * FILE:LINE:COL form that editors and `policy check` users expect.
         *
         * A symlinked policy is allowed (packagers and config management
         * use them), and judged by what it points to: fstat after open sees
         * the target's owner and mode, and the file checked is the file read.
         * O_NONBLOCK: a FIFO named *.json must not hang the hook in open(). */
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return mg_error_set(err, -errno, "%s:1:1: cannot open: %m", display_path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return mg_error_set(err, -errno, "%s:1:1: cannot stat: %m", display_path);
        if (ret_st)
                *ret_st = st;
        if (!S_ISREG(st.st_mode))
                return mg_error_set(err, -EINVAL, "%s:1:1: type: not a regular file: refused", display_path);
        if (check_owner && st.st_uid != 0)
                return mg_error_set(err, -EPERM, "%s:1:1: owner: owned by uid %u, not root: refused", display_path, (unsigned) st.st_uid);
        if (check_owner && (st.st_mode & (S_IWGRP | S_IWOTH)))
                return mg_error_set(err, -EPERM, "%s:1:1: mode: %04o is group or world writable: refused", display_path,
                                    (unsigned) (st.st_mode & 07777));
        /* st_size first so that a huge file is not read at all; the bounded
         * read below still holds if the file grows in between. */
        if (st.st_size > (off_t) max_bytes)
                return mg_error_set(err, -EFBIG, "%s:1:1: size: larger than %zu bytes", display_path, max_bytes);
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_fd_bounded(fd, max_bytes, &buf, &len);
        if (r == -EFBIG)
                return mg_error_set(err, r, "%s:1:1: size: larger than %zu bytes", display_path, max_bytes);
        if (r == -EBADMSG) {
                unsigned line, col;
                nul_position(fd, max_bytes, &line, &col);
                return mg_error_set(err, r, "%s:%u:%u: NUL: the file contains a NUL byte", display_path, line, col);
        }
        if (r < 0)
                return mg_error_set(err, r, "%s:1:1: cannot read: %s", display_path, strerror(-r));
        *ret_buf = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

static int load_file(int dirfd, const char *name, const char *display_path, bool check_owner, struct policy **ret, struct mg_error *err,
                     struct stat *ret_st) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = policy_file_read(dirfd, name, display_path, check_owner, MEMGUARD_MAX_POLICY_BYTES, &buf, &len, ret_st, err);
        if (r < 0)
                return r;
        return policy_parse(display_path, buf, len, ret, err);
}

int policy_load_file(int dirfd, const char *name, const char *display_path, bool check_owner, struct policy **ret, struct mg_error *err) {
        return load_file(dirfd, name, display_path, check_owner, ret, err, NULL);
}

/* One file through the cache: stat it (following a symlink, as open
 * does), take the cached result while the stat key is unchanged, else read
 * it and remember what that gave under the key of the file actually read. */
static int load_file_cached(struct policy_cache *pc, int dirfd, const char *name, const char *display_path, bool check_owner,
                            struct policy **ret, struct mg_error *err) {
        struct stat st;
        struct policy_cache_key key;
        if (pc && fstatat(dirfd, name, &st, 0) == 0) {
                policy_cache_key_of(&st, &key);
                int r = policy_cache_get(pc, display_path, &key, ret, err);
                if (r != POLICY_CACHE_MISS)
                        return r;
        }
        st = (struct stat) {0};
        int r = load_file(dirfd, name, display_path, check_owner, ret, err, &st);
        if (pc && st.st_ino != 0) {
                policy_cache_key_of(&st, &key);
                policy_cache_put(pc, display_path, &key, r, *ret, err);
        }
        return r;
}

bool policy_name_is_valid(const char *name) {
        /* "*.json" as the shell would expand it: dot files (editor and
         * package manager leftovers such as ".10-ci.json.swp" or
         * ".#10-ci.json") are not policies. */
        size_t l = strlen(name);
        return name[0] != '.' && l > 5 && STREQ(name + l - 5, ".json");
}

void policy_set_free(struct policy_set *s) {
        for (size_t i = 0; i < s->n; i++)
                policy_free(s->items[i]);
        free(s->items);
        free(s->errors);
        arena_free(s->arena);
        *s = (struct policy_set) {0};
}

static int policy_set_add_error(struct policy_set *s, const struct mg_error *e) {
        struct mg_error *n = realloc(s->errors, (s->n_errors + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        s->errors = n;
        s->errors[s->n_errors++] = *e;
        return 0;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *) a, *(char *const *) b); }

void policy_dir_list_free(char **names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

struct name_list {
        char **v;
        size_t n;
};

static void name_list_done(struct name_list *l) { policy_dir_list_free(l->v, l->n); }

int policy_dir_list(int dirfd, size_t max, char ***ret, size_t *ret_n) {
        /* The input limits allow at most max files. Which ones must not depend on
         * readdir order, so the lexically first max + 1 are kept: when the
         * buffer of 2 * (max + 1) fills up it is sorted and cut back to
         * max + 1. */
        if (max >= SIZE_MAX / 2 - 1)
                return -EINVAL;
        size_t keep = max + 1, cap = 2 * keep;
        _cleanup_(name_list_done) struct name_list l = {0};
        _cleanup_(closedirp) DIR *d = NULL;
        int r = opendir_at(dirfd, ".", &d);
        if (r < 0)
                return r;
        size_t alloc = 0;
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d))) {
                if (!policy_name_is_valid(de->d_name))
                        continue;
                if (l.n == cap) {
                        qsort(l.v, l.n, sizeof *l.v, name_cmp);
                        for (size_t i = keep; i < l.n; i++)
                                free(l.v[i]);
                        l.n = keep;
                }
                if (l.n == alloc) {
                        size_t na = alloc ? alloc * 2 : 16;
                        if (na > cap)
                                na = cap;
                        char **nv = realloc(l.v, na * sizeof *nv);
                        if (!nv)
                                return -ENOMEM;
                        l.v = nv;
                        alloc = na;
                }
                if (!(l.v[l.n] = strdup(de->d_name)))
                        return -ENOMEM;
                l.n++;
                errno = 0;
        }
        if (errno != 0)
                return -errno;
        if (l.n > 0)
                qsort(l.v, l.n, sizeof *l.v, name_cmp);
        for (size_t i = keep; i < l.n; i++)
                free(l.v[i]);
        if (l.n > keep)
                l.n = keep;
        *ret = TAKE_PTR(l.v);
        *ret_n = l.n;
        l.n = 0;
        return 0;
}

/* A file name found in one of the directories. */
struct cand {
        char *name;
        size_t dir;
};

struct cands {
        struct cand *v;
        size_t n;
        int *fds;       /* one per directory, -1 when missing */
        size_t n_fds;
};

static void cands_done(struct cands *c) {
        for (size_t i = 0; i < c->n; i++)
                free(c->v[i].name);
        free(c->v);
        for (size_t i = 0; i < c->n_fds; i++)
                if (c->fds[i] >= 0)
                        close(c->fds[i]);
        free(c->fds);
}

/* By name, then by directory: equal names end up adjacent in directory
 * order, and the last of them (the admin file) is the one kept. */
static int cand_cmp(const void *a, const void *b) {
        const struct cand *x = a, *y = b;
        int r = strcmp(x->name, y->name);
        return r ? r : (x->dir > y->dir) - (x->dir < y->dir);
}

/* Adds the policy names of directory d to c: its lexically first
 * MAX + 1, which is all the merged list can need.  Returns 0, or -errno with
 * err set: -ENOMEM, or a directory that exists but cannot be read. */
static int cands_read_dir(struct cands *c, const char *path, size_t d, struct mg_error *err) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0; /* a missing directory is fine: no policies there */
                return mg_error_set(err, -errno, "%s: cannot open the policy directory: %m", path);
        }
        c->fds[d] = fd;
        char **names = NULL;
        size_t n = 0;
        int r = policy_dir_list(fd, MEMGUARD_MAX_POLICY_FILES, &names, &n);
        if (r == -ENOMEM)
                return mg_error_oom(err);
        if (r < 0)
                return mg_error_set(err, r, "%s: cannot list the policy directory: %s", path, strerror(-r));
        if (n == 0) {
                free(names);
                return 0;
        }
        struct cand *nv = realloc(c->v, (c->n + n) * sizeof *nv);
        if (!nv) {
                policy_dir_list_free(names, n);
                return mg_error_oom(err);
        }
        c->v = nv;
        for (size_t i = 0; i < n; i++)
                c->v[c->n++] = (struct cand) { .name = names[i], .dir = d };
        free(names); /* the strings now belong to c */
        return 0;
}

int policy_set_load(const char *const *dirs, size_t n_dirs, bool check_owner, struct policy_set *ret) {
        return policy_set_load_cached(dirs, n_dirs, check_owner, NULL, ret);
}

int policy_set_load_cached(const char *const *dirs, size_t n_dirs, bool check_owner, struct policy_cache *pc, struct policy_set *ret) {
        _cleanup_(policy_set_free) struct policy_set s = {0};
        _cleanup_(cands_done) struct cands c = {0};
        int r;

        c.fds = malloc((n_dirs ? n_dirs : 1) * sizeof *c.fds);
        if (!c.fds)
                return -ENOMEM;
        for (size_t d = 0; d < n_dirs; d++)
                c.fds[d] = -1;
        c.n_fds = n_dirs;

        for (size_t d = 0; d < n_dirs; d++) {
                struct mg_error e = {0};
                r = cands_read_dir(&c, dirs[d], d, &e);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && (r = policy_set_add_error(&s, &e)) < 0)
                        return r;
        }

        /* Each directory's list is sorted already: with one directory, or
         * an empty admin one, so is the whole (the usual host). */
        bool sorted = true;
        for (size_t i = 1; i < c.n && sorted; i++)
                sorted = cand_cmp(&c.v[i - 1], &c.v[i]) < 0;
        if (!sorted)
                qsort(c.v, c.n, sizeof *c.v, cand_cmp);
        /* Masking: of equal names (adjacent, in directory order) keep the
         * last. Linear, after the sort. */
        size_t w = 0;
        for (size_t i = 0; i < c.n; i++) {
                if (w > 0 && STREQ(c.v[w - 1].name, c.v[i].name)) {
                        free(c.v[w - 1].name);
                        c.v[w - 1] = c.v[i];
                        continue;
                }
                c.v[w++] = c.v[i];
        }
        c.n = w;
        if (c.n > MEMGUARD_MAX_POLICY_FILES) {
                /* The input limits: at most 4096 files. Those sorting last are the
                 * ones left out, so the choice does not depend on readdir
                 * order. */
                struct mg_error e = {0};
                const struct cand *first = &c.v[MEMGUARD_MAX_POLICY_FILES];
                char path[PATH_MAX];
                if (path_join(path, sizeof path, dirs[first->dir], first->name) < 0)
                        snprintf(path, sizeof path, "%s", first->name);
                mg_error_set(&e, -E2BIG, "%s:1:1: size: more than %u policy files: this file and the ones after it are ignored", path,
                             MEMGUARD_MAX_POLICY_FILES);
                for (size_t i = MEMGUARD_MAX_POLICY_FILES; i < c.n; i++)
                        free(c.v[i].name);
                c.n = MEMGUARD_MAX_POLICY_FILES;
                if ((r = policy_set_add_error(&s, &e)) < 0)
                        return r;
        }

        s.items = calloc(c.n ? c.n : 1, sizeof *s.items);
        if (!s.items)
                return -ENOMEM;
        for (size_t i = 0; i < c.n; i++) {
                char path[PATH_MAX];
                struct mg_error e = {0};
                struct policy *p = NULL;
                if (path_join(path, sizeof path, dirs[c.v[i].dir], c.v[i].name) < 0) {
                        mg_error_set(&e, -ENAMETOOLONG, "%.200s/%.200s:1:1: path too long", dirs[c.v[i].dir], c.v[i].name);
                        if ((r = policy_set_add_error(&s, &e)) < 0)
                                return r;
                        continue;
                }
                r = load_file_cached(pc, c.fds[c.v[i].dir], c.v[i].name, path, check_owner, &p, &e);
                if (r == -ENOMEM)
                        return r;
                if (r == POLICY_CACHE_RULED_OUT)
                        continue; /* cannot match this container (pc->filter) */
                if (r < 0) {
                        if ((r = policy_set_add_error(&s, &e)) < 0)
                                return r;
                        continue;
                }
                s.items[s.n++] = p;
        }
        if (pc)
                s.arena = policy_cache_take_arena(pc);
        *ret = s;
        s = (struct policy_set) {0};
        return 0;
}
