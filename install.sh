#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# oci-memguard installer: dependencies (apt-get), build, `make install`,
# registration with the container engines found, then `oci-memguard doctor`.
#
#   sudo ./install.sh [--prefix DIR] [--no-register] [--uninstall] [--dry-run]
#   DESTDIR=/tmp/pkg ./install.sh      (packaging: no packages, nothing outside DESTDIR)
#
# Idempotent: running it twice changes nothing the second time.
set -euo pipefail

cd "$(dirname "$0")"
PREFIX=/usr/local
REGISTER=1
UNINSTALL=0
DRY_RUN=0
DESTDIR="${DESTDIR:-}"

usage() {
	sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//'
}

while (($#)); do
	case "$1" in
	--prefix) PREFIX="$2"; shift 2 ;;
	--prefix=*) PREFIX="${1#*=}"; shift ;;
	--no-register) REGISTER=0; shift ;;
	--uninstall) UNINSTALL=1; shift ;;
	--dry-run) DRY_RUN=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
done

say() { echo "install.sh: $*"; }
run() {
	if ((DRY_RUN)); then
		echo "would run: $*"
	else
		"$@"
	fi
}

BUILD_DEPS=(gcc make pkg-config libyajl-dev libseccomp-dev libyajl2 libseccomp2 jq)

install_deps() {
	[[ -n "$DESTDIR" ]] && return 0
	local missing=() p
	for p in "${BUILD_DEPS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if [[ $(id -u) -ne 0 ]]; then
		echo "install.sh: run as root to install: ${missing[*]}" >&2
		exit 1
	fi
	say "installing ${missing[*]}"
	run env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

BIN="$DESTDIR$PREFIX/bin/oci-memguard"

if ((UNINSTALL)); then
	if ((REGISTER)) && [[ -x conformance/../install.d/register.sh ]]; then
		run install.d/register.sh --uninstall
	fi
	run make uninstall PREFIX="$PREFIX" DESTDIR="$DESTDIR"
	say "uninstalled"
	exit 0
fi

install_deps
run make -s all
run make -s install PREFIX="$PREFIX" DESTDIR="$DESTDIR"
if [[ -z "$DESTDIR" ]] && ((!DRY_RUN)); then
	install -d -m 0700 /run/oci-memguard
	install -d -m 0750 /var/log/oci-memguard
fi
if ((REGISTER)) && [[ -z "$DESTDIR" ]] && [[ -x install.d/register.sh ]]; then
	run install.d/register.sh --prefix "$PREFIX" $( ((DRY_RUN)) && echo --dry-run)
fi
if [[ -z "$DESTDIR" ]] && ((!DRY_RUN)); then
	"$BIN" doctor || true
fi
