#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A test runtime for the hook-order case, installed as order-runtime-after
# and order-runtime-first: on `create` it puts order-probe and the hook's
# prestart after Docker's own prestart hooks (what oci-memguard-runtime
# does) or before them, adds the hook's poststop, then execs runc.
set -eu
order=${0##*-}
bundle=""
create=0
prev=""
for a in "$@"; do
	case "$prev" in --bundle | -b) bundle=$a ;; esac
	case "$a" in create | run) create=1 ;; --bundle=*) bundle=${a#*=} ;; esac
	prev=$a
done
if [ $create = 1 ]; then
	cfg="${bundle:-.}/config.json"
	jq --arg o "$order" '
		[{path: "/opt/memguard/bin/order-probe", args: ["order-probe", $o]},
		 {path: "/usr/local/bin/oci-memguard", args: ["oci-memguard", "prestart"], timeout: 30}] as $ours
		| .hooks.prestart = (if $o == "first" then $ours + (.hooks.prestart // []) else (.hooks.prestart // []) + $ours end)
		| .hooks.poststop = (.hooks.poststop // []) + [{path: "/usr/local/bin/oci-memguard", args: ["oci-memguard", "poststop"], timeout: 30}]' \
		"$cfg" >"$cfg.tmp"
	mv "$cfg.tmp" "$cfg"
fi
exec /usr/bin/runc "$@"
