#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# `oci-memguard report`: the event log and the files logrotate leaves next
# to it, summarised per (image, policies): starts, protected time, breaches,
# build steps, build-guard decisions, bytes freed, hook latency, errors.
# Damaged and foreign lines are counted, never fatal; huge logs are
# streamed. And the logrotate snippet `make install` ships.

load helpers

REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"

setup() {
	LOGDIR="$BATS_TEST_TMPDIR/log"
	mkdir -p -m 0750 "$LOGDIR"
	LOG="$LOGDIR/events.jsonl"
}

# rec STAGE IMAGE POLICIES-JSON [jq filter]: one record as the hook writes
# it (every field, in the hook's order), at $T (default: an old fixed time).
rec() {
	jq -nc --arg t "${T:-2026-12-01T10:00:00.000001Z}" --arg stage "$1" --arg image "$2" --argjson pol "$3" '{
		time: $t, stage: $stage, id: "c1", image: $image, cgroup: "/ci/c1", cgroup_mode: "v2",
		recursiveprot: true, policies: $pol, build: false, build_signal: "", dry_run: false,
		actions: [], skipped: [], errors: [], lock_wait_us: 0, duration_us: 1000
	}' | jq -c "${4:-.}"
}

report_json() { # report_json [OPTIONS]: runs report --json on $LOG, output in $output
	run --separate-stderr "$MEMGUARD_BIN" report --log "$LOG" --json "$@"
	echo "report --json $* -> status $status" >&2
	echo "stderr: $stderr" >&2
	assert_success
	jq -e . <<<"$output" >/dev/null || fail "report --json is not JSON: $output"
	REPORT="$output"
}

jr() { jq -r "$1" <<<"$REPORT"; } # jr FILTER: a value of the last report

# Two images: a service (two starts, one stop with 10 min and 3 low events,
# one with 5 min and none) and a build (guard "short", memory.reclaim freed
# 1 MiB, an error). Latencies 1000, 3000, 2000, 4000 and 8000 us.
fixture_log() {
	{
		rec prestart docker.io/library/postgres:16 '["50-db.json"]'
		rec prestart docker.io/library/postgres:16 '["50-db.json"]' '.duration_us=3000'
		rec poststop docker.io/library/postgres:16 '["50-db.json"]' '.duration_us=2000 | .container_duration_us=600000000 | .memory_events_delta={low:3,high:0,max:0,oom:0,oom_kill:0}'
		rec poststop docker.io/library/postgres:16 '["50-db.json"]' '.duration_us=4000 | .container_duration_us=300000000 | .memory_events_delta={low:0}'
		rec prestart golang:1.22 '["10-ci.json","20-build.json"]' '.build=true | .duration_us=8000 | .errors=["write 60 to /proc/sys/vm/swappiness: Permission denied"] | .actions=[{target:"/",file:"memory.reclaim",old:"",new:"1048576",result:"ok: 1048576 bytes in 1 chunk, swappiness=0, 3 ms"}] | .build_guard={decision:"short",mem_available_before:100,mem_available_after:9999999}'
	} >"$LOG"
}

@test "report [fixture log] gives every field per (image, policies)" {
	fixture_log
	report_json
	run jr '.rows | length'
	assert_output 2
	local pg='.rows[] | select(.image=="docker.io/library/postgres:16")'
	run jr "$pg | [.policies[0], .records, .starts, .stops, .protected_us, .build_steps] | @tsv"
	assert_output "$(printf '50-db.json\t4\t2\t2\t900000000\t0')"
	run jr "$pg | .breaches | [.low_events, .containers, .stops_with_evidence] | @tsv"
	assert_output "$(printf '3\t1\t2')"
	run jr "$pg | .duration_us | [.count, .p50, .p99] | @tsv"
	# nearest rank over 1000 2000 3000 4000: p50 is 2000 (within 1/16), p99 the max
	assert_output "$(printf '4\t2047\t4000')"
	run jr "$pg | [.bytes_freed, .errors.records, (.guard_decisions | length)] | @tsv"
	assert_output "$(printf '0\t0\t0')"

	local go='.rows[] | select(.image=="golang:1.22")'
	run jr "$go | [(.policies | join(\",\")), .starts, .stops, .build_steps, .bytes_freed, .guard_decisions.short, .errors.records, .errors.messages] | @tsv"
	# memory.reclaim's own count wins over the rise of MemAvailable
	assert_output "$(printf '10-ci.json,20-build.json\t1\t0\t1\t1048576\t1\t1\t1')"
	run jr "$go | .breaches"
	assert_output null

	run jr '.total | [.records, .starts, .stops, .protected_us, .breaches.low_events, .build_steps, .bytes_freed, .duration_us.count, .duration_us.p99] | @tsv'
	assert_output "$(printf '5\t3\t2\t900000000\t3\t1\t1048576\t5\t8000')"
	run jr '[.first, .last, .lines.read, .lines.records, .lines.foreign, .lines.truncated] | @tsv'
	assert_output "$(printf '2026-12-01T10:00:00.000001Z\t2026-12-01T10:00:00.000001Z\t5\t5\t0\t0')"
}

