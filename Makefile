# SPDX-License-Identifier: GPL-2.0-or-later
# oci-memguard — see README.md. `make` builds, `make check` installs missing
# test dependencies (root, apt-get), builds normally and with ASan+UBSan, and
# runs every suite.

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
# Policies and hooks.d live at fixed system paths whatever the prefix: the hook
# reads its policies there, and Podman, CRI-O and Buildah look for hooks there.
DATADIR   ?= /usr/share
SYSCONFDIR?= /etc
DESTDIR   ?=

CC        ?= cc
PKG_CONFIG?= pkg-config
PKGS      := yajl libseccomp

CPPFLAGS_ALL := -D_GNU_SOURCE -DMEMGUARD_VERSION='"$(VERSION)"' -Ibuild/gen $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
CFLAGS_ALL   := -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
                -fstack-protector-strong -g
OPTFLAGS     ?= -O2 -D_FORTIFY_SOURCE=2
ASANFLAGS    := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDLIBS_ALL   := $(shell $(PKG_CONFIG) --libs yajl 2>/dev/null || echo -lyajl)
# libseccomp only compiles the filter at build time (hook/gen/seccomp-filter.c)
SECCOMP_LIBS := $(shell $(PKG_CONFIG) --libs libseccomp 2>/dev/null || echo -lseccomp)
# The hook runs on every container start and the container waits: linked
# static-pie it starts faster than a dynamic /bin/true (bench: 0.88x of the
# exec floor against 1.13x dynamic), ASLR kept. Dynamic when the archives are
# missing. ASan builds and unit tests stay dynamic (valgrind needs it).
HOOK_STATIC_OK := $(shell printf 'int main(void){return 0;}' | $(CC) -x c - -static-pie -o /dev/null -lyajl_s 2>/dev/null && echo yes)
HOOK_LDLIBS  := $(if $(HOOK_STATIC_OK),-static-pie -lyajl_s,$(LDLIBS_ALL))

# ---- layers and flavours -------------------------------------------------
# lib      the code every program shares (JSON, arena, util, prefault); includes nothing of ours
# policy   the policy language; includes lib
# hook     the hook; includes policy and lib
# wrapper  the runtime wrapper (mk/wrapper.mk); includes lib only
# Each layer is compiled with only the -I flags of the layers below it, and
# `make lint` checks the same rule on the sources (mk/check-layers.sh).
LAYER_INC_lib     :=
LAYER_INC_policy  := -Ilib
LAYER_INC_hook    := -Ipolicy -Ilib
LAYER_INC_wrapper := -Ilib
# hook/sandbox.c includes the generated seccomp filter.
SECCOMP_FILTER_H  := build/gen/seccomp-filter.h
LAYER_ORDER_hook  := $(SECCOMP_FILTER_H)
LAYERS            := lib policy hook

