#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# After reading its inputs the hook sets no_new_privs and loads a
# seccomp allowlist (the allowlist itself is unit-tested in
# conformance/unit/test-sandbox.c: exec and AF_INET sockets kill it).

load helpers

setup() {
	make_sysroot v2
	policy 10.json '{"memory": {"min": "64M"}}'
	mk_cgroup /ci/c1
	mk_proc 4001 /ci/c1
	make_bundle c1 /ci/c1
	state_for c1 4001
}

# bats test_tags=no_asan
@test "prestart and poststop confine themselves (no_new_privs, then a seccomp filter) and still do their work" {
	command -v strace >/dev/null || skip "strace not installed"
	run strace -f -e trace=prctl,seccomp -o "$BATS_TEST_TMPDIR/trace" "$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
	assert_success
	# no_new_privs, then the filter compiled at build time, loaded once;
	# nothing probes the kernel at run time any more
	run grep -c 'prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) = 0' "$BATS_TEST_TMPDIR/trace"
	assert_output 1
	run grep -cE '(prctl\(PR_SET_SECCOMP, SECCOMP_MODE_FILTER|seccomp\(SECCOMP_SET_MODE_FILTER, [^,]*), \{len=[0-9]+, filter=.*\) = 0$' "$BATS_TEST_TMPDIR/trace"
	assert_output 1
	run grep -c 'seccomp(' "$BATS_TEST_TMPDIR/trace"
	assert_output 0
	assert_equal "$(cg_value /ci/c1 memory.min)" 67108864
	rm -rf "${CGROOT:?}/ci/c1" "$SYSROOT/proc/4001"
	state_for c1 none
	run strace -f -e trace=prctl,seccomp -o "$BATS_TEST_TMPDIR/trace2" "$MEMGUARD_BIN" poststop --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
	assert_success
	run grep -cE '(prctl\(PR_SET_SECCOMP, SECCOMP_MODE_FILTER|seccomp\(SECCOMP_SET_MODE_FILTER, [^,]*), \{len=[0-9]+, filter=.*\) = 0$' "$BATS_TEST_TMPDIR/trace2"
	assert_output 1
	assert_equal "$(cg_value /ci memory.min)" 0
}

@test "--no-seccomp (debugging only) says so in the record" {
	hook_run prestart --no-seccomp
	assert_success
	run log_field '.skipped | join(" ")'
	assert_output --partial "seccomp disabled (--no-seccomp)"
}
