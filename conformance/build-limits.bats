#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# A build step's own hard limits (build.limit): memory.max, memory.swap.max
# (v1: memory.limit_in_bytes and memsw) and memory.oom.group on the step's
# leaf only. The policy's value, lowered by an annotation but never raised,
# never above a limit the engine already set; nothing for containers that
# are not build steps; what was written is given back on a leaf that
# outlives its container; a step the limit stopped is said at poststop.

load helpers

setup() {
	make_sysroot v2
	policy 10-builds.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"when": "never"}, "limit": {"max": "2G", "swap_max": "0", "oom_group": true}}}'
}

# leaf_files CGROUP [max] [swap] [oom_group]: the files a v2 kernel gives a
# leaf, with the engine's values ("max" = none).
leaf_files() {
	mk_cgroup "$1"
	echo "${2:-max}" >"$CGROOT$1/memory.max"
	echo "${3:-max}" >"$CGROOT$1/memory.swap.max"
	echo "${4:-0}" >"$CGROOT$1/memory.oom.group"
	printf 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n' >"$CGROOT$1/memory.events"
	: >"$CGROOT$1/memory.stat"
	echo 0 >"$CGROOT$1/memory.current"
}

start_step() { # ID PID [annotations jq filter] [max] [swap]
	leaf_files "/ci/$1" "${4:-max}" "${5:-max}"
	mk_proc "$2" "/ci/$1"
	make_bundle "$1" "/ci/$1" ".annotations[\"oci-memguard.build\"]=\"true\" ${3:-}"
	state_for "$1" "$2"
	hook_run prestart
	assert_success
}

@test "a build step gets the policy's memory.max, memory.swap.max and memory.oom.group, read back" {
	start_step b1 4001
	assert_equal "$(cg_value /ci/b1 memory.max)" 2147483648
	assert_equal "$(cg_value /ci/b1 memory.swap.max)" 0
	assert_equal "$(cg_value /ci/b1 memory.oom.group)" 1
	run jq -c 'select(.stage == "prestart") | .limit | [.applied, .max, .max_from, .swap_max, .oom_group]' "$LOG_FILE"
	assert_output '[true,2147483648,"policy",0,true]'
	run jq -r 'select(.stage == "prestart") | .actions[] | "\(.file) \(.old) \(.new) \(.result)"' "$LOG_FILE"
	assert_line "memory.max max 2147483648 ok"
	assert_line "memory.swap.max max 0 ok"
	assert_line "memory.oom.group 0 1 ok"
	# the step's ancestors are not touched: limits are hierarchical
	[[ ! -e "$CGROOT/ci/memory.max" ]]
}

@test "N% of MemTotal: 25% of a 16 GiB host, rounded down to the page" {
	policy 10-builds.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"limit": {"max": "25%"}}}'
	start_step b1 4001
	# 16384000 kB * 25 % = 4194304000 bytes, a page multiple
	assert_equal "$(cg_value /ci/b1 memory.max)" 4194304000
	assert_equal "$(cg_value /ci/b1 memory.swap.max)" max
}

@test "a limit the engine already set lower is kept, never raised" {
	start_step b1 4001 "" 1073741824 0
	assert_equal "$(cg_value /ci/b1 memory.max)" 1073741824
	run jq -c 'select(.stage == "prestart") | .limit | [.max, .max_from]' "$LOG_FILE"
	assert_output '[1073741824,"engine"]'
	run jq -r 'select(.stage == "prestart") | .skipped[]' "$LOG_FILE"
	assert_output --partial "the engine's lower limit 1 GiB is kept"
	run jq -r 'select(.stage == "prestart") | [.actions[] | .file] | join(",")' "$LOG_FILE"
	refute_output --partial memory.max
}

@test "an engine's higher limit is lowered to the policy's" {
	start_step b1 4001 "" 8589934592
	assert_equal "$(cg_value /ci/b1 memory.max)" 2147483648
}

@test "an annotation lowers the limit; one that asks more is ignored" {
	start_step b1 4001 '| .annotations["oci-memguard.limit.max"]="1G"'
	assert_equal "$(cg_value /ci/b1 memory.max)" 1073741824
	run jq -r 'select(.stage == "prestart") | .limit.max_from' "$LOG_FILE"
	assert_output annotation

	start_step b2 4002 '| .annotations["oci-memguard.limit.max"]="64G"'
	assert_equal "$(cg_value /ci/b2 memory.max)" 2147483648
	run jq -r 'select(.stage == "prestart" and .id == "b2") | .skipped[]' "$LOG_FILE"
	assert_output --partial "may only lower"
}

