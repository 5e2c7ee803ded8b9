#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# oci-memguard-runtime (SPEC §6) with a fake real runtime that records its
# argv and cwd: which subcommands get hooks, how the bundle is found, that
# config.json keeps everything it had, that argv reaches the real runtime
# untouched, and that every failure still starts the container. The wrapper
# reads only /etc/oci-memguard/runtime.conf: each test gives it its own file
# in a private mount namespace (engine-helpers.bash).

load helpers
load engine-helpers

setup_file() {
	[[ $(id -u) -eq 0 ]] || return 0
	host_lock
	# A fake runtime in C: a script would lose argv[0] to the shebang.
	mkdir -p "$BATS_FILE_TMPDIR/fake"
	cat >"$BATS_FILE_TMPDIR/fake/fake-runc.c" <<-'C'
		#include <limits.h>
		#include <stdio.h>
		#include <string.h>
		#include <unistd.h>
		int main(int argc, char **argv) {
			char self[PATH_MAX], out[PATH_MAX + 16], cwd[PATH_MAX];
			ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
			if (n < 0) return 99;
			self[n] = 0;
			*strrchr(self, '/') = 0;
			snprintf(out, sizeof out, "%s/argv.out", self);
			FILE *f = fopen(out, "w");
			for (int i = 0; i < argc; i++) fprintf(f, "%s\n", argv[i]);
			fclose(f);
			snprintf(out, sizeof out, "%s/cwd.out", self);
			f = fopen(out, "w");
			fprintf(f, "%s\n", getcwd(cwd, sizeof cwd));
			fclose(f);
			return 0;
		}
	C
	cc -o "$BATS_FILE_TMPDIR/fake/runc" "$BATS_FILE_TMPDIR/fake/fake-runc.c"
}

teardown_file() {
	host_unlock
}

setup() {
	requires root
	[[ -x "$MEMGUARD_WRAPPER_BIN" ]] || fail "wrapper not built: $MEMGUARD_WRAPPER_BIN (make all)"
	WORK="$BATS_TEST_TMPDIR/w"
	FAKE="$WORK/fake"
	mkdir -p "$WORK/etc" "$FAKE"
	cp "$BATS_FILE_TMPDIR/fake/runc" "$FAKE/runc"
	# a stand-in hook: the wrapper only checks that it is executable
	printf '#!/bin/sh\nexit 0\n' >"$WORK/oci-memguard"
	chmod 0755 "$WORK/oci-memguard"
	write_runtime_conf "$WORK/etc" "runtime=$FAKE/runc" "hook=$WORK/oci-memguard" "log_file=$WORK/events.jsonl"
	etc_mountpoint_prepare "$BATS_FILE_TMPDIR"
	B="$WORK/bundle"
	mkdir -p "$B/rootfs"
	cat >"$B/config.json" <<-'J'
		{"ociVersion":"1.0.2","process":{"args":["/bin/sh","-c","true"],"cwd":"/","rlimits":[{"type":"RLIMIT_NOFILE","hard":1048576,"soft":1048576}],"oomScoreAdj":-1.50e2},"root":{"path":"rootfs"},"annotations":null,"hooks":{"prestart":[{"path":"/usr/bin/dockerd","args":["libnetwork-setkey","-exec-root=/var/run/docker","abc","def"]}]},"linux":{"cgroupsPath":"/memguard-test/x","resources":{"memory":{"limit":9007199254740993}}}}
	J
}

teardown() {
	etc_mountpoint_restore "$BATS_FILE_TMPDIR"
}

wrap() { # wrap ARGS...: the wrapper with $WORK/etc as /etc/oci-memguard
	in_memguard_ns "$WORK/etc" "$MEMGUARD_WRAPPER_BIN" "$@"
}

argv_out() { paste -sd' ' "$FAKE/argv.out"; }

