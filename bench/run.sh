#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench/run.sh: `make bench`.  What oci-memguard costs against the exec
# floor (/bin/true), paired in the same run, on a fixture host on tmpfs; the
# 64-concurrent burst; peak RSS; callgrind instruction counts; the wrapper
# against `runc run true` on this host.  Prints a table, writes
# build/bench/results.json.  Timings are printed, never asserted.
#
# Environment (all optional):
#   BENCH_ROUNDS, BENCH_ITERS   A/B rounds and execs per command per round (10, 500)
#   BENCH_BURSTS                64-concurrent bursts (20)
#   BENCH_RUNC_ROUNDS, BENCH_RUNC_ITERS   runc rounds and runs per round (10, 20)
#   BENCH_SKIP                  words: callgrind runc conc scale (parts to leave out)
#   BENCH_SCALE                 live containers of the scaling table ("10 100 1000")
#   BENCH_SCALE_ROUNDS, BENCH_SCALE_ITERS   its rounds and execs per command per round (10, 40)
#   BENCH_SCALE_BURSTS          64-concurrent bursts at the largest count (5)
#   BENCH_SMOKE=1               a few iterations of everything, to prove it runs
#   BENCH_OUT                   results file (build/bench/results.json)
#   BENCH_TMP                   fixture dir on tmpfs (/dev/shm/oci-memguard-bench.PID)
#   BENCH_ALT=/path/oci-memguard   also time this build of the hook (p10, p1000)
#                               in the same start rounds, on a fixture host of
#                               its own: before/after a patch
#   BENCH_MAX_ROUNDS, BENCH_MAX_ITERS   rounds and runs of the largest config.json (5, 4)
set -euo pipefail

TOP="$(cd "$(dirname "$0")/.." && pwd)"
HOOK="${MEMGUARD_BIN:-$TOP/build/oci-memguard}"
WRAPPER="${MEMGUARD_WRAPPER_BIN:-$TOP/build/oci-memguard-runtime}"
DRV="$TOP/build/bench/memguard-bench"
FLOCKWAIT="$TOP/build/bench/flockwait.so"
OUT="${BENCH_OUT:-$TOP/build/bench/results.json}"
ROUNDS="${BENCH_ROUNDS:-10}"
ITERS="${BENCH_ITERS:-500}"
BURSTS="${BENCH_BURSTS:-20}"
RUNC_ROUNDS="${BENCH_RUNC_ROUNDS:-10}"
RUNC_ITERS="${BENCH_RUNC_ITERS:-20}"
SKIP=" ${BENCH_SKIP:-} "
SCALE="${BENCH_SCALE:-10 100 1000}"
SCALE_ROUNDS="${BENCH_SCALE_ROUNDS:-10}"
SCALE_ITERS="${BENCH_SCALE_ITERS:-40}"
SCALE_BURSTS="${BENCH_SCALE_BURSTS:-5}"
if [[ -n "${BENCH_SMOKE:-}" ]]; then
	ROUNDS=2 ITERS=5 BURSTS=2 RUNC_ROUNDS=2 RUNC_ITERS=2
	SKIP="$SKIP runc "
fi
T="${BENCH_TMP:-/dev/shm/oci-memguard-bench.$$}"
PARTS="$T/parts"

for x in "$HOOK" "$WRAPPER" "$DRV" "$FLOCKWAIT"; do
	[[ -x "$x" || -f "$x" ]] || { echo "bench: $x is not built (make bench builds it)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "bench: needs jq (fixture generation and results)" >&2; exit 1; }

cleanup() {
	local rc=$?
	[[ -n "${RUNC_ROOT:-}" ]] && runc_cleanup
	[[ -n "${MAX_MADE_ETC:-}" ]] && rmdir /etc/oci-memguard 2>/dev/null
	[[ -n "${KEEP_TMP:-}" ]] || rm -rf "$T"
	exit $rc
}
trap cleanup EXIT INT TERM

skip() { [[ "$SKIP" == *" $1 "* ]]; }
section() { printf '\n== %s\n' "$*" >&2; }

mkdir -p "$(dirname "$OUT")"
rm -rf "$T"
mkdir -p "$PARTS"

# ---- machine ---------------------------------------------------------------------
section "machine"
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg nproc "$(nproc)" --arg kernel "$(uname -r)" \
	--arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" \
	--arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg commit "$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo -)" \
	--arg dirty "$(git -C "$TOP" status --porcelain -- hook policy wrapper 2>/dev/null | wc -l)" \
	--arg tmpfs "$(stat -f -c %T "$(dirname "$T")")" \
	'{date: $date, nproc: ($nproc | tonumber), kernel: $kernel, cpu: $cpu, loadavg: $load, commit: $commit,
	  uncommitted_source_files: ($dirty | tonumber), fixture_fs: $tmpfs}' | tee "$PARTS/machine.json" | jq -r \
	'"date \(.date)  nproc \(.nproc)  kernel \(.kernel)  cpu \(.cpu)  load \(.loadavg)  commit \(.commit)  fixture on \(.fixture_fs)"' >&2

