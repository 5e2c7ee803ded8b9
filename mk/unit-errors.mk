# conformance/unit/test-errors.c fails allocations one at a time: the
# linker's --wrap sends this test's (and the archives') allocation calls
# through the test's own functions. Test builds only; the product never
# carries the hook.
FAILALLOC_LDFLAGS := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup

build/test-errors: conformance/unit/test-errors.c $(call hook_archives,normal)
	@mkdir -p build
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -O0 $(TEST_INC) -MMD -MP -MF $@.d -MT $@ $(filter %.c %.a,$^) -o $@ $(FAILALLOC_LDFLAGS) $(LDLIBS_ALL)

build/asan/test-errors: conformance/unit/test-errors.c $(call hook_archives,asan)
	@mkdir -p build/asan
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(ASANFLAGS) $(TEST_INC) -MMD -MP -MF $@.d -MT $@ $(filter %.c %.a,$^) -o $@ $(FAILALLOC_LDFLAGS) $(LDLIBS_ALL)
