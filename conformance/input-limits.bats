#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Every over-limit or malformed input is a one-line error naming the
# file and the reason, and nothing is changed because of it.

load helpers

setup() {
	make_sysroot v2
	policy 50-all.json '{"match": {}, "memory": {"min": "64M"}}'
	mk_cgroup /memguard/c1
	mk_proc 4001 /memguard/c1
	make_bundle c1 /memguard/c1
	state_for c1 4001
	BEFORE="$(host_snapshot)"
}

# the hook must have said exactly one line on stderr containing $1 and
# changed nothing, and still let the container start
assert_rejected() {
	assert_success
	assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
	[[ "$stderr" == *"$1"* ]] || fail "stderr lacks '$1': $stderr"
	assert_equal "$(host_snapshot)" "$BEFORE"
	run log_field '.errors[0]'
	assert_output --partial "$1"
	run log_field '.actions | length'
	assert_output 0
}

@test "state larger than 64 KiB is rejected (size)" {
	python3 -c 'import json,sys; print(json.dumps({"id":"c1","pid":4001,"bundle":sys.argv[1],"x":"a"*70000}))' "$BUNDLE" >"$STATE_FILE"
	hook_run prestart
	assert_rejected "size"
}

@test "state nested 100 deep is rejected (depth) and changes nothing" {
	python3 -c 'print("{\"id\":\"c1\",\"x\":" + "["*100 + "]"*100 + "}")' >"$STATE_FILE"
	hook_run prestart
	assert_rejected "depth"
}

@test "state with a NUL byte is rejected (NUL)" {
	printf '{"id":"c1","pid":4001,\0"bundle":"%s"}' "$BUNDLE" >"$STATE_FILE"
	hook_run prestart
	assert_rejected "NUL"
}

@test "state with an escaped NUL in a string is rejected (NUL)" {
	printf '{"id":"c1","pid":4001,"bundle":"%s\\u0000x"}' "$BUNDLE" >"$STATE_FILE"
	hook_run prestart
	assert_rejected "NUL"
}

@test "malformed state JSON is rejected (syntax) with line and column" {
	printf '{"id": "c1",\n "pid": 4001,,}' >"$STATE_FILE"
	hook_run prestart
	assert_rejected "state:2:"
	[[ "$stderr" == *syntax* ]]
}

@test "state with a wrong type is rejected (type) naming the field" {
	state_for c1 4001 '.pid="4001"'
	hook_run prestart
	assert_rejected "type: 'pid'"
}

@test "container ids that could become paths are rejected" {
	local bad
	for bad in "../etc" "a/b" ".hidden" "" "a b" $'a\nb' "$(printf 'x%.0s' {1..1100})"; do
		state_for c1 4001
		jq --arg id "$bad" '.id=$id' "$STATE_FILE" >"$STATE_FILE.new" && mv "$STATE_FILE.new" "$STATE_FILE"
		hook_run prestart
		assert_rejected "invalid container id"
	done
}

@test "config.json larger than 16 MiB is rejected (size)" {
	python3 -c 'import json; print(json.dumps({"process":{"args":["/bin/x"]},"pad":"a"*(17*1024*1024)}))' >"$BUNDLE/config.json"
	hook_run prestart
	assert_rejected "config.json: size"
}

@test "config.json nested 100 deep is rejected (depth)" {
	python3 -c 'print("{\"x\":" + "["*100 + "]"*100 + "}")' >"$BUNDLE/config.json"
	hook_run prestart
	assert_rejected "config.json:1:"
	[[ "$stderr" == *depth* ]]
}

@test "config.json with a wrong type is rejected (type) naming the field" {
	make_bundle c1 /memguard/c1 '.process.args="/bin/sh"'
	hook_run prestart
	assert_rejected "type: 'process.args'"
}

@test "config.json with a NUL byte is rejected (NUL)" {
	printf '{"process":{}\0}' >"$BUNDLE/config.json"
	hook_run prestart
	assert_rejected "NUL"
}

@test "missing config.json is an error naming the path" {
	rm "$BUNDLE/config.json"
	hook_run prestart
	assert_rejected "$BUNDLE/config.json"
}

@test "a config.json that is a symlink is not followed" {
	mv "$BUNDLE/config.json" "$BATS_TEST_TMPDIR/real.json"
	ln -s "$BATS_TEST_TMPDIR/real.json" "$BUNDLE/config.json"
	hook_run prestart
	assert_rejected "config.json"
}

@test "Docker 20.10's \"annotations\": null is accepted" {
	make_bundle c1 /memguard/c1 '.annotations=null'
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /memguard/c1 memory.min)" 67108864
}

@test "linux.cgroupsPath with .. is refused, nothing written" {
	rm "$SYSROOT/proc/4001/cgroup"
	make_bundle c1 /memguard/../c1
	hook_run prestart
	assert_success
	assert_equal "$(host_snapshot)" "$BEFORE"
	run log_field '.errors | join(" ")'
	assert_output --partial "not a valid cgroup path"
}

@test "stages with nothing to do exit 0 quietly, without reading stdin or logging" {
	local s
	for s in createContainer startContainer poststart; do
		run --separate-stderr "$MEMGUARD_BIN" "$s" --sysroot "$SYSROOT" --no-syslog </dev/null
		assert_success
		assert_output ""
		assert_equal "$stderr" ""
	done
	assert_file_not_exists "$LOG_FILE"
}

@test "an unknown stage is a usage error" {
	run --separate-stderr "$MEMGUARD_BIN" prestrat --sysroot "$SYSROOT"
	assert_failure 2
	[[ "$stderr" == *"unknown stage or command 'prestrat'"* ]]
}

@test "--version names the libyajl and libseccomp it runs with" {
	run "$MEMGUARD_BIN" --version
	assert_success
	assert_line --regexp '^oci-memguard [0-9]'
	assert_line --regexp '^libyajl [0-9]+\.[0-9]+\.[0-9]+$'
	assert_line --regexp '^libseccomp [0-9]+\.[0-9]+\.[0-9]+$'
}
