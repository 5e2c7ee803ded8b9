#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# on_error: a hook failure never blocks a container unless the policy
# says "fail"; then the start stage exits non-zero with the reason on stderr
# and gives back what it took.

load helpers

setup() {
	make_sysroot v2
	mk_cgroup /ctr/c1
	mk_proc 4001 /ctr/c1
	make_bundle c1 /ctr/c1
	state_for c1 4001
	# memory.min of the leaf cannot be written (a read-only fixture file
	# stands in for EACCES; root ignores file modes, so use a directory)
	rm "$CGROOT/ctr/c1/memory.min"
	mkdir "$CGROOT/ctr/c1/memory.min"
}

@test "on_error=ignore (default): a failed write is logged, the container starts" {
	policy 10.json '{"memory": {"min": "64M"}}'
	hook_run prestart
	assert_success
	run log_field '.errors | join(" ")'
	assert_output --partial "memory.min"
}

@test "on_error=fail: a failed write stops the start with the reason on stderr, and nothing stays raised" {
	policy 10.json '{"memory": {"min": "64M"}, "on_error": "fail"}'
	hook_run prestart
	assert_failure 1
	[[ "$stderr" == *"c1: protection could not be applied (policy on_error=fail)"* ]]
	assert_equal "$(cg_value /ctr memory.min)" 0
	assert_file_not_exists "$STATE_DIR/containers/c1.json"
}

@test "poststop always exits 0, even with garbage on stdin" {
	echo 'not json' >"$STATE_FILE"
	hook_run poststop
	assert_success
}
