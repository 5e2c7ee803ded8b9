/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of who decides a container's identity and build status: the
 * ranking of image signals (attested before claimed), which bundles are
 * containerd's CRI, the build signals and their claims, the policy key
 * "trust" and how matching honours it.  Table-driven, TAP lines, a final
 * "N passed, M failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "image.h"
#include "policy.h"
#include "test-helpers.h"

static void test_image_choose(void) {
        static const struct {
                const char *name;
                struct image_signal sig[4];
                size_t n;
                const char *want_source; /* NULL: none chosen */
        } cases[] = {
                { "nothing", { { "docker-config", POLICY_CLAIM_NONE, NULL } }, 1, NULL },
                { "empty values say nothing", { { "docker-config", POLICY_CLAIM_NONE, "" }, { "oci-memguard.image", POLICY_CLAIM_IMAGE_ANNOTATION, "" } }, 2, NULL },
                { "a claim before an attested signal loses to it",
                  { { "oci-memguard.image", POLICY_CLAIM_IMAGE_ANNOTATION, "postgres:16" }, { "docker-config", POLICY_CLAIM_NONE, "busybox" } }, 2,
                  "docker-config" },
                { "first attested wins", { { "docker-config", POLICY_CLAIM_NONE, "a" }, { "containers-storage", POLICY_CLAIM_NONE, "b" } }, 2, "docker-config" },
                { "claims only: the first one",
                  { { "docker-config", POLICY_CLAIM_NONE, NULL },
                    { "oci-memguard.image", POLICY_CLAIM_IMAGE_ANNOTATION, "x" },
                    { "org.opencontainers.image.ref.name", POLICY_CLAIM_REF_NAME, "y" } },
                  3, "oci-memguard.image" },
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                const struct image_signal *c = image_choose(cases[i].sig, cases[i].n);
                bool ok = cases[i].want_source ? c && strcmp(c->source, cases[i].want_source) == 0 : c == NULL;
                CHECK(ok, "image_choose: %s -> %s", cases[i].name, c ? c->source : "(none)");
        }
}

