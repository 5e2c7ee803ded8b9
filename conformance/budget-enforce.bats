#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The protection budget at a start: what the root's children hold plus a
# new grant never exceeds the caps (default: memory.min 50 % of MemTotal,
# max(min, low) 80 %). A start that does not fit gets what fits, possibly
# nothing; running containers are never lowered; with on_error=fail the
# start is refused. Decided under the ledger lock: concurrent starts never
# overshoot.

load helpers

# 7.6 GiB, the host of the overcommit report: caps 3.8 GiB and 6.1 GiB.
MEMTOTAL_KB=7969177

setup() {
	make_sysroot v2
	sed -i "s/^MemTotal: .*/MemTotal:        $MEMTOTAL_KB kB/" "$SYSROOT/proc/meminfo"
	policy 50-docker.json '{"match": {"cgroups": ["/system.slice/docker/*"]}, "memory": {"min": "1G", "low": "2G"}}'
	mk_cgroup /system.slice/docker
}

# The sums the kernel sees under the root: the root's children's values.
top_min() { cg_value /system.slice memory.min; }
top_protection() { # max(min, low) of /system.slice
	local m l
	m=$(cg_value /system.slice memory.min)
	l=$(cg_value /system.slice memory.low)
	echo $((m > l ? m : l))
}

assert_within_budget() {
	local mt=$((MEMTOTAL_KB * 1024))
	(($(top_min) <= mt / 2)) || fail "memory.min under the root $(top_min) > 50 % of MemTotal"
	(($(top_protection) <= mt * 8 / 10)) || fail "protection under the root $(top_protection) > 80 % of MemTotal"
}

@test "20 containers asking 1G/2G on a 7.6 GiB host: the first fit, one gets part, the rest nothing; the top stays under the budget; stops give all back" {
	local i
	for i in $(seq 20); do
		start_container "c$i" $((6000 + i)) "/system.slice/docker/c$i"
		assert_within_budget
	done
	# the first containers hold what they asked: running containers are never lowered
	assert_equal "$(cg_value /system.slice/docker/c1 memory.min)" 1073741824
	assert_equal "$(cg_value /system.slice/docker/c1 memory.low)" 2147483648
	assert_equal "$(cg_value /system.slice/docker/c20 memory.low)" 0
	run jq -r 'select(.stage == "prestart") | .budget.verdict' "$LOG_FILE"
	assert_line --index 0 fits
	assert_line --index 19 clamped
	# in words, for syslog and people
	run jq -r 'select(.stage == "prestart") | .skipped[]' "$LOG_FILE"
	assert_output --partial "budget clamped"
	for i in $(seq 20); do
		stop_container "c$i" "/system.slice/docker/c$i" $((6000 + i))
	done
	assert_equal "$(cg_value /system.slice memory.min)" 0
	assert_equal "$(cg_value /system.slice memory.low)" 0
}

@test "a stop tops up the containers the budget clamped, oldest first, and never above what they asked" {
	# caps: 3.8 GiB of memory.min, 6.1 GiB of max(min, low); each asks 1G/2G (2G of protection)
	local i
	for i in 1 2 3 4 5; do
		start_container "c$i" $((6000 + i)) "/system.slice/docker/c$i"
	done
	local c4_low c5_low
	c4_low=$(cg_value /system.slice/docker/c4 memory.low)
	c5_low=$(cg_value /system.slice/docker/c5 memory.low)
	((c4_low < 2147483648)) || fail "c4 was not clamped ($c4_low)"
	assert_equal "$c5_low" 0
	stop_container c1 /system.slice/docker/c1 6001
	# c4 (the older) gets all it asked; c5 what is left, less than it asked
	assert_equal "$(cg_value /system.slice/docker/c4 memory.min)" 1073741824
	assert_equal "$(cg_value /system.slice/docker/c4 memory.low)" 2147483648
	c5_low=$(cg_value /system.slice/docker/c5 memory.low)
	((c5_low > 0 && c5_low < 2147483648)) || fail "c5 holds $c5_low after the stop"
	assert_within_budget
	run jq -r 'select(.stage == "poststop") | .skipped[]' "$LOG_FILE"
	assert_output --partial "c4 topped up"
	# the records say what is held now, so a later stop gives back exactly that
	assert_equal "$(jq -r .min "$SYSROOT/run/oci-memguard/containers/c4.json")" 1073741824
	assert_equal "$(jq -r .requested_low "$SYSROOT/run/oci-memguard/containers/c5.json")" 2147483648
	for i in 2 3 4 5; do
		stop_container "c$i" "/system.slice/docker/c$i" $((6000 + i))
	done
	assert_equal "$(top_min)" 0
	assert_equal "$(cg_value /system.slice memory.low)" 0
}

