#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The host configuration (/etc/oci-memguard/host.json) and the protection
# budget as operators see it: validated like policies (unknown keys, sizes,
# owner, mode, symlinks judged by their target, FILE:LINE:COL), defaults
# with no file, a config error is one line and never fails a start;
# `policy check`, doctor (caps, who holds protection at the top of the tree,
# warnings) and explain (what a container would be granted and why).

load helpers

setup() {
	make_sysroot v2
	HOST_CONFIG="$SYSROOT/etc/oci-memguard/host.json"
	mk_cgroup /ctr/c1
	mk_proc 4001 /ctr/c1
	make_bundle c1 /ctr/c1 '.annotations["oci-memguard.image"]="golang:1.22"'
	state_for c1 4001
	policy 10-go.json '{"trust": ["oci-memguard.image"], "match": {"images": ["golang:*"]}, "memory": {"min": "1G", "low": "2G"}}'
}

host_config() { # host_config JSON [mode]
	printf '%s\n' "$1" >"$HOST_CONFIG"
	chmod "${2:-0644}" "$HOST_CONFIG"
}

doctor() { "$MEMGUARD_BIN" doctor --sysroot "$SYSROOT" "$@"; }
explain() { "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4001 "$@"; }

# The fixture's MemTotal is 16384000 kB (15.6 GiB): 50 % is 7.8 GiB, 80 % 12.5 GiB.

@test "no host.json: the defaults (min 50 %, min or low together 80 %), shown by doctor and explain" {
	run doctor
	assert_line "OK    host config: no $HOST_CONFIG: budget.min 50%, budget.protection 80%"
	assert_line "OK    budget: memory.min at most 7.8 GiB (50% of MemTotal), min or low together at most 12.5 GiB (80% of MemTotal), of MemTotal 15.6 GiB"
	run explain
	assert_success
	assert_line "budget (defaults, no valid $HOST_CONFIG):"
	assert_line "  caps: memory.min at most 7.8 GiB (50% of MemTotal), min or low together at most 12.5 GiB (80% of MemTotal); MemTotal 15.6 GiB"
	assert_line --regexp "^  this container: budget fits; min 1 GiB asked, 1 GiB granted; low 2 GiB asked, 2 GiB granted; "
}

@test "a valid host.json: policy check says ok, doctor and explain use it" {
	host_config '{"//": "a comment", "budget": {"min": "25%", "protection": "6G"}}'
	run "$MEMGUARD_BIN" policy check "$HOST_CONFIG"
	assert_success
	assert_output "$HOST_CONFIG: ok"
	run doctor
	assert_line "OK    host config: $HOST_CONFIG: budget.min 25%, budget.protection 6442450944"
	assert_line --regexp "^OK    budget: memory.min at most 3.9 GiB \(25% of MemTotal\), min or low together at most 6 GiB, "
	run explain
	assert_line "budget (from $HOST_CONFIG):"
}

@test "host.json [unknown key]: policy check FILE:LINE:COL exit 1; a start logs one error line, the defaults apply, the container is protected" {
	printf '{\n  "budget": {\n    "mni": "10%%"\n  }\n}\n' >"$HOST_CONFIG"
	chmod 0644 "$HOST_CONFIG"
	run "$MEMGUARD_BIN" policy check "$HOST_CONFIG"
	assert_failure 1
	assert_output "$HOST_CONFIG:3:5: unknown key 'budget.mni'"
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /ctr/c1 memory.min)" 1073741824
	run log_field '[.errors[] | select(contains("host.json"))]'
	assert_output --partial "$HOST_CONFIG:3:5: unknown key 'budget.mni' (the defaults apply)"
	assert_equal "$(log_field '[.errors[] | select(contains("host.json"))] | length')" 1
	run doctor
	assert_line "WARN  host config: $HOST_CONFIG:3:5: unknown key 'budget.mni': the defaults apply — fix: oci-memguard policy check; fix the file or remove it (the hook ignores it as a whole)"
	assert_line --regexp "^OK    budget: memory.min at most 7.8 GiB \(50% of MemTotal\)"
}

