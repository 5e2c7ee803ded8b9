#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# install.sh: into a DESTDIR (nothing outside it), and into the root of this
# machine: registration with the engines found (hooks.d, daemon.json with
# existing keys kept, the BuildKit shim), idempotence, --dry-run, and
# --uninstall leaving no trace.
#
# The cases that write to the root run inside conformance/clean-root.sh: a
# private mount namespace whose /etc, /usr/local, /usr/share, /var/lib,
# /var/log and /run are overlays of this host's, with oci-memguard
# uninstalled inside them if the host has it. So they run the same before
# and after README's `sudo ./install.sh`, and never change the host or its
# installation. Each such @test runs its case (a function below) through
# on_clean_root, which runs this file again inside, filtered to that test;
# there the case snapshots the (overlaid) root first and puts back whatever
# install.sh did not, even on failure.

load helpers
load engine-helpers

SRC="$BATS_TEST_DIRNAME/.."

# Everything install.sh may touch: names, types, modes, sizes, link targets
# everywhere, and contents where the files are small.
host_paths=(/usr/local /usr/share/oci-memguard /usr/share/containers /etc/oci-memguard /etc/docker /etc/default/docker
	/etc/systemd/system/docker.service.d /etc/containerd /var/lib/oci-memguard /run/oci-memguard /var/log/oci-memguard)
install_snapshot() {
	local p
	for p in "${host_paths[@]}"; do
		[[ -e "$p" ]] || { echo "absent $p"; continue; }
		find "$p" -printf '%p %y %m %s %l\n' | sort
	done
	for p in /etc/docker /etc/default/docker /usr/share/containers /etc/oci-memguard /usr/share/oci-memguard; do
		[[ -e "$p" ]] && find "$p" -type f -print0 | sort -z | xargs -0 -r sha256sum
	done
	true
}

setup_file() {
	[[ $(id -u) -eq 0 ]] || return 0
	# inside clean-root.sh: the outer run holds the lock
	[[ -z "${MEMGUARD_CLEAN_ROOT:-}" ]] || return 0
	# One install at a time, and no suite's /etc/oci-memguard mount point in
	# between (it would be copied into the namespace), across concurrent
	# bats runs: the engines the end-to-end case starts share the host's
	# cgroups. (The engines' own state dirs are in the overlays.)
	host_lock
}

teardown_file() {
	[[ -z "${MEMGUARD_CLEAN_ROOT:-}" ]] || return 0
	host_unlock
}

setup() {
	requires root
	# outside the namespace nothing of the root is touched (on_clean_root)
	[[ -n "${MEMGUARD_CLEAN_ROOT:-}" ]] || return 0
	SAVE="$BATS_TEST_TMPDIR/save"
	mkdir -p "$SAVE"
	install_snapshot >"$SAVE/before"
	# for teardown: the files registration edits
	local f
	for f in /etc/docker/daemon.json /etc/default/docker; do
		[[ -e "$f" ]] && cp -p "$f" "$SAVE/$(mg_name "$f")"
	done
	true
}

mg_name() { printf '%s' "${1//\//%}"; }

teardown() {
	[[ -n "${SAVE:-}" ]] || return 0
	# install.sh --uninstall is what is under test; this only makes sure
	# the host is back even when a test failed half way.
	e2e_cleanup
	rm -f /etc/oci-memguard/policy.d/50-install-test.json
	if [[ -f /var/lib/oci-memguard/manifest ]]; then
		"$SRC/install.sh" --uninstall --purge >/dev/null 2>&1 || true
	fi
	local f
	for f in /etc/docker/daemon.json /etc/default/docker; do
		if [[ -e "$SAVE/$(mg_name "$f")" ]]; then
			cmp -s "$f" "$SAVE/$(mg_name "$f")" || cp -p "$SAVE/$(mg_name "$f")" "$f"
		else
			rm -f "$f"
		fi
	done
	rm -rf /var/lib/oci-memguard
}

