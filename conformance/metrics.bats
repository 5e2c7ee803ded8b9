#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Prometheus textfile metrics (host.json metrics_dir): off unless set; the
# counters live in the state dir; the file is rewritten with write+rename
# under the ledger lock, so a reader never sees half of it; bounded labels.

load helpers

setup() {
	make_sysroot v2
	policy 50-db.json '{"match": {"cgroups": ["/memguard/*"]}, "memory": {"min": "512M", "low": "1G"}}'
	PROM_DIR="$SYSROOT/var/lib/prometheus/node-exporter"
	mkdir -p "$PROM_DIR"
	PROM="$PROM_DIR/oci-memguard.prom"
}

metrics_on() {
	printf '{"metrics_dir": "%s"}\n' "$PROM_DIR" >"$SYSROOT/etc/oci-memguard/host.json"
}

# metric SERIES: its value in the textfile (exact series text)
metric() {
	awk -v s="$1" '$1 == s { print $2 }' "$PROM"
}

check_parseable() {
	if command -v promtool >/dev/null; then
		run promtool check metrics <"$PROM"
		# promtool lints too (e.g. "counter metrics should have _total");
		# only a parse error fails
		refute_output --partial "error while linting"
		refute_output --partial "text format parsing error"
	fi
	run grep -vcE '^(# (HELP|TYPE) oci_memguard_[a-z_]+ .+|oci_memguard_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+)$' "$PROM"
	assert_output 0
}

@test "no metrics_dir in host.json: no textfile anywhere and no counters kept (off by default, and off costs nothing)" {
	start_container db1 4001 /memguard/db1
	stop_container db1 /memguard/db1 4001
	run find "$SYSROOT" -name '*.prom'
	assert_output ""
	assert_file_not_exists "$STATE_DIR/metrics.json"
}

@test "start and stop: runs, protection held while running, verdict and breach by policy; values match the records" {
	metrics_on
	start_container db1 4001 /memguard/db1
	start_container db2 4002 /memguard/db2
	check_parseable
	assert_equal "$(metric 'oci_memguard_runs_total{stage="start",outcome="ok"}')" 2
	assert_equal "$(metric 'oci_memguard_protected_containers')" 2
	assert_equal "$(metric 'oci_memguard_protection_bytes{kind="min"}')" $((2 * 536870912))
	assert_equal "$(metric 'oci_memguard_protection_bytes{kind="low"}')" $((2 * 1073741824))
	assert_equal "$(metric 'oci_memguard_memory_total_bytes')" $((16384000 * 1024))
	assert_equal "$(metric 'oci_memguard_protection_ratio{kind="low"}')" "$(awk 'BEGIN { printf "%.6f", 2 * 1073741824 / (16384000 * 1024) }')"
	assert_equal "$(metric 'oci_memguard_hook_duration_seconds_count{stage="start"}')" 2
	assert_equal "$(metric 'oci_memguard_hook_duration_seconds_bucket{stage="start",le="+Inf"}')" 2
	assert_equal "$(metric 'oci_memguard_lock_wait_seconds_count')" 2
	# db1's cgroup goes before its stop (runc), db2's stays (a systemd scope)
	printf 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n' >"$CGROOT/memguard/db2/memory.events"
	stop_container db1 /memguard/db1 4001
	state_for db2 none
	make_bundle db2 /memguard/db2
	hook_run poststop
	assert_success
	assert_equal "$(metric 'oci_memguard_runs_total{stage="poststop",outcome="ok"}')" 2
	assert_equal "$(metric 'oci_memguard_protected_containers')" 0
	assert_equal "$(metric 'oci_memguard_protection_bytes{kind="min"}')" 0
	# every verdict counted is one the records show
	run jq -r 'select(.stage=="poststop") | .evidence.verdict' "$LOG_FILE"
	local want
	want=$(printf '%s\n' "$output" | sort | uniq -c | awk '{ $1 = $1; print }')
	run sh -c "grep '^oci_memguard_verdicts_total' '$PROM' | sed -E 's/.*verdict=\"([^\"]*)\"\} ([0-9]+)/\2 \1/' | sort -k2"
	assert_output "$want"
	check_parseable
}

