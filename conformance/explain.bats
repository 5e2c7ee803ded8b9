#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# `oci-memguard explain`: what the hook would do, exactly — checked
# against what prestart then really writes for the same inputs — and nothing
# written.

load helpers

setup() {
	make_sysroot v2
	policy 10-go.json '{"trust": ["oci-memguard.image", "oci-memguard.build"], "match": {"images": ["golang:*"]}, "memory": {"min": "64M", "low": "128M"}, "build": {"swappiness": 10}}'
	policy 20-node.json '{"match": {"images": ["node:*"]}, "memory": {"min": "1G"}}'
	mk_cgroup /ci/c1
	mk_proc 4001 /ci/c1
	make_bundle c1 /ci/c1 '.annotations["oci-memguard.image"]="golang:1.22" | .annotations["oci-memguard.build"]="true"'
	state_for c1 4001
}

@test "explain --bundle --pid: the container as identified, each policy file, the merged policy, planned writes" {
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4001
	assert_success
	assert_line "container c1"
	assert_line "  image:   golang:1.22 (from oci-memguard.image: a claim, trusted by a matching policy)"
	assert_line "  cgroup:  /ci/c1 (from /proc/<pid>/cgroup), cgroup v2, memory_recursiveprot on"
	assert_line "  build:   yes (annotation oci-memguard.build=true; from oci-memguard.build: a claim, trusted by a matching policy)"
	assert_line --regexp "^  matched   .*/10-go.json$"
	assert_line --regexp "^  no match  .*/20-node.json$"
	assert_line "  memory.min 67108864, memory.low 134217728 -> claims min=67108864 low=134217728 bytes"
	assert_line "  /ci memory.min: 0 -> 67108864"
	assert_line "  vm.swappiness /proc/sys/vm/swappiness: 60 -> 10"
}

@test "explain writes nothing: no cgroup value, no state, no log" {
	local before
	before="$(host_snapshot)"
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4001
	assert_success
	assert_equal "$(host_snapshot)" "$before"
	assert_file_not_exists "$LOG_FILE"
	assert_file_not_exists "$STATE_DIR"
}

@test "explain's planned writes are exactly what prestart then writes" {
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4001 --json
	assert_success
	local planned real
	planned=$(jq -c '[.actions[] | {target, file, old, new}] | sort' <<<"$output")
	hook_run prestart
	assert_success
	real=$(log_field '[.actions[] | {target, file, old, new}] | sort' | jq -c .)
	assert_equal "$planned" "$real"
	[[ "$(jq length <<<"$real")" -ge 5 ]]
}

@test "explain --bundle without --pid: the cgroup from linux.cgroupsPath, the same writes as prestart" {
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --json
	assert_success
	local planned
	planned=$(jq -c '[.actions[] | {target, file, old, new}] | sort' <<<"$output")
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE"
	assert_line "  cgroup:  /ci/c1 (from linux.cgroupsPath), cgroup v2, memory_recursiveprot on"
	hook_run prestart
	assert_success
	assert_equal "$planned" "$(log_field '[.actions[] | {target, file, old, new}] | sort' | jq -c .)"
}

@test "explain --json: the outcome record of a dry run, every action planned" {
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4001 --json
	assert_success
	run jq -e '.stage == "explain" and .dry_run == true and .id == "c1" and .image == "golang:1.22" and .cgroup == "/ci/c1"
		and .policies == ["10-go.json"] and .build == true and (.actions | length > 0) and all(.actions[]; .result == "planned")' <<<"$output"
	assert_success
}

@test "explain with a sibling holding claims: the ancestor is planned to cover both, as prestart then does" {
	mk_cgroup /ci/c0
	mk_proc 4000 /ci/c0
	local b1="$BUNDLE"
	policy 05-big.json '{"trust": ["oci-memguard.image"], "match": {"images": ["big:*"]}, "memory": {"min": "1G"}}'
	make_bundle c0 /ci/c0 '.annotations["oci-memguard.image"]="big:1"'
	state_for c0 4000
	hook_run prestart
	assert_success
	BUNDLE="$b1"
	state_for c1 4001
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4001
	assert_success
	assert_line "  /ci/c1 memory.min: 0 -> 67108864"
	assert_line "  /ci memory.min: 1073741824 -> 1140850688"
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4001 --json
	local planned
	planned=$(jq -c '[.actions[] | {target, file, old, new}] | sort' <<<"$output")
	hook_run prestart
	assert_success
	assert_equal "$planned" "$(log_field '[.actions[] | {target, file, old, new}] | sort' | jq -c .)"
}

