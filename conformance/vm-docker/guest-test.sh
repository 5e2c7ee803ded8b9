#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Docker VM flavour's cases, run by memguard-test.service in the Debian
# bookworm guest: systemd as PID 1, cgroup v2, Debian's docker.io 20.10 with
# its default systemd cgroup driver, the project installed from the source
# tree in /opt/memguard/src with ./install.sh --docker-default. Output on
# the serial console: "MG:ok - ..." / "MG:not ok - ..." per check, other
# "MG:" lines are notes (figures and tables).
#
# Containers: Docker's systemd driver puts them in
# /system.slice/docker-<id>.scope; system.slice is systemd's unit, so the
# hook must raise it through systemd. Pressure is a hog touching the guest's
# whole memory once (a second container, or a process of the host); reclaim
# then starts at the cgroup2 root, where system.slice's own protection caps
# its children's (cgroup-v2.rst: "Effective min boundary is limited by
# memory.min values of all ancestor cgroups"; the same for memory.low).
set -u
CASES_DEFAULT="install protect giveback restart headtohead hookorder build_healthy build_stressed doctor"

CG=/sys/fs/cgroup
MiB=1048576
LOG=/var/log/oci-memguard/events.jsonl
POLICY_DIR=/etc/oci-memguard/policy.d
HOOK=/usr/local/bin/oci-memguard
STATE=/run/oci-memguard/containers
IMG=/opt/memguard/image

ok() { echo "MG:ok - $*"; }
notok() { echo "MG:not ok - $*"; }
note() { echo "MG:  $*"; }
check() { if [ "$1" -eq 0 ]; then ok "$2"; else notok "$2"; fi; }
val() { cat "$1" 2>/dev/null || echo "-"; }
mib() { if [ "$1" = - ]; then echo -; else echo $(($1 / MiB)); fi; }
meminfo() { awk -v k="$1:" '$1 == k {print int($2 / 1024)}' /proc/meminfo; }
mount_opts() { sed -n 's/.* - cgroup2 [^ ]* //p' /proc/self/mountinfo; }
show_slice() { systemctl show system.slice -p MemoryMin -p MemoryLow | tr '\n' ' ' | sed 's/ $//'; }
# free blocks of order >= 4 in DMA32 and Normal (/proc/buddyinfo)
order4() { awk '$4 == "DMA32" || $4 == "Normal" {for (i = 9; i <= NF; i++) n += $i} END {print n + 0}' /proc/buddyinfo; }
records_left() { find "$STATE" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l; }
log_lines() { wc -l <"$LOG" 2>/dev/null || echo 0; }
# the hook's records written since line $1 of the log
records_since() { tail -n "+$(($1 + 1))" "$LOG" 2>/dev/null; }

policy() { # policy FILE JSON
	printf '%s\n' "$2" >"$POLICY_DIR/$1"
	chmod 0644 "$POLICY_DIR/$1"
}

cid() { docker inspect -f '{{.Id}}' "$1" 2>/dev/null; }
cpid() { docker inspect -f '{{.State.Pid}}' "$1" 2>/dev/null; }
scope_of() { echo "/system.slice/docker-$(cid "$1").scope"; }
rmc() { docker rm -f "$@" >/dev/null 2>&1; }

