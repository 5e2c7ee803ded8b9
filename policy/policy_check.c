/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `oci-memguard policy check [PATH...]`: every file on its own, with the
 * same loader and checks as the hook, so that "ok" here means the hook will
 * apply the file.  Unlike the hook, masking is not applied: an operator
 * checking a directory wants to hear about every file in it. */
#include "policy_check.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host_config.h"
#include "policy.h"

/* 1 when the file is invalid (its error printed), 0 when good. */
static int check_file(int dirfd, const char *name, const char *display, bool check_owner, FILE *out) {
        struct mg_error e = {0};
        _cleanup_policy_ struct policy *p = NULL;
        if (policy_load_file(dirfd, name, display, check_owner, &p, &e) < 0) {
                fprintf(out, "%s\n", e.msg);
                return 1;
        }
        fprintf(out, "%s: ok\n", display);
        return 0;
}

int policy_check_host_config(const char *path, bool check_owner, bool missing_ok, FILE *out) {
        if (!path || !out)
                return -EINVAL;
        struct host_config hc;
        struct mg_error e = {0};
        int r = host_config_load_path(path, check_owner, &hc, &e);
        if (r == -ENOENT && missing_ok)
                return 0;
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                fprintf(out, "%s\n", e.msg);
                return 1;
        }
        fprintf(out, "%s: ok\n", path);
        return 0;
}

/* A file argument named host.json is the host configuration; inside a
 * directory argument every file is a policy. */
static bool is_host_config_name(const char *path) {
        const char *base = strrchr(path, '/');
        return STREQ(base ? base + 1 : path, "host.json");
}

struct names {
        char **v;
        size_t n;
};

static void names_done(struct names *l) { policy_dir_list_free(l->v, l->n); }

/* Every policy file of one directory, in the hook's lexical order and
 * within its limit of files. Returns the number of invalid files, or
 * -ENOMEM. */
static int check_dir(const char *path, bool check_owner, FILE *out) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(out, "%s: cannot open the directory: %m\n", path);
                return 1;
        }
        _cleanup_(names_done) struct names l = {0};
        int r = policy_dir_list(fd, MEMGUARD_MAX_POLICY_FILES, &l.v, &l.n);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                fprintf(out, "%s: cannot list the directory: %s\n", path, strerror(-r));
                return 1;
        }
        int bad = 0;
        for (size_t i = 0; i < l.n && i < MEMGUARD_MAX_POLICY_FILES; i++) {
                char display[PATH_MAX];
                if (path_join(display, sizeof display, path, l.v[i]) < 0) {
                        fprintf(out, "%.200s/%.200s:1:1: path too long\n", path, l.v[i]);
                        bad++;
                        continue;
                }
                bad += check_file(fd, l.v[i], display, check_owner, out);
        }
        if (l.n > MEMGUARD_MAX_POLICY_FILES) {
                char display[PATH_MAX];
                if (path_join(display, sizeof display, path, l.v[MEMGUARD_MAX_POLICY_FILES]) < 0)
                        snprintf(display, sizeof display, "%s", l.v[MEMGUARD_MAX_POLICY_FILES]);
                fprintf(out, "%s:1:1: size: more than %u policy files: the hook ignores this file and the ones after it\n", display,
                        MEMGUARD_MAX_POLICY_FILES);
                bad++;
        }
        return bad;
}

int policy_check_paths(char *const *paths, size_t n, bool check_owner, bool missing_ok, FILE *out) {
        if ((n > 0 && !paths) || !out)
                return -EINVAL;
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
                if (is_host_config_name(paths[i])) {
                        /* its loader tells a missing file from a dangling link */
                        int r = policy_check_host_config(paths[i], check_owner, false, out);
                        if (r < 0)
                                return r;
                        bad += r;
                        continue;
                }
                /* stat, not lstat: a symlink to a directory is a directory to
                 * check; a symlink to a file is judged by its target, as the
                 * hook does. */
                struct stat st;
                if (stat(paths[i], &st) < 0) {
                        if (errno == ENOENT && missing_ok)
                                continue;
                        fprintf(out, "%s: %m\n", paths[i]);
                        bad++;
                        continue;
                }
                int r = S_ISDIR(st.st_mode) ? check_dir(paths[i], check_owner, out) : check_file(AT_FDCWD, paths[i], paths[i], check_owner, out);
                if (r < 0)
                        return r;
                bad += r;
        }
        return bad;
}
