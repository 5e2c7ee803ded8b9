# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh disable=SC2154 # MiB, CG, helpers: guest-test.sh
# The VM case "budget", sourced by guest-test.sh: protection promised past
# what the host holds, with the protection budget off and with the default
# rule (memory.min at most 50 % of RAM, min or low together 80 %).
#
# The rig: /mgbudget stands in for a 400M host (memory.max 400M; zram swap
# allowed). Its children are the top of its tree, as the root's children
# are on a real host, and the kernel's arithmetic is the same one level
# down: /mgbudget is where reclaim starts, its children's memory.min is
# what reclaim must skip, and when nothing else is left the OOM killer
# runs inside it. The budget is computed from MemTotal, which is the
# guest's, not the stand-in's: host.json states the default rule in bytes
# of the stand-in (min 200M = 50 %, protection 320M = 80 % of 400M), so
# the budget is what makes the difference between the two runs. Four
# containers each ask memory.min 150M (600M in all) and touch 150M; a
# host daemon (not a container, unprotected) re-touches 40M in a loop.

BG=/mgbudget
HOST_JSON=/etc/oci-memguard/host.json

bg_prepare() {
	mkdir -p "$CG$BG/ci" "$CG$BG/host"
	echo "+memory +pids" >"$CG$BG/cgroup.subtree_control"
	echo "+memory +pids" >"$CG$BG/ci/cgroup.subtree_control"
	echo 400M >"$CG$BG/memory.max"
	policy 85-bg.json '{"match": {"cgroups": ["/mgbudget/ci/*"]}, "memory": {"min": "150M"}}'
}

host_json() {
	mkdir -p "${HOST_JSON%/*}"
	printf '%s\n' "$1" >"$HOST_JSON"
	chown 0:0 "$HOST_JSON"
	chmod 0644 "$HOST_JSON"
}

bg_state() { runc state "$1" 2>/dev/null | sed -n 's/.*"status": "\([a-z]*\)".*/\1/p'; }
bg_event() { sed -n "s/^$2 //p" "$CG$1/memory.events" 2>/dev/null || echo 0; }
bg_granted() { hook_record "$1" prestart | sed -n 's/.*"granted":{"min":\([0-9]*\).*/\1/p'; }

# bg_run VARIANT (off|default): sets BG_KILLS, BG_GRANTED (MiB), BG_KEPT
# (c1's MiB), BG_C1 (c1's state), BG_DAEMON (alive), BG_DAEMON_MIB, BG_ROWS
bg_run() {
	v=$1
	dmesg0=$(dmesg 2>/dev/null | wc -l)
	kills0=$(bg_event $BG oom_kill)
	sh -c "echo \$\$ >$CG$BG/host/cgroup.procs; exec /bundles/rootfs/bin/memhog 40 active" </dev/null >/dev/null 2>&1 &
	daemon=$!
	wait_current $BG/host $((38 * MiB)) 60 || echo "MG:  [budget-$v] the host daemon never reached 38M"
	BG_GRANTED=0
	for i in 1 2 3 4; do
		bundle "bg-$v-$i" "$BG/ci/bg-$v-$i" hook '["/bin/memhog", "150"]'
		start "bg-$v-$i" || return 1
		wait_current "$BG/ci/bg-$v-$i" $((145 * MiB)) 30 || echo "MG:  [budget-$v] bg-$v-$i never reached 145M (state $(bg_state "bg-$v-$i"))"
		g=$(bg_granted "bg-$v-$i")
		BG_GRANTED=$((BG_GRANTED + ${g:-0}))
	done
	sleep 10
	BG_ROWS=""
	for i in 1 2 3 4; do
		c=$BG/ci/bg-$v-$i
		row="bg-$v-$i: granted $(mib "$(bg_granted "bg-$v-$i")")M, holds $(mib "$(val "$CG$c/memory.current")")M, $(bg_state "bg-$v-$i"), oom_kill $(bg_event "$c" oom_kill)"
		echo "MG:  [budget-$v] $row"
		BG_ROWS="$BG_ROWS; $row"
	done
	BG_KILLS=$(($(bg_event $BG oom_kill) - kills0))
	BG_C1=$(bg_state "bg-$v-1")
	BG_KEPT=$(mib "$(val "$CG$BG/ci/bg-$v-1/memory.current")")
	BG_GRANTED1=$(mib "$(bg_granted "bg-$v-1")")
	if kill -0 "$daemon" 2>/dev/null; then BG_DAEMON=yes; else BG_DAEMON=no; fi
	BG_DAEMON_MIB=$(mib "$(val "$CG$BG/host/memory.current")")
	BG_DAEMON_SWAP=$(mib "$(val "$CG$BG/host/memory.swap.current")")
	BG_GRANTED=$(mib "$BG_GRANTED")
	echo "MG:  [budget-$v] granted in all ${BG_GRANTED}M of 600M asked; OOM kills in $BG: $BG_KILLS; host daemon alive: $BG_DAEMON, resident ${BG_DAEMON_MIB}M, swapped ${BG_DAEMON_SWAP}M of 40M"
	dmesg 2>/dev/null | tail -n +$((dmesg0 + 1)) | grep -i "killed process" | tail -n 4 | sed "s/^/MG:  [budget-$v] kernel: /"
	kill "$daemon" 2>/dev/null
	wait "$daemon" 2>/dev/null
	for i in 1 2 3 4; do stop "bg-$v-$i"; done
}

case_budget() {
	bg_prepare
	host_json '{"budget": {"min": "max", "protection": "max"}}'
	bg_run off || { notok "[budget] the run without a budget ran"; return; }
	off_kills=$BG_KILLS off_granted=$BG_GRANTED off_daemon=$BG_DAEMON off_daemon_mib=$BG_DAEMON_MIB off_kept=$BG_KEPT off_c1=$BG_C1
	# the default rule, in the stand-in's bytes
	host_json '{"budget": {"min": "200M", "protection": "320M"}}'
	bg_run default || { notok "[budget] the run with the default budget ran"; return; }
	echo "MG:  [budget] | budget | protection granted | OOM kills | first container (granted / holds) | host daemon |"
	echo "MG:  [budget] | off | ${off_granted}M of 600M | $off_kills | 150M / ${off_kept}M, $off_c1 | alive: $off_daemon, ${off_daemon_mib}M resident |"
	echo "MG:  [budget] | 50 % / 80 % | ${BG_GRANTED}M of 600M | $BG_KILLS | ${BG_GRANTED1}M / ${BG_KEPT}M, $BG_C1 | alive: $BG_DAEMON, ${BG_DAEMON_MIB}M resident |"
	[ "$BG_GRANTED" -le 200 ]
	check $? "[budget] the default budget grants at most 50 % of the stand-in host (${BG_GRANTED}M of 600M asked)"
	[ "$BG_DAEMON" = yes ]
	check $? "[budget] with the default budget the unprotected host daemon survives"
	[ "$BG_C1" = running ] && [ "$BG_KEPT" -ge $((BG_GRANTED1 - 5)) ] && [ "$BG_GRANTED1" -gt 0 ]
	check $? "[budget] with the default budget the first container keeps what it was granted (${BG_KEPT}M of ${BG_GRANTED1}M)"
	[ "$BG_KILLS" = 0 ]
	check $? "[budget] with the default budget no OOM kill in the stand-in host ($BG_KILLS; without a budget: $off_kills)"
	[ "$off_granted" -gt 400 ]
	check $? "[budget] control: without a budget the hook promises more than the stand-in host holds (${off_granted}M in 400M)"
	rm -f "$HOST_JSON" "$POLICY_DIR/85-bg.json"
}
