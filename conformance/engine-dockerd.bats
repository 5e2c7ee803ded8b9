#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Docker through oci-memguard-runtime, each with its own dockerd
# (temp data-root/exec-root/socket, no bridge, no iptables, cgroup parent
# /memguard-test) started in a private mount namespace whose
# /etc/oci-memguard/runtime.conf points the wrapper at this test's hook:
#  - `docker run --runtime oci-memguard` (daemon.json "runtimes");
#  - classic `DOCKER_BUILDKIT=0 docker build` with the wrapper as
#    "default-runtime" (RUN steps use the default runtime);
#  - BuildKit `docker build`, which ignores runtimes and runs the `runc`
#    first on dockerd's PATH: the shim.

load helpers
load engine-helpers

IMAGE=memguard-test/busybox:1

setup_file() {
	[[ $(id -u) -eq 0 ]] && command -v dockerd >/dev/null || return 0
	host_lock
	engine_paths_mark
	export DOCKER_WORK="$BATS_FILE_TMPDIR/docker"
	mkdir -p "$DOCKER_WORK/data"
	busybox_tar "$DOCKER_WORK/busybox.tar"
}

teardown_file() {
	engine_paths_restore
	host_unlock
	[[ -n "${DOCKER_WORK:-}" ]] || return 0
	rm -rf "$DOCKER_WORK"
}

setup() {
	requires root dockerd runc
	requires_built
	[[ -x /usr/bin/docker ]] || skip "docker client (/usr/bin/docker) not installed"
	WORK="$BATS_TEST_TMPDIR/w"
	test_policies "$WORK"
	etc_mountpoint_prepare "$BATS_FILE_TMPDIR"
	mapfile -t lines < <(hook_conf_lines "$WORK")
	write_runtime_conf "$WORK/etc" "${lines[@]}"
	# exec-root holds containerd's socket: keep the path short
	EXEC_ROOT=$(mktemp -d /tmp/mg-dockerd.XXXXXX)
	SHIM_DIR="$WORK/shim"
	mkdir -p "$SHIM_DIR"
	ln -s "$MEMGUARD_WRAPPER_BIN" "$SHIM_DIR/runc"
	DOCKER=(/usr/bin/docker -H "unix://$EXEC_ROOT/docker.sock")
}

teardown() {
	stop_dockerd
	etc_mountpoint_restore "$BATS_FILE_TMPDIR"
	cgroups_cleanup memguard-test
}

# start_dockerd JQ-FILTER [PATH-PREFIX]: dockerd with a daemon.json made
# by the filter, up and with the busybox image.
start_dockerd() {
	local filter="$1" prefix="${2:-}"
	jq -n --arg d "$DOCKER_WORK/data" --arg e "$EXEC_ROOT" --arg w "$MEMGUARD_WRAPPER_BIN" '{
		"data-root": $d, "exec-root": $e, pidfile: "\($e)/docker.pid", hosts: ["unix://\($e)/docker.sock"],
		iptables: false, ip6tables: false, bridge: "none", "storage-driver": "overlay2",
		"cgroup-parent": "/memguard-test",
		runtimes: {"oci-memguard": {path: $w}}
	}' | jq "$filter" >"$WORK/daemon.json"
	start_daemon_in_memguard_ns "$WORK/etc" "$EXEC_ROOT/dockerd.pid" "$WORK/dockerd.log" \
		env PATH="${prefix}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" dockerd --config-file "$WORK/daemon.json"
	if ! wait_for "${DOCKER[@]}" version; then
		cat "$WORK/dockerd.log" >&2
		fail "dockerd did not come up"
	fi
	if ! "${DOCKER[@]}" image inspect "$IMAGE" >/dev/null 2>&1; then
		"${DOCKER[@]}" import "$DOCKER_WORK/busybox.tar" "$IMAGE" >/dev/null
	fi
}

stop_dockerd() {
	[[ -n "${EXEC_ROOT:-}" ]] || return 0
	kill_pidfile "$EXEC_ROOT/dockerd.pid"
	# containerd shims that outlived a failed test, by pid
	kill_leftovers "$EXEC_ROOT"
	rm -rf "$EXEC_ROOT"
}