@test "report [fixture log] as a table: one row per key, a total, n/a where no record has evidence" {
	fixture_log
	run --separate-stderr "$MEMGUARD_BIN" report --log "$LOG"
	assert_success
	assert_line --index 0 --partial "5 records from 2026-12-01T10:00:00.000001Z"
	assert_line --regexp '^IMAGE +POLICIES +STARTS +STOPS +PROTECTED +BREACHES +BUILDS +LIMITED +FREED +P50 +P99 +ERRORS +GUARD$'
	assert_line --regexp '^docker.io/library/postgres:16 +50-db.json +2 +2 +15m00s +3 +0 +0 +0B +2.0ms +4.0ms +0 -$'
	assert_line --regexp '^golang:1.22 +10-ci.json,20-build.json +1 +0 +0 +n/a +1 +0 +1.0M +8.0ms +8.0ms +1 short:1$'
	assert_line --regexp '^TOTAL +- +3 +2 +15m00s +3 +1 +0 +1.0M '
	assert_line "lines: 5 read, 5 records, 0 foreign, 0 truncated, 0 too long, 0 before --since"
}

@test "report: no record carries memory.events evidence -> breaches n/a everywhere, said once" {
	rec poststop app:1 '["a.json"]' '.container_duration_us=1000000' >"$LOG"
	report_json
	run jr '[.rows[0].breaches, .total.breaches] | @json'
	assert_output '[null,null]'
	run "$MEMGUARD_BIN" report --log "$LOG"
	assert_success
	assert_line --regexp '^app:1 +a.json +0 +1 +1.0s +n/a '
	assert_line "note: breaches n/a: no poststop record carries memory_events_delta"
}

@test "report --since 1h counts only the last hour; a rotated file last written before it is not even opened" {
	T="$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%S.000000Z)" rec prestart old:1 '[]' >"$LOG"
	T="$(date -u -d '-10 minutes' +%Y-%m-%dT%H:%M:%S.000000Z)" rec prestart new:1 '[]' >>"$LOG"
	T="$(date -u -d '-5 hours' +%Y-%m-%dT%H:%M:%S.000000Z)" rec prestart older:1 '[]' >"$LOG.1"
	touch -d '-5 hours' "$LOG.1"
	report_json --since 1h
	run jr '[.rows[].image] | join(" ")'
	assert_output "new:1"
	run jr '[.lines.records, .lines.before_since] | @tsv'
	assert_output "$(printf '1\t1')"
	run jr '.files[] | select(.path | endswith(".1")) | [.read, .lines] | @tsv'
	assert_output "$(printf 'false\t0')"
	# without --since, all three
	report_json
	run jr '.lines.records'
	assert_output 3
	# durations: 90s, 15m, 1h30m, 7d, 2w, bare seconds
	local d
	for d in 90s 15m 1h30m 7d 2w 3600; do
		report_json --since "$d"
	done
}

@test "report --since [not a duration] fails with one line naming the option" {
	: >"$LOG"
	local d
	for d in 1y -1h h '' 1h2 99999999999999999999s; do
		run --separate-stderr "$MEMGUARD_BIN" report --log "$LOG" --since "$d"
		assert_failure 2
		assert_equal "$stderr" "oci-memguard: report: --since: '$d' is not a duration (90s, 15m, 1h30m, 7d, 2w)"
	done
}

