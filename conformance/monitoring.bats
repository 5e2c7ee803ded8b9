#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The real monitoring stack: Debian's prometheus-node-exporter reads the
# hook's textfile (--collector.textfile.directory), Debian's prometheus
# scrapes it, both on loopback ports picked here and stopped after; real
# runc starts go through the hook, and the series Prometheus returns are
# checked against the hook's records.

load helpers

# free_port: a loopback port nobody listens on now
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

setup_file() {
	export MON="$BATS_FILE_TMPDIR/mon"
	mkdir -p "$MON/textfile" "$MON/tsdb" "$MON/policy" "$MON/state"
	export HOST_JSON=/etc/oci-memguard/host.json
}

teardown_file() {
	local p
	for p in "$MON"/*.pid; do
		[[ -e "$p" ]] || continue
		kill "$(cat "$p")" 2>/dev/null || true
	done
	# host.json was ours (created because absent): remove it, and its
	# directory if it was ours too
	if [[ -e "$MON/host-json-ours" ]]; then
		rm -f "$HOST_JSON"
		[[ ! -e "$MON/etc-dir-ours" ]] || rmdir /etc/oci-memguard 2>/dev/null || true
	fi
}

setup() {
	requires root runc
	command -v prometheus >/dev/null || skip "Debian package prometheus not installed (conformance/install-test-deps.sh)"
	command -v prometheus-node-exporter >/dev/null || skip "Debian package prometheus-node-exporter not installed (conformance/install-test-deps.sh)"
	command -v curl >/dev/null || skip "curl not installed"
}

start_stack() {
	if [[ -e "$HOST_JSON" && ! -e "$MON/host-json-ours" ]]; then
		skip "this host has its own $HOST_JSON: not replaced by a test"
	fi
	if [[ ! -d /etc/oci-memguard ]]; then
		mkdir -p /etc/oci-memguard
		touch "$MON/etc-dir-ours"
	fi
	touch "$MON/host-json-ours"
	printf '{"metrics_dir": "%s"}\n' "$MON/textfile" >"$HOST_JSON"
	chmod 0644 "$HOST_JSON"

	NE_PORT=$(free_port)
	prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" --collector.disable-defaults --collector.textfile \
		--collector.textfile.directory="$MON/textfile" >"$MON/node-exporter.log" 2>&1 &
	echo $! >"$MON/node-exporter.pid"
	PROM_PORT=$(free_port)
	cat >"$MON/prometheus.yml" <<-EOC
		global:
		  scrape_interval: 1s
		scrape_configs:
		  - job_name: node
		    static_configs:
		      - targets: ['127.0.0.1:$NE_PORT']
	EOC
	prometheus --config.file="$MON/prometheus.yml" --storage.tsdb.path="$MON/tsdb" --web.listen-address="127.0.0.1:$PROM_PORT" \
		>"$MON/prometheus.log" 2>&1 &
	echo $! >"$MON/prometheus.pid"
	local i
	for i in $(seq 1 100); do
		curl -fs "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null && return 0
		sleep 0.2
	done
	cat "$MON/prometheus.log" >&2
	fail "prometheus not ready on 127.0.0.1:$PROM_PORT"
}

# promql QUERY: the first sample's value, "" when none
promql() {
	curl -fsG "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // ""'
}

# wait_promql QUERY WANT: until Prometheus answers WANT (scrapes are 1 s apart)
wait_promql() {
	local i got=""
	for i in $(seq 1 60); do
		got=$(promql "$1")
		[[ "$got" == "$2" ]] && return 0
		sleep 0.5
	done
	echo "query $1: got '$got', want '$2'" >&2
	return 1
}

runc_bundle() {
	local dir="$1" id="$2"
	mkdir -p "$dir/rootfs/bin"
	cp /bin/busybox "$dir/rootfs/bin/busybox"
	ln -sf busybox "$dir/rootfs/bin/true"
	(cd "$dir" && runc spec)
	local extra
	extra=$(jq -n --arg s "$MON/state" --arg l "$MON/events.jsonl" --arg p "$MON/policy" \
		'["--state-dir", $s, "--log-file", $l, "--policy-dir", $p, "--no-syslog"]')
	jq --arg bin "$MEMGUARD_BIN" --argjson extra "$extra" --arg cg "/memguard-test/$id" '
		.process.terminal = false
		| .process.args = ["/bin/true"]
		| .linux.cgroupsPath = $cg
		| .annotations = {"oci-memguard.image": "memguard-test/app:1"}
		| .hooks = {
			prestart: [{path: $bin, args: (["oci-memguard", "prestart"] + $extra)}],
			poststop: [{path: $bin, args: (["oci-memguard", "poststop"] + $extra)}]
		}' "$dir/config.json" >"$dir/config.json.new"
	mv "$dir/config.json.new" "$dir/config.json"
}

@test "node-exporter + prometheus scrape the hook's textfile: after real runc runs, oci_memguard_* series match the records" {
	start_stack
	printf '{"trust": ["oci-memguard.image"], "match": {"images": ["memguard-test/*"]}, "memory": {"min": "32M", "low": "64M"}}\n' >"$MON/policy/50-test.json"
	chmod 0644 "$MON/policy/50-test.json"
	local n id
	for n in 1 2 3; do
		id="memguard-mon-$$-$n"
		runc_bundle "$MON/b$n" "$id"
		run runc --root "$MON/runc" run --bundle "$MON/b$n" "$id"
		assert_success
		runc --root "$MON/runc" delete -f "$id" >/dev/null 2>&1 || true
		find /sys/fs/cgroup -depth -type d -path "*/memguard-test*" -exec rmdir {} \; 2>/dev/null || true
	done
	assert_file_exists "$MON/textfile/oci-memguard.prom"
	# the records: how many starts and stops, and their verdicts
	local starts stops
	starts=$(jq -s '[.[] | select(.stage == "prestart" and (.errors | length) == 0)] | length' "$MON/events.jsonl")
	stops=$(jq -s '[.[] | select(.stage == "poststop" and (.errors | length) == 0)] | length' "$MON/events.jsonl")
	assert_equal "$starts" 3
	wait_promql 'sum(oci_memguard_runs_total{stage="start",outcome!="error"})' "$starts"
	wait_promql 'sum(oci_memguard_runs_total{stage="poststop",outcome!="error"})' "$stops"
	wait_promql 'oci_memguard_hook_duration_seconds_count{stage="start"}' "$starts"
	wait_promql 'oci_memguard_protected_containers' 0
	local verdict count
	verdict=$(jq -rs '[.[] | select(.stage == "poststop") | .evidence.verdict] | unique | .[0]' "$MON/events.jsonl")
	count=$(jq -rs --arg v "$verdict" '[.[] | select(.stage == "poststop" and .evidence.verdict == $v)] | length' "$MON/events.jsonl")
	wait_promql "oci_memguard_verdicts_total{verdict=\"$verdict\"}" "$count"
	# MemTotal as the kernel says, in bytes
	wait_promql 'oci_memguard_memory_total_bytes' "$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024))"
	# the two README examples evaluate
	run promql 'sum(increase(oci_memguard_breaches_total[1h])) or vector(0)'
	assert_success
	refute_output ""
	run promql 'sum(oci_memguard_protection_bytes) / max(oci_memguard_memory_total_bytes) > 0.5 or vector(0)'
	assert_success
	refute_output ""
}
