#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The VM suite's cases, run by /init inside the guest (busybox sh, a pure
# cgroup v2 host, runc, the hook at /usr/bin/oci-memguard). Each check prints
# "MG:ok - ..." or "MG:not ok - ..."; tables and explanations are "MG:" lines
# too; "MG:result VARIANT MIN FINAL" feeds the host's summary table.
#
# ---- Adding a case (the build guard's cases are an example) ---------------
# A case is a shell function case_NAME; add NAME to CASES_DEFAULT below (or
# run it alone: MEMGUARD_VM_CASES=NAME conformance/vm/run.sh). Helpers:
#   bundle ID CGROUP HOOKS ARGS-JSON [EXTRA]   a runc bundle in /bundles/ID;
#        HOOKS is hook (the product), standin (shell control) or none;
#        EXTRA is more config.json keys, e.g. '"annotations": {...},'
#   start ID / stop ID                         runc run -d / kill + delete
#   policy NAME JSON                           /etc/oci-memguard/policy.d/NAME
#   hook_record ID STAGE                       the hook's log record
#   vm_snapshot LABEL                          vm.swappiness, MemFree,
#        MemAvailable, Cached, free blocks of order >= 4 (/proc/buddyinfo)
#   events CGROUP / events_delta BEFORE AFTER  memory.events, one line
# The knobs a build-guard case needs are all real here: /proc/sys/vm/
# swappiness, <cgroup>/memory.reclaim (6.1: no swappiness= argument),
# /proc/sys/vm/compact_memory, /proc/sys/vm/drop_caches, /proc/buddyinfo,
# and /dev/zram1 for a page-cache filesystem (see case_buildguard_reclaim).
CASES_DEFAULT="doctor protect_hook protect_nohook protect_leafonly protect_ancestorsonly buildguard_reclaim cgroupns_hazard evidence sample buildlimit budget"
# Not run by default: protect_standin (the shell stand-in used to validate
# the rig before the hook existed; a control, never proof).

CG=/sys/fs/cgroup
MiB=1048576
LOG=/var/log/oci-memguard/events.jsonl
POLICY_DIR=/etc/oci-memguard/policy.d

ok() { echo "MG:ok - $*"; }
notok() { echo "MG:not ok - $*"; }
check() { # check EXIT-STATUS DESCRIPTION
	if [ "$1" -eq 0 ]; then ok "$2"; else notok "$2"; fi
}
val() { cat "$1" 2>/dev/null || echo "-"; }
mib() { if [ "$1" = - ]; then echo -; else echo $(($1 / MiB)); fi; }
mount_opts() { sed -n 's/.* - cgroup2 [^ ]* //p' /proc/self/mountinfo; }
has_recursiveprot() { mount_opts | tr ',' '\n' | grep -qx memory_recursiveprot; }
BOOT_OPTS=$(mount_opts)

# ---- bundles: config.json as `runc spec` (1.1.5) writes it, no jq -------
# Containers get a cgroup namespace, as Docker and Podman give them on
# cgroup v2: without one runc mounts cgroup2 in the initial cgroup namespace,
# which resets the host's mount options (case_cgroupns_hazard).
bundle() { # bundle ID CGROUP HOOKS ARGS-JSON [EXTRA-KEYS] [NAMESPACES] [LINUX-EXTRA-KEYS]
	b_ns=${6:-'{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}, {"type": "cgroup"}'}
	case "$3" in
	hook)
		b_hooks='"hooks": {
		"prestart": [{"path": "/usr/bin/oci-memguard", "args": ["oci-memguard", "prestart", "--policy-dir", "'$POLICY_DIR'"], "timeout": 30}],
		"poststop": [{"path": "/usr/bin/oci-memguard", "args": ["oci-memguard", "poststop", "--policy-dir", "'$POLICY_DIR'"], "timeout": 30}]
	},' ;;
	standin)
		b_hooks='"hooks": {
		"prestart": [{"path": "/usr/local/bin/memguard-standin", "args": ["memguard-standin", "prestart"]}],
		"poststop": [{"path": "/usr/local/bin/memguard-standin", "args": ["memguard-standin", "poststop"]}]
	},' ;;
	*) b_hooks="" ;;
	esac
	mkdir -p "/bundles/$1"
	cat >"/bundles/$1/config.json" <<EOF
{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": false,
		"user": {"uid": 0, "gid": 0},
		"args": $4,
		"env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
		"cwd": "/",
		"capabilities": {
			"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
		},
		"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
		"noNewPrivileges": true
	},
	"root": {"path": "/bundles/rootfs", "readonly": true},
	"hostname": "$1",
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
		{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
		{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
		{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
	],
	$b_hooks
	$5
	"linux": {
		"cgroupsPath": "$2",
		${7:-}
		"namespaces": [$b_ns],
		"maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
		"readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
	}
}
EOF
}