@test "report reads rotated files: .1, .2.gz, .3.gz of two gzip members, dateext, oldest first" {
	rec prestart a:1 '[]' >"$LOG"
	rec prestart b:1 '[]' >"$LOG.1"
	rec prestart c:1 '[]' | gzip -c >"$LOG.2.gz"
	{ rec prestart d:1 '[]' | gzip -c; rec prestart d:1 '[]' | gzip -c; } >"$LOG.3.gz"
	rec prestart e:1 '[]' | gzip -c >"$LOG-20261101.gz"
	rec prestart x:1 '[]' >"$LOGDIR/other.jsonl.1"   # not a rotation of events.jsonl
	report_json
	run jr '[.files[].path | sub(".*/"; "")] | join(" ")'
	assert_output "events.jsonl-20261101.gz events.jsonl.3.gz events.jsonl.2.gz events.jsonl.1 events.jsonl"
	run jr '[.files[] | .compressed] | map(tostring) | join(" ")'
	assert_output "true true true false false"
	run jr '[.rows[] | "\(.image)=\(.starts)"] | sort | join(" ")'
	assert_output "a:1=1 b:1=1 c:1=1 d:1=2 e:1=1"
	run jr '[.files[].error] | map(select(. != null)) | length'
	assert_output 0
}

@test "report [corrupt and cut .gz] names the file, keeps what it read, reads the others" {
	rec prestart a:1 '[]' >"$LOG"
	printf 'this is not gzip\n' >"$LOG.2.gz"
	{ for i in $(seq 1 200); do rec prestart b:1 '[]'; done; } | gzip -c | head -c 300 >"$LOG.3.gz"
	report_json
	run jr '.files[] | select(.path | endswith(".2.gz")) | .error'
	assert_output --partial "corrupt gzip data"
	run jr '.files[] | select(.path | endswith(".3.gz")) | .error'
	assert_output "gzip data cut short"
	run jr '.rows[] | select(.image=="a:1") | .starts'
	assert_output 1
	run "$MEMGUARD_BIN" report --log "$LOG"
	assert_success
	assert_line --regexp "^file: .*events.jsonl.3.gz: [0-9]+ lines, gzip data cut short$"
}

@test "report [a FIFO and a symlink named like rotated files] names them, does not block, reads the rest" {
	rec prestart a:1 '[]' >"$LOG"
	mkfifo "$LOG.1"
	ln -s /etc/passwd "$LOG.2"
	run timeout 10 "$MEMGUARD_BIN" report --log "$LOG" --json
	assert_success
	REPORT="$output"
	run jr '[.files[] | "\(.path | sub(".*/"; "")): \(.error)"] | join("; ")'
	assert_output "events.jsonl.2: Too many levels of symbolic links; events.jsonl.1: not a regular file; events.jsonl: null"
	run jr '.lines.records'
	assert_output 1
}

@test "report: the live log missing after a rotation is fine; no log at all is an error naming it" {
	rec prestart a:1 '[]' >"$LOG.1"
	report_json
	run jr '[.lines.records, (.files[-1].error)] | @tsv'
	assert_output "$(printf '1\tmissing (rotated, not written since)')"
	rm "$LOG.1"
	run --separate-stderr "$MEMGUARD_BIN" report --log "$LOG"
	assert_failure 1
	assert_equal "$stderr" "oci-memguard: report: $LOG: No such file or directory"
}

@test "report [truncated last line, foreign lines, a 2 MiB line] counts each and summarises the rest" {
	{
		rec prestart a:1 '[]'
		echo 'Dec  4 22:20:14 host kernel: not ours'
		echo '{"level":"info","msg":"some other program"}'
		echo '[1,2,3]'
		echo ''
		head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'x'
		echo
		rec poststop a:1 '[]' '.container_duration_us=5000000'
		rec prestart a:1 '[]' | head -c 80   # cut by a crash, no newline
	} >"$LOG"
	report_json
	run jr '.lines | [.read, .records, .foreign, .truncated, .too_long] | @tsv'
	assert_output "$(printf '8\t2\t4\t1\t1')"
	run jr '.rows[0] | [.starts, .stops, .protected_us] | @tsv'
	assert_output "$(printf '1\t1\t5000000')"
	# a record cut in the middle of the file, newline and all
	{ rec prestart a:1 '[]' | head -c 60; echo; rec prestart a:1 '[]'; } >"$LOG"
	report_json
	run jr '.lines | [.records, .foreign, .truncated] | @tsv'
	assert_output "$(printf '1\t0\t1')"
}

