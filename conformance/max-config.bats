#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The largest config.json the input limits allow (16 MiB, an annotations
# object at the 65536-key cap) is read and the container protected; one key
# more is a one-line "size" error naming the file and the object; and a
# config.json of a million distinct tiny keys, which once kept the hook busy
# for minutes, is turned down at the cap.  `timeout` only guards against a
# hang: no time is asserted.

load helpers

setup() {
	make_sysroot v2
	policy 50-all.json '{"match": {}, "memory": {"min": "64M"}}'
	mk_cgroup /memguard/c1
	mk_proc 4001 /memguard/c1
	make_bundle c1 /memguard/c1
	state_for c1 4001
	GEN="$BATS_TEST_DIRNAME/../bench/gen-max-config.sh"
}

_hook_guarded() {
	timeout 120 "$MEMGUARD_BIN" "$@" --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
}

hook_run_guarded() { # as hook_run, under a hang guard
	run --separate-stderr _hook_guarded "$@"
	echo "hook $* -> status $status" >&2
	echo "stderr: $stderr" >&2
}

@test "config.json at the limits (16 MiB, 65536 annotations): read, the container protected" {
	"$GEN" "$BUNDLE/config.json" 65536 16777216 /memguard/c1
	run stat -c %s "$BUNDLE/config.json"
	assert_output 16777216
	hook_run_guarded prestart
	assert_success
	assert_equal "$stderr" ""
	run log_field '.errors | length'
	assert_output 0
	run cg_value /memguard/c1 memory.min
	assert_output 67108864
}

@test "one annotation more than 65536: a one-line size error naming config.json and 'annotations', nothing done" {
	"$GEN" "$BUNDLE/config.json" 65537 16777216 /memguard/c1
	local before
	before="$(host_snapshot)"
	hook_run_guarded prestart
	assert_success
	assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
	[[ "$stderr" == *"$BUNDLE/config.json:1:"*"size: 'annotations' has more than 65536 keys"* ]] || fail "stderr: $stderr"
	run log_field '.errors[0]'
	assert_output --partial "size: 'annotations' has more than 65536 keys"
	run log_field '.actions | length'
	assert_output 0
	assert_equal "$(host_snapshot)" "$before"
}

@test "a million distinct tiny annotations (16 MiB): turned down at the cap, not parsed for minutes" {
	awk -v max=16777000 -v cgp=/memguard/c1 'BEGIN {
		s = "{\"linux\":{\"cgroupsPath\":\"" cgp "\"},\"annotations\":{"
		printf "%s", s; n = length(s)
		for (i = 0; n < max; i++) { e = sprintf("%s\"%x\":0", i ? "," : "", i); printf "%s", e; n += length(e) }
		printf "}}\n"
	}' >"$BUNDLE/config.json"
	hook_run_guarded prestart
	assert_success
	[[ "$stderr" == *"size: 'annotations' has more than 65536 keys"* ]] || fail "stderr: $stderr"
	run cg_value /memguard/c1 memory.min
	assert_output 0
}
