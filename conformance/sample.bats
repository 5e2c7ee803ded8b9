#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The periodic sample: runc and crun remove the container's cgroup before
# poststop, so the stop judges from the last `oci-memguard sample` reading
# (its age said), or says "not available" when there is none.

load helpers

REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"

setup() {
	make_sysroot v2
	policy 50-db.json '{"match": {"cgroups": ["/memguard/*"]}, "memory": {"min": "512M", "low": "1G"}}'
}

events() {
	printf 'low %s\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n' "$1" >"$CGROOT/memguard/db1/memory.events"
}

start_db1() {
	mk_cgroup /memguard/db1
	events 2
	printf 'workingset_refault_anon 10\nworkingset_refault_file 20\npgscan 30\npgsteal 40\n' >"$CGROOT/memguard/db1/memory.stat"
	echo 1000 >"$CGROOT/memguard/db1/memory.current"
	mk_proc 4001 /memguard/db1
	make_bundle db1 /memguard/db1
	state_for db1 4001
	hook_run prestart
	assert_success
}

sample() {
	run "$MEMGUARD_BIN" sample --sysroot "$SYSROOT"
	echo "$output"
	assert_success
}

@test "sample, then poststop with the cgroup gone: the verdict from the sample, with its age" {
	start_db1
	events 9
	echo 5000 >"$CGROOT/memguard/db1/memory.current"
	sample
	assert_output --partial "sampled 1 of 1 containers"
	assert_file_exists "$STATE_DIR/samples/db1.json"
	stop_container db1 /memguard/db1 4001
	run log_field '"\(.evidence.verdict)|\(.evidence.source)|\(.evidence.sample_age_s)|\(.memory_events_delta.low)|\(.evidence.peak_bytes)"'
	assert_output "breached|sample|0|7|5000"
	run log_field '.evidence.note'
	assert_output "sampled 0 s before the stop"
	# the sample goes with the record
	assert_file_not_exists "$STATE_DIR/samples/db1.json"
	assert_file_not_exists "$STATE_DIR/containers/db1.json"
}

@test "no low events up to the sample: held, from the sample" {
	start_db1
	sample
	stop_container db1 /memguard/db1 4001
	run log_field '"\(.evidence.verdict)|\(.evidence.source)|\(.memory_events_delta.low)"'
	assert_output "held|sample|0"
}

@test "no sample and the cgroup gone: not available, says why" {
	start_db1
	stop_container db1 /memguard/db1 4001
	run log_field '"\(.evidence.verdict)|\(.evidence.source)|\(.memory_events_delta)"'
	assert_output "not available|null|null"
	run log_field '.evidence.why'
	assert_output --partial "no sample of it was taken"
}

@test "a corrupt, foreign or huge sample is treated as absent, said once in the record" {
	start_db1
	mkdir -p "$STATE_DIR/samples"
	for bad in junk foreign huge; do
		case $bad in
		junk) echo '{"id": "db1", "sample": 12' >"$STATE_DIR/samples/db1.json" ;;
		foreign) echo '{"id":"other","sampled_realtime_usec":1,"sample":{"events":{"low":99}}}' >"$STATE_DIR/samples/db1.json" ;;
		huge) head -c 100000 /dev/zero | tr '\0' ' ' >"$STATE_DIR/samples/db1.json" ;;
		esac
		cp "$STATE_DIR/containers/db1.json" "$BATS_TEST_TMPDIR/rec.json"
		rm -rf "$CGROOT/memguard/db1"
		state_for db1 none
		hook_run poststop
		assert_success
		run log_field '.evidence.verdict'
		assert_output "not available"
		run log_field '[.skipped[]? // empty | select(test("sample of db1 is unusable"))] | length'
		assert_output 1
		# the next round: the same container again
		mk_cgroup /memguard/db1
		events 2
		cp "$BATS_TEST_TMPDIR/rec.json" "$STATE_DIR/containers/db1.json"
	done
}

@test "sample skips records whose cgroup is gone and removes samples without a record" {
	start_db1
	mkdir -p "$STATE_DIR/samples"
	echo '{}' >"$STATE_DIR/samples/orphan.json"
	rm -rf "$CGROOT/memguard/db1"
	sample
	assert_output --partial "sampled 0 of 1 containers (1 gone"
	assert_file_not_exists "$STATE_DIR/samples/orphan.json"
	assert_file_not_exists "$STATE_DIR/samples/db1.json"
}

@test "make install DESTDIR= ships the sample timer and service (0644, the installed path); make uninstall removes them" {
	# the prefix the tree was built for: another one would rebuild the programs
	local dest="$BATS_TEST_TMPDIR/dest" units
	run make -s -C "$REPO" install DESTDIR="$dest"
	assert_success
	units="$dest/usr/local/lib/systemd/system"
	assert_file_exists "$units/oci-memguard-sample.timer"
	assert_file_exists "$units/oci-memguard-sample.service"
	assert_equal "$(stat -c %a "$units/oci-memguard-sample.timer")" 644
	grep -qx 'ExecStart=/usr/local/bin/oci-memguard sample' "$units/oci-memguard-sample.service"
	grep -qx 'OnUnitActiveSec=30s' "$units/oci-memguard-sample.timer"
	if command -v systemd-analyze >/dev/null; then
		run systemd-analyze verify --man=no "$units/oci-memguard-sample.timer" "$units/oci-memguard-sample.service"
		# the binary is under DESTDIR, not installed: only that may be said
		run grep -v 'Command /usr/local/bin/oci-memguard is not executable' <<<"$output"
		refute_output --partial "oci-memguard-sample"
	fi
	run make -s -C "$REPO" uninstall DESTDIR="$dest"
	assert_success
	assert_file_not_exists "$units/oci-memguard-sample.timer"
	assert_file_not_exists "$units/oci-memguard-sample.service"
}

@test "a stale record (no poststop ever ran) is pruned with the verdict of its last sample" {
	start_db1
	events 5
	sample
	# the container vanished without a poststop; another container's stop prunes it
	rm -rf "$CGROOT/memguard/db1" "$SYSROOT/proc/4001"
	state_for other none
	hook_run poststop
	assert_success
	run log_field '.stale_evidence[] | "\(.id)|\(.evidence.verdict)|\(.memory_events_delta.low)|\(.sample_age_s)"'
	assert_output "db1|breached|3|0"
	assert_file_not_exists "$STATE_DIR/samples/db1.json"
}

@test "a stale record without a sample: not available, no numbers" {
	start_db1
	rm -rf "$CGROOT/memguard/db1" "$SYSROOT/proc/4001"
	state_for other none
	hook_run poststop
	assert_success
	run log_field '.stale_evidence[] | "\(.id)|\(.evidence.verdict)|\(.evidence.why)|\(.memory_events_delta)"'
	assert_output "db1|not available|no sample of it|null"
}
