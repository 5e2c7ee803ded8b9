# SPDX-License-Identifier: GPL-2.0-or-later
# Shared helpers for the oci-memguard conformance suites (runc's
# tests/integration style): fixture sysroots, bundles, a hook runner that
# shows command, status and output on failure, and `requires`.

bats_require_minimum_version 1.5.0

load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash
load /usr/lib/bats/bats-file/load.bash

MEMGUARD_BIN="${MEMGUARD_BIN:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)/build/oci-memguard}"
CONFORMANCE_DIR="$BATS_TEST_DIRNAME"

# requires FEATURE...: skip (with the reason) when the host lacks it; an
# unknown word is a test bug and fails.
requires() {
	local f
	for f in "$@"; do
		case "$f" in
		root) [[ $(id -u) -eq 0 ]] || skip "needs root" ;;
		cgroup_v2) [[ -e /sys/fs/cgroup/cgroup.controllers ]] && grep -qw memory /sys/fs/cgroup/cgroup.controllers ||
			skip "host memory controller is not on cgroup v2 (see conformance/vm for the v2 suite)" ;;
		cgroup_v1_memory) grep -qE ' - cgroup cgroup [^ ]*memory' /proc/self/mountinfo || skip "no cgroup v1 memory hierarchy" ;;
		runc) command -v runc >/dev/null || skip "runc not installed" ;;
		crun) command -v crun >/dev/null || skip "crun not installed" ;;
		podman) command -v podman >/dev/null || skip "podman not installed" ;;
		dockerd) command -v dockerd >/dev/null || skip "dockerd not installed" ;;
		containerd) command -v containerd >/dev/null || skip "containerd not installed" ;;
		qemu) command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 not installed" ;;
		no_asan) fail "requires no_asan: tag the test '# bats test_tags=no_asan' instead (the ASan pass leaves it out rather than skipping it)" ;;
		*) fail "requires: unknown feature '$f'" ;;
		esac
	done
}

# ---- fixture sysroot -------------------------------------------------------

# make_sysroot [v2|v2-norecursive|hybrid|v1]: a fake host under $SYSROOT.
make_sysroot() {
	local mode="${1:-v2}"
	SYSROOT="$BATS_TEST_TMPDIR/root"
	mkdir -p "$SYSROOT"/{proc/self,proc/sys/vm,run,var/log,etc/oci-memguard/policy.d,usr/share/oci-memguard/policy.d,sys/fs/cgroup}
	case "$mode" in
	v2)
		echo "25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot" >"$SYSROOT/proc/self/mountinfo"
		CGROOT="$SYSROOT/sys/fs/cgroup"
		;;
	v2-norecursive)
		echo "25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate" >"$SYSROOT/proc/self/mountinfo"
		CGROOT="$SYSROOT/sys/fs/cgroup"
		;;
	hybrid)
		cat >"$SYSROOT/proc/self/mountinfo" <<-'MI'
			24 1 0:21 / /sys/fs/cgroup rw,nosuid,nodev,noexec - tmpfs tmpfs rw,mode=755
			26 24 0:23 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
			27 24 0:24 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
			28 24 0:25 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
		MI
		mkdir -p "$SYSROOT/sys/fs/cgroup/memory" "$SYSROOT/sys/fs/cgroup/unified"
		echo "hugetlb" >"$SYSROOT/sys/fs/cgroup/unified/cgroup.controllers"
		CGROOT="$SYSROOT/sys/fs/cgroup/unified"
		return_fixture_common
		return
		;;
	v1)
		cat >"$SYSROOT/proc/self/mountinfo" <<-'MI'
			24 1 0:21 / /sys/fs/cgroup rw,nosuid,nodev,noexec - tmpfs tmpfs rw,mode=755
			26 24 0:23 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
		MI
		mkdir -p "$SYSROOT/sys/fs/cgroup/memory"
		CGROOT=""
		return_fixture_common
		return
		;;
	*) fail "make_sysroot: unknown mode $mode" ;;
	esac
	echo "cpuset cpu io memory hugetlb pids" >"$CGROOT/cgroup.controllers"
	echo "memory pids" >"$CGROOT/cgroup.subtree_control"
	return_fixture_common
}