static void test_containerd_cri(void) {
        static const struct {
                const char *bundle, *id;
                bool want;
        } cases[] = {
                { "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc", "abc", true },
                { "/var/run/x/io.containerd.runtime.v2.task/k8s.io/abc", "abc", true },
                { "/run/containerd/io.containerd.runtime.v2.task/moby/abc", "abc", false },      /* Docker */
                { "/run/containerd/io.containerd.runtime.v2.task/default/abc", "abc", false },   /* ctr, nerdctl */
                { "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc", "abd", false },    /* not this container */
                { "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/x", "abc", false },
                { "/var/lib/containers/storage/overlay-containers/abc/userdata", "abc", false }, /* Podman, CRI-O */
                { NULL, "abc", false },
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
                CHECK(image_bundle_is_containerd_cri(cases[i].bundle, cases[i].id) == cases[i].want, "containerd CRI bundle %s (id %s): %s",
                      cases[i].bundle ? cases[i].bundle : "(null)", cases[i].id, cases[i].want ? "yes" : "no");
}

static void test_build_signals(void) {
        char *k_build[] = { "oci-memguard.build" }, *v_true[] = { "true" }, *v_false[] = { "false" };
        char *sh_args[] = { "/bin/sh", "-c", "make" };
        struct oci_info plain = { .hostname = "app" };
        struct oci_info sandbox = { .hostname = "buildkitsandbox" };
        struct oci_info ann_true = { .annotations = { k_build, v_true, 1 } };
        struct oci_info ann_false = { .annotations = { k_build, v_false, 1 } };
        struct oci_info shell = { .args = sh_args, .n_args = 3 };
        struct image_info docker_by_id = { .docker = true, .docker_image_is_id = true };
        static const uint32_t B = 1u << POLICY_CLAIM_BUILD_ANNOTATION, C = 1u << POLICY_CLAIM_BUILDKIT_CGROUP,
                              H = 1u << POLICY_CLAIM_BUILDKIT_HOSTNAME, D = 1u << POLICY_CLAIM_DOCKER_CLASSIC;
        const struct {
                const char *name, *id, *bundle, *cgroup;
                const struct oci_info *oci;
                const struct image_info *img;
                const char *want_attested;
                uint32_t want_claims;
                bool want_off;
        } cases[] = {
                { "plain service", "c1", "/b/c1", "/ctr/c1", &plain, NULL, NULL, 0, false },
                { "buildkit executor bundle", "k1", "/var/lib/docker/buildkit/executor/k1", "/ctr/k1", &plain, NULL, "buildkit-bundle", 0, false },
                { "buildkitd runc worker bundle", "k2", "/var/lib/buildkit/runc-overlayfs/executor/k2", "/x", &plain, NULL, "buildkit-bundle", 0, false },
                { "look-alike bundle", "k3", "/srv/mybuildkit/executor/k3", "/x", &plain, NULL, NULL, 0, false },
                { "buildah id", "buildah-abc", "/b", "/x", &plain, NULL, "buildah-id", 0, false },
                { "hostname is a claim", "c1", "/b", "/x", &sandbox, NULL, NULL, H, false },
                { "cgroup parent is a claim", "c1", "/b", "/buildkit/c1", &plain, NULL, NULL, C, false },
                { "cgroup /buildkit itself", "c1", "/b", "/buildkit", &plain, NULL, NULL, C, false },
                { "annotation is a claim", "c1", "/b", "/x", &ann_true, NULL, NULL, B, false },
                { "annotation false", "c1", "/b", "/x", &ann_false, NULL, NULL, 0, true },
                { "docker run of an image id with sh -c is a claim", "c1", "/b", "/x", &shell, &docker_by_id, NULL, D, false },
                { "sh -c without docker's record", "c1", "/b", "/x", &shell, NULL, NULL, 0, false },
                { "attested and claimed together", "buildah-x", "/b", "/buildkit/x", &sandbox, NULL, "buildah-id", C | H, false },
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                struct build_signals bs;
                build_signals_detect(cases[i].id, cases[i].bundle, cases[i].cgroup, cases[i].oci, NULL, cases[i].img, &bs);
                bool ok = (cases[i].want_attested ? bs.attested_source && strcmp(bs.attested_source, cases[i].want_attested) == 0
                                                  : bs.attested_source == NULL) &&
                          bs.claims == cases[i].want_claims && bs.forced_off == cases[i].want_off;
                CHECK(ok, "build signals: %s (attested %s, claims 0x%x)", cases[i].name, bs.attested_source ? bs.attested_source : "-", bs.claims);
        }
        for (size_t i = 0; i < sizeof build_claims / sizeof *build_claims; i++)
                CHECK(build_claim_text(build_claims[i])[0] && policy_claim_name(build_claims[i]), "build claim %s has a text and a name",
                      policy_claim_name(build_claims[i]));
}

static void test_build_decide(void) {
        static const uint32_t B = 1u << POLICY_CLAIM_BUILD_ANNOTATION, C = 1u << POLICY_CLAIM_BUILDKIT_CGROUP,
                              H = 1u << POLICY_CLAIM_BUILDKIT_HOSTNAME;
        const struct build_signals none = {0}, bundle = {.attested_source = "buildkit-bundle", .attested_text = "buildkit bundle"},
                                   bundle_off = {.attested_source = "buildkit-bundle", .attested_text = "buildkit bundle", .forced_off = true},
                                   hostname = {.claims = H}, host_and_cgroup = {.claims = H | C}, ann_off = {.claims = H, .forced_off = true};
        const struct {
                const char *name;
                const struct build_signals *bs;
                bool asserted;
                uint32_t trusted;
                bool builder;
                bool want_build;
                const char *want_source;
                enum build_note want_note;
        } cases[] = {
                { "no signal", &none, false, 0, false, false, "", BUILD_NOTE_NONE },
                { "explain --build asserts it", &none, true, 0, false, true, "explain --build", BUILD_NOTE_NONE },
                { "attested bundle", &bundle, false, 0, false, true, "buildkit-bundle", BUILD_NOTE_NONE },
                { "build=false cannot turn off an attested signal", &bundle_off, false, 0, false, true, "buildkit-bundle",
                  BUILD_NOTE_FORCED_OFF_IGNORED },
                { "untrusted claim: not a build, named", &hostname, false, 0, false, false, "buildkit-hostname", BUILD_NOTE_CLAIM_UNTRUSTED },
                { "claim trusted by a matching policy", &hostname, false, H, false, true, "buildkit-hostname", BUILD_NOTE_NONE },
                { "trust of another claim does not count", &hostname, false, B, false, false, "buildkit-hostname", BUILD_NOTE_CLAIM_UNTRUSTED },
                { "the first trusted claim in order decides", &host_and_cgroup, false, H, false, true, "buildkit-hostname", BUILD_NOTE_NONE },
                { "cgroup claim comes before hostname", &host_and_cgroup, false, H | C, false, true, "buildkit-cgroup", BUILD_NOTE_NONE },
                { "build=false turns off claims", &ann_off, false, H, false, false, "", BUILD_NOTE_NONE },
                { "sh -c in a builder image", &none, false, 0, true, true, "builder-policy", BUILD_NOTE_NONE },
                { "an untrusted claim outranks the builder rule", &hostname, false, 0, true, false, "buildkit-hostname", BUILD_NOTE_CLAIM_UNTRUSTED },
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                struct build_decide_input in = {.signals = cases[i].bs, .asserted = cases[i].asserted, .trusted_claims = cases[i].trusted,
                                                .shell_step_in_builder = cases[i].builder};
                struct build_decision d;
                build_decide(&in, &d);
                bool ok = d.build == cases[i].want_build && d.trusted == cases[i].want_build && strcmp(d.source, cases[i].want_source) == 0 &&
                          d.note == cases[i].want_note && (!d.build || d.signal[0]);
                CHECK(ok, "build decide: %s (build %d, source '%s', note %d)", cases[i].name, d.build, d.source, (int) d.note);
        }
}

static void test_claim_names(void) {
        for (int c = POLICY_CLAIM_NONE + 1; c < _POLICY_CLAIM_MAX; c++) {
                const char *n = policy_claim_name((enum policy_claim) c);
                CHECK(n && policy_claim_from_name(n) == (enum policy_claim) c, "claim %d <-> '%s'", c, n ? n : "(null)");
        }
        CHECK(policy_claim_name(POLICY_CLAIM_NONE) == NULL && policy_claim_name(_POLICY_CLAIM_MAX) == NULL, "no name outside the claims");
        CHECK(policy_claim_from_name("docker-config") == POLICY_CLAIM_NONE, "an attested source is not a claim a policy can trust");
        CHECK(policy_claim_from_name("") == POLICY_CLAIM_NONE, "the empty word names no claim");
}

static struct policy *parse(const char *json) {
        struct policy *p = NULL;
        struct mg_error err = {0};
        if (policy_parse("t.json", json, strlen(json), &p, &err) < 0) {
                printf("# parse: %s\n", err.msg);
                return NULL;
        }
        return p;
}

static void test_trust_parse(void) {
        static const struct {
                const char *json, *want_err; /* NULL: valid */
        } cases[] = {
                { "{\"trust\": [\"oci-memguard.image\", \"buildkit-hostname\"]}", NULL },
                { "{\"trust\": [\"oci-memguard.image\", \"oci-memguard.image\"]}", NULL },
                { "{\"trust\": [\"docker-config\"]}", "t.json:1:12: unknown claim in 'trust': 'docker-config'" },
                { "{\"trust\": [\"oci-memguard.image\",\n \"nope\"]}", "t.json:2:2: unknown claim in 'trust': 'nope'" },
                { "{\"trust\": []}", "t.json:1:11: 'trust' is empty" },
                { "{\"trust\": \"oci-memguard.image\"}", "t.json:1:11: type: 'trust' must be an array" },
                { "{\"trust\": [1]}", "t.json:1:12: type: 'trust' entries must be claim names, not number" },
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                struct policy *p = NULL;
                struct mg_error err = {0};
                int r = policy_parse("t.json", cases[i].json, strlen(cases[i].json), &p, &err);
                bool ok = cases[i].want_err ? r < 0 && strncmp(err.msg, cases[i].want_err, strlen(cases[i].want_err)) == 0 : r == 0;
                CHECK(ok, "trust %s -> %s", cases[i].json, r < 0 ? err.msg : "valid");
                policy_free(p);
        }
        struct policy *p = parse("{\"trust\": [\"oci-memguard.image\", \"buildkit-cgroup\"]}");
        CHECK(p && policy_trusts(p, POLICY_CLAIM_IMAGE_ANNOTATION) && policy_trusts(p, POLICY_CLAIM_BUILDKIT_CGROUP) &&
                      !policy_trusts(p, POLICY_CLAIM_REF_NAME) && !policy_trusts(p, POLICY_CLAIM_NONE),
              "trust sets exactly the named claims");
        policy_free(p);
}

static void test_trust_match(void) {
        struct policy *pg = parse("{\"match\": {\"images\": [\"postgres:*\"]}}");
        struct policy *pg_trusting = parse("{\"trust\": [\"oci-memguard.image\"], \"match\": {\"images\": [\"postgres:*\"]}}");
        struct policy *any = parse("{\"memory\": {\"low\": \"1M\"}}");
        struct policy *builds = parse("{\"match\": {\"build\": true}}");
        struct policy *builds_trusting = parse("{\"trust\": [\"buildkit-hostname\"], \"match\": {\"build\": true}}");
        struct policy *services = parse("{\"match\": {\"build\": false}}");
        if (!pg || !pg_trusting || !any || !builds || !builds_trusting || !services) {
                CHECK(false, "test policies parse");
                goto out;
        }
        struct policy_subject attested = { .image = "postgres:16", .cgroup = "/x" };
        struct policy_subject claimed = { .image = "postgres:16", .cgroup = "/x", .image_claim = POLICY_CLAIM_IMAGE_ANNOTATION };
        struct policy_subject claimed_ref = { .image = "postgres:16", .cgroup = "/x", .image_claim = POLICY_CLAIM_REF_NAME };
        const struct {
                const char *name;
                const struct policy *p;
                const struct policy_subject *s;
                bool want;
        } img[] = {
                { "attested image, plain policy", pg, &attested, true },
                { "claimed image, policy without trust", pg, &claimed, false },
                { "claimed image, policy trusting that key", pg_trusting, &claimed, true },
                { "claimed image, policy trusting another key", pg_trusting, &claimed_ref, false },
                { "claimed image, policy without an images list", any, &claimed, true },
        };
        for (size_t i = 0; i < sizeof img / sizeof *img; i++)
                CHECK(policy_matches(img[i].p, img[i].s) == img[i].want, "match: %s", img[i].name);

        struct policy_subject build_attested = { .image = "", .cgroup = "/x", .build = true };
        struct policy_subject build_claimed = { .image = "", .cgroup = "/x", .build = true, .build_claim = POLICY_CLAIM_BUILDKIT_HOSTNAME };
        struct policy_subject build_claimed_other = { .image = "", .cgroup = "/x", .build = true, .build_claim = POLICY_CLAIM_BUILDKIT_CGROUP };
        const struct {
                const char *name;
                const struct policy *p;
                const struct policy_subject *s;
                bool want;
        } bld[] = {
                { "attested build, build policy", builds, &build_attested, true },
                { "claimed build, build policy without trust", builds, &build_claimed, false },
                { "claimed build, service policy without trust (not a build for it)", services, &build_claimed, true },
                { "claimed build, build policy trusting it", builds_trusting, &build_claimed, true },
                { "claimed build, build policy trusting another claim", builds_trusting, &build_claimed_other, false },
        };
        for (size_t i = 0; i < sizeof bld / sizeof *bld; i++)
                CHECK(policy_matches(bld[i].p, bld[i].s) == bld[i].want, "match: %s", bld[i].name);

        /* the merge keeps every matched policy's trust */
        struct policy_set set = { .items = (struct policy *[]) { pg_trusting, builds_trusting }, .n = 2 };
        struct policy merged;
        size_t *matched = NULL, n_matched = 0;
        struct policy_subject both = { .image = "postgres:16", .cgroup = "/x", .build = true };
        int r = policy_merge_matching(&set, &both, &merged, &matched, &n_matched);
        CHECK(r == 0 && n_matched == 2 && policy_trusts(&merged, POLICY_CLAIM_IMAGE_ANNOTATION) && policy_trusts(&merged, POLICY_CLAIM_BUILDKIT_HOSTNAME),
              "merge: trust is the union of the matched policies'");
        free(matched);
        free(merged.description);
out:
        policy_free(pg);
        policy_free(pg_trusting);
        policy_free(any);
        policy_free(builds);
        policy_free(builds_trusting);
        policy_free(services);
}

int main(void) {
        setvbuf(stdout, NULL, _IONBF, 0);
        test_image_choose();
        test_containerd_cri();
        test_build_signals();
        test_build_decide();
        test_claim_names();
        test_trust_parse();
        test_trust_match();
        return test_report();
}