# start ID: runc run -d of /bundles/ID, stdio to /dev/null (no terminal)
start() {
	runc run --no-pivot -d --bundle "/bundles/$1" "$1" </dev/null >"/tmp/runc-$1.log" 2>&1 || {
		echo "MG:  runc run $1 failed: $(tr '\n' ' ' <"/tmp/runc-$1.log")"
		return 1
	}
}
stop() {
	runc kill "$1" KILL >/dev/null 2>&1
	s_i=0
	while [ $s_i -lt 50 ] && ! runc state "$1" 2>/dev/null | grep -q '"status": "stopped"'; do
		sleep 0.1
		s_i=$((s_i + 1))
	done
	runc delete -f "$1" >/dev/null 2>&1
}
wait_current() { # wait_current CGROUP BYTES SECONDS
	w_i=0
	while [ $w_i -lt $(($3 * 10)) ]; do
		w_c=$(val "$CG$1/memory.current")
		[ "$w_c" != - ] && [ "$w_c" -ge "$2" ] && return 0
		sleep 0.1
		w_i=$((w_i + 1))
	done
	return 1
}
policy() { # policy NAME JSON: root-owned, 0644, or the hook refuses it
	mkdir -p "$POLICY_DIR"
	printf '%s\n' "$2" >"$POLICY_DIR/$1"
	chown 0:0 "$POLICY_DIR/$1"
	chmod 0644 "$POLICY_DIR/$1"
}
hook_record() { grep "\"id\":\"$1\"" "$LOG" 2>/dev/null | grep "\"stage\":\"$2\"" | tail -n 1; }
events() { tr '\n' ' ' <"$CG$1/memory.events" 2>/dev/null | sed 's/ $//'; }
# events_delta "low 0 high 0 ..." "low 2 high 0 ...": "low +2" for what changed
events_delta() {
	echo "$1 | $2" | awk '{ n = 0; for (i = 1; $i != "|"; i += 2) { k[++n] = $i; v[$i] = $(i + 1) }
		for (i = i + 1; i <= NF; i += 2) if ($(i + 1) != v[$i]) d = d sprintf("%s +%d ", $i, $(i + 1) - v[$i])
		print (d == "" ? "unchanged" : d) }'
}
vm_snapshot() { # vm_snapshot LABEL: the numbers a build-guard case compares
	printf 'MG:  [%s] vm.swappiness %s; MemFree %sM MemAvailable %sM Cached %sM; free blocks order>=4: %s\n' "$1" \
		"$(cat /proc/sys/vm/swappiness)" \
		"$(awk '/^MemFree/ {print int($2/1024)}' /proc/meminfo)" \
		"$(awk '/^MemAvailable/ {print int($2/1024)}' /proc/meminfo)" \
		"$(awk '/^Cached/ {print int($2/1024)}' /proc/meminfo)" \
		"$(awk '$4 ~ /DMA32|Normal/ { for (o = 4; o <= 10; o++) s += $(o + 5) } END { print s + 0 }' /proc/buddyinfo)"
}
ancestors_snapshot() {
	for a_d in /memguard /memguard/ci /memguard/batch; do
		printf '%s min=%s low=%s; ' "$a_d" "$(val $CG$a_d/memory.min)" "$(val $CG$a_d/memory.low)"
	done
}

