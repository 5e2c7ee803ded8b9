#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# One JSON object per line with the documented fields (README, Logs); strings from
# containers escaped, never a format string.

load helpers

setup() {
	make_sysroot v2
	policy 10.json '{"memory": {"min": "64M"}}'
	mk_cgroup /ctr/c1
	mk_proc 4001 /ctr/c1
}

@test "the outcome record has every field of the contract" {
	make_bundle c1 /ctr/c1
	state_for c1 4001
	hook_run prestart
	assert_success
	run jq -e -c 'has("time") and has("stage") and has("id") and has("image") and has("cgroup") and has("cgroup_mode")
		and has("recursiveprot") and has("policies") and has("build") and has("build_signal") and has("actions")
		and has("skipped") and has("errors") and has("duration_us")' "$LOG_FILE"
	assert_success
	run log_field '.time'
	assert_output --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$'
	run log_field '"\(.stage) \(.id) \(.cgroup_mode)"'
	assert_output "prestart c1 v2"
}

@test "hostile container strings (quotes, newlines, %n, invalid UTF-8) are escaped in the record" {
	local evil
	evil=$'%n%s"\\\n\x01\xff'
	make_bundle c1 /ctr/c1
	jq --arg e "$evil" '.annotations["oci-memguard.image"]=$e' "$BUNDLE/config.json" >"$BUNDLE/c.json" 2>/dev/null ||
		printf '{"annotations":{"oci-memguard.image":"%%n%%s\\"\\\\\\n\\u0001\xff"},"linux":{"cgroupsPath":"/ctr/c1"}}' >"$BUNDLE/c.json"
	mv "$BUNDLE/c.json" "$BUNDLE/config.json"
	state_for c1 4001
	hook_run prestart
	assert_success
	assert_equal "$(wc -l <"$LOG_FILE")" 1
	run jq -e -r '.image' "$LOG_FILE"
	assert_success
	assert_output --partial '%n%s"'
}

@test "poststop records the container's duration" {
	start_container c2 4002 /ctr/c2
	stop_container c2 /ctr/c2 4002
	run log_field '.container_duration_us >= 0'
	assert_output true
	run log_field '.stage'
	assert_output poststop
	run log_field '.policies | join(",")'
	assert_output 10.json
}

@test "an unwritable log file is reported on stderr and the container still starts" {
	make_bundle c1 /ctr/c1
	state_for c1 4001
	hook_run prestart --log-file /proc/version/not-here
	assert_success
	[[ "$stderr" == *"write log /proc/version/not-here"* ]]
	assert_equal "$(cg_value /ctr/c1 memory.min)" 67108864
}
