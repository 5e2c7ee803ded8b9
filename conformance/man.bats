#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The man pages (scdoc sources in man/, built into build/man by mk/man.mk)
# render without warnings, document what the program accepts, show only
# valid policies, and `make install` installs them.

load helpers

TOP="$BATS_TEST_DIRNAME/.."
PAGES=(oci-memguard.8 oci-memguard-runtime.8 oci-memguard-policy.5)

@test "oci-memguard(8), oci-memguard-runtime(8), oci-memguard-policy(5) render with man -l, without warnings" {
	command -v man >/dev/null || skip "man-db not installed (conformance/install-test-deps.sh installs it)"
	local p
	for p in "${PAGES[@]}"; do
		assert_file_exists "$TOP/build/man/$p"
		run --separate-stderr env MANWIDTH=80 man --warnings -E UTF-8 -l "$TOP/build/man/$p"
		assert_success
		assert_equal "$stderr" ""
		assert_line "NAME"
		assert_line "DESCRIPTION"
		assert_line "SEE ALSO"
	done
	run env MANWIDTH=80 man -l "$TOP/build/man/oci-memguard-policy.5"
	assert_output --partial "available_below"
}

@test "oci-memguard(8) documents every command and option of --help, the stages, exit status and the log" {
	command -v man >/dev/null || skip "man-db not installed"
	local page opt
	page=$(MANWIDTH=200 man -l "$TOP/build/man/oci-memguard.8" 2>/dev/null)
	run "$MEMGUARD_BIN" --help
	assert_success
	for opt in $(grep -oE -- '--[a-z][a-z-]+' <<<"$output" | sort -u); do
		grep -qF -- "$opt" <<<"$page" || fail "option $opt of --help is not in oci-memguard(8)"
	done
	for word in doctor explain "policy check" prestart createRuntime poststop STAGES LOGS "EXIT STATUS" FILES \
		events.jsonl ledger.json "OK, WARN or FAIL" verdict "moby/moby#50466" "microsoft/WSL#11066" TROUBLESHOOTING; do
		grep -qF -- "$word" <<<"$page" || fail "'$word' is not in oci-memguard(8)"
	done
}

@test "oci-memguard-policy(5) documents every key the parser accepts, and its example policies are valid" {
	local key f n=0
	for key in description match images annotations commands cgroups build memory min low swappiness detect builder \
		reclaim when available_below order drop_caches compact timeout_ms after overrides max_min max_low on_error; do
		grep -qE "\\*$key\\*|\"$key\"" "$TOP/man/oci-memguard-policy.5.scd" || fail "policy key '$key' is not in oci-memguard-policy(5)"
	done
	mkdir -p "$BATS_TEST_TMPDIR/ex"
	awk -v d="$BATS_TEST_TMPDIR/ex" '/^```$/ { if (f) { close(out); f = 0 } else { n++; out = sprintf("%s/%02d.json", d, n); f = 1 }; next } f { print > out }' \
		"$TOP/man/oci-memguard-policy.5.scd"
	for f in "$BATS_TEST_TMPDIR"/ex/*.json; do
		n=$((n + 1))
		run "$MEMGUARD_BIN" policy check "$f"
		assert_success
	done
	[[ $n -ge 4 ]] || fail "only $n example policies found"
}

@test "the roff page of the wrapper is generated, not kept in the tree" {
	assert_file_exists "$TOP/man/oci-memguard-runtime.8.scd"
	assert_file_not_exists "$TOP/wrapper/oci-memguard-runtime.8"
}

@test "make install puts the man pages under MANDIR, make uninstall removes them" {
	command -v scdoc >/dev/null || skip "scdoc not installed (conformance/install-test-deps.sh installs it)"
	local dest="$BATS_TEST_TMPDIR/dest"
	run make -s -C "$TOP" install DESTDIR="$dest" PREFIX=/usr
	assert_success
	assert_file_exists "$dest/usr/share/man/man8/oci-memguard.8"
	assert_file_exists "$dest/usr/share/man/man8/oci-memguard-runtime.8"
	assert_file_exists "$dest/usr/share/man/man5/oci-memguard-policy.5"
	run stat -c %a "$dest/usr/share/man/man5/oci-memguard-policy.5"
	assert_output 644
	run make -s -C "$TOP" uninstall DESTDIR="$dest" PREFIX=/usr
	assert_success
	assert_file_not_exists "$dest/usr/share/man/man8/oci-memguard.8"
	assert_file_not_exists "$dest/usr/share/man/man5/oci-memguard-policy.5"
}
