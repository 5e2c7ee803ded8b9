/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "meminfo.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

int meminfo_read(const char *sysroot, struct meminfo *ret) {
        _cleanup_free_ char *buf = NULL;
        int r = read_host_file(sysroot, "/proc/meminfo", 64 * 1024, &buf, NULL);
        if (r < 0)
                return r;
        static const struct {
                const char *key;
                size_t off;
        } keys[] = {
                { "MemTotal:", offsetof(struct meminfo, total) },
                { "MemFree:", offsetof(struct meminfo, free) },
                { "MemAvailable:", offsetof(struct meminfo, available) },
                { "Cached:", offsetof(struct meminfo, cached) },
                { "Buffers:", offsetof(struct meminfo, buffers) },
                { "SwapTotal:", offsetof(struct meminfo, swap_total) },
                { "SwapFree:", offsetof(struct meminfo, swap_free) },
        };
        struct meminfo m = {0};
        bool have_total = false;
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        size_t kl = strlen(keys[i].key);
                        if (strncmp(line, keys[i].key, kl) != 0)
                                continue;
                        unsigned long long kb;
                        if (sscanf(line + kl, "%llu", &kb) == 1) {
                                *(uint64_t *) ((char *) &m + keys[i].off) = (uint64_t) kb * 1024u;
                                if (i == 0)
                                        have_total = true;
                        }
                }
        }
        if (!have_total)
                return -EBADMSG;
        *ret = m;
        return 0;
}
