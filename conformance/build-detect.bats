#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Recognising build steps: the record names the signal that decided, where it
# came from and whether it was trusted. The engine's own signals (BuildKit's
# executor bundle, Buildah's container ids) are attested; whatever a user can
# type (an annotation, --hostname, --cgroup-parent, docker run of an image id)
# is a claim that counts only where a policy trusts it.

load helpers

setup() {
	make_sysroot v2
	policy 10.json '{"build": {"reclaim": {"when": "never"}}}'
	mk_cgroup /ci/c1
	mk_proc 4001 /ci/c1
}

signal_for() { # run prestart, print "build signal|source trusted"
	hook_run prestart 2>/dev/null
	assert_success
	log_field '"\(.build) \(.build_signal)|\(.build_source) \(.build_trusted)"'
}

trust_claims() { # a policy that trusts the given claims
	policy 05-trust.json "$(jq -cn --args '{trust: $ARGS.positional}' "$@")"
}

@test "annotation oci-memguard.build=true" {
	make_bundle c1 /ci/c1 '.annotations["oci-memguard.build"]="true"'
	state_for c1 4001
	run signal_for
	assert_output "false |oci-memguard.build false"
	trust_claims oci-memguard.build
	run signal_for
	assert_output "true annotation oci-memguard.build=true|oci-memguard.build true"
}

@test "BuildKit: cgroup under /buildkit/" {
	mk_cgroup /docker/buildkit/x1
	mk_proc 4002 /docker/buildkit/x1
	make_bundle x1 /docker/buildkit/x1
	state_for x1 4002
	run signal_for
	assert_output "false |buildkit-cgroup false"
	trust_claims buildkit-cgroup
	run signal_for
	assert_output "true buildkit cgroup|buildkit-cgroup true"
}

@test "BuildKit: bundle under buildkit/executor/ and hostname buildkitsandbox" {
	make_bundle c1 /ci/c1
	mkdir -p "$BATS_TEST_TMPDIR/data/buildkit/executor/k1"
	cp "$BUNDLE/config.json" "$BATS_TEST_TMPDIR/data/buildkit/executor/k1/"
	BUNDLE="$BATS_TEST_TMPDIR/data/buildkit/executor/k1"
	state_for c1 4001
	run signal_for
	assert_output "true buildkit bundle|buildkit-bundle true"
	make_bundle c1 /ci/c1 '.hostname="buildkitsandbox"'
	state_for c1 4001
	run signal_for
	assert_output "false |buildkit-hostname false"
	trust_claims buildkit-hostname
	run signal_for
	assert_output "true buildkit hostname|buildkit-hostname true"
}

@test "BuildKit standalone (buildkitd OCI worker): bundle under runc-<snapshotter>/executor/" {
	make_bundle c1 /ci/c1
	local d
	for d in var/lib/buildkit/runc-overlayfs/executor/k2 root/.local/share/buildkit/runc-native/executor/k3; do
		mkdir -p "$BATS_TEST_TMPDIR/$d"
		cp "$BATS_TEST_TMPDIR/bundles/c1/config.json" "$BATS_TEST_TMPDIR/$d/"
		BUNDLE="$BATS_TEST_TMPDIR/$d"
		state_for c1 4001
		run signal_for
		assert_output "true buildkit bundle|buildkit-bundle true"
	done
	# look-alikes are not builds
	for d in srv/buildkit/runc-overlayfs/bundles/k4 srv/mybuildkit/executor/k5; do
		mkdir -p "$BATS_TEST_TMPDIR/$d"
		cp "$BATS_TEST_TMPDIR/bundles/c1/config.json" "$BATS_TEST_TMPDIR/$d/"
		BUNDLE="$BATS_TEST_TMPDIR/$d"
		state_for c1 4001
		run signal_for
		assert_output "false | false"
	done
}

@test "Buildah / podman build: id buildah-*" {
	make_bundle buildah-abc /ci/c1
	state_for buildah-abc 4001
	run signal_for
	assert_output "true buildah container id|buildah-id true"
}

