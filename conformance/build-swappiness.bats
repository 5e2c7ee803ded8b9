#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vm.swappiness while builds run (build.swappiness): the first build
# saves and lowers it, the last one out restores it, exactly once; stale
# claims are released; a foreign change is left alone.

load helpers

setup() {
	make_sysroot v2
	policy 10-builds.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"swappiness": 10, "reclaim": {"when": "never"}}}'
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
	policy 20-go.json '{"trust": ["oci-memguard.build"], "match": {"build": true, "cgroups": ["/ci/go*"]}, "build": {"swappiness": 5}}'
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
	policy 10-builds.json '{"trust": ["oci-memguard.build"], "build": {"swappiness": 10}}'
	mk_cgroup /ci/app
	mk_proc 4009 /ci/app
	make_bundle app /ci/app
	state_for app 4009
	hook_run prestart
	assert_equal "$(swappiness)" 60
}

@test "poststop runs twice: restored once; a later admin value is left alone by the second run" {
	start_build b1 4001
	stop_container b1 /ci/b1 4001
	assert_equal "$(swappiness)" 60
	echo 45 >"$SYSROOT/proc/sys/vm/swappiness"
	hook_run poststop
	assert_success
	assert_equal "$(swappiness)" 45
	run log_field '.skipped | join(" ")'
	assert_output --partial "no record for this container"
	run jq -s '[.[].actions[] | select(.target=="vm.swappiness")] | length' "$LOG_FILE"
	assert_output 2
}

@test "--dry-run of a build plans the swappiness change and writes nothing, not even a claim" {
	mk_cgroup /ci/b1
	mk_proc 4001 /ci/b1
	make_bundle b1 /ci/b1 '.annotations["oci-memguard.build"]="true"'
	state_for b1 4001
	hook_run prestart --dry-run
	assert_success
	assert_equal "$(swappiness)" 60
	run log_field '.actions[] | select(.target=="vm.swappiness") | "\(.old)->\(.new) \(.result)"'
	assert_output "60->10 planned"
	if [[ -e "$STATE_DIR/ledger.json" ]]; then
		run jq -c '."vm.swappiness"' "$STATE_DIR/ledger.json"
		assert_output null
	fi
	# a real build afterwards starts from the true value
	hook_run prestart
	assert_equal "$(swappiness)" 10
}

@test "a stale build whose pid was reused (another start time) is released" {
	start_build b1 4001
	rm -rf "${CGROOT:?}/ci/b1"
	mk_proc 4001 /other 999999 # same pid, another process
	mk_cgroup /ci/other
	mk_proc 4002 /ci/other
	make_bundle other /ci/other
	state_for other 4002
	hook_run prestart
	assert_equal "$(swappiness)" 60
}

@test "a stale build released while another build runs keeps the value until the last one stops" {
	start_build b1 4001
	start_build b2 4002
	rm -rf "${CGROOT:?}/ci/b1" "$SYSROOT/proc/4001"
	start_build b3 4003
	assert_equal "$(swappiness)" 10
	stop_container b2 /ci/b2 4002
	assert_equal "$(swappiness)" 10
	stop_container b3 /ci/b3 4003
	assert_equal "$(swappiness)" 60
	run jq -s '[.[].actions[] | select(.target=="vm.swappiness") | "\(.old)->\(.new)"] | join(",")' "$LOG_FILE"
	assert_output '"60->10,10->60"'
}

@test "a foreign change noticed only when the last build stops: not overwritten" {
	start_build b1 4001
	echo 33 >"$SYSROOT/proc/sys/vm/swappiness"
	stop_container b1 /ci/b1 4001
	assert_equal "$(swappiness)" 33
	run log_field '.skipped | join(" ")'
	assert_output --partial "vm.swappiness was changed by someone else"
}

@test "builds whose policy sets no swappiness never claim it" {
	policy 10-builds.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"when": "never"}}}'
	start_build b1 4001
	assert_equal "$(swappiness)" 60
	run log_field '[.actions[] | select(.target=="vm.swappiness")] | length'
	assert_output 0
	stop_container b1 /ci/b1 4001
	assert_equal "$(swappiness)" 60
}

@test "a policy with build.detect=false: a heuristic build takes no claim, an annotated one does" {
	policy 20-off.json '{"build": {"detect": false}}'
	mk_cgroup /ci/buildah-x
	mk_proc 4001 /ci/buildah-x
	make_bundle buildah-x /ci/buildah-x
	state_for buildah-x 4001
	hook_run prestart
	assert_equal "$(swappiness)" 60
	start_build b2 4002
	assert_equal "$(swappiness)" 10
}