@test "create --bundle DIR: prestart and poststop appended after Docker's libnetwork-setkey, argv untouched" {
	run wrap --root /run/x --log /tmp/l.json --log-format json --systemd-cgroup create --bundle "$B" --pid-file /tmp/p ctr-1
	assert_success
	run argv_out
	assert_output "$MEMGUARD_WRAPPER_BIN --root /run/x --log /tmp/l.json --log-format json --systemd-cgroup create --bundle $B --pid-file /tmp/p ctr-1"
	run jq -c '.hooks.prestart | map(.args[0])' "$B/config.json"
	assert_output '["libnetwork-setkey","oci-memguard"]'
	run jq -c --arg h "$WORK/oci-memguard" --arg w "$WORK" '.hooks.prestart[1] == {path: $h, args: ["oci-memguard", "prestart", "--log-file=\($w)/events.jsonl"], timeout: 10}' "$B/config.json"
	assert_output true
	run jq -c '.hooks.poststop | map(.args[:2])' "$B/config.json"
	assert_output '[["oci-memguard","poststop"]]'
}

@test "create: numbers keep their text, every other key is kept, mode and owner too" {
	chmod 0600 "$B/config.json"
	chown 1234:2345 "$B/config.json"
	jq -c 'del(.hooks)' "$B/config.json" >"$WORK/orig-nohooks.json"
	run wrap create --bundle "$B" ctr-1
	assert_success
	grep -q '"oomScoreAdj":-1.50e2' "$B/config.json"
	grep -q '"limit":9007199254740993' "$B/config.json"
	grep -q '"annotations":null' "$B/config.json"
	run stat -c '%a %u:%g' "$B/config.json"
	assert_output "600 1234:2345"
	run jq -c 'del(.hooks)' "$B/config.json"
	assert_output "$(cat "$WORK/orig-nohooks.json")"
	assert_file_not_exists "$WORK/events.jsonl"
}

@test "bundle spellings: --bundle=DIR, -b DIR, -b=DIR, -bundle DIR, and the cwd without --bundle" {
	local form
	for form in "--bundle=$B" "-b $B" "-b=$B" "-bundle $B" ""; do
		cp "$B/config.json" "$WORK/orig.json"
		jq -c 'del(.hooks)' "$WORK/orig.json" >"$B/config.json"
		# shellcheck disable=SC2086
		(cd "$B" && in_memguard_ns "$WORK/etc" "$MEMGUARD_WRAPPER_BIN" create $form --console-socket /tmp/s ctr-2)
		run jq -r '[.hooks.prestart[].args[1], .hooks.poststop[].args[1]] | join(",")' "$B/config.json"
		assert_output "prestart,poststop"
	done
	run cat "$FAKE/cwd.out"
	assert_output "$B"
}

@test "run (BuildKit's 'runc run --bundle DIR ID') gets the hooks too" {
	run wrap run --bundle "$B" buildkit-step-1
	assert_success
	run jq -r '.hooks.prestart | length' "$B/config.json"
	assert_output 2
	run argv_out
	assert_output "$MEMGUARD_WRAPPER_BIN run --bundle $B buildkit-step-1"
}

@test "running twice adds nothing the second time; a createRuntime oci-memguard hook counts as the start hook" {
	wrap create --bundle "$B" ctr-3
	cp "$B/config.json" "$WORK/once.json"
	wrap create --bundle "$B" ctr-3
	cmp "$WORK/once.json" "$B/config.json"
	# hooks.d-style registration already present (Podman 5 makes prestart createRuntime)
	jq '.hooks = {createRuntime: [{path: "/usr/bin/oci-memguard", args: ["oci-memguard", "prestart"]}], poststop: [{path: "/usr/bin/oci-memguard", args: ["oci-memguard", "poststop"]}]}' "$WORK/once.json" >"$B/config.json"
	cp "$B/config.json" "$WORK/hooksd.json"
	wrap create --bundle "$B" ctr-3
	cmp "$WORK/hooksd.json" "$B/config.json"
}

