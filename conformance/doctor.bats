#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# `oci-memguard doctor`: every check and its verdict on fixture
# hosts, one line `OK|WARN|FAIL  <check>: <finding> [— fix: ...]` each; exit 1
# only when protection cannot work (no cgroup v2 memory controller) or the
# hook is broken (invalid policy, registered path missing).

load helpers

doctor() { "$MEMGUARD_BIN" doctor --sysroot "$SYSROOT" "$@"; }

healthy_v2() {
	make_sysroot v2
	mk_cgroup /system.slice/x
	echo 0 >"$CGROOT/system.slice/memory.peak"
	: >"$CGROOT/memory.reclaim"
	mkdir -p "$SYSROOT/proc/sys/kernel"
	echo "6.12.9-amd64" >"$SYSROOT/proc/sys/kernel/osrelease"
	echo "Node 0, zone   Normal   10 10 10 10 10 10 10 10 10 10 10" >"$SYSROOT/proc/buddyinfo"
	mkdir -p "$SYSROOT/usr/share/containers/oci/hooks.d" "$SYSROOT/usr/local/bin"
	cp "$MEMGUARD_BIN" "$SYSROOT/usr/local/bin/oci-memguard"
	for s in prestart poststop; do
		jq -n --arg s "$s" '{version: "1.0.0", hook: {path: "/usr/local/bin/oci-memguard", args: ["oci-memguard", $s]}, when: {always: true}, stages: [$s]}' \
			>"$SYSROOT/usr/share/containers/oci/hooks.d/oci-memguard-$s.json"
	done
	policy 10.json '{"memory": {"min": "64M"}}'
}

status_of() { # status_of CHECK-NAME: the statuses of that check, comma-separated
	doctor --json | jq -r --arg n "$1" '[.checks[] | select(.name == $n) | .status] | join(",")'
}

# Every non-empty line but the last is a check line in the documented form.
assert_check_lines() {
	local n
	n=$(grep -cvE '^(OK|WARN|FAIL)  [^:]+: .+' <<<"$(head -n -1 <<<"$output")") || true
	assert_equal "$n" 0
	assert_line --regexp '^doctor: '
}

@test "a healthy cgroup v2 host with the hook registered: all OK, exit 0" {
	healthy_v2
	run doctor
	assert_success
	assert_check_lines
	assert_line 'OK    cgroup: v2 at /sys/fs/cgroup, memory controller available'
	assert_line --regexp '^OK    memory_recursiveprot: on '
	assert_line --regexp '^OK    memory along engine paths: memory enabled under /system.slice$'
	assert_line --regexp '^OK    memory.reclaim: present'
	assert_line --regexp '^OK    memory.reclaim swappiness=: kernel 6.12.9-amd64 >= 6.11: inferred from the version'
	assert_line --regexp '^OK    memory.peak: present'
	assert_line 'OK    vm.swappiness: 60'
	assert_line --regexp '^OK    MemAvailable: 11718 MiB of 16000 MiB \(73%\)$'
	assert_line --regexp '^OK    fragmentation \(order 4\): 70 free blocks'
	assert_line --regexp '^OK    systemd: not running'
	assert_line 'OK    WSL2: not WSL'
	assert_line --regexp '^OK    podman/cri-o hooks.d: /usr/share/containers/oci/hooks.d/oci-memguard-prestart.json -> /usr/local/bin/oci-memguard$'
	assert_line --regexp '^OK    policies: 1 valid file in '
	assert_line --regexp '^OK    state dir: .* writable$'
	assert_line --regexp '^OK    log dir: .* writable$'
	refute_output --partial "fix:"
	assert_line "doctor: all good"
}

@test "--json is an object with a verdict and name/status/finding/fix per check, the same checks as the table" {
	healthy_v2
	run doctor --json
	assert_success
	local json="$output"
	run jq -e '(keys == ["checks", "verdict"]) and (.verdict == "ok")
		and (.checks | length > 10)
		and all(.checks[]; (keys == ["finding", "fix", "name", "status"]) and (.status | IN("OK", "WARN", "FAIL")))' <<<"$json"
	assert_success
	run doctor
	assert_equal "$(jq -r '.checks[] | "\(.status)|\(.name)"' <<<"$json")" "$(head -n -1 <<<"$output" | sed -E 's/^([A-Z]+) +([^:]+): .*/\1|\2/')"
}