assert_no_trace() {
	install_snapshot >"$SAVE/after"
	run diff "$SAVE/before" "$SAVE/after"
	assert_success
}

# on_clean_root CASE: runs the function CASE in a clean root (see the top of
# this file): this file again, under clean-root.sh, filtered to the current
# test, which there calls CASE itself. A skip inside is this test's skip.
on_clean_root() {
	if [[ -n "${MEMGUARD_CLEAN_ROOT:-}" ]]; then
		"$@"
		return
	fi
	local filter env=() v
	filter="^$(printf '%s' "$BATS_TEST_DESCRIPTION" | sed 's/[][\\.*^$+?(){}|]/\\&/g')\$"
	# a fresh bats: none of this run's BATS_* variables, nor its libexec
	# first on PATH
	env=("PATH=${PATH//$BATS_LIBEXEC:/}")
	for v in HOME LANG TERM BATS_LIB_PATH $(compgen -e MEMGUARD_); do
		[[ -n "${!v+x}" ]] && env+=("$v=${!v}")
	done
	run "$BATS_TEST_DIRNAME/clean-root.sh" "$BATS_TEST_TMPDIR/clean-root" \
		env -i "${env[@]}" MEMGUARD_CLEAN_ROOT=1 bats --print-output-on-failure --filter "$filter" "$BATS_TEST_FILENAME"
	if [[ "$status" -eq 0 ]] && grep -q '^ok 1 .* # skip' <<<"$output"; then
		local reason
		reason=$(sed -n 's/^ok 1 .* # skip *(\(.*\))$/\1/p' <<<"$output")
		skip "${reason:-skipped in the clean root}"
	fi
	if [[ "$status" -ne 0 ]] || ! grep -qx '1\.\.1' <<<"$output" || ! grep -q '^ok 1 ' <<<"$output"; then
		printf '%s\n' "$output"
		fail "the case did not pass in the clean root (clean-root.sh, output above)"
	fi
}

@test "DESTDIR install: programs, hooks.d (one file per stage), shim and man page under DESTDIR only; uninstall empties it" { on_clean_root case_destdir; }
case_destdir() {
	local dest="$BATS_TEST_TMPDIR/pkg"
	DESTDIR="$dest" run "$SRC/install.sh"
	assert_success
	assert_file_executable "$dest/usr/local/bin/oci-memguard"
	assert_file_executable "$dest/usr/local/bin/oci-memguard-runtime"
	assert_equal "$(readlink "$dest/usr/local/lib/oci-memguard/shim/runc")" /usr/local/bin/oci-memguard-runtime
	assert_file_exists "$dest/usr/local/share/man/man8/oci-memguard-runtime.8"
	local st
	for st in prestart poststop; do
		run jq -c '[.version, .hook.path, .hook.args, .when, .stages]' "$dest/usr/share/containers/oci/hooks.d/oci-memguard-$st.json"
		assert_output "[\"1.0.0\",\"/usr/local/bin/oci-memguard\",[\"oci-memguard\",\"$st\"],{\"always\":true},[\"$st\"]]"
	done
	assert_no_trace
	DESTDIR="$dest" run "$SRC/install.sh" --uninstall
	assert_success
	run find "$dest" -mindepth 1
	assert_output ""
	assert_no_trace
}

@test "real root: install registers with what it finds, a second run changes nothing, --uninstall leaves no trace" { on_clean_root case_install_twice_uninstall; }
case_install_twice_uninstall() {
	run "$SRC/install.sh"
	assert_success
	assert_file_executable /usr/local/bin/oci-memguard-runtime
	assert_file_exists /usr/share/containers/oci/hooks.d/oci-memguard-prestart.json
	assert_file_exists /usr/share/containers/oci/hooks.d/oci-memguard-poststop.json
	if command -v dockerd >/dev/null || [[ -d /etc/docker ]]; then
		run jq -c '.runtimes["oci-memguard"]' /etc/docker/daemon.json
		assert_output '{"path":"/usr/local/bin/oci-memguard-runtime"}'
		run jq -r '.["default-runtime"] // "none"' /etc/docker/daemon.json
		assert_output none
	fi
	install_snapshot >"$SAVE/once"
	run "$SRC/install.sh"
	assert_success
	refute_output --partial "updated"
	install_snapshot >"$SAVE/twice"
	run diff "$SAVE/once" "$SAVE/twice"
	assert_success

	run "$SRC/install.sh" --uninstall
	assert_success
	assert_no_trace
}