@test "host.json [bad sizes, types, syntax]: one FILE:LINE:COL line each, naming the field" {
	local doc want
	while IFS='|' read -r doc want; do
		printf '%s\n' "$doc" >"$HOST_CONFIG"
		run "$MEMGUARD_BIN" policy check "$HOST_CONFIG"
		assert_failure 1
		assert_equal "${#lines[@]}" 1
		assert_output --partial "$HOST_CONFIG:$want"
	done <<-'EOF'
		{"budget": {"min": "1.5G"}}|1:20: size: 'budget.min' = '1.5G' is not a size (bytes with K, M, G or T, N% of MemTotal up to 1000%, or max)
		{"budget": {"min": "1001%"}}|1:20: size: 'budget.min'
		{"budget": {"protection": "-1"}}|1:27: size: 'budget.protection'
		{"budget": {"min": "1GB"}}|1:20: size: 'budget.min' = '1GB'
		{"budget": {"min": true}}|1:20: type: 'budget.min' must be a size string or integer, not boolean
		{"budget": "50%"}|1:12: type: 'budget' must be an object, not string
		{"budget": {"min": "1G", "min": "2G"}}|1:26: syntax: duplicate key 'min'
		{"budget": {"min": "1G",}}|1:26: syntax
		["budget"]|1:1: type: the host configuration must be a JSON object, not array
	EOF
}

@test "host.json not owned by root, or group/world writable, is refused (owner, mode) and the defaults apply" {
	host_config '{"budget": {"min": "90%"}}' 0664
	run "$MEMGUARD_BIN" policy check "$HOST_CONFIG"
	assert_failure 1
	assert_output "$HOST_CONFIG:1:1: mode: 0664 is group or world writable: refused"
	chmod 0644 "$HOST_CONFIG"
	chown 1000:1000 "$HOST_CONFIG"
	run "$MEMGUARD_BIN" policy check "$HOST_CONFIG"
	assert_failure 1
	assert_output "$HOST_CONFIG:1:1: owner: owned by uid 1000, not root: refused"
	hook_run prestart
	assert_success
	run log_field '.errors | join(" ")'
	assert_output --partial "owner: owned by uid 1000, not root: refused (the defaults apply)"
	run explain
	assert_line "budget (defaults, no valid $HOST_CONFIG):"
}

@test "host.json as a symlink is judged by its target; a dangling one is an error, not 'no file'" {
	printf '{"budget": {"min": "30%%"}}\n' >"$SYSROOT/etc/oci-memguard/real.json"
	chmod 0644 "$SYSROOT/etc/oci-memguard/real.json"
	ln -s real.json "$HOST_CONFIG"
	run "$MEMGUARD_BIN" policy check "$HOST_CONFIG"
	assert_success
	run doctor
	assert_line "OK    host config: $HOST_CONFIG: budget.min 30%, budget.protection 80%"
	chmod 0666 "$SYSROOT/etc/oci-memguard/real.json"
	run "$MEMGUARD_BIN" policy check "$HOST_CONFIG"
	assert_failure 1
	assert_output --partial "mode: 0666"
	rm "$SYSROOT/etc/oci-memguard/real.json"
	run "$MEMGUARD_BIN" policy check "$HOST_CONFIG"
	assert_failure 1
	assert_output "$HOST_CONFIG:1:1: cannot open: the symlink's target does not exist"
}

