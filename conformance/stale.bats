#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Every run prunes stale records (container gone without poststop)
# and gives back what they held.

load helpers

setup() {
	make_sysroot v2
	policy 50-all.json '{"memory": {"min": "64M"}}'
}

@test "a container gone without poststop is pruned by the next run, and its protection given back" {
	start_container dead 4001 /memguard/dead
	assert_equal "$(cg_value /memguard memory.min)" 67108864
	# the runtime died: cgroup removed, process gone, no poststop
	rm -rf "${CGROOT:?}/memguard/dead" "$SYSROOT/proc/4001"
	start_container alive 4002 /memguard/alive
	assert_equal "$(cg_value /memguard memory.min)" 67108864
	assert_file_not_exists "$STATE_DIR/containers/dead.json"
	run log_field '.skipped | join(" ")'
	assert_output --partial "stale record of container dead"
}

@test "a record whose pid was reused by another process (other start time) is stale once its cgroup is gone" {
	start_container old 4001 /memguard/old
	rm -rf "${CGROOT:?}/memguard/old"
	mk_proc 4001 /elsewhere 999999   # same pid, new process
	start_container new 4002 /memguard/new
	assert_file_not_exists "$STATE_DIR/containers/old.json"
	assert_equal "$(cg_value /memguard memory.min)" 67108864
}

@test "a record whose cgroup is gone but whose process lives on is kept" {
	start_container c1 4001 /memguard/c1
	rm -rf "${CGROOT:?}/memguard/c1"
	start_container c2 4002 /memguard/c2
	assert_file_exists "$STATE_DIR/containers/c1.json"
}

@test "poststop of another container prunes too" {
	start_container dead 4001 /memguard/dead
	start_container c2 4002 /memguard/c2
	rm -rf "${CGROOT:?}/memguard/dead" "$SYSROOT/proc/4001"
	stop_container c2 /memguard/c2 4002
	assert_file_not_exists "$STATE_DIR/containers/dead.json"
	assert_equal "$(cg_value /memguard memory.min)" 0
}

@test "a corrupt record is moved aside and reported; what it held is given back" {
	start_container c1 4001 /memguard/c1
	echo '{"id": "c1", "cgro' >"$STATE_DIR/containers/c1.json"
	start_container c2 4002 /memguard/c2
	assert_file_exists "$STATE_DIR/containers/c1.json.corrupt"
	run log_field '.errors | join(" ")'
	assert_output --partial "record containers/c1.json is corrupt"
	assert_equal "$(cg_value /memguard memory.min)" 67108864
}

# A run checks MEMGUARD_PRUNE_SLICE (4) records for staleness, round-robin,
# and every record when the state was not left clean or the last full pass
# is older than MEMGUARD_PRUNE_FULL_AFTER_USEC (10 minutes): a stale record
# lives at most ceil(N/4) runs, or 10 minutes and one run.
maintenance_run() { # N: a start no policy matches (it only maintains)
	start_container "other$1" $((6000 + $1)) "/other/t$1"
}

kill_containers() { # FIRST LAST
	local i
	for i in $(seq "$1" "$2"); do
		rm -rf "${CGROOT:?}/memguard/c$i" "$SYSROOT/proc/$((5000 + i))"
	done
}

stale_left() { find "$STATE_DIR/containers" -name 'c*.json' | wc -l; }

twelve_running_eight_dead() { # c1..c12 under /memguard, c1..c8 then die without poststop
	policy 50-all.json '{"match": {"cgroups": ["/memguard/*"]}, "memory": {"min": "64M"}}'
	local i
	for i in $(seq 1 12); do start_container "c$i" $((5000 + i)) "/memguard/c$i"; done
	assert_equal "$(cg_value /memguard memory.min)" $((12 * 67108864))
	kill_containers 1 8
}

@test "containers that die while the pruning slice is elsewhere are healed within ceil(N/4) runs" {
	twelve_running_eight_dead
	maintenance_run 1
	# one run checks 4 records: at least 4 of the 8 dead are left
	(( $(stale_left) >= 8 ))
	maintenance_run 2
	maintenance_run 3
	# ceil(12/4) = 3 runs have seen every record
	assert_equal "$(stale_left)" 4
	assert_equal "$(cg_value /memguard memory.min)" $((4 * 67108864))
	assert_equal "$(ledger_value /memguard memory.min set)" $((4 * 67108864))
}

@test "a run whose last full pass is older than the bound checks every record" {
	twelve_running_eight_dead
	MEMGUARD_PRUNE_FULL_AFTER_USEC=0 maintenance_run 1
	assert_equal "$(stale_left)" 4
	assert_equal "$(cg_value /memguard memory.min)" $((4 * 67108864))
}

@test "oci-memguard prune checks every record now" {
	twelve_running_eight_dead
	run "$MEMGUARD_BIN" prune --sysroot "$SYSROOT" --no-syslog
	assert_success
	assert_equal "$(stale_left)" 4
	assert_equal "$(cg_value /memguard memory.min)" $((4 * 67108864))
	run log_field '.stage'
	assert_output prune
	run log_field '[.skipped[] | select(startswith("stale record"))] | length'
	assert_output 8
}
