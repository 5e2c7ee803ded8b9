#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# oci-memguard installer: dependencies (apt-get), build, `make install`,
# registration with the container engines found, then `oci-memguard doctor`.
#
#   sudo ./install.sh [--prefix DIR] [--docker-default] [--no-register] [--uninstall [--purge]] [--dry-run]
#   DESTDIR=/tmp/pkg ./install.sh      (packaging: no packages, nothing outside DESTDIR)
#
# Idempotent: running it twice changes nothing the second time.
# --uninstall removes exactly what it added (see install.d/register.sh); the
# log and admin policies are kept unless --purge.
set -euo pipefail

cd "$(dirname "$0")"
PREFIX=/usr/local
REGISTER=1
UNINSTALL=0
PURGE=0
DRY_RUN=0
DOCKER_DEFAULT=0 # read by install.d/register.sh
export DOCKER_DEFAULT
DESTDIR="${DESTDIR:-}"

usage() {
	sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'
}

while (($#)); do
	case "$1" in
	--prefix) PREFIX="$2"; shift 2 ;;
	--prefix=*) PREFIX="${1#*=}"; shift ;;
	--docker-default) DOCKER_DEFAULT=1; shift ;;
	--no-register) REGISTER=0; shift ;;
	--uninstall) UNINSTALL=1; shift ;;
	--purge) PURGE=1; shift ;;
	--dry-run) DRY_RUN=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
BINDIR="$PREFIX/bin"

say() { echo "install.sh: $*"; }
run() {
	if ((DRY_RUN)); then
		echo "would run: $*"
	else
		"$@"
	fi
}

# shellcheck source=install.d/register.sh disable=SC1091 # `make lint` should check it with -x
. install.d/register.sh

# libc6-dev: only a Recommends of gcc, which --no-install-recommends skips
# (a minimal Debian 12 then has gcc without <errno.h>).
BUILD_DEPS=(gcc libc6-dev make pkg-config libyajl-dev libseccomp-dev libyajl2 libseccomp2 jq scdoc)

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

# Directories `make install` and this script may create, parents after
# children; those missing now are recorded so that --uninstall removes them.
created_dirs() {
	echo "$BINDIR" "$PREFIX/share/man/man8" "$PREFIX/share/man/man5" "$PREFIX/share/man" "$PREFIX/lib/oci-memguard/shim" "$PREFIX/lib/oci-memguard" \
		"$PREFIX/lib/systemd/system" "$PREFIX/lib/systemd" \
		/usr/share/oci-memguard/policy.d /usr/share/oci-memguard \
		/etc/oci-memguard/policy.d /etc/oci-memguard /etc/logrotate.d \
		/usr/share/containers/oci/hooks.d /usr/share/containers/oci /usr/share/containers \
		/run/oci-memguard /var/log/oci-memguard
}

MAKEVARS=(PREFIX="$PREFIX" DESTDIR="$DESTDIR")

if ((UNINSTALL)); then
	if [[ -z "$DESTDIR" ]] && ((REGISTER)); then
		unregister_engines
	fi
	if [[ -z "$DESTDIR" && -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
		run systemctl disable --now oci-memguard-sample.timer 2>/dev/null || true
	fi
	run make -s uninstall "${MAKEVARS[@]}"
	if [[ -z "$DESTDIR" ]]; then
		remove_runtime_state
		((PURGE)) && purge_data
		remove_recorded_dirs
		if [[ -d "$MG_STATE_DIR" ]]; then
			if ((DRY_RUN)); then echo "would remove $MG_STATE_DIR"; else rm -rf "$MG_STATE_DIR"; fi
		fi
	else
		# packaging tree: drop the directories left empty
		((DRY_RUN)) || find "$DESTDIR" -mindepth 1 -depth -type d -empty -delete 2>/dev/null || true
	fi
	say "uninstalled"
	exit 0
fi

install_deps
run make -s all "${MAKEVARS[@]}"
if [[ -z "$DESTDIR" ]]; then
	# shellcheck disable=SC2046
	record_missing_dirs $(created_dirs)
fi
run make -s install "${MAKEVARS[@]}"
if [[ -z "$DESTDIR" ]]; then
	run install -d -m 0700 /run/oci-memguard
	# parsed policies of the previous build: the new one parses afresh
	run rm -f /run/oci-memguard/policy-cache.*
	run install -d -m 0750 /var/log/oci-memguard
	# the periodic sample (README "Monitoring"): systemd hosts only
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
		run systemctl daemon-reload
		run systemctl enable --now oci-memguard-sample.timer
	fi
	if ((REGISTER)); then
		register_engines
	fi
	if ((!DRY_RUN)); then
		"$BINDIR/oci-memguard" doctor || true
	fi
fi
