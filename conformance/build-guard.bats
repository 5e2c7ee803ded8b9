#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The build guard (build.reclaim): healthy hosts are left alone; a
# short host gets a targeted memory.reclaim of the deficit (drop_caches only
# without memory.reclaim); a fragmented one gets compaction, and
# drop_caches=2 + compaction again when slab pins pageblocks.

load helpers

# buddyinfo with N free blocks at each order >= 4 in Normal and DMA32
buddy() {
	local hi="$1"
	{
		echo "Node 0, zone      DMA      1      1      1      0      2      1      1      0      1      1      3"
		echo "Node 0, zone    DMA32   4000   3000   2000   1000 $hi $hi $hi $hi $hi $hi $hi"
		echo "Node 0, zone   Normal   9000   8000   7000   6000 $hi $hi $hi $hi $hi $hi $hi"
	} >"$SYSROOT/proc/buddyinfo"
}

setup() {
	make_sysroot v2
	buddy 50
	printf 'Node 0, zone   Normal\n  pages free     100000\n        min      1000\n        low      1250\n        high     1500\n' >"$SYSROOT/proc/zoneinfo"
	: >"$SYSROOT/proc/sys/vm/drop_caches"
	: >"$SYSROOT/proc/sys/vm/compact_memory"
	: >"$CGROOT/memory.reclaim"
	mk_cgroup /ci/b1
	mk_proc 4001 /ci/b1
	make_bundle b1 /ci/b1 '.annotations["oci-memguard.build"]="true"'
	state_for b1 4001
}

available() { # available KB
	sed -i "s/^MemAvailable:.*/MemAvailable:   $1 kB/" "$SYSROOT/proc/meminfo"
}

@test "healthy host: the decision costs a few reads and writes nothing" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"when": "auto", "available_below": "15%"}}}'
	hook_run prestart
	assert_success
	run log_field '.build_guard.decision'
	assert_output healthy
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/drop_caches")" ""
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/compact_memory")" ""
	assert_equal "$(cat "$CGROOT/memory.reclaim")" ""
	run log_field '.actions | length'
	assert_output 0
	run log_field '"\(.build) \(.build_signal)"'
	assert_output "true annotation oci-memguard.build=true"
}

@test "short of memory with memory.reclaim: the deficit is reclaimed at the cgroup2 root, in chunks, nothing dropped" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"available_below": "15%"}}}'
	available 1457600    # 15% of 16384000 kB is 2457600 kB: 1000000 kB short
	hook_run prestart
	assert_success
	run log_field '.build_guard.decision'
	assert_output short
	run log_field '.actions[] | select(.file=="memory.reclaim") | "\(.target) \(.new) \(.result)"'
	assert_output --regexp "^/ 1024000000 ok: 1024000000 bytes in 4 chunks, swappiness=0"
	# the last chunk written was the remainder, with swappiness=0
	assert_equal "$(cat "$CGROOT/memory.reclaim")" "$((1024000000 - 3 * 268435456)) swappiness=0"
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/drop_caches")" ""
}

@test "short of memory without memory.reclaim (cgroup v1, old kernels): drop_caches per policy after sync" {
	rm "$CGROOT/memory.reclaim"
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"available_below": "15%", "drop_caches": 1}}}'
	available 100000
	hook_run prestart
	assert_success
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/drop_caches")" 1
	run log_field '.actions[] | select(.target=="vm.drop_caches") | .result'
	assert_output --regexp '^ok'
}

@test "short of memory, no memory.reclaim and drop_caches=0: nothing is dropped, and it says so" {
	rm "$CGROOT/memory.reclaim"
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"drop_caches": 0}}}'
	available 100000
	hook_run prestart
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/drop_caches")" ""
	run log_field '.skipped | join(" ")'
	assert_output --partial "drop_caches=0"
}

@test "fragmented and slab-pinned (compaction makes no block of order >= 4): compact, sync + drop_caches=2, compact again" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"order": 4}}}'
	buddy 0
	hook_run prestart
	assert_success
	run log_field '.build_guard.decision'
	assert_output slab-pinned
	run log_field '[.actions[] | "\(.target)=\(.new)"] | join(",")'
	assert_output "vm.compact_memory=1,vm.drop_caches=2,vm.compact_memory=1"
	run log_field '.build_guard.free_blocks_at_order_before'
	assert_output 0
	run log_field '.build_guard.wmark_high_pages'
	assert_output 1500
}

@test "fragmentation is judged at the policy's order" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"order": 2}}}'
	buddy 0
	hook_run prestart
	run log_field '.build_guard.decision'
	assert_output healthy
}

@test "compact=false leaves a fragmented host alone and says so" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"compact": false}}}'
	buddy 0
	hook_run prestart
	run log_field '.actions | length'
	assert_output 0
	run log_field '.skipped | join(" ")'
	assert_output --partial "compact=false"
}