@test "report [image with a terminal escape] prints it defanged in the table, exact in --json" {
	rec prestart "$(printf 'evil\033]0;pwned\007:1')" '[]' >"$LOG"
	run "$MEMGUARD_BIN" report --log "$LOG"
	assert_success
	refute_output --partial $'\033'
	refute_output --partial $'\007'
	assert_line --regexp '^evil\?\]0;pwned\?:1 '
	report_json
	run jr '.rows[0].image | explode | map(select(. < 32)) | length'
	assert_output 2
}

@test "report: more (image, policies) keys than the cap fold into (other), counted" {
	# 1030 distinct images, a record each; the cap is 1024
	awk 'BEGIN { for (i = 0; i < 1030; i++)
		printf "{\"time\":\"2026-12-01T10:00:00Z\",\"stage\":\"prestart\",\"image\":\"img%d\",\"policies\":[],\"duration_us\":5}\n", i }' >"$LOG"
	report_json
	run jr '[.keys_cap, (.rows | map(select(.other != true)) | length), .other_records, (.rows[-1].other), .total.starts] | @tsv'
	assert_output "$(printf '1024\t1024\t6\ttrue\t1030')"
	run "$MEMGUARD_BIN" report --log "$LOG"
	assert_line --regexp '^\(other\) +\(other\) +6 '
	assert_line "note: more than 1024 (image, policies) keys: 6 records of the others are in (other)"
}

# 200k records over 150 keys, written by awk (bash would take minutes)
huge_log() { # huge_log N FILE
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
		printf "{\"time\":\"2026-12-01T%02d:%02d:%02d.000001Z\",\"stage\":\"%s\",\"id\":\"c%d\",\"image\":\"img%d:1\",\"cgroup\":\"/ci/c\",\"cgroup_mode\":\"v2\",\"recursiveprot\":true,\"policies\":[\"p%d.json\"],\"build\":false,\"build_signal\":\"\",\"dry_run\":false,\"actions\":[],\"skipped\":[],\"errors\":[],\"lock_wait_us\":0,\"duration_us\":%d}\n",
			int(i / 3600) % 24, int(i / 60) % 60, i % 60, (i % 2) ? "poststop" : "prestart", i, i % 50, i % 3, 500 + i % 1000 }' >"$2"
}

# bats test_tags=no_asan
@test "report [200k-line log] streams it: done within the hang guard, memory the same as for 20k lines" {
	huge_log 20000 "$LOG"
	run /usr/bin/time -f 'maxrss_kb=%M' timeout 10 "$MEMGUARD_BIN" report --log "$LOG" --json
	assert_success
	local small_kb
	small_kb="$(grep -o 'maxrss_kb=[0-9]*' <<<"$output" | cut -d= -f2)"
	huge_log 200000 "$LOG"
	run /usr/bin/time -f 'maxrss_kb=%M' timeout 30 "$MEMGUARD_BIN" report --log "$LOG" --json
	assert_success
	local huge_kb
	huge_kb="$(grep -o 'maxrss_kb=[0-9]*' <<<"$output" | cut -d= -f2)"
	REPORT="$(grep -v maxrss_kb <<<"$output")"
	run jr '[.lines.records, .total.starts, .total.stops, (.rows | length)] | @tsv'
	assert_output "$(printf '200000\t100000\t100000\t150')"
	echo "max RSS: 20k lines ${small_kb} KiB, 200k lines ${huge_kb} KiB" >&2
	((huge_kb < small_kb + 512)) || fail "memory grew with the log: ${small_kb} KiB -> ${huge_kb} KiB"
	((huge_kb < 16384)) || fail "max RSS ${huge_kb} KiB for 200k lines"
}

