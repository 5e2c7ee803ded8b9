/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "build.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

const enum policy_claim build_claims[4] = {
        POLICY_CLAIM_BUILD_ANNOTATION,
        POLICY_CLAIM_BUILDKIT_CGROUP,
        POLICY_CLAIM_BUILDKIT_HOSTNAME,
        POLICY_CLAIM_DOCKER_CLASSIC,
};

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

const char *build_claim_text(enum policy_claim c) {
        switch (c) {
        case POLICY_CLAIM_BUILD_ANNOTATION:
                return "annotation oci-memguard.build=true";
        case POLICY_CLAIM_BUILDKIT_CGROUP:
                return "buildkit cgroup";
        case POLICY_CLAIM_BUILDKIT_HOSTNAME:
                return "buildkit hostname";
        case POLICY_CLAIM_DOCKER_CLASSIC:
                return "docker classic builder";
        default:
                return "";
        }
}

void build_signals_detect(const char *id, const char *bundle, const char *cgroup, const struct oci_info *oci,
                          const struct annotations *state_ann, const struct image_info *img, struct build_signals *ret) {
        assert(ret);
        *ret = (struct build_signals) {0};
        if (bundle && bundle_is_buildkit_executor(bundle)) {
                ret->attested_source = "buildkit-bundle";
                ret->attested_text = "buildkit bundle";
        } else if (id && strncmp(id, "buildah-", 8) == 0) {
                ret->attested_source = "buildah-id";
                ret->attested_text = "buildah container id";
        }
        const char *a = oci ? annotations_get(&oci->annotations, "oci-memguard.build") : NULL;
        if (!a && state_ann)
                a = annotations_get(state_ann, "oci-memguard.build");
        if (a && STREQ(a, "true"))
                ret->claims |= 1u << POLICY_CLAIM_BUILD_ANNOTATION;
        ret->forced_off = a && STREQ(a, "false");
        /* BuildKit's steps also run in a cgroup under /buildkit with the
         * hostname buildkitsandbox, but anyone can ask for those. */
        if (cgroup && (strstr(cgroup, "/buildkit/") || STREQ(cgroup, "/buildkit")))
                ret->claims |= 1u << POLICY_CLAIM_BUILDKIT_CGROUP;
        if (oci && oci->hostname && STREQ(oci->hostname, "buildkitsandbox"))
                ret->claims |= 1u << POLICY_CLAIM_BUILDKIT_HOSTNAME;
        /* Docker's classic builder runs each RUN step from the previous
         * step's image, referenced by id, as "/bin/sh -c CMD" — and so does
         * "docker run sha256:... sh -c ...". */
        if (img && img->docker && img->docker_image_is_id && build_args_are_shell_step(oci))
                ret->claims |= 1u << POLICY_CLAIM_DOCKER_CLASSIC;
}

void build_decide(const struct build_decide_input *in, struct build_decision *ret) {
        assert(in);
        assert(in->signals);
        assert(ret);
        const struct build_signals *bs = in->signals;
        *ret = (struct build_decision) {.note_claim = POLICY_CLAIM_NONE};
        if (in->asserted) {
                ret->build = ret->trusted = true;
                snprintf(ret->source, sizeof ret->source, "explain --build");
                snprintf(ret->signal, sizeof ret->signal, "explain --build");
                return;
        }
        if (bs->attested_source) {
                ret->build = ret->trusted = true;
                snprintf(ret->source, sizeof ret->source, "%s", bs->attested_source);
                snprintf(ret->signal, sizeof ret->signal, "%s", bs->attested_text);
                if (bs->forced_off)
                        ret->note = BUILD_NOTE_FORCED_OFF_IGNORED;
                return;
        }
        if (bs->forced_off)
                return;
        enum policy_claim first = POLICY_CLAIM_NONE;
        for (size_t i = 0; i < ELEMENTSOF(build_claims); i++) {
                enum policy_claim c = build_claims[i];
                if (!(bs->claims >> c & 1u))
                        continue;
                if (first == POLICY_CLAIM_NONE)
                        first = c;
                if (in->trusted_claims >> c & 1u) {
                        ret->build = ret->trusted = true;
                        snprintf(ret->source, sizeof ret->source, "%s", policy_claim_name(c));
                        snprintf(ret->signal, sizeof ret->signal, "%s", build_claim_text(c));
                        return;
                }
        }
        if (first != POLICY_CLAIM_NONE) {
                snprintf(ret->source, sizeof ret->source, "%s", policy_claim_name(first));
                ret->note = BUILD_NOTE_CLAIM_UNTRUSTED;
                ret->note_claim = first;
                return;
        }
        if (in->shell_step_in_builder) {
                /* The policy names the image a builder: its own decision. */
                ret->build = ret->trusted = true;
                snprintf(ret->source, sizeof ret->source, "builder-policy");
                snprintf(ret->signal, sizeof ret->signal, "/bin/sh -c in a builder image");
        }
}
