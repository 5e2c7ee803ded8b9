# SPDX-License-Identifier: GPL-2.0-or-later
# `make demo`: see the hook act on this very host (demo/demo.sh): a busybox
# container through runc with the hook and a demo policy, explain first, then
# the outcome records. Root and runc. DEMO_HOOK picks another build (e.g.
# `make demo DEMO_HOOK=$(CURDIR)/build/asan/oci-memguard`).
DEMO_HOOK ?= $(CURDIR)/build/oci-memguard
.PHONY: demo
demo: $(if $(filter $(CURDIR)/build/%,$(DEMO_HOOK)),$(patsubst $(CURDIR)/%,%,$(DEMO_HOOK)))
	demo/demo.sh $(DEMO_HOOK)
