/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "memhealth.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "meminfo.h"
#include "util.h"

static bool zone_counts(const char *zone) { return STREQ(zone, "Normal") || STREQ(zone, "DMA32"); }

int memhealth_parse_buddyinfo(const char *text, unsigned order, uint64_t *ret_free_pages, uint64_t *ret_blocks) {
        /* "Node 0, zone   Normal   216   55  189  101   84   38   37   27    5    3  587" */
        uint64_t free_pages = 0, blocks = 0;
        bool any = false;
        const char *line = text;
        while (line && *line) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t) (nl - line) : strlen(line);
                char buf[512];
                if (len < sizeof buf) {
                        memcpy(buf, line, len);
                        buf[len] = '\0';
                        char *z = strstr(buf, "zone");
                        if (z) {
                                char zone[32];
                                int used = 0;
                                if (sscanf(z, "zone %31s%n", zone, &used) == 1 && zone_counts(zone)) {
                                        any = true;
                                        const char *p = z + used;
                                        for (unsigned k = 0; k <= MEMHEALTH_MAX_ORDER; k++) {
                                                unsigned long long c;
                                                int n = 0;
                                                if (sscanf(p, "%llu%n", &c, &n) != 1)
                                                        break;
                                                p += n;
                                                free_pages += (uint64_t) c << k;
                                                if (k >= order)
                                                        blocks += c;
                                        }
                                }
                        }
                }
                line = nl ? nl + 1 : NULL;
        }
        if (!any)
                return -ENODATA;
        *ret_free_pages = free_pages;
        *ret_blocks = blocks;
        return 0;
}

int memhealth_parse_zoneinfo(const char *text, uint64_t *ret_high) {
        uint64_t high = 0;
        bool in_zone = false, any = false;
        const char *line = text;
        while (line && *line) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t) (nl - line) : strlen(line);
                char buf[256];
                if (len < sizeof buf) {
                        memcpy(buf, line, len);
                        buf[len] = '\0';
                        char zone[32];
                        unsigned long long v;
                        if (strncmp(buf, "Node", 4) == 0 && sscanf(buf, "Node %*d, zone %31s", zone) == 1)
                                in_zone = zone_counts(zone);
                        else if (in_zone && sscanf(buf, " high %llu", &v) == 1) {
                                high += v;
                                any = true;
                        }
                }
                line = nl ? nl + 1 : NULL;
        }
        if (!any)
                return -ENODATA;
        *ret_high = high;
        return 0;
}

int memhealth_read(const char *sysroot, unsigned order, struct memhealth *ret) {
        struct meminfo mi;
        int r = meminfo_read(sysroot, &mi);
        if (r < 0)
                return r;
        struct memhealth h = { .mem_total = mi.total, .mem_available = mi.available, .mem_free = mi.free, .cached = mi.cached };
        _cleanup_free_ char *buddy = NULL;
        if (read_host_file(sysroot, "/proc/buddyinfo", 64 * 1024, &buddy, NULL) == 0 &&
            memhealth_parse_buddyinfo(buddy, order, &h.free_pages, &h.blocks_at_order) == 0)
                h.have_buddy = true;
        /* zoneinfo is long on big NUMA hosts and only needed to explain a
         * verdict: read it only when something looks wrong. */
        *ret = h;
        return 0;
}

static const char *const memhealth_verdict_names[] = {
        [MEMHEALTH_HEALTHY] = "healthy",
        [MEMHEALTH_SHORT] = "short",
        [MEMHEALTH_FRAGMENTED] = "fragmented",
        [MEMHEALTH_SHORT_AND_FRAGMENTED] = "short+fragmented",
};

const char *memhealth_verdict_name(enum memhealth_verdict v) { return NAME_FROM_TABLE(memhealth_verdict_names, v, "?"); }

enum memhealth_verdict memhealth_judge(const struct memhealth *h, uint64_t available_below) {
        bool short_ = h->mem_available < available_below;
        bool frag = h->have_buddy && h->blocks_at_order == 0;
        if (short_ && frag)
                return MEMHEALTH_SHORT_AND_FRAGMENTED;
        if (short_)
                return MEMHEALTH_SHORT;
        if (frag)
                return MEMHEALTH_FRAGMENTED;
        return MEMHEALTH_HEALTHY;
}
