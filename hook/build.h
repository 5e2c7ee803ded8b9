/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "image.h"
#include "oci.h"

/* Recognising a build step from what the container shows, ranked like the
 * image (image.h) by who controls each signal.
 *
 * Attested: BuildKit's executor bundle path (buildkitd chooses it), and a
 * runtime id "buildah-*" (Buildah names the containers it runs itself;
 * Docker, Podman and the CRI runtimes give their containers generated ids).
 *
 * Claims: the annotation oci-memguard.build=true, the hostname
 * "buildkitsandbox" (--hostname), a cgroup under /buildkit
 * (--cgroup-parent), and a Docker container from a bare image id running
 * "/bin/sh -c" (docker run sha256:... sh -c ...).  The caller, which has
 * the policies, decides whether a policy trusts one of them, and the
 * policy-driven signal ("/bin/sh -c" from an image a policy marks a
 * builder). */
struct build_signals {
        const char *attested_source; /* "buildkit-bundle", "buildah-id", or NULL */
        const char *attested_text;   /* what the record's build_signal says */
        uint32_t claims;             /* bit (1 << claim) per claimed signal present */
        bool forced_off;             /* oci-memguard.build=false */
};

/* Pure: reads only its arguments. */
void build_signals_detect(const char *id, const char *bundle, const char *cgroup, const struct oci_info *oci,
                          const struct annotations *state_ann, const struct image_info *img, struct build_signals *ret);

/* The record's build_signal text for a claimed signal ("buildkit hostname"). */
const char *build_claim_text(enum policy_claim c);

/* The claims a build can come from, in the order they are considered. */
extern const enum policy_claim build_claims[4];

/* process.args starts with "/bin/sh -c" (shell-form RUN in every builder). */
bool build_args_are_shell_step(const struct oci_info *oci);

/* What decides whether a container is a build step, given the signals and
 * what the matching policies say of them. */
struct build_decide_input {
        const struct build_signals *signals;
        bool asserted;               /* explain --build: the operator says so */
        uint32_t trusted_claims;     /* bit (1 << claim): a matching policy trusts it */
        bool shell_step_in_builder;  /* "/bin/sh -c" in an image a policy marks a builder */
};
enum build_note {
        BUILD_NOTE_NONE,
        BUILD_NOTE_FORCED_OFF_IGNORED, /* build=false annotation against an attested signal */
        BUILD_NOTE_CLAIM_UNTRUSTED,    /* a build claim no matching policy trusts */
};
struct build_decision {
        bool build, trusted;
        char source[64];  /* which signal decided ("" none) */
        char signal[128]; /* the record's build_signal */
        enum build_note note;
        enum policy_claim note_claim; /* BUILD_NOTE_CLAIM_UNTRUSTED: the first claim seen */
};
/* Pure. Attested signals first; the build=false annotation turns off
 * claims only; a claim counts where a matching policy trusts it, in the
 * order of build_claims; an untrusted claim makes nothing a build (no
 * swappiness, no reclaim, no build policy) but is named in the record. */
void build_decide(const struct build_decide_input *in, struct build_decision *ret);