@test "a breach is counted under each matched policy; ids and images never become labels" {
	metrics_on
	mk_cgroup /memguard/db1
	printf 'low 1\nhigh 0\nmax 0\noom 0\noom_kill 0\n' >"$CGROOT/memguard/db1/memory.events"
	mk_proc 4001 /memguard/db1
	make_bundle db1 /memguard/db1
	state_for db1 4001
	hook_run prestart
	assert_success
	printf 'low 4\nhigh 0\nmax 0\noom 0\noom_kill 0\n' >"$CGROOT/memguard/db1/memory.events"
	state_for db1 none
	hook_run poststop
	assert_success
	assert_equal "$(metric 'oci_memguard_breaches_total{policy="50-db.json"}')" 1
	assert_equal "$(metric 'oci_memguard_verdicts_total{verdict="breached"}')" 1
	run grep -c 'db1\|4001' "$PROM"
	assert_output 0
}

@test "policy labels are capped: the 33rd policy to see a breach is counted as other" {
	metrics_on
	local pn # not i: bats' run sets a global i
	for pn in $(seq 1 34); do
		policy "p$pn.json" "{\"match\": {\"cgroups\": [\"/g$pn/*\"]}, \"memory\": {\"low\": \"1M\"}}"
		mk_cgroup "/g$pn/c"
		printf 'low 0\n' >"$CGROOT/g$pn/c/memory.events"
		mk_proc $((5000 + pn)) "/g$pn/c"
		make_bundle "c$pn" "/g$pn/c"
		state_for "c$pn" $((5000 + pn))
		hook_run prestart
		assert_success
		printf 'low 1\n' >"$CGROOT/g$pn/c/memory.events"
		state_for "c$pn" none
		hook_run poststop
		assert_success
	done
	run grep -c '^oci_memguard_breaches_total{policy="p' "$PROM"
	assert_output 32
	assert_equal "$(metric 'oci_memguard_breaches_total{policy="other"}')" 2
	check_parseable
}

@test "a corrupt counters file restarts the counters (a counter reset to Prometheus), the run is not failed" {
	metrics_on
	start_container db1 4001 /memguard/db1
	echo '{"oci_memguard_runs_total{x}": -1, garbage' >"$STATE_DIR/metrics.json"
	start_container db2 4002 /memguard/db2
	assert_equal "$(metric 'oci_memguard_runs_total{stage="start",outcome="ok"}')" 1
	assert_equal "$(metric 'oci_memguard_protected_containers')" 2
	check_parseable
}

@test "metrics_dir that does not exist: one skip line in the record, the start succeeds and protects" {
	printf '{"metrics_dir": "%s"}\n' "$SYSROOT/nonexistent" >"$SYSROOT/etc/oci-memguard/host.json"
	start_container db1 4001 /memguard/db1
	assert_equal "$(cg_value /memguard/db1 memory.min)" 536870912
	run log_field '.skipped[]'
	assert_output --partial "metrics: not written"
}

@test "a build start: the guard's decision is counted and the run once, with the guard's time in its duration" {
	metrics_on
	printf 'Node 0, zone   Normal   9000   8000   7000   6000 50 50 50 50 50 50 50\n' >"$SYSROOT/proc/buddyinfo"
	printf 'Node 0, zone   Normal\n  pages free     100000\n        min      1000\n        low      1250\n        high     1500\n' >"$SYSROOT/proc/zoneinfo"
	policy 10-build.json '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"swappiness": 10, "reclaim": {"when": "auto", "available_below": "15%"}}}'
	mk_cgroup /ci/b1
	mk_proc 4001 /ci/b1
	make_bundle b1 /ci/b1 '.annotations["oci-memguard.build"]="true"'
	state_for b1 4001
	hook_run prestart
	assert_success
	run log_field '.build_guard.decision'
	assert_output healthy
	assert_equal "$(metric 'oci_memguard_build_guard_decisions_total{decision="healthy"}')" 1
	assert_equal "$(metric 'oci_memguard_runs_total{stage="start",outcome="ok"}')" 1
	assert_equal "$(metric 'oci_memguard_hook_duration_seconds_count{stage="start"}')" 1
	assert_equal "$(metric 'oci_memguard_swappiness_claimed')" 10
	stop_container b1 /ci/b1 4001
	assert_equal "$(metric 'oci_memguard_runs_total{stage="poststop",outcome="ok"}')" 1
	run grep -c '^oci_memguard_swappiness_claimed' "$PROM"
	assert_output 0
	check_parseable
}