# ---- fixture -----------------------------------------------------------------------
section "fixture"
SCALE_MAX=0
for n in $SCALE; do ((n > SCALE_MAX)) && SCALE_MAX=$n; done
skip scale && SCALE_MAX=0
MEMGUARD_BENCH_SCALE_MAX=$SCALE_MAX "$TOP/bench/gen-fixture.sh" "$T/fix" >&2
# shellcheck source=/dev/null
. "$T/fix/env"
# Everything goes to the fixture; state dir and log on tmpfs (under $SYSROOT).
hook_args() { # hook_args POLICYDIR [SYSROOT]
	printf '%s\n' --sysroot "${2:-$SYSROOT}" --no-syslog --policy-dir "$1"
}
mapfile -t A1 < <(hook_args "$FIX/policies/p1")
mapfile -t A10 < <(hook_args "$FIX/policies/p10")
mapfile -t A100 < <(hook_args "$FIX/policies/p100")
mapfile -t A1000 < <(hook_args "$FIX/policies/p1000")
mapfile -t ABUILD < <(hook_args "$FIX/policies/build")
# BENCH_ALT gets a fixture host of its own, with the same neighbours
# started by itself: another build may keep its state in another form, and
# two forms in one state dir would each rebuild (or overcommit) the other's.
if [[ -n "${BENCH_ALT:-}" ]]; then
	ALT_ROOT="$T/root-alt"
	cp -a "$SYSROOT" "$ALT_ROOT"
	mapfile -t ALT10 < <(hook_args "$FIX/policies/p10" "$ALT_ROOT")
	mapfile -t ALT1000 < <(hook_args "$FIX/policies/p1000" "$ALT_ROOT")
	for i in $(seq 1 "$BG"); do
		"$BENCH_ALT" prestart "${ALT10[@]}" <"$FIX/state/bg-$i.json"
	done
	"$BENCH_ALT" prestart "${ALT10[@]}" <"$FIX/state/docker-start.json"
fi
# The neighbours already run: their records are in the ledger.
for i in $(seq 1 "$BG"); do
	"$HOOK" prestart "${A10[@]}" <"$FIX/state/bg-$i.json"
done
# Correctness before timing: the Docker container is identified and protected.
"$HOOK" prestart "${A10[@]}" <"$FIX/state/docker-start.json"
tail -n1 "$SYSROOT/var/log/oci-memguard/events.jsonl" | jq -e --arg img "registry.example.com/shop/api:1.42.0" \
	'.image == $img and (.policies | length) == 2 and (.errors | length) == 0' >/dev/null ||
	{ echo "bench: the fixture's Docker container was not identified as expected:" >&2; tail -n1 "$SYSROOT/var/log/oci-memguard/events.jsonl" >&2; exit 1; }
echo "records in the ledger: $(find "$SYSROOT/run/oci-memguard/containers" -name '*.json' | wc -l)" >&2

# ---- start stage vs /bin/true --------------------------------------------------------
ALT=()
if [[ -n "${BENCH_ALT:-}" ]]; then
	ALT=(@alt-p10 stdin="$FIX/state/docker-start.json" -- "$BENCH_ALT" prestart "${ALT10[@]}"
		@alt-p1000 stdin="$FIX/state/docker-start.json" -- "$BENCH_ALT" prestart "${ALT1000[@]}")
fi
section "start stage (prestart, Docker container, $BG neighbours in the ledger) vs /bin/true: $ROUNDS rounds x $ITERS execs"
"$DRV" ab --rounds "$ROUNDS" --iters "$ITERS" --label start \
	@true -- /bin/true \
	@p1 stdin="$FIX/state/docker-start.json" -- "$HOOK" prestart "${A1[@]}" \
	@p10 stdin="$FIX/state/docker-start.json" -- "$HOOK" prestart "${A10[@]}" \
	@p100 stdin="$FIX/state/docker-start.json" -- "$HOOK" prestart "${A100[@]}" \
	@p1000 stdin="$FIX/state/docker-start.json" -- "$HOOK" prestart "${A1000[@]}" \
	@podman-p10 stdin="$FIX/state/podman-start.json" -- "$HOOK" prestart "${A10[@]}" \
	"${ALT[@]}" >"$PARTS/start.json"

# ---- poststop ---------------------------------------------------------------------
section "poststop (record present: a start runs untimed before each) vs /bin/true"
cat >"$T/pre-start.sh" <<EOF
exec "$HOOK" prestart $(printf '%q ' "${A10[@]}") <"$FIX/state/docker-start.json"
EOF
"$DRV" ab --rounds "$ROUNDS" --iters "$ITERS" --label poststop \
	@true -- /bin/true \
	@poststop stdin="$FIX/state/docker-stop.json" pre="$T/pre-start.sh" -- "$HOOK" poststop "${A10[@]}" \
	>"$PARTS/poststop.json"
"$HOOK" prestart "${A10[@]}" <"$FIX/state/docker-start.json" # back to running

