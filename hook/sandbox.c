/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Self-confinement. The hook runs as root on input container
 * users partly control; once its inputs are read it only needs to write a
 * few files, so it gives up everything else: no new privileges, and a
 * seccomp allowlist whose default is to kill the process.
 *
 * The allowlist, one comment per syscall, is in hook/gen/seccomp-filter.c:
 * libseccomp compiles it to BPF when the hook is built, and this file only
 * loads the program (one prctl instead of libseccomp's probing and
 * compiling on every container start). */
#include "sandbox.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/prctl.h>

#include "seccomp-filter.h" /* generated: build/gen/ */

#if defined(__SANITIZE_ADDRESS__)
#define MEMGUARD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMGUARD_SANITIZED 1
#endif
#endif

#if defined(MEMGUARD_SANITIZED) && defined(MEMGUARD_KILLPOINTS)
#define FILTER sandbox_filter_asan_kp
#elif defined(MEMGUARD_SANITIZED)
#define FILTER sandbox_filter_asan
#elif defined(MEMGUARD_KILLPOINTS)
#define FILTER sandbox_filter_kp
#else
#define FILTER sandbox_filter
#endif

const char *sandbox_libseccomp_version(void) {
        return SANDBOX_LIBSECCOMP_VERSION;
}

int sandbox_enter(bool disabled, struct outcome *out) {
        if (disabled) {
                outcome_skip(out, "seccomp disabled (--no-seccomp)");
                return 0;
        }
        /* No setuid or file capability can raise privileges from here on
         * (required to load a filter without CAP_SYS_ADMIN, and right anyway). */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                outcome_error(out, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
                return -errno;
        }
        struct sock_fprog prog = {
                .len = (unsigned short) ELEMENTSOF(FILTER),
                .filter = (struct sock_filter *) FILTER, /* the kernel copies it; never written */
        };
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
                int r = -errno;
                outcome_error(out, "seccomp: %s: continuing unconfined", strerror(-r));
                return r;
        }
        return 0;
}
