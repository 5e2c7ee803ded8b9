/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of hook/kernelfix.c: the upstream version of distribution
 * kernels (Debian's /proc/version, Ubuntu's /proc/version_signature, plain
 * uname -r) and the veth queue fix's decision table. TAP output. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kernelfix.h"
#include "test-helpers.h"


static const char debian_6_1_76[] =
        "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) "
        "2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n";
static const char debian_6_1_192[] =
        "Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for "
        "Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2025-05-01)\n";
static const char debian_backports[] =
        "Linux version 6.12.12+bpo-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP "
        "PREEMPT_DYNAMIC Debian 6.12.12-1~bpo12+1 (2025-02-23)\n";
static const char ubuntu_version[] =
        "Linux version 5.15.0-97-generic (buildd@lcy02-amd64-033) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0) #107-Ubuntu SMP Wed Feb 7 "
        "13:26:48 UTC 2024\n";
static const char plain_version[] = "Linux version 6.6.8 (root@build) (gcc 13.2.0) #1 SMP Thu Jan 4 2024\n";

static void test_versions(void) {
        static const struct {
                const char *what, *version, *signature, *release;
                int r;
                unsigned major, minor, patch;
                enum kver_source src;
        } t[] = {
                { "Debian 12 (uname hides 6.1.76)", debian_6_1_76, NULL, "6.1.0-18-amd64", 0, 6, 1, 76, KVER_DEBIAN },
                { "Debian 12, the VM's kernel", debian_6_1_192, "", "6.1.0-57-amd64", 0, 6, 1, 192, KVER_DEBIAN },
                { "Debian backports (the package version, not gcc's Debian 12.2.0)", debian_backports, NULL, "6.12.12+bpo-amd64", 0, 6, 12, 12,
                  KVER_DEBIAN },
                { "Ubuntu: the signature's last field", ubuntu_version, "Ubuntu 5.15.0-97.107-generic 5.15.136\n", "5.15.0-97-generic", 0, 5, 15,
                  136, KVER_UBUNTU },
                { "Ubuntu HWE", NULL, "Ubuntu 6.5.0-21.21~22.04.1-generic 6.5.8", "6.5.0-21-generic", 0, 6, 5, 8, KVER_UBUNTU },
                { "Ubuntu signature with trailing spaces", NULL, "Ubuntu 6.8.0-31.31-generic 6.8.1   \n", NULL, 0, 6, 8, 1, KVER_UBUNTU },
                { "a vanilla kernel: uname -r", plain_version, NULL, "6.6.8\n", 0, 6, 6, 8, KVER_UNAME },
                { "uname -r with a local suffix", NULL, NULL, "6.12.9-amd64", 0, 6, 12, 9, KVER_UNAME },
                { "uname -r X.Y only (rc)", NULL, NULL, "6.8-rc7", 0, 6, 8, 0, KVER_UNAME },
                { "WSL2", NULL, NULL, "5.15.146.1-microsoft-standard-WSL2", 0, 5, 15, 146, KVER_UNAME },
                { "a broken signature falls back to /proc/version", debian_6_1_76, "Ubuntu garbage", NULL, 0, 6, 1, 76, KVER_DEBIAN },
                { "\"Debian \" with no version after it falls back to uname", "Linux version 6.1.0 Debian x", NULL, "6.1.0-9-amd64", 0, 6, 1, 0,
                  KVER_UNAME },
                { "nothing readable", NULL, NULL, NULL, -EINVAL, 0, 0, 0, KVER_UNAME },
                { "nothing that is a version", "Linux version", "", "vmlinuz", -EINVAL, 0, 0, 0, KVER_UNAME },
                { "an absurd number is no version", NULL, NULL, "99999999.1", -EINVAL, 0, 0, 0, KVER_UNAME },
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
                struct kernel_version v = { 0, 0, 0 };
                enum kver_source src = KVER_UNAME;
                int r = kernel_upstream_version(t[i].version, t[i].signature, t[i].release, &v, &src);
                if (t[i].r < 0)
                        CHECK(r == t[i].r, "%s: %d", t[i].what, r);
                else
                        CHECK(r == 0 && v.major == t[i].major && v.minor == t[i].minor && v.patch == t[i].patch && src == t[i].src,
                              "%s: %u.%u.%u from %s", t[i].what, v.major, v.minor, v.patch, kver_source_name(src));
        }
}

static void test_veth_table(void) {
        static const struct {
                unsigned major, minor, patch;
                enum veth_queues want;
                const char *fixed_in;
        } t[] = {
                { 4, 19, 300, VETH_ONE_QUEUE, NULL },
                { 5, 10, 209, VETH_ONE_QUEUE, NULL }, /* never got per-CPU queues */
                { 5, 14, 21, VETH_ONE_QUEUE, NULL },
                { 5, 15, 0, VETH_UNFIXED, "5.15.151" },
                { 5, 15, 150, VETH_UNFIXED, "5.15.151" },
                { 5, 15, 151, VETH_FIXED, "5.15.151" },
                { 5, 15, 136, VETH_UNFIXED, "5.15.151" }, /* Ubuntu 22.04's 5.15.0-97 */
                { 5, 16, 20, VETH_NO_BACKPORT, "6.1.81" },
                { 5, 19, 17, VETH_NO_BACKPORT, "6.1.81" },
                { 6, 0, 19, VETH_NO_BACKPORT, "6.1.81" },
                { 6, 1, 76, VETH_UNFIXED, "6.1.81" }, /* Debian 12's 6.1.0-18 */
                { 6, 1, 80, VETH_UNFIXED, "6.1.81" },
                { 6, 1, 81, VETH_FIXED, "6.1.81" },
                { 6, 1, 192, VETH_FIXED, "6.1.81" },
                { 6, 2, 16, VETH_NO_BACKPORT, "6.6.21" },
                { 6, 5, 13, VETH_NO_BACKPORT, "6.6.21" },
                { 6, 6, 20, VETH_UNFIXED, "6.6.21" },
                { 6, 6, 21, VETH_FIXED, "6.6.21" },
                { 6, 7, 8, VETH_UNFIXED, "6.7.9" },
                { 6, 7, 9, VETH_FIXED, "6.7.9" },
                { 6, 8, 0, VETH_FIXED, "6.8" },
                { 6, 12, 9, VETH_FIXED, "6.8" },
                { 7, 0, 0, VETH_FIXED, "6.8" },
        };
        static const char *const name[] = { "one queue", "fixed", "unfixed", "no backport" };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
                struct kernel_version v = { t[i].major, t[i].minor, t[i].patch };
                const char *fixed_in = "unset";
                enum veth_queues q = veth_queue_fix(&v, &fixed_in);
                bool same_fix = t[i].fixed_in ? fixed_in && strcmp(fixed_in, t[i].fixed_in) == 0 : fixed_in == NULL;
                CHECK(q == t[i].want && same_fix, "%u.%u.%u: %s (fixed in %s)", t[i].major, t[i].minor, t[i].patch, name[q],
                      fixed_in ? fixed_in : "-");
        }
}

int main(void) {
        test_versions();
        test_veth_table();
        return test_report();
}
