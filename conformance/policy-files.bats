#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Policy files: vendor and admin directories, masking, lexical order, key-by-key
# merge, invalid files ignored alone, ownership and mode, `policy check`.

load helpers

setup() {
	make_sysroot v2
	mk_cgroup /ctr/c1
	mk_proc 4001 /ctr/c1
	make_bundle c1 /ctr/c1 '.annotations["oci-memguard.image"]="golang:1.22"'
	state_for c1 4001
}

@test "every matching policy is merged key by key, later files win" {
	policy 10-base.json '{"memory": {"min": "64M", "low": "128M"}}'
	policy 20-go.json '{"trust": ["oci-memguard.image"], "match": {"images": ["golang:*"]}, "memory": {"low": "256M"}}'
	policy 30-other.json '{"trust": ["oci-memguard.image"], "match": {"images": ["node:*"]}, "memory": {"min": "1G"}}'
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /ctr/c1 memory.min)" 67108864
	assert_equal "$(cg_value /ctr/c1 memory.low)" 268435456
	run log_field '.policies | join(",")'
	assert_output "10-base.json,20-go.json"
}

@test "an admin file masks the vendor file of the same name" {
	policy 50-x.json '{"memory": {"min": "64M"}}' "$VENDOR_POLICY_DIR"
	policy 50-x.json '{"memory": {"min": "8M"}}' "$ADMIN_POLICY_DIR"
	hook_run prestart
	assert_equal "$(cg_value /ctr/c1 memory.min)" 8388608
}

@test "vendor and admin files are read in one lexical order of file name" {
	policy 20-v.json '{"memory": {"min": "20M"}}' "$VENDOR_POLICY_DIR"
	policy 10-a.json '{"memory": {"min": "10M"}}' "$ADMIN_POLICY_DIR"
	hook_run prestart
	assert_equal "$(cg_value /ctr/c1 memory.min)" 20971520
	run log_field '.policies | join(",")'
	assert_output "10-a.json,20-v.json"
}

@test "an invalid policy file is ignored as a whole with its error; the others still apply" {
	policy 10-good.json '{"memory": {"min": "64M"}}'
	policy 20-typo.json '{"memroy": {"min": "8G"}}'
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /ctr/c1 memory.min)" 67108864
	run log_field '.errors | join(" ")'
	assert_output --partial "20-typo.json:1:2: unknown key 'memroy'"
}

@test "a policy file not owned by root or writable by others is refused (owner, mode)" {
	policy 10-good.json '{"memory": {"min": "64M"}}'
	policy 20-owner.json '{"memory": {"min": "4G"}}'
	chown 1000:1000 "$ADMIN_POLICY_DIR/20-owner.json"
	policy 30-mode.json '{"memory": {"min": "5G"}}'
	chmod 0666 "$ADMIN_POLICY_DIR/30-mode.json"
	hook_run prestart
	assert_equal "$(cg_value /ctr/c1 memory.min)" 67108864
	run log_field '.errors | join(" ")'
	assert_output --partial "20-owner.json"
	assert_output --partial "owner"
	assert_output --partial "30-mode.json"
	assert_output --partial "mode"
}

@test "policy check reports FILE:LINE:COL per error and exits 1 on any" {
	policy 10-good.json '{"memory": {"min": "64M"}}'
	printf '{\n  "memory": {"min": "12Q"}\n}\n' >"$ADMIN_POLICY_DIR/20-bad.json"
	run "$MEMGUARD_BIN" policy check "$ADMIN_POLICY_DIR/10-good.json" "$ADMIN_POLICY_DIR/20-bad.json"
	assert_failure 1
	assert_line --regexp "^$ADMIN_POLICY_DIR/20-bad.json:2:[0-9]+: .*size"
	run "$MEMGUARD_BIN" policy check "$ADMIN_POLICY_DIR/10-good.json"
	assert_success
}

@test "policy check without paths checks the default directories of the sysroot" {
	policy 10-good.json '{"memory": {"min": "64M"}}'
	run "$MEMGUARD_BIN" policy check --sysroot "$SYSROOT"
	assert_success
	printf '{"on_error": "explode"}' >"$VENDOR_POLICY_DIR/00-bad.json"
	run "$MEMGUARD_BIN" policy check --sysroot "$SYSROOT"
	assert_failure 1
	assert_output --partial "00-bad.json:1:"
}

@test "the shipped default policy is valid and protects nothing" {
	run "$MEMGUARD_BIN" policy check "$CONFORMANCE_DIR/../policy/default"
	assert_success
	cp "$CONFORMANCE_DIR"/../policy/default/*.json "$VENDOR_POLICY_DIR/"
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /ctr/c1 memory.min)" 0
	assert_equal "$(cg_value /ctr/c1 memory.low)" 0
}

@test "policies match on annotations, commands (process.args[0]) and cgroups" {
	policy 10-ann.json '{"match": {"annotations": {"tier": "gold*"}}, "memory": {"min": "1M"}}'
	policy 20-cmd.json '{"match": {"commands": ["*/app"]}, "memory": {"low": "2M"}}'
	policy 30-cg.json '{"match": {"cgroups": ["/other/*"]}, "memory": {"min": "3M"}}'
	make_bundle c1 /ctr/c1 '.annotations.tier="golden"'
	hook_run prestart
	assert_equal "$(cg_value /ctr/c1 memory.min)" 1048576
	assert_equal "$(cg_value /ctr/c1 memory.low)" 2097152
	run log_field '.policies | join(",")'
	assert_output "10-ann.json,20-cmd.json"
}
