# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh disable=SC2154 # MiB, EV_PRESSURE_SECS, helpers: guest-test.sh
# The VM case "sample", sourced by guest-test.sh: runc removes the
# container's cgroup before poststop, so the stop's verdict comes from the
# last `oci-memguard sample` — run here after the pressure, before the stop,
# as the timer would. Same rig as case_evidence (a 256M container next to a
# 380M hog in /memguard's 400M).

# sample_run NAME: sets SMP_REC (the poststop record), SMP_LOW (the kernel's
# low delta on the container up to the sample)
sample_run() {
	A=/memguard/ci/sample-$1
	start "sample-$1" || return 1
	wait_current "$A" $((250 * MiB)) 60 || echo "MG:  [sample-$1] A never reached 250M"
	smp_low0=$(low_of "$A")
	start "smp-neighbour-$1" || return 1
	sleep "$EV_PRESSURE_SECS"
	oci-memguard sample | sed 's/^/MG:  /'
	SMP_LOW=$(($(low_of "$A") - smp_low0))
	stop "smp-neighbour-$1"
	stop "sample-$1"
	SMP_REC=$(hook_record "sample-$1" poststop)
	echo "MG:  [sample-$1] kernel: low +$SMP_LOW up to the sample; poststop: $(echo "$SMP_REC" | sed 's/.*"evidence"/"evidence"/')"
}

case_sample() {
	policy 70-smp-held.json '{"match": {"cgroups": ["/memguard/ci/sample-held"]}, "memory": {"low": "320M"}}'
	policy 71-smp-breach.json '{"match": {"cgroups": ["/memguard/ci/sample-breach"]}, "memory": {"low": "128M"}}'
	policy 72-smp-neighbour.json '{"match": {"cgroups": ["/memguard/batch/smp-neighbour-breach"]}, "memory": {"low": "380M"}}'
	for v in held breach; do
		bundle "sample-$v" "/memguard/ci/sample-$v" hook '["/bin/memhog", "256"]'
		bundle "smp-neighbour-$v" "/memguard/batch/smp-neighbour-$v" hook '["/bin/memhog", "380", "active"]'
	done
	sample_run held || { notok "[sample] the held run ran"; return; }
	echo "$SMP_REC" | grep -q '"verdict":"held".*"source":"sample","sample_age_s":[0-9]*' && [ "$SMP_LOW" = 0 ]
	check $? "[sample] runc removed the cgroup before poststop; the stop says held from the sample (kernel: low +$SMP_LOW)"
	sample_run breach || { notok "[sample] the breach run ran"; return; }
	echo "$SMP_REC" | grep -q "\"verdict\":\"breached\".*\"source\":\"sample\"" &&
		echo "$SMP_REC" | grep -q "\"memory_events_delta\":{\"low\":$SMP_LOW," && [ "$SMP_LOW" -gt 0 ]
	check $? "[sample] the breach run: the stop says breached from the sample with the kernel's low +$SMP_LOW"
}
