#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Docker VM flavour (`make check-vm-docker`): the systemd guest of
# conformance/vm-systemd with Debian's docker.io and the project installed
# in it the way README tells a newcomer (./install.sh --docker-default);
# dockerd under systemd, systemd cgroup driver, cgroup v2. The boot, the
# cached rootfs and the TAP output are vm-systemd/run.sh's; flavour.sh says
# what differs. Same environment variables as vm-systemd/run.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export MEMGUARD_VM_FLAVOUR=docker
exec "$here/../vm-systemd/run.sh" "$@"
