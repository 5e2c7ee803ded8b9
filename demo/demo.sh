#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `make demo`: a real container through runc on this very host, with the hook
# in its config.json and a demo policy, then the hook's outcome records.
# Everything lives in a temporary directory and is removed afterwards, even
# on failure; the container's cgroup too. Needs root and runc.
set -euo pipefail
hook="${1:?usage: demo.sh HOOK}"
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (runc needs it)" >&2; exit 1; }
command -v runc >/dev/null || { echo "demo: runc is not installed (apt-get install runc)" >&2; exit 1; }
command -v jq >/dev/null || { echo "demo: jq is not installed" >&2; exit 1; }
work=$(mktemp -d /tmp/oci-memguard-demo.XXXXXX)
id="memguard-demo-$$"
# The bundle directory is named after the container, as engines do: explain
# takes the id from it.
bundle="$work/$id"
cleanup() {
	local rc=$?
	# runc runs the poststop hook when it deletes the container; if the
	# container never got that far, give back what prestart took (e.g.
	# vm.swappiness) through the hook's own poststop, which reads its record.
	runc --root "$work/runc" delete -f "$id" >/dev/null 2>&1 || true
	if [[ -e "$work/state/containers/$id.json" ]]; then
		jq -n --arg id "$id" --arg b "$bundle" '{ociVersion: "1.0.2", id: $id, status: "stopped", bundle: $b}' |
			"$hook" poststop --state-dir "$work/state" --log-file "$work/events.jsonl" --policy-dir "$work/policy" --no-syslog >/dev/null 2>&1 || true
		echo "demo: the container did not finish; its poststop was run by the demo" >&2
	fi
	local d
	for d in /sys/fs/cgroup/*/memguard-demo /sys/fs/cgroup/memguard-demo; do
		[[ -d "$d/$id" ]] && find "$d/$id" -depth -type d -exec rmdir {} \; 2>/dev/null
		[[ -d "$d" ]] && rmdir "$d" 2>/dev/null # only when no other demo runs
	done
	rm -rf "$work"
	[[ $rc -eq 0 ]] || echo "demo: failed (exit $rc); the container, its cgroup and $work are removed" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$bundle/rootfs/bin" "$work/policy" "$work/state"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for c in sh sleep true cat echo; do ln -s busybox "$bundle/rootfs/bin/$c"; done
cat >"$work/policy/50-demo.json" <<'POLICY'
{
  "description": "demo: protect the demo image, treat it as a build (runc passes no image name: this policy trusts the annotations the demo's config.json sets)",
  "trust": ["oci-memguard.image", "oci-memguard.build"],
  "match": { "images": ["demo/*"] },
  "memory": { "min": "64M", "low": "128M" },
  "build": { "swappiness": 10, "reclaim": { "when": "auto", "available_below": "5%" } }
}
POLICY
chmod 0644 "$work/policy/50-demo.json"
(cd "$bundle" && runc spec)
jq --arg bin "$hook" --arg s "$work/state" --arg l "$work/events.jsonl" --arg p "$work/policy" --arg cg "/memguard-demo/$id" '
	.process.terminal = false
	| .process.args = ["/bin/sh", "-c", "echo \"   in the container: vm.swappiness=$(cat /proc/sys/vm/swappiness)$([ -r /sys/fs/cgroup/memory.min ] && echo \", memory.min=$(cat /sys/fs/cgroup/memory.min), memory.low=$(cat /sys/fs/cgroup/memory.low)\")\"; sleep 1"] | .linux.cgroupsPath = $cg
	| .annotations = {"oci-memguard.image": "demo/app:1", "oci-memguard.build": "true"}
	| .hooks = {
		prestart: [{path: $bin, args: ["oci-memguard", "prestart", "--state-dir", $s, "--log-file", $l, "--policy-dir", $p, "--no-syslog"], timeout: 10}],
		poststop: [{path: $bin, args: ["oci-memguard", "poststop", "--state-dir", $s, "--log-file", $l, "--policy-dir", $p, "--no-syslog"], timeout: 10}]
	}' "$bundle/config.json" >"$work/c.json"
mv "$work/c.json" "$bundle/config.json"

echo "== oci-memguard explain (what the hook will do)"
"$hook" explain --bundle "$bundle" --policy-dir "$work/policy" --state-dir "$work/state" --log-file "$work/events.jsonl"
echo
echo "== runc run $id: vm.swappiness before: $(cat /proc/sys/vm/swappiness)"
timeout 60 runc --root "$work/runc" run --bundle "$bundle" "$id" </dev/null
echo "== after the container: vm.swappiness $(cat /proc/sys/vm/swappiness) (given back at poststop)"
echo
echo "== the hook's outcome records ($work/events.jsonl)"
jq . "$work/events.jsonl"
echo
jq -r -s '"demo: prestart and poststop ran for \(.[0].id): image \(.[0].image), policies \(.[0].policies | join(",")), build=\(.[0].build), \(.[0].actions | length) change(s) at start, \(.[1].actions | length) given back at stop, cgroup \(.[0].cgroup_mode)\(if (.[0].skipped | length) > 0 then " (" + (.[0].skipped | join("; ")) + ")" else "" end)"' "$work/events.jsonl"
