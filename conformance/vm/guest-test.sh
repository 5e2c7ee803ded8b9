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

# The build guard on a real kernel: a cache-heavy host, a build whose policy
# wants more MemAvailable than there is. The hook must reclaim the deficit
# with memory.reclaim and destroy far less page cache than drop_caches=3
# would; vm.swappiness is the policy's while the build runs.
case_buildguard_reclaim() {
	mkdir -p /mnt/cache
	if ! { echo 600M >/sys/block/zram1/disksize && mke2fs -q /dev/zram1 && mount -t ext4 /dev/zram1 /mnt/cache; } >/tmp/fs.log 2>&1; then
		echo "MG:  $(tr "\n" " " </tmp/fs.log)"
		notok "[buildguard] a filesystem for page cache (zram1, ext2)"
		return
	fi
	# cache made by a cgroup of its own, as a previous build would leave it
	mkdir -p $CG/memguard/cachey
	(
		echo $$ >$CG/memguard/cachey/cgroup.procs
		dd if=/dev/zero of=/mnt/cache/blob bs=1M count=400 2>/dev/null
		sync
		cat /mnt/cache/blob >/dev/null
	)
	avail_kb=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
	deficit=$((64 * MiB))
	want=$((avail_kb * 1024 + deficit))
	printf '{"match": {"build": true}, "build": {"swappiness": 10, "reclaim": {"when": "auto", "available_below": %s, "timeout_ms": 20000}}}\n' "$want" \
		>/etc/oci-memguard/policy.d/60-builds.json
	chmod 0644 /etc/oci-memguard/policy.d/60-builds.json
	swp_before=$(cat /proc/sys/vm/swappiness)
	start build1 || return
	swp_during=$(cat /proc/sys/vm/swappiness)
	rec=$(grep '"id":"build1"' /var/log/oci-memguard/events.jsonl | grep '"stage":"prestart"')
	echo "MG:  [buildguard] hook record: $rec"
	num() { echo "$rec" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
	cb=$(num cached_before)
	ca=$(num cached_after)
	ab=$(num mem_available_before)
	aa=$(num mem_available_after)
	fb=$(num mem_free_before)
	fa=$(num mem_free_after)
	asked=$(echo "$rec" | sed -n 's/.*"file":"memory.reclaim","old":"","new":"\([0-9]*\)".*/\1/p')
	hook_dropped=$((cb - ca))
	stop build1
	swp_after=$(cat /proc/sys/vm/swappiness)
	# what drop_caches=3 destroys from here, plus what the hook already took
	c1=$(awk '/^Cached/ {print $2 * 1024}' /proc/meminfo)
	sync
	echo 3 >/proc/sys/vm/drop_caches
	c2=$(awk '/^Cached/ {print $2 * 1024}' /proc/meminfo)
	dc_dropped=$((hook_dropped + c1 - c2))
	echo "MG:  [buildguard] deficit $(mib "$asked")M; MemFree $(mib "$fb")M -> $(mib "$fa")M; MemAvailable $(mib "$ab")M -> $(mib "$aa")M; page cache $(mib "$cb")M -> $(mib "$ca")M"
	echo "MG:  [buildguard] (MemAvailable already counts reclaimable cache: reclaim turns it into free memory, it does not raise MemAvailable)"
	echo "MG:  [buildguard] cache dropped / memory needed: memory.reclaim $((hook_dropped * 100 / asked))%, drop_caches=3 would be $((dc_dropped * 100 / asked))%"
	echo "$rec" | grep -q '"decision":"short"'
	check $? "[buildguard] a build on a host below its MemAvailable threshold is judged short"
	echo "$rec" | grep -q '"target":"/","file":"memory.reclaim".*"result":"ok'
	check $? "[buildguard] the hook reclaimed with memory.reclaim at the cgroup2 root"
	[ "$fa" -ge $((fb + asked * 8 / 10)) ]
	check $? "[buildguard] free memory rose by at least 80% of the deficit ($(mib $((fa - fb)))M of $(mib "$asked")M)"
	[ $((hook_dropped * 2)) -lt "$dc_dropped" ]
	check $? "[buildguard] memory.reclaim destroyed far less page cache than drop_caches=3 would ($(mib "$hook_dropped")M vs $(mib "$dc_dropped")M)"
	echo "$rec" | grep -q 'without swappiness= (kernel < 6.11)\|swappiness=0'
	check $? "[buildguard] swappiness= support detected by the kernel's answer"
	[ "$swp_during" = 10 ] && [ "$swp_after" = "$swp_before" ]
	check $? "[buildguard] vm.swappiness $swp_before -> $swp_during while the build ran -> $swp_after after"
}

CASES="${CASES:-protect_hook protect_nohook protect_leafonly buildguard_reclaim}"
prepare
echo "MG:memory.events: /memguard's 'max' counts the times the shared 400M limit forced reclaim (the pressure);"
echo "MG:  'low' counts reclaim of a cgroup below its effective memory.low (none here: the policy sets min), 'oom'/'oom_kill'"
echo "MG:  stay 0 because zram swap absorbs what is reclaimed; memory.min has no event: its effect is memory.current itself."
for c in $CASES; do
	echo "MG:case $c"
	"case_$c"
done
