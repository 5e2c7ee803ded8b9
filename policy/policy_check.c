/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "policy_check.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy.h"

static int check_file(const char *path, bool check_owner, FILE *out) {
        struct mg_error e = {0};
        struct policy *p = NULL;
        if (policy_load_file(AT_FDCWD, path, path, check_owner, &p, &e) < 0) {
                fprintf(out, "%s\n", e.msg);
                return 1;
        }
        policy_free(p);
        fprintf(out, "%s: ok\n", path);
        return 0;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *) a, *(char *const *) b); }

int policy_check_paths(char *const *paths, size_t n, bool check_owner, bool missing_ok, FILE *out) {
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
                struct stat st;
                if (stat(paths[i], &st) < 0) {
                        if (errno == ENOENT && missing_ok)
                                continue;
                        fprintf(out, "%s: %m\n", paths[i]);
                        bad++;
                        continue;
                }
                if (!S_ISDIR(st.st_mode)) {
                        bad += check_file(paths[i], check_owner, out);
                        continue;
                }
                DIR *d = opendir(paths[i]);
                if (!d) {
                        fprintf(out, "%s: %m\n", paths[i]);
                        bad++;
                        continue;
                }
                char **names = NULL;
                size_t nn = 0;
                struct dirent *de;
                while ((de = readdir(d))) {
                        size_t l = strlen(de->d_name);
                        if (de->d_name[0] == '.' || l <= 5 || strcmp(de->d_name + l - 5, ".json") != 0)
                                continue;
                        char **nnames = realloc(names, (nn + 1) * sizeof *names);
                        if (!nnames || !(nnames[nn] = strdup(de->d_name))) {
                                names = nnames ? nnames : names;
                                for (size_t j = 0; j < nn; j++)
                                        free(names[j]);
                                free(names);
                                closedir(d);
                                return -ENOMEM;
                        }
                        names = nnames;
                        nn++;
                }
                closedir(d);
                if (nn)
                        qsort(names, nn, sizeof *names, name_cmp);
                for (size_t j = 0; j < nn; j++) {
                        char path[PATH_MAX];
                        if (path_join(path, sizeof path, paths[i], names[j]) == 0)
                                bad += check_file(path, check_owner, out);
                        free(names[j]);
                }
                free(names);
        }
        return bad;
}
