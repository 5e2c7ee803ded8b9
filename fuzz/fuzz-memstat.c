/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: memory.events / memory.stat lines — bounded, never read past
 * the input, a value is a decimal u64 or the file is rejected. */
#include <string.h>

#include "evidence.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        uint64_t v[EV_N_STAT > EV_N_EVENTS ? EV_N_STAT : EV_N_EVENTS];
        bool h[EV_N_STAT > EV_N_EVENTS ? EV_N_STAT : EV_N_EVENTS];
        /* no copy and no NUL: the parser must stop at size */
        int r = evidence_parse_flat((const char *) data, size, evidence_event_keys, EV_N_EVENTS, v, h);
        if (r == 0 && size > EVIDENCE_MAX_FILE_BYTES)
                __builtin_trap();
        (void) evidence_parse_flat((const char *) data, size, evidence_stat_keys, EV_N_STAT, v, h);
        return 0;
}
