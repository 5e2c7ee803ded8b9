#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# oci-memguard-runtime with a fake real runtime that records its
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
	[[ -z "${STARVE_CG:-}" ]] || rmdir "$STARVE_CG" 2>/dev/null || true
	etc_mountpoint_restore "$BATS_FILE_TMPDIR"
}

wrap() { # wrap ARGS...: the wrapper with $WORK/etc as /etc/oci-memguard
	in_memguard_ns "$WORK/etc" "$MEMGUARD_WRAPPER_BIN" "$@"
}

argv_out() { paste -sd' ' "$FAKE/argv.out"; }

# wrap_guarded ARGS...: wrap under a hang guard (no time is asserted)
wrap_guarded() {
	# shellcheck disable=SC2016 # expanded by the inner sh
	timeout 120 unshare -m --propagation private sh -c 'mount --bind "$1" /etc/oci-memguard && shift && exec "$@"' \
		sh "$WORK/etc" "$MEMGUARD_WRAPPER_BIN" "$@"
}

# starve_cg: STARVE_CG, a cgroup allowed 2% of one CPU (removed by
# teardown), so that whatever runs in it takes 50 times as long.
starve_cg() {
	local cg
	if [[ -e /sys/fs/cgroup/cgroup.controllers ]] && grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control; then
		cg="/sys/fs/cgroup/memguard-test-starve-$$"
		mkdir -p "$cg"
		STARVE_CG="$cg"
		echo "2000 100000" >"$cg/cpu.max"
	elif [[ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
		cg="/sys/fs/cgroup/cpu/memguard-test-starve-$$"
		mkdir -p "$cg"
		STARVE_CG="$cg"
		echo 100000 >"$cg/cpu.cfs_period_us"
		echo 2000 >"$cg/cpu.cfs_quota_us"
	else
		skip "no cpu controller (cgroup v2 cpu.max or v1 cpu) to starve the wrapper with"
	fi
}

# wrap_starved ARGS...: wrap_guarded in STARVE_CG
wrap_starved() {
	# shellcheck disable=SC2016 # expanded by the inner sh
	timeout 120 sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$STARVE_CG" \
		unshare -m --propagation private sh -c 'mount --bind "$1" /etc/oci-memguard && shift && exec "$@"' \
		sh "$WORK/etc" "$MEMGUARD_WRAPPER_BIN" "$@"
}

@test "create --bundle DIR: prestart and poststop appended after Docker's libnetwork-setkey, argv untouched" {
	run wrap --root /run/x --log /tmp/l.json --log-format json --systemd-cgroup create --bundle "$B" --pid-file /tmp/p ctr-1
	assert_success
	run argv_out
	assert_output "$FAKE/runc --root /run/x --log /tmp/l.json --log-format json --systemd-cgroup create --bundle $B --pid-file /tmp/p ctr-1"
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
	assert_output "$FAKE/runc run --bundle $B buildkit-step-1"
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
		assert_output "$FAKE/runc --root /run/x $sub ctr-4"
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
	assert_output "$FAKE/runc create --bundle $B ctr-5"
	run jq -r '"\(.stage) \(.id) \(.errors[0])"' "$WORK/events.jsonl"
	assert_output --partial "runtime-wrapper ctr-5 invalid config.json, left unchanged for the runtime to reject: config.json:1:"
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
	assert_output "$FAKE/runc create --bundle $WORK/nonexistent ctr-6"
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

@test "the real runtime gets its own path as argv[0]: runc's help names runc, not the wrapper" {
	requires runc
	write_runtime_conf "$WORK/etc" "runtime=$(command -v runc)" "hook=$WORK/oci-memguard" "log_file=$WORK/events.jsonl"
	run wrap create -h
	assert_success
	assert_output --partial "runc create"
	refute_output --partial "oci-memguard-runtime"
}

@test "help flags (run -h, create --help, -help, -?, --usage, a global --help or --version) add no hooks and log nothing" {
	cp "$B/config.json" "$WORK/orig.json"
	local form
	for form in "run -h" "create --help" "create -help" "create ctr-h --help" "create -?" "create --usage" "restore -h" \
		"--help create" "-h run ctr-h" "--version create ctr-h" "-v run ctr-h"; do
		# shellcheck disable=SC2086
		(cd "$B" && in_memguard_ns "$WORK/etc" "$MEMGUARD_WRAPPER_BIN" $form)
		run argv_out
		assert_output "$FAKE/runc $form"
		cmp "$WORK/orig.json" "$B/config.json" || fail "'$form' changed config.json"
	done
	assert_file_not_exists "$WORK/events.jsonl"
}

@test "create, run or restore without a container id: no hooks, no 'started without hooks' record (the runtime reports its usage error)" {
	cp "$B/config.json" "$WORK/orig.json"
	local dir form
	for dir in "$B" "$WORK"; do
		for form in "create" "run" "create --pid-file /tmp/p --console-socket /tmp/s" "run --bundle $B" \
			"restore --image-path /ckpt --work-path /ckpt-work --bundle $B"; do
			# shellcheck disable=SC2086
			(cd "$dir" && in_memguard_ns "$WORK/etc" "$MEMGUARD_WRAPPER_BIN" $form)
			run argv_out
			assert_output "$FAKE/runc $form"
		done
	done
	cmp "$WORK/orig.json" "$B/config.json"
	assert_file_not_exists "$WORK/events.jsonl"
}

@test "invalid or missing config.json: logged as what it is, left for the runtime to reject, never as a started container" {
	local cfg
	for cfg in '{"ociVersion": "1.0.2", "hooks": {' '["not", "an", "object"]' '{"hooks": {"prestart": {"path": "/x"}}}' -; do
		if [[ "$cfg" == - ]]; then rm -f "$B/config.json"; else printf '%s' "$cfg" >"$B/config.json"; fi
		run wrap create --bundle "$B" ctr-inv
		assert_success
		run argv_out
		assert_output "$FAKE/runc create --bundle $B ctr-inv"
		run jq -r -s '.[-1].errors[0]' "$WORK/events.jsonl"
		assert_output --regexp "^invalid config.json, left unchanged for the runtime to reject: config.json(:[0-9]+:[0-9]+: syntax|: type|: No such file)"
		refute_output --regexp "container start|started"
	done
	run wrap create --bundle "$WORK/nonexistent" ctr-inv
	run jq -r -s '.[-1].errors[0]' "$WORK/events.jsonl"
	assert_output "bundle '$WORK/nonexistent': No such file or directory: no hooks added, the runtime reports it"
	run jq -r -s 'length' "$WORK/events.jsonl"
	assert_output 5
}

@test "restore gets the hooks as create does: the restored container runs again, protected, and its poststop gives back" {
	run wrap --root /run/x restore --image-path /ckpt --work-path /ckpt-work --manage-cgroups-mode soft --tcp-established -d --bundle "$B" ctr-r
	assert_success
	run argv_out
	assert_output "$FAKE/runc --root /run/x restore --image-path /ckpt --work-path /ckpt-work --manage-cgroups-mode soft --tcp-established -d --bundle $B ctr-r"
	run jq -r '[.hooks.prestart[].args[0], .hooks.poststop[].args[1]] | join(",")' "$B/config.json"
	assert_output "libnetwork-setkey,oci-memguard,poststop"
	assert_file_not_exists "$WORK/events.jsonl"
}

@test "config.json at the limits (16 MiB, 65536 annotations): the hooks are added, every annotation kept" {
	"$BATS_TEST_DIRNAME/../bench/gen-max-config.sh" "$B/config.json"
	jq -c . "$B/config.json" >"$WORK/orig.json"
	run wrap_guarded create --bundle "$B" ctr-max
	assert_success
	run jq -c 'del(.hooks)' "$B/config.json"
	assert_output "$(jq -c 'del(.hooks)' "$WORK/orig.json")"
	run jq -r '[.hooks.prestart[].args[1], .hooks.poststop[].args[1]] | join(",")' "$B/config.json"
	assert_output "prestart,poststop"
	assert_file_not_exists "$WORK/events.jsonl"
}

@test "one annotation past the cap, or a million tiny ones: config.json passed through untouched, the container starts, logged" {
	"$BATS_TEST_DIRNAME/../bench/gen-max-config.sh" "$B/config.json" 65537
	cp "$B/config.json" "$WORK/orig.json"
	run wrap_guarded create --bundle "$B" ctr-over
	assert_success
	cmp "$WORK/orig.json" "$B/config.json"
	run argv_out
	assert_output "$FAKE/runc create --bundle $B ctr-over"
	run jq -r -s '.[-1].errors[0]' "$WORK/events.jsonl"
	assert_output --regexp "^config.json:1:[0-9]+: size: 'annotations' has more than 65536 keys, container starts without oci-memguard hooks$"

	awk -v max=16777000 'BEGIN {
		printf "{\"annotations\":{"; n = 16
		for (i = 0; n < max; i++) { e = sprintf("%s\"%x\":0", i ? "," : "", i); printf "%s", e; n += length(e) }
		printf "}}\n"
	}' >"$B/config.json"
	cp "$B/config.json" "$WORK/orig.json"
	run wrap_guarded create --bundle "$B" ctr-tiny
	assert_success
	cmp "$WORK/orig.json" "$B/config.json"
	run jq -r -s '.[-1].errors[0]' "$WORK/events.jsonl"
	assert_output --partial "size: 'annotations' has more than 65536 keys"
}

@test "a wrapper starved of CPU gives up on config.json after its 1 s budget: passed through untouched, the container starts, logged" {
	"$BATS_TEST_DIRNAME/../bench/gen-max-config.sh" "$B/config.json"
	cp "$B/config.json" "$WORK/orig.json"
	starve_cg
	run wrap_starved create --bundle "$B" ctr-slow
	assert_success
	cmp "$WORK/orig.json" "$B/config.json"
	run argv_out
	assert_output "$FAKE/runc create --bundle $B ctr-slow"
	run jq -r -s '.[-1].errors[0]' "$WORK/events.jsonl"
	assert_output --regexp "^config.json(:[0-9]+:[0-9]+)?: time: not (parsed|rewritten) before the deadline, container starts without oci-memguard hooks$"
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
