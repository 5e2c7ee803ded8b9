#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# run.sh SECONDS NAME...: replays the seeds and regressions of each harness,
# then fuzzes it for SECONDS; prints executions, fails on any crash (kept in
# build/fuzz/crashes/NAME/ — move it to fuzz/regressions/NAME/ with the fix).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="$1"
shift
status=0
for f in "$@"; do
	mkdir -p "build/fuzz/corpus/$f" "fuzz/regressions/$f" "build/fuzz/crashes/$f"
	# every regression input and seed must pass as it is
	if ! "build/fuzz/fuzz-$f" -runs=0 "fuzz/corpus/$f" "fuzz/regressions/$f" >"build/fuzz/replay-$f.log" 2>&1; then
		echo "fuzz-$f: a seed or regression input fails:"
		tail -n 30 "build/fuzz/replay-$f.log"
		status=1
		continue
	fi
	if ! "build/fuzz/fuzz-$f" -max_total_time="$secs" -max_len=65536 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="build/fuzz/crashes/$f/" "build/fuzz/corpus/$f" "fuzz/corpus/$f" >"build/fuzz/run-$f.log" 2>&1; then
		echo "fuzz-$f: CRASH, input in build/fuzz/crashes/$f/:"
		grep -E 'ERROR|SUMMARY|#0 |#1 |#2 ' "build/fuzz/run-$f.log" | head -n 12
		status=1
		continue
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build/fuzz/run-$f.log")
	echo "fuzz-$f: ${execs:-?} executions in ${secs}s, no crash"
	echo "$(date -u +%FT%TZ) $f $secs ${execs:-0}" >>build/fuzz/execs.log
done
exit "$status"
