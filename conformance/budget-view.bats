#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The budget's kept view of the top of the tree: a start does not read
# every child of the cgroup2 root when ledger.json holds a view younger
# than 10 s, or younger than 1 s when its grant comes within a tenth of
# MemTotal of a cap. The hook's own writes keep the view current at once;
# what others set there is counted by every start that begins that long
# after it.

load helpers

# 7.6 GiB: caps 3.8 GiB (memory.min) and 6.1 GiB (max(min, low)); the
# margin near a cap is a tenth of MemTotal, 0.76 GiB.
MEMTOTAL_KB=7969177
G=1073741824

setup() {
	make_sysroot v2
	sed -i "s/^MemTotal: .*/MemTotal:        $MEMTOTAL_KB kB/" "$SYSROOT/proc/meminfo"
	policy 50-docker.json '{"match": {"cgroups": ["/system.slice/docker/*"]}, "memory": {"min": "1G"}}'
	mk_cgroup /system.slice/docker
	mk_cgroup /user.slice
}

view() { jq -c "$1" "$SYSROOT/run/oci-memguard/ledger.json"; }

# bats test_tags=no_asan
@test "the first start reads the top and keeps it; the next counts the first one's raise without reading it again" {
	start_container c1 6001 /system.slice/docker/c1
	run view '.top.holders'
	assert_output '[{"name":"/system.slice","min":1073741824,"low":0}]'
	command -v strace >/dev/null || skip "strace not installed"
	mk_cgroup /system.slice/docker/c2
	mk_proc 6002 /system.slice/docker/c2
	make_bundle c2 /system.slice/docker/c2
	state_for c2 6002
	run strace -f -qq -e trace=openat,openat2 -o "$BATS_TEST_TMPDIR/trace" \
		"$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
	assert_success
	run grep -c 'user.slice' "$BATS_TEST_TMPDIR/trace"
	assert_output 0
	assert_equal "$(log_field '.budget.used.min')" "$G"
	assert_equal "$(log_field '.budget.verdict')" fits
	run view '.top.holders'
	assert_output '[{"name":"/system.slice","min":2147483648,"low":0}]'
}

@test "a stop lowers the kept view with the top: the next start counts only what still runs" {
	start_container c1 6001 /system.slice/docker/c1
	start_container c2 6002 /system.slice/docker/c2
	stop_container c1 /system.slice/docker/c1 6001
	assert_equal "$(view '.top.holders[0].min')" "$G"
	start_container c3 6003 /system.slice/docker/c3
	assert_equal "$(log_field '.budget.used.min')" "$G"
}

@test "near a cap, what others set at the top is counted by the starts a second after it" {
	for i in 1 2 3; do
		start_container "c$i" $((6000 + i)) "/system.slice/docker/c$i"
	done
	# an admin's MemoryMin= on user.slice, after the view was kept: 3G + 0.5G of 3.8G
	echo 536870912 >"$CGROOT/user.slice/memory.min"
	sleep 1.1
	# c4's 1G on the kept 3G comes within the margin, and the view is a second old: the top is read
	start_container c4 6004 /system.slice/docker/c4
	assert_equal "$(log_field '.budget.used.min')" $((3 * G + 536870912))
	assert_equal "$(log_field '.budget.verdict')" clamped
	local mt=$((MEMTOTAL_KB * 1024)) sum
	sum=$(($(cg_value /system.slice memory.min) + $(cg_value /user.slice memory.min)))
	((sum <= mt / 2)) || fail "the top holds $sum > 50 % of MemTotal"
	run view '.top.holders | map(.name) | sort'
	assert_output '["/system.slice","/user.slice"]'
}

@test "far from the caps the view counts for 10 s: a start 1 s after others changed the top does not read it" {
	start_container c1 6001 /system.slice/docker/c1
	echo 536870912 >"$CGROOT/user.slice/memory.min"
	sleep 1.1
	start_container c2 6002 /system.slice/docker/c2
	assert_equal "$(log_field '.budget.used.min')" "$G"
}

@test "far from the caps, what others set is counted once the view is older than its bound" {
	export MEMGUARD_TOP_MAX_AGE_USEC=1000000
	start_container c1 6001 /system.slice/docker/c1
	echo 536870912 >"$CGROOT/user.slice/memory.min"
	# within the bound, far from the caps: the kept view, without user.slice
	start_container c2 6002 /system.slice/docker/c2
	assert_equal "$(log_field '.budget.used.min')" "$G"
	sleep 1.1
	start_container c3 6003 /system.slice/docker/c3
	assert_equal "$(log_field '.budget.used.min')" $((2 * G + 536870912))
}

@test "a view that is not one (hand-edited, torn) is ignored: the top is read and the view written anew" {
	start_container c1 6001 /system.slice/docker/c1
	local lj="$SYSROOT/run/oci-memguard/ledger.json"
	local bad before n=0
	for bad in '{"read_usec":1,"holders":[{"name":"system.slice","min":0,"low":0}]}' \
		'{"read_usec":1,"holders":[{"name":"/a/b","min":0,"low":0}]}' \
		'{"read_usec":"x","holders":[]}' '[]'; do
		jq -c --argjson t "$bad" '.top = $t' "$lj" >"$lj.new" && mv "$lj.new" "$lj"
		before=$(cg_value /system.slice memory.min)
		n=$((n + 1))
		start_container "x$n" $((6100 + n)) "/system.slice/docker/x$n"
		assert_equal "$(log_field '.budget.used.min')" "$before"
		run view '.top.holders[0].name'
		assert_output '"/system.slice"'
	done
}

@test "a view claiming nothing is held is read again near a cap once it is a second old" {
	for i in 1 2 3; do
		start_container "c$i" $((6000 + i)) "/system.slice/docker/c$i"
	done
	# a view that says nothing is held: only a grant near a cap would read the top
	local lj="$SYSROOT/run/oci-memguard/ledger.json"
	jq -c '.top.holders = []' "$lj" >"$lj.new" && mv "$lj.new" "$lj"
	echo 536870912 >"$CGROOT/user.slice/memory.min"
	sleep 1.1
	# 3.5G on a view of nothing comes within the margin of the 3.8G cap
	policy 50-docker.json '{"match": {"cgroups": ["/system.slice/docker/*"]}, "memory": {"min": "3584M"}}'
	start_container c4 6004 /system.slice/docker/c4
	assert_equal "$(log_field '.budget.used.min')" $((3 * G + 536870912))
	local mt=$((MEMTOTAL_KB * 1024)) sum
	sum=$(($(cg_value /system.slice memory.min) + $(cg_value /user.slice memory.min)))
	((sum <= mt / 2)) || fail "the top holds $sum > 50 % of MemTotal"
}
