# SPDX-License-Identifier: GPL-2.0-or-later
# libFuzzer harnesses (clang) for every parser container input reaches:
# the JSON reader, state and config.json, policies (validator, matcher,
# merge), sizes, the wrapper's config.json rewrite, and the lines of the
# event log `oci-memguard report` reads.
#   make fuzz          FUZZ_SECONDS (default 120) per harness, corpus grows in build/fuzz/corpus
#   make fuzz-smoke    (in `make check`) replays the seeds and regressions, then 10 s each
# A crash is kept as fuzz/regressions/<harness>/<file> and replayed forever.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 120
FUZZ_FLAGS   := -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined $(TEST_INC) -Iwrapper -Ibuild/gen \
                $(shell $(PKG_CONFIG) --cflags yajl libseccomp 2>/dev/null)
# The layers' objects for the harnesses (build/fuzz/, the Makefile's rules):
# instrumented, without libFuzzer's main.
FUZZ_OBJ_FLAGS := -g -O1 -std=c11 -fsanitize=fuzzer-no-link,address,undefined
FUZZERS      := json oci policy size wrapper host-config dbus report memstat
FUZZ_BINS    := $(patsubst %,build/fuzz/fuzz-%,$(FUZZERS))

CHECK_SUITES += fuzz-smoke
.PHONY: fuzz fuzz-smoke

build/fuzz/fuzz-wrapper: fuzz/fuzz-wrapper.c build/fuzz/obj/wrapper/bundle_hooks.o build/fuzz/libmemguard.a mk/fuzz.mk
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP -MF $@.d -MT $@ $(filter %.c %.o %.a,$^) -o $@ $(LDLIBS_ALL)

build/fuzz/fuzz-%: fuzz/fuzz-%.c $(call hook_archives,fuzz) mk/fuzz.mk
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP -MF $@.d -MT $@ $(filter %.c %.o %.a,$^) -o $@ $(LDLIBS_ALL)

fuzz: $(FUZZ_BINS)
	fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

fuzz-smoke: $(FUZZ_BINS)
	fuzz/run.sh 10 $(FUZZERS)
	@echo "fuzz-smoke: seeds and regressions replayed, 10 s of fuzzing each, no crash"
