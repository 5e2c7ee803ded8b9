#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Faults other than kills: cgroup files that refuse the
# write (EACCES, EPERM, EINVAL), a cgroup removed between the read and the
# write (ENOENT), the state dir full or read-only, truncated records and
# ledger. Each test ends with the fixture exactly as it began, and nothing is
# ever lowered below what the hook found.

load helpers

KILL_BIN="${MEMGUARD_KILL_BIN:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)/build/killpoints/oci-memguard}"
M64=67108864
M128=134217728

setup() {
	make_sysroot v2
	policy 10.json '{"memory": {"min": "64M", "low": "128M"}}'
	mk_cgroup /ci 0 0
	echo 4096 >"$CGROOT/ci/memory.min" # someone else's: must survive
	NS_PID=""
	IMMUTABLE=""
	EINVAL_CG=""
}

teardown() {
	[[ -z "$IMMUTABLE" ]] || chattr -i "$IMMUTABLE" 2>/dev/null || true
	if [[ -n "$NS_PID" ]]; then
		kill "$NS_PID" 2>/dev/null || true
		wait "$NS_PID" 2>/dev/null || true
	fi
	[[ -z "$EINVAL_CG" ]] || rmdir "$EINVAL_CG" 2>/dev/null || true
}

# A private mount namespace kept alive for the test: mounts made in it (a
# tiny tmpfs, a read-only bind) never reach the host and vanish with it.
ns_start() {
	unshare -m --propagation private sleep 600 &
	NS_PID=$!
	local i
	for i in $(seq 100); do
		[[ "$(readlink "/proc/$NS_PID/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]] && return 0
		sleep 0.05
	done
	fail "unshare -m did not come up"
}
ns() { nsenter -t "$NS_PID" -m -- "$@"; }

# the hook runs in the namespace once there is one (helpers' hook_run uses _hook)
_hook() {
	if [[ -n "$NS_PID" ]]; then
		nsenter -t "$NS_PID" -m -- "$MEMGUARD_BIN" "$@" --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
	else
		"$MEMGUARD_BIN" "$@" --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
	fi
}

prepare() { # prepare ID PID CGROUP: fixture for a start, no hook run
	mk_cgroup "$3"
	mk_proc "$2" "$3"
	make_bundle "$1" "$3"
	state_for "$1" "$2"
}

assert_initial() {
	assert_equal "$(cg_value /ci memory.min)" 4096
	assert_equal "$(cg_value /ci memory.low)" 0
}

assert_ledger_empty() { # nothing held: no node file, no vm.swappiness, no record
	run ns_or_host jq -c '."vm.swappiness"' "$STATE_DIR/ledger.json"
	assert_output 'null'
	assert_equal "$(ns_or_host find "$STATE_DIR/nodes" -name '*.json' | wc -l)" 0
	assert_equal "$(ns_or_host find "$STATE_DIR/containers" -name '*.json' | wc -l)" 0
}
ns_or_host() { if [[ -n "$NS_PID" ]]; then ns "$@"; else "$@"; fi; }

# the leaf's memory.min refuses the write: the low half of the policy still
# applies, the min the leaf cannot hold is not held by its ancestors either
assert_min_refused_in_same_run() {
	assert_success
	run log_field '.errors | join(" ")'
	assert_output --partial "memory.min of /ci/c1: $1"
	assert_equal "$(cg_value /ci memory.min)" 4096
	assert_equal "$(cg_value /ci memory.low)" "$M128"
	assert_equal "$(cg_value /ci/c1 memory.low)" "$M128"
	# the raise of /ci was given back in the same run, to exactly 4096
	run log_field '[.actions[] | select(.target == "/ci" and .file == "memory.min") | "\(.old)>\(.new):\(.result)"] | join(" ")'
	assert_output "4096>$((4096 + M64)):ok $((4096 + M64))>4096:ok"
}

