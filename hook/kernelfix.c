/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Known kernel bugs: the upstream version of a distribution kernel, and the
 * veth queue allocation fix. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kernelfix.h"
#include "util.h"

/* "X.Y" or "X.Y.Z" at s (leading digits); the rest of s is ignored. */
static bool parse_xyz(const char *s, struct kernel_version *ret) {
        unsigned a, b, c = 0;
        int n = 0;
        if (!s || sscanf(s, "%3u.%3u%n", &a, &b, &n) != 2 || s[0] < '0' || s[0] > '9')
                return false;
        if (s[n] == '.' && s[n + 1] >= '0' && s[n + 1] <= '9' && sscanf(s + n + 1, "%5u", &c) != 1)
                return false;
        *ret = (struct kernel_version) { a, b, c };
        return true;
}

/* Ubuntu: "Ubuntu 5.15.0-97.107-generic 5.15.136": the upstream version is
 * the last field. */
static bool from_ubuntu(const char *sig, struct kernel_version *ret) {
        if (!sig || strncmp(sig, "Ubuntu ", 7) != 0)
                return false;
        size_t len = strcspn(sig, "\n");
        while (len > 0 && sig[len - 1] == ' ')
                len--;
        size_t start = len;
        while (start > 0 && sig[start - 1] != ' ')
                start--;
        return start > 7 && parse_xyz(sig + start, ret);
}

/* Debian: "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)
 * (gcc-12 ...) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)": the
 * package version after "Debian " (the last one: the compiler's own
 * "(Debian 12.2.0-14)" comes earlier). */
static bool from_debian(const char *ver, struct kernel_version *ret) {
        if (!ver)
                return false;
        const char *last = NULL;
        for (const char *p = strstr(ver, "Debian "); p; p = strstr(p + 1, "Debian "))
                last = p;
        return last && parse_xyz(last + 7, ret);
}

int kernel_upstream_version(const char *proc_version, const char *version_signature, const char *release,
                            struct kernel_version *ret, enum kver_source *ret_source) {
        assert(ret);
        assert(ret_source);
        struct kernel_version v;
        if (from_ubuntu(version_signature, &v))
                *ret_source = KVER_UBUNTU;
        else if (from_debian(proc_version, &v))
                *ret_source = KVER_DEBIAN;
        else if (parse_xyz(release, &v))
                *ret_source = KVER_UNAME;
        else
                return -EINVAL;
        *ret = v;
        return 0;
}

static const char *const kver_source_names[] = {
        [KVER_UBUNTU] = "/proc/version_signature",
        [KVER_DEBIAN] = "/proc/version",
        [KVER_UNAME] = "uname -r",
};

const char *kver_source_name(enum kver_source s) { return NAME_FROM_TABLE(kver_source_names, s, "?"); }

/* 9d3684c24a52 "veth: create by default nr_possible_cpus queues" (v5.15)
 * made veth kcalloc() one struct veth_rq per possible CPU; 1ce7d306ea63
 * "veth: try harder when allocating queue memory" (v6.8-rc7) made it
 * kvcalloc(), which falls back to vmalloc. Stable releases with the fix,
 * from the stable trees' history; the series between them had ended. */
static const struct {
        unsigned major, minor, patch;
        const char *name;
} veth_fixed_in[] = {
        { 5, 15, 151, "5.15.151" },
        { 6, 1, 81, "6.1.81" },
        { 6, 6, 21, "6.6.21" },
        { 6, 7, 9, "6.7.9" },
};

enum veth_queues veth_queue_fix(const struct kernel_version *v, const char **ret_fixed_in) {
        assert(v);
        assert(ret_fixed_in);
        unsigned series = v->major * 1000 + v->minor;
        *ret_fixed_in = NULL;
        if (series < 5015)
                return VETH_ONE_QUEUE;
        if (series >= 6008) {
                *ret_fixed_in = "6.8";
                return VETH_FIXED;
        }
        for (size_t i = 0; i < sizeof veth_fixed_in / sizeof veth_fixed_in[0]; i++)
                if (v->major == veth_fixed_in[i].major && v->minor == veth_fixed_in[i].minor) {
                        *ret_fixed_in = veth_fixed_in[i].name;
                        return v->patch >= veth_fixed_in[i].patch ? VETH_FIXED : VETH_UNFIXED;
                }
        /* 5.16-5.19, 6.0, 6.2-6.5: nearest later series with the fix */
        *ret_fixed_in = series < 6001 ? "6.1.81" : "6.6.21";
        return VETH_NO_BACKPORT;
}