@test "Docker's classic builder: a Docker container from a bare image id running /bin/sh -c" {
	local id=abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789
	mkdir -p "$SYSROOT/var/lib/docker/containers/$id"
	jq -n '{Config: {Image: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Cmd: ["/bin/sh", "-c", "make"]}}' \
		>"$SYSROOT/var/lib/docker/containers/$id/config.v2.json"
	make_bundle "$id" /ci/c1 ".process.args=[\"/bin/sh\",\"-c\",\"make\"] | .mounts += [{destination: \"/etc/hostname\", source: \"/var/lib/docker/containers/$id/hostname\"}]"
	state_for "$id" 4001
	# "docker run sha256:... /bin/sh -c make" looks the same: a claim
	run signal_for
	assert_output "false |docker-classic-builder false"
	trust_claims docker-classic-builder
	run signal_for
	assert_output "true docker classic builder|docker-classic-builder true"
	# the same container from a named image is a plain docker run
	jq '.Config.Image="golang:1.22"' "$SYSROOT/var/lib/docker/containers/$id/config.v2.json" >"$BATS_TEST_TMPDIR/c" && mv "$BATS_TEST_TMPDIR/c" "$SYSROOT/var/lib/docker/containers/$id/config.v2.json"
	run signal_for
	assert_output "false | false"
}

@test "/bin/sh -c from an image a policy marks as a builder" {
	policy 20-builder.json '{"trust": ["oci-memguard.image"], "match": {"images": ["golang:*"]}, "build": {"builder": true}}'
	make_bundle c1 /ci/c1 '.process.args=["/bin/sh","-c","go build ./..."] | .annotations["oci-memguard.image"]="golang:1.22"'
	state_for c1 4001
	run signal_for
	assert_output "true /bin/sh -c in a builder image|builder-policy true"
	make_bundle c1 /ci/c1 '.process.args=["/usr/local/go/bin/go","build"] | .annotations["oci-memguard.image"]="golang:1.22"'
	run signal_for
	assert_output "false | false"
	# an image only claimed, by a key the builder policy does not trust
	make_bundle c1 /ci/c1 '.process.args=["/bin/sh","-c","go build ./..."] | .annotations["org.opencontainers.image.ref.name"]="golang:1.22"'
	run signal_for
	assert_output "false | false"
}

@test "a policy can turn the heuristics off; the annotation still counts" {
	policy 20-off.json '{"build": {"detect": false}}'
	make_bundle buildah-x /ci/c1
	state_for buildah-x 4001
	run signal_for
	assert_output "false | false"
	run log_field '.skipped | join(" ")'
	assert_output --partial "(buildah-id) ignored: policy sets build.detect=false"
	trust_claims oci-memguard.build
	make_bundle c1 /ci/c1 '.annotations["oci-memguard.build"]="true"'
	state_for c1 4001
	run signal_for
	assert_output "true annotation oci-memguard.build=true|oci-memguard.build true"
}

@test "annotation oci-memguard.build=false turns claimed signals off for one container, not the engine's own" {
	trust_claims buildkit-hostname
	make_bundle c1 /ci/c1 '.hostname="buildkitsandbox" | .annotations["oci-memguard.build"]="false"'
	state_for c1 4001
	run signal_for
	assert_output "false | false"
	make_bundle buildah-y /ci/c1 '.annotations["oci-memguard.build"]="false"'
	state_for buildah-y 4001
	run signal_for
	assert_output "true buildah container id|buildah-id true"
	run log_field '.skipped | join(" ")'
	assert_output --partial "oci-memguard.build=false ignored"
}

@test "policies can match on the build signal" {
	policy 30-builds.json '{"match": {"build": true}, "memory": {"low": "1G"}}'
	make_bundle buildah-z /ci/c1
	state_for buildah-z 4001
	hook_run prestart
	run log_field '.policies | join(",")'
	assert_output "10.json,30-builds.json"
	assert_equal "$(cg_value /ci/c1 memory.low)" 1073741824
}
