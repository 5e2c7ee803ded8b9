#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# `make demo` runs a real container through runc on this host and shows the
# outcome records; it leaves nothing behind, even when the container fails.

load helpers

TOP="$BATS_TEST_DIRNAME/.."

leftovers() { # what a demo could leave: its temp dir, its cgroups
	compgen -G "/tmp/oci-memguard-demo.*" || true
	compgen -G "/sys/fs/cgroup/*/memguard-demo" || true
	compgen -G "/sys/fs/cgroup/memguard-demo" || true
}

@test "make demo: a real runc container, explain first, the hook seen acting inside it, both outcome records, nothing left behind" {
	requires root runc
	local before
	before=$(cat /proc/sys/vm/swappiness)
	run make -s -C "$TOP" demo DEMO_HOOK="$MEMGUARD_BIN"
	assert_success
	assert_output --partial "== oci-memguard explain"
	assert_line --regexp '^container memguard-demo-[0-9]+$'
	assert_line --regexp '^  matched   /tmp/oci-memguard-demo\..*/policy/50-demo.json$'
	assert_line "  vm.swappiness /proc/sys/vm/swappiness: $before -> 10"
	# the container itself sees the lowered swappiness of a build step
	assert_line --regexp '^   in the container: vm.swappiness=10'
	assert_line "== after the container: vm.swappiness $before (given back at poststop)"
	assert_output --partial '"stage": "prestart"'
	assert_output --partial '"stage": "poststop"'
	assert_line --regexp '^demo: prestart and poststop ran for memguard-demo-[0-9]+: image demo/app:1, policies 50-demo.json, build=true, [1-9][0-9]* change\(s\) at start, [1-9][0-9]* given back at stop, cgroup (v2|hybrid|v1)'
	if [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; then
		assert_line --regexp '^   in the container: .*memory.min=67108864'
	fi
	assert_equal "$(cat /proc/sys/vm/swappiness)" "$before"
	assert_equal "$(leftovers)" ""
}

@test "demo: a container that fails after prestart changed the host: the change is given back, nothing left behind" {
	requires root runc
	local before hook="$BATS_TEST_TMPDIR/failing-hook"
	before=$(cat /proc/sys/vm/swappiness)
	# the real hook, but prestart fails after it has done its work
	cat >"$hook" <<-HOOK
		#!/bin/sh
		if [ "\$1" = prestart ]; then "$MEMGUARD_BIN" "\$@"; exit 1; fi
		exec "$MEMGUARD_BIN" "\$@"
	HOOK
	chmod +x "$hook"
	run "$TOP/demo/demo.sh" "$hook"
	assert_failure
	assert_equal "$(cat /proc/sys/vm/swappiness)" "$before"
	assert_equal "$(leftovers)" ""
}

@test "demo: without root it says so and exits 1" {
	requires root
	command -v setpriv >/dev/null || skip "setpriv not installed"
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$TOP/demo/demo.sh" "$MEMGUARD_BIN"
	assert_failure 1
	assert_output "demo: run as root (runc needs it)"
}
