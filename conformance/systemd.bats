#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Ancestors that are systemd units go through systemd (issue 9). A fixture
# sysroot with /run/systemd/system pretends systemd runs; the bus is this
# host's, where no systemd answers, so every change through systemd fails
# and must fall back to a direct write, loudly, with the same ledger as a
# cgroupfs write. The real thing is proven in conformance/vm-systemd.

load helpers

setup() {
	make_sysroot v2
	mkdir -p "$SYSROOT/run/systemd/system"
	policy 50-docker.json '{"match": {"cgroups": ["/system.slice/docker-*.scope", "/machine.slice/*"]}, "memory": {"min": "128M", "low": "256M"}}'
}

# Does this hook speak sd-bus (build/systemd/oci-memguard, or the main build
# once it links libsystemd)? The stub answers EOPNOTSUPP without trying.
has_sd_bus() { grep -q SetUnitProperties "$MEMGUARD_BIN"; }

action() { # action TARGET FILE: "old->new result" of the last record
	log_field ".actions[] | select(.target==\"$1\" and .file==\"$2\") | \"\(.old)->\(.new) \(.result)\""
}

@test "prestart [systemd runs, system.slice] cannot reach systemd: writes directly and says so loudly" {
	start_container d1 4001 /system.slice/docker-d1.scope
	assert_equal "$(cg_value /system.slice memory.min)" 134217728
	assert_equal "$(cg_value /system.slice memory.low)" 268435456
	run action /system.slice memory.min
	assert_output "0->134217728 ok (direct: systemd unreachable)"
	run action /system.slice memory.low
	assert_output "0->268435456 ok (direct: systemd unreachable)"
	# one error per value, naming the unit's cgroup and the consequence
	run log_field '.errors[]'
	assert_line --partial "set memory.min of /system.slice through systemd: "
	assert_line --partial "set memory.low of /system.slice through systemd: "
	assert_output --partial "written directly instead, systemd may reset it"
}

@test "prestart [systemd runs] changes the container's own scope through systemd too (delegation covers only what is below it)" {
	start_container d1 4001 /system.slice/docker-d1.scope
	assert_equal "$(cg_value /system.slice/docker-d1.scope memory.min)" 134217728
	run action /system.slice/docker-d1.scope memory.min
	assert_output "0->134217728 ok (direct: systemd unreachable)"
	run log_field '.errors[]'
	assert_line --partial "set memory.min of /system.slice/docker-d1.scope through systemd: "
}

@test "prestart [systemd runs, crun] the \"container\" sub-cgroup below the scope is no unit: written directly" {
	start_container c1 4001 /machine.slice/libpod-c1.scope/container
	run action /machine.slice/libpod-c1.scope/container memory.min
	assert_output "0->134217728 ok"
	run action /machine.slice/libpod-c1.scope memory.min
	assert_output "0->134217728 ok (direct: systemd unreachable)"
	run log_field '.errors[]'
	refute_output --partial "container through systemd"
}

@test "an escaped unit directory (_cpu.slice, systemd's cg_escape) is still a unit" {
	policy 50-docker.json '{"match": {"cgroups": ["/_cpu.slice/*"]}, "memory": {"min": "64M"}}'
	start_container e1 4001 /_cpu.slice/docker-e1.scope
	run action /_cpu.slice memory.min
	assert_output "0->67108864 ok (direct: systemd unreachable)"
}

@test "poststop [systemd runs] gives system.slice back the same way, and the ledger ends empty" {
	start_container d1 4001 /system.slice/docker-d1.scope
	stop_container d1 /system.slice/docker-d1.scope 4001
	assert_equal "$(cg_value /system.slice memory.min)" 0
	assert_equal "$(cg_value /system.slice memory.low)" 0
	run action /system.slice memory.min
	assert_output "134217728->0 ok (direct: systemd unreachable)"
	run jq -c '.cgroups' "$STATE_DIR/ledger.json"
	assert_output '{}'
	assert_file_not_exists "$STATE_DIR/containers/d1.json"
}