first_id_with_stage() { jq -r -s --arg s "$1" '[.[] | select(.stage == $s)][0].id' "$WORK/events.jsonl"; }

@test "docker run --runtime oci-memguard: the hook runs at prestart and poststop, image from Docker's config.v2.json" {
	start_dockerd .
	run "${DOCKER[@]}" run --rm --runtime oci-memguard --network none --name memguard-run-$$ "$IMAGE" /bin/sh -c 'echo hello'
	assert_success
	assert_output hello
	local id
	id=$(first_id_with_stage prestart)
	[[ "$id" =~ ^[0-9a-f]{64}$ ]] || fail "not a docker container id: $id"
	assert_hook_lifecycle "$WORK/events.jsonl" "$WORK/state" "$id" "$IMAGE" false
	# Docker's own prestart hook (libnetwork-setkey) is kept, ours follows it
	run "${DOCKER[@]}" run -d --runtime oci-memguard --network none "$IMAGE" sleep 30
	assert_success
	local cid="$output"
	run jq -c '[.hooks.prestart[].args[0]], [.hooks.poststop[].args[0:2]]' \
		"$EXEC_ROOT/containerd/daemon/io.containerd.runtime.v2.task/moby/$cid/config.json"
	"${DOCKER[@]}" rm -f "$cid" >/dev/null
	assert_output $'["libnetwork-setkey","oci-memguard"]\n[["oci-memguard","poststop"]]'
	# control: a container of the default runtime (plain runc) has no hook
	run "${DOCKER[@]}" run --rm --network none "$IMAGE" true
	assert_success
	run jq -r -s --arg a "$id" --arg b "$cid" '[.[] | select(.id != $a and .id != $b)] | length' "$WORK/events.jsonl"
	assert_output 0
}

@test "classic DOCKER_BUILDKIT=0 docker build, wrapper as default-runtime: the RUN step runs the hook as a build, under the policy's memory limit" {
	start_dockerd '. + {"default-runtime": "oci-memguard"}'
	mkdir -p "$WORK/ctx"
	printf 'FROM %s\n%s\n' "$IMAGE" "$STEP_SHOWS_LIMIT" >"$WORK/ctx/Dockerfile"
	run env DOCKER_BUILDKIT=0 "${DOCKER[@]}" build -t "memguard-test/classic:$$" "$WORK/ctx"
	assert_success
	local build_output="$output"
	local id
	id=$(first_id_with_stage prestart)
	assert_hook_lifecycle "$WORK/events.jsonl" "$WORK/state" "$id" "*" true
	assert_step_limited "$WORK/events.jsonl" "$id" "$build_output"
	run jq -r -s '.[0].build_signal' "$WORK/events.jsonl"
	assert_output --partial "classic"
	"${DOCKER[@]}" rmi "memguard-test/classic:$$" >/dev/null
}

@test "BuildKit docker build through the runc shim first on dockerd's PATH: the RUN step runs the hook as a build, under the policy's memory limit" {
	start_dockerd . "$SHIM_DIR:"
	mkdir -p "$WORK/ctx"
	printf 'FROM %s\n%s\n' "$IMAGE" "$STEP_SHOWS_LIMIT" >"$WORK/ctx/Dockerfile"
	run env DOCKER_BUILDKIT=1 "${DOCKER[@]}" build --network none --progress plain -t "memguard-test/buildkit:$$" "$WORK/ctx"
	assert_success
	local build_output="$output"
	local id
	id=$(first_id_with_stage prestart)
	assert_hook_lifecycle "$WORK/events.jsonl" "$WORK/state" "$id" "*" true
	assert_step_limited "$WORK/events.jsonl" "$id" "$build_output"
	run jq -r -s '.[0].build_signal' "$WORK/events.jsonl"
	assert_output --partial "buildkit"
	"${DOCKER[@]}" rmi "memguard-test/buildkit:$$" >/dev/null
}
