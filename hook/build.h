/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "image.h"
#include "oci.h"

/* Recognising a build step (SPEC §3) from what the container itself shows;
 * the policy-driven signal ("/bin/sh -c" from a builder image) is decided by
 * the caller, which has the policies. Returns true and names the signal in
 * buf; an explicit annotation oci-memguard.build=false sets *ret_forced_off. */
bool build_signal_detect(const char *id, const char *bundle, const char *cgroup, const struct oci_info *oci,
                         const struct annotations *state_ann, const struct image_info *img, bool *ret_annotation,
                         bool *ret_forced_off, char *buf, size_t size);

/* process.args starts with "/bin/sh -c" (shell-form RUN in every builder). */
bool build_args_are_shell_step(const struct oci_info *oci);