@test "--json on a failing host: verdict fail, exit 1, the fix in its own field" {
	make_sysroot v1
	run doctor --json
	assert_failure 1
	run jq -e '.verdict == "fail" and ([.checks[] | select(.name == "cgroup")][0] | .status == "FAIL" and (.fix | test("unified_cgroup_hierarchy=1")))' <<<"$output"
	assert_success
}

@test "cgroup v1 host: FAIL (protection cannot work), exit 1" {
	make_sysroot v1
	run doctor
	assert_failure 1
	assert_check_lines
	assert_line --regexp '^FAIL  cgroup: v1: the memory controller is on cgroup v1 \(/sys/fs/cgroup/memory\): memory protection cannot work — fix: boot with systemd.unified_cgroup_hierarchy=1'
	assert_line "doctor: protection cannot work here, or the hook is broken (FAIL above)"
}

@test "hybrid host (memory on v1, hugetlb-only cgroup2): FAIL, exit 1" {
	make_sysroot hybrid
	run doctor
	assert_failure 1
	assert_line --regexp '^FAIL  cgroup: hybrid: the memory controller is on cgroup v1'
	run doctor --json
	assert_failure 1
	run jq -r '.verdict' <<<"$output"
	assert_output fail
}

@test "cgroup v2 without the memory controller: FAIL, exit 1" {
	healthy_v2
	echo "cpu io pids" >"$CGROOT/cgroup.controllers"
	run doctor
	assert_failure 1
	assert_line --regexp '^FAIL  cgroup: v2 at /sys/fs/cgroup, but no memory controller: protection cannot work — fix: enable the memory controller'
}

@test "memory_recursiveprot off is a warning with the remount fix and the moby#50466 note; exit 0" {
	healthy_v2
	sed -i 's/,memory_recursiveprot//' "$SYSROOT/proc/self/mountinfo"
	run doctor
	assert_success
	assert_line --regexp '^WARN  memory_recursiveprot: off: .* — fix: mount -o remount,memory_recursiveprot /sys/fs/cgroup'
	assert_output --partial "moby/moby#50466"
	assert_line "doctor: usable, with warnings"
}

@test "cgroup2 mounted again over the first (moby/moby#50466): the superblock lost memory_recursiveprot on both lines, WARN" {
	healthy_v2
	# A fresh mount in the initial cgroup namespace re-applies the superblock
	# options: every line of that superblock shows them.
	sed -i 's/,memory_recursiveprot//' "$SYSROOT/proc/self/mountinfo"
	echo "40 25 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw" >>"$SYSROOT/proc/self/mountinfo"
	run status_of memory_recursiveprot
	assert_output WARN
	run status_of cgroup
	assert_output OK
}

@test "no memory.reclaim and an old kernel: warnings, exit 0" {
	healthy_v2
	rm "$CGROOT/memory.reclaim"
	echo "5.15.0-105-generic" >"$SYSROOT/proc/sys/kernel/osrelease"
	run doctor
	assert_success
	assert_line --regexp '^WARN  memory.reclaim: absent: the build guard falls back to drop_caches \(kernel 5.15.0-105-generic\) — fix: kernel >= 5.19'
	assert_line --regexp '^WARN  memory.reclaim swappiness=: kernel 5.15.0-105-generic < 6.11 \(inferred from the version\)'
}

@test "memory.reclaim present on 6.6: swappiness= inferred unsupported" {
	healthy_v2
	echo "6.6.30" >"$SYSROOT/proc/sys/kernel/osrelease"
	run status_of memory.reclaim
	assert_output OK
	run status_of "memory.reclaim swappiness="
	assert_output WARN
}

