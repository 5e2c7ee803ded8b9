# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh disable=SC2154 # MiB, CG, helpers: guest-test.sh
# The VM case "buildlimit", sourced by guest-test.sh: a build step that
# allocates past its memory limit is OOM-killed alone, while a protected
# service container next to it keeps its working set and an unprotected
# host process survives; without the limit, what the kernel killed instead.
#
# The rig: /mglimit stands in for a small host without swap (400M,
# memory.swap.max 0: anonymous memory cannot be pushed out, as on most CI
# and Kubernetes nodes). In it: a service container holding 200M (policy
# memory.min 200M), a "host daemon" process touching 40M in a loop, and a
# build step that touches 300M. The step alone does not fit beside the
# others, so the kernel must kill something. With build.limit.max 120M the
# step's own cgroup reaches its limit first and the step is the victim;
# without it /mglimit runs out, and the OOM killer picks the largest task
# in it, whatever memory.min says (protection steers reclaim, not the OOM
# killer).

BL=/mglimit

bl_prepare() {
	mkdir -p "$CG$BL"
	echo "+memory +pids" >"$CG$BL/cgroup.subtree_control"
	echo 400M >"$CG$BL/memory.max"
	echo 0 >"$CG$BL/memory.swap.max"
	mkdir -p "$CG$BL/ci" "$CG$BL/build" "$CG$BL/host"
	echo "+memory +pids" >"$CG$BL/ci/cgroup.subtree_control"
	echo "+memory +pids" >"$CG$BL/build/cgroup.subtree_control"
	policy 80-bl-svc.json '{"match": {"cgroups": ["/mglimit/ci/*"]}, "memory": {"min": "200M"}}'
	policy 81-bl-build.json '{"trust": ["oci-memguard.build"], "match": {"build": true, "cgroups": ["/mglimit/build/*"]}, "build": {"reclaim": {"when": "never"}}}'
	policy 82-bl-limit.json '{"trust": ["oci-memguard.build"], "match": {"build": true, "cgroups": ["/mglimit/build/step-limit"]}, "build": {"limit": {"max": "120M", "swap_max": "0", "oom_group": true}}}'
}

# the running state of a container: running, stopped, or gone
bl_state() { runc state "$1" 2>/dev/null | sed -n 's/.*"status": "\([a-z]*\)".*/\1/p'; }
bl_event() { sed -n "s/^$2 //p" "$CG$1/memory.events" 2>/dev/null || echo -; }

# bl_run VARIANT (limit|nolimit): sets BL_STEP_KILLS, BL_SVC_KILLS,
# BL_SVC_MIB, BL_SVC_STATE, BL_HOST_ALIVE, BL_STEP_STATE, BL_REC
bl_run() {
	v=$1
	dmesg0=$(dmesg 2>/dev/null | wc -l)
	svc=$BL/ci/svc-$v step=$BL/build/step-$v
	bundle "bl-svc-$v" "$svc" hook '["/bin/memhog", "200"]'
	bundle "bl-step-$v" "$step" hook '["/bin/memhog", "300"]' '"annotations": {"oci-memguard.build": "true"},'
	start "bl-svc-$v" || return 1
	wait_current "$svc" $((195 * MiB)) 60 || echo "MG:  [buildlimit-$v] the service never reached 195M"
	# the host's daemons: a process of the host, not a container (memhog
	# lives in the containers' rootfs only)
	sh -c "echo \$\$ >$CG$BL/host/cgroup.procs; exec /bundles/rootfs/bin/memhog 40 active" </dev/null >/dev/null 2>&1 &
	host_pid=$!
	wait_current $BL/host $((38 * MiB)) 60 || echo "MG:  [buildlimit-$v] the host process never reached 38M"
	start "bl-step-$v" || return 1
	BL_REC_START=$(hook_record "bl-step-$v" prestart)
	# the step dies at its limit, or grows to 300M; either within seconds
	i=0
	while [ $i -lt 300 ] && [ "$(bl_state "bl-step-$v")" = running ] && [ "$(val "$CG$step/memory.current")" -lt $((295 * MiB)) ]; do
		sleep 0.2
		i=$((i + 1))
	done
	sleep 2 # let an OOM kill finish
	# the sampler's reading of the step's counters before runc removes its
	# cgroup (the timer runs it every 30 s on a host)
	oci-memguard sample >/dev/null 2>&1
	BL_STEP_KILLS=$(bl_event "$step" oom_kill)
	BL_STEP_OOM=$(bl_event "$step" oom)
	BL_SVC_KILLS=$(bl_event "$svc" oom_kill)
	BL_SVC_MIB=$(mib "$(val "$CG$svc/memory.current")")
	BL_STEP_MIB=$(mib "$(val "$CG$step/memory.peak")")
	BL_SVC_STATE=$(bl_state "bl-svc-$v")
	BL_STEP_STATE=$(bl_state "bl-step-$v")
	if kill -0 "$host_pid" 2>/dev/null; then BL_HOST_ALIVE=yes; else BL_HOST_ALIVE=no; fi
	BL_PARENT_KILLS=$(bl_event $BL oom_kill)
	echo "MG:  [buildlimit-$v] step $BL_STEP_STATE (oom $BL_STEP_OOM, oom_kill $BL_STEP_KILLS, peak ${BL_STEP_MIB}M); service $BL_SVC_STATE at ${BL_SVC_MIB}M (oom_kill $BL_SVC_KILLS); host process alive: $BL_HOST_ALIVE; OOM kills in $BL so far: $BL_PARENT_KILLS"
	dmesg 2>/dev/null | tail -n +$((dmesg0 + 1)) | grep -i "killed process" | tail -n 2 | sed "s/^/MG:  [buildlimit-$v] kernel: /"
	kill "$host_pid" 2>/dev/null
	wait "$host_pid" 2>/dev/null
	stop "bl-step-$v"
	stop "bl-svc-$v"
	BL_REC=$(hook_record "bl-step-$v" poststop)
	echo "MG:  [buildlimit-$v] poststop: $(echo "$BL_REC" | sed -n 's/.*\("limit":{[^}]*}[^}]*}\).*/\1/p')"
}

