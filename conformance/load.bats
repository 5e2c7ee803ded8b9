#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Load: 64 hooks at once, many rounds, random start/stop order and
# random SIGKILLs at random steps: afterwards every cgroup value, vm.swappiness
# and the ledger equal the initial state. Rounds: MEMGUARD_LOAD_ROUNDS
# (default 10 in make check; 100 takes ~10x as long).

load helpers

KILL_BIN="$(cd "$BATS_TEST_DIRNAME/.." && pwd)/build/killpoints/oci-memguard"
POINTS=(apply-records-saved apply-intent-saved apply-after-write apply-cgroups-written apply-before-final-save apply-before-unlink apply-before-clean start-before-buildguard)

# bats test_tags=no_asan
@test "64 hooks at once x N rounds, random order and random kills: the host ends exactly as it began" {
	[[ -x "$KILL_BIN" ]] || fail "kill-point build missing"
	make_sysroot v2
	policy 10.json '{"memory": {"min": "4M", "low": "8M"}}'
	policy 20-builds.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"swappiness": 10, "reclaim": {"when": "never"}}}'
	mk_cgroup /load/a 0 0
	mk_cgroup /load/b 0 0
	echo 8192 >"$CGROOT/load/memory.min"
	local rounds="${MEMGUARD_LOAD_ROUNDS:-10}" r i before kills=0
	before="$(host_snapshot | grep -v '^run/')"
	local t0=$SECONDS
	# bundles and states once: only cgroups and processes come and go
	local cgs=()
	for i in $(seq 1 64); do
		cgs[i]=$( ((i % 2)) && echo /load/a/c$i || echo /load/b/c$i)
		make_bundle "c$i" "${cgs[i]}" "$( ((i % 4 == 0)) && echo '.annotations["oci-memguard.build"]="true"' || echo .)"
		state_for "c$i" $((6000 + i))
		cp "$STATE_FILE" "$BATS_TEST_TMPDIR/start-$i.json"
		jq '.status="stopped" | del(.pid)' "$STATE_FILE" >"$BATS_TEST_TMPDIR/stop-$i.json"
	done
	for ((r = 1; r <= rounds; r++)); do
		for i in $(seq 1 64); do
			mk_cgroup "${cgs[i]}"
			mk_proc $((6000 + i)) "${cgs[i]}"
		done
		for i in $(seq 1 64 | shuf); do
			if ((RANDOM % 10 == 0)); then
				kills=$((kills + 1))
				MEMGUARD_KILLPOINT=${POINTS[RANDOM % ${#POINTS[@]}]} "$KILL_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/start-$i.json" 2>/dev/null &
			else
				"$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/start-$i.json" &
			fi
		done
		wait || true
		for i in $(seq 1 64); do
			rm -rf "$CGROOT/load/a/c$i" "$CGROOT/load/b/c$i" "$SYSROOT/proc/$((6000 + i))"
		done
		for i in $(seq 1 64 | shuf); do
			if ((RANDOM % 10 == 0)); then
				kills=$((kills + 1))
				MEMGUARD_KILLPOINT=${POINTS[RANDOM % 6]} "$KILL_BIN" poststop --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/stop-$i.json" 2>/dev/null &
			elif ((RANDOM % 10 == 0)); then
				: # the runtime never ran poststop: the next run prunes it
			else
				"$MEMGUARD_BIN" poststop --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/stop-$i.json" &
			fi
		done
		wait || true
	done
	# one more ordinary run heals whatever the last kills left
	start_container last 6999 /other/last
	stop_container last /other/last 6999
	echo "# $rounds rounds x 64 hooks, $kills killed, $((SECONDS - t0)) s" >&3
	assert_equal "$(host_snapshot | grep -v '^run/' | grep -v '/other')" "$before"
	assert_equal "$(find "$STATE_DIR/containers" -name '*.json' | wc -l)" 0
	run jq -c --argjson held "$(ledger_held)" '[$held, ."vm.swappiness"]' "$STATE_DIR/ledger.json"
	assert_output '[{},null]'
}
