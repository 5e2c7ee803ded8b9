# SPDX-License-Identifier: GPL-2.0-or-later
# `make bench`: the hook's cost against the exec floor (/bin/true),
# paired in the same run; poststop; the healthy build guard; 64 concurrent
# starts; peak RSS; callgrind instruction counts; the wrapper against
# `runc run true`.  Prints a table and writes build/bench/results.json.
# Timings are never test assertions: `bench-smoke` (in `make check`) only
# runs everything for a few iterations to prove the bench still works.

BENCH_DRIVER := build/bench/memguard-bench
BENCH_PRELOAD := build/bench/flockwait.so

.PHONY: bench bench-smoke

$(BENCH_DRIVER): bench/memguard-bench.c mk/bench.mk
	@mkdir -p build/bench
	$(CC) -D_GNU_SOURCE $(CFLAGS_ALL) -O2 $(CFLAGS) $< -o $@ $(LDFLAGS)

$(BENCH_PRELOAD): bench/flockwait.c mk/bench.mk
	@mkdir -p build/bench
	$(CC) -D_GNU_SOURCE $(CFLAGS_ALL) -O2 -fPIC -shared $(CFLAGS) $< -o $@ $(LDFLAGS) -ldl

bench: build/oci-memguard build/oci-memguard-runtime $(BENCH_DRIVER) $(BENCH_PRELOAD)
	bench/run.sh

bench-smoke: build/oci-memguard build/oci-memguard-runtime $(BENCH_DRIVER) $(BENCH_PRELOAD)
	BENCH_SMOKE=1 BENCH_SKIP=callgrind BENCH_OUT=$(CURDIR)/build/bench/smoke.json bench/run.sh
	@jq -e '.start.commands | length >= 6 and all(.failures == 0)' build/bench/smoke.json >/dev/null || \
	  { echo "bench-smoke: a benchmarked command failed (see build/bench/smoke.json)"; exit 1; }
	@echo "bench-smoke: the bench runs (no timing asserted)"

CHECK_SUITES += bench-smoke