# ---- build guard on a healthy host ------------------------------------------------------
section "build guard, healthy host (BuildKit step, reclaim when=auto): decision cost and writes"
snapshot() { # every fixture file except the hook's own state dir and log: content and mtime
	(cd "$SYSROOT" && find . \( -path ./run -o -path ./var/log \) -prune -o -type f -printf '%p %T@\n' | sort &&
		find . \( -path ./run -o -path ./var/log \) -prune -o -type f -print0 | sort -z | xargs -0 sha256sum)
}
snapshot >"$T/snap.before"
"$DRV" ab --rounds "$ROUNDS" --iters "$ITERS" --label buildguard \
	@true -- /bin/true \
	@build-start stdin="$FIX/state/build-start.json" -- "$HOOK" prestart "${ABUILD[@]}" \
	>"$PARTS/buildguard.json"
snapshot >"$T/snap.after"
changed="$(diff "$T/snap.before" "$T/snap.after" | grep -c '^>' || true)"
decision="$(tail -n1 "$SYSROOT/var/log/oci-memguard/events.jsonl" | jq -c '{decision: .build_guard.decision, build_signal, actions: (.actions | length)}')"
# Which files the healthy path opens for writing (strace, one run).
writes='[]'
if command -v strace >/dev/null; then
	for _ in 1 2 3; do # ptrace can fail on a loaded machine: retry
		strace -f -qq -e trace=openat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,truncate -o "$T/strace.out" \
			"$HOOK" prestart "${ABUILD[@]}" <"$FIX/state/build-start.json" 2>/dev/null && grep -q openat "$T/strace.out" && break
	done
	writes="$(grep -E 'O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|rename|unlink|mkdir|truncate' "$T/strace.out" | grep -v ' = -1 ' |
		sed -E 's/^[0-9]+ +//; s/\) += .*/)/' | sed "s|$SYSROOT|<sysroot>|g; s|$FIX|<fixture>|g" | jq -R . | jq -sc .)"
fi
jq -n --argjson changed "$changed" --argjson d "$decision" --argjson w "$writes" \
	'{fixture_files_changed: $changed, last_decision: $d, write_syscalls: $w}' >"$PARTS/buildguard-writes.json"
echo "fixture files changed by $((ROUNDS * ITERS)) healthy build starts: $changed (outside the state dir and log); decision $decision" >&2
echo "write syscalls of one run:" >&2
jq -r '.write_syscalls[]' "$PARTS/buildguard-writes.json" | sed 's/^/  /' >&2

# ---- 64 concurrent starts -----------------------------------------------------------------
if ! skip conc; then
	section "$CONC concurrent starts x $BURSTS bursts (ledger lock wait: the hooks' log, or flockwait.so for a dynamic hook)"
	{
		echo 'unset LD_PRELOAD MEMGUARD_BENCH_LOCKLOG'
		echo "for i in \$(seq 0 $((CONC - 1))); do"
		echo "  \"$HOOK\" poststop $(printf '%q ' "${A10[@]}") <\"$FIX/conc/stop-\$i.json\" || exit 1"
		echo "done"
	} >"$T/conc-reset.sh"
	LD_PRELOAD="$FLOCKWAIT" MEMGUARD_BENCH_LOCKLOG="$T/lockwait.log" \
		"$DRV" burst --n "$CONC" --bursts "$BURSTS" --label "conc$CONC" --lock-log "$T/lockwait.log" \
		--reset "$T/conc-reset.sh" --stdin-fmt "$FIX/conc/start-%d.json" -- "$HOOK" prestart "${A10[@]}" >"$PARTS/conc.json"
	# Lock wait: each hook logs its own (lock_wait_us); flockwait.so sees it
	# only when the hook is linked dynamically (LD_PRELOAD).
	if [[ "$(jq -r '.lock_wait_ms.p50 // empty' "$PARTS/conc.json")" == "" ]]; then
		grep '"stage":"prestart"' "$SYSROOT/var/log/oci-memguard/events.jsonl" | tail -n $((CONC * BURSTS)) |
			jq -s '[.[].lock_wait_us // empty] | sort | length as $n | if $n == 0 then null else
				{hooks: $n, p50: (.[($n * 0.5 | floor)] / 1000), p90: (.[($n * 0.9 | floor)] / 1000),
				 p99: (.[([($n * 0.99 | floor), $n - 1] | min)] / 1000), max: (.[-1] / 1000), mean: ((add / $n) / 1000),
				 source: "lock_wait_us of the log records"} end' >"$T/lockwait.json"
		jq --slurpfile lw "$T/lockwait.json" '.lock_wait_ms = $lw[0]' "$PARTS/conc.json" >"$PARTS/conc.json.tmp" &&
			mv "$PARTS/conc.json.tmp" "$PARTS/conc.json"
		jq -r '.lock_wait_ms | if . then "lock wait (from the log): p50 \(.p50) p90 \(.p90) p99 \(.p99) max \(.max) ms (\(.hooks) hooks)" else "lock wait: not recorded" end' \
			"$PARTS/conc.json" >&2
	fi
	# every one of them holds its record and its claim on /system.slice
	n_recs="$(find "$SYSROOT/run/oci-memguard/containers" -name '*.json' | wc -l)"
	echo "records after the last burst: $n_recs (expected $((CONC + BG + 2)))" >&2
	jq --argjson n "$n_recs" --argjson want $((CONC + BG + 2)) '. + {records_after: $n, records_expected: $want}' \
		"$PARTS/conc.json" >"$PARTS/conc.json.tmp" && mv "$PARTS/conc.json.tmp" "$PARTS/conc.json"
	sh "$T/conc-reset.sh"
