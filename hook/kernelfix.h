/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Known kernel bugs doctor warns about: which upstream version the running
 * kernel is (distribution kernels hide it in uname -r), and whether that
 * version has the fix. Pure functions, table-tested in test-kernelfix.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct kernel_version {
        unsigned major, minor, patch;
};

enum kver_source {
        KVER_UBUNTU, /* the last field of /proc/version_signature */
        KVER_DEBIAN, /* "Debian X.Y.Z-N" in /proc/version */
        KVER_UNAME,  /* the leading X.Y[.Z] of uname -r */
};

/* The running kernel's upstream version from the three texts doctor reads
 * (any may be NULL or empty: a file that does not exist). Ubuntu's
 * signature wins, then Debian's package version, then uname -r. Returns 0,
 * or -EINVAL when none of them names a version. */
int kernel_upstream_version(const char *proc_version, const char *version_signature, const char *release,
                            struct kernel_version *ret, enum kver_source *ret_source);

const char *kver_source_name(enum kver_source s);

enum veth_queues {
        VETH_ONE_QUEUE,  /* before 5.15: one queue per veth, nothing to allocate per CPU */
        VETH_FIXED,      /* the queue array may come from vmalloc */
        VETH_UNFIXED,    /* a series with the fix, at a release before it: update */
        VETH_NO_BACKPORT, /* a series that ended without the fix: move to one that has it */
};

/* The veth per-CPU queue allocation (physically contiguous, order 4 or 5
 * on hosts with many possible CPUs: "page allocation failure: order:4" in
 * veth_alloc_queues at container start). *ret_fixed_in: the release of the
 * same series with the fix ("6.1.81"), or the first series that has it. */
enum veth_queues veth_queue_fix(const struct kernel_version *v, const char **ret_fixed_in);
