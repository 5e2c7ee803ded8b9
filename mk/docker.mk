# SPDX-License-Identifier: GPL-2.0-or-later
# Docker on a real cgroup v2 host: the systemd VM's Debian guest with
# Debian's docker.io, the project installed by ./install.sh --docker-default,
# docker run / docker build against the hook (conformance/vm-docker/).

.PHONY: check-vm-docker

# Measured on 2 cores with the root cached: 8.4 min (11.3 min under load);
# the first run's debootstrap adds 1-2.5 min.
# `programs`: the guest's install.sh runs `make all` on the copied tree and
# must find everything built (the guest has no network and builds nothing).
check-vm-docker: programs
	MEMGUARD_BIN=$(CURDIR)/build/oci-memguard conformance/vm-docker/run.sh

CHECK_SUITES += check-vm-docker