@test "an annotation that is not a size is an error line, and the policy's limit still applies" {
	start_step b1 4001 '| .annotations["oci-memguard.limit.max"]="lots"'
	assert_equal "$(cg_value /ci/b1 memory.max)" 2147483648
	run jq -r 'select(.stage == "prestart") | .errors[]' "$LOG_FILE"
	assert_output "annotation oci-memguard.limit.max: size: 'lots' is not a size"
}

@test "a container that is not a build step is untouched, even with the annotation" {
	policy 20-all.json '{"match": {"cgroups": ["/ci/*"]}, "memory": {"low": "64M"}}'
	leaf_files /ci/svc
	mk_proc 4001 /ci/svc
	make_bundle svc /ci/svc '.annotations["oci-memguard.limit.max"]="1G"'
	state_for svc 4001
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /ci/svc memory.max)" max
	assert_equal "$(cg_value /ci/svc memory.oom.group)" 0
	run jq -c 'select(.stage == "prestart") | .limit' "$LOG_FILE"
	assert_output null
}

@test "an untrusted build claim gets no limit: the claim is not a fact" {
	policy 10-builds.json '{"match": {"build": true}, "build": {"limit": {"max": "2G"}}}'
	start_step b1 4001
	assert_equal "$(cg_value /ci/b1 memory.max)" max
}

@test "poststop: a step stopped by its limit is said in the record, in words, and counted" {
	start_step b1 4001
	# the kernel killed the step at its limit
	printf 'low 0\nhigh 0\nmax 57\noom 1\noom_kill 1\noom_group_kill 1\n' >"$CGROOT/ci/b1/memory.events"
	echo 2147483648 >"$CGROOT/ci/b1/memory.peak"
	rm -rf "$SYSROOT/proc/4001"
	state_for b1 none
	hook_run poststop
	assert_success
	run jq -c 'select(.stage == "poststop") | .limit | [.max, .events.max, .events.oom_kill, .events.oom_group_kill, .stopped, .source]' "$LOG_FILE"
	assert_output '[2147483648,57,1,1,true,"cgroup"]'
	run jq -r 'select(.stage == "poststop") | .limit.message' "$LOG_FILE"
	assert_output "build step b1 was stopped by its memory limit of 2 GiB (the kernel's oom_kill 1, the whole step killed as a group, peak 2 GiB)"
	# the leaf outlived its container here: what the hook wrote is given back
	assert_equal "$(cg_value /ci/b1 memory.max)" max
	assert_equal "$(cg_value /ci/b1 memory.swap.max)" max
	assert_equal "$(cg_value /ci/b1 memory.oom.group)" 0
	run "$MEMGUARD_BIN" report --log "$LOG_FILE" --json
	assert_success
	run jq -r '.rows[] | select(.policies == ["10-builds.json"]) | .limit_stopped' <<<"$output"
	assert_output 1
}

@test "poststop: a step that finished under its limit is not said to be stopped" {
	start_step b1 4001
	rm -rf "$SYSROOT/proc/4001"
	state_for b1 none
	hook_run poststop
	run jq -c 'select(.stage == "poststop") | .limit | [.stopped, .message]' "$LOG_FILE"
	assert_output '[false,null]'
}

@test "poststop: a leaf the engine removed first has no counters: not available, said why" {
	start_step b1 4001
	stop_container b1 /ci/b1 4001
	run jq -r 'select(.stage == "poststop") | .limit.unavailable' "$LOG_FILE"
	assert_output --partial "gone at poststop"
}

@test "poststop: a value someone changed after the start is not put back" {
	start_step b1 4001
	echo 3221225472 >"$CGROOT/ci/b1/memory.max"
	rm -rf "$SYSROOT/proc/4001"
	state_for b1 none
	hook_run poststop
	assert_equal "$(cg_value /ci/b1 memory.max)" 3221225472
	assert_equal "$(cg_value /ci/b1 memory.swap.max)" max
}

