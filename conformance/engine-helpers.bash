# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by conformance/wrapper.bats, install.bats and engine-*.bats: the
# wrapper under test, a private /etc/oci-memguard (the wrapper reads only
# /etc/oci-memguard/runtime.conf, never the environment, so tests give it
# their own file in a private mount namespace), a busybox image, and
# assertions on the hook's own JSON log.

MEMGUARD_WRAPPER_BIN="${MEMGUARD_WRAPPER_BIN:-$(dirname "$MEMGUARD_BIN")/oci-memguard-runtime}"

# requires_built: the programs under test exist (a missing build is a
# failure, not a skip).
requires_built() {
	[[ -x "$MEMGUARD_BIN" ]] || fail "hook not built: $MEMGUARD_BIN (make all)"
	[[ -x "$MEMGUARD_WRAPPER_BIN" ]] || fail "wrapper not built: $MEMGUARD_WRAPPER_BIN (make all)"
}

# host_lock / host_unlock (setup_file / teardown_file): suites that touch the
# real root (the /etc/oci-memguard mount point, install.sh into /) take turns,
# also across concurrent bats runs on the same machine.
MEMGUARD_HOST_LOCK=/tmp/oci-memguard-conformance-host.lock
host_lock() {
	exec {MEMGUARD_HOST_LOCK_FD}>"$MEMGUARD_HOST_LOCK"
	flock -w 1200 "$MEMGUARD_HOST_LOCK_FD"
	export MEMGUARD_HOST_LOCK_FD
}
host_unlock() {
	[[ -n "${MEMGUARD_HOST_LOCK_FD:-}" ]] && flock -u "$MEMGUARD_HOST_LOCK_FD"
	true
}

# Engines create these at fixed places whatever their flags (containerd's shim
# socket dir, Docker's plugin dir, libpod's tmp dir, runc's default root,
# containers/image's blob cache). engine_paths_mark (setup_file) notes the
# ones missing; engine_paths_restore (teardown_file) removes them again,
# unless something is still mounted below.
ENGINE_HOST_PATHS=(/run/containerd /run/docker /run/libpod /run/runc /run/crun /var/lib/containers)
engine_paths_mark() {
	local p
	: >"$BATS_FILE_TMPDIR/.engine-paths-created"
	for p in "${ENGINE_HOST_PATHS[@]}"; do
		[[ -e "$p" ]] || echo "$p" >>"$BATS_FILE_TMPDIR/.engine-paths-created"
	done
}
engine_paths_restore() {
	local p
	[[ -f "$BATS_FILE_TMPDIR/.engine-paths-created" ]] || return 0
	while read -r p; do
		[[ -e "$p" ]] || continue
		if awk -v r="$p/" 'index($5, r) == 1 {found = 1} END {exit !found}' /proc/self/mountinfo; then
			echo "engine_paths_restore: $p still has mounts, kept" >&2
			continue
		fi
		rm -rf "$p"
	done <"$BATS_FILE_TMPDIR/.engine-paths-created"
}

# The mount point for the private /etc/oci-memguard must exist on the host.
# Create it when absent and remember that we did, so teardown removes it.
etc_mountpoint_prepare() {
	if [[ ! -d /etc/oci-memguard ]]; then
		mkdir /etc/oci-memguard
		touch "$1/.created-etc-oci-memguard"
	fi
}
etc_mountpoint_restore() {
	if [[ -e "$1/.created-etc-oci-memguard" ]]; then
		rmdir /etc/oci-memguard 2>/dev/null || true
		rm -f "$1/.created-etc-oci-memguard"
	fi
}

# in_memguard_ns ETCDIR CMD...: runs CMD in a private mount namespace where
# ETCDIR is /etc/oci-memguard. Daemons started this way carry the view to
# every runtime they spawn; their mounts vanish with them.
in_memguard_ns() {
	local etc="$1"
	shift
	unshare -m --propagation private sh -c 'mount --bind "$1" /etc/oci-memguard && shift && exec "$@"' sh "$etc" "$@"
}

# start_daemon_in_memguard_ns ETCDIR PIDFILE LOG CMD...: CMD in the
# background in such a namespace; PIDFILE gets CMD's own pid (unshare and
# sh exec into it). fd 3 is closed: bats waits for whoever holds it.
start_daemon_in_memguard_ns() {
	local etc="$1" pidfile="$2" log="$3"
	shift 3
	unshare -m --propagation private sh -c 'mount --bind "$1" /etc/oci-memguard && echo $$ >"$2" && shift 2 && exec "$@"' \
		sh "$etc" "$pidfile" "$@" >"$log" 2>&1 3>&- &
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -s "$pidfile" ]] && return 0
		sleep 0.1
	done
	return 1
}