LIB_SRCS    := $(wildcard lib/*.c)
POLICY_SRCS := $(wildcard policy/*.c)
HOOK_SRCS   := $(filter-out hook/main.c,$(wildcard hook/*.c))
# Every layer is compiled once per flavour into build/<flavour>/obj/ with
# dependency files (-MMD -MP) and archived (ar only pulls in what a program
# uses, so a program links the archives of every layer it may need):
#   normal      the installed programs and the unit tests
#   asan        ASan+UBSan, for check-bats-asan and the unit tests
#   killpoints  the fault suites' hook (hook/killpoint.h)
#   fuzz        libFuzzer harnesses (mk/fuzz.mk)
FLAVOURS := normal asan killpoints fuzz
FLAVOUR_CC_normal        = $(CC)
FLAVOUR_FLAGS_normal     = $(CFLAGS_ALL) $(OPTFLAGS) $(CFLAGS)
FLAVOUR_CC_asan          = $(CC)
FLAVOUR_FLAGS_asan       = $(CFLAGS_ALL) $(ASANFLAGS)
FLAVOUR_CC_killpoints    = $(CC)
FLAVOUR_FLAGS_killpoints = -DMEMGUARD_KILLPOINTS $(CFLAGS_ALL) $(OPTFLAGS)
FLAVOUR_CC_fuzz          = $(FUZZ_CC)
FLAVOUR_FLAGS_fuzz       = $(FUZZ_OBJ_FLAGS)

objs_of = $(patsubst %.c,build/$(1)/obj/%.o,$(2))
# The archives of the layers a program of the hook links, in link order.
hook_archives = build/$(1)/libmemguard-hook.a build/$(1)/libmemguard-policy.a build/$(1)/libmemguard.a

UNIT_SRCS := $(wildcard conformance/unit/test-*.c)
UNITS     := $(patsubst conformance/unit/%.c,build/%,$(UNIT_SRCS))
# Unit tests and fuzz harnesses see every layer.
TEST_INC  := -Ilib -Ipolicy -Ihook -Ifuzz

.PHONY: all programs asan install uninstall check check-unit check-valgrind check-bats check-bats-asan check-vm \
        test-deps clean lint

# Each concern may add to these from its own fragment in mk/*.mk:
#   PROGRAMS       programs `all` builds        INSTALL_HOOKS  extra install steps (targets)
#   ASAN_PROGRAMS  ASan builds for check        CHECK_SUITES   extra suites `check` runs (targets)
PROGRAMS      := build/oci-memguard
ASAN_PROGRAMS := build/asan/oci-memguard
CHECK_SUITES  :=
INSTALL_HOOKS :=
UNINSTALL_HOOKS :=

all: programs

# The seccomp allowlist, compiled to BPF once here rather than by libseccomp
# on every container start (hook/sandbox.c loads it).
build/gen/seccomp-filter: hook/gen/seccomp-filter.c Makefile
	@mkdir -p build/gen
	$(CC) -D_GNU_SOURCE $(shell $(PKG_CONFIG) --cflags libseccomp 2>/dev/null) $(CFLAGS_ALL) -O1 $< -o $@ $(SECCOMP_LIBS)

$(SECCOMP_FILTER_H): build/gen/seccomp-filter
	build/gen/seccomp-filter >$@.tmp && mv $@.tmp $@

build/oci-memguard: build/normal/obj/hook/main.o $(call hook_archives,normal)
	$(CC) $(CFLAGS_ALL) $(OPTFLAGS) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(HOOK_LDLIBS)

asan: build/asan/oci-memguard

build/asan/oci-memguard: build/asan/obj/hook/main.o $(call hook_archives,asan)
	$(CC) $(CFLAGS_ALL) $(ASANFLAGS) $^ -o $@ $(LDLIBS_ALL)

include $(wildcard mk/*.mk)

# One compile rule per flavour and layer, one archive per flavour and layer
# (after mk/*.mk: a fragment may add a layer, as mk/wrapper.mk does).
define LAYER_RULE
build/$(1)/obj/$(2)/%.o: $(2)/%.c Makefile $$(LAYER_DEPS_$(2)) | $$(LAYER_ORDER_$(2))
	@mkdir -p $$(@D)
	$$(FLAVOUR_CC_$(1)) $$(CPPFLAGS_ALL) $$(LAYER_DEFS_$(2)) $$(LAYER_INC_$(2)) $$(FLAVOUR_FLAGS_$(1)) -MMD -MP -c $$< -o $$@
endef
define FLAVOUR_RULES
$(foreach l,$(LAYERS) wrapper,$(eval $(call LAYER_RULE,$(1),$(l))))
build/$(1)/libmemguard.a: $(call objs_of,$(1),$(LIB_SRCS))
build/$(1)/libmemguard-policy.a: $(call objs_of,$(1),$(POLICY_SRCS))
build/$(1)/libmemguard-hook.a: $(call objs_of,$(1),$(HOOK_SRCS))
endef
$(foreach f,$(FLAVOURS),$(eval $(call FLAVOUR_RULES,$(f))))

build/%.a:
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

-include $(wildcard build/*/obj/*/*.d build/test-*.d build/asan/test-*.d build/fuzz/fuzz-*.d build/fake-systemd-bus.d)

programs: $(PROGRAMS)

# Unit tests: -O0 for the test itself, linked with the layers' archives.
build/test-%: conformance/unit/test-%.c $(call hook_archives,normal)
	@mkdir -p build
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -O0 $(TEST_INC) -MMD -MP -MF $@.d -MT $@ $(filter %.c %.o %.a,$^) -o $@ $(LDLIBS_ALL)

build/asan/test-%: conformance/unit/test-%.c $(call hook_archives,asan)
	@mkdir -p build/asan
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(ASANFLAGS) $(TEST_INC) -MMD -MP -MF $@.d -MT $@ $(filter %.c %.o %.a,$^) -o $@ $(LDLIBS_ALL)

install: $(PROGRAMS) $(INSTALL_HOOKS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/oci-memguard/policy.d $(DESTDIR)$(SYSCONFDIR)/oci-memguard/policy.d
	install -m 0755 build/oci-memguard $(DESTDIR)$(BINDIR)/oci-memguard
	install -m 0644 policy/default/*.json $(DESTDIR)$(DATADIR)/oci-memguard/policy.d/

uninstall: $(UNINSTALL_HOOKS)
	rm -f $(DESTDIR)$(BINDIR)/oci-memguard
	for f in policy/default/*.json; do rm -f $(DESTDIR)$(DATADIR)/oci-memguard/policy.d/$$(basename $$f); done
	-rmdir $(DESTDIR)$(DATADIR)/oci-memguard/policy.d $(DESTDIR)$(DATADIR)/oci-memguard 2>/dev/null
	-rmdir $(DESTDIR)$(SYSCONFDIR)/oci-memguard/policy.d $(DESTDIR)$(SYSCONFDIR)/oci-memguard 2>/dev/null

# ---- tests ---------------------------------------------------------------

test-deps:
	@conformance/install-test-deps.sh

check: test-deps
	$(MAKE) programs $(ASAN_PROGRAMS) $(UNITS) $(patsubst build/%,build/asan/%,$(UNITS))
	$(MAKE) lint check-unit check-valgrind check-bats check-bats-asan $(CHECK_SUITES) check-vm
	@echo "make check: all suites passed"

check-unit: $(UNITS) $(patsubst build/%,build/asan/%,$(UNITS))
	@set -e; for t in $(UNITS); do echo "== $$t"; $$t; echo "== asan $$t"; build/asan/$$(basename $$t); done

# test-sandbox confines itself with seccomp, which valgrind's own syscalls do not survive.
VALGRIND_UNITS := $(filter-out build/test-sandbox,$(UNITS))
check-valgrind: $(VALGRIND_UNITS)
	@set -e; for t in $(VALGRIND_UNITS); do echo "== valgrind $$t"; \
	  valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible $$t >/dev/null; \
	  echo "valgrind $$t: 0 errors, 0 leaks"; done

check-bats: $(PROGRAMS) build/killpoints/oci-memguard build/fake-systemd-bus
	MEMGUARD_BIN=$(CURDIR)/build/oci-memguard bats --print-output-on-failure conformance/

# The ASan pass runs every test again under the sanitizers, except those
# tagged no_asan (timing- or allocation-bound, or counting file opens: the 64x100 load, the policy cache and the budget's view under strace, the 64-writer
# metrics race, the 200k-line report, status at 200 containers, the
# installed seccomp filter): they run in check-bats, and are left out here
# rather than reported as skipped.
check-bats-asan: $(ASAN_PROGRAMS) build/killpoints/oci-memguard build/fake-systemd-bus
	MEMGUARD_BIN=$(CURDIR)/build/asan/oci-memguard MEMGUARD_ASAN=1 bats --print-output-on-failure --filter-tags '!no_asan' conformance/

check-vm: build/oci-memguard
	MEMGUARD_BIN=$(CURDIR)/build/oci-memguard conformance/vm/run.sh

# cppcheck does not model __attribute__((cleanup)), so its memleak findings
# on _cleanup_ variables are noise; leaks are ASan's and valgrind's job.
lint:
	mk/check-layers.sh
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 -D_GNU_SOURCE --inline-suppr \
	  --suppress=memleak -Ilib -Ipolicy -Ihook lib hook policy wrapper
	shellcheck -x install.sh install.d/register.sh .ci/run mk/*.sh conformance/*.sh conformance/vm/*.sh conformance/vm-systemd/*.sh conformance/vm-docker/*.sh fuzz/*.sh demo/*.sh

clean:
	rm -rf build

# Test-only build with named kill points (hook/killpoint.h) for the fault suites.
build/killpoints/oci-memguard: build/killpoints/obj/hook/main.o $(call hook_archives,killpoints)
	$(CC) $(CFLAGS_ALL) $(OPTFLAGS) $^ -o $@ $(LDLIBS_ALL)
