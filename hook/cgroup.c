/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "cgroup.h"

#include <linux/openat2.h>
#include <sys/syscall.h>

#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const cgroup_mode_names[] = {
        [CGROUP_MODE_V2] = "v2",
        [CGROUP_MODE_HYBRID] = "hybrid",
        [CGROUP_MODE_V1] = "v1",
};

const char *cgroup_mode_name(enum cgroup_mode m) { return NAME_FROM_TABLE(cgroup_mode_names, m, "?"); }

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s) {
        char *w = s;
        for (char *r = s; *r;) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = '\0';
}

static bool option_listed(const char *opts, const char *opt) {
        size_t n = strlen(opt);
        for (const char *p = opts; p && *p;) {
                const char *e = strchr(p, ',');
                size_t l = e ? (size_t) (e - p) : strlen(p);
                if (l == n && strncmp(p, opt, n) == 0)
                        return true;
                p = e ? e + 1 : NULL;
        }
        return false;
}

void cgroup_host_close(struct cgroup_host *h) {
        if (h->v2_fd >= 0)
                close(h->v2_fd);
        h->v2_fd = -1;
}

static int mount_rank(const char *mp) {
        /* Several cgroup2 mounts can exist (a container engine's private
         * one, hybrid's "unified"); the host's canonical one wins. */
        if (STREQ(mp, "/sys/fs/cgroup"))
                return 3;
        if (STREQ(mp, "/sys/fs/cgroup/unified"))
                return 2;
        return 1;
}

int cgroup_host_detect(const char *sysroot, struct cgroup_host *ret, struct mg_error *err) {
        char path[PATH_MAX];
        struct cgroup_host h = { .v2_fd = -1 };
        int r = path_join(path, sizeof path, sysroot, "/proc/self/mountinfo");
        if (r < 0)
                return mg_error_set(err, r, "sysroot path too long");
        _cleanup_free_ char *buf = NULL;
        r = read_file_at(AT_FDCWD, path, MEMGUARD_MAX_PROCFILE_BYTES, &buf, NULL);
        if (r < 0)
                return mg_error_set(err, r, "%s: %s", path, strerror(-r));

        int best = 0;
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
                char *sep = strstr(line, " - ");
                if (!sep)
                        continue;
                *sep = '\0';
                char *fields[6] = {0};
                char *fs = NULL;
                size_t nf = 0;
                for (char *tok = strtok_r(line, " ", &fs); tok && nf < 6; tok = strtok_r(NULL, " ", &fs))
                        fields[nf++] = tok;
                if (nf < 5)
                        continue;
                char *after = sep + 3, *as = NULL;
                char *fstype = strtok_r(after, " ", &as);
                (void) strtok_r(NULL, " ", &as); /* source */
                char *superopts = strtok_r(NULL, " ", &as);
                if (!fstype)
                        continue;
                char *mp = fields[4];
                unescape_octal(mp);
                if (STREQ(fstype, "cgroup2")) {
                        int rank = mount_rank(mp);
                        if (rank > best && strlen(mp) < sizeof h.v2_mount) {
                                best = rank;
                                h.has_v2 = true;
                                snprintf(h.v2_mount, sizeof h.v2_mount, "%s", mp);
                                snprintf(h.v2_options, sizeof h.v2_options, "%s", superopts ? superopts : "");
                                h.recursiveprot = superopts && option_listed(superopts, "memory_recursiveprot");
                        }
                } else if (STREQ(fstype, "cgroup") && superopts && option_listed(superopts, "memory")) {
                        h.v1_memory = true;
                        snprintf(h.v1_memory_mount, sizeof h.v1_memory_mount, "%s", mp);
                }
        }

        if (h.has_v2) {
                r = path_join(path, sizeof path, sysroot, h.v2_mount);
                if (r < 0)
                        return mg_error_set(err, r, "cgroup2 mount path too long");
                h.v2_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (h.v2_fd < 0)
                        return mg_error_set(err, -errno, "open cgroup2 mount %s: %m", path);
                char ctl[1024];
                if (read_small_at(h.v2_fd, "cgroup.controllers", ctl, sizeof ctl) >= 0) {
                        for (char *s2 = NULL, *t = strtok_r(ctl, " ", &s2); t; t = strtok_r(NULL, " ", &s2))
                                if (STREQ(t, "memory"))
                                        h.v2_memory = true;
                }
        }
        if (h.has_v2 && !h.v1_memory && STREQ(h.v2_mount, "/sys/fs/cgroup"))
                h.mode = CGROUP_MODE_V2;
        else if (h.has_v2)
                h.mode = CGROUP_MODE_HYBRID;
        else
                h.mode = CGROUP_MODE_V1;
        /* A pure v2 host with the cgroup2 mount elsewhere is still v2. */
        if (h.has_v2 && !h.v1_memory && h.v2_memory)
                h.mode = CGROUP_MODE_V2;
        *ret = h;
        return 0;
}

