#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# SIGKILL at every named step of a start and of a stop (test-only build with
# kill points, hook/killpoint.h): the next run heals — every value restored,
# records and ledger consistent, nothing lowered that the hook did not raise.

load helpers

KILL_BIN="${MEMGUARD_KILL_BIN:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)/build/killpoints/oci-memguard}"
POINTS="apply-records-saved apply-intent-saved apply-after-write apply-cgroups-written apply-before-final-save apply-before-unlink apply-before-clean start-before-buildguard"

setup() {
	[[ -x "$KILL_BIN" ]] || fail "kill-point build missing: make build/killpoints/oci-memguard"
	make_sysroot v2
	policy 10.json '{"trust": ["oci-memguard.build"], "memory": {"min": "64M", "low": "128M"}, "build": {"swappiness": 10}}'
	mk_cgroup /ci 0 0
	echo 4096 >"$CGROOT/ci/memory.min"      # someone else's: must survive
}

killed() { # killed POINT STAGE: run the kill-point build, expect SIGKILL
	run env MEMGUARD_KILLPOINT="$1" "$KILL_BIN" "$2" --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
	[[ "$status" -eq 137 ]] || fail "expected SIGKILL at $1 ($2), got status $status"
}

assert_healed() {
	assert_equal "$(cg_value /ci memory.min)" 4096
	assert_equal "$(cg_value /ci memory.low)" 0
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/swappiness")" 60
	assert_equal "$(find "$STATE_DIR/containers" -name '*.json' | wc -l)" 0
	run jq -c --argjson held "$(ledger_held)" '[$held, ."vm.swappiness"]' "$STATE_DIR/ledger.json"
	assert_output '[{},null]'
}

@test "killed at each step of a start; the runtime gives up without poststop; the next container's run heals" {
	local p
	for p in $POINTS; do
		mk_cgroup /ci/c1
		mk_proc 4001 /ci/c1
		make_bundle c1 /ci/c1 '.annotations["oci-memguard.build"]="true"'
		state_for c1 4001
		killed "$p" prestart
		rm -rf "${CGROOT:?}/ci/c1" "$SYSROOT/proc/4001"
		start_container c2 4002 /ci/c2
		stop_container c2 /ci/c2 4002
		assert_healed
	done
}

@test "killed at each step of a start; poststop still comes: it gives everything back" {
	local p
	for p in $POINTS; do
		mk_cgroup /ci/c1
		mk_proc 4001 /ci/c1
		make_bundle c1 /ci/c1 '.annotations["oci-memguard.build"]="true"'
		state_for c1 4001
		killed "$p" prestart
		stop_container c1 /ci/c1 4001
		assert_healed
	done
}

@test "killed at each step of a stop; poststop run again (or any later run) finishes the give-back" {
	local p
	for p in apply-records-saved apply-intent-saved apply-after-write apply-cgroups-written apply-before-final-save apply-before-unlink apply-before-clean; do
		start_container c1 4001 /ci/c1
		rm -rf "${CGROOT:?}/ci/c1" "$SYSROOT/proc/4001"
		state_for c1 none
		killed "$p" poststop
		hook_run poststop
		assert_success
		assert_healed
	done
}

@test "killed mid-start while another container holds protection: the survivor keeps exactly its share" {
	local p
	for p in $POINTS; do
		start_container keep 4009 /ci/keep
		mk_cgroup /ci/c1
		mk_proc 4001 /ci/c1
		make_bundle c1 /ci/c1
		state_for c1 4001
		killed "$p" prestart
		rm -rf "${CGROOT:?}/ci/c1" "$SYSROOT/proc/4001"
		start_container c3 4003 /ci/c3
		stop_container c3 /ci/c3 4003
		assert_equal "$(cg_value /ci memory.min)" $((4096 + 67108864))
		assert_equal "$(cg_value /ci/keep memory.min)" 67108864
		stop_container keep /ci/keep 4009
		assert_healed
	done
}