@test "16 builds starting and stopping interleaved, in random order: every episode restored exactly once" {
	local i
	for i in $(seq 1 16); do
		mk_cgroup "/ci/q$i"
		mk_proc $((6000 + i)) "/ci/q$i"
		make_bundle "q$i" "/ci/q$i" '.annotations["oci-memguard.build"]="true"'
		state_for "q$i" $((6000 + i))
		jq '.status="stopped" | del(.pid)' "$BATS_TEST_TMPDIR/state-q$i.json" >"$BATS_TEST_TMPDIR/stop-q$i.json"
	done
	# first half running; then the second half starts while the first stops
	for i in $(seq 1 8); do
		"$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/state-q$i.json" &
	done
	wait
	assert_equal "$(swappiness)" 10
	for i in $(seq 1 16 | shuf); do
		if ((i <= 8)); then
			rm -rf "${CGROOT:?}/ci/q$i" "$SYSROOT/proc/$((6000 + i))"
			"$MEMGUARD_BIN" poststop --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/stop-q$i.json" &
		else
			"$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/state-q$i.json" &
		fi
	done
	wait
	# the second half still runs: the value holds
	assert_equal "$(swappiness)" 10
	for i in $(seq 9 16 | shuf); do
		rm -rf "${CGROOT:?}/ci/q$i" "$SYSROOT/proc/$((6000 + i))"
		"$MEMGUARD_BIN" poststop --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/stop-q$i.json" &
	done
	wait
	assert_equal "$(swappiness)" 60
	# one set, one restore (or, if the first half all left before any of the
	# second started, two complete episodes): never a restore without a set
	run jq -s -r '[.[].actions[] | select(.target=="vm.swappiness") | "\(.old)->\(.new)"] | join(",")' "$LOG_FILE"
	assert_output --regexp '^(60->10,10->60)(,60->10,10->60)?$'
	run jq -s '[.[].errors[]] | length' "$LOG_FILE"
	assert_output 0
}

@test "a foreign change, then the build goes stale: pruning does not overwrite the admin's value" {
	start_build b1 4001
	echo 33 >"$SYSROOT/proc/sys/vm/swappiness"
	rm -rf "${CGROOT:?}/ci/b1" "$SYSROOT/proc/4001"
	mk_cgroup /ci/other
	mk_proc 4002 /ci/other
	make_bundle other /ci/other
	state_for other 4002
	hook_run prestart
	assert_equal "$(swappiness)" 33
}

@test "the policy's value equals the host's: the claim still guards against foreign changes" {
	policy 10-builds.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"swappiness": 60, "reclaim": {"when": "never"}}}'
	start_build b1 4001
	assert_equal "$(swappiness)" 60
	echo 20 >"$SYSROOT/proc/sys/vm/swappiness"
	stop_container b1 /ci/b1 4001
	assert_equal "$(swappiness)" 20
}

@test "a foreign change while two builds with different values run: the departure of the lower one does not raise it back" {
	policy 20-go.json '{"trust": ["oci-memguard.build"], "match": {"build": true, "cgroups": ["/ci/go*"]}, "build": {"swappiness": 5}}'
	start_build b1 4001
	start_build go1 4002
	assert_equal "$(swappiness)" 5
	echo 20 >"$SYSROOT/proc/sys/vm/swappiness"
	stop_container go1 /ci/go1 4002
	assert_equal "$(swappiness)" 20
	stop_container b1 /ci/b1 4001
	assert_equal "$(swappiness)" 20
}

@test "a build's vm.swappiness claim lapses after its lifetime: restored and logged, the build keeps running" {
	# A build step that runs for days is not a build: its claim holds for
	# a bounded time only (6 h), then the host value comes back.
	start_build b1 4001
	assert_equal "$(swappiness)" 10
	local rec="$STATE_DIR/containers/b1.json"
	run jq -r '.swappiness_expires_usec > .started_monotonic_usec' "$rec"
	assert_output true
	jq -c '.swappiness_expires_usec = 1' "$rec" >"$rec.new" && mv "$rec.new" "$rec"
	# the host-wide part of the state keeps the running builds' claims
	local led="$STATE_DIR/ledger.json"
	jq -c '(.swappiness_claims[] | select(.id == "b1") | .expires_usec) = 1' "$led" >"$led.new" && mv "$led.new" "$led"
	start_build b2-plain 4002
	assert_equal "$(swappiness)" 10 # b2's own claim is fresh
	stop_container b2-plain /ci/b2-plain 4002
	assert_equal "$(swappiness)" 60
	run log_field '.skipped | join(" ")'
	assert_output --partial "vm.swappiness claim of b1 (10) lapsed"
	stop_container b1 /ci/b1 4001
	assert_equal "$(swappiness)" 60
	run jq -c '."vm.swappiness"' "$STATE_DIR/ledger.json"
	assert_output null
}