int cgroup_of_pid(const char *sysroot, int64_t pid, char *v2, size_t v2_size, char *v1mem, size_t v1mem_size) {
        char rel[64];
        snprintf(rel, sizeof rel, "/proc/%lld/cgroup", (long long) pid);
        _cleanup_free_ char *buf = NULL;
        int r = read_host_file(sysroot, rel, 64 * 1024, &buf, NULL);
        if (r < 0)
                return r;
        v2[0] = v1mem[0] = '\0';
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *c1 = strchr(line, ':');
                if (!c1)
                        continue;
                char *c2 = strchr(c1 + 1, ':');
                if (!c2)
                        continue;
                *c2 = '\0';
                const char *cg = c2 + 1;
                if (strncmp(line, "0:", 2) == 0 && c1[1] == '\0') {
                        if (strlen(cg) >= v2_size)
                                return -ENAMETOOLONG;
                        strcpy(v2, cg);
                } else if (option_listed(c1 + 1, "memory")) {
                        if (strlen(cg) >= v1mem_size)
                                return -ENAMETOOLONG;
                        strcpy(v1mem, cg);
                }
        }
        return 0;
}

int cgroup_path_normalize(char *path) {
        if (path[0] != '/')
                return -EINVAL;
        char *w = path;
        const char *r = path;
        while (*r) {
                while (*r == '/')
                        r++;
                if (!*r)
                        break;
                const char *e = strchr(r, '/');
                size_t l = e ? (size_t) (e - r) : strlen(r);
                if ((l == 1 && r[0] == '.') || (l == 2 && r[0] == '.' && r[1] == '.'))
                        return -EINVAL;
                for (size_t i = 0; i < l; i++)
                        if ((unsigned char) r[i] < 0x20 || r[i] == 0x7f)
                                return -EINVAL;
                *w++ = '/';
                memmove(w, r, l);
                w += l;
                r += l;
        }
        if (w == path)
                *w++ = '/';
        *w = '\0';
        return 0;
}

/* "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice", as systemd and runc's
 * ExpandSlice do. */
static int expand_slice(const char *slice, char *buf, size_t size) {
        size_t l = strlen(slice);
        if (l < 6 || strcmp(slice + l - 6, ".slice") != 0 || strchr(slice, '/'))
                return -EINVAL;
        buf[0] = '\0';
        if (STREQ(slice, "-.slice"))
                return 0;
        size_t base = l - 6, off = 0;
        for (size_t i = 0; i <= base; i++) {
                if (i == base || slice[i] == '-') {
                        if (i == 0 || slice[i - 1] == '-')
                                return -EINVAL;
                        int n = snprintf(buf + off, size - off, "/%.*s.slice", (int) i, slice);
                        if (n < 0 || (size_t) n >= size - off)
                                return -ENAMETOOLONG;
                        off += (size_t) n;
                }
        }
        return 0;
}

int cgroup_path_from_config(const char *cp, const char *id, char *buf, size_t size) {
        int n;
        if (!cp || !*cp) {
                n = snprintf(buf, size, "/%s", id);
        } else if (cp[0] != '/' && strchr(cp, ':')) {
                char slice[256], prefix[256], name[1100], sl[PATH_MAX];
                const char *a = strchr(cp, ':'), *b = strchr(a + 1, ':');
                if (!b || strchr(b + 1, ':'))
                        return -EINVAL;
                if ((size_t) (a - cp) >= sizeof slice || (size_t) (b - a - 1) >= sizeof prefix || strlen(b + 1) >= sizeof name)
                        return -ENAMETOOLONG;
                snprintf(slice, sizeof slice, "%.*s", (int) (a - cp), cp);
                snprintf(prefix, sizeof prefix, "%.*s", (int) (b - a - 1), a + 1);
                snprintf(name, sizeof name, "%s", b + 1);
                if (!slice[0])
                        snprintf(slice, sizeof slice, "system.slice");
                int r = expand_slice(slice, sl, sizeof sl);
                if (r < 0)
                        return r;
                size_t ln = strlen(name);
                if (ln > 6 && STREQ(name + ln - 6, ".slice"))
                        n = snprintf(buf, size, "%s/%s", sl, name);
                else if (prefix[0])
                        n = snprintf(buf, size, "%s/%s-%s.scope", sl, prefix, name);
                else
                        n = snprintf(buf, size, "%s/%s.scope", sl, name);
        } else if (cp[0] == '/') {
                n = snprintf(buf, size, "%s", cp);
        } else {
                n = snprintf(buf, size, "/%s", cp);
        }
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        return cgroup_path_normalize(buf);
}

/* One component at a time, each with O_NOFOLLOW: for kernels without
 * openat2 (before 5.6) or where it is filtered. */