@test "real root: --dry-run prints what it would do and changes nothing" { on_clean_root case_dry_run; }
case_dry_run() {
	run "$SRC/install.sh" --dry-run
	assert_success
	assert_output --partial "would run: make"
	if command -v dockerd >/dev/null || [[ -d /etc/docker ]]; then
		assert_output --partial "would write /etc/docker/daemon.json"
	fi
	assert_no_trace
}

@test "real root, Docker: existing daemon.json keys are kept, --docker-default sets default-runtime, uninstall restores it byte for byte" { on_clean_root case_docker_keys_kept; }
case_docker_keys_kept() {
	requires dockerd
	mkdir -p /etc/docker
	printf '{\n    "log-driver": "json-file",\n    "runtimes": {"nvidia": {"path": "/usr/bin/nvidia-container-runtime"}}\n}\n' >/etc/docker/daemon.json
	cp /etc/docker/daemon.json "$SAVE/ours-before.json"
	install_snapshot >"$SAVE/before"
	run "$SRC/install.sh" --docker-default
	assert_success
	run jq -c '[.["log-driver"], (.runtimes | keys), .runtimes["oci-memguard"].path, .["default-runtime"]]' /etc/docker/daemon.json
	assert_output '["json-file",["nvidia","oci-memguard"],"/usr/local/bin/oci-memguard-runtime","oci-memguard"]'
	run "$SRC/install.sh" --uninstall
	assert_success
	cmp /etc/docker/daemon.json "$SAVE/ours-before.json"
	assert_no_trace
}

@test "real root, Docker: daemon.json edited after install: uninstall removes only oci-memguard's keys" { on_clean_root case_docker_edited_after; }
case_docker_edited_after() {
	requires dockerd
	run "$SRC/install.sh" --docker-default
	assert_success
	jq '. + {"debug": true}' /etc/docker/daemon.json >"$BATS_TEST_TMPDIR/d.json"
	cat "$BATS_TEST_TMPDIR/d.json" >/etc/docker/daemon.json
	run "$SRC/install.sh" --uninstall
	assert_success
	assert_output --partial "removed oci-memguard's part of /etc/docker/daemon.json"
	run jq -c . /etc/docker/daemon.json
	assert_output '{"debug":true}'
}

@test "real root, Docker without systemd: the BuildKit shim goes first on PATH in /etc/default/docker, and comes out again" { on_clean_root case_docker_init_path; }
case_docker_init_path() {
	requires dockerd
	[[ -d /run/systemd/system ]] && skip "systemd runs here: the drop-in path is used instead"
	[[ -f /etc/default/docker ]] || skip "no /etc/default/docker (docker.io's init script) on this host"
	run "$SRC/install.sh"
	assert_success
	run sed -n '/^# >>> oci-memguard/,/^# <<< oci-memguard/p' /etc/default/docker
	assert_output --partial 'export PATH="/usr/local/lib/oci-memguard/shim:$PATH"'
	# what the init script would give dockerd
	run env -i sh -c '. /etc/default/docker; command -v runc'
	assert_output /usr/local/lib/oci-memguard/shim/runc
	run "$SRC/install.sh" --uninstall
	assert_success
	assert_no_trace
}

