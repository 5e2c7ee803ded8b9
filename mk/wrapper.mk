# SPDX-License-Identifier: GPL-2.0-or-later
# oci-memguard-runtime: the runc-compatible wrapper for Docker,
# containerd and BuildKit, the hooks.d files for Podman/CRI-O/Buildah, the
# BuildKit `runc` shim, and the engine suites.

# The wrapper layer (its compile rule is the Makefile's): wrapper/*.c on lib.
WRAPPER_SRCS := $(wildcard wrapper/*.c)
# Paths compiled in: behaviour never depends on the environment.
WRAPPER_DEFS := -DMEMGUARD_HOOK_PATH='"$(BINDIR)/oci-memguard"' \
                -DMEMGUARD_RUNTIME_CONF='"$(SYSCONFDIR)/oci-memguard/runtime.conf"'
# Only yajl: the wrapper runs on every container start, keep it small.
WRAPPER_LIBS := $(shell $(PKG_CONFIG) --libs yajl 2>/dev/null || echo -lyajl)
# static-pie like the hook when the archive exists (one exec less to relocate)
WRAPPER_STATIC_OK := $(shell printf 'int main(void){return 0;}' | $(CC) -x c - -static-pie -o /dev/null -lyajl_s 2>/dev/null && echo yes)
WRAPPER_LDLIBS := $(if $(WRAPPER_STATIC_OK),-static-pie -lyajl_s,$(WRAPPER_LIBS))
# Where the BuildKit shim lives: a directory holding only `runc` (a link to
# the wrapper) that goes first on dockerd's PATH.
SHIMDIR      ?= $(PREFIX)/lib/oci-memguard/shim
HOOKSDIR     ?= $(DATADIR)/containers/oci/hooks.d

# The compiled-in paths are inputs too: a build for another prefix must not
# reuse these objects (install.sh passes PREFIX to `make all`).
WRAPPER_STAMP := build/.wrapper-paths
WRAPPER_PATHS := $(BINDIR) $(SYSCONFDIR)
ifneq ($(shell cat $(WRAPPER_STAMP) 2>/dev/null),$(WRAPPER_PATHS))
$(shell mkdir -p build && echo '$(WRAPPER_PATHS)' >$(WRAPPER_STAMP))
endif
LAYER_DEFS_wrapper := $(WRAPPER_DEFS)
LAYER_DEPS_wrapper := $(WRAPPER_STAMP) mk/wrapper.mk

PROGRAMS      += build/oci-memguard-runtime build/hooks.d/oci-memguard-prestart.json build/hooks.d/oci-memguard-poststop.json
ASAN_PROGRAMS += build/asan/oci-memguard-runtime
INSTALL_HOOKS += install-wrapper
UNINSTALL_HOOKS += uninstall-wrapper


.PHONY: install-wrapper uninstall-wrapper check-engines

build/oci-memguard-runtime: $(call objs_of,normal,$(WRAPPER_SRCS)) build/normal/libmemguard.a
	$(CC) $(CFLAGS_ALL) $(OPTFLAGS) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(WRAPPER_LDLIBS)

build/asan/oci-memguard-runtime: $(call objs_of,asan,$(WRAPPER_SRCS)) build/asan/libmemguard.a
	$(CC) $(CFLAGS_ALL) $(ASANFLAGS) $^ -o $@ $(WRAPPER_LIBS)

build/hooks.d/%.json: install.d/hooks.d/%.json.in mk/wrapper.mk $(WRAPPER_STAMP)
	@mkdir -p build/hooks.d
	sed 's|@BINDIR@|$(BINDIR)|g' $< >$@

install-wrapper: build/oci-memguard-runtime build/hooks.d/oci-memguard-prestart.json build/hooks.d/oci-memguard-poststop.json
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(HOOKSDIR) $(DESTDIR)$(SHIMDIR)
	install -m 0755 build/oci-memguard-runtime $(DESTDIR)$(BINDIR)/oci-memguard-runtime
	ln -sfn $(BINDIR)/oci-memguard-runtime $(DESTDIR)$(SHIMDIR)/runc
	install -m 0644 build/hooks.d/oci-memguard-prestart.json build/hooks.d/oci-memguard-poststop.json $(DESTDIR)$(HOOKSDIR)/

uninstall-wrapper:
	rm -f $(DESTDIR)$(BINDIR)/oci-memguard-runtime $(DESTDIR)$(SHIMDIR)/runc \
	      $(DESTDIR)$(HOOKSDIR)/oci-memguard-prestart.json $(DESTDIR)$(HOOKSDIR)/oci-memguard-poststop.json
	-rmdir $(DESTDIR)$(SHIMDIR) $(DESTDIR)$(PREFIX)/lib/oci-memguard 2>/dev/null

# The suites that start real engines (podman, dockerd, containerd) take
# minutes; check-bats already runs them (conformance/*.bats); this target
# runs them alone.
check-engines: build/oci-memguard build/oci-memguard-runtime
	MEMGUARD_BIN=$(CURDIR)/build/oci-memguard bats --print-output-on-failure $(wildcard conformance/engine-*.bats)
