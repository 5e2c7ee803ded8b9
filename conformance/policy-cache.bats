#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The parsed policies kept between starts (<state dir>/policy-cache.<hash>,
# policy/policy_cache.c): a start still lists the directories and stats
# every file, and parses again any file whose stat (size, mtime, ctime,
# inode, owner, mode) changed. Files younger than 2 s are never cached, so
# these tests wait 3 s where a file must be in the cache.

load helpers

setup() {
	make_sysroot v2
	STATE_DIR="$SYSROOT/run/oci-memguard"
	policy 10-app.json '{"trust": ["oci-memguard.image"], "match": {"images": ["app:*"]}, "memory": {"min": "64M"}}'
	N=0
}

# start_next: a new container c<N> in /ci/c<N> (image app:1), prestart.
start_next() {
	N=$((N + 1))
	mk_cgroup "/ci/c$N"
	mk_proc "$((4000 + N))" "/ci/c$N"
	make_bundle "c$N" "/ci/c$N" '.annotations["oci-memguard.image"]="app:1"'
	state_for "c$N" "$((4000 + N))"
	hook_run prestart "$@"
	assert_success
}

# cache_ready: a start (the ledger makes the state dir where the cache
# lives), then once the files are old enough another that caches them.
cache_ready() {
	[[ -d "$STATE_DIR" ]] || start_next
	sleep 3
	start_next
	ls "$STATE_DIR"/policy-cache.* >/dev/null
}

# The ASan runtime opens its own files, which strace would count.
# bats test_tags=no_asan
@test "a start reads only files that changed: an unchanged policy comes from the cache, kept 0600" {
	start_next
	assert_equal "$(cg_value /ci/c1 memory.min)" 67108864
	cache_ready
	local cache
	cache="$(echo "$STATE_DIR"/policy-cache.*)"
	assert_equal "$(stat -c '%a %u' "$cache")" "600 0"
	command -v strace >/dev/null || skip "strace not installed"
	N=$((N + 1))
	mk_cgroup "/ci/c$N"
	mk_proc "$((4000 + N))" "/ci/c$N"
	make_bundle "c$N" "/ci/c$N" '.annotations["oci-memguard.image"]="app:1"'
	state_for "c$N" "$((4000 + N))"
	run strace -f -e trace=openat,newfstatat,fstatat64,statx -o "$BATS_TEST_TMPDIR/trace" \
		"$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$STATE_FILE"
	assert_success
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 67108864
	# stat()ed, never opened
	run grep -c '10-app.json' "$BATS_TEST_TMPDIR/trace"
	assert_output 1
	run grep -E 'openat\(.*10-app.json' "$BATS_TEST_TMPDIR/trace"
	assert_failure
	run log_field '.policies | join(" ")'
	assert_output "10-app.json"
}

@test "an in-place edit of the same size is seen at the next start" {
	cache_ready
	local f="$ADMIN_POLICY_DIR/10-app.json" ino
	ino="$(stat -c %i "$f")"
	printf '%s\n' '{"trust": ["oci-memguard.image"], "match": {"images": ["app:*"]}, "memory": {"min": "96M"}}' >"$f" # same inode, same size
	assert_equal "$(stat -c %i "$f")" "$ino"
	start_next
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 100663296
}

@test "chmod g+w or chown of a cached policy: refused at the next start, accepted again once fixed" {
	cache_ready
	local f="$ADMIN_POLICY_DIR/10-app.json"
	chmod 0664 "$f"
	start_next
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 0
	run log_field '.errors | join(" ")'
	assert_output --partial "10-app.json:1:1: mode: 0664 is group or world writable: refused"
	chmod 0644 "$f"
	chown 1000 "$f"
	start_next
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 0
	run log_field '.errors | join(" ")'
	assert_output --partial "owner: owned by uid 1000, not root: refused"
	chown 0 "$f"
	start_next
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 67108864
}

@test "a cached error is reported at every start, as when the file was read" {
	policy 20-bad.json '{"memory": {"min": "12Q"}}'
	cache_ready
	run log_field '.errors | join(" ")'
	local first="$output"
	assert_output --partial "20-bad.json:1:20: size:"
	start_next
	run log_field '.errors | join(" ")'
	assert_output "$first"
}

@test "the cache follows the directories: files added, removed, masked" {
	policy 10-app.json '{"trust": ["oci-memguard.image"], "match": {"images": ["app:*"]}, "memory": {"min": "32M"}}' "$VENDOR_POLICY_DIR"
	cache_ready
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 67108864 # the admin file masks the vendor file
	rm "$ADMIN_POLICY_DIR/10-app.json"
	start_next
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 33554432 # unmasked
	policy 20-more.json '{"trust": ["oci-memguard.image"], "match": {"images": ["app:*"]}, "memory": {"low": "128M"}}'
	start_next
	assert_equal "$(cg_value "/ci/c$N" memory.low)" 134217728
	rm "$VENDOR_POLICY_DIR/10-app.json" "$ADMIN_POLICY_DIR/20-more.json"
	start_next
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 0
	assert_equal "$(cg_value "/ci/c$N" memory.low)" 0
}

@test "a symlinked policy retargeted: the new target applies" {
	rm "$ADMIN_POLICY_DIR/10-app.json"
	policy a.conf '{"trust": ["oci-memguard.image"], "match": {"images": ["app:*"]}, "memory": {"min": "64M"}}' "$BATS_TEST_TMPDIR/targets"
	policy b.conf '{"trust": ["oci-memguard.image"], "match": {"images": ["app:*"]}, "memory": {"min": "80M"}}' "$BATS_TEST_TMPDIR/targets"
	ln -s "$BATS_TEST_TMPDIR/targets/a.conf" "$ADMIN_POLICY_DIR/10-app.json"
	cache_ready
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 67108864
	ln -sfn "$BATS_TEST_TMPDIR/targets/b.conf" "$ADMIN_POLICY_DIR/10-app.json"
	start_next
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 83886080
}

