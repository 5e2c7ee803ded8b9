/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "policy.h"
#include "oci.h"

/* The image a container runs, ranked by who controls the signal.
 *
 * Attested (the engine's own records, which nothing a user types or an
 * image carries can change): Docker's config.v2.json, found through the
 * container's own bind mounts of <docker-root>/containers/<id>/hostname, so
 * no daemon configuration has to be read; containers-storage metadata
 * (Podman, Buildah and CRI-O write "image-name" there), found through
 * root.path <graphroot>/<driver>/<layer>/merged; and containerd's CRI
 * annotation io.kubernetes.cri.image-name, which that runtime sets after
 * any annotation a pod passes through, for a bundle in containerd's
 * "k8s.io" namespace (no other client of that namespace than the CRI and
 * its operators).
 *
 * Claims (what anyone who starts the container can type, or the image can
 * carry, and Podman copies into the spec): oci-memguard.image,
 * io.kubernetes.cri.image-name elsewhere, io.kubernetes.cri-o.ImageName
 * (CRI-O's own containers are identified by containers-storage), and
 * org.opencontainers.image.ref.name. A claim decides only when nothing is
 * attested, and then only for a policy that trusts it. */
struct image_info {
        char image[1024];       /* "" when unknown */
        char source[64];        /* "docker-config", "containers-storage",
                                 * "containerd-cri", or the claim's name */
        enum policy_claim claim;/* POLICY_CLAIM_NONE: attested or unknown */
        char ignored[1200];     /* a claim the attested image overruled
                                 * ("KEY=VALUE"), for the log */
        bool docker;            /* the container is a Docker container */
        bool docker_image_is_id;/* Config.Image is a bare image id (the classic
                                 * builder runs RUN steps from intermediate
                                 * images by id) */
        char docker_cmd0[256], docker_cmd1[16];
};

/* One candidate for the identity. */
struct image_signal {
        const char *source;       /* as image_info.source */
        enum policy_claim claim;  /* POLICY_CLAIM_NONE when attested */
        const char *value;        /* NULL or "": this signal says nothing */
};

/* Decides between the signals (pure): the first attested one with a value,
 * else the first claim with one, in the order given; NULL when none has a
 * value. */
const struct image_signal *image_choose(const struct image_signal *sig, size_t n);

/* Is this bundle one that containerd's CRI plugin made (namespace k8s.io)? */
bool image_bundle_is_containerd_cri(const char *bundle, const char *id);

int image_identify(const char *sysroot, const char *id, const char *bundle, const struct oci_info *oci, const struct annotations *state_ann,
                   struct image_info *ret);
