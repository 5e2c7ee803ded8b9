#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# order-probe ORDER: a prestart hook next to oci-memguard's. Records what
# exists when it runs: the veth ends in the host's network namespace and
# whether the container's namespace has its eth0 yet.
pid=$(jq -r .pid)
veths=$(ip -o link show type veth | wc -l)
if nsenter --net="/proc/$pid/ns/net" ip -o link show eth0 >/dev/null 2>&1; then eth0=yes; else eth0=no; fi
echo "$1 host_veths=$veths eth0=$eth0 at $(date +%s.%N)" >>/tmp/probe-all.log
