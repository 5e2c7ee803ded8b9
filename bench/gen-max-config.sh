#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# gen-max-config.sh OUT [KEYS] [BYTES] [CGROUPS_PATH]: the largest config.json the input
# limits allow, full of annotations: a runc-style config whose annotations
# object has KEYS keys (65536, the per-object cap) and whose values are
# padded so that the file is exactly BYTES long (16 MiB, the config.json
# limit).  Used by `make bench` (parse time of hook and wrapper) and by
# conformance/max-config.bats (both handle it, and one key more).
set -euo pipefail

OUT="${1:?usage: gen-max-config.sh OUT [KEYS] [BYTES] [CGROUPS_PATH]}"
KEYS="${2:-65536}"
BYTES="${3:-16777216}"
CGP="${4:-/memguard-test/max-config}"

HEAD='{"ociVersion":"1.0.2","process":{"terminal":false,"user":{"uid":0,"gid":0},"args":["/bin/true"],"env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"cwd":"/"},"root":{"path":"rootfs","readonly":true},"hostname":"max-config","mounts":[{"destination":"/proc","type":"proc","source":"proc"}],"linux":{"cgroupsPath":"'"$CGP"'","namespaces":[{"type":"pid"},{"type":"mount"}]},"annotations":{'
TAIL='}}'

awk -v keys="$KEYS" -v bytes="$BYTES" -v head="$HEAD" -v tail="$TAIL" 'BEGIN {
	# an entry: "io.example.max/annotation-NNNNNNN":"VALUE" and a comma
	# between entries
	klen = length("io.example.max/annotation-") + 7
	fixed = length(head) + length(tail) + 1 + keys * (klen + 5) + (keys - 1)
	room = bytes - fixed
	if (room < 0) { print "gen-max-config: " keys " keys do not fit in " bytes " bytes" > "/dev/stderr"; exit 1 }
	per = int(room / keys); extra = room - per * keys
	pad = sprintf("%*s", per + 1, ""); gsub(/ /, "v", pad)
	printf "%s", head
	for (i = 0; i < keys; i++) {
		printf "%s\"io.example.max/annotation-%07d\":\"%s\"", (i ? "," : ""), i, substr(pad, 1, per + (i < extra ? 1 : 0))
	}
	printf "%s\n", tail
}' >"$OUT"
