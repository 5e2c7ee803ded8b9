#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Trust: a symlinked policy is judged by its target (owner, mode: whoever
# can retarget the link chose the content), and no path built from container input (id, cgroupsPath,
# /proc/<pid>/cgroup) makes the hook touch anything outside the sysroot's
# cgroupfs and state dir — checked over the whole test tree, not only the
# files a test expects.

load helpers

setup() {
	make_sysroot v2
	mk_cgroup /ctr/c1
	mk_proc 4001 /ctr/c1
	make_bundle c1 /ctr/c1
	state_for c1 4001
	TARGETS="$BATS_TEST_TMPDIR/targets"
	mkdir -p "$TARGETS"
}

target() { # target NAME JSON: a policy file outside the policy dirs (root, 0644)
	printf '%s\n' "$2" >"$TARGETS/$1"
	chmod 0644 "$TARGETS/$1"
}

@test "a symlinked policy whose target is root-owned and not writable by others is accepted" {
	target good.json '{"memory": {"min": "64M"}}'
	ln -s "$TARGETS/good.json" "$ADMIN_POLICY_DIR/10-link.json"
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /ctr/c1 memory.min)" 67108864
	run log_field '.policies | join(",")'
	assert_output "10-link.json"
}

@test "a symlinked policy whose target is not owned by root is refused (owner), though the link is root's" {
	target evil.json '{"memory": {"min": "4G"}}'
	chown 1000:1000 "$TARGETS/evil.json"
	ln -s "$TARGETS/evil.json" "$ADMIN_POLICY_DIR/10-link.json"
	[[ "$(stat -c %u "$ADMIN_POLICY_DIR/10-link.json")" == 0 ]]
	hook_run prestart
	assert_success
	assert_equal "$(cg_value /ctr/c1 memory.min)" 0
	run log_field '.errors | join(" ")'
	assert_output --partial "10-link.json:1:1: owner: owned by uid 1000"
	run "$MEMGUARD_BIN" policy check "$ADMIN_POLICY_DIR/10-link.json"
	assert_failure 1
	assert_output --partial "owner"
}

@test "a symlinked policy whose target is group or world writable is refused (mode), though the link is 0777" {
	local m
	for m in 0664 0646 0666; do
		target evil.json '{"memory": {"min": "4G"}}'
		chmod "$m" "$TARGETS/evil.json"
		ln -sfn "$TARGETS/evil.json" "$ADMIN_POLICY_DIR/10-link.json"
		hook_run prestart
		assert_success
		assert_equal "$(cg_value /ctr/c1 memory.min)" 0
		run log_field '.errors | join(" ")'
		assert_output --partial "10-link.json:1:1: mode: $m is group or world writable"
	done
}

@test "a policy reached through a chain of symlinks is judged by the last target; retargeting a link is seen at the next start" {
	target good.json '{"memory": {"min": "64M"}}'
	target evil.json '{"memory": {"min": "4G"}}'
	chown 1000 "$TARGETS/evil.json"
	ln -s "$TARGETS/good.json" "$TARGETS/hop"
	ln -s "$TARGETS/hop" "$ADMIN_POLICY_DIR/10-link.json"
	hook_run prestart
	assert_equal "$(cg_value /ctr/c1 memory.min)" 67108864
	# retarget the middle link to the bad file: refused, never served from
	# what was read before
	ln -sfn "$TARGETS/evil.json" "$TARGETS/hop"
	mk_cgroup /ctr/c2
	mk_proc 4002 /ctr/c2
	make_bundle c2 /ctr/c2
	state_for c2 4002
	hook_run prestart
	assert_equal "$(cg_value /ctr/c2 memory.min)" 0
	run log_field '.errors | join(" ")'
	assert_output --partial "owner"
	# the bad target made good in place (chown): accepted again
	chown 0 "$TARGETS/evil.json"
	mk_cgroup /ctr/c3
	mk_proc 4003 /ctr/c3
	make_bundle c3 /ctr/c3
	state_for c3 4003
	hook_run prestart
	assert_equal "$(cg_value /ctr/c3 memory.min)" 4294967296
}

@test "a dangling symlink or one to a FIFO is an error for that file alone; the others apply" {
	target good.json '{"memory": {"min": "64M"}}'
	cp "$TARGETS/good.json" "$ADMIN_POLICY_DIR/20-good.json"
	ln -s "$TARGETS/nowhere.json" "$ADMIN_POLICY_DIR/10-dangling.json"
	mkfifo "$TARGETS/fifo"
	ln -s "$TARGETS/fifo" "$ADMIN_POLICY_DIR/15-fifo.json"
	run timeout 10 "$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
	assert_success
	assert_equal "$(cg_value /ctr/c1 memory.min)" 67108864
	run log_field '.errors | join(" ")'
	assert_output --partial "10-dangling.json"
	assert_output --partial "15-fifo.json"
}

# ---- paths from container input ------------------------------------------

# Every file and directory of the test tree (sysroot, bundles, decoys next
# to it), with content and mtime; the state dir and the log may change.
tree_state() {
	(
		cd "$BATS_TEST_TMPDIR" || exit 1
		# (bats keeps its own files here: state-*, separate-stderr-*)
		find . -mindepth 1 -path ./root/run/oci-memguard -prune -o -path ./root/var/log/oci-memguard -prune -o \
			-path './state-*' -prune -o -path './separate-stderr-*' -prune -o -printf '%p %y %m %u %T@\n' | sort
		find . -mindepth 1 -path ./root/run/oci-memguard -prune -o -path ./root/var/log/oci-memguard -prune -o \
			-path './state-*' -prune -o -path './separate-stderr-*' -prune -o -type f -print0 | sort -z | xargs -0 sha256sum
	)
}