fi

# ---- scaling: start and stop at 10, 100, 1,000 live containers -----------------------
# Each count gets its own copy of the fixture host (a ledger and cgroup
# tree of its own), filled by starting that many containers (untimed); the
# Docker container then starts (or stops) there, paired against /bin/true
# in the same rounds.
if ! skip scale && ((SCALE_MAX > 0)); then
	section "scaling: start and stop with N live containers ($SCALE) vs /bin/true: $SCALE_ROUNDS rounds x $SCALE_ITERS execs"
	SCMDS=(@true -- /bin/true)
	scale_host() { # scale_host N HOOK: a copy of the fixture host with N live containers
		local root="$T/root-$1${3:-}"
		rm -rf "$root"
		cp -a "$SYSROOT" "$root"
		rm -rf "$root/run/oci-memguard" "$root/var/log/oci-memguard"
		local i
		for i in $(seq 1 "$1"); do
			"$2" prestart --sysroot "$root" --no-syslog --policy-dir "$FIX/policies/p10" <"$FIX/scale/$i.json" || return 1
		done
		echo "live containers on $root: $(find "$root/run/oci-memguard/containers" -name '*.json' | wc -l)" >&2
	}
	for n in $SCALE; do
		scale_host "$n" "$HOOK" || exit 1
		args=(--sysroot "$T/root-$n" --no-syslog --policy-dir "$FIX/policies/p10")
		printf 'exec "%s" prestart %s <"%s"\n' "$HOOK" "$(printf '%q ' "${args[@]}")" "$FIX/state/docker-start.json" >"$T/scale-pre-$n.sh"
		printf 'exec "%s" poststop %s <"%s"\n' "$HOOK" "$(printf '%q ' "${args[@]}")" "$FIX/state/docker-stop.json" >"$T/scale-post-$n.sh"
		SCMDS+=("@start-$n" stdin="$FIX/state/docker-start.json" pre="$T/scale-post-$n.sh" -- "$HOOK" prestart "${args[@]}")
		SCMDS+=("@stop-$n" stdin="$FIX/state/docker-stop.json" pre="$T/scale-pre-$n.sh" -- "$HOOK" poststop "${args[@]}")
		if [[ -n "${BENCH_ALT:-}" ]]; then
			scale_host "$n" "$BENCH_ALT" -alt || exit 1
			aargs=(--sysroot "$T/root-$n-alt" --no-syslog --policy-dir "$FIX/policies/p10")
			printf 'exec "%s" poststop %s <"%s"\n' "$BENCH_ALT" "$(printf '%q ' "${aargs[@]}")" "$FIX/state/docker-stop.json" >"$T/scale-alt-post-$n.sh"
			SCMDS+=("@alt-start-$n" stdin="$FIX/state/docker-start.json" pre="$T/scale-alt-post-$n.sh" -- "$BENCH_ALT" prestart "${aargs[@]}")
		fi
	done
	"$DRV" ab --rounds "$SCALE_ROUNDS" --iters "$SCALE_ITERS" --label scale "${SCMDS[@]}" >"$PARTS/scale.json"
	# 64 starts at once on the host with the most live containers
	args=(--sysroot "$T/root-$SCALE_MAX" --no-syslog --policy-dir "$FIX/policies/p10")
	{
		echo "for i in \$(seq 0 $((CONC - 1))); do"
		echo "  \"$HOOK\" poststop $(printf '%q ' "${args[@]}") <\"$FIX/conc/stop-\$i.json\" || exit 1"
		echo "done"
	} >"$T/scale-conc-reset.sh"
	"$DRV" burst --n "$CONC" --bursts "$SCALE_BURSTS" --label "scale-conc$CONC" \
		--reset "$T/scale-conc-reset.sh" --stdin-fmt "$FIX/conc/start-%d.json" -- "$HOOK" prestart "${args[@]}" >"$T/scale-conc.json"
	grep '"stage":"prestart"' "$T/root-$SCALE_MAX/var/log/oci-memguard/events.jsonl" | tail -n $((CONC * SCALE_BURSTS)) |
		jq -s '[.[].lock_wait_us // empty] | sort | length as $n | if $n == 0 then null else
			{hooks: $n, p50: (.[($n * 0.5 | floor)] / 1000), p99: (.[([($n * 0.99 | floor), $n - 1] | min)] / 1000), max: (.[-1] / 1000)} end' >"$T/scale-lockwait.json"
	jq --slurpfile lw "$T/scale-lockwait.json" --argjson live "$SCALE_MAX" '. + {live: $live, lock_wait_ms: $lw[0]}' "$T/scale-conc.json" >"$PARTS/scale-conc.json"
	sh "$T/scale-conc-reset.sh"
	jq -r '"64 starts at once with \(.live) live: latency p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) ms; lock wait p50 \(.lock_wait_ms.p50) p99 \(.lock_wait_ms.p99) ms; failures \(.failures)"' \
		"$PARTS/scale-conc.json" >&2
fi