# The stand-in hook: writes 128M to memory.min of the leaf and every
# ancestor, gives the ancestors back at poststop. It validated the rig before
# the product existed; now it is only a control (case_protect_standin).
write_standin() {
	mkdir -p /usr/local/bin
	cat >/usr/local/bin/memguard-standin <<'EOF'
#!/bin/sh
# memguard-standin STAGE < state: NOT oci-memguard, a control for the rig.
state=$(cat)
id=$(echo "$state" | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p')
rec=/run/memguard-standin.$id
case "$1" in
prestart)
	pid=$(echo "$state" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
	cg=$(sed -n 's/^0::\(.*\)/\1/p' "/proc/$pid/cgroup")
	: >"$rec"
	while [ -n "$cg" ] && [ "$cg" != / ]; do
		echo "$cg $(cat "/sys/fs/cgroup$cg/memory.min")" >>"$rec"
		echo 128M >"/sys/fs/cgroup$cg/memory.min"
		cg=${cg%/*}
	done ;;
poststop)
	while read -r cg old; do
		[ -d "/sys/fs/cgroup$cg" ] && echo "$old" >"/sys/fs/cgroup$cg/memory.min"
	done <"$rec"
	rm -f "$rec" ;;
esac
exit 0
EOF
	chmod 0755 /usr/local/bin/memguard-standin
}

prepare() {
	mkdir -p $CG/memguard
	echo "+memory +pids" >$CG/memguard/cgroup.subtree_control
	# The pressure: the workloads share a 400M limit on /memguard, so the
	# neighbour's 380M cannot fit next to A's 256M and the kernel reclaims
	# inside /memguard. /memguard is the reclaim root: its own protection
	# does not count, its children's does (effective_protection(),
	# mm/memcontrol.c). Deterministic and ~12 s under TCG, unlike a
	# whole-guest hog (TESTBED: ~105 s).
	echo 400M >$CG/memguard/memory.max
	mkdir -p $CG/memguard/ci $CG/memguard/batch
	echo "+memory +pids" >$CG/memguard/ci/cgroup.subtree_control
	echo "+memory +pids" >$CG/memguard/batch/cgroup.subtree_control
	policy 50-vm.json '{"description": "VM suite: the protected containers", "match": {"cgroups": ["/memguard/ci/protected-*"]}, "memory": {"min": "128M"}}'
	write_standin
	# protected container A: touch 256M once, then hold it (idle: the
	# working set pressure would like to steal). Neighbour B: 380M,
	# re-touched continuously (the noisy neighbour).
	for v in hook nohook leafonly ancestorsonly standin; do
		case $v in
		hook | standin) hooks=$v extra="" ;;
		# what a runtime alone can do: memory.min on the container's own cgroup
		leafonly) hooks=none extra='"resources": {"unified": {"memory.min": "134217728"}},' ;;
		*) hooks=none extra="" ;;
		esac
		bundle "protected-$v" "/memguard/ci/protected-$v" "$hooks" '["/bin/memhog", "256"]' "" "" "$extra"
		bundle "neighbour-$v" "/memguard/batch/neighbour-$v" none '["/bin/memhog", "380", "active"]'
	done
}

# experiment VARIANT: protected-VARIANT (256M, idle) then neighbour-VARIANT
# (380M, active) under the shared 400M; prints the table; sets RESULT_MIN,
# RESULT and RESULT_SWAP (A's lowest and final memory.current, final
# memory.swap.current, MiB, after B started).
#
# The clock that matters starts when the pressure does — the first time
# /memguard's 400M limit forces reclaim (memory.events "max" moves) — not
# when B is started: on a loaded TCG host B can take 15 s to get there.
# Sampling ends PRESSURE_SECS after that, or as soon as A is below 64M (an
# unprotected A is then decisively lost; a protected one never gets there),
# or after 150 s whatever happens.
PRESSURE_SECS=30
experiment() {
	name="$1"
	A=/memguard/ci/protected-$name
	B=/memguard/batch/neighbour-$name
	ANC_BEFORE=$(ancestors_snapshot)
	start "protected-$name" || return 1
	wait_current "$A" $((250 * MiB)) 60 || echo "MG:  A never reached 250M: $(mib "$(val "$CG$A"/memory.current)")M"
	echo "MG:  [$name] A at 256M: $(ancestors_snapshot)$A min=$(val "$CG$A"/memory.min)"
	ev_a0=$(events "$A")
	ev_p0=$(events /memguard/ci)
	ev_r0=$(events /memguard)
	start "neighbour-$name" || return 1
	echo "MG:  [$name]   t  A.current  A.swap  B.current  MemFree  (MiB)"
	# t is measured (/proc/uptime), not counted: sampling itself is slow under TCG
	t0=$(cut -d. -f1 /proc/uptime)
	t=0
	next=0
	onset=""
	max0=$(sed -n 's/^max //p' $CG/memguard/memory.events)
	RESULT_MIN=999999
	while :; do
		a=$(val "$CG$A"/memory.current)
		b=$(val "$CG$B"/memory.current)
		as=$(val "$CG$A"/memory.swap.current)
		printf 'MG:  [%s] %3ss %10s %7s %10s %8s\n' "$name" "$t" "$(mib "$a")" "$(mib "$as")" \
			"$(mib "$b")" "$(awk '/^MemFree/ {print int($2/1024)}' /proc/meminfo)"
		RESULT=$(mib "$a")
		RESULT_SWAP=$(mib "$as")
		[ "$RESULT" -lt "$RESULT_MIN" ] && RESULT_MIN=$RESULT
		if [ -z "$onset" ] && [ "$(sed -n 's/^max //p' $CG/memguard/memory.events)" != "$max0" ]; then
			onset=$t
			echo "MG:  [$name] pressure from ${t}s: /memguard's limit is forcing reclaim"
		fi
		[ -n "$onset" ] && [ "$t" -ge $((onset + PRESSURE_SECS)) ] && break
		[ "$RESULT" -lt 64 ] && break
		[ "$t" -ge 150 ] && break
		next=$((next + 2))
		while t=$(($(cut -d. -f1 /proc/uptime) - t0)) && [ "$t" -lt "$next" ]; do
			sleep 0.2
		done
	done
	[ -n "$onset" ] || echo "MG:  [$name] no pressure within 150 s: /memguard's memory.events max never moved"
	PRESSURE_FOR=$((t - ${onset:-$t}))
	ev_a1=$(events "$A")
	ev_p1=$(events /memguard/ci)
	ev_r1=$(events /memguard)
	echo "MG:  [$name] memory.events before: A{$ev_a0} /memguard/ci{$ev_p0} /memguard{$ev_r0}"
	echo "MG:  [$name] memory.events after:  A{$ev_a1} /memguard/ci{$ev_p1} /memguard{$ev_r1}"
	echo "MG:  [$name] memory.events change: A $(events_delta "$ev_a0" "$ev_a1"); /memguard/ci $(events_delta "$ev_p0" "$ev_p1"); /memguard $(events_delta "$ev_r0" "$ev_r1")"
	echo "MG:result $name $RESULT_MIN $RESULT $PRESSURE_FOR"
	stop "neighbour-$name"
	stop "protected-$name"
	ANC_AFTER=$(ancestors_snapshot)
	echo "MG:  [$name] ancestors before: $ANC_BEFORE"
	echo "MG:  [$name] ancestors after:  $ANC_AFTER"
	[ "$ANC_BEFORE" = "$ANC_AFTER" ]
	check $? "[$name] every ancestor's memory.min/low is back to its value before the container"
	[ "$(mount_opts)" = "$BOOT_OPTS" ]
	check $? "[$name] cgroup2 mount options unchanged by the containers ($(mount_opts))"
}

# status_of ID: the container's object from `oci-memguard status --json`
# (one line; no jq in the guest), and the fields of it a check reads
status_of() { oci-memguard status --json 2>/dev/null | tr '{' '\n' | grep "\"id\":\"$1\"" | head -n 1; }
field_of() { echo "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
low_of() { sed -n 's/^low //p' "$CG$1/memory.events" 2>/dev/null; }

# evidence_run NAME: the protected container evidence-NAME (256M, idle)
# under the neighbour ev-neighbour-NAME (380M, active) in /memguard's 400M;
# after EV_PRESSURE_SECS of pressure, what `status` says and what the
# kernel counted. Sets EV_STATUS, EV_LOW (the kernel's low delta on A).
EV_PRESSURE_SECS=40
evidence_run() {
	A=/memguard/ci/evidence-$1
	start "evidence-$1" || return 1
	wait_current "$A" $((250 * MiB)) 60 || echo "MG:  [evidence-$1] A never reached 250M"
	ev_low0=$(low_of "$A")
	start "ev-neighbour-$1" || return 1
	sleep "$EV_PRESSURE_SECS"
	EV_STATUS=$(status_of "evidence-$1")
	EV_LOW=$(($(low_of "$A") - ev_low0))
	echo "MG:  [evidence-$1] status: $EV_STATUS"
	echo "MG:  [evidence-$1] kernel: A memory.events low +$EV_LOW, A.current $(mib "$(val "$CG$A"/memory.current)")M after ${EV_PRESSURE_SECS} s of pressure"
	stop "ev-neighbour-$1"
	stop "evidence-$1"
	echo "MG:  [evidence-$1] poststop record: $(hook_record "evidence-$1" poststop | sed 's/.*"evidence"/"evidence"/')"
}

case_evidence() {
	# held: memory.low 320M covers A's 256M; the neighbour is unprotected,
	# so reclaim always finds memory outside A's protection
	policy 60-ev-held.json '{"match": {"cgroups": ["/memguard/ci/evidence-held"]}, "memory": {"low": "320M"}}'
	# breached: A's low (128M) is below its 256M working set and the
	# neighbour is protected too (low 380M): with 508M promised in 400M,
	# the kernel must reclaim below protection, and counts it in "low"
	policy 61-ev-breach.json '{"match": {"cgroups": ["/memguard/ci/evidence-breach"]}, "memory": {"low": "128M"}}'
	policy 62-ev-neighbour.json '{"match": {"cgroups": ["/memguard/batch/ev-neighbour-breach"]}, "memory": {"low": "380M"}}'
	for v in held breach; do
		bundle "evidence-$v" "/memguard/ci/evidence-$v" hook '["/bin/memhog", "256"]'
		bundle "ev-neighbour-$v" "/memguard/batch/ev-neighbour-$v" hook '["/bin/memhog", "380", "active"]'
	done
	evidence_run held || { notok "[evidence] the held run ran"; return; }
	[ "$(field_of "$EV_STATUS" verdict)" = held ] && [ "$(field_of "$EV_STATUS" breaches)" = 0 ] && [ "$EV_LOW" = 0 ]
	check $? "[evidence] low=320M over a 256M working set under a hog: status says held, 0 breaches (kernel: low +$EV_LOW)"
	evidence_run breach || { notok "[evidence] the breach run ran"; return; }
	[ "$(field_of "$EV_STATUS" verdict)" = breached ] && [ "$EV_LOW" -gt 0 ] &&
		[ "$(field_of "$EV_STATUS" breaches)" -gt 0 ]
	check $? "[evidence] low=128M below the working set, protected neighbour: status says breached with $(field_of "$EV_STATUS" breaches) low events (kernel: low +$EV_LOW at the end)"
}

case_doctor() {
	oci-memguard doctor >/tmp/doctor.txt 2>&1
	rc=$?
	sed 's/^/MG:  /' /tmp/doctor.txt
	[ $rc -eq 0 ]
	check $? "[doctor] oci-memguard doctor exits 0 on a pure cgroup v2 host with the memory controller"
	# the JSON form is the one meant for machines
	if has_recursiveprot; then want='"status":"OK","finding":"on'; else want='"status":"WARN","finding":"off'; fi
	oci-memguard doctor --json 2>/dev/null | grep -q "\"name\":\"memory_recursiveprot\",$want"
	check $? "[doctor] doctor --json reports memory_recursiveprot $(if has_recursiveprot; then echo on; else echo off; fi), as mounted"
}

case_protect_hook() {
	echo "MG:  [hook] ancestors before the container: $(ancestors_snapshot)"
	[ "$(val $CG/memguard/memory.min)" = 0 ] && [ "$(val $CG/memguard/ci/memory.min)" = 0 ]
	check $? "[hook] the ancestors start unprotected (memory.min 0 on /memguard and /memguard/ci)"
	experiment hook || { notok "[hook] the experiment ran"; return; }
	# Reclaim approaches the effective min from above and skips the cgroup
	# once memory.current <= emin (mem_cgroup_below_min()); its last batch
	# (>= SWAP_CLUSTER_MAX pages per LRU) may overshoot by a fraction of a
	# MiB, so 127 in whole MiB still counts as held.
	[ "$RESULT_SWAP" -ge 64 ]
	check $? "[hook] the pressure did reach the protected container: ${RESULT_SWAP}M of it went to swap before it held"
	[ "$RESULT_MIN" -ge 127 ]
	check $? "[hook] policy min=128M through the hook: the protected container holds its 128M (lowest ${RESULT_MIN}M, ${RESULT}M after ${PRESSURE_FOR} s of pressure)"
	echo "MG:  [hook] the hook's log ($LOG):"
	sed 's/^/MG:    /' "$LOG"
	pre=$(hook_record protected-hook prestart)
	post=$(hook_record protected-hook poststop)
	echo "$pre" | grep -q '"target":"/memguard","file":"memory.min","old":"0","new":"134217728","result":"ok"' &&
		echo "$pre" | grep -q '"target":"/memguard/ci","file":"memory.min","old":"0","new":"134217728","result":"ok"' &&
		echo "$pre" | grep -q '"target":"/memguard/ci/protected-hook","file":"memory.min","old":"0","new":"134217728","result":"ok"'
	check $? "[hook] prestart raised /memguard and /memguard/ci from 0 to 128M and set the leaf (log record)"
	echo "$post" | grep -q '"target":"/memguard/ci","file":"memory.min","old":"134217728","new":"0","result":"ok"' &&
		echo "$post" | grep -q '"target":"/memguard","file":"memory.min","old":"134217728","new":"0","result":"ok"'
	check $? "[hook] poststop gave /memguard and /memguard/ci back their 0 (log record)"
	if has_recursiveprot; then want=true; else want=false; fi
	echo "$pre" | grep -q "\"recursiveprot\":$want" && echo "$post" | grep -q "\"recursiveprot\":$want"
	check $? "[hook] the hook logged recursiveprot=$want, as mounted"
	[ -z "$(ls /run/oci-memguard/containers 2>/dev/null)" ]
	check $? "[hook] no record is left in the state dir after poststop"
}

case_protect_nohook() {
	experiment nohook || { notok "[nohook] the experiment ran"; return; }
	[ "$RESULT" -lt 96 ]
	check $? "[nohook] same container, hook not in config.json: drops well below (${RESULT}M < 96M after ${PRESSURE_FOR} s of pressure)"
}

case_protect_leafonly() {
	experiment leafonly || { notok "[leafonly] the experiment ran"; return; }
	[ "$RESULT" -lt 96 ]
	check $? "[leafonly] memory.min=128M on the leaf alone (runc linux.resources.unified, ancestors at 0) is void: ${RESULT}M < 96M after ${PRESSURE_FOR} s of pressure"
}

# Protection on the ancestors only (/memguard/ci 128M, leaf 0): it reaches
# the leaf only through memory_recursiveprot. Shows that the option is what
# the kernel is running with, and why the hook sets the leaf too.
case_protect_ancestorsonly() {
	echo 134217728 >$CG/memguard/ci/memory.min
	echo 134217728 >$CG/memguard/memory.min
	experiment ancestorsonly
	echo 0 >$CG/memguard/ci/memory.min
	echo 0 >$CG/memguard/memory.min
	if has_recursiveprot; then
		[ "$RESULT_MIN" -ge 120 ]
		check $? "[ancestorsonly] with memory_recursiveprot, 128M on the ancestors alone flows down to the leaf (lowest ${RESULT_MIN}M)"
	else
		[ "$RESULT" -lt 96 ]
		check $? "[ancestorsonly] without memory_recursiveprot, 128M on the ancestors alone does not reach the leaf (${RESULT}M < 96M after ${PRESSURE_FOR} s of pressure)"
	fi
}

case_protect_standin() {
	experiment standin || { notok "[standin] the experiment ran"; return; }
	[ "$RESULT_MIN" -ge 127 ]
	check $? "[standin] CONTROL, not proof: the shell stand-in's writes hold the container at 128M (lowest ${RESULT_MIN}M)"
}

# runc 1.1.5's `runc spec` gives no cgroup namespace: runc then mounts cgroup2
# for the container in the initial cgroup namespace, and the kernel applies a
# new cgroup2 mount's options to the one superblock: nsdelegate and
# memory_recursiveprot vanish host-wide (moby/moby#50466 is the same effect
# from dockerd). The hook cannot prevent it; it must notice (it detects
# memory_recursiveprot and logs it on every run).
case_cgroupns_hazard() {
	if ! has_recursiveprot; then
		echo "MG:  [cgroupns] skipped: this boot has no memory_recursiveprot to lose"
		return
	fi
	bundle protected-nocgns /memguard/ci/protected-nocgns hook '["/bin/true"]' "" \
		'{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}'
	before=$(mount_opts)
	start protected-nocgns
	sleep 0.5
	stop protected-nocgns
	after=$(mount_opts)
	echo "MG:  [cgroupns] a container without a cgroup namespace: cgroup2 options '$before' -> '$after'"
	if [ "$after" != "$before" ]; then
		echo "MG:  [cgroupns] HAZARD: runc $(runc --version | sed -n 's/^runc version //p') without a cgroup namespace dropped them host-wide"
	fi
	if has_recursiveprot; then want=true; else want=false; fi
	hook_record protected-nocgns prestart | grep -q "\"recursiveprot\":$want"
	check $? "[cgroupns] the hook's record follows the mount as it is now (recursiveprot=$want)"
	mount -o remount,nsdelegate,memory_recursiveprot $CG
	has_recursiveprot
	check $? "[cgroupns] mount -o remount,memory_recursiveprot restores the option in place ($(mount_opts))"
}

# The build guard on a real kernel: a cache-heavy host, a build whose policy
# wants more MemAvailable than there is. The hook must reclaim the deficit
# with memory.reclaim and destroy far less page cache than drop_caches=3
# would; vm.swappiness is the policy's while the build runs.
case_buildguard_reclaim() {
	bundle build1 /memguard/build/build1 hook '["/bin/sh", "-c", "sleep 30"]' '"annotations": {"oci-memguard.build": "true"},'
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
	vm_snapshot "buildguard before"
	avail_kb=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
	deficit=$((64 * MiB))
	want=$((avail_kb * 1024 + deficit))
	policy 60-builds.json "$(printf '{"trust": ["oci-memguard.build"], "match": {"build": true}, "build": {"swappiness": 10, "reclaim": {"when": "auto", "available_below": %s, "timeout_ms": 20000}}}' "$want")"
	swp_before=$(cat /proc/sys/vm/swappiness)
	start build1 || return
	swp_during=$(cat /proc/sys/vm/swappiness)
	vm_snapshot "buildguard during"
	rec=$(hook_record build1 prestart)
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
	rm -f "$POLICY_DIR/60-builds.json"
}

# the cases kept in their own files (conformance/vm/case-*.sh)
# shellcheck disable=SC1090
for f in /case-*.sh; do [ -f "$f" ] && . "$f"; done
prepare
echo "MG:memory.events (hierarchical counts): 'max' on /memguard counts the times its 400M limit forced"
echo "MG:  reclaim — the pressure itself. 'low' counts reclaim of a cgroup below its effective memory.low (none"
echo "MG:  here: the policy sets min). memory.min has no event: a cgroup under its effective min is skipped"
echo "MG:  silently, so its effect is memory.current itself. 'oom'/'oom_kill' stay 0 because zram swap absorbs"
echo "MG:  what is reclaimed (memory.swap.current). 'max' stays 0 on A and /memguard/ci: the limit is /memguard's."
for c in ${CASES:-$CASES_DEFAULT}; do
	echo "MG:case $c (guest uptime $(cut -d' ' -f1 /proc/uptime)s)"
	if type "case_$c" >/dev/null 2>&1; then
		"case_$c"
	else
		notok "[$c] no such case"
	fi
done
