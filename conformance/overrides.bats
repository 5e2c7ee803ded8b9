#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# overrides: annotations may change the values only when the policy
# allows, and never above its caps.

load helpers

setup() {
	make_sysroot v2
	mk_cgroup /ctr/c1
	mk_proc 4001 /ctr/c1
}

@test "annotation override within the cap is applied" {
	policy 10.json '{"memory": {"min": "64M"}, "overrides": {"annotations": true, "max_min": "1G"}}'
	make_bundle c1 /ctr/c1 '.annotations["oci-memguard.memory.min"]="512M"'
	state_for c1 4001
	hook_run prestart
	assert_equal "$(cg_value /ctr/c1 memory.min)" 536870912
}

@test "annotation override above the cap is clamped to the cap and logged" {
	policy 10.json '{"memory": {"low": "64M"}, "overrides": {"annotations": true, "max_low": "1G"}}'
	make_bundle c1 /ctr/c1 '.annotations["oci-memguard.memory.low"]="100G"'
	state_for c1 4001
	hook_run prestart
	assert_equal "$(cg_value /ctr/c1 memory.low)" 1073741824
	run log_field '.skipped | join(" ")'
	assert_output --partial "clamped to the policy cap 1073741824"
}

@test "annotation override is ignored (and logged) when the policy does not allow overrides" {
	policy 10.json '{"memory": {"min": "64M"}}'
	make_bundle c1 /ctr/c1 '.annotations["oci-memguard.memory.min"]="8G"'
	state_for c1 4001
	hook_run prestart
	assert_equal "$(cg_value /ctr/c1 memory.min)" 67108864
	run log_field '.skipped | join(" ")'
	assert_output --partial "ignored: the policy does not allow overrides"
}

@test "without a cap an annotation can only lower the policy's value" {
	policy 10.json '{"memory": {"min": "64M"}, "overrides": {"annotations": true}}'
	make_bundle c1 /ctr/c1 '.annotations["oci-memguard.memory.min"]="8G"'
	state_for c1 4001
	hook_run prestart
	assert_equal "$(cg_value /ctr/c1 memory.min)" 67108864
	make_bundle c1 /ctr/c1 '.annotations["oci-memguard.memory.min"]="16M"'
	hook_run prestart
	assert_equal "$(cg_value /ctr/c1 memory.min)" 16777216
}

@test "a malformed override annotation is an error and the policy value stands" {
	policy 10.json '{"memory": {"min": "64M"}, "overrides": {"annotations": true, "max_min": "1G"}}'
	make_bundle c1 /ctr/c1 '.annotations["oci-memguard.memory.min"]="lots"'
	state_for c1 4001
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /ctr/c1 memory.min)" 67108864
	run log_field '.errors | join(" ")'
	assert_output --partial "is not a size"
}