@test "other subcommands (start, delete, state, kill, exec, features) pass straight through and touch nothing" {
	cp "$B/config.json" "$WORK/orig.json"
	local sub
	for sub in start delete state kill exec features; do
		(cd "$B" && in_memguard_ns "$WORK/etc" "$MEMGUARD_WRAPPER_BIN" --root /run/x "$sub" ctr-4)
		run argv_out
		assert_output "$MEMGUARD_WRAPPER_BIN --root /run/x $sub ctr-4"
	done
	cmp "$WORK/orig.json" "$B/config.json"
	# "--root create" is a global option's value, not the subcommand
	(cd "$B" && in_memguard_ns "$WORK/etc" "$MEMGUARD_WRAPPER_BIN" --root create state ctr-4)
	cmp "$WORK/orig.json" "$B/config.json"
}

@test "malformed config.json [syntax]: unchanged, the runtime still runs, the wrapper logs why" {
	printf '{"ociVersion": "1.0.2", "hooks": {' >"$B/config.json"
	cp "$B/config.json" "$WORK/orig.json"
	run wrap create --bundle "$B" ctr-5
	assert_success
	cmp "$WORK/orig.json" "$B/config.json"
	run argv_out
	assert_output "$MEMGUARD_WRAPPER_BIN create --bundle $B ctr-5"
	run jq -r '"\(.stage) \(.id) \(.errors[0])"' "$WORK/events.jsonl"
	assert_output --partial "runtime-wrapper ctr-5 config.json:"
	assert_output --partial "syntax"
}

@test "hooks of the wrong type [type], config.json a symlink, a missing bundle: unchanged, started, logged" {
	jq '.hooks.prestart = {"path": "/x"}' "$B/config.json" >"$WORK/bad.json"
	cp "$WORK/bad.json" "$B/config.json"
	run wrap create --bundle "$B" ctr-6
	assert_success
	cmp "$WORK/bad.json" "$B/config.json"
	run jq -r -s '.[-1].errors[0]' "$WORK/events.jsonl"
	assert_output --partial "type"

	mv "$B/config.json" "$WORK/real.json"
	ln -s "$WORK/real.json" "$B/config.json"
	run wrap create --bundle "$B" ctr-6
	assert_success
	cmp "$WORK/bad.json" "$WORK/real.json"
	[[ -L "$B/config.json" ]]

	run wrap create --bundle "$WORK/nonexistent" ctr-6
	assert_success
	run argv_out
	assert_output "$MEMGUARD_WRAPPER_BIN create --bundle $WORK/nonexistent ctr-6"
	run jq -r -s 'length' "$WORK/events.jsonl"
	assert_output 3
}

@test "the hook binary is missing: no hooks are added (a missing hook path would fail the start), logged" {
	rm "$WORK/oci-memguard"
	cp "$B/config.json" "$WORK/orig.json"
	run wrap create --bundle "$B" ctr-7
	assert_success
	cmp "$WORK/orig.json" "$B/config.json"
	run jq -r '.errors[0]' "$WORK/events.jsonl"
	assert_output --partial "is not executable"
}

@test "runtime.conf: hook_arg lines and timeout go into the entries; log_file is passed as --log-file" {
	write_runtime_conf "$WORK/etc" "# comment" "" "runtime = $FAKE/runc" "hook=$WORK/oci-memguard" "timeout=3" \
		"hook_arg=--policy-dir=/srv/policies" "hook_arg=--no-syslog"
	run wrap create --bundle "$B" ctr-8
	assert_success
	run jq -c '.hooks.poststop[0] | [.args, .timeout]' "$B/config.json"
	assert_output '[["oci-memguard","poststop","--policy-dir=/srv/policies","--no-syslog"],3]'
}

@test "runtime.conf with an unknown key or a bad timeout: those lines are ignored with an error, the rest applies" {
	write_runtime_conf "$WORK/etc" "runtime=$FAKE/runc" "hook=$WORK/oci-memguard" "log_file=$WORK/events.jsonl" "runtmie=/usr/bin/crun" "timeout=0"
	run wrap create --bundle "$B" ctr-9
	assert_success
	run argv_out
	assert_output --partial "create --bundle $B ctr-9"
	run jq -r '.errors[0]' "$WORK/events.jsonl"
	assert_output --partial "unknown key 'runtmie'"
	assert_output --partial "timeout must be 1..3600"
	run jq -r '.hooks.prestart[1].timeout' "$B/config.json"
	assert_output 10
}

