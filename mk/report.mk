# SPDX-License-Identifier: GPL-2.0-or-later
# `oci-memguard report` (hook/report.c) reads logrotate's .gz files with
# zlib when its headers and archive are installed (zlib1g-dev): linked into
# the static-pie hook, it adds only inflate (+44 KiB of text, README
# "Monitoring"). Without it the report names the .gz files it could not read.
# The logrotate snippet is installed with the program (README "Logs").

ZLIB_PROBE := \#include <zlib.h>\nint main(void){return zlibVersion()[0]==0;}
ZLIB_OK := $(shell printf '$(ZLIB_PROBE)' | $(CC) -x c - -o /dev/null $(if $(HOOK_STATIC_OK),-static-pie) -lz 2>/dev/null && echo yes)
ifeq ($(ZLIB_OK),yes)
LAYER_DEFS_hook += -DMEMGUARD_HAVE_ZLIB
LDLIBS_ALL   += -lz
HOOK_LDLIBS  += -lz
else
$(warning zlib (zlib1g-dev) not found: `oci-memguard report` cannot read rotated .gz logs)
endif

LOGROTATE_DIR ?= $(SYSCONFDIR)/logrotate.d
INSTALL_HOOKS   += install-logrotate
UNINSTALL_HOOKS += uninstall-logrotate
.PHONY: install-logrotate uninstall-logrotate

install-logrotate:
	install -d $(DESTDIR)$(LOGROTATE_DIR)
	install -m 0644 install.d/logrotate/oci-memguard $(DESTDIR)$(LOGROTATE_DIR)/oci-memguard

uninstall-logrotate:
	rm -f $(DESTDIR)$(LOGROTATE_DIR)/oci-memguard
