/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "policy.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int policy_load_file(int dirfd, const char *name, const char *display_path, bool check_owner, struct policy **ret, struct mg_error *err) {
        /* A symlinked policy is allowed, and judged by what it points to:
         * fstat after open sees the target's owner and mode. */
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return mg_error_set(err, -errno, "%s: %m", display_path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return mg_error_set(err, -errno, "%s: %m", display_path);
        if (!S_ISREG(st.st_mode))
                return mg_error_set(err, -EINVAL, "%s: type: not a regular file", display_path);
        if (check_owner && st.st_uid != 0)
                return mg_error_set(err, -EPERM, "%s: owner: owned by uid %u, not root: refused", display_path, (unsigned) st.st_uid);
        if (check_owner && (st.st_mode & (S_IWGRP | S_IWOTH)))
                return mg_error_set(err, -EPERM, "%s: mode: %04o is group or world writable: refused", display_path, (unsigned) (st.st_mode & 07777));
        if (st.st_size > (off_t) MEMGUARD_MAX_POLICY_BYTES)
                return mg_error_set(err, -EFBIG, "%s: size: larger than %u bytes", display_path, MEMGUARD_MAX_POLICY_BYTES);
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_fd_bounded(fd, MEMGUARD_MAX_POLICY_BYTES, &buf, &len);
        if (r == -EFBIG)
                return mg_error_set(err, r, "%s: size: larger than %u bytes", display_path, MEMGUARD_MAX_POLICY_BYTES);
        if (r == -EBADMSG)
                return mg_error_set(err, r, "%s: NUL: file contains a NUL byte", display_path);
        if (r < 0)
                return mg_error_set(err, r, "%s: %s", display_path, strerror(-r));
        return policy_parse(display_path, buf, len, ret, err);
}

void policy_set_free(struct policy_set *s) {
        for (size_t i = 0; i < s->n; i++)
                policy_free(s->items[i]);
        free(s->items);
        free(s->errors);
        *s = (struct policy_set) {0};
}

struct cand {
        char *name;
        size_t dir;
};

/* By name, then by directory: a later directory's file masks an earlier one's. */
static int cand_cmp(const void *a, const void *b) {
        const struct cand *x = a, *y = b;
        int r = strcmp(x->name, y->name);
        return r ? r : (x->dir > y->dir) - (x->dir < y->dir);
}

static bool is_policy_name(const char *n) {
        size_t l = strlen(n);
        return n[0] != '.' && l > 5 && STREQ(n + l - 5, ".json");
}

static int add_error(struct policy_set *s, const struct mg_error *e) {
        struct mg_error *n = realloc(s->errors, (s->n_errors + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        s->errors = n;
        s->errors[s->n_errors++] = *e;
        return 0;
}

int policy_set_load(const char *const *dirs, size_t n_dirs, bool check_owner, struct policy_set *ret) {
        struct policy_set s = {0};
        struct cand *c = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        bool too_many = false;

        for (size_t d = 0; d < n_dirs; d++) {
                DIR *dir = opendir(dirs[d]);
                if (!dir)
                        continue; /* a missing directory is fine */
                struct dirent *de;
                while ((de = readdir(dir))) {
                        if (!is_policy_name(de->d_name))
                                continue;
                        /* Same names across directories are resolved
                         * after sorting (a later directory masks an earlier
                         * one): no quadratic search here. */
                        if (n >= (size_t) MEMGUARD_MAX_POLICY_FILES * n_dirs) { /* bounded memory before masking */
                                too_many = true;
                                continue;
                        }
                        if (n == cap) {
                                size_t ncap = cap ? cap * 2 : 16;
                                struct cand *nc = realloc(c, ncap * sizeof *nc);
                                if (!nc) {
                                        r = -ENOMEM;
                                        break;
                                }
                                c = nc;
                                cap = ncap;
                        }
                        if (!(c[n].name = strdup(de->d_name))) {
                                r = -ENOMEM;
                                break;
                        }
                        c[n++].dir = d;
                }
                closedir(dir);
                if (r < 0)
                        goto out;
        }
        if (n)
                qsort(c, n, sizeof *c, cand_cmp);
        /* Equal names are adjacent, in directory order: keep the last. */
        {
                size_t w = 0;
                for (size_t i = 0; i < n; i++) {
                        if (w > 0 && STREQ(c[w - 1].name, c[i].name)) {
                                free(c[w - 1].name);
                                c[w - 1] = c[i];
                                continue;
                        }
                        c[w++] = c[i];
                }
                n = w;
                if (n > MEMGUARD_MAX_POLICY_FILES) {
                        for (size_t i = MEMGUARD_MAX_POLICY_FILES; i < n; i++)
                                free(c[i].name);
                        n = MEMGUARD_MAX_POLICY_FILES;
                        too_many = true;
                }
        }
        if (too_many) {
                struct mg_error e = {0};
                mg_error_set(&e, -E2BIG, "size: more than %u policy files; the rest are ignored", MEMGUARD_MAX_POLICY_FILES);
                if ((r = add_error(&s, &e)) < 0)
                        goto out;
        }
        s.items = calloc(n ? n : 1, sizeof *s.items);
        if (!s.items) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                char path[PATH_MAX];
                struct mg_error e = {0};
                if (path_join(path, sizeof path, dirs[c[i].dir], c[i].name) < 0)
                        continue;
                struct policy *p = NULL;
                int fr = policy_load_file(AT_FDCWD, path, path, check_owner, &p, &e);
                if (fr == -ENOMEM) {
                        r = fr;
                        goto out;
                }
                if (fr < 0) {
                        if ((r = add_error(&s, &e)) < 0)
                                goto out;
                        continue;
                }
                s.items[s.n++] = p;
        }
        *ret = s;
        s = (struct policy_set) {0};
out:
        for (size_t i = 0; i < n; i++)
                free(c[i].name);
        free(c);
        policy_set_free(&s);
        return r;
}
