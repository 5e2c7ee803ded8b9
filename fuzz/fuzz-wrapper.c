/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the wrapper's config.json rewrite. A second rewrite of its own
 * output must find the hooks present (never added twice). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_hooks.h"

static int dirfd_ = -1;

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        if (dirfd_ < 0) {
                char tmpl[] = "/dev/shm/memguard-fuzz-XXXXXX";
                if (!mkdtemp(tmpl))
                        abort();
                dirfd_ = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        int fd = openat(dirfd_, "config.json", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, data, size) != (ssize_t) size)
                abort();
        close(fd);
        const struct hook_spec spec = { .path = "/usr/local/bin/oci-memguard", .timeout = 10 };
        enum bundle_hooks_result res;
        struct mg_error e = {0};
        if (bundle_hooks_add(dirfd_, &spec, &res, &e) == 0) {
                if (bundle_hooks_add(dirfd_, &spec, &res, &e) != 0 || res != BUNDLE_HOOKS_PRESENT)
                        __builtin_trap();
        }
        return 0;
}