@test "prestart [leaf memory.min not writable, EACCES]: logged, ancestors given back in the same run, container starts; poststop restores" {
	prepare c1 4001 /ci/c1
	chmod 0444 "$CGROOT/ci/c1/memory.min"
	# root ignores modes: without CAP_DAC_OVERRIDE the open really fails EACCES
	run --separate-stderr setpriv --bounding-set -dac_override,-dac_read_search -- \
		"$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
	assert_min_refused_in_same_run "Permission denied"
	assert_equal "$(cg_value /ci/c1 memory.min)" 0
	assert_file_exists "$STATE_DIR/containers/c1.json"
	stop_container c1 /ci/c1 4001
	assert_initial
	assert_ledger_empty
}

@test "prestart [leaf memory.min immutable, EPERM]: logged, ancestors given back in the same run; poststop restores" {
	prepare c1 4001 /ci/c1
	IMMUTABLE="$CGROOT/ci/c1/memory.min"
	chattr +i "$IMMUTABLE" 2>/dev/null || skip "chattr +i not supported on $BATS_TEST_TMPDIR"
	hook_run prestart
	assert_min_refused_in_same_run "Operation not permitted"
	chattr -i "$IMMUTABLE"
	IMMUTABLE=""
	stop_container c1 /ci/c1 4001
	assert_initial
	assert_ledger_empty
}

@test "prestart [leaf memory.min rejects the value, EINVAL]: logged, ancestors given back in the same run; poststop restores" {
	requires cgroup_v1_memory
	prepare c1 4001 /ci/c1
	# A real kernel file that reads a small number and answers EINVAL to
	# anything above 200: memory.swappiness of a throw-away v1 memory cgroup,
	# bound over the leaf's memory.min in a private namespace.
	local v1
	v1=$(awk '$9 == "cgroup" && $NF ~ /(^|,)memory(,|$)/ {print $5; exit}' /proc/self/mountinfo)
	EINVAL_CG="$v1/memguard-einval-$$"
	mkdir "$EINVAL_CG"
	local before
	before=$(cat "$EINVAL_CG/memory.swappiness")
	ns_start
	ns mount --bind "$EINVAL_CG/memory.swappiness" "$CGROOT/ci/c1/memory.min"
	hook_run prestart
	assert_min_refused_in_same_run "Invalid argument"
	assert_equal "$(cat "$EINVAL_CG/memory.swappiness")" "$before"
	kill "$NS_PID"
	wait "$NS_PID" || true
	NS_PID=""
	stop_container c1 /ci/c1 4001
	assert_initial
	assert_ledger_empty
}

@test "prestart [leaf cgroup removed between the read and the write, ENOENT]: logged, nothing left raised for it" {
	[[ -x "$KILL_BIN" ]] || fail "kill-point build missing: make build/killpoints/oci-memguard"
	prepare c1 4001 /ci/c1
	# stop the hook after it read every value and saved its intent, remove
	# the leaf, let it go on (test build only: MEMGUARD_PAUSEPOINT)
	MEMGUARD_PAUSEPOINT=apply-intent-saved "$KILL_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE" &
	local pid=$! i
	for i in $(seq 200); do
		[[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == T ]] && break
		sleep 0.05
	done
	[[ "$(awk '{print $3}' "/proc/$pid/stat")" == T ]] || fail "the hook did not stop at the pause point"
	rm -rf "${CGROOT:?}/ci/c1"
	kill -CONT "$pid"
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" 0
	run log_field '.errors | join(" ")'
	assert_output --partial "cgroup '/ci/c1' does not exist"
	assert_initial
	# the container died with its cgroup: poststop (or any later run) ends it
	rm -rf "$SYSROOT/proc/4001"
	state_for c1 none
	hook_run poststop
	assert_success
	assert_initial
	assert_ledger_empty
}

fill_state_dir() { # the tmpfs over the state dir: not one more page fits
	ns dd if=/dev/zero of="$STATE_DIR/filler" bs=4k 2>/dev/null || true
}

