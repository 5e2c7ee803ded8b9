#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# containerd (no CRI plugin: ctr) with oci-memguard-runtime as the runc
# binary (`ctr run --runc-binary`, the BinaryName of a runc runtime), in a
# private mount namespace whose /etc/oci-memguard/runtime.conf points the
# wrapper at this test's hook. ctr passes no image name: the image comes
# from the oci-memguard.image annotation, a claim the test policy trusts
# (containerd's CRI sets io.kubernetes.cri.image-name itself).

load helpers
load engine-helpers

IMAGE=docker.io/memguard-test/busybox:1

setup_file() {
	[[ $(id -u) -eq 0 ]] && command -v containerd >/dev/null || return 0
	host_lock
	engine_paths_mark
	export CTRD_WORK="$BATS_FILE_TMPDIR/containerd"
	mkdir -p "$CTRD_WORK"
	busybox_tar "$CTRD_WORK/busybox.tar"
	oci_archive_from_tar "$CTRD_WORK/busybox.tar" "$IMAGE" "$CTRD_WORK/busybox-oci.tar"
}

teardown_file() {
	engine_paths_restore
	host_unlock
	[[ -n "${CTRD_WORK:-}" ]] || return 0
	rm -rf "$CTRD_WORK"
}

setup() {
	requires root containerd runc
	requires_built
	command -v ctr >/dev/null || skip "ctr not installed"
	WORK="$BATS_TEST_TMPDIR/w"
	test_policies "$WORK"
	etc_mountpoint_prepare "$BATS_FILE_TMPDIR"
	mapfile -t lines < <(hook_conf_lines "$WORK")
	write_runtime_conf "$WORK/etc" "${lines[@]}"
	STATE_ROOT=$(mktemp -d /tmp/mg-containerd.XXXXXX)
	cat >"$WORK/config.toml" <<-EOF
		version = 2
		root = "$WORK/root"
		state = "$STATE_ROOT/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$STATE_ROOT/containerd.sock"
		[ttrpc]
		  address = "$STATE_ROOT/containerd.sock.ttrpc"
	EOF
	start_daemon_in_memguard_ns "$WORK/etc" "$STATE_ROOT/pid" "$WORK/containerd.log" containerd --config "$WORK/config.toml"
	CTR=(ctr --address "$STATE_ROOT/containerd.sock")
	if ! wait_for "${CTR[@]}" version; then
		cat "$WORK/containerd.log" >&2
		fail "containerd did not come up"
	fi
	"${CTR[@]}" images import "$CTRD_WORK/busybox-oci.tar" >/dev/null
}

teardown() {
	if [[ -n "${STATE_ROOT:-}" ]]; then
		"${CTR[@]}" tasks kill -s KILL "memguard-ctr-$$" >/dev/null 2>&1 || true
		"${CTR[@]}" containers rm "memguard-ctr-$$" >/dev/null 2>&1 || true
		kill_pidfile "$STATE_ROOT/pid"
		kill_leftovers "$STATE_ROOT"
		rm -rf "$STATE_ROOT"
	fi
	etc_mountpoint_restore "$BATS_FILE_TMPDIR"
	cgroups_cleanup memguard-test
}

@test "ctr run --runc-binary oci-memguard-runtime: the hook runs at prestart and poststop, image from the annotation" {
	local id="memguard-ctr-$$"
	run "${CTR[@]}" run --rm --runc-binary "$MEMGUARD_WRAPPER_BIN" --cgroup "/memguard-test/$id" \
		--annotation "oci-memguard.image=$IMAGE" "$IMAGE" "$id" /bin/sh -c 'echo hello'
	assert_success
	assert_output hello
	assert_hook_lifecycle "$WORK/events.jsonl" "$WORK/state" "$id" "$IMAGE" false
}

@test "ctr run with the plain runc binary: no hook (the wrapper is what registers it)" {
	local id="memguard-ctr-$$"
	run "${CTR[@]}" run --rm --cgroup "/memguard-test/$id" "$IMAGE" "$id" true
	assert_success
	assert_file_not_exists "$WORK/events.jsonl"
}
