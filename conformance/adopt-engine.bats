#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# "memory": {"adopt_engine": true}: what the engine asked the runtime to
# write on the container's own cgroup (docker run --memory-reservation:
# linux.resources.memory.reservation; memory.min/memory.low in
# linux.resources.unified) becomes the container's claim: the ancestors are
# raised to cover it and it is given back like any claim, within the
# policy's caps. Without the key the engine's ask is not the hook's business.

load helpers

setup() {
	make_sysroot v2
	mk_cgroup /ctr/c1
	mk_proc 4001 /ctr/c1
}

reservation() { echo ".linux.resources.memory.reservation = $1"; }

@test "adopt_engine: --memory-reservation (reservation 256M) becomes memory.low of the container and its ancestors, given back at poststop" {
	policy 10.json '{"memory": {"adopt_engine": true}}'
	make_bundle c1 /ctr/c1 "$(reservation 268435456)"
	state_for c1 4001
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /ctr/c1 memory.low)" 268435456
	assert_equal "$(cg_value /ctr memory.low)" 268435456
	hook_run poststop
	assert_success
	assert_equal "$(cg_value /ctr memory.low)" 0
}

@test "adopt_engine: unified memory.min and memory.low are adopted; the larger of reservation and memory.low wins" {
	policy 10.json '{"memory": {"adopt_engine": true}}'
	make_bundle c1 /ctr/c1 "$(reservation 67108864) | .linux.resources.unified = {\"memory.min\": \"33554432\", \"memory.low\": \"134217728\", \"memory.high\": \"max\"}"
	state_for c1 4001
	hook_run prestart
	assert_equal "$(cg_value /ctr memory.min)" 33554432
	assert_equal "$(cg_value /ctr memory.low)" 134217728
}

@test "adopt_engine: the policy's own value stands when it is larger than the engine's ask" {
	policy 10.json '{"memory": {"low": "512M", "adopt_engine": true}}'
	make_bundle c1 /ctr/c1 "$(reservation 268435456)"
	state_for c1 4001
	hook_run prestart
	assert_equal "$(cg_value /ctr memory.low)" 536870912
}

@test "adopt_engine: the engine's ask above overrides.max_low is clamped to the cap and logged" {
	policy 10.json '{"memory": {"adopt_engine": true}, "overrides": {"max_low": "128M"}}'
	make_bundle c1 /ctr/c1 "$(reservation 1073741824)"
	state_for c1 4001
	hook_run prestart
	assert_equal "$(cg_value /ctr memory.low)" 134217728
	run log_field '.skipped | join(" ")'
	assert_output --partial "memory.adopt_engine: the engine's memory.low 1073741824 clamped to the policy cap 134217728"
}

@test "without adopt_engine (or with false) the engine's reservation is not a claim: the ancestors stay at 0" {
	make_bundle c1 /ctr/c1 "$(reservation 268435456)"
	state_for c1 4001
	policy 10.json '{"memory": {"min": "16M"}}'
	hook_run prestart
	assert_equal "$(cg_value /ctr memory.low)" 0
	hook_run poststop
	policy 10.json '{"memory": {"min": "16M"}}'
	policy 20.json '{"memory": {"adopt_engine": false}}'
	policy 05.json '{"memory": {"adopt_engine": true}}'
	hook_run prestart
	assert_equal "$(cg_value /ctr memory.low)" 0
}

@test "adopt_engine: unified memory.low \"max\" or a reservation that is not a number is not adopted, logged, the start goes on" {
	policy 10.json '{"memory": {"min": "16M", "adopt_engine": true}}'
	make_bundle c1 /ctr/c1 '.linux.resources.unified = {"memory.low": "max"}'
	state_for c1 4001
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /ctr memory.low)" 0
	assert_equal "$(cg_value /ctr memory.min)" 16777216
	run log_field '.skipped | join(" ")'
	assert_output --partial 'memory.adopt_engine: linux.resources.unified["memory.low"] is not a byte count, not adopted'
	hook_run poststop
	make_bundle c1 /ctr/c1 '.linux.resources.memory.reservation = "256m"'
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /ctr memory.low)" 0
	run log_field '.skipped | join(" ")'
	assert_output --partial 'memory.adopt_engine: linux.resources.memory.reservation is not a byte count, not adopted'
}

@test "policy check: adopt_engine must be true or false" {
	policy 10.json '{"memory": {"adopt_engine": "yes"}}'
	run "$MEMGUARD_BIN" policy check --sysroot "$SYSROOT" "$ADMIN_POLICY_DIR/10.json"
	assert_failure
	assert_output --partial "'memory.adopt_engine' must be true or false"
}