@test "cgroup v1: memory.limit_in_bytes, memsw as limit plus swap, oom_group said unavailable" {
	make_sysroot v1
	policy 10-builds.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"when": "never"}, "limit": {"max": "2G", "swap_max": "1G", "oom_group": true}}}'
	local d="$SYSROOT/sys/fs/cgroup/memory/ci/b1"
	mkdir -p "$d"
	echo 9223372036854771712 >"$d/memory.limit_in_bytes"
	echo 9223372036854771712 >"$d/memory.memsw.limit_in_bytes"
	echo 0 >"$d/memory.failcnt"
	printf 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n' >"$d/memory.oom_control"
	MK_PROC_V1=1 mk_proc 4001 /ci/b1
	make_bundle b1 /ci/b1 '.annotations["oci-memguard.build"]="true"'
	state_for b1 4001
	hook_run prestart
	assert_success
	assert_equal "$(cat "$d/memory.limit_in_bytes")" 2147483648
	assert_equal "$(cat "$d/memory.memsw.limit_in_bytes")" 3221225472
	run jq -c 'select(.stage == "prestart") | .limit | [.cgroup_version, .max, .swap_max, .oom_group]' "$LOG_FILE"
	assert_output '[1,2147483648,1073741824,false]'
	run jq -r 'select(.stage == "prestart") | .skipped[]' "$LOG_FILE"
	assert_output --partial "cgroup v1 has no memory.oom.group"
	# killed at the limit: v1 counts it in oom_control
	printf 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n' >"$d/memory.oom_control"
	echo 12 >"$d/memory.failcnt"
	rm -rf "$SYSROOT/proc/4001"
	state_for b1 none
	hook_run poststop
	run jq -c 'select(.stage == "poststop") | .limit | [.events.max, .events.oom_kill, .stopped]' "$LOG_FILE"
	assert_output '[12,1,true]'
	# given back in the order v1 needs: memsw raised before the limit
	# (-1 is how v1 is told "no limit"; the kernel reads it back as 9223372036854771712)
	assert_equal "$(cat "$d/memory.limit_in_bytes")" -1
	assert_equal "$(cat "$d/memory.memsw.limit_in_bytes")" -1
}

@test "invalid limit keys are one FILE:LINE:COL error naming the key" {
	policy 30-bad.json '{"build": {"limit": {"max": "2G", "high": "1G"}}}'
	run "$MEMGUARD_BIN" policy check "$ADMIN_POLICY_DIR/30-bad.json"
	assert_failure
	assert_output --regexp "30-bad.json:1:[0-9]+: .*unknown key 'build.limit.high'"
	policy 30-bad.json '{"build": {"limit": {"max": "6"}}}'
	run "$MEMGUARD_BIN" policy check "$ADMIN_POLICY_DIR/30-bad.json"
	assert_failure
	assert_output --partial "'build.limit.max' must be at least 4M"
	policy 30-bad.json '{"build": {"limit": {"swap_max": "lots"}}}'
	run "$MEMGUARD_BIN" policy check "$ADMIN_POLICY_DIR/30-bad.json"
	assert_failure
	assert_output --partial "size: 'build.limit.swap_max' = 'lots' is not a size"
	policy 30-bad.json '{"build": {"limit": {"oom_group": 1}}}'
	run "$MEMGUARD_BIN" policy check "$ADMIN_POLICY_DIR/30-bad.json"
	assert_failure
	assert_output --partial "'build.limit.oom_group' must be true or false"
}

@test "doctor warns when a step's limit and the protection held together exceed MemTotal" {
	# 15.6 GiB host; the root's children hold 8 GiB of protection
	mk_cgroup /system.slice
	echo 8589934592 >"$CGROOT/system.slice/memory.min"
	policy 10-builds.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"limit": {"max": "10G"}}}'
	run "$MEMGUARD_BIN" doctor --sysroot "$SYSROOT"
	assert_line --partial "WARN  build limits: 10-builds.json: a build step may use 10 GiB while containers hold 8 GiB of protection: together more than MemTotal 15.6 GiB"
	policy 10-builds.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"limit": {"max": "4G"}}}'
	run "$MEMGUARD_BIN" doctor --sysroot "$SYSROOT"
	assert_line --partial "OK    build limits: 1 policy limit build steps; each limit fits beside the 8 GiB of protection held"
}

@test "explain --build shows the limit a step would get, and writes nothing" {
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --image golang:1.22 --build
	assert_success
	assert_line "  build limit: memory.max 2 GiB (policy), swap 0 B (policy), oom.group on: a step the limit stops is killed whole"
	leaf_files /ci/b1
	mk_proc 4001 /ci/b1
	make_bundle b1 /ci/b1 '.annotations["oci-memguard.build"]="true" | .annotations["oci-memguard.limit.max"]="1G"'
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid 4001
	assert_success
	assert_line "  build limit: memory.max 1 GiB (annotation), swap 0 B (policy), oom.group on: a step the limit stops is killed whole"
	assert_line "  /ci/b1 memory.max: max -> 1073741824"
	assert_equal "$(cg_value /ci/b1 memory.max)" max
}