@test "report after real starts through the hook counts what the hook logged" {
	make_sysroot v2
	policy 50-db.json '{"match": {"cgroups": ["/ci/*"]}, "memory": {"min": "64M"}}'
	local i
	for i in 1 2 3; do
		mk_cgroup "/ci/c$i"
		mk_proc "400$i" "/ci/c$i"
		make_bundle "c$i" "/ci/c$i" '.annotations["oci-memguard.image"]="postgres:16"'
		state_for "c$i" "400$i"
		hook_run prestart
		assert_success
	done
	stop_container c1 /ci/c1 4001
	stop_container c2 /ci/c2 4002
	LOG="$LOG_FILE"
	report_json
	run jr '.rows | length'
	assert_output 1
	run jr '.rows[0] | [.image, (.policies | join(",")), .starts, .stops, .duration_us.count] | @tsv'
	assert_output "$(printf 'postgres:16\t50-db.json\t3\t2\t5')"
	[[ "$(jq '.rows[0].protected_us > 0' <<<"$REPORT")" == true ]] || fail "no protected time: $REPORT"
	# the same numbers as the log itself
	assert_equal "$(jq -s '[.[] | select(.stage=="prestart")] | length' "$LOG_FILE")" 3
	assert_equal "$(jq -s '[.[] | .container_duration_us // 0] | add' "$LOG_FILE")" "$(jr '.rows[0].protected_us')"
}

@test "make install DESTDIR= ships the logrotate snippet (0644); make uninstall removes it" {
	# the prefix the tree was built for: another one would rebuild the
	# programs in place with other compiled-in paths, under the later suites
	local dest="$BATS_TEST_TMPDIR/dest"
	run make -s -C "$REPO" install DESTDIR="$dest"
	assert_success
	assert_file_exists "$dest/etc/logrotate.d/oci-memguard"
	assert_equal "$(stat -c %a "$dest/etc/logrotate.d/oci-memguard")" 644
	cmp "$REPO/install.d/logrotate/oci-memguard" "$dest/etc/logrotate.d/oci-memguard"
	grep -q '^/var/log/oci-memguard/events.jsonl {' "$dest/etc/logrotate.d/oci-memguard"
	run make -s -C "$REPO" uninstall DESTDIR="$dest"
	assert_success
	assert_file_not_exists "$dest/etc/logrotate.d/oci-memguard"
}

@test "logrotate with the shipped snippet: the hook's next run starts a new log, report reads all of it" {
	command -v logrotate >/dev/null || skip "logrotate not installed (apt-get install logrotate)"
	make_sysroot v2
	policy 50-db.json '{"match": {"cgroups": ["/ci/*"]}, "memory": {"min": "64M"}}'
	local conf="$BATS_TEST_TMPDIR/logrotate.conf" state="$BATS_TEST_TMPDIR/logrotate.state"
	sed "s|^/var/log/oci-memguard/events.jsonl|$LOG_FILE|" "$REPO/install.d/logrotate/oci-memguard" >"$conf"
	chmod 0644 "$conf"
	logrotate -d -s "$state" "$conf" 2>&1 | grep -qi 'error' && fail "logrotate rejects the snippet: $(logrotate -d -s "$state" "$conf" 2>&1)"
	local i
	for i in 1 2 3; do
		start_container "c$i" "400$i" "/ci/c$i"
		chmod 0750 "$(dirname "$LOG_FILE")"
		logrotate -f -s "$state" "$conf"
		assert_file_not_exists "$LOG_FILE"   # nocreate: the hook makes it
	done
	start_container c4 4004 /ci/c4
	# the hook created the live log again itself, mode 0640
	assert_equal "$(stat -c %a "$LOG_FILE")" 640
	# delaycompress: .1 plain, older ones gzipped
	assert_file_exists "$LOG_FILE.1"
	assert_file_exists "$LOG_FILE.2.gz"
	assert_file_exists "$LOG_FILE.3.gz"
	LOG="$LOG_FILE"
	report_json
	run jr '[.total.starts, (.files | length), ([.files[].error] | map(select(. != null)) | length)] | @tsv'
	assert_output "$(printf '4\t4\t0')"
}

@test "report with arguments it does not take exits 2" {
	: >"$LOG"
	run --separate-stderr "$MEMGUARD_BIN" report --log "$LOG" extra
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "oci-memguard: report: unexpected argument 'extra'"
}