@test "kernel veth queues: Debian 12's 6.1.0-18 (upstream 6.1.76 in /proc/version) lacks the fix: WARN naming 6.1.81 and what the build guard can do; exit 0" {
	healthy_v2
	echo "6.1.0-18-amd64" >"$SYSROOT/proc/sys/kernel/osrelease"
	echo "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)" >"$SYSROOT/proc/version"
	mkdir -p "$SYSROOT/sys/devices/system/cpu"
	echo "0-63" >"$SYSROOT/sys/devices/system/cpu/possible"
	run doctor
	assert_success
	assert_line --regexp '^WARN  kernel veth queues: kernel 6\.1\.76 \(/proc/version\) allocates the veth queues as one physically contiguous block, one entry per possible CPU \(0-63\): .*"page allocation failure: order:4" in veth_alloc_queues\. The build guard compacts memory before build steps, which helps the next container; nothing a hook does runs before the engine creates this container.s veth — fix: a kernel with commit 1ce7d306ea63 \(6\.1\.81 or later of this series\)$'
	assert_line "doctor: usable, with warnings"
}

@test "kernel veth queues: Debian's 6.1.0-57 (upstream 6.1.192) has the fix: OK" {
	healthy_v2
	echo "6.1.0-57-amd64" >"$SYSROOT/proc/sys/kernel/osrelease"
	echo "Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2025-05-01)" >"$SYSROOT/proc/version"
	run doctor
	assert_success
	assert_line 'OK    kernel veth queues: kernel 6.1.192 (/proc/version) has the veth queue fix (vmalloc fallback, since 6.1.81): container starts need no order-4 block for it'
}

@test "kernel veth queues: Ubuntu 22.04's 5.15.0-97 (upstream 5.15.136 in /proc/version_signature) lacks the fix: WARN naming 5.15.151" {
	healthy_v2
	echo "5.15.0-97-generic" >"$SYSROOT/proc/sys/kernel/osrelease"
	echo "Linux version 5.15.0-97-generic (buildd@lcy02-amd64-033) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0) #107-Ubuntu SMP" >"$SYSROOT/proc/version"
	echo "Ubuntu 5.15.0-97.107-generic 5.15.136" >"$SYSROOT/proc/version_signature"
	run doctor
	assert_success
	assert_line --regexp '^WARN  kernel veth queues: kernel 5\.15\.136 \(/proc/version_signature\) allocates .* — fix: a kernel with commit 1ce7d306ea63 \(5\.15\.151 or later of this series\)$'
}

@test "kernel veth queues: a series that ended without the fix (6.5, uname -r) and one that never had per-CPU queues (5.10)" {
	healthy_v2
	echo "6.5.13-custom" >"$SYSROOT/proc/sys/kernel/osrelease"
	run doctor
	assert_success
	assert_line --regexp '^WARN  kernel veth queues: kernel 6\.5\.13 \(uname -r\) allocates .* \(unknown\): .* — fix: a kernel with commit 1ce7d306ea63 \(6\.6\.21 or later; this series ended without it\)$'
	echo "5.10.0-28-amd64" >"$SYSROOT/proc/sys/kernel/osrelease"
	run doctor
	assert_line 'OK    kernel veth queues: kernel 5.10.0 (uname -r) creates one queue per veth: no per-CPU allocation at container start'
}

@test "no memory.peak in any child cgroup: warning" {
	healthy_v2
	rm "$CGROOT/system.slice/memory.peak"
	run status_of memory.peak
	assert_output WARN
}

@test "vm.swappiness is reported; a ledger notes a build may hold it" {
	healthy_v2
	echo 10 >"$SYSROOT/proc/sys/vm/swappiness"
	mkdir -p "$STATE_DIR"
	echo '{}' >"$STATE_DIR/ledger.json"
	run doctor
	assert_line 'OK    vm.swappiness: 10 (a running build may hold it: the original is in ledger.json)'
}

@test "no free order-4 block: fragmentation warning with the compaction fix" {
	healthy_v2
	echo "Node 0, zone   Normal   10 10 10 10 0 0 0 0 0 0 0" >"$SYSROOT/proc/buddyinfo"
	run doctor
	assert_success
	assert_line --regexp '^WARN  fragmentation \(order 4\): no free block of order >= 4 .* — fix: echo 1 > /proc/sys/vm/compact_memory'
}

