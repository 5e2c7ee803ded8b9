#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Evidence in the stop's record: the deltas of the container's memory.events
# and memory.stat since its start, its peak, and whether its protection
# held. The fixture cgroup stays in place across the stop here (systemd
# scopes may outlive poststop); stop_container's removal is the runc case.

load helpers

setup() {
	make_sysroot v2
	policy 50-db.json '{"match": {"cgroups": ["/memguard/*"]}, "memory": {"min": "512M", "low": "1G"}}'
}

# events LOW OOM_KILL: the container's memory.events as the kernel writes it
events() {
	printf 'low %s\nhigh 0\nmax 0\noom 0\noom_kill %s\noom_group_kill 0\n' "$1" "${2:-0}" >"$CGROOT/memguard/db1/memory.events"
}

start_db1() {
	mk_cgroup /memguard/db1
	events 2
	printf 'anon 5\nworkingset_refault_anon 10\nworkingset_refault_file 20\npgscan 30\npgsteal 40\n' >"$CGROOT/memguard/db1/memory.stat"
	echo 1000 >"$CGROOT/memguard/db1/memory.current"
	mk_proc 4001 /memguard/db1
	make_bundle db1 /memguard/db1
	state_for db1 4001
	hook_run prestart
	assert_success
}

stop_db1() {
	state_for db1 none
	hook_run poststop
	assert_success
}

@test "poststop (low events unchanged since start) says held, with the deltas and the kernel's peak" {
	start_db1
	printf 'anon 5\nworkingset_refault_anon 13\nworkingset_refault_file 20\npgscan 130\npgsteal 90\n' >"$CGROOT/memguard/db1/memory.stat"
	echo 734003200 >"$CGROOT/memguard/db1/memory.peak"
	stop_db1
	run log_field '"\(.evidence.verdict) low=\(.memory_events_delta.low) refault_anon=\(.memory_stat_delta.workingset_refault_anon) pgscan=\(.memory_stat_delta.pgscan) peak=\(.evidence.peak_bytes) \(.evidence.peak_source)"'
	assert_output "held low=0 refault_anon=3 pgscan=100 peak=734003200 memory.peak"
}

@test "poststop (5 low events since start) says breached with the kernel's count, and report sums it as breaches" {
	start_db1
	events 7
	stop_db1
	run log_field '"\(.evidence.verdict) \(.memory_events_delta.low)"'
	assert_output "breached 5"
	run "$MEMGUARD_BIN" report --json --sysroot "$SYSROOT"
	assert_success
	run jq -c '.total.breaches | [.low_events, .containers]' <<<"$output"
	assert_output '[5,1]'
}

@test "poststop (OOM kill while holding memory.min) says breached" {
	start_db1
	events 2 1
	stop_db1
	run log_field '"\(.evidence.verdict) oom_kill=\(.memory_events_delta.oom_kill) low=\(.memory_events_delta.low)"'
	assert_output "breached oom_kill=1 low=0"
}

@test "poststop after the runtime removed the cgroup: not available, says why, peak from what the hook saw" {
	start_db1
	stop_container db1 /memguard/db1 4001
	run log_field '"\(.evidence.verdict)|\(.evidence.why)|\(.memory_events_delta)|\(.evidence.peak_bytes) \(.evidence.peak_source)"'
	assert_output "not available|the container's cgroup was gone at poststop and no sample of it was taken (oci-memguard sample)|null|1000 memory.current"
}

@test "container without protection: not applicable" {
	policy 60-free.json '{"match": {"cgroups": ["/free/*"]}, "build": {"detect": false}}'
	mk_cgroup /free/c1
	mk_proc 4002 /free/c1
	make_bundle c1 /free/c1
	state_for c1 4002
	hook_run prestart
	assert_success
	stop_container c1 /free/c1 4002
	run log_field '.evidence.verdict'
	assert_output "not applicable"
}

@test "cgroup v1 (hybrid) host: not available once, the reason, no invented numbers" {
	make_sysroot hybrid
	policy 50-db.json '{"match": {"cgroups": ["/memguard/*"]}, "memory": {"min": "512M"}}'
	mkdir -p "$SYSROOT/sys/fs/cgroup/memory/memguard/db1"
	MK_PROC_V1=1 mk_proc 4001 /memguard/db1
	make_bundle db1 /memguard/db1
	state_for db1 4001
	hook_run prestart
	assert_success
	state_for db1 none
	hook_run poststop
	assert_success
	run log_field '"\(.evidence.verdict)|\(.memory_events_delta)|\(.memory_stat_delta)"'
	assert_output "not available|null|null"
	run log_field '.evidence.why'
	assert_output --partial "v2"
	run grep -c '"evidence"' "$LOG_FILE"
	assert_output 1
}

@test "a hostile memory.events (huge, junk values) is not evidence: not available, the start is not failed" {
	mk_cgroup /memguard/db1
	head -c 100000 /dev/zero | tr '\0' 'x' >"$CGROOT/memguard/db1/memory.events"
	mk_proc 4001 /memguard/db1
	make_bundle db1 /memguard/db1
	state_for db1 4001
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /memguard/db1 memory.min)" 536870912
	events 9
	stop_db1
	run log_field '.evidence.verdict'
	assert_output "not available"
}
