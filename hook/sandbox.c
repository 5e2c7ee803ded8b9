/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sandbox.h"

int sandbox_enter(bool disabled, struct outcome *out) {
        (void) disabled;
        (void) out;
        return 0;
}