# ---- callgrind ---------------------------------------------------------------------
if ! skip callgrind && command -v valgrind >/dev/null; then
	section "callgrind: instructions of one start (Docker container)"
	echo '{}' >"$PARTS/callgrind.json"
	for p in 1 10 100 1000; do
		var="A${p}[@]"
		valgrind -q --tool=callgrind --callgrind-out-file="$T/cg.$p" "$HOOK" prestart "${!var}" --no-seccomp \
			<"$FIX/state/docker-start.json" 2>/dev/null
		total="$(callgrind_annotate "$T/cg.$p" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)"
		top="$(callgrind_annotate --threshold=100 "$T/cg.$p" 2>/dev/null |
			sed -n '/file:function/,$p' | grep -E '^ *[0-9,]+ \(' | sed -n '1,12p' |
			sed -E 's/^ *([0-9,]+) \(([0-9. ]+)%\) +(.*)$/\1\t\2\t\3/' | tr -d , |
			jq -R 'split("\t") | {ir: (.[0] | tonumber), pct: (.[1] | gsub(" "; "") | tonumber), fn: .[2]}' | jq -sc .)"
		incl="$(callgrind_annotate --inclusive=yes --threshold=100 "$T/cg.$p" 2>/dev/null |
			grep -E '^ *[0-9,]+ \(' | grep -E '[ :](main|stage_start|container_decide|policy_set_load|policy_load_file|policy_parse|oci_info_load|oci_info_parse|json_parse|image_identify|cgroup_host_detect|ledger_open|ledger_load|ledger_apply|ledger_close|outcome_write|_dl_start|_dl_relocate_object|_dl_map_object|policy_merge_matching|buildguard_before_build|write_file_atomic_at|yajl_parse)( |$)' | grep -v '^ *[0-9,]* ([0-9. ]*%) *[^ ]*/hook/\|^ *[0-9,]* ([0-9. ]*%) *[^ ]*/policy/' |
			sed -E 's/^ *([0-9,]+) \(([0-9. ]+)%\) +(.*)$/\1\t\2\t\3/' | tr -d , |
			jq -R 'split("\t") | {ir: (.[0] | tonumber), pct: (.[1] | gsub(" "; "") | tonumber), fn: .[2]}' | jq -sc .)"
		jq --arg p "p$p" --argjson total "${total:-0}" --argjson top "$top" --argjson incl "$incl" \
			'. + {($p): {ir_total: $total, top_self: $top, inclusive: $incl}}' "$PARTS/callgrind.json" >"$T/cg.tmp" &&
			mv "$T/cg.tmp" "$PARTS/callgrind.json"
		echo "p$p: Ir $(printf "%'d" "${total:-0}")" >&2
	done
	echo "p10, top functions (self):" >&2
	jq -r '.p10.top_self[] | "  \(.ir)\t\(.pct)%\t\(.fn)"' "$PARTS/callgrind.json" >&2
	echo "p1000, top functions (self):" >&2
	jq -r '.p1000.top_self[] | "  \(.ir)\t\(.pct)%\t\(.fn)"' "$PARTS/callgrind.json" >&2
	"$HOOK" prestart "${A10[@]}" <"$FIX/state/docker-start.json" # the same ledger as before
fi