# write_runtime_conf ETCDIR [LINES...]: runtime.conf (root, 0644).
write_runtime_conf() {
	local etc="$1"
	shift
	mkdir -p "$etc"
	printf '%s\n' "$@" >"$etc/runtime.conf"
	chmod 0644 "$etc/runtime.conf"
}

# hook_test_args WORK: the hook arguments that keep a test's hook off the
# host's state, log and policies.
hook_conf_lines() {
	local work="$1"
	echo "hook=$MEMGUARD_BIN"
	echo "log_file=$work/events.jsonl"
	echo "hook_arg=--state-dir=$work/state"
	echo "hook_arg=--policy-dir=$work/policy"
	echo "hook_arg=--no-syslog"
}

# test_policies WORK: a builder policy and an image policy the suites match.
test_policies() {
	local work="$1"
	mkdir -p "$work/policy" "$work/state"
	# ctr names the image only by the oci-memguard.image annotation, and a
	# classic docker build step looks like "docker run <image id> sh -c":
	# both are claims, which these policies trust.
	printf '{"trust": ["oci-memguard.image"], "match": {"images": ["*memguard-test*"]}, "memory": {"min": "32M", "low": "64M"}}\n' >"$work/policy/50-test-image.json"
	printf '{"trust": ["docker-classic-builder"], "match": {"build": true}, "memory": {"low": "16M"}, "build": {"limit": {"max": "%s", "swap_max": "0"}}}\n' "$STEP_LIMIT" >"$work/policy/60-builds.json"
	chmod 0644 "$work/policy/"*.json
}

# The build policy's memory.max for a step (768M), and a RUN step that
# prints its own cgroup's hard and swap limits as the kernel sees them
# while it runs (cgroup v1: the memsw value is memory plus swap; v2:
# memory.max and memory.swap.max).
STEP_LIMIT=805306368
STEP_SHOWS_LIMIT='RUN echo built >/built; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.swap.max'

# assert_step_limited LOG ID BUILD-OUTPUT: the hook wrote the step's limit
# (read back) and the step saw it from inside while it ran.
assert_step_limited() {
	local log="$1" id="$2" build_output="$3"
	run jq -r -s --arg id "$id" '[.[] | select(.id == $id and .stage == "prestart")][0].limit | "\(.applied) \(.max) \(.max_from)"' "$log"
	assert_output "true $STEP_LIMIT policy"
	# v1: limit_in_bytes then memsw (= the limit: no swap); v2: memory.max then swap 0
	grep -qE "(^|[^0-9])$STEP_LIMIT([^0-9]|$)" <<<"$build_output" || fail "the step did not see memory limit $STEP_LIMIT: $build_output"
	local want_swap=0 seen
	[[ -d /sys/fs/cgroup/memory ]] && want_swap=$STEP_LIMIT
	seen=$(grep -A1 -E "(^|[^0-9])$STEP_LIMIT\s*$" <<<"$build_output" | sed -n 2p)
	grep -qE "(^|[^0-9])$want_swap\s*$" <<<"$seen" || fail "the step did not see its swap limit $want_swap (saw '$seen'): $build_output"
}

# busybox_rootfs DIR: a static busybox root filesystem.
busybox_rootfs() {
	local dir="$1"
	mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev"
	cp /bin/busybox "$dir/bin/busybox"
	chroot "$dir" /bin/busybox --install -s /bin
	echo "root:x:0:0:root:/root:/bin/sh" >"$dir/etc/passwd"
	echo "root:x:0:" >"$dir/etc/group"
}

# busybox_tar FILE: the rootfs as a tarball (for podman/docker import).
busybox_tar() {
	local tmp
	tmp=$(mktemp -d)
	busybox_rootfs "$tmp/rootfs"
	tar -C "$tmp/rootfs" -cf "$1" .
	rm -rf "$tmp"
}

# log_records LOG ID: the hook's records for container ID, one per line.
log_records() {
	jq -c --arg id "$2" 'select(.id == $id)' "$1"
}
# log_stages LOG ID: "prestart,poststop"
log_stages() {
	jq -r -s --arg id "$2" '[.[] | select(.id == $id) | .stage] | join(",")' "$1"
}