@test "a truncated, garbled, foreign-owned or group-readable cache is not trusted; it is rewritten" {
	cache_ready
	local cache
	cache="$(echo "$STATE_DIR"/policy-cache.*)"
	local size
	size="$(stat -c %s "$cache")"
	truncate -s $((size / 2)) "$cache"
	start_next
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 67108864
	assert_equal "$(stat -c %s "$cache")" "$size"
	head -c 64 "$cache" >"$cache.x" && head -c $((size - 64)) /dev/urandom >>"$cache.x" && mv "$cache.x" "$cache"
	chmod 0600 "$cache"
	start_next
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 67108864
	run log_field '.errors | length'
	assert_output 0
	chown 1000 "$cache"
	start_next
	assert_equal "$(stat -c %u "$cache")" 0
	chmod 0640 "$cache"
	start_next
	assert_equal "$(stat -c %a "$cache")" 600
	assert_equal "$(cg_value "/ci/c$N" memory.min)" 67108864
}

@test "every kind of match reads back the same from the cache (explain, before and after)" {
	policy 20-ann.json '{"match": {"annotations": {"team": "pay*"}}, "memory": {"low": "100M"}, "overrides": {"annotations": true, "max_min": "1G"}}'
	policy 30-cmd.json '{"match": {"commands": ["/bin/app"], "cgroups": ["/ci/*"]}, "build": {"swappiness": 15, "reclaim": {"when": "always", "order": 3, "drop_caches": 1, "compact": false, "timeout_ms": 500, "available_below": "5%"}}}'
	policy 40-no.json '{"trust": ["oci-memguard.image"], "match": {"images": ["other:*"], "commands": ["/bin/x"]}, "memory": {"min": "1G"}}'
	policy 50-build.json '{"match": {"build": true}, "description": "builds", "on_error": "fail", "build": {"after": {"when": "always", "reclaim": "64M"}}}'
	mk_cgroup /ci/x
	mk_proc 4999 /ci/x
	make_bundle x /ci/x '.annotations["oci-memguard.image"]="app:1" | .annotations.team="payments" | .annotations["oci-memguard.build"]="true" | .annotations["oci-memguard.min"]="200M"'
	local bx="$BUNDLE"
	# what matched and the merged policy (the planned writes differ: the
	# containers cache_ready starts share /ci)
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$bx" --pid 4999
	assert_success
	local before="${output%%planned writes*}"
	[[ "$before" == *"matched"*"20-ann.json"*"no match"*"40-no.json"* ]]
	cache_ready
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$bx" --pid 4999
	assert_success
	assert_equal "${output%%planned writes*}" "$before"
}

@test "--dry-run and explain read the cache but never write it" {
	sleep 3
	start_next --dry-run
	run ls "$STATE_DIR"
	refute_output --partial policy-cache
	run "$MEMGUARD_BIN" explain --sysroot "$SYSROOT" --bundle "$BUNDLE" --pid "$((4000 + N))"
	assert_success
	run ls "$STATE_DIR"
	refute_output --partial policy-cache
}

@test "a start decodes only the cached policies its image, command and cgroup can match; the same policies match as without the cache" {
	policy 20-other.json '{"trust": ["oci-memguard.image"], "match": {"images": ["registry.example.com/other/*"]}, "memory": {"min": "1G"}}'
	policy 30-glob.json '{"trust": ["oci-memguard.image"], "match": {"images": ["*:1"]}, "memory": {"low": "32M"}}'
	policy 40-class.json '{"trust": ["oci-memguard.image"], "match": {"images": ["[a]pp:*"]}, "build": {"swappiness": 20}}'
	policy 50-any.json '{"match": {"commands": ["*"]}, "memory": {"low": "48M"}}'
	policy 60-unknown-only.json '{"trust": ["oci-memguard.image"], "match": {"images": ["ap"]}, "memory": {"min": "2G"}}'
	policy 70-cmd.json '{"match": {"commands": ["/opt/other/*"]}, "memory": {"min": "3G"}}'
	policy 80-cg.json '{"trust": ["oci-memguard.image"], "match": {"cgroups": ["/ci/*"], "images": ["*/nomatch:*", "app:*"]}, "memory": {"low": "16M"}}'
	policy 90-cg.json '{"match": {"cgroups": ["/batch/*"]}, "memory": {"min": "4G"}}'
	start_next
	local fresh
	fresh="$(log_field '.policies | join(",")')"
	assert_equal "$fresh" "10-app.json,30-glob.json,40-class.json,50-any.json,80-cg.json"
	cache_ready
	start_next
	assert_equal "$(log_field '.policies | join(",")')" "$fresh"
	assert_equal "$(log_field '.errors | length')" 0
	# unknown image: only the policy without image patterns applies; every
	# entry, ruled out or not, stays in the cache (not rewritten)
	local cache before
	cache="$(echo "$STATE_DIR"/policy-cache.*)"
	before="$(stat -c '%i %Y' "$cache")"
	N=$((N + 1))
	mk_cgroup "/ci/c$N"
	mk_proc "$((4000 + N))" "/ci/c$N"
	make_bundle "c$N" "/ci/c$N"
	state_for "c$N" "$((4000 + N))"
	hook_run prestart
	assert_success
	assert_equal "$(log_field '.image')" ""
	assert_equal "$(log_field '.policies | join(",")')" "50-any.json"
	assert_equal "$(stat -c '%i %Y' "$cache")" "$before"
}
