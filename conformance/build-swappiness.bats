#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vm.swappiness while builds run (SPEC §4 build.swappiness): the first build
# saves and lowers it, the last one out restores it, exactly once; stale
# claims are released; a foreign change is left alone.

load helpers

setup() {
	make_sysroot v2
	policy 10-builds.json '{"match": {"build": true}, "build": {"swappiness": 10, "reclaim": {"when": "never"}}}'
}

swappiness() { cat "$SYSROOT/proc/sys/vm/swappiness"; }

start_build() { # ID PID
	mk_cgroup "/ci/$1"
	mk_proc "$2" "/ci/$1"
	make_bundle "$1" "/ci/$1" '.annotations["oci-memguard.build"]="true"'
	state_for "$1" "$2"
	hook_run prestart
	assert_success
}

@test "first build lowers vm.swappiness, the last one out restores it" {
	start_build b1 4001
	assert_equal "$(swappiness)" 10
	start_build b2 4002
	assert_equal "$(swappiness)" 10
	stop_container b1 /ci/b1 4001
	assert_equal "$(swappiness)" 10
	stop_container b2 /ci/b2 4002
	assert_equal "$(swappiness)" 60
	run jq -c '."vm.swappiness"' "$STATE_DIR/ledger.json"
	assert_output null
}

@test "concurrent builds with different values hold the smallest" {
	policy 20-go.json '{"match": {"build": true, "cgroups": ["/ci/go*"]}, "build": {"swappiness": 5}}'
	start_build b1 4001
	start_build go1 4002
	assert_equal "$(swappiness)" 5
	stop_container go1 /ci/go1 4002
	assert_equal "$(swappiness)" 10
	stop_container b1 /ci/b1 4001
	assert_equal "$(swappiness)" 60
}

@test "a build gone without poststop: its claim is released by the next run" {
	start_build b1 4001
	rm -rf "${CGROOT:?}/ci/b1" "$SYSROOT/proc/4001"
	mk_cgroup /ci/other
	mk_proc 4002 /ci/other
	make_bundle other /ci/other
	state_for other 4002
	hook_run prestart
	assert_equal "$(swappiness)" 60
}

@test "someone else changes vm.swappiness while builds run: left alone, claim dropped" {
	start_build b1 4001
	echo 33 >"$SYSROOT/proc/sys/vm/swappiness"
	start_build b2 4002
	assert_equal "$(swappiness)" 33
	run log_field '.skipped | join(" ")'
	assert_output --partial "vm.swappiness was changed by someone else"
	stop_container b1 /ci/b1 4001
	stop_container b2 /ci/b2 4002
	assert_equal "$(swappiness)" 33
	# the next build episode starts afresh from 33
	start_build b3 4003
	assert_equal "$(swappiness)" 10
	stop_container b3 /ci/b3 4003
	assert_equal "$(swappiness)" 33
}

@test "16 builds in parallel, stopped in random order: swappiness set once and restored exactly once" {
	local i
	for i in $(seq 1 16); do
		mk_cgroup "/ci/p$i"
		mk_proc $((5000 + i)) "/ci/p$i"
		make_bundle "p$i" "/ci/p$i" '.annotations["oci-memguard.build"]="true"'
		state_for "p$i" $((5000 + i))
	done
	for i in $(seq 1 16); do
		"$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/state-p$i.json" &
	done
	wait
	assert_equal "$(swappiness)" 10
	for i in $(seq 1 16 | shuf); do
		rm -rf "${CGROOT:?}/ci/p$i" "$SYSROOT/proc/$((5000 + i))"
		jq '.status="stopped" | del(.pid)' "$BATS_TEST_TMPDIR/state-p$i.json" >"$BATS_TEST_TMPDIR/stop-p$i.json"
	done
	for i in $(seq 1 16 | shuf); do
		"$MEMGUARD_BIN" poststop --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/stop-p$i.json" &
	done
	wait
	assert_equal "$(swappiness)" 60
	run jq -s '[.[].actions[] | select(.target=="vm.swappiness") | "\(.old)->\(.new)"]' "$LOG_FILE"
	assert_output "$(printf '[\n  "60->10",\n  "10->60"\n]')"
}

@test "non-build containers never touch vm.swappiness" {
	policy 10-builds.json '{"build": {"swappiness": 10}}'
	mk_cgroup /ci/app
	mk_proc 4009 /ci/app
	make_bundle app /ci/app
	state_for app 4009
	hook_run prestart
	assert_equal "$(swappiness)" 60
}