return_fixture_common() {
	cat >"$SYSROOT/proc/meminfo" <<-'EOM'
		MemTotal:       16384000 kB
		MemFree:         8000000 kB
		MemAvailable:   12000000 kB
		Buffers:          100000 kB
		Cached:          3000000 kB
		SwapTotal:             0 kB
		SwapFree:              0 kB
	EOM
	printf 'allocstall_dma 0\nallocstall_dma32 0\nallocstall_normal 5\nallocstall_movable 1\ncompact_stall 2\ncompact_fail 1\ncompact_success 1\noom_kill 0\n' >"$SYSROOT/proc/vmstat"
	echo 60 >"$SYSROOT/proc/sys/vm/swappiness"
	STATE_DIR="$SYSROOT/run/oci-memguard"
	LOG_FILE="$SYSROOT/var/log/oci-memguard/events.jsonl"
	ADMIN_POLICY_DIR="$SYSROOT/etc/oci-memguard/policy.d"
	VENDOR_POLICY_DIR="$SYSROOT/usr/share/oci-memguard/policy.d"
}

# mk_cgroup PATH [min] [low]: a v2 cgroup directory with its memory files.
mk_cgroup() {
	local p="$CGROOT$1"
	mkdir -p "$p"
	# every level from the root down needs the files and memory enabled
	local cur="$CGROOT" comp
	local IFS=/
	for comp in $1; do
		[[ -n "$comp" ]] || continue
		cur="$cur/$comp"
		mkdir -p "$cur"
		[[ -e "$cur/memory.min" ]] || echo 0 >"$cur/memory.min"
		[[ -e "$cur/memory.low" ]] || echo 0 >"$cur/memory.low"
		[[ -e "$cur/cgroup.controllers" ]] || echo "memory pids" >"$cur/cgroup.controllers"
		[[ -e "$cur/cgroup.subtree_control" ]] || echo "memory pids" >"$cur/cgroup.subtree_control"
	done
	[[ -z "${2:-}" ]] || echo "$2" >"$p/memory.min"
	[[ -z "${3:-}" ]] || echo "$3" >"$p/memory.low"
}

cg_value() { # cg_value PATH FILE
	cat "$CGROOT$1/$2"
}

# The shared values the hook holds, by cgroup: {"/path": {"memory.min":
# {orig,set,prev,foreign}, "memory.low": ...}}, {} when none. Read from the
# per-node files (nodes/*.json) when the state dir has them, else from
# ledger.json's "cgroups", so a test states what is held, not where.
ledger_held() { # [STATE_DIR]
	local dir="${1:-$STATE_DIR}" files
	if [[ -d "$dir/nodes" ]]; then
		files=$(find "$dir/nodes" -maxdepth 1 -name '*.json' -print | sort)
		if [[ -z "$files" ]]; then
			echo '{}'
			return
		fi
		# shellcheck disable=SC2086 # one word per node file, names are hex
		jq -cs 'map({(.path): with_entries(select(.key == "memory.min" or .key == "memory.low"))} | select(.[] != {})) | add // {}' $files
	elif [[ -e "$dir/ledger.json" ]]; then
		jq -c '.cgroups // {}' "$dir/ledger.json"
	else
		echo '{}'
	fi
}
# node_file PATH [STATE_DIR]: the file of a cgroup's node in the state
# dir (the first 32 hex digits of the sha-256 of its path).
node_file() {
	printf '%s/nodes/%s.json' "${2:-$STATE_DIR}" "$(printf '%s' "$1" | sha256sum | cut -c1-32)"
}

# node_edit PATH JQ-FILTER: rewrites a node file as a killed run or a
# hand edit might have left it.
node_edit() {
	local f
	f=$(node_file "$1")
	jq -c "$2" "$f" >"$f.new"
	mv "$f.new" "$f"
}

# One field of one held value: ledger_value PATH FILE FIELD (orig, set,
# prev, foreign); empty when not held.
ledger_value() {
	ledger_held | jq -r --arg p "$1" --arg f "$2" --arg k "$3" '.[$p][$f][$k] | select(. != null)'
}

# mk_proc PID CGROUP [starttime]: a process of the fake host in a v2 cgroup.
mk_proc() {
	local pid="$1" cg="$2" st="${3:-424242}"
	mkdir -p "$SYSROOT/proc/$pid"
	if [[ -n "${MK_PROC_V1:-}" ]]; then
		printf '12:memory:%s\n11:cpu,cpuacct:%s\n0::%s\n' "$cg" "$cg" "$cg" >"$SYSROOT/proc/$pid/cgroup"
	else
		printf '0::%s\n' "$cg" >"$SYSROOT/proc/$pid/cgroup"
	fi
	# comm with spaces and a parenthesis, as a hostile process may choose
	echo "$pid (sh) x) S 1 $pid $pid 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 $st 1000 100" >"$SYSROOT/proc/$pid/stat"
}

