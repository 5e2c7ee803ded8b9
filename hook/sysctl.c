/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sysctl.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

int sysctl_path(const char *sysroot, const char *name, char *buf, size_t size) {
        char rel[256];
        size_t l = strlen(name);
        /* cppcheck-suppress arrayIndexOutOfBoundsCond ; l is checked first */
        if (l == 0 || l >= 200 || name[0] == '.' || name[l - 1] == '.' || strstr(name, ".."))
                return -EINVAL;
        for (size_t i = 0; i < l; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
                        return -EINVAL;
                rel[i] = c == '.' ? '/' : c;
        }
        rel[l] = '\0';
        char full[300];
        snprintf(full, sizeof full, "/proc/sys/%s", rel);
        return path_join(buf, size, sysroot, full);
}

int sysctl_read_u64(const char *sysroot, const char *name, uint64_t *ret) {
        char path[PATH_MAX], buf[64];
        int r = sysctl_path(sysroot, name, path, sizeof path);
        if (r < 0)
                return r;
        r = read_small_at(AT_FDCWD, path, buf, sizeof buf);
        if (r < 0)
                return r;
        return safe_atou64(buf, ret) < 0 ? -EBADMSG : 0;
}

int sysctl_write_string(const char *sysroot, const char *name, const char *value) {
        char path[PATH_MAX];
        int r = sysctl_path(sysroot, name, path, sizeof path);
        if (r < 0)
                return r;
        return write_existing_at(AT_FDCWD, path, value);
}

int sysctl_write_u64(const char *sysroot, const char *name, uint64_t value) {
        char buf[32];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long) value);
        return sysctl_write_string(sysroot, name, buf);
}

int sysctl_swappiness_get(const char *sysroot, uint64_t *ret) { return sysctl_read_u64(sysroot, "vm.swappiness", ret); }

int sysctl_swappiness_set(const char *sysroot, uint64_t value) {
        if (value > 200)
                return -ERANGE;
        return sysctl_write_u64(sysroot, "vm.swappiness", value);
}
