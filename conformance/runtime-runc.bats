#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# A real runtime invokes the hook with real state and config: runc (and crun
# where it can run), on this host. On a cgroup v1/hybrid host the hook logs
# the skip, writes its record at start and clears it at poststop; the cgroup
# v2 effect is proven in conformance/vm.

load helpers

setup() {
	requires root runc
	WORK="$BATS_TEST_TMPDIR/rt"
	mkdir -p "$WORK/policy" "$WORK/state"
	HOOK_STATE="$WORK/state"
	HOOK_LOG="$WORK/events.jsonl"
	printf '{"trust": ["oci-memguard.image"], "match": {"images": ["memguard-test/*"]}, "memory": {"min": "32M", "low": "64M"}}\n' >"$WORK/policy/50-test.json"
	chmod 0644 "$WORK/policy/50-test.json"
	ID="memguard-bats-$$-${BATS_TEST_NUMBER}"
	make_runtime_bundle "$WORK/bundle" "$ID"
}

teardown() {
	runc --root "$WORK/runc" delete -f "$ID" >/dev/null 2>&1 || true
	local d
	for d in /sys/fs/cgroup/*/memguard-test /sys/fs/cgroup/memguard-test; do
		[[ -d "$d" ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	true
}

# make_runtime_bundle DIR ID: a busybox rootfs and a runc spec with our hooks
make_runtime_bundle() {
	local dir="$1" id="$2"
	mkdir -p "$dir/rootfs/bin"
	cp /bin/busybox "$dir/rootfs/bin/busybox"
	for c in sh true sleep cat; do ln -sf busybox "$dir/rootfs/bin/$c"; done
	(cd "$dir" && runc spec)
	local hookargs
	hookargs=$(jq -n --arg s "$HOOK_STATE" --arg l "$HOOK_LOG" --arg p "$WORK/policy" \
		'["--state-dir", $s, "--log-file", $l, "--policy-dir", $p, "--no-syslog"]')
	jq --arg bin "$MEMGUARD_BIN" --argjson extra "$hookargs" --arg cg "/memguard-test/$id" '
		.process.terminal = false
		| .process.args = ["/bin/true"]
		| .linux.cgroupsPath = $cg
		| .annotations = {"oci-memguard.image": "memguard-test/app:1"}
		| .hooks = {
			prestart: [{path: $bin, args: (["oci-memguard", "prestart"] + $extra)}],
			poststop: [{path: $bin, args: (["oci-memguard", "poststop"] + $extra)}]
		}' "$dir/config.json" >"$dir/config.json.new"
	mv "$dir/config.json.new" "$dir/config.json"
}

@test "runc run: the hook runs at prestart and poststop for the right container, with the image resolved" {
	run runc --root "$WORK/runc" run --bundle "$WORK/bundle" "$ID"
	assert_success
	run jq -r -s --arg id "$ID" '[.[] | select(.id == $id) | .stage] | join(",")' "$HOOK_LOG"
	assert_output "prestart,poststop"
	run jq -r -s '.[0] | "\(.image) \(.policies | join(",")) \(.cgroup)"' "$HOOK_LOG"
	assert_output "memguard-test/app:1 50-test.json /memguard-test/$ID"
	assert_file_not_exists "$HOOK_STATE/containers/$ID.json"
	run jq -r -s '.[1].errors | length' "$HOOK_LOG"
	assert_output 0
}

@test "runc run on this host: protection is applied on cgroup v2, or skipped with the reason on v1/hybrid; the record lives exactly as long as the container" {
	jq '.process.args = ["/bin/sh", "-c", "sleep 30"]' "$WORK/bundle/config.json" >"$WORK/c.json" && mv "$WORK/c.json" "$WORK/bundle/config.json"
	runc --root "$WORK/runc" run -d --bundle "$WORK/bundle" "$ID" </dev/null >/dev/null 2>&1
	assert_file_exists "$HOOK_STATE/containers/$ID.json"
	local mode
	mode=$(jq -r -s '.[0].cgroup_mode' "$HOOK_LOG")
	if [[ "$mode" == v2 ]]; then
		assert_equal "$(cat "/sys/fs/cgroup/memguard-test/$ID/memory.min")" 33554432
	else
		run jq -r -s '.[0].skipped | join(" ")' "$HOOK_LOG"
		assert_output --partial "memory protection skipped"
	fi
	runc --root "$WORK/runc" kill "$ID" KILL
	sleep 0.5
	runc --root "$WORK/runc" delete -f "$ID"
	assert_file_not_exists "$HOOK_STATE/containers/$ID.json"
	run jq -r -s '.[-1].stage' "$HOOK_LOG"
	assert_output poststop
}

@test "crun run (private mount namespace without the hybrid hugetlb cgroup2): the hook runs at both stages" {
	requires crun
	if grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo; then
		run unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified && exec crun --root '$WORK/crun' run --bundle '$WORK/bundle' '$ID'"
	else
		run crun --root "$WORK/crun" run --bundle "$WORK/bundle" "$ID"
	fi
	assert_success
	run jq -r -s --arg id "$ID" '[.[] | select(.id == $id) | .stage] | join(",")' "$HOOK_LOG"
	assert_output "prestart,poststop"
	assert_file_not_exists "$HOOK_STATE/containers/$ID.json"
}
