#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Effective protection: the leaf gets the policy's values and every ancestor
# below the root is raised to cover the managed protection beneath it; all of
# it is given back at poststop.

load helpers

setup() {
	make_sysroot v2
	policy 50-db.json '{"match": {"cgroups": ["/memguard/*"]}, "memory": {"min": "512M", "low": "1G"}}'
}

@test "prestart (cgroup v2, policy min=512M low=1G) writes the leaf and raises ancestors to cover it" {
	start_container db1 4001 /memguard/ci/db1
	assert_equal "$(cg_value /memguard/ci/db1 memory.min)" 536870912
	assert_equal "$(cg_value /memguard/ci/db1 memory.low)" 1073741824
	assert_equal "$(cg_value /memguard/ci memory.min)" 536870912
	assert_equal "$(cg_value /memguard/ci memory.low)" 1073741824
	assert_equal "$(cg_value /memguard memory.min)" 536870912
	assert_equal "$(cg_value /memguard memory.low)" 1073741824
	# the record of the outcome says what changed, old -> new
	run log_field '.actions[] | select(.target=="/memguard" and .file=="memory.min") | "\(.old)->\(.new) \(.result)"'
	assert_output "0->536870912 ok"
	run log_field '.policies[0]'
	assert_output "50-db.json"
	run log_field '.recursiveprot'
	assert_output "true"
	run log_field '.cgroup'
	assert_output "/memguard/ci/db1"
}

@test "poststop gives back exactly what the container added, after the runtime removed its cgroup" {
	mk_cgroup /memguard/ci 0 0
	echo 4096 >"$CGROOT/memguard/memory.min"   # someone else's protection, kept
	start_container db1 4001 /memguard/ci/db1
	assert_equal "$(cg_value /memguard memory.min)" $((4096 + 536870912))
	stop_container db1 /memguard/ci/db1 4001
	assert_equal "$(cg_value /memguard/ci memory.min)" 0
	assert_equal "$(cg_value /memguard/ci memory.low)" 0
	assert_equal "$(cg_value /memguard memory.min)" 4096
	assert_equal "$(cg_value /memguard memory.low)" 0
	assert_file_not_exists "$STATE_DIR/containers/db1.json"
	run ledger_held
	assert_output '{}'
}

@test "two containers under one parent: the parent covers the sum; each stop gives back its share" {
	start_container a 4001 /memguard/ci/a
	start_container b 4002 /memguard/ci/b
	assert_equal "$(cg_value /memguard/ci memory.min)" $((2 * 536870912))
	assert_equal "$(cg_value /memguard memory.low)" $((2 * 1073741824))
	stop_container a /memguard/ci/a 4001
	assert_equal "$(cg_value /memguard/ci memory.min)" 536870912
	assert_equal "$(cg_value /memguard memory.low)" 1073741824
	assert_equal "$(cg_value /memguard/ci/b memory.min)" 536870912
	stop_container b /memguard/ci/b 4002
	assert_equal "$(cg_value /memguard/ci memory.min)" 0
	assert_equal "$(cg_value /memguard memory.min)" 0
}

@test "a leaf value already higher than the policy is never lowered, and raises its ancestors only by the claim" {
	# The runtime wrote the container's own request into the leaf (e.g.
	# linux.resources.unified memory.min=2G): without the hook the
	# ancestors cap it; the hook must not make it host-wide.
	mk_cgroup /memguard/ci/big
	echo 2147483648 >"$CGROOT/memguard/ci/big/memory.min"
	start_container big 4001 /memguard/ci/big
	assert_equal "$(cg_value /memguard/ci/big memory.min)" 2147483648
	assert_equal "$(cg_value /memguard/ci memory.min)" 536870912
	assert_equal "$(cg_value /memguard memory.min)" 536870912
	run log_field '.skipped | join(" ")'
	assert_output --partial "memory.min of /memguard/ci/big is 2147483648, above the container's claim 536870912: kept on the leaf"
	stop_container big /memguard/ci/big 4001
	assert_equal "$(cg_value /memguard/ci memory.min)" 0
}

@test "a leaf at memory.min=max escapes no cap: the ancestors cover the capped claim only" {
	policy 20-cap.json '{"match": {"cgroups": ["/machine.slice/*"]}, "memory": {"min": "64M"}}'
	mk_cgroup /machine.slice/c1
	echo max >"$CGROOT/machine.slice/c1/memory.min"
	start_container c1 4001 /machine.slice/c1
	assert_equal "$(cg_value /machine.slice/c1 memory.min)" max
	assert_equal "$(cg_value /machine.slice memory.min)" 67108864
	stop_container c1 /machine.slice/c1 4001
	assert_equal "$(cg_value /machine.slice memory.min)" 0
}

@test "poststop twice (podman#9983) is harmless and exits 0" {
	start_container db1 4001 /memguard/ci/db1
	stop_container db1 /memguard/ci/db1 4001
	state_for db1 none
	hook_run poststop
	assert_success
	run log_field '.skipped[0]'
	assert_output --partial "no record"
	assert_equal "$(cg_value /memguard memory.min)" 0
}

@test "poststop with crun's pid 0 and podman's empty environment works" {
	start_container db1 4001 /memguard/ci/db1
	rm -rf "${CGROOT:?}/memguard/ci/db1" "$SYSROOT/proc/4001"
	state_for db1 0 '.status="stopped"'
	run --separate-stderr env -i "$MEMGUARD_BIN" poststop --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
	assert_success
	assert_equal "$(cg_value /memguard memory.min)" 0
}