# assert_hook_lifecycle LOG STATEDIR ID IMAGE-GLOB BUILD: the hook ran at
# start and at poststop for ID, resolved the image, classified the build
# and cleared its record; no record has errors.
assert_hook_lifecycle() {
	local log="$1" state="$2" id="$3" image="$4" build="$5"
	echo "hook log for $id:" >&2
	log_records "$log" "$id" >&2 || true
	run log_stages "$log" "$id"
	assert_output "prestart,poststop"
	local img
	img=$(jq -r -s --arg id "$id" '[.[] | select(.id == $id and .stage == "prestart")][0].image' "$log")
	# shellcheck disable=SC2053
	[[ "$img" == $image ]] || fail "image '$img' does not match '$image'"
	run jq -r -s --arg id "$id" '[.[] | select(.id == $id and .stage == "prestart")][0].build' "$log"
	assert_output "$build"
	if [[ "$build" == true ]]; then
		run jq -r -s --arg id "$id" '[.[] | select(.id == $id and .stage == "prestart")][0].build_signal' "$log"
		refute_output ""
	fi
	run jq -r -s --arg id "$id" '[.[] | select(.id == $id) | .errors[]] | length' "$log"
	assert_output 0
	assert_file_not_exists "$state/containers/$id.json"
}

# cgroups_cleanup NAME...: removes empty cgroups /sys/fs/cgroup/*/NAME and
# /sys/fs/cgroup/NAME (deepest first).
cgroups_cleanup() {
	local name d
	for name in "$@"; do
		for d in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
			[[ -d "$d" ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
		done
	done
	true
}

# wait_for CMD...: up to 30 s for CMD to succeed.
wait_for() {
	local i
	for ((i = 0; i < 300; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# kill_leftovers PATH: SIGKILL to engine processes (containerd, its shims,
# dockerd) whose command line names PATH, a test's private directory:
# what a failed test may leave behind. By pid, never by name alone.
kill_leftovers() {
	local path="$1" p comm
	for p in $(grep -lsF -- "$path" /proc/[0-9]*/cmdline | cut -d/ -f3); do
		[[ "$p" != "$$" && "$p" != "$BASHPID" ]] || continue
		comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
		case "$comm" in
		containerd | containerd-shim* | dockerd) kill -KILL "$p" 2>/dev/null || true ;;
		esac
	done
}

# kill_pidfile PIDFILE: stops the process (SIGTERM, then SIGKILL after 20 s).
kill_pidfile() {
	local pf="$1" pid i
	[[ -s "$pf" ]] || return 0
	pid=$(cat "$pf")
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# oci_archive_from_tar ROOTFS.tar REF OUT.tar: an OCI image-layout archive
# (what `ctr images import` reads) with one uncompressed layer, built by
# hand: no registry, no extra tools.
oci_archive_from_tar() {
	local layer="$1" ref="$2" out="$3" tmp diff cfg cfgd mani manid size
	tmp=$(mktemp -d)
	mkdir -p "$tmp/blobs/sha256"
	diff=$(sha256sum "$layer" | cut -d' ' -f1)
	cp "$layer" "$tmp/blobs/sha256/$diff"
	size=$(stat -c %s "$layer")
	cfg=$(jq -cn --arg d "sha256:$diff" '{architecture: "amd64", os: "linux", config: {Cmd: ["/bin/sh"]}, rootfs: {type: "layers", diff_ids: [$d]}}')
	cfgd=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
	printf '%s' "$cfg" >"$tmp/blobs/sha256/$cfgd"
	mani=$(jq -cn --arg c "sha256:$cfgd" --argjson cs "${#cfg}" --arg l "sha256:$diff" --argjson ls "$size" '{schemaVersion: 2,
		mediaType: "application/vnd.oci.image.manifest.v1+json",
		config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
		layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]}')
	manid=$(printf '%s' "$mani" | sha256sum | cut -d' ' -f1)
	printf '%s' "$mani" >"$tmp/blobs/sha256/$manid"
	jq -cn --arg m "sha256:$manid" --argjson ms "${#mani}" --arg r "$ref" '{schemaVersion: 2, manifests: [{
		mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
		annotations: {"io.containerd.image.name": $r, "org.opencontainers.image.ref.name": $r}}]}' >"$tmp/index.json"
	echo '{"imageLayoutVersion": "1.0.0"}' >"$tmp/oci-layout"
	tar -C "$tmp" -cf "$out" oci-layout index.json blobs
	rm -rf "$tmp"
}
