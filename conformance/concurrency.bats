#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Concurrent hooks never lose a restore (shared state changes under a lock).

load helpers

setup() {
	make_sysroot v2
	policy 50-all.json '{"memory": {"min": "16M", "low": "32M"}}'
	mk_cgroup /memguard/ci 0 0
	echo 8192 >"$CGROOT/memguard/memory.min"
	echo 12288 >"$CGROOT/memguard/memory.low"
}

run_many() { # N: start N containers at once, check, stop them at once in another order
	local n="$1" i
	for ((i = 1; i <= n; i++)); do
		mk_cgroup "/memguard/ci/c$i"
		mk_proc $((5000 + i)) "/memguard/ci/c$i"
		make_bundle "c$i" "/memguard/ci/c$i"
		state_for "c$i" $((5000 + i))
	done
	for ((i = 1; i <= n; i++)); do
		"$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/state-c$i.json" &
	done
	wait
	assert_equal "$(cg_value /memguard/ci memory.min)" $((n * 16777216))
	assert_equal "$(cg_value /memguard memory.min)" $((8192 + n * 16777216))
	assert_equal "$(cg_value /memguard memory.low)" $((12288 + n * 33554432))
	assert_equal "$(find "$STATE_DIR/containers" -name '*.json' | wc -l)" "$n"
	for ((i = n; i >= 1; i--)); do
		rm -rf "${CGROOT:?}/memguard/ci/c$i" "$SYSROOT/proc/$((5000 + i))"
		jq '.status="stopped" | del(.pid)' "$BATS_TEST_TMPDIR/state-c$i.json" >"$BATS_TEST_TMPDIR/stop-c$i.json"
	done
	for ((i = 1; i <= n; i += 2)); do
		"$MEMGUARD_BIN" poststop --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/stop-c$i.json" &
	done
	for ((i = n - (n % 2 == 0 ? 0 : 1); i >= 2; i -= 2)); do
		"$MEMGUARD_BIN" poststop --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/stop-c$i.json" &
	done
	wait
	assert_equal "$(cg_value /memguard/ci memory.min)" 0
	assert_equal "$(cg_value /memguard/ci memory.low)" 0
	assert_equal "$(cg_value /memguard memory.min)" 8192
	assert_equal "$(cg_value /memguard memory.low)" 12288
	assert_equal "$(find "$STATE_DIR/containers" -name '*.json' | wc -l)" 0
	assert_equal "$(wc -l <"$LOG_FILE")" $((2 * n))
	# every line of the shared log is one whole JSON record
	run jq -e -s 'length' "$LOG_FILE"
	assert_success
}

@test "two containers starting and stopping concurrently leave every value restored exactly" {
	run_many 2
}

@test "32 containers starting and stopping concurrently leave every value restored exactly" {
	run_many 32
}

@test "a start that waits for the ledger lock says how long in lock_wait_us; one that does not says 0" {
	mk_cgroup /memguard/ci/c1
	mk_proc 5001 /memguard/ci/c1
	make_bundle c1 /memguard/ci/c1
	state_for c1 5001
	hook_run prestart
	assert_success
	assert_equal "$(log_field '.lock_wait_us')" 0
	mk_cgroup /memguard/ci/c2
	mk_proc 5002 /memguard/ci/c2
	make_bundle c2 /memguard/ci/c2
	state_for c2 5002
	# another holder of the lock for 1 s; the start begins once it holds it
	local lock="$SYSROOT/run/oci-memguard/lock" i
	flock "$lock" sleep 1 &
	local holder=$!
	for ((i = 0; i < 100; i++)); do
		flock -n "$lock" true || break
		sleep 0.05
	done
	hook_run prestart
	assert_success
	wait "$holder"
	run log_field '.lock_wait_us >= 100000 and .lock_wait_us < 10000000'
	assert_output true
	assert_equal "$(cg_value /memguard/ci memory.min)" $((2 * 16777216))
}

@test "a lock held past the run's deadline: the start ends within it, unprotected, and the log says why" {
	# The wait was the runtime's whole 10 s hook timeout: the runtime
	# killed the hook and failed the container's create.
	mk_cgroup /memguard/ci/c1
	mk_proc 5001 /memguard/ci/c1
	make_bundle c1 /memguard/ci/c1
	state_for c1 5001
	mkdir -p "$SYSROOT/run/oci-memguard"
	local lock="$SYSROOT/run/oci-memguard/lock" i
	flock "$lock" sleep 12 &
	local holder=$!
	for ((i = 0; i < 100; i++)); do
		flock -n "$lock" true || break
		sleep 0.05
	done
	local t0 t1
	t0=$(date +%s%N)
	hook_run prestart
	t1=$(date +%s%N)
	kill "$holder" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
	assert_success
	echo "prestart took $(((t1 - t0) / 1000000)) ms" >&2
	(((t1 - t0) < 6000000000))
	run log_field '.errors | join(" ")'
	assert_output --partial "within the run's deadline: nothing changed"
	run log_field '.skipped | join(" ")'
	assert_output --partial "the container starts unprotected: the run's deadline would be missed"
	assert_equal "$(cg_value /memguard/ci memory.min)" 0
}