# make_bundle ID [cgroupsPath] [extra jq filter]: a bundle with config.json.
make_bundle() {
	local id="$1" cgp="${2-/memguard/$1}" filter="${3:-.}"
	BUNDLE="$BATS_TEST_TMPDIR/bundles/$id"
	mkdir -p "$BUNDLE/rootfs"
	jq -n --arg cgp "$cgp" '{
		ociVersion: "1.0.2",
		process: {terminal: false, args: ["/bin/app", "--serve"], cwd: "/"},
		root: {path: "rootfs"},
		hostname: "app",
		mounts: [{destination: "/proc", type: "proc", source: "proc"}],
		linux: {cgroupsPath: $cgp},
		annotations: {}
	}' | jq "$filter" >"$BUNDLE/config.json"
}

# state_for ID PID [extra jq filter]: the state JSON on stdin of a hook.
state_for() {
	local id="$1" pid="$2" filter="${3:-.}"
	STATE_FILE="$BATS_TEST_TMPDIR/state-$id.json"
	if [[ "$pid" == none ]]; then
		jq -n --arg id "$id" --arg b "$BUNDLE" '{ociVersion:"1.0.2", id:$id, status:"stopped", bundle:$b}' | jq "$filter" >"$STATE_FILE"
	else
		jq -n --arg id "$id" --arg b "$BUNDLE" --argjson pid "$pid" '{ociVersion:"1.0.2", id:$id, status:"creating", pid:$pid, bundle:$b}' | jq "$filter" >"$STATE_FILE"
	fi
}

# policy NAME JSON [dir]: a policy file (root-owned, 0644).
policy() {
	local dir="${3:-$ADMIN_POLICY_DIR}"
	mkdir -p "$dir"
	printf '%s\n' "$2" >"$dir/$1"
	chmod 0644 "$dir/$1"
}

_hook() {
	"$MEMGUARD_BIN" "$@" --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
}

# hook_run STAGE [OPTIONS]: runs the hook with $STATE_FILE on stdin; output
# (stdout) and stderr separate; everything is shown when a test fails.
hook_run() {
	run --separate-stderr _hook "$@"
	echo "hook_run $* -> status $status" >&2
	echo "stdout: $output" >&2
	echo "stderr: $stderr" >&2
}

# start/stop helpers for the common path: container ID with pid PID in CG
start_container() { # ID PID CGROUP
	mk_cgroup "$3"
	mk_proc "$2" "$3"
	make_bundle "$1" "$3"
	state_for "$1" "$2"
	hook_run prestart
	assert_success
}

stop_container() { # ID CGROUP PID — the runtime removes the cgroup before poststop
	rm -rf "${CGROOT:?}$2"
	rm -rf "${SYSROOT:?}/proc/$3"
	make_bundle "$1" "$2"
	state_for "$1" none
	hook_run poststop
	assert_success
}

last_log() { tail -n 1 "$LOG_FILE"; }
log_field() { last_log | jq -r "$1"; }

# snapshot of every value the hook may touch, to prove "nothing changed"
host_snapshot() {
	(
		cd "$SYSROOT" || exit 1
		find sys proc/sys -type f \( -name 'memory.min' -o -name 'memory.low' -o -name swappiness \) -print0 | sort -z | xargs -0 -r grep -H ''
		find run -type f 2>/dev/null | sort
	)
}

# storage_image ID IMAGE: records IMAGE for container ID in a
# containers-storage fixture (as Podman and CRI-O do) and prints the jq
# filter that points a bundle's root.path at it, so that the image is the
# engine's record (attested), not a claim: make_bundle ID CG "$(storage_image ID IMG)".
storage_image() {
	local graph=/var/lib/containers/storage f
	f="$SYSROOT$graph/overlay-containers/containers.json"
	mkdir -p "${f%/*}"
	[[ -s "$f" ]] || echo '[]' >"$f"
	jq --arg id "$1" --arg img "$2" '. + [{id: $id, metadata: ({"image-name": $img} | tojson)}]' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
	printf '.root.path="%s/overlay/%s/merged"' "$graph" "$1"
}