@test "explain of a container already started plans nothing: it is found in the ledger under its own id" {
	hook_run prestart
	assert_success
	local before
	before="$(host_snapshot)"
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4001
	assert_success
	assert_line "container c1"
	assert_line "planned writes (nothing was written):"
	assert_line "  none"
	assert_equal "$(host_snapshot)" "$before"
}

@test "explain of a Podman/CRI-O bundle (.../<id>/userdata): the id is the parent directory's name" {
	mk_cgroup /machine.slice/libpod-c2.scope
	mk_proc 4002 /machine.slice/libpod-c2.scope
	BUNDLE="$BATS_TEST_TMPDIR/overlay-containers/c2/userdata"
	mkdir -p "$BUNDLE"
	jq '.annotations["oci-memguard.image"]="golang:1.21" | .linux.cgroupsPath="machine.slice:libpod:c2"' "$BATS_TEST_TMPDIR/bundles/c1/config.json" >"$BUNDLE/config.json"
	state_for c2 4002
	hook_run prestart
	assert_success
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4002
	assert_success
	assert_line "container c2"
	assert_line "  none"
}

@test "explain on a hybrid host: protection skipped and why; the build guard's swappiness still planned, as prestart does" {
	make_sysroot hybrid
	policy 10-go.json '{"trust": ["oci-memguard.image", "oci-memguard.build"], "match": {"images": ["golang:*"]}, "memory": {"min": "64M"}, "build": {"swappiness": 10}}'
	MK_PROC_V1=1 mk_proc 4001 /ci/c1
	mkdir -p "$SYSROOT/sys/fs/cgroup/memory/ci/c1"
	make_bundle c1 /ci/c1 '.annotations["oci-memguard.image"]="golang:1.22" | .annotations["oci-memguard.build"]="true"'
	state_for c1 4001
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4001
	assert_success
	assert_line --regexp '^  cgroup:  .*cgroup hybrid'
	assert_line --regexp '^skipped: .*memory protection skipped'
	assert_line "  vm.swappiness /proc/sys/vm/swappiness: 60 -> 10"
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4001 --json
	local planned
	planned=$(jq -c '[.actions[] | {target, file, old, new}] | sort' <<<"$output")
	hook_run prestart
	assert_success
	assert_equal "$planned" "$(log_field '[.actions[] | {target, file, old, new}] | sort' | jq -c .)"
}

@test "explain --image with annotations, command and --build: the merged policy and claims, no cgroup" {
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --image node:20 --annotation tier=gold --command /usr/bin/node
	assert_success
	assert_line "  image:   node:20 (from explain --image)"
	assert_line "  cgroup:  none (described on the command line)"
	assert_line "  build:   no"
	assert_line --regexp "^  matched   .*/20-node.json$"
	assert_line "  memory.min 1073741824, memory.low - -> claims min=1073741824 low=0 bytes"
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --image golang:1.22 --build
	assert_line "  build:   yes (explain --build)"
	assert_line "  build guard decision: healthy"
}

@test "explain says when no policy matches" {
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --image busybox:1
	assert_success
	assert_line "  no policy matches: nothing would be done for this container"
}

@test "explain needs --bundle or --image, not both; a missing bundle is an error" {
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT"
	assert_failure 2
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --image x
	assert_failure 2
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BATS_TEST_TMPDIR/nowhere"
	assert_failure 1
	assert_output --partial "nowhere"
}

@test "explain --annotation with a long value and an empty one" {
	local long
	long=$(head -c 6000 /dev/zero | tr '\0' x)
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --image golang:1 --annotation "k=$long" --annotation e= --json
	assert_success
	run jq -e '.image == "golang:1"' <<<"$output"
	assert_success
}