# bats test_tags=no_asan
@test "64 starts at once: the textfile is always complete and parseable, and counts all 64" {
	metrics_on
	# small enough that all 64 fit the protection budget (64 x 128M of 15.6 GiB)
	policy 50-db.json '{"match": {"cgroups": ["/memguard/*"]}, "memory": {"min": "64M", "low": "128M"}}'
	local i
	for i in $(seq 1 64); do
		mk_cgroup "/memguard/c$i"
		mk_proc $((6000 + i)) "/memguard/c$i"
		make_bundle "c$i" "/memguard/c$i"
		state_for "c$i" $((6000 + i))
		cp "$STATE_FILE" "$BATS_TEST_TMPDIR/st-$i"
	done
	# a reader that checks every version of the file it sees
	(
		bad=0
		while [[ ! -e "$BATS_TEST_TMPDIR/done" ]]; do
			if [[ -e "$PROM" ]]; then
				cp "$PROM" "$BATS_TEST_TMPDIR/seen" 2>/dev/null || continue
				tail -n 1 "$BATS_TEST_TMPDIR/seen" | grep -q '^oci_memguard_protection_ratio{kind="low"} ' || bad=$((bad + 1))
			fi
		done
		echo "$bad" >"$BATS_TEST_TMPDIR/bad"
	) &
	local reader=$!
	for i in $(seq 1 64); do
		"$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/st-$i" &
	done
	wait_jobs_except "$reader"
	touch "$BATS_TEST_TMPDIR/done"
	wait "$reader"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/bad")" 0
	assert_equal "$(metric 'oci_memguard_runs_total{stage="start",outcome="ok"}')" 64
	assert_equal "$(metric 'oci_memguard_protected_containers')" 64
	assert_equal "$(metric 'oci_memguard_hook_duration_seconds_count{stage="start"}')" 64
	check_parseable
}

# wait for every background job but one
wait_jobs_except() {
	local j
	for j in $(jobs -p); do
		[[ "$j" == "$1" ]] || wait "$j"
	done
}

@test "start/stop runs (1,000 in make check, 10,000 with MEMGUARD_HEAVY=1): the counters file and the textfile do not grow" {
	# 10,000 runs take minutes on 2 cores; make check runs a tenth, the
	# measured 10,000 are in README (Monitoring).
	local pairs=500
	[[ -z "${MEMGUARD_HEAVY:-}" ]] || pairs=5000
	metrics_on
	mk_cgroup /memguard/db1
	mk_proc 4001 /memguard/db1
	make_bundle db1 /memguard/db1
	state_for db1 4001
	cp "$STATE_FILE" "$BATS_TEST_TMPDIR/start"
	state_for db1 none
	cp "$STATE_FILE" "$BATS_TEST_TMPDIR/stop"
	local i size100 sizeend state100 stateend
	for i in $(seq 1 "$pairs"); do
		"$MEMGUARD_BIN" prestart --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/start"
		"$MEMGUARD_BIN" poststop --sysroot "$SYSROOT" --no-syslog <"$BATS_TEST_TMPDIR/stop"
		if [[ $i -eq 50 ]]; then
			size100=$(grep -c '' "$PROM")
			state100=$(jq 'length' "$STATE_DIR/metrics.json")
		fi
	done
	sizeend=$(grep -c '' "$PROM")
	stateend=$(jq 'length' "$STATE_DIR/metrics.json")
	echo "lines after 100 runs: $size100, after $((2 * pairs)): $sizeend; series $state100 -> $stateend" >&3
	assert_equal "$sizeend" "$size100"
	assert_equal "$stateend" "$state100"
	assert_equal "$(metric 'oci_memguard_runs_total{stage="start",outcome="ok"}')" "$pairs"
	assert_equal "$(metric 'oci_memguard_runs_total{stage="poststop",outcome="ok"}')" "$pairs"
	check_parseable
}