# ---- wrapper vs runc run true ---------------------------------------------------------
RUNC="$(command -v runc || true)"
# The wrapper reads only /etc/oci-memguard/runtime.conf (compiled in): it gets
# a private one through a bind mount in a private mount namespace, as in
# conformance/engine-helpers.bash; the mount point is made under the same
# host lock the conformance suites take, and removed again if we made it.
runc_cleanup() {
	local c
	for c in /sys/fs/cgroup/*/memguard-bench /sys/fs/cgroup/memguard-bench; do
		[[ -d "$c" ]] || continue
		find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
	[[ -n "${MADE_ETC:-}" ]] && rmdir /etc/oci-memguard 2>/dev/null
	RUNC_ROOT=
	return 0
}
if ! skip runc && [[ -n "$RUNC" && $(id -u) -eq 0 ]] && command -v busybox >/dev/null && command -v unshare >/dev/null; then
	section "wrapper: oci-memguard-runtime run vs runc run (busybox /bin/true, $RUNC_ROUNDS rounds x $RUNC_ITERS runs)"
	W="$T/runc"
	RUNC_ROOT="$W/root"
	mkdir -p "$W"/{rootfs/bin,etc,hookstate,policies} "$RUNC_ROOT"
	cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
	ln -s busybox "$W/rootfs/bin/true"
	ln -s busybox "$W/rootfs/bin/sh"
	(cd "$W" && "$RUNC" spec)
	printf '{"match": {"cgroups": ["/memguard-bench/*"]}, "memory": {"min": "64M"}}\n' >"$W/policies/10-bench.json"
	chmod 0644 "$W/policies/10-bench.json"
	HOOK_EXTRA=("--state-dir=$W/hookstate" "--log-file=$W/hook.log" "--policy-dir=$W/policies" "--no-syslog")
	mkbundle() { # mkbundle NAME HOOKPATH|-
		local b="$W/b-$1"
		mkdir -p "$b"
		jq --arg rootfs "$W/rootfs" --arg cgp "/memguard-bench/$1" --arg hook "$2" --argjson extra "$(printf '%s\n' "${HOOK_EXTRA[@]}" | jq -R . | jq -sc .)" '
		  .root = {path: $rootfs, readonly: true} | .process.terminal = false | .process.args = ["/bin/true"]
		  | .linux.cgroupsPath = $cgp
		  | if $hook == "-" then . elif $hook == "/bin/true" then
		      .hooks = {prestart: [{path: "/bin/true", args: ["true"]}], poststop: [{path: "/bin/true", args: ["true"]}]}
		    else .hooks = {prestart: [{path: $hook, args: (["oci-memguard", "prestart"] + $extra), timeout: 10}],
		                   poststop: [{path: $hook, args: (["oci-memguard", "poststop"] + $extra), timeout: 10}]} end' \
			"$W/config.json" >"$b/config.json"
		cp "$b/config.json" "$b/config.json.pristine"
	}
	mkbundle plain -
	mkbundle truehooks /bin/true
	mkbundle hooks "$HOOK"
	mkbundle wrapped -
	mkbundle wraponly -
	printf 'cp %q %q\n' "$W/b-wrapped/config.json.pristine" "$W/b-wrapped/config.json" >"$W/fresh-wrapped.sh"
	printf 'cp %q %q\n' "$W/b-wraponly/config.json.pristine" "$W/b-wraponly/config.json" >"$W/fresh-wraponly.sh"
	{
		echo "runtime=$RUNC"
		echo "hook=$HOOK"
		echo "log_file=$W/hook.log"
		for a in "${HOOK_EXTRA[@]}"; do [[ "$a" == --log-file=* ]] || echo "hook_arg=$a"; done
	} >"$W/etc/runtime.conf"
	mkdir -p "$W/etc-true"
	sed "s|^runtime=.*|runtime=/bin/true|" "$W/etc/runtime.conf" >"$W/etc-true/runtime.conf"
	chmod 0644 "$W/etc/runtime.conf" "$W/etc-true/runtime.conf"

	exec {LOCKFD}>/tmp/oci-memguard-conformance-host.lock
	flock -w 1200 "$LOCKFD"
	if [[ ! -d /etc/oci-memguard ]]; then
		mkdir /etc/oci-memguard
		MADE_ETC=1
	fi
	in_ns() { # in_ns ETCDIR CMD...: CMD with ETCDIR as /etc/oci-memguard
		# shellcheck disable=SC2016 # expanded by the inner sh
		unshare -m --propagation private sh -c 'mount --bind "$1" /etc/oci-memguard && shift && exec "$@"' sh "$@"
	}
	# The wrapper's own cost: the same work, then exec /bin/true instead of runc.
	in_ns "$W/etc-true" "$DRV" ab --rounds "$ROUNDS" --iters "$ITERS" --label wrapper-only \
		@true -- /bin/true \
		@wrapper pre="$W/fresh-wraponly.sh" -- "$WRAPPER" --root "$RUNC_ROOT" run --bundle "$W/b-wraponly" wo \
		>"$PARTS/wrapper-only.json"
	grep -q oci-memguard "$W/b-wraponly/config.json" || { echo "bench: the wrapper did not add its hooks" >&2; exit 1; }
	in_ns "$W/etc" "$DRV" ab --rounds "$RUNC_ROUNDS" --iters "$RUNC_ITERS" --warmup 3 --label runc \
		@runc -- "$RUNC" --root "$RUNC_ROOT" run --bundle "$W/b-plain" mgb-plain \
		@runc+true-hooks -- "$RUNC" --root "$RUNC_ROOT" run --bundle "$W/b-truehooks" mgb-truehooks \
		@runc+hooks -- "$RUNC" --root "$RUNC_ROOT" run --bundle "$W/b-hooks" mgb-hooks \
		@wrapper pre="$W/fresh-wrapped.sh" -- "$WRAPPER" --root "$RUNC_ROOT" run --bundle "$W/b-wrapped" mgb-wrapped \
		>"$PARTS/runc.json"
	flock -u "$LOCKFD"
	grep -c '"stage":"prestart"' "$W/hook.log" | sed 's/^/hook prestart records in the runc runs: /' >&2
	runc_cleanup
	if [[ -n "${MADE_ETC:-}" ]]; then MADE_ETC=; fi
else
	echo "wrapper vs runc: skipped (needs root, runc, busybox, unshare; BENCH_SKIP=runc or smoke)" >&2
fi

# ---- the largest config.json -------------------------------------------------------------
# 16 MiB with 65536 annotations (the limits): what parsing it costs the hook
# (a start against the Docker container's, same cgroup) and the wrapper
# (adding the hooks, then exec /bin/true, against /bin/true).  Before
# objects were indexed this took seconds to minutes.
section "the largest config.json the limits allow (16 MiB, 65536 annotations): hook start and wrapper"
MAX_ROUNDS="${BENCH_MAX_ROUNDS:-5}"
MAX_ITERS="${BENCH_MAX_ITERS:-4}"
[[ -z "${BENCH_SMOKE:-}" ]] || MAX_ROUNDS=2 MAX_ITERS=1
MAXB="$FIX/bundles/max-config"
mkdir -p "$MAXB"
"$TOP/bench/gen-max-config.sh" "$MAXB/config.json" 65536 16777216 \
	"$(jq -r .linux.cgroupsPath "$(jq -r .bundle "$FIX/state/docker-start.json")/config.json")"
cp "$MAXB/config.json" "$MAXB/config.json.pristine"
jq --arg b "$MAXB" '.id = "memguard-bench-max-config" | .bundle = $b' "$FIX/state/docker-start.json" >"$FIX/state/max-start.json"
jq '.status = "stopped" | del(.pid)' "$FIX/state/max-start.json" >"$FIX/state/max-stop.json"
"$DRV" ab --rounds "$MAX_ROUNDS" --iters "$MAX_ITERS" --label max-config \
	@docker stdin="$FIX/state/docker-start.json" -- "$HOOK" prestart "${A10[@]}" \
	@max-config stdin="$FIX/state/max-start.json" -- "$HOOK" prestart "${A10[@]}" >"$PARTS/max-config.json"
grep -F '"id":"memguard-bench-max-config"' "$SYSROOT/var/log/oci-memguard/events.jsonl" | tail -n1 >"$T/max-record.json" || true
jq -e '(.errors | length) == 0' "$T/max-record.json" >/dev/null 2>&1 ||
	{ echo "bench: the hook did not read the largest config.json cleanly:" >&2; head -c 2000 "$T/max-record.json" >&2; exit 1; }
"$HOOK" poststop "${A10[@]}" <"$FIX/state/max-stop.json"
if [[ $(id -u) -eq 0 ]] && command -v unshare >/dev/null; then
	mkdir -p "$T/max-etc"
	printf 'runtime=/bin/true\nhook=%s\nlog_file=%s\n' "$HOOK" "$T/max-wrapper.log" >"$T/max-etc/runtime.conf"
	chmod 0644 "$T/max-etc/runtime.conf"
	printf 'cp %q %q\n' "$MAXB/config.json.pristine" "$MAXB/config.json" >"$T/max-fresh.sh"
	exec {MAXLOCK}>/tmp/oci-memguard-conformance-host.lock
	flock -w 1200 "$MAXLOCK"
	if [[ ! -d /etc/oci-memguard ]]; then
		mkdir /etc/oci-memguard
		MAX_MADE_ETC=1
	fi
	# shellcheck disable=SC2016 # expanded by the inner sh
	unshare -m --propagation private sh -c 'mount --bind "$1" /etc/oci-memguard && shift && exec "$@"' sh "$T/max-etc" \
		"$DRV" ab --rounds "$MAX_ROUNDS" --iters "$MAX_ITERS" --label max-config-wrapper \
		@true -- /bin/true \
		@wrapper pre="$T/max-fresh.sh" -- "$WRAPPER" create --bundle "$MAXB" memguard-bench-max-config >"$PARTS/max-config-wrapper.json"
	if [[ -n "${MAX_MADE_ETC:-}" ]]; then rmdir /etc/oci-memguard && MAX_MADE_ETC=; fi
	flock -u "$MAXLOCK"
	grep -q oci-memguard "$MAXB/config.json" ||
		{ echo "bench: the wrapper did not add its hooks to the largest config.json: $(cat "$T/max-wrapper.log" 2>/dev/null)" >&2; exit 1; }
else
	echo "wrapper on the largest config.json: skipped (needs root and unshare)" >&2
fi

# ---- results ------------------------------------------------------------------------------
section "results"
jq -n --slurpfile m "$PARTS/machine.json" \
	--argjson start "$(cat "$PARTS/start.json")" --argjson poststop "$(cat "$PARTS/poststop.json")" \
	--argjson bg "$(cat "$PARTS/buildguard.json")" --argjson bgw "$(cat "$PARTS/buildguard-writes.json")" \
	--argjson conc "$(cat "$PARTS/conc.json" 2>/dev/null || echo null)" \
	--argjson cg "$(cat "$PARTS/callgrind.json" 2>/dev/null || echo null)" \
	--argjson scale "$(cat "$PARTS/scale.json" 2>/dev/null || echo null)" \
	--argjson scaleconc "$(cat "$PARTS/scale-conc.json" 2>/dev/null || echo null)" \
	--argjson wo "$(cat "$PARTS/wrapper-only.json" 2>/dev/null || echo null)" \
	--argjson runc "$(cat "$PARTS/runc.json" 2>/dev/null || echo null)" \
	--argjson smoke "$([[ -n "${BENCH_SMOKE:-}" ]] && echo true || echo false)" '
	def cmd($s; $n): $s.commands[] | select(.name == $n);
	def hookrss: [($start.commands[1:][] | .max_rss_kb), ($poststop.commands[1].max_rss_kb), ($bg.commands[1].max_rss_kb)] | max;
	{machine: $m[0], smoke: $smoke, start: $start, poststop: $poststop, buildguard: ($bg + {writes: $bgw}),
	 concurrency: $conc, callgrind: $cg, wrapper_only: $wo, runc: $runc, scale: $scale, scale_concurrency: $scaleconc,
	 targets: {
	   start_p10_ratio: {limit: 1.3, value: cmd($start; "p10").ratio_to_first.median, met: (cmd($start; "p10").ratio_to_first.median <= 1.3)},
	   start_p1000_ratio: {limit: 1.6, value: cmd($start; "p1000").ratio_to_first.median, met: (cmd($start; "p1000").ratio_to_first.median <= 1.6)},
	   wrapper_added_pct: (if $runc then {limit: 3, value: ((cmd($runc; "wrapper").ratio_to_first.median - 1) * 100),
	       wrapper_alone_pct: (if $wo then (cmd($wo; "wrapper").diff_to_first_us.median / cmd($runc; "runc").median_us * 100) else null end),
	       met_wrapper_alone: (if $wo then (cmd($wo; "wrapper").diff_to_first_us.median / cmd($runc; "runc").median_us * 100) <= 3 else null end),
	       met_with_hooks: (((cmd($runc; "wrapper").ratio_to_first.median - 1) * 100) <= 3)} else null end),
	   scale_start_ratio: (if $scale and ([$scale.commands[] | select(.name | test("^start-"))] | length) > 1 then
	       # the paired ratios (each against /bin/true in the same rounds):
	       # the load of the machine drifts between commands, not within a pair
	       ([$scale.commands[] | select(.name | test("^start-"))] as $s | {limit: 1.15, value: ($s[-1].ratio_to_first.median / $s[0].ratio_to_first.median),
	        met: (($s[-1].ratio_to_first.median / $s[0].ratio_to_first.median) <= 1.15)}) else null end),
	   peak_rss_kib: {limit: 4096, value: hookrss, met: (hookrss <= 4096)},
	   buildguard_no_writes: {value: $bgw.fixture_files_changed, met: ($bgw.fixture_files_changed == 0)}}}' >"$OUT"

jq -r '
  def f1: . * 10 | round / 10 | tostring;
  def f3: . * 1000 | round / 1000 | tostring;
  def row($s): $s.commands[] | "| \($s.label) \(.name) | \(.median_us | f1) µs (IQR \(.p25_us | f1)–\(.p75_us | f1)) | \(.ratio_to_first.median | f3)× (IQR \(.ratio_to_first.p25 | f3)–\(.ratio_to_first.p75 | f3), max \(.ratio_to_first.max | f3)) | +\(.diff_to_first_us.median | f1) µs | \(.max_rss_kb) |";
  "machine: \(.machine.date), \(.machine.nproc) cores, kernel \(.machine.kernel), \(.machine.cpu), load \(.machine.loadavg), commit \(.machine.commit)",
  "",
  "| what | per exec, median (IQR of execs) | ratio to the first row, median of rounds (IQR, max) | added, median of rounds | peak RSS KiB |",
  "|---|---|---|---|---|",
  row(.start), row(.poststop), row(.buildguard),
  (if .wrapper_only then row(.wrapper_only) else empty end),
  (if .runc then row(.runc) else empty end),
  (if .scale then row(.scale) else empty end),
  "",
  (if .scale_concurrency then .scale_concurrency | "64 starts at once with \(.live) live containers: latency p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) ms; lock wait p50 \(.lock_wait_ms.p50) p99 \(.lock_wait_ms.p99) ms; failures \(.failures)" else empty end),
  (if .concurrency then .concurrency | "concurrency: \(.n) starts at once x \(.bursts): all done in \(.wall_ms.median) ms median (min \(.wall_ms.min), max \(.wall_ms.max)), \(.throughput_per_s.median) starts/s; latency p50 \(.latency_ms.p50) p90 \(.latency_ms.p90) p99 \(.latency_ms.p99) max \(.latency_ms.max) ms; lock wait p50 \(.lock_wait_ms.p50) p90 \(.lock_wait_ms.p90) p99 \(.lock_wait_ms.p99) max \(.lock_wait_ms.max) ms; records \(.records_after)/\(.records_expected); failures \(.failures)" else empty end),
  (if .callgrind then "callgrind Ir per start: " + ([.callgrind | to_entries[] | "\(.key) \(.value.ir_total)"] | join(", ")) else empty end),
  "build guard (healthy): decision \(.buildguard.writes.last_decision.decision), fixture files changed: \(.buildguard.writes.fixture_files_changed)",
  "",
  "targets:",
  (.targets | to_entries[] | select(.value != null) | "  \(.key): \(.value | del(.met) | tostring) -> \(if .value.met == true or .value.met_wrapper_alone == true then "MET" else "MISSED" end)")
' "$OUT"
# The largest config.json: kept apart from the table above (its own few rounds).
jq --argjson h "$(cat "$PARTS/max-config.json")" --argjson w "$(cat "$PARTS/max-config-wrapper.json" 2>/dev/null || echo null)" \
	'. + {max_config: {hook: $h, wrapper: $w}}' "$OUT" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
jq -r '
  def ms: . / 1000 | . * 10 | round / 10 | tostring;
  def cmd($s; $n): $s.commands[] | select(.name == $n);
  .max_config | "largest config.json (16 MiB, 65536 annotations): hook start \(cmd(.hook; "max-config").median_us | ms) ms against \(cmd(.hook; "docker").median_us | ms) ms for the Docker container (parsing it: +\(cmd(.hook; "max-config").diff_to_first_us.median | ms) ms)" +
    (if .wrapper then "; wrapper \(cmd(.wrapper; "wrapper").diff_to_first_us.median | ms) ms over /bin/true (budget 1000 ms)" else "" end)
' "$OUT"
echo >&2
echo "results: $OUT" >&2