@test "runtime.conf group/world writable [mode]: ignored as a whole, the default runtime runs" {
	chmod 0666 "$WORK/etc/runtime.conf"
	requires runc
	run wrap --version
	assert_success
	assert_output --partial "runc version"
	refute [ -e "$FAKE/argv.out" ]
}

@test "no runtime.conf: the first of the fixed list (runc here) runs" {
	requires runc
	rm "$WORK/etc/runtime.conf"
	run wrap --version
	assert_success
	assert_output --partial "runc version"
}

@test "never itself: runtime= naming the wrapper, or a 'runc' shim linking to it, falls through to the real runc" {
	requires runc
	ln -s "$MEMGUARD_WRAPPER_BIN" "$WORK/runc"
	write_runtime_conf "$WORK/etc" "runtime=$WORK/runc" "log_file=$WORK/events.jsonl"
	run in_memguard_ns "$WORK/etc" "$WORK/runc" --version
	assert_success
	assert_output --partial "runc version"
	run jq -r '.errors[0]' "$WORK/events.jsonl"
	assert_output --partial "is missing, not executable or this wrapper"
}

@test "wrapper + real runc run + real hook: the hook runs at prestart and poststop for the container" {
	requires runc
	requires_built
	test_policies "$WORK"
	mapfile -t lines < <(hook_conf_lines "$WORK")
	write_runtime_conf "$WORK/etc" "${lines[@]}"
	rm -rf "$B"
	mkdir -p "$B"
	busybox_rootfs "$B/rootfs"
	(cd "$B" && runc spec)
	local id="memguard-wrap-$$"
	jq --arg cg "/memguard-test/$id" '.process.terminal = false | .process.args = ["/bin/true"] | .linux.cgroupsPath = $cg
		| .annotations = {"oci-memguard.image": "memguard-test/app:1"}' "$B/config.json" >"$B/c.json"
	mv "$B/c.json" "$B/config.json"
	run wrap --root "$WORK/runc" run --bundle "$B" "$id"
	cgroups_cleanup memguard-test
	assert_success
	assert_hook_lifecycle "$WORK/events.jsonl" "$WORK/state" "$id" "memguard-test/app:1" false
}

@test "wrapper + runtime=crun from runtime.conf + real hook (private mount namespace without the hybrid hugetlb cgroup2)" {
	requires crun
	requires_built
	test_policies "$WORK"
	mapfile -t lines < <(hook_conf_lines "$WORK")
	write_runtime_conf "$WORK/etc" "runtime=$(command -v crun)" "${lines[@]}"
	rm -rf "$B"
	mkdir -p "$B"
	busybox_rootfs "$B/rootfs"
	(cd "$B" && crun spec)
	local id="memguard-wrap-crun-$$"
	jq --arg cg "/memguard-test/$id" '.process.terminal = false | .process.args = ["/bin/true"] | .linux.cgroupsPath = $cg
		| .annotations = {"oci-memguard.image": "memguard-test/app:2"}' "$B/config.json" >"$B/c.json"
	mv "$B/c.json" "$B/config.json"
	run unshare -m --propagation private sh -c '
		mount --bind "$1" /etc/oci-memguard || exit 1
		if grep -q " /sys/fs/cgroup/unified " /proc/self/mountinfo; then umount /sys/fs/cgroup/unified || exit 1; fi
		shift
		exec "$@"' sh "$WORK/etc" "$MEMGUARD_WRAPPER_BIN" --root "$WORK/crun" run --bundle "$B" "$id"
	cgroups_cleanup memguard-test
	assert_success
	assert_hook_lifecycle "$WORK/events.jsonl" "$WORK/state" "$id" "memguard-test/app:2" false
}