case_buildlimit() {
	bl_prepare
	bl_run limit || { notok "[buildlimit] the run with the limit ran"; return; }
	echo "$BL_REC_START" | grep -q '"limit":{"applied":true,"cgroup_version":2,"max":125829120,"max_from":"policy","swap_max":0,"swap_from":"policy","oom_group":true}'
	check $? "[buildlimit] the step's cgroup got memory.max 120M, memory.swap.max 0, memory.oom.group 1 at prestart"
	[ "$BL_STEP_KILLS" != - ] && [ "$BL_STEP_KILLS" -ge 1 ] && [ "$BL_STEP_OOM" -ge 1 ] && [ "$BL_STEP_STATE" = stopped ]
	check $? "[buildlimit] with the limit the step is OOM-killed at its own limit (oom $BL_STEP_OOM, oom_kill $BL_STEP_KILLS, peak ${BL_STEP_MIB}M)"
	[ "$BL_SVC_STATE" = running ] && [ "$BL_SVC_KILLS" = 0 ] && [ "$BL_SVC_MIB" -ge 195 ]
	check $? "[buildlimit] the protected service keeps running with its working set (${BL_SVC_MIB}M of 200M, oom_kill $BL_SVC_KILLS)"
	[ "$BL_HOST_ALIVE" = yes ]
	check $? "[buildlimit] the unprotected host process survives"
	echo "$BL_REC" | grep -q '"stopped":true,"message":"build step bl-step-limit was stopped by its memory limit of 120 MiB (the kernel'
	check $? "[buildlimit] poststop says the step was stopped by its memory limit of 120 MiB (from the sample)"
	lim_step=$BL_STEP_KILLS lim_svc=$BL_SVC_KILLS lim_host=$BL_HOST_ALIVE lim_svc_mib=$BL_SVC_MIB

	bl_run nolimit || { notok "[buildlimit] the run without the limit ran"; return; }
	victim=none
	[ "$BL_SVC_KILLS" != - ] && [ "$BL_SVC_KILLS" -ge 1 ] && victim="the protected service"
	[ "$BL_HOST_ALIVE" = no ] && victim="${victim#none}${victim:+, }the host process"
	[ "$BL_STEP_KILLS" != - ] && [ "$BL_STEP_KILLS" -ge 1 ] && victim="${victim#none}${victim:+, }the step"
	echo "MG:  [buildlimit] without the limit the kernel killed: $victim"
	echo "MG:  [buildlimit] | run | step oom_kill | service oom_kill | service kept | host process |"
	echo "MG:  [buildlimit] | build.limit.max 120M | $lim_step | $lim_svc | ${lim_svc_mib}M | $lim_host |"
	echo "MG:  [buildlimit] | no limit | $BL_STEP_KILLS | $BL_SVC_KILLS | ${BL_SVC_MIB}M | $BL_HOST_ALIVE |"
	[ "$BL_SVC_KILLS" != 0 ] || [ "$BL_HOST_ALIVE" = no ]
	check $? "[buildlimit] control: without the limit the step's growth costs another task its life ($victim)"
	rm -f "$POLICY_DIR"/80-bl-*.json "$POLICY_DIR"/81-bl-*.json "$POLICY_DIR"/82-bl-*.json
}