@test "when=never touches nothing even on a sick host" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"when": "never"}}}'
	buddy 0
	available 1000
	hook_run prestart
	run log_field '.build_guard.decision'
	assert_output off
	run log_field '.actions | length'
	assert_output 0
}

@test "when=always acts on a healthy host: drop_caches per policy and compaction" {
	rm "$CGROOT/memory.reclaim"
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"when": "always", "drop_caches": 3}}}'
	hook_run prestart
	run log_field '[.actions[] | "\(.target)=\(.new)"] | join(",")'
	assert_output "vm.drop_caches=3,vm.compact_memory=1"
}

@test "--dry-run plans the build guard's actions and writes nothing" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"available_below": "15%"}}}'
	available 1457600
	buddy 0
	hook_run prestart --dry-run
	run log_field '[.actions[] | "\(.target)=\(.new) \(.result)"] | join(",")'
	assert_output "/=1024000000 planned,vm.compact_memory=1 planned,vm.drop_caches=2 planned if no free block of order 4 appears,vm.compact_memory=1 planned if no free block of order 4 appears"
	assert_equal "$(cat "$CGROOT/memory.reclaim")" ""
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/compact_memory")" ""
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/drop_caches")" ""
}

@test "non-builds never run the build guard" {
	policy 10.json '{"trust": ["oci-memguard.build"], "build": {"reclaim": {"when": "always"}}}'
	make_bundle b1 /ci/b1
	hook_run prestart
	run log_field '.build_guard'
	assert_output null
}

@test "poststop of a build reports /proc/vmstat deltas and the duration" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}}'
	hook_run prestart
	sed -i 's/^compact_stall .*/compact_stall 7/; s/^allocstall_normal .*/allocstall_normal 9/' "$SYSROOT/proc/vmstat"
	stop_container b1 /ci/b1 4001
	run log_field '"\(.vmstat_delta.compact_stall) \(.vmstat_delta.allocstall_normal) \(.vmstat_delta.oom_kill)"'
	assert_output "5 4 0"
	run log_field '.container_duration_us >= 0'
	assert_output true
}

@test "build.after=always: when the last build ends, memory.reclaim of the given size" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"after": {"when": "always", "reclaim": "512M"}}}'
	hook_run prestart
	stop_container b1 /ci/b1 4001
	run log_field '.actions[] | select(.file=="memory.reclaim") | "\(.new) \(.result)"'
	assert_output --regexp '^536870912 ok: 536870912 bytes in 2 chunks'
}

@test "build.after=auto reclaims only when the builds left that much page cache behind" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"after": {"when": "auto", "reclaim": "8G"}}}'
	hook_run prestart
	stop_container b1 /ci/b1 4001
	run log_field '.skipped | join(" ")'
	assert_output --partial "less page cache than"
}

# /proc/buddyinfo as the kernel shows it over time: the first read sees
# FIRST free blocks at each order >= 4, every later read THEN. A FIFO orders
# the reads (a file rewritten by a fake kernel would race the hook's re-read).
# A writer that opens while the previous reader still drains appends to its
# content (the reader would then sum two copies), so every write is followed
# by a pause long enough for the reader to reach end-of-file and close: 2 s
# after FIRST, 1 s after each THEN. A reader that opens during a pause blocks
# until the next write, which only costs time.
buddy_sequence() { # buddy_sequence FIRST THEN
	local f="$SYSROOT/proc/buddyinfo"
	rm -f "$f"
	mkfifo "$f"
	(
		buddy_text "$1" >"$f"
		sleep 2
		while true; do buddy_text "$2" >"$f"; sleep 1; done
	) 3>&- &
	FIFO_PIDS+=" $!"
}

buddy_text() { # one write(2), so a reader never sees half of it
	local hi="$1"
	printf '%s\n%s\n' "Node 0, zone    DMA32   4000   3000   2000   1000 $hi $hi $hi $hi $hi $hi $hi" \
		"Node 0, zone   Normal   9000   8000   7000   6000 $hi $hi $hi $hi $hi $hi $hi"
}

teardown() {
	local p
	for p in ${FIFO_PIDS:-}; do kill "$p" 2>/dev/null; done
	true
}

@test "fragmented, and compaction makes blocks: compact once, no drop_caches, decision fragmented" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}}'
	buddy_sequence 0 3
	hook_run prestart
	assert_success
	run log_field '.build_guard.decision'
	assert_output fragmented
	run log_field '[.actions[] | "\(.target)=\(.new)"] | join(",")'
	assert_output "vm.compact_memory=1"
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/drop_caches")" ""
	run log_field '"\(.build_guard.free_blocks_at_order_before) \(.build_guard.free_blocks_at_order_after)"'
	assert_output "0 42"
}

@test "short and fragmented: memory.reclaim first; blocks merged by the reclaim mean no compaction" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"available_below": "15%"}}}'
	available 2400000
	buddy_sequence 0 1
	hook_run prestart
	assert_success
	run log_field '.build_guard.decision'
	assert_output short+fragmented
	run log_field '[.actions[] | "\(.target) \(.file)=\(.new)"] | join(",")'
	assert_output "/ memory.reclaim=58982400"
	assert_equal "$(cat "$CGROOT/memory.reclaim")" "58982400 swappiness=0"
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/compact_memory")" ""
}