# decoys where an escaping path would land: memory files and a fake state
# dir outside the cgroupfs and outside the state dir
make_decoys() {
	policy 10.json '{"memory": {"min": "64M", "low": "64M"}}'
	local d
	for d in "$BATS_TEST_TMPDIR/escape" "$SYSROOT/escape" "$SYSROOT/sys/fs/escape" "$SYSROOT/sys/fs" "$SYSROOT" "$SYSROOT/run"; do
		mkdir -p "$d"
		echo 0 >"$d/memory.min"
		echo 0 >"$d/memory.low"
	done
	mkdir -p "$SYSROOT/run/containers"
	echo '{}' >"$SYSROOT/run/ledger.json"
	echo '{}' >"$SYSROOT/run/containers/victim.json"
	# a first, benign run creates the state dir and the log
	state_for c1 none
	hook_run poststop
	assert_success
	state_for c1 4001
}

assert_tree_unchanged() {
	local after
	after="$(tree_state)"
	[[ "$after" == "$BEFORE" ]] || fail "the hook changed the tree outside its state dir and log:
$(diff <(echo "$BEFORE") <(echo "$after"))"
}

@test "container ids with .., / or control characters touch nothing, at start or stop" {
	make_decoys
	start_container victim 4009 /ctr/victim # a record and a ledger a bad id could aim at
	cp "$STATE_DIR/ledger.json" "$BATS_TEST_TMPDIR/ledger.before"
	cp "$STATE_DIR/containers/victim.json" "$BATS_TEST_TMPDIR/victim.before"
	local files_before
	files_before=$(find "$STATE_DIR" -type f ! -name 'policy-cache*' -exec md5sum {} + | sort)
	BEFORE="$(tree_state)"
	local bad stage
	for bad in "../ledger" "../../escape/x" "containers/../victim" "victim/.." ".." "." "a/b" \
		$'c1\x01' $'c1\x1b[31m' $'c1\x7f' $'c1\tx' $'c1\r' $'\nvictim' 'c1\' "c1%s%n"; do
		for stage in prestart createRuntime poststop; do
			state_for c1 4001
			jq --arg id "$bad" '.id=$id' "$STATE_FILE" >"$STATE_FILE.new" && mv "$STATE_FILE.new" "$STATE_FILE"
			hook_run "$stage"
			assert_success
			[[ "$stage" == poststop ]] || [[ "$stderr" == *"invalid container id"* ]] || fail "id $(printf %q "$bad"): stderr: $stderr"
		done
	done
	assert_tree_unchanged
	cmp "$STATE_DIR/ledger.json" "$BATS_TEST_TMPDIR/ledger.before"
	cmp "$STATE_DIR/containers/victim.json" "$BATS_TEST_TMPDIR/victim.before"
	# no file added, removed or changed (node files, the lock included)
	assert_equal "$(find "$STATE_DIR" -type f ! -name 'policy-cache*' -exec md5sum {} + | sort)" "$files_before"
}

@test "cgroupsPath or /proc/<pid>/cgroup with .., control characters or systemd tricks writes nothing outside the cgroupfs" {
	make_decoys
	BEFORE="$(tree_state)"
	local cg
	for cg in "/../escape" "/ctr/../../escape" "../../../../escape" "/ctr/c1/../../../fs/escape" \
		$'/ctr/c1\n0::/escape' $'/ctr/c\x01' $'/ctr/\x1b[0m' "/ctr/./c1" \
		"system.slice:docker:../../escape" "../escape.slice:x:y" "a-..-b.slice:x:y" "-.slice:..:.." \
		"system.slice:docker:x:y" ":docker:/../escape"; do
		# the process's own cgroup file says it too (the first source)
		printf '0::%s\n' "$cg" >"$SYSROOT/proc/4001/cgroup"
		make_bundle c1 "$cg"
		BEFORE="$(tree_state)"
		hook_run prestart
		assert_success
		assert_tree_unchanged
		# without /proc/<pid>/cgroup: the cgroupsPath fallback alone
		rm "$SYSROOT/proc/4001/cgroup"
		BEFORE="$(tree_state)"
		hook_run prestart
		assert_success
		assert_tree_unchanged
	done
	# a record kept for a weird but valid name ("/..-...scope") names a
	# clean path inside the cgroupfs, never one with .. or a control character
	local f
	for f in "$STATE_DIR"/containers/*.json; do
		[[ -e "$f" ]] || continue
		run jq -r '.cgroup' "$f"
		assert_success
		[[ "$output" == /* && "/$output/" != */../* && "/$output/" != */./* && "$output" != *[[:cntrl:]]* ]] ||
			fail "record $f names cgroup $(printf %q "$output")"
	done
}

@test "a symlink swapped in for a cgroup directory or a memory file between starts is never followed" {
	make_decoys
	policy 10.json '{"memory": {"min": "64M"}}'
	mk_cgroup /ctr/c2
	rm "$CGROOT/ctr/c2/memory.min"
	ln -s "$BATS_TEST_TMPDIR/escape/memory.min" "$CGROOT/ctr/c2/memory.min"
	rm -rf "$CGROOT/ctr/c1"
	ln -s "$BATS_TEST_TMPDIR/escape" "$CGROOT/ctr/c1"
	mk_proc 4002 /ctr/c2
	make_bundle c2 /ctr/c2
	BEFORE="$(tree_state)"
	state_for c1 4001
	hook_run prestart # c1: its leaf is a symlink
	assert_success
	state_for c2 4002
	hook_run prestart # c2: its memory.min is a symlink
	assert_success
	assert_equal "$(cat "$BATS_TEST_TMPDIR/escape/memory.min")" 0
	# a leaf that cannot hold its claim raises no ancestor
	assert_equal "$(cg_value /ctr memory.min)" 0
	assert_tree_unchanged
}
