/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: sizes ("512M", "15%", …) — never overflow, never accept junk. */
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        char buf[64];
        if (size >= sizeof buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        struct policy_size s;
        if (policy_size_parse(buf, &s) == 0) {
                if (s.percent && s.value > 100)
                        __builtin_trap();
                (void) policy_size_bytes(&s, UINT64_MAX, 4096);
        }
        return 0;
}
