#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# `oci-memguard explain` (SPEC §7): what the hook would do, exactly — checked
# against what prestart then really writes for the same inputs — and nothing
# written.

load helpers

setup() {
	make_sysroot v2
	policy 10-go.json '{"match": {"images": ["golang:*"]}, "memory": {"min": "64M", "low": "128M"}, "build": {"swappiness": 10}}'
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
	assert_line "  image:   golang:1.22 (from annotation oci-memguard.image)"
	assert_line "  cgroup:  /ci/c1 (from /proc/<pid>/cgroup), cgroup v2, memory_recursiveprot on"
	assert_line "  build:   yes (annotation oci-memguard.build=true)"
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

@test "explain --image with annotations, command and --build: the merged policy and claims, no cgroup" {
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --image node:20 --annotation tier=gold --command /usr/bin/node
	assert_success
	assert_line "  image:   node:20 (from annotation oci-memguard.image)"
	assert_line "  cgroup:  none (described on the command line)"
	assert_line "  build:   no"
	assert_line --regexp "^  matched   .*/20-node.json$"
	assert_line "  memory.min 1073741824, memory.low - -> claims min=1073741824 low=0 bytes"
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --image golang:1.22 --build
	assert_line "  build:   yes (annotation oci-memguard.build=true)"
	assert_line "  build guard decision: healthy"
}

@test "explain says when no policy matches" {
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --image busybox:1
	assert_success
	assert_line "  no policy matches: nothing would be done for this container"
}

@test "explain needs --bundle or --image" {
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT"
	assert_failure 2
}
