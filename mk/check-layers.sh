#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# check-layers.sh (run by `make lint`): every #include "x.h" of lib/, policy/,
# hook/ and wrapper/ must resolve to its own folder or to a layer below it:
#   lib      nothing of ours
#   policy   lib
#   hook     policy, lib
#   wrapper  lib
# A header is named by its file name only ("util.h", never "../lib/util.h"):
# the Makefile's -I flags say where it may come from. Headers found in none of
# the layers (system, generated in build/gen) are not ours and pass.
# Prints one line per violation and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."

layers=(lib policy hook wrapper)
declare -A below=([lib]="" [policy]="lib" [hook]="policy lib" [wrapper]="lib")
declare -A rank=([lib]=0 [policy]=1 [hook]=2 [wrapper]=2)

allowed_list() {
	local l="$1" b
	b="${below[$l]}"
	if [[ -z "$b" ]]; then
		echo "only its own headers"
	else
		echo "its own headers and those of ${b// /, }"
	fi
}

status=0
for layer in "${layers[@]}"; do
	for f in "$layer"/*.c "$layer"/*.h; do
		[[ -e "$f" ]] || continue
		while IFS=: read -r line inc; do
			where=""
			if [[ "$inc" == */* ]]; then
				echo "$f:$line: #include \"$inc\": name the header by its file name; the -I flags of the layers below $layer resolve it"
				status=1
				continue
			fi
			[[ -e "$layer/$inc" ]] && continue
			ok=0
			for d in ${below[$layer]}; do
				if [[ -e "$d/$inc" ]]; then
					ok=1
					break
				fi
			done
			((ok)) && continue
			for d in "${layers[@]}"; do
				if [[ -e "$d/$inc" ]]; then
					where="$d"
					break
				fi
			done
			[[ -z "$where" ]] && continue # not ours: system or generated
			if ((rank[$where] > rank[$layer])); then
				dir="up"
			else
				dir="sideways"
			fi
			echo "$f:$line: #include \"$inc\" points $dir to $where/$inc: $layer may include $(allowed_list "$layer")"
			status=1
		done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
			sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
	done
done
if ((status)); then
	echo "check-layers: an include points up or sideways (lib <- policy <- hook, lib <- wrapper)"
fi
exit "$status"
