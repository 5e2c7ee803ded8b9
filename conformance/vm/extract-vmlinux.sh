#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# extract-vmlinux.sh BZIMAGE OUT: writes the uncompressed ELF kernel inside a
# bzImage. The uncompressed kernel boots through PVH in about half the time
# of the bzImage under qemu's TCG (TESTBED), and TCG is all CI has.
#
# The payload starts at the first compression magic that decompresses to an
# ELF image; try each format's magic in turn.
set -euo pipefail
in="$1" out="$2"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT

try() { # try MAGIC_HEX DECOMPRESSOR...
	local magic="$1" off
	shift
	while read -r off; do
		tail -c "+$((off + 1))" "$in" | "$@" >"$tmp" 2>/dev/null || true
		if [[ "$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' \n')" == 7f454c46 ]]; then
			mv "$tmp" "$out"
			return 0
		fi
	done < <(LC_ALL=C grep -obUaP "$magic" "$in" | cut -d: -f1)
	return 1
}

try '\xfd\x37\x7a\x58\x5a\x00' xz -dc ||
	try '\x28\xb5\x2f\xfd' zstd -dc ||
	try '\x1f\x8b\x08' gzip -dc ||
	{ echo "extract-vmlinux: no ELF kernel found in $in" >&2; exit 1; }