@test "free order-4 blocks only in DMA32 count; Movable ones do not" {
	healthy_v2
	printf '%s\n' "Node 0, zone    DMA32    1 1 1 1 2 0 0 0 0 0 0" "Node 0, zone  Movable  0 0 0 0 9 9 9 9 9 9 9" "Node 0, zone   Normal   10 10 10 10 0 0 0 0 0 0 0" >"$SYSROOT/proc/buddyinfo"
	run doctor
	assert_line --regexp '^OK    fragmentation \(order 4\): 2 free blocks'
}

@test "low MemAvailable: warning" {
	healthy_v2
	sed -i 's/^MemAvailable:.*/MemAvailable:   100000 kB/' "$SYSROOT/proc/meminfo"
	run doctor
	assert_success
	assert_line --regexp '^WARN  MemAvailable: 97 MiB of 16000 MiB \(0%\) — fix: '
}

@test "memory not enabled under an engine's parent cgroup: warning naming it" {
	healthy_v2
	mk_cgroup /docker
	mk_cgroup /kubepods.slice
	echo "pids" >"$CGROOT/docker/cgroup.subtree_control"
	run doctor
	assert_success
	assert_line --regexp '^WARN  memory along engine paths: memory controller not enabled for the children of: /docker — fix: echo \+memory > <parent>/cgroup.subtree_control'
	refute_output --partial "/kubepods.slice — fix"
}

@test "no engine cgroup yet: OK" {
	healthy_v2
	rm -r "$CGROOT/system.slice"
	run doctor
	assert_line --regexp '^OK    memory along engine paths: no engine cgroup yet'
}

@test "WSL2 (osrelease): detected, with the autoMemoryReclaim/Resource Saver advice; a warning only" {
	healthy_v2
	echo "5.15.153.1-microsoft-standard-WSL2" >"$SYSROOT/proc/sys/kernel/osrelease"
	run doctor
	assert_success
	assert_line --regexp '^WARN  WSL2: WSL2 detected \(5.15.153.1-microsoft-standard-WSL2\)'
	assert_output --partial "autoMemoryReclaim=gradual"
	assert_output --partial "Resource Saver"
	assert_output --partial "microsoft/WSL#11066"
	assert_output --partial "docker/for-win#14656"
	assert_output --partial "cannot be read from inside Linux"
	run doctor --json
	run jq -e '.verdict == "warn" and ([.checks[] | select(.name == "WSL2")][0].fix | test("autoMemoryReclaim"))' <<<"$output"
	assert_success
}

@test "WSL2 (WSLInterop or /run/WSL, kernel not named microsoft): detected" {
	healthy_v2
	mkdir -p "$SYSROOT/proc/sys/fs/binfmt_misc"
	: >"$SYSROOT/proc/sys/fs/binfmt_misc/WSLInterop"
	run status_of WSL2
	assert_output WARN
	rm "$SYSROOT/proc/sys/fs/binfmt_misc/WSLInterop"
	mkdir -p "$SYSROOT/run/WSL"
	run status_of WSL2
	assert_output WARN
}

@test "WSL2 with a cgroup v1 memory controller: both reported, exit 1" {
	make_sysroot hybrid
	mkdir -p "$SYSROOT/proc/sys/kernel"
	echo "5.15.153.1-microsoft-standard-WSL2" >"$SYSROOT/proc/sys/kernel/osrelease"
	run doctor
	assert_failure 1
	assert_line --regexp '^FAIL  cgroup: hybrid: .* — fix: .*kernelCommandLine = cgroup_no_v1=all'
	assert_line --regexp '^WARN  WSL2: WSL2 detected'
}

@test "systemd running is reported" {
	healthy_v2
	mkdir -p "$SYSROOT/run/systemd/system"
	run doctor
	assert_line --regexp '^OK    systemd: running'
}

@test "an invalid policy file: FAIL naming it, exit 1" {
	healthy_v2
	policy 20-bad.json '{"memroy": {}}'
	run doctor
	assert_failure 1
	assert_line --regexp "^FAIL  policies: .*20-bad.json:1:2: unknown key 'memroy'"
	assert_line "doctor: protection cannot work here, or the hook is broken (FAIL above)"
}

