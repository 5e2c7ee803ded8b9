#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Podman and `podman build` (Buildah) with the hooks.d files `make install`
# ships, pointed at this test's hook: the hook runs at prestart
# (injected into config.json) and at poststop (run by Podman itself, with no
# pid and an empty environment), for the right container, with the image
# resolved from containers-storage and build steps recognised as builds.

load helpers
load engine-helpers

IMAGE=localhost/memguard-test/busybox:1

setup_file() {
	[[ $(id -u) -eq 0 ]] && command -v podman >/dev/null || return 0
	host_lock
	engine_paths_mark
	export PODMAN_WORK="$BATS_FILE_TMPDIR/podman"
	mkdir -p "$PODMAN_WORK"
	busybox_tar "$PODMAN_WORK/busybox.tar"
	podman_cmd import "$PODMAN_WORK/busybox.tar" "$IMAGE" >/dev/null
}

teardown_file() {
	podman_teardown
	engine_paths_restore
	host_unlock
}

podman_teardown() {
	[[ -n "${PODMAN_WORK:-}" && -d "$PODMAN_WORK/root" ]] || return 0
	podman_cmd rm -af >/dev/null 2>&1 || true
	podman_cmd rmi -af >/dev/null 2>&1 || true
	local m
	# storage mounts left by a failed test, deepest first
	for m in $(awk -v r="$PODMAN_WORK/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$PODMAN_WORK"
	cgroups_cleanup memguard-test
}

# One storage configuration for the store's whole life (TESTBED).
podman_cmd() {
	podman --root "$PODMAN_WORK/root" --runroot "$PODMAN_WORK/runroot" --tmpdir "$PODMAN_WORK/tmp" --storage-driver overlay \
		--events-backend file --runtime runc --cgroup-manager cgroupfs "$@"
}

setup() {
	requires root podman runc
	requires_built
	WORK="$BATS_TEST_TMPDIR/w"
	test_policies "$WORK"
	# The shipped hooks.d files, with this test's hook and its private
	# state/log/policy directories.
	HOOKS_DIR="$WORK/hooks.d"
	mkdir -p "$HOOKS_DIR"
	local f
	for f in "$CONFORMANCE_DIR"/../build/hooks.d/oci-memguard-{prestart,poststop}.json; do
		[[ -e "$f" ]] || fail "$f missing (make all)"
		jq --arg bin "$MEMGUARD_BIN" --arg w "$WORK" '.hook.path = $bin
			| .hook.args += ["--state-dir=\($w)/state", "--log-file=\($w)/events.jsonl", "--policy-dir=\($w)/policy", "--no-syslog"]' \
			"$f" >"$HOOKS_DIR/$(basename "$f")"
	done
}

teardown() {
	cgroups_cleanup memguard-test
}

@test "podman run (hooks.d, one file per stage): the hook runs at prestart and poststop, image from containers-storage" {
	run podman_cmd --hooks-dir "$HOOKS_DIR" run --name memguard-run-$$ --rm --network none --cgroup-parent /memguard-test \
		--ulimit nofile=20000:20000 --ulimit nproc=32768:32768 "$IMAGE" /bin/sh -c 'echo hello'
	assert_success
	assert_output hello
	local id
	id=$(jq -r -s '.[0].id' "$WORK/events.jsonl")
	[[ "$id" =~ ^[0-9a-f]{64}$ ]] || fail "not a podman container id: $id"
	assert_hook_lifecycle "$WORK/events.jsonl" "$WORK/state" "$id" "*memguard-test/busybox*" false
	run jq -r -s '.[0].policies | join(",")' "$WORK/events.jsonl"
	assert_output --partial "50-test-image.json"
}

@test "podman build (--hooks-dir, --cgroup-parent): the RUN step runs the hook, recognised as a build, under the policy's memory limit" {
	mkdir -p "$WORK/ctx"
	printf 'FROM %s\n%s\n' "$IMAGE" "$STEP_SHOWS_LIMIT" >"$WORK/ctx/Containerfile"
	run podman_cmd build --hooks-dir "$HOOKS_DIR" --cgroup-parent /memguard-test --network none \
		--ulimit nofile=20000:20000 --ulimit nproc=32768:32768 -t localhost/memguard-test/built:$$ "$WORK/ctx"
	assert_success
	local build_output="$output"
	local id
	id=$(jq -r -s '.[0].id' "$WORK/events.jsonl")
	[[ "$id" == buildah-* ]] || fail "not a buildah container id: $id"
	assert_hook_lifecycle "$WORK/events.jsonl" "$WORK/state" "$id" "${BUILD_IMAGE_GLOB:-*}" true
	assert_step_limited "$WORK/events.jsonl" "$id" "$build_output"
	run jq -r -s '.[0].build_signal' "$WORK/events.jsonl"
	assert_output --partial "buildah"
	podman_cmd rmi "localhost/memguard-test/built:$$" >/dev/null
}
