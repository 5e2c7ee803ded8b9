/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "build.h"

#include <stdio.h>
#include <string.h>

bool build_args_are_shell_step(const struct oci_info *oci) {
        return oci && oci->n_args >= 2 && (STREQ(oci->args[0], "/bin/sh") || STREQ(oci->args[0], "sh")) && STREQ(oci->args[1], "-c");
}

/* BuildKit's executor keeps one bundle per step under <root>/executor/<id>:
 * dockerd's is <data-root>/buildkit/executor/<id>; standalone buildkitd's
 * OCI worker adds its snapshotter, <root>/runc-<snapshotter>/executor/<id>
 * (/var/lib/buildkit/runc-overlayfs/executor/..., rootless under
 * ~/.local/share/buildkit/). */
static bool bundle_is_buildkit_executor(const char *bundle) {
        for (const char *p = strstr(bundle, "/buildkit/"); p; p = strstr(p + 1, "/buildkit/")) {
                const char *rest = p + strlen("/buildkit/");
                if (strncmp(rest, "executor/", 9) == 0)
                        return true;
                if (strncmp(rest, "runc-", 5) == 0) {
                        const char *slash = strchr(rest, '/');
                        if (slash && strncmp(slash, "/executor/", 10) == 0)
                                return true;
                }
        }
        return false;
}

bool build_signal_detect(const char *id, const char *bundle, const char *cgroup, const struct oci_info *oci,
                         const struct annotations *state_ann, const struct image_info *img, bool *ret_annotation,
                         bool *ret_forced_off, char *buf, size_t size) {
        *ret_annotation = false;
        *ret_forced_off = false;
        const char *a = oci ? annotations_get(&oci->annotations, "oci-memguard.build") : NULL;
        if (!a && state_ann)
                a = annotations_get(state_ann, "oci-memguard.build");
        if (a && STREQ(a, "true")) {
                *ret_annotation = true;
                snprintf(buf, size, "annotation oci-memguard.build=true");
                return true;
        }
        if (a && STREQ(a, "false")) {
                *ret_forced_off = true;
                return false;
        }
        /* BuildKit runs steps as "runc run" with its own spec: no
         * annotations, but a recognisable cgroup, bundle and hostname. */
        if (cgroup && (strstr(cgroup, "/buildkit/") || STREQ(cgroup, "/buildkit"))) {
                snprintf(buf, size, "buildkit cgroup");
                return true;
        }
        if (bundle && bundle_is_buildkit_executor(bundle)) {
                snprintf(buf, size, "buildkit bundle");
                return true;
        }
        if (oci && oci->hostname && STREQ(oci->hostname, "buildkitsandbox")) {
                snprintf(buf, size, "buildkit hostname");
                return true;
        }
        if (id && strncmp(id, "buildah-", 8) == 0) {
                snprintf(buf, size, "buildah container id");
                return true;
        }
        /* Docker's classic builder runs each RUN step from the previous
         * step's image, referenced by id, as "/bin/sh -c CMD". */
        if (img && img->docker && img->docker_image_is_id && build_args_are_shell_step(oci)) {
                snprintf(buf, size, "docker classic builder");
                return true;
        }
        return false;
}