@test "short and fragmented, reclaim merges nothing: compaction follows" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"available_below": "15%", "drop_caches": 0}}}'
	available 2400000
	buddy 0
	hook_run prestart
	run log_field '[.actions[] | .file] | join(",")'
	assert_output "memory.reclaim,/proc/sys/vm/compact_memory"
	run log_field '.skipped | join(" ")'
	assert_output --partial "slab pins pageblocks, but build.reclaim.drop_caches=0"
}

@test "a step that outlives its time budget is cut off and the remaining steps are skipped" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"timeout_ms": 300}}}'
	buddy 0
	rm -f "$SYSROOT/proc/sys/vm/compact_memory"
	mkfifo "$SYSROOT/proc/sys/vm/compact_memory" # no reader: the write never completes
	local t0=$EPOCHREALTIME
	hook_run prestart
	local ms=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))
	assert_success
	(( ms < 1500 )) || fail "the hook took $ms ms with a 300 ms budget"
	run log_field '.actions[0].result'
	assert_output --regexp '^timeout: '
	run log_field '[.actions[] | .target] | join(",")'
	assert_output "vm.compact_memory"
	run log_field '.skipped | join(" ")'
	assert_output --partial "a step used its whole time budget (300 ms a step"
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/drop_caches")" ""
}

@test "a policy's time budget of 60 s a step still ends the start inside the runtime's 10 s hook timeout" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"timeout_ms": 60000}}}'
	buddy 0
	rm -f "$SYSROOT/proc/sys/vm/compact_memory"
	mkfifo "$SYSROOT/proc/sys/vm/compact_memory" # no reader: the write never completes
	local t0=$EPOCHREALTIME
	hook_run prestart
	local ms=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))
	assert_success
	# the guard's steps end 8 s after the run began; runc and crun kill a hook at 10 s
	(( ms < 9500 )) || fail "the hook took $ms ms: past the runtime's hook timeout"
	run log_field '.actions[0].result'
	assert_output --regexp '^timeout: '
	run log_field '.skipped | join(" ")'
	assert_output --partial "8000 ms in all after the start began"
}

@test "unconfined (--no-seccomp), sysctl steps run in a bounded child process" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}}'
	buddy 0
	hook_run prestart --no-seccomp
	assert_success
	run log_field '"\(.build_guard.bounded_by) \(.build_guard.decision)"'
	assert_output "child process slab-pinned"
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/drop_caches")" 2
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/compact_memory")" 1
}

@test "hybrid host (memory on cgroup v1, no memory.reclaim at the v2 root): short of memory means sync + drop_caches" {
	make_sysroot hybrid
	buddy 50
	: >"$SYSROOT/proc/sys/vm/drop_caches"
	: >"$SYSROOT/proc/sys/vm/compact_memory"
	mkdir -p "$SYSROOT/sys/fs/cgroup/memory/ci/b1"
	MK_PROC_V1=1 mk_proc 4001 /ci/b1
	make_bundle b1 /ci/b1 '.annotations["oci-memguard.build"]="true"'
	state_for b1 4001
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"reclaim": {"drop_caches": 1}}}'
	available 100000
	hook_run prestart
	assert_success
	run log_field '"\(.cgroup_mode) \(.build_guard.decision)"'
	assert_output "hybrid short"
	run log_field '[.actions[] | "\(.target)=\(.new) \(.result | split(" ")[0:4] | join(" "))"] | join(",")'
	assert_output "vm.drop_caches=1 ok (sync + write,"
	assert_equal "$(cat "$SYSROOT/proc/sys/vm/drop_caches")" 1
}

@test "build.after with no memory.reclaim at the root: nothing reclaimed, and it says so" {
	rm "$CGROOT/memory.reclaim"
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"after": {"when": "always", "reclaim": "512M"}}}'
	hook_run prestart
	stop_container b1 /ci/b1 4001
	run log_field '.skipped | join(" ")'
	assert_output --partial "build.after: no memory.reclaim at the cgroup v2 root"
	run log_field '.actions | length'
	assert_output 0
}

@test "build.after is not run while another build still runs" {
	policy 10.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"after": {"when": "always", "reclaim": "512M"}}}'
	hook_run prestart
	mk_cgroup /ci/b2
	mk_proc 4002 /ci/b2
	make_bundle b2 /ci/b2 '.annotations["oci-memguard.build"]="true"'
	state_for b2 4002
	hook_run prestart
	stop_container b1 /ci/b1 4001
	run log_field '[.actions[] | select(.file=="memory.reclaim")] | length'
	assert_output 0
	stop_container b2 /ci/b2 4002
	run log_field '[.actions[] | select(.file=="memory.reclaim")] | length'
	assert_output 1
}
