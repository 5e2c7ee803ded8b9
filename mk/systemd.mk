# SPDX-License-Identifier: GPL-2.0-or-later
# Protection through systemd: hook/systemd.c calls systemd with
# the small D-Bus client of hook/dbus.c, in the default (static-pie) build.
# Here: the client's unit test, the fake systemd the fixture suite talks
# to, and the systemd VM suite.

.PHONY: check-unit-dbus check-vm-systemd

# conformance/unit/test-dbus.c is also one of UNITS (check-unit,
# check-valgrind); this target runs just it, plain and under ASan+UBSan.
check-unit-dbus: build/test-dbus build/asan/test-dbus
	build/test-dbus
	build/asan/test-dbus

# conformance/systemd.bats starts it at <sysroot>/run/systemd/private
# (and builds it itself when this one is missing).
build/fake-systemd-bus: conformance/unit/fake-systemd-bus.c $(call hook_archives,normal)
	@mkdir -p build
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -O1 $(TEST_INC) -MMD -MP -MF $@.d -MT $@ $(filter %.c %.o %.a,$^) -o $@

# A Debian bookworm rootfs with systemd as PID 1 under qemu; runc with
# --systemd-cgroup; the default build of the hook protects system.slice and
# the container's scope through systemd, and doctor's Ping. Measured on 2
# cores: ~2.7 min with the rootfs cached on an idle machine (6-8.5 min on a
# loaded one: qemu 352-493 s), +~2.3 min for the first debootstrap.
check-vm-systemd: build/oci-memguard
	MEMGUARD_BIN=$(CURDIR)/build/oci-memguard conformance/vm-systemd/run.sh

CHECK_SUITES += check-vm-systemd