static int cgroup_open_walk(int v2_fd, const char *path, int *ret_fd) {
        _cleanup_close_ int fd = openat(v2_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        const char *p = path;
        while (*p) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchr(p, '/');
                size_t l = e ? (size_t) (e - p) : strlen(p);
                char comp[NAME_MAX + 1];
                memcpy(comp, p, l);
                comp[l] = '\0';
                int nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (nfd < 0)
                        return -errno;
                close(fd);
                fd = nfd;
                p += l;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int cgroup_open(const struct cgroup_host *h, const char *path, int *ret_fd) {
        if (h->v2_fd < 0)
                return -ENODEV;
        return cgroup_open_at(h->v2_fd, path, ret_fd);
}

int cgroup_open_at(int root_fd, const char *path, int *ret_fd) {
        static bool no_openat2;
        if (root_fd < 0)
                return -EBADF;
        /* Checked here for both ways of opening: no "." or "..", no
         * component longer than a name. */
        const char *rel = path;
        while (*rel == '/')
                rel++;
        for (const char *p = rel; *p;) {
                const char *e = strchr(p, '/');
                size_t l = e ? (size_t) (e - p) : strlen(p);
                if (l > NAME_MAX)
                        return -ENAMETOOLONG;
                if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
                        return -EINVAL;
                p += l;
                while (*p == '/')
                        p++;
        }
        if (!*rel || no_openat2)
                return cgroup_open_walk(root_fd, rel, ret_fd);
        /* The whole path in one call, and no symlink anywhere in it: a
         * walk costs two syscalls a component, and the ledger opens every
         * cgroup it holds on every run. */
        struct open_how how = {
                .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int) syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
        if (fd >= 0) {
                *ret_fd = fd;
                return 0;
        }
        if (errno == ENOSYS || errno == EPERM) {
                no_openat2 = true;
                return cgroup_open_walk(root_fd, rel, ret_fd);
        }
        return -errno;
}

bool cgroup_exists(const struct cgroup_host *h, const char *path) {
        _cleanup_close_ int fd = -1;
        return cgroup_open(h, path, &fd) == 0;
}

int cgroup_read_value(int cgfd, const char *file, uint64_t *ret) {
        char buf[64];
        int r = read_line_at(cgfd, file, buf, sizeof buf);
        if (r < 0)
                return r;
        return parse_cgroup_value(buf, ret) < 0 ? -EBADMSG : 0;
}

int cgroup_read_child_value(int root_fd, const char *child, const char *file, uint64_t *ret) {
        assert(child);
        assert(file);
        assert(ret);
        char rel[2 * NAME_MAX + 2];
        if (!child[0] || strchr(child, '/') || STREQ(child, ".") || STREQ(child, "..") ||
            snprintf(rel, sizeof rel, "%s/%s", child, file) >= (int) sizeof rel)
                return -EINVAL;
        struct open_how how = {
                .flags = O_RDONLY | O_NOCTTY | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_close_ int fd = (int) syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
        if (fd < 0) {
                if (errno != ENOSYS && errno != EPERM)
                        return -errno;
                /* no openat2 (or filtered): the child's directory first, without following */
                _cleanup_close_ int dfd = openat(root_fd, child, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0)
                        return -errno;
                return cgroup_read_value(dfd, file, ret);
        }
        char buf[64];
        int r = read_line_fd(fd, buf, sizeof buf);
        if (r < 0)
                return r;
        return parse_cgroup_value(buf, ret) < 0 ? -EBADMSG : 0;
}

int cgroup_write_value(int cgfd, const char *file, uint64_t value, uint64_t *ret_actual) {
        char buf[32];
        format_cgroup_value(value, buf, sizeof buf);
        /* An O_PATH fd cannot be written through; reopen the file below it. */
        int r = write_existing_at(cgfd, file, buf);
        if (r < 0)
                return r;
        if (ret_actual) {
                r = cgroup_read_value(cgfd, file, ret_actual);
                if (r < 0)
                        return r;
        }
        return 0;
}

void cgroup_explain_missing(const struct cgroup_host *h, const char *path, char *buf, size_t size) {
        if (!h->has_v2 || h->v2_fd < 0) {
                snprintf(buf, size, "no cgroup2 hierarchy mounted");
                return;
        }
        if (!h->v2_memory) {
                snprintf(buf, size, "memory controller not available on cgroup v2 (cgroup.controllers of %s)", h->v2_mount);
                return;
        }
        /* Walk down: the first cgroup whose subtree_control lacks memory is
         * the one to fix. */
        char cur[PATH_MAX] = "/";
        const char *p = path;
        for (;;) {
                _cleanup_close_ int fd = -1;
                if (cgroup_open(h, cur, &fd) < 0) {
                        snprintf(buf, size, "cgroup '%s' does not exist", cur);
                        return;
                }
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                char ctl[1024];
                bool has = false;
                if (read_small_at(fd, "cgroup.subtree_control", ctl, sizeof ctl) >= 0)
                        for (char *s2 = NULL, *t = strtok_r(ctl, " ", &s2); t; t = strtok_r(NULL, " ", &s2))
                                if (STREQ(t, "memory"))
                                        has = true;
                if (!has) {
                        snprintf(buf, size, "memory controller not enabled under '%s' (add +memory to its cgroup.subtree_control)", cur);
                        return;
                }
                const char *e = strchr(p, '/');
                size_t l = e ? (size_t) (e - p) : strlen(p);
                size_t cl = strlen(cur);
                if (cl + l + 2 >= sizeof cur)
                        break;
                if (cl > 1)
                        cur[cl++] = '/';
                memcpy(cur + cl, p, l);
                cur[cl + l] = '\0';
                p += l;
        }
        snprintf(buf, size, "memory protection files missing in '%s'", path);
}