@test "a value changed by someone else while held is left alone at poststop" {
	start_container db1 4001 /memguard/ci/db1
	echo 999997952 >"$CGROOT/memguard/memory.min"
	stop_container db1 /memguard/ci/db1 4001
	assert_equal "$(cg_value /memguard memory.min)" 999997952
	run log_field '.skipped | join(" ")'
	assert_output --partial "changed by someone else"
	# the hook no longer holds it
	run ledger_held
	assert_output '{}'
}

@test "prestart then createRuntime for the same container counts it once" {
	start_container db1 4001 /memguard/ci/db1
	hook_run createRuntime
	assert_success
	assert_equal "$(cg_value /memguard memory.min)" 536870912
}

@test "sizes as a percentage of MemTotal are resolved and page-aligned" {
	policy 50-db.json '{"match": {"cgroups": ["/memguard/*"]}, "memory": {"min": "10%"}}'
	start_container db1 4001 /memguard/ci/db1
	# 10% of 16384000 kB, rounded down to 4 KiB pages
	local want=$(( (16384000 * 1024 / 10) / 4096 * 4096 ))
	assert_equal "$(cg_value /memguard/ci/db1 memory.min)" "$want"
}

@test "memory controller not enabled under an ancestor: one clear error naming it, container still starts" {
	mk_cgroup /memguard/ci/db1
	rm "$CGROOT/memguard/ci/db1/memory.min" "$CGROOT/memguard/ci/db1/memory.low"
	echo "pids" >"$CGROOT/memguard/ci/cgroup.subtree_control"
	mk_proc 4001 /memguard/ci/db1
	make_bundle db1 /memguard/ci/db1
	state_for db1 4001
	hook_run prestart
	assert_success
	run log_field '.errors | join(" ")'
	assert_output --partial "memory controller not enabled under '/memguard/ci'"
}

@test "--dry-run decides and logs planned writes but changes nothing" {
	mk_cgroup /memguard/ci/db1
	mk_proc 4001 /memguard/ci/db1
	make_bundle db1 /memguard/ci/db1
	state_for db1 4001
	local before
	before="$(host_snapshot)"
	hook_run prestart --dry-run
	assert_success
	assert_equal "$(host_snapshot)" "$before"
	run log_field '[.actions[] | .result] | unique | join(",")'
	assert_output "planned"
	run log_field '.dry_run'
	assert_output true
}

@test "memory_recursiveprot off is detected and logged" {
	make_sysroot v2-norecursive
	policy 50-db.json '{"match": {"cgroups": ["/memguard/*"]}, "memory": {"min": "512M"}}'
	start_container db1 4001 /memguard/ci/db1
	run log_field '.recursiveprot'
	assert_output false
	# protection is raised up the chain either way: the kernel caps a
	# cgroup's protection by its ancestors' with or without the option
	assert_equal "$(cg_value /memguard memory.min)" 536870912
}

@test "a start reads only its own chain; a neighbour whose node no longer adds up is read by the next full pass" {
	start_container db1 4001 /memguard/ci/db1
	if command -v strace >/dev/null && [[ -z "${MEMGUARD_ASAN:-}" ]]; then
		# db2's start opens its own chain, never db1's leaf
		mk_cgroup /memguard/ci/db2
		mk_proc 4002 /memguard/ci/db2
		make_bundle db2 /memguard/ci/db2
		state_for db2 4002
		run strace -f -qq -e trace=openat,openat2 -o "$BATS_TEST_TMPDIR/trace" env -i "$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog --no-seccomp <"$STATE_FILE"
		assert_success
		run grep -c 'memguard/ci/db2' "$BATS_TEST_TMPDIR/trace"
		refute_output 0
		run grep -c 'memguard/ci/db1' "$BATS_TEST_TMPDIR/trace"
		assert_output 0
	else
		start_container db2 4002 /memguard/ci/db2 # (strace: not installed, or ASan opens its own files)
	fi
	assert_equal "$(cg_value /memguard memory.min)" $((2 * 536870912))
	# db1's node now says the hook holds 256M in its leaf, settled: a start
	# elsewhere does not read it; the next full pass (due at once here)
	# finds its target (512M) does not add up, reads it, finds 512M,
	# neither what the hook set nor what was there: left alone.
	node_edit /memguard/ci/db1 '."memory.min" |= (.set = "268435456" | .prev = "268435456")'
	start_container db3 4003 /memguard/ci/db3
	run log_field '.skipped | join(" ")'
	refute_output --partial "/memguard/ci/db1"
	MEMGUARD_PRUNE_FULL_AFTER_USEC=0 start_container db5 4005 /memguard/ci/db5
	run log_field '.skipped | join(" ")'
	assert_output --partial "memory.min of /memguard/ci/db1 was changed by someone else"
	stop_container db5 /memguard/ci/db5 4005
	assert_equal "$(cg_value /memguard/ci/db1 memory.min)" 536870912
	assert_equal "$(cg_value /memguard memory.min)" $((3 * 536870912))
	# with the leaf unreadable as well, its claim raises nothing
	node_edit /memguard/ci/db2 '."memory.min" |= (.set = "268435456" | .prev = "268435456")'
	rm "$CGROOT/memguard/ci/db2/memory.min"
	MEMGUARD_PRUNE_FULL_AFTER_USEC=0 start_container db4 4004 /memguard/ci/db4
	run log_field '.errors | join(" ")'
	assert_output --partial "memory.min of /memguard/ci/db2"
	# nothing is attempted on what could not be read
	run log_field '[.actions[] | select(.target == "/memguard/ci/db2")] | length'
	assert_output 0
	assert_equal "$(cg_value /memguard/ci memory.min)" $((3 * 536870912))
}
