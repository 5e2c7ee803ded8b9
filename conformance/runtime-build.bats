#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The build guard on this very host, through real runc: the host's real
# vm.swappiness is lowered while a build container runs and restored after;
# the real drop_caches/compact_memory path runs and logs before/after.
# Teardown restores vm.swappiness even when a test fails.

load helpers

setup() {
	requires root runc
	ORIG_SWAPPINESS=$(cat /proc/sys/vm/swappiness)
	WORK="$BATS_TEST_TMPDIR/rt"
	mkdir -p "$WORK/policy" "$WORK/state"
	HOOK_STATE="$WORK/state"
	HOOK_LOG="$WORK/events.jsonl"
	ID="memguard-build-$$-${BATS_TEST_NUMBER}"
	# a value different from the host's, so the change is visible
	BUILD_SWP=$(( ORIG_SWAPPINESS == 7 ? 8 : 7 ))
}

teardown() {
	[[ -n "${WORK:-}" ]] && runc --root "$WORK/runc" delete -f "$ID" >/dev/null 2>&1
	[[ -n "${ORIG_SWAPPINESS:-}" ]] && echo "$ORIG_SWAPPINESS" >/proc/sys/vm/swappiness
	local d
	for d in /sys/fs/cgroup/*/memguard-test /sys/fs/cgroup/memguard-test; do
		[[ -d "$d" ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	true
}

bundle() { # bundle ARGS-JSON
	local dir="$WORK/bundle"
	mkdir -p "$dir/rootfs/bin"
	cp /bin/busybox "$dir/rootfs/bin/busybox"
	for c in sh true sleep; do ln -sf busybox "$dir/rootfs/bin/$c"; done
	(cd "$dir" && runc spec)
	jq --arg bin "$MEMGUARD_BIN" --arg s "$HOOK_STATE" --arg l "$HOOK_LOG" --arg p "$WORK/policy" --arg cg "/memguard-test/$ID" --argjson args "$1" '
		.process.terminal = false | .process.args = $args | .linux.cgroupsPath = $cg
		| .annotations = {"oci-memguard.build": "true"}
		| .hooks = {
			prestart: [{path: $bin, args: ["oci-memguard", "prestart", "--state-dir", $s, "--log-file", $l, "--policy-dir", $p, "--no-syslog"]}],
			poststop: [{path: $bin, args: ["oci-memguard", "poststop", "--state-dir", $s, "--log-file", $l, "--policy-dir", $p, "--no-syslog"]}]
		}' "$dir/config.json" >"$dir/c.json"
	mv "$dir/c.json" "$dir/config.json"
}

@test "runc run of a build: the host's vm.swappiness is the policy's while it runs, restored after" {
	printf '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"swappiness": %d, "reclaim": {"when": "never"}}}\n' "$BUILD_SWP" >"$WORK/policy/10.json"
	bundle '["/bin/sleep", "30"]'
	runc --root "$WORK/runc" run -d --bundle "$WORK/bundle" "$ID" </dev/null >/dev/null 2>&1
	assert_equal "$(cat /proc/sys/vm/swappiness)" "$BUILD_SWP"
	run jq -r -s '.[0] | "\(.build) \(.build_signal)"' "$HOOK_LOG"
	assert_output "true annotation oci-memguard.build=true"
	runc --root "$WORK/runc" kill "$ID" KILL
	sleep 0.3
	runc --root "$WORK/runc" delete -f "$ID"
	assert_equal "$(cat /proc/sys/vm/swappiness)" "$ORIG_SWAPPINESS"
	run jq -r -s '[.[].actions[] | select(.target=="vm.swappiness") | "\(.old)->\(.new) \(.result)"] | join(",")' "$HOOK_LOG"
	assert_output "$ORIG_SWAPPINESS->$BUILD_SWP ok,$BUILD_SWP->$ORIG_SWAPPINESS ok"
}

@test "runc run of a build with when=always: the real drop_caches and compact_memory run, before/after logged" {
	printf '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"when": "always", "drop_caches": 1, "timeout_ms": 10000}}}\n' >"$WORK/policy/10.json"
	bundle '["/bin/true"]'
	run runc --root "$WORK/runc" run --bundle "$WORK/bundle" "$ID"
	assert_success
	run jq -r -s '[.[0].actions[] | "\(.target)=\(.new) \(.result | split(" ")[0])"] | join(",")' "$HOOK_LOG"
	assert_output --regexp 'vm.compact_memory=1 ok'
	assert_output --regexp '(vm.drop_caches=1 ok|memory.reclaim)'
	run jq -r -s '.[0].build_guard | "\(.mem_available_before > 0) \(.mem_available_after > 0) \(.free_blocks_at_order_before != null) \(.duration_us > 0)"' "$HOOK_LOG"
	assert_output "true true true true"
	jq -c -s '.[0].build_guard' "$HOOK_LOG" >&3
}

@test "runc run of a build with a 1 ms budget: the real sync + drop_caches outlives it, the hook does not wait for it" {
	printf '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"when": "always", "drop_caches": 1, "timeout_ms": 1}}}\n' >"$WORK/policy/10.json"
	bundle '["/bin/true"]'
	run runc --root "$WORK/runc" run --bundle "$WORK/bundle" "$ID"
	assert_success
	# drop_caches and compact_memory ignore signals: only a child the hook
	# does not wait for can bound them
	run jq -r -s '.[0].build_guard.bounded_by' "$HOOK_LOG"
	assert_output "child process"
	# sync + drop_caches (the first step) cannot finish in 1 ms on a real host
	run jq -r -s '.[0].actions[0] | "\(.target) \(.result)"' "$HOOK_LOG"
	assert_output --regexp '^vm.drop_caches timeout: still running after 1 ms'
	run jq -r -s '.[0].skipped | join(" ")' "$HOOK_LOG"
	assert_output --partial "the remaining steps were skipped"
	run jq -r -s '.[0].build_guard.duration_us < 1000000' "$HOOK_LOG"
	assert_output true
	jq -c -s '.[0] | {build_guard, actions}' "$HOOK_LOG" >&3
}