# run_hold NAME MIB [docker run options...] IMAGE: a container touching MIB
# and holding it; waits until its scope holds MIB - 6.
run_hold() {
	local name=$1 size=$2
	shift 2
	docker run -d --name "$name" "$@" /bin/memhog "$size" >"/tmp/run-$name.log" 2>&1 || {
		note "docker run $name failed: $(tr '\n' ' ' <"/tmp/run-$name.log")"
		return 1
	}
	local i=0 c scope
	scope=$(scope_of "$name")
	while [ $i -lt 600 ]; do
		c=$(val "$CG$scope/memory.current")
		[ "$c" != - ] && [ "$c" -ge $(((size - 6) * MiB)) ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	note "$name never reached $((size - 6))M: $(mib "$(val "$CG$scope/memory.current")")M"
	return 1
}

# hog KIND LEAF: touches the guest's memory and 320M more once (KIND container: a second
# container; host: a process of memguard-test.service) while sampling LEAF;
# sets KEPT and KEPT_MIN (MiB), then removes the hog.
hog() {
	local kind=$1 leaf=$2 size pid i=0 rss a t0
	size=$(($(meminfo MemTotal) + 320))
	t0=$(date +%s)
	if [ "$kind" = container ]; then
		docker run -d --name hog memguard/busybox:1 /bin/memhog "$size" >/dev/null 2>&1
		pid=$(cpid hog)
		[ "${pid:-0}" -gt 0 ] || { note "[hog] the hog container did not start"; KEPT=- KEPT_MIN=-; rmc hog; return; }
	else
		/opt/memguard/image/bin/memhog "$size" &
		pid=$!
	fi
	KEPT_MIN=999999
	# done when the hog has touched all of it (resident + swapped)
	while [ $i -lt 1800 ]; do
		a=$(mib "$(val "$CG$leaf/memory.current")")
		[ "$a" != - ] && [ "$a" -lt "$KEPT_MIN" ] && KEPT_MIN=$a
		rss=$(awk '/^VmRSS|^VmSwap/ {n += $2} END {print int(n / 1024)}' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ "$rss" -ge $((size - 4)) ] && break
		sleep 0.2
		i=$((i + 1))
	done
	sleep 2
	KEPT=$(mib "$(val "$CG$leaf/memory.current")")
	[ "$KEPT" != - ] && [ "$KEPT" -lt "$KEPT_MIN" ] && KEPT_MIN=$KEPT
	note "[hog] $kind hog touched ${rss}M of ${size}M in $(($(date +%s) - t0)) s; the container kept ${KEPT}M (lowest ${KEPT_MIN}M), swap $(mib "$(val "$CG$leaf/memory.swap.current")")M; MemFree $(meminfo MemFree)M"
	if [ "$kind" = container ]; then
		rmc hog
	else
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
	fi
}

prepare() {
	insmod /opt/memguard/modules/zsmalloc.ko 2>/dev/null
	insmod /opt/memguard/modules/zram.ko num_devices=1
	# the hog's pages (one non-zero byte each) compress to almost nothing;
	# the disk size bounds what may be swapped, uncompressed
	echo 3G >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0
	ORIG_SWAPPINESS=$(cat /proc/sys/vm/swappiness)
}

# ---- install: README's way ------------------------------------------------
case_install() {
	local t0 out rc
	local built
	built=$(stat -c %Y /opt/memguard/src/build/oci-memguard /opt/memguard/src/build/oci-memguard-runtime)
	t0=$(date +%s)
	out=$(cd /opt/memguard/src && ./install.sh --docker-default 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/MG:    /'
	check $rc "[install] ./install.sh --docker-default in the source tree as README says ($(($(date +%s) - t0)) s; the build dependencies it checks are in the rootfs)"
	[ "$built" = "$(stat -c %Y /opt/memguard/src/build/oci-memguard /opt/memguard/src/build/oci-memguard-runtime)" ]
	check $? "[install] its make all found the programs built on the host up to date (nothing compiled in the guest)"
	t0=$(date +%s)
	systemctl restart docker
	check $? "[install] systemctl restart docker, as install.sh says ($(($(date +%s) - t0)) s)"
	docker info 2>/dev/null | grep -E 'Server Version|Storage Driver|Cgroup|Default Runtime|Runtimes|Kernel Version' | sed 's/^ */MG:    /'
	docker info 2>/dev/null | grep -q 'Cgroup Driver: systemd' && docker info 2>/dev/null | grep -q 'Cgroup Version: 2'
	check $? "[install] dockerd: systemd cgroup driver on cgroup v2 (its defaults)"
	docker info 2>/dev/null | grep -q 'Default Runtime: oci-memguard'
	check $? "[install] dockerd: oci-memguard is the default runtime (daemon.json: $(tr -d ' \n' </etc/docker/daemon.json))"
	tr '\0' '\n' <"/proc/$(pidof dockerd)/environ" | grep -q '^PATH=/usr/local/lib/oci-memguard/shim:'
	check $? "[install] dockerd runs with the BuildKit shim first on its PATH (docker.service drop-in)"
	tar -C "$IMG" -c . | docker import - memguard/busybox:1 >/dev/null &&
		docker tag memguard/busybox:1 memguard/protected:1 && docker tag memguard/busybox:1 memguard/low:1 &&
		docker tag memguard/busybox:1 memguard/adopt:1
	check $? "[install] docker import of the suite's busybox + memhog rootfs (no registry)"
	# Docker's classic builder is recognised by what any `docker run` of a
	# bare image id running /bin/sh -c also looks like: a claim, which counts
	# where a policy trusts it (README, "Who decides identity"). Here only
	# the suite starts containers.
	policy 05-trust.json '{"description": "Docker VM: only operators start containers here", "trust": ["docker-classic-builder"]}'
	policy 50-protected.json '{"description": "Docker VM: protected image", "match": {"images": ["memguard/protected:*"]}, "memory": {"min": "128M"}}'
	policy 50-low.json '{"description": "Docker VM: head to head, the hook", "match": {"images": ["memguard/low:*"]}, "memory": {"low": "256M"}}'
	policy 50-adopt.json '{"description": "Docker VM: head to head, the engine ask adopted", "match": {"images": ["memguard/adopt:*"]}, "memory": {"adopt_engine": true}}'
	policy 60-builds.json '{"description": "Docker VM: builds", "match": {"build": true}, "build": {"swappiness": 10}}'
	ORIG_SHOW=$(show_slice)
	ORIG_MIN=$(val $CG/system.slice/memory.min)
	ORIG_LOW=$(val $CG/system.slice/memory.low)
	note "[install] system.slice before any container: $ORIG_SHOW; memory.min=$ORIG_MIN memory.low=$ORIG_LOW; cgroup2: $(mount_opts)"
	note "[install] after dockerd: MemTotal $(meminfo MemTotal)M, MemAvailable $(meminfo MemAvailable)M"
}

# ---- doctor: only true lines ----------------------------------------------
# Runs last: right after boot systemd may still be busy with its job queue
# and the bus Ping times out (doctor's WARN is then true; the systemd
# flavour saw it too). Up to five tries, 3 s apart, each one reported.
case_doctor() {
	local out rc try
	for try in 1 2 3 4 5; do
		out=$($HOOK doctor 2>&1)
		rc=$?
		echo "$out" | grep -q '^OK    systemd bus' && break
		note "[doctor] try $try: $(echo "$out" | grep 'systemd bus' | cut -c1-120); system $(systemctl is-system-running 2>&1)"
		sleep 3
	done
	printf '%s\n' "$out" | sed 's/^/MG:    /'
	[ $rc -eq 0 ] && ! echo "$out" | grep -q '^FAIL'
	check $? "[doctor] exit $rc, no FAIL line"
	local want
	for want in '^OK    cgroup: v2 at /sys/fs/cgroup' '^OK    memory_recursiveprot: on' '^OK    systemd bus: /run/systemd/private answers' \
		'^OK    docker runtime: daemon.json runtime oci-memguard -> /usr/local/bin/oci-memguard-runtime' '^OK    buildkit shim: ' '^OK    dockerd PATH: dockerd \(pid [0-9]+\) runs /usr/local/lib/oci-memguard/shim/runc' \
		'^OK    kernel veth queues: kernel 6\.1\.[0-9]+ \(/proc/version\) has the veth queue fix'; do
		echo "$out" | grep -qE "$want"
		check $? "[doctor] a true OK line: /$want/"
	done
	# each WARN checked against the guest itself
	mount_opts | grep -q memory_recursiveprot
	check $? "[doctor] memory_recursiveprot is really mounted ($(mount_opts))"
	if echo "$out" | grep -q '^WARN  memory.reclaim swappiness='; then
		[ "$(uname -r | cut -d. -f1-2)" = 6.1 ]
		check $? "[doctor] its swappiness= warning is true: kernel $(uname -r) < 6.11"
	fi
	local unexpected
	unexpected=$(echo "$out" | grep '^WARN' | grep -v '^WARN  memory.reclaim swappiness=' || true)
	[ -z "$unexpected" ]
	check $? "[doctor] no other warning on this healthy guest${unexpected:+: $unexpected}"
}

# ---- protection through systemd, and what a hog does ---------------------
case_protect() {
	local A
	run_hold prot 256 memguard/protected:1 || { notok "[protect] docker run of the protected image"; return; }
	A=$(scope_of prot)
	note "[protect] scope $A: memory.min=$(val "$CG$A/memory.min"); system.slice memory.min=$(val $CG/system.slice/memory.min)"
	note "[protect] prestart record: $(grep "\"id\":\"$(cid prot)\"" "$LOG" | grep '"stage":"prestart"' | tail -n 1 | cut -c1-900)"
	[ "$(val "$CG$A/memory.min")" = 134217728 ] && systemctl show "docker-$(cid prot).scope" -p MemoryMin | grep -qx MemoryMin=134217728
	check $? "[protect] the container's scope: memory.min 128M, systemctl show $(systemctl show "docker-$(cid prot).scope" -p MemoryMin)"
	[ "$(val $CG/system.slice/memory.min)" = 134217728 ] && systemctl show system.slice -p MemoryMin | grep -qx MemoryMin=134217728
	check $? "[protect] system.slice raised through systemd: memory.min $(val $CG/system.slice/memory.min), $(systemctl show system.slice -p MemoryMin)"
	hog container "$A"
	P_CONTAINER=$KEPT_MIN
	[ "$KEPT_MIN" -ge 127 ]
	check $? "[protect] under a hog container it keeps >= its 128M memory.min (lowest ${KEPT_MIN}M, after ${KEPT}M)"
	hog host "$A"
	P_HOST=$KEPT_MIN
	[ "$KEPT_MIN" -ge 127 ]
	check $? "[protect] under a hog process of the host it keeps >= 128M (lowest ${KEPT_MIN}M, after ${KEPT}M)"
	rmc prot
	run_hold noprot 256 --runtime runc memguard/protected:1 || { notok "[protect] docker run --runtime runc"; return; }
	A=$(scope_of noprot)
	note "[protect] without the hook (--runtime runc): scope memory.min=$(val "$CG$A/memory.min"), system.slice memory.min=$(val $CG/system.slice/memory.min)"
	hog container "$A"
	P_NONE=$KEPT
	rmc noprot
	[ "$KEPT" -lt 96 ]
	check $? "[protect] the same container without the hook does not keep it (${KEPT}M < 96M)"
	note "[protect] kept under the hog, MiB: hook ${P_CONTAINER} (container hog), ${P_HOST} (host hog); no hook ${P_NONE}"
}

# ---- give-back: every way a container ends -------------------------------
back_to_original() { # back_to_original WHAT
	local show i=0
	# poststop runs when dockerd deletes the task: give it a moment
	while [ $i -lt 50 ]; do
		show=$(show_slice)
		[ "$show" = "$ORIG_SHOW" ] && [ "$(val $CG/system.slice/memory.min)" = "$ORIG_MIN" ] && [ "$(records_left)" = 0 ] && break
		sleep 0.2
		i=$((i + 1))
	done
	[ "$show" = "$ORIG_SHOW" ] && [ "$(val $CG/system.slice/memory.min)" = "$ORIG_MIN" ] && [ "$(val $CG/system.slice/memory.low)" = "$ORIG_LOW" ] &&
		[ "$(records_left)" = 0 ]
	check $? "[giveback] $1: system.slice back ($show; memory.min $(val $CG/system.slice/memory.min), memory.low $(val $CG/system.slice/memory.low)), $(records_left) record(s) left"
}

case_giveback() {
	local pid
	docker run -d --name gb memguard/protected:1 sleep 600 >/dev/null 2>&1
	note "[giveback] running: $(show_slice)"
	rmc gb
	back_to_original "docker rm -f"
	docker run -d --name gb memguard/protected:1 sleep 600 >/dev/null 2>&1
	docker stop -t 1 gb >/dev/null
	back_to_original "docker stop (SIGTERM ignored by PID 1, SIGKILL after 1 s)"
	rmc gb
	docker run -d --name gb memguard/protected:1 sleep 600 >/dev/null 2>&1
	pid=$(cpid gb)
	# State.Pid is 0 for a container that did not start: kill -KILL 0 would
	# kill this suite's own process group
	[ "${pid:-0}" -gt 0 ] && kill -KILL "$pid"
	back_to_original "the container's process killed from the host (kill -9 $pid)"
	docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' gb | sed 's/^/MG:    [giveback] killed container: /'
	rmc gb
	docker run -d --name gb1 memguard/protected:1 sleep 600 >/dev/null 2>&1
	docker run -d --name gb2 memguard/low:1 sleep 600 >/dev/null 2>&1
	note "[giveback] two running (min + low): $(show_slice)"
	rmc gb1 gb2
	back_to_original "two containers removed at once"
}

# dockerd restarts with containers running: without live-restore (Debian's
# default) dockerd stops them on the way down; with a restart policy they
# come back up and take their protection again.
case_restart() {
	docker run -d --name rs1 --stop-timeout 1 memguard/protected:1 sleep 600 >/dev/null 2>&1
	docker run -d --name rs2 --stop-timeout 1 --restart always memguard/protected:1 sleep 600 >/dev/null 2>&1
	note "[restart] before: $(show_slice), $(records_left) records"
	systemctl restart docker
	local i=0
	while [ $i -lt 100 ] && [ "$(docker inspect -f '{{.State.Running}}' rs2 2>/dev/null)" != true ]; do
		sleep 0.2
		i=$((i + 1))
	done
	note "[restart] after: rs1 $(docker inspect -f '{{.State.Status}}' rs1), rs2 $(docker inspect -f '{{.State.Status}}' rs2); $(show_slice), $(records_left) records"
	[ "$(docker inspect -f '{{.State.Running}}' rs2)" = true ] && [ "$(records_left)" = 1 ] &&
		[ "$(val $CG/system.slice/memory.min)" = 134217728 ] && [ "$(val "$CG$(scope_of rs2)/memory.min")" = 134217728 ]
	check $? "[restart] after systemctl restart docker: the container with --restart always is protected again (one record, system.slice 128M), the stopped one gave back"
	rmc rs1 rs2
	back_to_original "after the dockerd restart and removing both"
}

# ---- head to head: Docker's --memory-reservation against the hook --------
# (a) Docker alone, (b) the hook's own policy, (c) Docker's ask adopted by
# the hook (policy memory.adopt_engine).
case_headtohead() {
	local A
	run_hold h2ha 256 --runtime runc --memory-reservation=256m memguard/busybox:1 || { notok "[h2h] (a) docker run --memory-reservation"; return; }
	A=$(scope_of h2ha)
	note "[h2h] (a) --memory-reservation=256m, no hook: scope memory.low=$(val "$CG$A/memory.low"), system.slice memory.low=$(val $CG/system.slice/memory.low)"
	[ "$(val "$CG$A/memory.low")" = 268435456 ]
	check $? "[h2h] (a) Docker wrote memory.low=256M on the container's own scope only"
	hog container "$A"
	H_A=$KEPT_MIN
	rmc h2ha
	run_hold h2hb 256 memguard/low:1 || { notok "[h2h] (b) docker run with the hook's low policy"; return; }
	A=$(scope_of h2hb)
	note "[h2h] (b) the hook, policy memory.low=256M: scope memory.low=$(val "$CG$A/memory.low"), system.slice memory.low=$(val $CG/system.slice/memory.low) ($(systemctl show system.slice -p MemoryLow))"
	hog container "$A"
	H_B=$KEPT_MIN
	rmc h2hb
	run_hold h2hc 256 --memory-reservation=256m memguard/adopt:1 || { notok "[h2h] (c) docker run --memory-reservation with the adopting policy"; return; }
	A=$(scope_of h2hc)
	note "[h2h] (c) --memory-reservation=256m, policy adopt_engine: scope memory.low=$(val "$CG$A/memory.low"), system.slice memory.low=$(val $CG/system.slice/memory.low) ($(systemctl show system.slice -p MemoryLow))"
	[ "$(val $CG/system.slice/memory.low)" = 268435456 ]
	check $? "[h2h] (c) the hook adopted Docker's reservation: system.slice memory.low raised to 256M through systemd"
	hog container "$A"
	H_C=$KEPT_MIN
	rmc h2hc
	note "[h2h] the same 256M container under the same hog container (guest $(meminfo MemTotal)M), lowest memory.current in MiB:"
	note "[h2h]   (a) docker run --memory-reservation=256m, no hook    ${H_A}"
	note "[h2h]   (b) the hook, policy memory.low=256M                ${H_B}"
	note "[h2h]   (c) --memory-reservation=256m + policy adopt_engine  ${H_C}"
	[ "$H_A" -lt 128 ] && [ "$H_B" -ge 240 ]
	check $? "[h2h] Docker's own reservation is void under system.slice's memory.low=0 (${H_A}M kept) and the hook's low holds (${H_B}M)"
	[ "$H_C" -ge 240 ]
	check $? "[h2h] (c) Docker's reservation adopted by the hook keeps what (b) keeps (${H_C}M)"
}

# ---- order of hooks: Docker's libnetwork-setkey and the hook --------------
# Docker 20.10 creates the veth pair before it asks the runtime to create
# the container; its prestart hook libnetwork-setkey then moves one end into
# the container's network namespace. A probe next to the hook shows what
# exists when it runs, in the wrapper's order (after setkey) and in the
# other (first).
case_hookorder() {
	local id cfg
	docker run -d --name ord memguard/busybox:1 sleep 600 >/dev/null 2>&1
	id=$(cid ord)
	# the bundle containerd made (Debian: the system containerd's /run/containerd)
	cfg=$(find /run/containerd /run/docker -path "*/moby/$id/config.json" 2>/dev/null | head -n 1)
	note "[order] Debian's docker.io config.json, hooks as the wrapper leaves them: $(jq -c '.hooks | with_entries(.value |= map(.args[0]))' "$cfg")"
	jq -e '.hooks.prestart | map(.args[0]) == ["libnetwork-setkey", "oci-memguard"]' "$cfg" >/dev/null && ! jq -e '.hooks.createRuntime' "$cfg" >/dev/null
	check $? "[order] docker.io 20.10 puts libnetwork-setkey in prestart (no createRuntime hook); the wrapper appends the hook after it"
	rmc ord
	# two test runtimes: the probe and the hook after setkey, or before it
	jq '.runtimes += {"mg-after": {"path": "/opt/memguard/bin/order-runtime-after"}, "mg-first": {"path": "/opt/memguard/bin/order-runtime-first"}}' \
		/etc/docker/daemon.json >/tmp/daemon.json && cat /tmp/daemon.json >/etc/docker/daemon.json && systemctl reload docker && sleep 2
	local order n t0 ms
	: >/tmp/probe-all.log
	for order in after first; do
		for n in 1 2; do
			t0=$(date +%s%N)
			docker run --rm --runtime "mg-$order" memguard/busybox:1 true >/tmp/order-run.log 2>&1 ||
				note "[order] docker run --runtime mg-$order: $(tr '\n' ' ' </tmp/order-run.log)"
			ms=$((($(date +%s%N) - t0) / 1000000))
			note "[order] $order #$n: docker run ${ms} ms; probe: $(tail -n 1 /tmp/probe-all.log)"
		done
	done
	# the probe's lines: ORDER veths_on_host=N eth0=yes|no
	local after_eth first_eth first_veth
	after_eth=$(grep -c '^after .*eth0=yes' /tmp/probe-all.log)
	first_eth=$(grep -c '^first .*eth0=no' /tmp/probe-all.log)
	first_veth=$(grep -c '^first .*host_veths=[1-9]' /tmp/probe-all.log)
	[ "$after_eth" = 2 ] && [ "$first_eth" = 2 ] && [ "$first_veth" = 2 ]
	check $? "[order] after setkey the hook sees the container's eth0 in place ($after_eth/2); first, the veth pair already exists on the host ($first_veth/2) and eth0 is not yet in the container ($first_eth/2): no order runs the guard before the veth is allocated"
	jq 'del(.runtimes["mg-after"], .runtimes["mg-first"])' /etc/docker/daemon.json >/tmp/daemon.json && cat /tmp/daemon.json >/etc/docker/daemon.json &&
		systemctl reload docker
	back_to_original "after the hook-order runs"
}

# ---- builds: classic and BuildKit, healthy and stressed -------------------
# build LABEL BUILDKIT(0|1): two RUN steps that print vm.swappiness as they
# see it (the host's: not namespaced); every step's record printed.
build() {
	local label=$1 bk=$2 since out rc n steps
	mkdir -p /tmp/ctx
	# shellcheck disable=SC2016 # $(...) is for the RUN step's shell
	printf 'FROM memguard/busybox:1\nRUN echo "step1 swappiness=$(cat /proc/sys/vm/swappiness)" && sleep 1\nRUN echo "step2 swappiness=$(cat /proc/sys/vm/swappiness)"\n' >/tmp/ctx/Dockerfile
	since=$(log_lines)
	SWP_BEFORE=$(cat /proc/sys/vm/swappiness)
	if [ "$bk" = 1 ]; then
		out=$(DOCKER_BUILDKIT=1 docker build --no-cache --progress plain -t "memguard/built:$label" /tmp/ctx 2>&1)
	else
		out=$(DOCKER_BUILDKIT=0 docker build --no-cache -t "memguard/built:$label" /tmp/ctx 2>&1)
	fi
	rc=$?
	SWP_AFTER=$(cat /proc/sys/vm/swappiness)
	note "[$label] cgroup2 mount options after the build: $(mount_opts); the steps' records say recursiveprot: $(records_since "$since" | jq -r 'select(.stage == "prestart") | .recursiveprot' | tr '\n' ' ')"
	echo "$out" | grep -E 'step[12] swappiness=' | grep -v 'RUN echo' | sed "s/^/MG:    [$label] /"
	check $rc "[$label] DOCKER_BUILDKIT=$bk docker build of two RUN steps"
	records_since "$since" | jq -c 'select(.stage == "prestart") | {id: .id[0:12], build, build_signal, build_guard}' 2>/dev/null | sed "s/^/MG:    [$label] /"
	steps=$(records_since "$since" | jq -s '[.[] | select(.stage == "prestart" and .build == true)] | length' 2>/dev/null)
	n=$(records_since "$since" | jq -s '[.[] | select(.stage == "prestart")] | length' 2>/dev/null)
	[ "$steps" -ge 2 ] && [ "$steps" = "$n" ]
	check $? "[$label] every RUN step is recognised as a build ($steps of $n prestart records, signal $(records_since "$since" | jq -r 'select(.stage == "prestart") | .build_signal' | sort -u | tr '\n' ' '))"
	n=$(echo "$out" | grep -E 'step[12] swappiness=10' | grep -vc 'RUN echo')
	[ "$n" -ge 2 ] && [ "$SWP_AFTER" = "$ORIG_SWAPPINESS" ]
	check $? "[$label] vm.swappiness 10 inside both steps, $SWP_AFTER after the build (was $SWP_BEFORE)"
	records_since "$since" | jq -e -s '[.[] | select(.stage == "prestart") | .build_guard.decision] | all(. != null)' >/dev/null
	check $? "[$label] the guard's decision is in every step's record: $(records_since "$since" | jq -r 'select(.stage == "prestart") | .build_guard.decision' | tr '\n' ' ')"
	BUILD_SINCE=$since
	docker rmi "memguard/built:$label" >/dev/null 2>&1
}

case_build_healthy() {
	note "[build] healthy guest: MemAvailable $(meminfo MemAvailable)M, Cached $(meminfo Cached)M, free order>=4 blocks $(order4)"
	build classic 0
	records_since "$BUILD_SINCE" | jq -e -s '[.[] | select(.stage == "prestart") | .build_guard.decision] | all(. == "healthy")' >/dev/null
	check $? "[classic] healthy guest: the guard decided healthy for every step (no writes)"
	build buildkit 1
	records_since "$BUILD_SINCE" | jq -e -s '[.[] | select(.stage == "prestart") | .build_guard.decision] | all(. == "healthy")' >/dev/null
	check $? "[buildkit] healthy guest: the guard decided healthy for every step (no writes)"
}

# Page cache full and free memory fragmented: a file fills the cache, then
# the fragmenter pins one page in every 64 KiB of all the free memory.
case_build_stressed() {
	local free frag_pid avail want since ca c1 c2 dc hook_dropped b4 a4
	free=$(meminfo MemFree)
	dd if=/dev/zero of=/var/tmp/cache.bin bs=1M count=$((free * 6 / 10)) 2>/dev/null
	sync
	cat /var/tmp/cache.bin >/dev/null
	# Then every free page and 64M more (taken from the cache and swap):
	# later allocations use the holes it leaves before they split a block.
	/opt/memguard/bin/fragment $(($(meminfo MemFree) + 64)) >/tmp/fragment.log &
	frag_pid=$!
	local i=0
	while [ $i -lt 300 ] && ! grep -q ready /tmp/fragment.log; do sleep 0.2; i=$((i + 1)); done
	note "[stressed] fragmenter: $(cat /tmp/fragment.log)"
	b4=$(order4)
	note "[stressed] before the build: MemFree $(meminfo MemFree)M, MemAvailable $(meminfo MemAvailable)M, Cached $(meminfo Cached)M, free order>=4 blocks $b4"
	avail=$(awk '/MemAvailable/ {print $2 * 1024}' /proc/meminfo)
	want=$((avail + 64 * MiB))
	policy 60-builds.json "$(printf '{"description": "Docker VM: builds", "match": {"build": true}, "build": {"swappiness": 10, "reclaim": {"when": "auto", "available_below": %s, "timeout_ms": 20000}}}' "$want")"
	c1=$(meminfo Cached)
	build classic-stressed 0
	since=$BUILD_SINCE
	records_since "$since" | jq -r 'select(.stage == "prestart") | .build_guard | "\(.decision): MemFree \(.mem_free_before / 1048576 | floor)M -> \((.mem_free_after // 0) / 1048576 | floor)M, cache \(.cached_before / 1048576 | floor)M -> \((.cached_after // 0) / 1048576 | floor)M, order>=4 blocks \(.free_blocks_at_order_before) -> \(.free_blocks_at_order_after), \((.duration_us // 0) / 1000 | floor) ms"' 2>/dev/null |
		sed 's/^/MG:    [stressed] step: /'
	records_since "$since" | jq -e -s '[.[] | select(.stage == "prestart") | .build_guard.decision] | any(test("short|fragmented|slab"))' >/dev/null
	check $? "[stressed] the guard reclaimed or compacted ($(records_since "$since" | jq -r 'select(.stage == "prestart") | .build_guard.decision' | tr '\n' ' '))"
	hook_dropped=$(records_since "$since" | jq -s '[.[] | select(.stage == "prestart") | .build_guard | select(.cached_before != null) | (.cached_before - .cached_after)] | add // 0 | . / 1048576 | floor')
	a4=$(order4)
	# what drop_caches=3 destroys from here, plus what the guard already took
	ca=$(meminfo Cached)
	sync
	echo 3 >/proc/sys/vm/drop_caches
	c2=$(meminfo Cached)
	dc=$((hook_dropped + ca - c2))
	note "[stressed] page cache: the guard dropped ${hook_dropped}M over the steps; drop_caches=3 would have dropped ${dc}M (Cached ${c1}M before the build)"
	note "[stressed] free order>=4 blocks: ${b4} before the build, ${a4} after"
	records_since "$since" | jq -c 'select(.stage == "poststop") | .vmstat_delta' 2>/dev/null | sed 's/^/MG:    [stressed] vmstat during the step: /'

	[ "$hook_dropped" -lt "$dc" ]
	check $? "[stressed] the guard dropped less page cache (${hook_dropped}M) than drop_caches=3 would (${dc}M)"
	kill -KILL "$frag_pid"
	wait "$frag_pid" 2>/dev/null
	rm -f /var/tmp/cache.bin
	policy 60-builds.json '{"description": "Docker VM: builds", "match": {"build": true}, "build": {"swappiness": 10}}'
}

echo "MG:begin"
note "boot: kernel $(uname -r) ($(sed -n 's/.*Debian \([^ ]*\) .*/Debian \1/p' /proc/version)), $(systemctl --version | head -n 1), $(dockerd --version 2>&1)"
note "boot: test started at uptime $(cut -d' ' -f1 /proc/uptime) s; docker.service $(systemctl is-active docker); cgroup2: $(mount_opts)"
prepare
BOOT_OPTS=$(mount_opts)
cases=$(sed -n 's/.*memguard\.cases=\([^ ]*\).*/\1/p' /proc/cmdline | tr ',' ' ')
for c in ${cases:-$CASES_DEFAULT}; do
	echo "MG:case $c"
	t_case=$(date +%s)
	if declare -F "case_$c" >/dev/null; then
		"case_$c"
	else
		notok "[$c] no such case"
	fi
	note "[$c] $(($(date +%s) - t_case)) s"
	# A container without a cgroup namespace makes runc mount cgroup2 in
	# the initial namespace, which drops the host's mount options
	# (moby/moby#50466): say which case did it, and put them back so that
	# the next case runs on the host as booted.
	if [ "$(mount_opts)" != "$BOOT_OPTS" ]; then
		note "[$c] the cgroup2 mount options changed during this case: '$BOOT_OPTS' -> '$(mount_opts)'; the hook's last record says recursiveprot: $(tail -n 1 "$LOG" | jq -r .recursiveprot)"
		echo "$c" >>/tmp/dropped-recursiveprot
		mount -o remount,nsdelegate,memory_recursiveprot /sys/fs/cgroup
	fi
done
note "the hook's log ($(log_lines) records), prestart/poststop summaries:"
jq -c '{stage, id: (.id // "")[0:12], image, build, result: (.result // .outcome // null)}' "$LOG" 2>/dev/null | tail -n 80 | sed 's/^/MG:    /'
echo "MG:done"
sync
systemctl poweroff --force --force
