# SPDX-License-Identifier: GPL-2.0-or-later
# `make demo`: see the hook act on this very host (demo/demo.sh).
.PHONY: demo
demo: build/oci-memguard
	demo/demo.sh $(CURDIR)/build/oci-memguard