@test "two containers in system.slice: the slice covers the sum through the fallback; each stop gives back its share" {
	start_container a 4001 /system.slice/docker-a.scope
	start_container b 4002 /system.slice/docker-b.scope
	assert_equal "$(cg_value /system.slice memory.min)" $((2 * 134217728))
	stop_container a /system.slice/docker-a.scope 4001
	assert_equal "$(cg_value /system.slice memory.min)" 134217728
	stop_container b /system.slice/docker-b.scope 4002
	assert_equal "$(cg_value /system.slice memory.min)" 0
}

@test "nested slices (machine.slice/machine-x.slice) and the scope all go through systemd" {
	policy 50-docker.json '{"match": {"cgroups": ["/machine.slice/*"]}, "memory": {"min": "64M"}}'
	start_container p1 4001 /machine.slice/machine-pod.slice/libpod-p1.scope
	run action /machine.slice memory.min
	assert_output "0->67108864 ok (direct: systemd unreachable)"
	run action /machine.slice/machine-pod.slice memory.min
	assert_output "0->67108864 ok (direct: systemd unreachable)"
	run action /machine.slice/machine-pod.slice/libpod-p1.scope memory.min
	assert_output "0->67108864 ok (direct: systemd unreachable)"
}

@test "no /run/systemd/system: slices are plain cgroups, written directly without any systemd error" {
	rmdir "$SYSROOT/run/systemd/system"
	start_container d1 4001 /system.slice/docker-d1.scope
	run action /system.slice memory.min
	assert_output "0->134217728 ok"
	run log_field '.errors | length'
	assert_output 0
}

@test "/run/systemd/system as a file (not systemd's directory) is not systemd" {
	rmdir "$SYSROOT/run/systemd/system"
	touch "$SYSROOT/run/systemd/system"
	start_container d1 4001 /system.slice/docker-d1.scope
	run action /system.slice memory.min
	assert_output "0->134217728 ok"
}

@test "on_error=fail: a systemd fallback that wrote the value is not a failed write" {
	policy 50-docker.json '{"match": {"cgroups": ["/system.slice/docker-*.scope"]}, "memory": {"min": "128M"}, "on_error": "fail"}'
	start_container d1 4001 /system.slice/docker-d1.scope
	assert_equal "$(cg_value /system.slice memory.min)" 134217728
}

@test "a wedged bus (accepts, never answers) costs at most the 2 s timeout, then the direct write" {
	has_sd_bus || skip "this hook is built without sd-bus (make build/systemd/oci-memguard)"
	command -v python3 >/dev/null || skip "python3 not installed (the wedged bus)"
	local sock="$BATS_TEST_TMPDIR/bus.sock"
	python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(8)
print("ready", flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$sock" >"$BATS_TEST_TMPDIR/bus.out" 2>&1 &
	local bus_pid=$!
	for _ in $(seq 50); do [[ -S "$sock" ]] && break; sleep 0.1; done
	mk_cgroup /system.slice/docker-d1.scope
	mk_proc 4001 /system.slice/docker-d1.scope
	make_bundle d1 /system.slice/docker-d1.scope
	state_for d1 4001
	local t0 t1
	t0=$(date +%s%N)
	DBUS_SYSTEM_BUS_ADDRESS="unix:path=$sock" hook_run prestart
	t1=$(date +%s%N)
	kill "$bus_pid"
	assert_success
	echo "prestart took $(((t1 - t0) / 1000000)) ms" >&2
	# four values (min and low of slice and scope): one timeout, then the bus counts as down for the run
	(((t1 - t0) < 3500000000))
	assert_equal "$(cg_value /system.slice memory.min)" 134217728
	run log_field '.errors[]'
	assert_output --partial "set memory.min of /system.slice through systemd: Connection timed out: written directly instead"
}
