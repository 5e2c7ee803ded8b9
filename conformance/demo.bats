#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# `make demo` runs a real container through runc on this host and shows the
# outcome records; it leaves nothing behind.

load helpers

@test "make demo: a real runc container, explain first, then both outcome records, nothing left behind" {
	requires root runc
	local before
	before=$(cat /proc/sys/vm/swappiness)
	run make -s -C "$CONFORMANCE_DIR/.." demo
	assert_success
	assert_output --partial "== oci-memguard explain"
	assert_output --partial '"stage": "prestart"'
	assert_output --partial '"stage": "poststop"'
	assert_line --regexp '^demo: prestart and poststop ran for memguard-demo-[0-9]+: image demo/app:1, policies 50-demo.json, build=true'
	assert_equal "$(cat /proc/sys/vm/swappiness)" "$before"
	run compgen -G "/tmp/oci-memguard-demo.*"
	assert_failure
}