@test "host.json larger than 64 KiB, or with a NUL byte, is refused (size, NUL)" {
	# checked as the host configuration, not as a policy (which has no 'budget')
	host_config '{"budget": {"min": "10%"}}'
	run "$MEMGUARD_BIN" policy check "$HOST_CONFIG"
	assert_success
	{ printf '{"//": "'; head -c 70000 /dev/zero | tr '\0' x; printf '"}\n'; } >"$HOST_CONFIG"
	run "$MEMGUARD_BIN" policy check "$HOST_CONFIG"
	assert_failure 1
	assert_output "$HOST_CONFIG:1:1: size: larger than 65536 bytes"
	printf '{"budget":\n {"min": "1G\0"}}\n' >"$HOST_CONFIG"
	run "$MEMGUARD_BIN" policy check "$HOST_CONFIG"
	assert_failure 1
	assert_output "$HOST_CONFIG:2:13: NUL: the file contains a NUL byte"
}

@test "policy check without paths checks the policy directories and host.json of the sysroot" {
	run "$MEMGUARD_BIN" policy check --sysroot "$SYSROOT"
	assert_success
	refute_output --partial host.json
	host_config '{"budget": {"min": "40%"}}'
	run "$MEMGUARD_BIN" policy check --sysroot "$SYSROOT"
	assert_success
	assert_line "$HOST_CONFIG: ok"
	host_config '{"budgte": {}}'
	run "$MEMGUARD_BIN" policy check --sysroot "$SYSROOT"
	assert_failure 1
	assert_line "$HOST_CONFIG:1:2: unknown key 'budgte'"
	assert_line --partial "10-go.json: ok"
}

@test "a policy named host.json inside a policy directory is still checked as a policy" {
	policy host.json '{"memory": {"min": "64M"}}'
	run "$MEMGUARD_BIN" policy check "$ADMIN_POLICY_DIR"
	assert_success
	assert_line "$ADMIN_POLICY_DIR/host.json: ok"
}

@test "doctor [budget of 100 % or more, or max] warns that the hook may protect more than the host holds" {
	host_config '{"budget": {"min": "100%"}}'
	run doctor
	assert_success
	assert_line --regexp "^WARN  budget: memory.min at most 15.6 GiB \(100% of MemTotal\), .*: budget.min is all of RAM or more, .* — fix: keep budget.min at most 50% and budget.protection at most 80%"
	host_config '{"budget": {"protection": "max"}}'
	run doctor
	assert_line --regexp "^WARN  budget: .*min or low together at most max \(no cap\), .*: budget.protection is all of RAM or more"
	host_config '{"budget": {"min": "150%", "protection": "20G"}}'
	run doctor
	assert_line --regexp "^WARN  budget: .*: both are all of RAM or more"
	host_config '{"budget": {"min": "49%", "protection": "12G"}}'
	run doctor
	assert_line --regexp "^OK    budget: "
}

@test "doctor shows who holds protection at the top of the tree, and what is left under the budget" {
	mk_cgroup /system.slice 2147483648 0
	mk_cgroup /kubepods 0 4294967296
	run doctor
	assert_line "OK    protection held: the root's children hold memory.min 2 GiB and min or low together 6 GiB (/kubepods min 0 B low 4 GiB, /system.slice min 2 GiB low 0 B); left under the budget: min 5.8 GiB, protection 6.5 GiB"
	run doctor --json
	run jq -r '.checks[] | select(.name == "protection held") | .status' <<<"$output"
	assert_output OK
}

@test "doctor separates the hook's grants from what others hold, and warns when others alone hold more than a safe share" {
	mk_cgroup /system.slice 2147483648 0
	hook_run prestart
	assert_success
	run doctor
	assert_line "OK    protection by owner: the hook grants 1 container memory.min 1 GiB, protection 2 GiB; others hold memory.min 2 GiB, protection 2 GiB"
	# an admin's MemoryMin= of 9 GiB on machine.slice: more than half of RAM by itself
	mk_cgroup /machine.slice 9663676416 0
	run doctor
	assert_line --regexp "^WARN  protection by owner: others hold memory.min 11 GiB .*more than a safe share of RAM \(50% min, 80% together\) on their own; the hook grants 1 container memory.min 1 GiB"
}