@test "prestart [state dir full, ENOSPC]: nothing raised without a record, container starts; with space the next run protects and gives back" {
	ns_start
	mkdir -p "$STATE_DIR"
	ns mount -t tmpfs -o size=32k,mode=0700 tmpfs "$STATE_DIR"
	start_container keep 4009 /ci/keep # holds protection before the disk fills
	assert_equal "$(cg_value /ci memory.min)" $((4096 + M64))
	fill_state_dir
	prepare c1 4001 /ci/c1
	hook_run prestart
	assert_success
	run log_field '.errors | join(" ")'
	assert_output --partial "No space left on device"
	# c1 holds nothing it could not record; keep keeps exactly its share
	assert_equal "$(cg_value /ci memory.min)" $((4096 + M64))
	assert_equal "$(cg_value /ci/c1 memory.min)" 0
	run ns test -e "$STATE_DIR/containers/c1.json"
	assert_failure
	# a stop while full cannot record the give-back either: it changes nothing
	stop_container keep /ci/keep 4009
	assert_equal "$(cg_value /ci memory.min)" $((4096 + M64))
	# space again: the next run prunes keep and protects c1 (createRuntime)
	ns rm -f "$STATE_DIR/filler"
	state_for c1 4001
	hook_run createRuntime
	assert_success
	assert_equal "$(cg_value /ci memory.min)" $((4096 + M64))
	assert_equal "$(cg_value /ci/c1 memory.min)" "$M64"
	stop_container c1 /ci/c1 4001
	assert_initial
	assert_ledger_empty
	run ns find "$STATE_DIR" -name '*.tmp.*'
	assert_output ""
}

@test "prestart and poststop [state dir read-only, EROFS]: nothing changed, container starts; once writable the next run heals" {
	ns_start
	start_container keep 4009 /ci/keep
	ns mount --bind "$STATE_DIR" "$STATE_DIR"
	ns mount -o remount,ro,bind "$STATE_DIR"
	prepare c1 4001 /ci/c1
	hook_run prestart
	assert_success
	run log_field '.errors | join(" ")'
	assert_output --partial "Read-only file system"
	assert_equal "$(cg_value /ci memory.min)" $((4096 + M64))
	assert_equal "$(cg_value /ci/c1 memory.min)" 0
	stop_container keep /ci/keep 4009
	assert_equal "$(cg_value /ci memory.min)" $((4096 + M64))
	ns umount "$STATE_DIR"
	state_for c1 4001
	hook_run createRuntime
	assert_success
	run log_field '.skipped | join(" ")'
	assert_output --partial "stale record of container keep"
	assert_equal "$(cg_value /ci memory.min)" $((4096 + M64))
	stop_container c1 /ci/c1 4001
	assert_initial
	assert_ledger_empty
}

@test "a record truncated at half is moved aside and reported; what it held is given back" {
	start_container c1 4001 /ci/c1
	start_container c2 4002 /ci/c2
	assert_equal "$(cg_value /ci memory.min)" $((4096 + 2 * M64))
	local f="$STATE_DIR/containers/c1.json"
	truncate -s $(($(stat -c %s "$f") / 2)) "$f"
	rm -rf "${CGROOT:?}/ci/c1" "$SYSROOT/proc/4001" # c1 ends without poststop
	stop_container c2 /ci/c2 4002
	assert_file_exists "$f.corrupt"
	run jq -s '[.[] | .errors[]] | join(" ")' "$LOG_FILE"
	assert_output --partial "record containers/c1.json is corrupt"
	assert_initial
	assert_ledger_empty
}

