#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Whoever starts a container chooses its annotations, hostname and cgroup
# parent, and an image's author chooses the annotations Podman copies into
# the spec. Those are claims: the image the engine's own records name wins,
# and a claim (of an image or of being a build) counts only where a policy
# trusts it by name. The outcome record and the container's record say
# which source decided and whether it was trusted.

load helpers

setup() {
	make_sysroot v2
	policy 40-busybox.json '{"match": {"images": ["busybox:*", "*/busybox:*"]}, "memory": {"low": "8M"}}'
	policy 50-pg.json '{"match": {"images": ["postgres:*", "*/postgres:*"]}, "memory": {"min": "2G"}}'
	# a build policy with host-wide effects: swappiness and root-level reclaim
	policy 60-builds.json '{"match": {"build": true}, "build": {"swappiness": 10, "reclaim": {"when": "always", "drop_caches": 3}}}'
	: >"$SYSROOT/proc/sys/vm/drop_caches"
	: >"$SYSROOT/proc/sys/vm/compact_memory"
	: >"$CGROOT/memory.reclaim"
	mk_cgroup /ctr/c1
	mk_proc 4001 /ctr/c1
}

swappiness() { cat "$SYSROOT/proc/sys/vm/swappiness"; }

# docker_container ID IMAGE [jq filter]: a Docker container whose
# config.v2.json names IMAGE, found through its /etc/hostname bind mount.
docker_container() {
	local id="$1" image="$2" filter="${3:-.}" droot=/var/lib/docker
	mkdir -p "$SYSROOT$droot/containers/$id"
	jq -n --arg i "$image" '{Config: {Image: $i, Cmd: ["sh"]}, Image: "sha256:feed"}' >"$SYSROOT$droot/containers/$id/config.v2.json"
	mk_cgroup "/docker/$id"
	mk_proc 4100 "/docker/$id"
	make_bundle "$id" "/docker/$id" ".mounts += [{destination: \"/etc/hostname\", type: \"bind\", source: \"$droot/containers/$id/hostname\"}] | $filter"
	state_for "$id" 4100
}

# no_host_wide_build_effect: nothing but the container's own cgroup chain
# was written: no vm.swappiness, no root-level reclaim, drop_caches or
# compaction.
no_host_wide_build_effect() {
	assert_equal "$(swappiness)" 60
	assert_equal "$(cat "$CGROOT/memory.reclaim")" ""
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/drop_caches")" ""
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/compact_memory")" ""
	run log_field '[.actions[] | select(.target | startswith("vm.") or . == "/")] | length'
	assert_output 0
}

@test "docker run --annotation org.opencontainers.image.ref.name=postgres:16 busybox gets busybox's policy, not postgres's" {
	local id=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	docker_container "$id" busybox:latest '.annotations["org.opencontainers.image.ref.name"]="postgres:16"'
	hook_run prestart
	assert_success
	run log_field '"\(.image) \(.image_source) \(.image_trusted) \(.policies | join(","))"'
	assert_output "busybox:latest docker-config true 40-busybox.json"
	assert_equal "$(cg_value "/docker/$id" memory.min)" 0
	assert_equal "$(cg_value /docker memory.min)" 0
	assert_equal "$(cg_value "/docker/$id" memory.low)" 8388608
	run log_field '.skipped | join("\n")'
	assert_output --partial "claim org.opencontainers.image.ref.name=postgres:16 ignored"
	# the engine's record wins even over a claim a policy trusts
	policy 50-pg.json '{"trust": ["org.opencontainers.image.ref.name", "oci-memguard.image"], "match": {"images": ["postgres:*"]}, "memory": {"min": "2G"}}'
	docker_container "$id" busybox:latest '.annotations["oci-memguard.image"]="postgres:16"'
	hook_run prestart
	assert_success
	run log_field '"\(.image) \(.image_source) \(.policies | join(","))"'
	assert_output "busybox:latest docker-config 40-busybox.json"
	assert_equal "$(cg_value /docker memory.min)" 0
	# and the container's record says so
	run jq -r '"\(.image) \(.image_source) \(.image_trusted)"' "$STATE_DIR/containers/$id.json"
	assert_output "busybox:latest docker-config true"
}

@test "a Podman image carrying org.opencontainers.image.ref.name=postgres:16 gets the policy of the image containers-storage names" {
	make_bundle c1 /ctr/c1 "$(storage_image c1 docker.io/library/busybox:1.36) | .annotations[\"org.opencontainers.image.ref.name\"]=\"postgres:16\""
	state_for c1 4001
	hook_run prestart
	assert_success
	run log_field '"\(.image) \(.image_source) \(.image_trusted) \(.policies | join(","))"'
	assert_output "docker.io/library/busybox:1.36 containers-storage true 40-busybox.json"
	assert_equal "$(cg_value /ctr/c1 memory.min)" 0
	assert_equal "$(cg_value /ctr memory.min)" 0
}

@test "an image only a claim names selects no policy that does not trust that claim" {
	make_bundle c1 /ctr/c1 '.annotations["org.opencontainers.image.ref.name"]="postgres:16"'
	state_for c1 4001
	hook_run prestart
	assert_success
	run log_field '"\(.image) \(.image_source) \(.image_trusted) \(.policies | length)"'
	assert_output "postgres:16 org.opencontainers.image.ref.name false 0"
	assert_equal "$(cg_value /ctr/c1 memory.min)" 0
	assert_equal "$(cg_value /ctr memory.min)" 0
	# a policy that trusts another key is no better
	policy 50-pg.json '{"trust": ["oci-memguard.image"], "match": {"images": ["postgres:*"]}, "memory": {"min": "2G"}}'
	hook_run prestart
	assert_equal "$(cg_value /ctr memory.min)" 0
	# a policy that trusts this one takes it, and the record says so
	policy 50-pg.json '{"trust": ["org.opencontainers.image.ref.name"], "match": {"images": ["postgres:*"]}, "memory": {"min": "2G"}}'
	hook_run prestart
	assert_success
	run log_field '"\(.image_source) \(.image_trusted) \(.policies | join(","))"'
	assert_output "org.opencontainers.image.ref.name true 50-pg.json"
	assert_equal "$(cg_value /ctr/c1 memory.min)" 2147483648
}

