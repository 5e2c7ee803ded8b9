# SPDX-License-Identifier: GPL-2.0-or-later
# Man pages from scdoc sources (man/*.scd), installed by `make install`.

SCDOC     ?= scdoc
MAN_SRCS  := $(wildcard man/*.scd)
MAN_PAGES := $(patsubst man/%.scd,build/man/%,$(MAN_SRCS))

ifneq ($(shell command -v $(SCDOC) 2>/dev/null),)
PROGRAMS  += $(MAN_PAGES)
INSTALL_HOOKS += install-man
UNINSTALL_HOOKS += uninstall-man
else
$(warning $(SCDOC) not found: the man pages are not built or installed (apt-get install scdoc))
endif
.PHONY: install-man uninstall-man

build/man/%: man/%.scd mk/man.mk
	@mkdir -p build/man
	$(SCDOC) <$< >$@

install-man: $(MAN_PAGES)
	install -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	for p in $(MAN_PAGES); do s=$${p##*.}; install -m 0644 $$p $(DESTDIR)$(MANDIR)/man$$s/; done

uninstall-man:
	for p in $(MAN_PAGES); do s=$${p##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$$(basename $$p); done
