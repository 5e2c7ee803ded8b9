/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* SHA-256 (FIPS 180-4) of a short buffer: names a record whose container
 * id is too long for a file name. */
#define SHA256_DIGEST_SIZE 32
void sha256(const void *data, size_t len, uint8_t ret[SHA256_DIGEST_SIZE]);