@test "real root, end to end: after install.sh, podman (default hooks dir) and dockerd (installed daemon.json) run the installed hook; --uninstall --purge leaves no trace" { on_clean_root case_end_to_end; }
case_end_to_end() {
	local have_podman=0 have_dockerd=0
	command -v podman >/dev/null && have_podman=1
	command -v dockerd >/dev/null && [[ -x /usr/bin/docker ]] && have_dockerd=1
	((have_podman || have_dockerd)) || skip "neither podman nor dockerd installed"
	local had_docker_key=0
	[[ -e /etc/docker/key.json ]] && had_docker_key=1
	run "$SRC/install.sh"
	assert_success
	printf '{"match": {"images": ["*memguard-test*"]}, "memory": {"min": "32M"}}\n' >/etc/oci-memguard/policy.d/50-install-test.json
	chmod 0644 /etc/oci-memguard/policy.d/50-install-test.json
	local log=/var/log/oci-memguard/events.jsonl tmp
	tmp=$(mktemp -d /tmp/mg-e2e.XXXXXX)
	E2E_TMP="$tmp"
	busybox_tar "$tmp/busybox.tar"

	if ((have_podman)); then
		local P=(podman --root "$tmp/root" --runroot "$tmp/runroot" --tmpdir "$tmp/ptmp" --storage-driver overlay --events-backend file
			--runtime runc --cgroup-manager cgroupfs)
		"${P[@]}" import "$tmp/busybox.tar" localhost/memguard-test/busybox:1 >/dev/null
		run "${P[@]}" run --rm --cidfile "$tmp/podman.cid" --network none --cgroup-parent /memguard-test \
			--ulimit nofile=20000:20000 --ulimit nproc=32768:32768 localhost/memguard-test/busybox:1 echo hello
		assert_success
		local id
		id=$(cat "$tmp/podman.cid")
		assert_hook_lifecycle "$log" /run/oci-memguard "$id" "localhost/memguard-test/busybox:1" false
		"${P[@]}" rmi -af >/dev/null 2>&1 || true
		cgroups_cleanup memguard-test
	fi
	if ((have_dockerd)); then
		# the installed /etc/docker/daemon.json (default --config-file) plus
		# flags that keep this daemon off the host's Docker
		start_daemon_with_pidfile "$tmp/dockerd.pid" "$tmp/dockerd.log" dockerd --data-root "$tmp/data" \
			--exec-root "$tmp/exec" --pidfile "$tmp/exec/docker.pid" -H "unix://$tmp/docker.sock" \
			--iptables=false --ip6tables=false --bridge none --storage-driver overlay2 --cgroup-parent /memguard-test
		local D=(/usr/bin/docker -H "unix://$tmp/docker.sock")
		wait_for "${D[@]}" version || { cat "$tmp/dockerd.log" >&2; fail "dockerd did not come up"; }
		"${D[@]}" import "$tmp/busybox.tar" memguard-test/busybox:1 >/dev/null
		run "${D[@]}" run --rm --cidfile "$tmp/docker.cid" --runtime oci-memguard --network none memguard-test/busybox:1 echo hello
		assert_success
		local id
		id=$(cat "$tmp/docker.cid")
		assert_hook_lifecycle "$log" /run/oci-memguard "$id" "memguard-test/busybox:1" false
	fi
	e2e_cleanup
	rm -f /etc/oci-memguard/policy.d/50-install-test.json
	# dockerd's own identity key, written at its first start: not install.sh's
	((had_docker_key)) || rm -f /etc/docker/key.json
	run "$SRC/install.sh" --uninstall --purge
	assert_success
	assert_no_trace
}