@test "no policy file at all: a warning (the hook does nothing)" {
	healthy_v2
	rm "$ADMIN_POLICY_DIR"/*.json
	run doctor
	assert_success
	assert_line --regexp '^WARN  policies: no policy file in .*: the hook does nothing for any container'
}

@test "a registered hook path that does not exist: FAIL, exit 1" {
	healthy_v2
	rm "$SYSROOT/usr/local/bin/oci-memguard"
	run doctor
	assert_failure 1
	assert_line --regexp '^FAIL  podman/cri-o hooks.d: .*oci-memguard-prestart.json names /usr/local/bin/oci-memguard, which does not exist'
}

@test "a hooks.d file in /etc that is not valid JSON: FAIL, exit 1" {
	healthy_v2
	mkdir -p "$SYSROOT/etc/containers/oci/hooks.d"
	echo '{"hook": ' >"$SYSROOT/etc/containers/oci/hooks.d/oci-memguard-prestart.json"
	run doctor
	assert_failure 1
	assert_line --regexp '^FAIL  podman/cri-o hooks.d: /etc/containers/oci/hooks.d/oci-memguard-prestart.json is not a valid hooks.d file'
}

@test "docker registration: runtime path checked, default-runtime noted" {
	healthy_v2
	mkdir -p "$SYSROOT/etc/docker"
	jq -n '{"runtimes": {"oci-memguard": {"path": "/usr/local/bin/oci-memguard"}}, "default-runtime": "oci-memguard"}' >"$SYSROOT/etc/docker/daemon.json"
	run doctor
	assert_success
	assert_line --regexp '^OK    docker runtime: daemon.json runtime oci-memguard -> /usr/local/bin/oci-memguard \(default-runtime'
	jq 'del(.["default-runtime"])' "$SYSROOT/etc/docker/daemon.json" >"$BATS_TEST_TMPDIR/d" && mv "$BATS_TEST_TMPDIR/d" "$SYSROOT/etc/docker/daemon.json"
	run doctor
	assert_line --regexp '^OK    docker runtime: .*not the default-runtime: install.sh --docker-default'
	jq '.runtimes["oci-memguard"].path="/nowhere/oci-memguard-runtime"' "$SYSROOT/etc/docker/daemon.json" >"$BATS_TEST_TMPDIR/d" && mv "$BATS_TEST_TMPDIR/d" "$SYSROOT/etc/docker/daemon.json"
	run doctor
	assert_failure 1
	assert_line --regexp '^FAIL  docker runtime: daemon.json runtime oci-memguard -> /nowhere/oci-memguard-runtime, which does not exist'
}

@test "BuildKit shim: a link to the wrapper is OK, a dangling link FAILs" {
	healthy_v2
	mkdir -p "$SYSROOT/usr/local/lib/oci-memguard/shim"
	: >"$SYSROOT/usr/local/bin/oci-memguard-runtime"
	ln -s ../../../bin/oci-memguard-runtime "$SYSROOT/usr/local/lib/oci-memguard/shim/runc"
	run doctor
	assert_success
	assert_line --regexp '^OK    buildkit shim: /usr/local/lib/oci-memguard/shim/runc \(dockerd must have its directory first on PATH\)'
	rm "$SYSROOT/usr/local/bin/oci-memguard-runtime"
	run doctor
	assert_failure 1
	assert_line --regexp '^FAIL  buildkit shim: /usr/local/lib/oci-memguard/shim/runc points to a file that does not exist'
}

@test "dockerd's PATH: the shim first is OK; a dockerd started before install.sh's drop-in (plain runc first) is a warning with the restart" {
	healthy_v2
	mkdir -p "$SYSROOT/usr/local/lib/oci-memguard/shim" "$SYSROOT/usr/sbin" "$SYSROOT/proc/4242" "$SYSROOT/proc/77"
	: >"$SYSROOT/usr/local/bin/oci-memguard-runtime"
	ln -s ../../../bin/oci-memguard-runtime "$SYSROOT/usr/local/lib/oci-memguard/shim/runc"
	: >"$SYSROOT/usr/sbin/runc"
	echo containerd >"$SYSROOT/proc/77/comm"
	echo dockerd >"$SYSROOT/proc/4242/comm"
	printf 'LANG=C\0PATH=/usr/local/lib/oci-memguard/shim:/usr/local/sbin:/usr/sbin:/usr/bin\0NOTIFY_SOCKET=/run/systemd/notify\0' >"$SYSROOT/proc/4242/environ"
	run doctor
	assert_success
	assert_line 'OK    dockerd PATH: dockerd (pid 4242) runs /usr/local/lib/oci-memguard/shim/runc, the shim: BuildKit RUN steps get the hook'
	printf 'PATH=/nonexistent:/usr/local/sbin:/usr/sbin:/usr/bin\0' >"$SYSROOT/proc/4242/environ"
	run doctor
	assert_success
	assert_line --regexp '^WARN  dockerd PATH: dockerd \(pid 4242\) runs /usr/sbin/runc for BuildKit RUN steps, not the shim: they run without the hook — fix: systemctl restart docker '
	rm -r "$SYSROOT/proc/4242"
	run doctor
	refute_output --partial "dockerd PATH"
}

@test "containerd: a BinaryName naming the wrapper is checked to exist; commented lines ignored" {
	healthy_v2
	mkdir -p "$SYSROOT/etc/containerd"
	: >"$SYSROOT/usr/local/bin/oci-memguard-runtime"
	cat >"$SYSROOT/etc/containerd/config.toml" <<-'TOML'
		version = 2
		[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		  BinaryName = "/usr/local/bin/oci-memguard-runtime"
		# BinaryName = "/gone/oci-memguard-runtime"
	TOML
	run doctor
	assert_success
	assert_line 'OK    containerd: /etc/containerd/config.toml: BinaryName /usr/local/bin/oci-memguard-runtime'
	sed -i 's|/usr/local/bin/oci-memguard-runtime|/opt/oci-memguard/bin/oci-memguard-runtime|' "$SYSROOT/etc/containerd/config.toml"
	run doctor
	assert_failure 1
	assert_line --regexp '^FAIL  containerd: /etc/containerd/config.toml: BinaryName /opt/oci-memguard/bin/oci-memguard-runtime does not exist'
}

@test "containerd with another runtime's BinaryName: not registered" {
	healthy_v2
	rm -r "$SYSROOT/usr/share/containers"
	mkdir -p "$SYSROOT/etc/containerd"
	printf '[x]\n  BinaryName = "/usr/bin/runc"\n' >"$SYSROOT/etc/containerd/config.toml"
	run doctor
	assert_success
	refute_line --regexp '^[A-Z]+ +containerd:'
	assert_line --regexp '^WARN  engines: no engine has the hook registered yet'
}

@test "no engine registered yet is only a warning" {
	healthy_v2
	rm -r "$SYSROOT/usr/share/containers"
	run doctor
	assert_success
	assert_line --regexp '^WARN  engines: no engine has the hook registered yet — fix: sudo ./install.sh'
	assert_line "doctor: usable, with warnings"
}

@test "a state dir that cannot be created (a file in the way): warning" {
	healthy_v2
	: >"$BATS_TEST_TMPDIR/afile"
	run doctor --state-dir "$BATS_TEST_TMPDIR/afile/state" --log-file "$BATS_TEST_TMPDIR/afile/log/events.jsonl"
	assert_success
	assert_line --regexp "^WARN  state dir: $BATS_TEST_TMPDIR/afile/state cannot be created: $BATS_TEST_TMPDIR/afile is not a directory"
	assert_line --regexp "^WARN  log dir: $BATS_TEST_TMPDIR/afile/log cannot be created"
}

@test "doctor changes nothing on the host" {
	healthy_v2
	local before
	before="$(host_snapshot)"
	run doctor
	assert_success
	assert_equal "$(host_snapshot)" "$before"
	assert_file_not_exists "$LOG_FILE"
	assert_file_not_exists "$STATE_DIR"
}