@test "doctor [others hold more than a safe share of RAM] warns; [budget used up] says new containers get nothing" {
	mk_cgroup /system.slice 9663676416 0
	run doctor
	assert_success
	assert_line --regexp "^WARN  protection held: the root's children hold memory.min 9 GiB .*: more than a safe share of RAM \(50% min, 80% together\), and the budget is used up: new containers get no protection until some is given back; left under the budget: min 0 B, .* — fix: find who set it"
	echo 0 >"$CGROOT/system.slice/memory.min"
	echo max >"$CGROOT/system.slice/memory.low"
	host_config '{"budget": {"min": "50%", "protection": "max"}}'
	run doctor
	assert_line --regexp "^WARN  protection held: .*min or low together max \(/system.slice min 0 B low max\): more than a safe share of RAM"
}

@test "explain [others hold most of the budget]: the container would be clamped to what is left, and why; --json has the budget field" {
	mk_cgroup /system.slice 7516192768 0
	run explain
	assert_success
	assert_line "  held at the top of the tree now: memory.min 7 GiB, min or low together 7 GiB (/system.slice min 7 GiB low 0 B)"
	assert_line "  this container: budget clamped: it does not fit, it gets what is left; min 1 GiB asked, 832 MiB granted; low 2 GiB asked, 2 GiB granted; held before: memory.min 7 GiB of its budget 7.8 GiB, protection (min or low) 7 GiB of 12.5 GiB"
	run explain --json
	local rec="$output"
	run jq -r '.skipped[]' <<<"$rec"
	assert_output --partial "budget clamped: it does not fit, it gets what is left; min 1 GiB asked, 832 MiB granted"
	run jq -c '.budget' <<<"$rec"
	assert_output '{"verdict":"clamped","requested":{"min":1073741824,"low":2147483648},"granted":{"min":872415232,"low":2147483648},"budget":{"min":8388608000,"protection":13421772800},"used":{"min":7516192768,"protection":7516192768}}'
}

@test "explain [policy on_error=fail, does not fit]: the start would be refused" {
	policy 20-strict.json '{"trust": ["oci-memguard.image"], "match": {"images": ["golang:*"]}, "on_error": "fail"}'
	mk_cgroup /system.slice 0 13421772800
	run explain --json
	run jq -c '.budget | [.verdict, .granted.min, .granted.low]' <<<"$output"
	assert_output '["refused",0,0]'
	run explain
	assert_line --regexp "^  this container: budget refused: it does not fit and its policy says on_error=fail; "
}

@test "explain [budget max]: everything fits whatever others hold" {
	host_config '{"budget": {"min": "max", "protection": "max"}}'
	mk_cgroup /system.slice max max
	run explain --json
	run jq -c '.budget | [.verdict, .granted.min, .budget.min, .used.protection]' <<<"$output"
	assert_output '["fits",1073741824,"max","max"]'
}

@test "explain [cgroup v1]: the budget is not applicable" {
	make_sysroot v1
	make_bundle c1 /ctr/c1 '.annotations["oci-memguard.image"]="golang:1.22"'
	policy 10-go.json '{"trust": ["oci-memguard.image"], "match": {"images": ["golang:*"]}, "memory": {"min": "1G", "low": "2G"}}'
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE"
	assert_success
	assert_line "  not applicable: no cgroup v2 memory controller"
}

@test "doctor [a symlink and a file among the root's children] counts only real cgroup directories, never following the link" {
	mk_cgroup /system.slice 1073741824 0
	mkdir -p "$BATS_TEST_TMPDIR/elsewhere"
	echo 8589934592 >"$BATS_TEST_TMPDIR/elsewhere/memory.min"
	echo 8589934592 >"$BATS_TEST_TMPDIR/elsewhere/memory.low"
	ln -s "$BATS_TEST_TMPDIR/elsewhere" "$CGROOT/evil.slice"
	echo 1 >"$CGROOT/memory.pressure"
	run doctor
	assert_line --regexp "^OK    protection held: the root's children hold memory.min 1 GiB and min or low together 1 GiB \(/system.slice min 1 GiB low 0 B\);"
}
