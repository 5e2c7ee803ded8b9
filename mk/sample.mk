# SPDX-License-Identifier: GPL-2.0-or-later
# `oci-memguard sample` every 30 s by a systemd timer (hook/sample.c;
# README "Monitoring"). install.sh enables it on systemd hosts; others use
# the cron line in README.

SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
INSTALL_HOOKS   += install-sample-timer
UNINSTALL_HOOKS += uninstall-sample-timer
.PHONY: install-sample-timer uninstall-sample-timer

build/systemd/oci-memguard-sample.service: install.d/systemd/oci-memguard-sample.service.in Makefile
	@mkdir -p $(@D)
	sed 's|@BINDIR@|$(BINDIR)|g' $< >$@

install-sample-timer: build/systemd/oci-memguard-sample.service
	install -d $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	install -m 0644 build/systemd/oci-memguard-sample.service $(DESTDIR)$(SYSTEMD_UNIT_DIR)/oci-memguard-sample.service
	install -m 0644 install.d/systemd/oci-memguard-sample.timer $(DESTDIR)$(SYSTEMD_UNIT_DIR)/oci-memguard-sample.timer

uninstall-sample-timer:
	rm -f $(DESTDIR)$(SYSTEMD_UNIT_DIR)/oci-memguard-sample.service $(DESTDIR)$(SYSTEMD_UNIT_DIR)/oci-memguard-sample.timer
	-rmdir $(DESTDIR)$(SYSTEMD_UNIT_DIR) $(DESTDIR)$(PREFIX)/lib/systemd 2>/dev/null
