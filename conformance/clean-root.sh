#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# clean-root.sh DIR CMD...: runs CMD (as root) in a private mount namespace
# in which the parts of the root file system that install.sh writes to are
# overlays of the host's own, their upper layers kept in DIR. CMD sees this
# host as it is (engines, /etc/docker, systemd) and may change it at will,
# but the host's files never change, and CMD's changes are gone with the
# namespace when it exits.
#
# An oci-memguard installed on the host is first uninstalled inside the
# overlays (install.sh --uninstall --purge of this tree), so CMD starts from
# the host as it was before `./install.sh` whether or not it is installed:
# conformance/install.bats runs its cases through this, so that they run the
# same after README's `sudo ./install.sh` as before it, and never touch the
# installation.
set -euo pipefail

if [[ "${1:-}" != --inside ]]; then
	(($# >= 2)) || { echo "usage: clean-root.sh DIR CMD..." >&2; exit 2; }
	[[ $(id -u) -eq 0 ]] || { echo "clean-root.sh: needs root (mount namespaces, overlayfs)" >&2; exit 1; }
	exec unshare --mount --propagation private -- "$0" --inside "$@"
fi
shift
dir="$1"
shift
src="$(cd "$(dirname "$0")/.." && pwd)"

# What install.sh and the engines it registers with write below: BINDIR and
# the shim (/usr/local), policies and hooks.d (/usr/share), /etc/oci-memguard,
# /etc/docker, /etc/default/docker, the systemd drop-in (/etc), its manifest
# (/var/lib), the log (/var/log) and the state dir (/run).
for p in /etc /usr/local /usr/share /var/lib /var/log /run; do
	k="${p//\//_}"
	mkdir -p "$dir/upper$k" "$dir/work$k"
	mount -t overlay "clean-root$k" -o "lowerdir=$p,upperdir=$dir/upper$k,workdir=$dir/work$k" "$p"
done

if [[ -f /var/lib/oci-memguard/manifest || -e /usr/local/bin/oci-memguard ]]; then
	if ! "$src/install.sh" --uninstall --purge >"$dir/uninstall.log" 2>&1; then
		echo "clean-root.sh: could not uninstall the host's oci-memguard inside the overlays:" >&2
		cat "$dir/uninstall.log" >&2
		exit 1
	fi
fi

exec "$@"
