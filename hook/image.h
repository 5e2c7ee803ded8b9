/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "oci.h"

/* The image a container runs (SPEC §3), first found of: annotations
 * (io.kubernetes.cri.image-name, io.kubernetes.cri-o.ImageName,
 * org.opencontainers.image.ref.name, oci-memguard.image); Docker's
 * config.v2.json (found through the container's own bind mounts of
 * <docker-root>/containers/<id>/hostname, so no daemon configuration has to
 * be read); containers-storage metadata (Podman/Buildah "image-name", found
 * through root.path <graphroot>/<driver>/<layer>/merged). */
struct image_info {
        char image[1024];       /* "" when unknown */
        char source[64];        /* which of the above answered */
        bool docker;            /* the container is a Docker container */
        bool docker_image_is_id;/* Config.Image is a bare image id (the classic
                                 * builder runs RUN steps from intermediate
                                 * images by id) */
        char docker_cmd0[256], docker_cmd1[16];
};

int image_identify(const char *sysroot, const char *id, const struct oci_info *oci, const struct annotations *state_ann, struct image_info *ret);
