#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# oci-memguard status [--json]: every managed container with its claims,
# its ancestors, memory.current and breaches so far; the shared values; the
# stale records — read from the state dir and the kernel, changing nothing.

load helpers

setup() {
	make_sysroot v2
	policy 50-db.json '{"match": {"cgroups": ["/memguard/*"]}, "memory": {"min": "512M", "low": "1G"}}'
}

status_run() {
	run --separate-stderr "$MEMGUARD_BIN" status --sysroot "$SYSROOT" "$@"
	echo "status $* -> $status" >&2
	echo "$output" >&2
	echo "stderr: $stderr" >&2
}

@test "status --json: claims, cgroup, policies, memory.current, breaches so far (live low events), ancestors, shared values" {
	mk_cgroup /memguard/ci/db1
	printf 'low 2\nhigh 0\nmax 0\noom 0\noom_kill 0\n' >"$CGROOT/memguard/ci/db1/memory.events"
	echo 1000 >"$CGROOT/memguard/ci/db1/memory.current"
	mk_proc 4001 /memguard/ci/db1
	make_bundle db1 /memguard/ci/db1
	state_for db1 4001
	hook_run prestart
	assert_success
	printf 'low 9\nhigh 0\nmax 0\noom 0\noom_kill 0\n' >"$CGROOT/memguard/ci/db1/memory.events"
	echo 4096 >"$CGROOT/memguard/ci/db1/memory.current"
	status_run --json
	assert_success
	run jq -c '.containers[0] | [.id, .cgroup, .policies, .min, .low, .memory_current, .breaches, .verdict]' <<<"$output"
	assert_output '["db1","/memguard/ci/db1",["50-db.json"],536870912,1073741824,4096,7,"breached"]'
	status_run --json
	run jq -c '[.containers[0].ancestors[] | [.cgroup, ."memory.min", .raised_by_hook]]' <<<"$output"
	assert_output '[["/memguard/ci",536870912,true],["/memguard",536870912,true]]'
	status_run --json
	run jq -c '[.shared[] | select(.target == "/memguard" and .file == "memory.min") | [.orig, .set]]' <<<"$output"
	assert_output '[["0","536870912"]]'
	status_run --json
	run jq -c '[.live, .protected, .breached, .stale]' <<<"$output"
	assert_output '[1,1,1,0]'
}

@test "status (text): one block per container, the shared values, the summary line" {
	start_container db1 4001 /memguard/db1
	status_run
	assert_success
	assert_output --partial "db1  cgroup=/memguard/db1"
	assert_output --partial "claims: min=512.0M low=1.0G"
	assert_output --partial "/memguard memory.min: 0 -> 536870912"
	assert_output --partial "1 managed, 1 protected, 0 breached so far, 0 stale record(s)"
}

@test "status shows a stale record (cgroup and process gone) and changes nothing: no lock, nothing pruned, nothing given back" {
	start_container db1 4001 /memguard/db1
	rm -rf "${CGROOT:?}/memguard/db1" "${SYSROOT:?}/proc/4001"
	rm -f "$STATE_DIR/lock"
	local before
	before=$(host_snapshot; find "$STATE_DIR" -type f -exec md5sum {} + | sort)
	status_run --json
	assert_success
	run jq -c '[.stale, (.containers[0] | [.id, .stale])]' <<<"$output"
	assert_output '[1,["db1",true]]'
	assert_equal "$(host_snapshot; find "$STATE_DIR" -type f -exec md5sum {} + | sort)" "$before"
	assert_file_not_exists "$STATE_DIR/lock"
}

@test "status with no state dir at all: nothing managed, success, nothing created" {
	status_run
	assert_success
	assert_output --partial "0 managed"
	assert_file_not_exists "$STATE_DIR"
}

@test "status tolerates a corrupt record: counted as unreadable, the others are shown" {
	start_container db1 4001 /memguard/db1
	echo '{"id": "x", garbage' >"$STATE_DIR/containers/bad.json"
	status_run --json
	assert_success
	run jq -c '[.live, .unreadable_records]' <<<"$output"
	assert_output '[1,1]'
	assert_file_exists "$STATE_DIR/containers/bad.json"
}

# bats test_tags=no_asan
@test "status is fast enough for watch -n1: 200 containers in well under a second" {
	local n
	for n in $(seq 1 200); do
		start_container "c$n" $((7000 + n)) "/memguard/c$n" >/dev/null
	done
	local t0 t1
	t0=$(date +%s%N)
	status_run --json
	t1=$(date +%s%N)
	assert_success
	run jq '.live' <<<"$output"
	assert_output 200
	echo "status over 200 containers: $(((t1 - t0) / 1000000)) ms" >&3
	(((t1 - t0) < 1000000000))
}