@test "a start after room freed without a stop (MemTotal grew) tops up the clamped container before its own grant" {
	local i
	for i in 1 2 3 4; do
		start_container "c$i" $((6000 + i)) "/system.slice/docker/c$i"
	done
	(($(cg_value /system.slice/docker/c4 memory.low) < 2147483648)) || fail "c4 was not clamped"
	# the VM was given more memory between two starts
	sed -i "s/^MemTotal: .*/MemTotal:        $((MEMTOTAL_KB * 2)) kB/" "$SYSROOT/proc/meminfo"
	start_container c5 6005 /system.slice/docker/c5
	assert_equal "$(cg_value /system.slice/docker/c4 memory.low)" 2147483648
	assert_equal "$(cg_value /system.slice/docker/c5 memory.low)" 2147483648
}

@test "others' protection at the top counts: an admin's 3G memory.min on system.slice leaves a new container only what remains" {
	mk_cgroup /machine.slice 3221225472 0
	start_container c1 6001 /system.slice/docker/c1
	local mt=$((MEMTOTAL_KB * 1024))
	local granted
	granted=$(cg_value /system.slice/docker/c1 memory.min)
	((granted < 1073741824)) || fail "granted $granted: the admin's 3G was not counted"
	((3221225472 + granted <= mt / 2)) || fail "3G + $granted > 50 % of MemTotal"
	assert_equal "$(cg_value /machine.slice memory.min)" 3221225472
}

@test "64 starts at once never overshoot the budget by a byte, and all give back" {
	local i pids=()
	for i in $(seq 64); do
		mk_cgroup "/system.slice/docker/c$i"
		mk_proc $((7000 + i)) "/system.slice/docker/c$i"
		make_bundle "c$i" "/system.slice/docker/c$i"
		state_for "c$i" $((7000 + i))
		cp "$STATE_FILE" "$BATS_TEST_TMPDIR/s$i.json"
	done
	for i in $(seq 64); do
		"$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/s$i.json" >/dev/null 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	assert_within_budget
	# the grants the records hold add up to what the top holds
	local sum=0 v
	for i in $(seq 64); do
		v=$(cg_value "/system.slice/docker/c$i" memory.min)
		sum=$((sum + v))
	done
	assert_equal "$sum" "$(top_min)"
	for i in $(seq 64); do
		stop_container "c$i" "/system.slice/docker/c$i" $((7000 + i))
	done
	assert_equal "$(top_min)" 0
	assert_equal "$(cg_value /system.slice memory.low)" 0
}

@test "on_error=fail: a start that does not fit is refused (exit 1) and holds nothing" {
	policy 50-docker.json '{"match": {"cgroups": ["/system.slice/docker/*"]}, "memory": {"min": "1G", "low": "2G"}, "on_error": "fail"}'
	mk_cgroup /machine.slice 0 6442450944
	mk_cgroup /system.slice/docker/c1
	mk_proc 6001 /system.slice/docker/c1
	make_bundle c1 /system.slice/docker/c1
	state_for c1 6001
	hook_run prestart
	assert_failure 1
	[[ "$stderr" == *"does not fit the host's budget"* ]]
	assert_equal "$(cg_value /system.slice/docker/c1 memory.min)" 0
	assert_equal "$(cg_value /system.slice memory.min)" 0
	assert_equal "$(log_field '.budget.verdict')" refused
	[[ ! -e "$SYSROOT/run/oci-memguard/containers/c1.json" ]]
}

@test "a budget of max (host.json) lets every start have what it asks" {
	mkdir -p "$SYSROOT/etc/oci-memguard"
	printf '{"budget": {"min": "max", "protection": "max"}}\n' >"$SYSROOT/etc/oci-memguard/host.json"
	chmod 0644 "$SYSROOT/etc/oci-memguard/host.json"
	local i
	for i in $(seq 10); do
		start_container "c$i" $((6000 + i)) "/system.slice/docker/c$i"
	done
	assert_equal "$(cg_value /system.slice memory.min)" $((10 * 1073741824))
}
