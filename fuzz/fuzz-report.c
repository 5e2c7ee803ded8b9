/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: `oci-memguard report`'s line parser and summary. The event log
 * is a claim (anyone with access may have written it, a crash may have cut
 * it): every line must be classified without a crash, a record's strings
 * stay within their buffers, and the summary takes any sequence of lines. */
#include <string.h>

#include "report.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        struct report *r = NULL;
        if (report_new(0, &r) < 0)
                return 0;
        const char *p = (const char *) data, *end = p + size;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);
                struct report_event ev;
                int k = report_parse_line(p, len, &ev);
                if (k == REPORT_LINE_RECORD &&
                    (strnlen(ev.image, sizeof ev.image) == sizeof ev.image ||
                     strnlen(ev.policies, sizeof ev.policies) == sizeof ev.policies ||
                     strnlen(ev.guard_decision, sizeof ev.guard_decision) == sizeof ev.guard_decision))
                        __builtin_trap();
                if (k != REPORT_LINE_RECORD && k != REPORT_LINE_FOREIGN && k != REPORT_LINE_TRUNCATED && k != -ENOMEM)
                        __builtin_trap();
                (void) report_add_line(r, p, len, nl != NULL);
                /* the same bytes as a --since value and a record time */
                char buf[64];
                uint64_t v;
                if (len < sizeof buf) {
                        memcpy(buf, p, len);
                        buf[len] = '\0';
                        (void) report_parse_duration(buf, &v);
                        (void) report_parse_time(buf, &v);
                }
                p += len + (nl ? 1 : 0);
        }
        report_free(r);
        return 0;
}
