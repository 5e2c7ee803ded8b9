/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: a policy file through the validator, then through the matcher
 * and the merge against a few subjects. */
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        struct policy *p = NULL;
        struct mg_error e = {0};
        if (policy_parse("/etc/oci-memguard/policy.d/fuzz.json", (const char *) data, size, &p, &e) < 0) {
                if (strchr(e.msg, '\n') || strncmp(e.msg, "/etc/oci-memguard/policy.d/fuzz.json:", 37) != 0)
                        __builtin_trap(); /* FILE:LINE:COL: one line */
                return 0;
        }
        const char *keys[] = { "tier", "io.kubernetes.cri.container-type" }, *vals[] = { "gold", "container" };
        const struct policy_subject subjects[] = {
                { .image = "golang:1.22", .annotation_keys = keys, .annotation_values = vals, .n_annotations = 2, .command = "/bin/sh", .cgroup = "/docker/abc", .build = true },
                { .image = "", .cgroup = "/system.slice/docker-x.scope" },
                /* image and build only claimed: "trust" decides */
                { .image = "postgres:16", .image_claim = POLICY_CLAIM_REF_NAME, .cgroup = "/buildkit/x", .build = true,
                  .build_claim = POLICY_CLAIM_BUILDKIT_CGROUP },
        };
        struct policy *items[] = { p, p };
        struct policy_set set = { .items = items, .n = 2 };
        for (size_t i = 0; i < ELEMENTSOF(subjects); i++) {
                (void) policy_matches(p, &subjects[i]);
                struct policy m = {0};
                size_t *idx = NULL, n = 0;
                if (policy_merge_matching(&set, &subjects[i], &m, &idx, &n) == 0) {
                        free(idx);
                        free(m.description);
                }
                (void) policy_size_bytes(&m.min, 17179869184ull, 4096);
        }
        policy_free(p);
        return 0;
}
