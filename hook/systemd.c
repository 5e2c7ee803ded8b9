/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "systemd.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

bool systemd_manages(const char *sysroot, const char *cgroup_path) {
        char path[PATH_MAX];
        struct stat st;
        if (path_join(path, sizeof path, sysroot, "/run/systemd/system") < 0 || lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                return false;
        const char *last = strrchr(cgroup_path, '/');
        last = last ? last + 1 : cgroup_path;
        size_t l = strlen(last);
        return l > 6 && STREQ(last + l - 6, ".slice");
}

int systemd_set_memory_protection(const char *cgroup_path, const char *file, uint64_t value, uint64_t timeout_usec) {
        (void) cgroup_path;
        (void) file;
        (void) value;
        (void) timeout_usec;
        return -EOPNOTSUPP;
}
