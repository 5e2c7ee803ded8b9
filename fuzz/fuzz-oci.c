/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the state on stdin and config.json, as the hook reads them. */
#include "oci.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        struct hook_state st = {0};
        struct mg_error e = {0};
        if (hook_state_parse((const char *) data, size, &st, &e) == 0)
                hook_state_free(&st);
        struct oci_info oi = {0};
        if (oci_info_parse("/bundle/config.json", (const char *) data, size, "/bundle", &oi, &e) == 0)
                oci_info_free(&oi);
        return 0;
}