@test "--hostname buildkitsandbox, --cgroup-parent=/buildkit or oci-memguard.build=true on a service: not a build, no host-wide effect" {
	# a policy for every container, so that each has a record
	policy 10-all.json '{"memory": {"low": "4M"}}'
	local how
	for how in hostname cgroup annotation; do
		local id="svc-$how" cg="/ctr/svc-$how" filter=.
		case $how in
		hostname) filter='.hostname="buildkitsandbox"' ;;
		cgroup) cg="/buildkit/svc-$how" ;;
		annotation) filter='.annotations["oci-memguard.build"]="true"' ;;
		esac
		mk_cgroup "$cg"
		mk_proc 4200 "$cg"
		make_bundle "$id" "$cg" "$filter | .process.args=[\"nginx\",\"-g\",\"daemon off;\"]"
		state_for "$id" 4200
		hook_run prestart
		assert_success
		no_host_wide_build_effect
		run log_field '"\(.build) \(.build_source) \(.build_trusted) \(.policies | length)"'
		case $how in
		hostname) assert_output "false buildkit-hostname false 1" ;;
		cgroup) assert_output "false buildkit-cgroup false 1" ;;
		annotation) assert_output "false oci-memguard.build false 1" ;;
		esac
		run jq -r '"\(.build) \(.swappiness) \(.build_trusted)"' "$STATE_DIR/containers/$id.json"
		assert_output "false -1 false"
		run log_field '.skipped | join("\n")'
		assert_output --partial "ignored: no matching policy trusts it"
	done
	run jq -c '."vm.swappiness"' "$STATE_DIR/ledger.json"
	assert_output null
}

@test "the same build claims under a policy that trusts them: honoured, and recorded as trusted" {
	policy 60-builds.json '{"trust": ["buildkit-hostname", "buildkit-cgroup", "oci-memguard.build"], "match": {"build": true}, "build": {"swappiness": 10, "reclaim": {"when": "always", "drop_caches": 3}}}'
	local how
	for how in hostname cgroup annotation; do
		local id="b-$how" cg="/ctr/b-$how" filter=.
		case $how in
		hostname) filter='.hostname="buildkitsandbox"' ;;
		cgroup) cg="/buildkit/b-$how" ;;
		annotation) filter='.annotations["oci-memguard.build"]="true"' ;;
		esac
		mk_cgroup "$cg"
		mk_proc 4300 "$cg"
		make_bundle "$id" "$cg" "$filter"
		state_for "$id" 4300
		hook_run prestart
		assert_success
		run log_field '"\(.build) \(.build_source) \(.build_trusted) \(.policies | join(","))"'
		case $how in
		hostname) assert_output "true buildkit-hostname true 60-builds.json" ;;
		cgroup) assert_output "true buildkit-cgroup true 60-builds.json" ;;
		annotation) assert_output "true oci-memguard.build true 60-builds.json" ;;
		esac
		assert_equal "$(swappiness)" 10
		assert_equal "$(cat "$SYSROOT/proc/sys/vm/drop_caches")" 3
		run jq -r '"\(.build) \(.swappiness) \(.build_source) \(.build_trusted)"' "$STATE_DIR/containers/$id.json"
		assert_output --regexp "^true 10 [a-z.-]+ true$"
		# poststop reports the record's sources and gives swappiness back
		rm -rf "${CGROOT:?}$cg" "${SYSROOT:?}/proc/4300"
		state_for "$id" none
		hook_run poststop
		assert_success
		run log_field '"\(.build) \(.build_trusted)"'
		assert_output "true true"
		assert_equal "$(swappiness)" 60
		: >"$SYSROOT/proc/sys/vm/drop_caches"
	done
}

@test "a trust entry that names no claim is an error of that policy file, with FILE:LINE:COL" {
	policy 70-typo.json '{
  "trust": ["oci-memguard.image", "oci-memguard.imgae"],
  "memory": {"min": "1G"}
}'
	run "$MEMGUARD_BIN" policy check "$ADMIN_POLICY_DIR/70-typo.json"
	assert_failure
	assert_output --partial "70-typo.json:2:35: unknown claim in 'trust': 'oci-memguard.imgae'"
	policy 70-typo.json '{"trust": []}'
	run "$MEMGUARD_BIN" policy check "$ADMIN_POLICY_DIR/70-typo.json"
	assert_failure
	assert_output --partial "'trust' is empty"
	policy 70-typo.json '{"trust": "oci-memguard.image"}'
	run "$MEMGUARD_BIN" policy check "$ADMIN_POLICY_DIR/70-typo.json"
	assert_failure
	assert_output --partial "type: 'trust' must be an array"
}

@test "a FIFO where containers-storage metadata should be does not hang the hook" {
	local graph=/var/lib/containers/storage
	mkdir -p "$SYSROOT$graph/overlay-containers"
	mkfifo "$SYSROOT$graph/overlay-containers/containers.json"
	make_bundle c1 /ctr/c1 ".root.path=\"$graph/overlay/abc/merged\""
	state_for c1 4001
	run timeout 10 "$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
	assert_success
	run log_field '"\(.image)|\(.image_source)"'
	assert_output "|"
}