truncate_state() { # ledger.json and every node file cut at half: the originals are lost
	local f
	for f in "$STATE_DIR/ledger.json" "$STATE_DIR"/nodes/*.json; do
		truncate -s $(($(stat -c %s "$f") / 2)) "$f"
	done
}

@test "ledger.json and the node files truncated at half: moved aside and reported; live claims counted once, values restored when they end" {
	start_container c1 4001 /ci/c1
	assert_equal "$(cg_value /ci memory.min)" $((4096 + M64))
	local f="$STATE_DIR/ledger.json"
	truncate_state
	start_container c2 4002 /ci/c2
	assert_file_exists "$f.corrupt"
	run log_field '.errors | join(" ")'
	assert_output --partial "ledger.json is corrupt"
	assert_output --partial "is corrupt (" # the node files too
	# c1's share is not counted twice
	assert_equal "$(cg_value /ci memory.min)" $((4096 + 2 * M64))
	assert_equal "$(cg_value /ci memory.low)" $((2 * M128))
	stop_container c1 /ci/c1 4001
	assert_equal "$(cg_value /ci memory.min)" $((4096 + M64))
	stop_container c2 /ci/c2 4002
	assert_initial
	assert_ledger_empty
}

@test "a container id of 300 characters: its record fits a file name, the next run keeps its protection" {
	# containers/<id>.json.tmp.<pid> of such an id is longer than NAME_MAX:
	# the record was not written, the cgroups were, and the next unrelated
	# run took the running container's protection away.
	local long
	long=$(printf 'a%.0s' $(seq 300))
	prepare c1 4001 /ci/c1
	state_for c1 4001 ".id = \"$long\""
	hook_run prestart
	assert_success
	run log_field '.errors | length'
	assert_output 0
	assert_equal "$(cg_value /ci memory.min)" $((4096 + M64))
	run jq -r .id "$STATE_DIR"/containers/*.json
	assert_output "$long"
	start_container c2 4002 /ci/c2
	assert_equal "$(cg_value /ci memory.min)" $((4096 + 2 * M64))
	stop_container c2 /ci/c2 4002
	assert_equal "$(cg_value /ci memory.min)" $((4096 + M64))
	rm -rf "${CGROOT:?}/ci/c1" "$SYSROOT/proc/4001"
	state_for c1 none ".id = \"$long\""
	hook_run poststop
	assert_success
	run log_field '.skipped | join(" ")'
	refute_output --partial "no record"
	assert_initial
	assert_ledger_empty
}

@test "prestart [containers/ immutable: the record cannot be written]: nothing is changed, the container starts" {
	mkdir -p "$STATE_DIR/containers"
	IMMUTABLE="$STATE_DIR/containers"
	chattr +i "$IMMUTABLE" 2>/dev/null || skip "chattr +i not supported on $BATS_TEST_TMPDIR"
	prepare c1 4001 /ci/c1
	hook_run prestart
	assert_success
	run log_field '.errors | join(" ")'
	assert_output --partial "write record of c1: Operation not permitted: changing nothing"
	# what could not be recorded is not raised: no run could give it back
	assert_initial
	assert_equal "$(cg_value /ci/c1 memory.min)" 0
	run log_field '.actions | length'
	assert_output 0
	chattr -i "$IMMUTABLE"
	IMMUTABLE=""
}

@test "ledger.json truncated alone: the node files still hold the originals, values exact" {
	start_container c1 4001 /ci/c1
	local f="$STATE_DIR/ledger.json"
	truncate -s $(($(stat -c %s "$f") / 2)) "$f"
	start_container c2 4002 /ci/c2
	assert_file_exists "$f.corrupt"
	assert_equal "$(cg_value /ci memory.min)" $((4096 + 2 * M64))
	run log_field '.skipped | join(" ")'
	refute_output --partial "original"
	stop_container c1 /ci/c1 4001
	stop_container c2 /ci/c2 4002
	assert_initial
	assert_ledger_empty
}

@test "the state lost while a claim was never applied: the rebuild does not lower the admin's value" {
	# /a holds an admin's 512M; c1's leaf cannot take memory.min, so /a was
	# never raised for it. The rebuild subtracted c1's claim anyway and made
	# 448M /a's original, restored once the containers stopped.
	mk_cgroup /a 0 0
	echo 536870912 >"$CGROOT/a/memory.min"
	prepare c1 4001 /a/c1
	rm "$CGROOT/a/c1/memory.min"
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /a memory.min)" 536870912
	assert_equal "$(cg_value /a memory.low)" $M128
	start_container c2 4002 /a/c2
	local f="$STATE_DIR/ledger.json"
	truncate_state
	start_container c3 4003 /a/c3
	assert_file_exists "$f.corrupt"
	assert_equal "$(cg_value /a memory.min)" $((536870912 + 2 * M64))
	assert_equal "$(cg_value /a memory.low)" $((3 * M128))
	stop_container c3 /a/c3 4003
	stop_container c2 /a/c2 4002
	stop_container c1 /a/c1 4001
	assert_equal "$(cg_value /a memory.min)" 536870912
	assert_equal "$(cg_value /a memory.low)" 0
	assert_ledger_empty
}
