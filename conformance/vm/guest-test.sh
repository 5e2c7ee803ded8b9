#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The VM suite's cases, run by /init inside the guest. Each case prints
# "MG:ok - ..." or "MG:not ok - ..." and its tables with "MG:" prefixes.
#
# Cases are shell functions named case_*; CASES lists the ones to run (the
# build guard's cases — memory.reclaim, compact_memory, drop_caches,
# vm.swappiness, /proc/buddyinfo — are added the same way: a function and a
# name in CASES).
CG=/sys/fs/cgroup
MiB=1048576

ok() { echo "MG:ok - $*"; }
notok() { echo "MG:not ok - $*"; }
check() { # check EXIT-STATUS DESCRIPTION
	if [ "$1" -eq 0 ]; then ok "$2"; else notok "$2"; fi
}
val() { cat "$1" 2>/dev/null || echo "-"; }
mib() { echo $(( $1 / MiB )); }

# start ID: runc run -d of /bundles/ID, stdio to /dev/null (no terminal)
start() {
	runc run --no-pivot -d --bundle "/bundles/$1" "$1" </dev/null >"/tmp/runc-$1.log" 2>&1 || {
		echo "MG:runc run $1 failed: $(cat "/tmp/runc-$1.log")"
		return 1
	}
}
stop() {
	runc kill "$1" KILL >/dev/null 2>&1
	i=0
	while [ $i -lt 50 ] && [ "$(runc state "$1" 2>/dev/null | grep -c '"status": "stopped"')" = 0 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	runc delete -f "$1" >/dev/null 2>&1
}
wait_current() { # wait_current CGROUP BYTES SECONDS
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		c=$(val "$CG$1/memory.current")
		[ "$c" != - ] && [ "$c" -ge "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

ancestors_snapshot() {
	for d in /memguard /memguard/ci /memguard/batch; do
		printf '%s min=%s low=%s; ' "$d" "$(val $CG$d/memory.min)" "$(val $CG$d/memory.low)"
	done
}

prepare() {
	mkdir -p $CG/memguard
	echo "+memory +pids" >$CG/memguard/cgroup.subtree_control
	# The pressure: the workloads share a 400M limit on /memguard. The
	# reclaim root's own protection does not count, its children's does.
	echo 400M >$CG/memguard/memory.max
	mkdir -p $CG/memguard/ci $CG/memguard/batch
	echo "+memory +pids" >$CG/memguard/ci/cgroup.subtree_control
	echo "+memory +pids" >$CG/memguard/batch/cgroup.subtree_control
}

# experiment NAME: container a-NAME (256M, idle) then neighbour B (380M,
# active) under the shared 400M; prints the table, echoes A's final MiB.
experiment() {
	name="$1"
	before=$(ancestors_snapshot)
	start "a-$name" || return 1
	if ! wait_current /memguard/ci/a-"$name" $((250 * MiB)) 60; then
		echo "MG:  A never reached 250M: $(val $CG/memguard/ci/a-"$name"/memory.current)"
	fi
	[ "$name" = leafonly ] && echo 128M >$CG/memguard/ci/a-"$name"/memory.min
	echo "MG:  [$name] during: $(ancestors_snapshot)"
	echo "MG:  [$name] memory.events before: A{$(tr '\n' ' ' <$CG/memguard/ci/a-"$name"/memory.events)} /memguard/ci{$(tr '\n' ' ' <$CG/memguard/ci/memory.events)}"
	start "b-$name" || return 1
	echo "MG:  [$name]   t  A.current A.swap  B.current  MemFree (MiB)"
	t=0
	last=0
	while [ $t -le 12 ]; do
		a=$(val $CG/memguard/ci/a-"$name"/memory.current)
		as=$(val $CG/memguard/ci/a-"$name"/memory.swap.current)
		b=$(val $CG/memguard/batch/b-"$name"/memory.current)
		mf=$(awk '/MemFree/ {print int($2/1024)}' /proc/meminfo)
		printf 'MG:  [%s] %3ss %8s %7s %10s %8s\n' "$name" "$t" "$(mib "$a")" "$(mib "$as")" "$(if [ "$b" = - ]; then echo -; else mib "$b"; fi)" "$mf"
		last=$a
		sleep 1
		t=$((t + 1))
	done
	echo "MG:  [$name] memory.events after:  A{$(tr '\n' ' ' <$CG/memguard/ci/a-"$name"/memory.events)} /memguard/ci{$(tr '\n' ' ' <$CG/memguard/ci/memory.events)} /memguard{$(tr '\n' ' ' <$CG/memguard/memory.events)}"
	stop "b-$name"
	stop "a-$name"
	after=$(ancestors_snapshot)
	echo "MG:  [$name] ancestors before: $before"
	echo "MG:  [$name] ancestors after:  $after"
	[ "$before" = "$after" ]
	check $? "[$name] every ancestor's memory.min/low is back to its value before the container"
	RESULT=$(mib "$last")
}

case_protect_hook() {
	experiment hook
	[ "$RESULT" -ge 128 ]
	check $? "[hook] policy min=128M via the hook: protected container keeps ${RESULT}M >= 128M under a noisy neighbour"
	echo "MG:  hook log:"
	sed 's/^/MG:    /' /var/log/oci-memguard/events.jsonl
	n=$(grep -c '"stage":"prestart"' /var/log/oci-memguard/events.jsonl)
	[ "$n" -ge 1 ] && grep -q '"target":"/memguard","file":"memory.min","old":"0","new":"134217728","result":"ok"' /var/log/oci-memguard/events.jsonl
	check $? "[hook] the hook raised the top-level ancestor /memguard from 0 to 128M (log record)"
	grep -q '"stage":"poststop".*"target":"/memguard","file":"memory.min","old":"134217728","new":"0","result":"ok"' /var/log/oci-memguard/events.jsonl
	check $? "[hook] poststop gave /memguard back its 0 (log record)"
	[ ! -e /run/oci-memguard/containers/a-hook.json ]
	check $? "[hook] the record is cleared at poststop"
}

case_protect_nohook() {
	experiment nohook
	[ "$RESULT" -lt 96 ]
	check $? "[nohook] same workload without the hook drops well below: ${RESULT}M < 96M"
}

case_protect_leafonly() {
	experiment leafonly
	[ "$RESULT" -lt 96 ]
	check $? "[leafonly] memory.min=128M on the leaf alone (ancestors at 0) is void: ${RESULT}M < 96M"
}

CASES="${CASES:-protect_hook protect_nohook protect_leafonly}"
prepare
echo "MG:memory.events: /memguard's 'max' counts the times the shared 400M limit forced reclaim (the pressure);"
echo "MG:  'low' counts reclaim of a cgroup below its effective memory.low (none here: the policy sets min), 'oom'/'oom_kill'"
echo "MG:  stay 0 because zram swap absorbs what is reclaimed; memory.min has no event: its effect is memory.current itself."
for c in $CASES; do
	echo "MG:case $c"
	"case_$c"
done
