#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The image comes from the engine's own records (Docker's config.v2.json,
# containers-storage metadata, containerd's CRI annotation in its k8s.io
# namespace) or, failing those, from a claim (an annotation) that a policy
# must trust; policies match on it.

load helpers

setup() {
	make_sysroot v2
	policy 50-pg.json '{"match": {"images": ["postgres:*", "*/postgres:*"]}, "memory": {"min": "256M"}}'
	mk_cgroup /ctr/c1
	mk_proc 4001 /ctr/c1
}

@test "image from containerd's CRI annotation io.kubernetes.cri.image-name, for a bundle in its k8s.io namespace" {
	make_bundle c1 /ctr/c1 '.annotations["io.kubernetes.cri.image-name"]="docker.io/library/postgres:16"'
	local b="$BATS_TEST_TMPDIR/run/containerd/io.containerd.runtime.v2.task/k8s.io/c1"
	mkdir -p "$b"
	cp "$BUNDLE/config.json" "$b/"
	BUNDLE="$b"
	state_for c1 4001
	hook_run prestart
	assert_success
	run log_field '"\(.image) \(.image_source) \(.image_trusted)"'
	assert_output "docker.io/library/postgres:16 containerd-cri true"
	assert_equal "$(cg_value /ctr/c1 memory.min)" 268435456
}

@test "the CRI key outside containerd's CRI, CRI-O's key and oci-memguard.image are claims: used only by a policy that trusts them" {
	make_bundle c1 /ctr/c1 '.annotations["io.kubernetes.cri.image-name"]="docker.io/library/postgres:16"'
	state_for c1 4001
	hook_run prestart
	assert_success
	run log_field '"\(.image) \(.image_source) \(.image_trusted) \(.policies | length)"'
	assert_output "docker.io/library/postgres:16 io.kubernetes.cri.image-name false 0"
	assert_equal "$(cg_value /ctr/c1 memory.min)" 0

	policy 50-pg.json '{"trust": ["io.kubernetes.cri-o.ImageName", "oci-memguard.image"], "match": {"images": ["postgres:*", "*/postgres:*"]}, "memory": {"min": "256M"}}'
	make_bundle c2 /ctr/c1 '.annotations["io.kubernetes.cri-o.ImageName"]="quay.io/x/postgres:15"'
	state_for c2 4001
	hook_run prestart
	run log_field '"\(.image) \(.image_source) \(.image_trusted)"'
	assert_output "quay.io/x/postgres:15 io.kubernetes.cri-o.ImageName true"
	make_bundle c3 /ctr/c1 '.annotations["oci-memguard.image"]="postgres:14"'
	state_for c3 4001
	hook_run prestart
	run log_field '"\(.image) \(.image_source) \(.image_trusted)"'
	assert_output "postgres:14 oci-memguard.image true"
	assert_equal "$(cg_value /ctr/c1 memory.min)" 268435456
}

@test "image from Docker's config.v2.json, found through the container's own bind mounts" {
	local id=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	local droot="/srv/docker-data"
	mkdir -p "$SYSROOT$droot/containers/$id"
	jq -n '{Config: {Image: "postgres:16", Cmd: ["postgres"]}, Image: "sha256:feed"}' >"$SYSROOT$droot/containers/$id/config.v2.json"
	mk_cgroup "/docker/$id"
	mk_proc 4002 "/docker/$id"
	make_bundle "$id" "/docker/$id" ".mounts += [{destination: \"/etc/hostname\", type: \"bind\", source: \"$droot/containers/$id/hostname\"}] | .annotations=null"
	state_for "$id" 4002
	hook_run prestart
	assert_success
	run log_field '"\(.image) \(.image_source) \(.image_trusted)"'
	assert_output "postgres:16 docker-config true"
	assert_equal "$(cg_value "/docker/$id" memory.min)" 268435456
}

@test "image from containers-storage metadata (Podman image-name), through root.path" {
	local graph=/var/lib/containers/storage
	mkdir -p "$SYSROOT$graph/overlay-containers" "$BATS_TEST_TMPDIR/bundles"
	jq -n '[{id: "other", metadata: "{\"image-name\":\"busybox:latest\"}"}, {id: "c1", names: ["db"], metadata: "{\"image-name\":\"docker.io/library/postgres:16\",\"name\":\"db\"}"}]' \
		>"$SYSROOT$graph/overlay-containers/containers.json"
	# podman's root.path is absolute on the host; the sysroot prefixes it
	make_bundle c1 /ctr/c1 ".root.path=\"$graph/overlay/abc123/merged\""
	state_for c1 4001
	hook_run prestart
	assert_success
	run log_field '"\(.image) \(.image_source) \(.image_trusted)"'
	assert_output "docker.io/library/postgres:16 containers-storage true"
	assert_equal "$(cg_value /ctr/c1 memory.min)" 268435456
}

@test "unknown image is \"\" and matches only policies without an image pattern" {
	make_bundle c1 /ctr/c1
	state_for c1 4001
	hook_run prestart
	assert_success
	run log_field '.image'
	assert_output ""
	run log_field '.policies | length'
	assert_output 0
	assert_equal "$(cg_value /ctr/c1 memory.min)" 0
	policy 60-any.json '{"memory": {"low": "8M"}}'
	hook_run prestart
	run log_field '.policies | join(",")'
	assert_output 60-any.json
	assert_equal "$(cg_value /ctr/c1 memory.low)" 8388608
}