e2e_cleanup() {
	[[ -n "${E2E_TMP:-}" ]] || return 0
	kill_pidfile "$E2E_TMP/dockerd.pid"
	kill_leftovers "$E2E_TMP"
	local m
	for m in $(awk -v r="$E2E_TMP/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$E2E_TMP"
	E2E_TMP=
	cgroups_cleanup memguard-test
}

# a daemon with the host's own /etc/oci-memguard view, pid recorded
start_daemon_with_pidfile() {
	local pidfile="$1" log="$2"
	shift 2
	sh -c 'echo $$ >"$1" && shift && exec "$@"' sh "$pidfile" "$@" >"$log" 2>&1 3>&- &
}

# ---- examples/ (no host changes) ------------------------------------------

@test "examples/policies: every policy is valid (oci-memguard policy check)" {
	[[ -x "$MEMGUARD_BIN" ]] || fail "hook not built"
	local dir="$BATS_TEST_TMPDIR/policies"
	# root-owned copies: the checker refuses policy files another user could
	# have written (owner and mode)
	mkdir -p "$dir"
	install -m 0644 -o 0 -g 0 "$SRC"/examples/policies/*.json "$dir/"
	run "$MEMGUARD_BIN" policy check "$dir"
	assert_success
	run ls "$dir"
	assert_output --partial 10-go-builder.json
}

@test "examples/policies applied by the hook (fixture cgroup v2 host): builders are builds, the database gets min, the batch job nothing" {
	[[ -x "$MEMGUARD_BIN" ]] || fail "hook not built"
	make_sysroot v2
	local dir="$BATS_TEST_TMPDIR/policies"
	mkdir -p "$dir"
	install -m 0644 -o 0 -g 0 "$SRC"/examples/policies/*.json "$dir/"

	mk_cgroup /memguard/db
	mk_proc 4242 /memguard/db
	make_bundle db /memguard/db "$(storage_image db postgres:16)"
	state_for db 4242
	hook_run prestart --policy-dir "$dir"
	assert_success
	assert_equal "$(cg_value /memguard/db memory.min)" 1073741824
	assert_equal "$(cg_value /memguard/db memory.low)" 4294967296
	run log_field '.policies | join(",")'
	assert_output "40-database.json"

	mk_cgroup /memguard/go
	mk_proc 4343 /memguard/go
	make_bundle go /memguard/go "$(storage_image go golang:1.22)"' | .process.args = ["/bin/sh", "-c", "go build ./..."]'
	state_for go 4343
	hook_run prestart --policy-dir "$dir"
	assert_success
	run log_field '"\(.build) \(.build_signal) \(.policies | join(","))"'
	assert_output "true /bin/sh -c in a builder image 10-go-builder.json,30-all-builds.json,31-build-step-limits.json"

	mk_cgroup /memguard/etl
	mk_proc 4444 /memguard/etl
	make_bundle etl /memguard/etl "$(storage_image etl registry.example.com/batch/etl:3)"
	state_for etl 4444
	hook_run prestart --policy-dir "$dir"
	assert_success
	assert_equal "$(cg_value /memguard/etl memory.min)" 0
	assert_equal "$(cg_value /memguard/etl memory.low)" 0
	run log_field '"\(.build) \(.policies | join(","))"'
	assert_output "false 90-batch-unprotected.json"
}

@test "examples: hooks.d files match what make install ships; JSON files parse; the DaemonSet is valid YAML with valid embedded files" {
	local st
	for st in prestart poststop; do
		run diff <(sed 's|@BINDIR@|/usr/local/bin|' "$SRC/install.d/hooks.d/oci-memguard-$st.json.in") "$SRC/examples/hooks.d/oci-memguard-$st.json"
		assert_success
	done
	local f
	for f in "$SRC"/examples/*/*.json "$SRC"/examples/policies/*.json; do
		jq -e . "$f" >/dev/null || fail "$f: not JSON"
	done
	run python3 -c '
import json, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
kinds = [d["kind"] for d in docs]
assert kinds == ["Namespace", "ConfigMap", "ConfigMap", "DaemonSet"], kinds
for d in docs:
    if d["kind"] == "ConfigMap":
        for name, text in d["data"].items():
            json.loads(text)
            print(name)
ds = docs[-1]["spec"]["template"]["spec"]
assert ds["initContainers"][0]["securityContext"]["privileged"]
' "$SRC/examples/kubernetes/daemonset.yaml"
	assert_success
	assert_output --partial oci-memguard-prestart.json
}
