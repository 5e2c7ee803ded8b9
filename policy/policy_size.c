/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "policy.h"

#include <string.h>

int policy_size_parse(const char *s, struct policy_size *ret) { return policy_size_parse_percent(s, 100, ret); }

int policy_size_parse_percent(const char *s, uint64_t max_percent, struct policy_size *ret) {
        if (!s || !*s)
                return -EINVAL;
        uint64_t v = 0;
        const char *p = s;
        if (*p < '0' || *p > '9')
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        struct policy_size r = { .set = true };
        if (*p == '%') {
                if (p[1] || v > max_percent)
                        return -EINVAL;
                r.percent = true;
                r.value = v;
                *ret = r;
                return 0;
        }
        unsigned shift = 0;
        switch (*p) {
        case '\0': break;
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        case 't': case 'T': shift = 40; break;
        default: return -EINVAL;
        }
        if (shift && p[1])
                return -EINVAL;
        if (shift && v > (UINT64_MAX >> shift))
                return -ERANGE;
        r.value = v << shift;
        *ret = r;
        return 0;
}

uint64_t policy_size_bytes(const struct policy_size *s, uint64_t mem_total, uint64_t page_size) {
        if (!s->set)
                return 0;
        uint64_t b = s->value;
        if (s->percent) {
                /* A host configuration may say more than 100 %: saturate
                 * rather than wrap on a (theoretical) huge MemTotal. */
                unsigned __int128 w = (unsigned __int128) mem_total * s->value / 100;
                b = w > UINT64_MAX ? UINT64_MAX : (uint64_t) w;
        }
        if (page_size)
                b -= b % page_size;
        return b;
}
