#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The man pages render, and `make install` installs them.

load helpers

@test "oci-memguard(8), oci-memguard-runtime(8), oci-memguard-policy(5) render with man -l" {
	command -v man >/dev/null || skip "man-db not installed"
	local top="$CONFORMANCE_DIR/.."
	local p
	for p in oci-memguard.8 oci-memguard-runtime.8 oci-memguard-policy.5; do
		assert_file_exists "$top/build/man/$p"
		run env MANWIDTH=80 man -l "$top/build/man/$p"
		assert_success
		assert_output --partial "NAME"
		assert_output --partial "SEE ALSO"
	done
	run env MANWIDTH=80 man -l "$top/build/man/oci-memguard-policy.5"
	assert_output --partial "available_below"
}

@test "make install puts the man pages under MANDIR" {
	local top="$CONFORMANCE_DIR/.."
	run make -s -C "$top" install DESTDIR="$BATS_TEST_TMPDIR/dest" PREFIX=/usr
	assert_success
	assert_file_exists "$BATS_TEST_TMPDIR/dest/usr/share/man/man8/oci-memguard.8"
	assert_file_exists "$BATS_TEST_TMPDIR/dest/usr/share/man/man8/oci-memguard-runtime.8"
	assert_file_exists "$BATS_TEST_TMPDIR/dest/usr/share/man/man5/oci-memguard-policy.5"
}
