/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "evidence.h"
#include "util.h"

const char *const evidence_event_keys[EV_N_EVENTS] = { "low", "high", "max", "oom", "oom_kill", "oom_group_kill" };
const char *const evidence_stat_keys[EV_N_STAT] = { "workingset_refault_anon", "workingset_refault_file", "pgscan", "pgsteal" };

static int parse_u64_n(const char *s, size_t len, uint64_t *ret) {
        if (len == 0 || len > 20)
                return -EBADMSG;
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EBADMSG;
                unsigned d = (unsigned) (s[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -EBADMSG;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int evidence_parse_flat(const char *text, size_t len, const char *const keys[], size_t n_keys, uint64_t vals[], bool have[]) {
        assert(text || len == 0);
        assert(keys && vals && have);
        if (len > EVIDENCE_MAX_FILE_BYTES)
                return -EFBIG;
        for (size_t i = 0; i < n_keys; i++) {
                vals[i] = 0;
                have[i] = false;
        }
        const char *p = text, *end = text + len;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *eol = nl ? nl : end;
                if (eol > p) {
                        const char *sp = memchr(p, ' ', (size_t) (eol - p));
                        if (!sp || sp == p)
                                return -EBADMSG;
                        uint64_t v;
                        if (parse_u64_n(sp + 1, (size_t) (eol - sp - 1), &v) < 0)
                                return -EBADMSG;
                        size_t klen = (size_t) (sp - p);
                        for (size_t i = 0; i < n_keys; i++) {
                                if (strlen(keys[i]) != klen || memcmp(keys[i], p, klen) != 0)
                                        continue;
                                if (have[i])
                                        return -EBADMSG;
                                vals[i] = v;
                                have[i] = true;
                        }
                }
                p = nl ? nl + 1 : end;
        }
        return 0;
}

static int read_flat_at(int cgfd, const char *file, const char *const keys[], size_t n, uint64_t vals[], bool have[]) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_file_at(cgfd, file, EVIDENCE_MAX_FILE_BYTES, &buf, &len);
        if (r < 0)
                return r;
        return evidence_parse_flat(buf, len, keys, n, vals, have);
}

static int read_u64_at(int cgfd, const char *file, uint64_t *ret) {
        char buf[32];
        int r = read_small_at(cgfd, file, buf, sizeof buf);
        if (r < 0)
                return r;
        return parse_u64_n(buf, strlen(buf), ret);
}

int evidence_read_at(int cgfd, struct ev_sample *ret) {
        assert(ret);
        struct ev_sample s = {0};
        int r = read_flat_at(cgfd, "memory.events", evidence_event_keys, EV_N_EVENTS, s.events, s.have_event);
        if (r < 0)
                return r;
        s.have_events = true;
        s.have_stat = read_flat_at(cgfd, "memory.stat", evidence_stat_keys, EV_N_STAT, s.stat, s.have_stat_key) == 0;
        s.have_peak = read_u64_at(cgfd, "memory.peak", &s.peak) == 0;
        s.have_current = read_u64_at(cgfd, "memory.current", &s.current) == 0;
        *ret = s;
        return 0;
}

static void keyed_json(struct strbuf *sb, const char *name, const char *const keys[], size_t n, const uint64_t vals[], const bool have[]) {
        strbuf_printf(sb, "\"%s\":{", name);
        bool first = true;
        for (size_t i = 0; i < n; i++) {
                if (!have[i])
                        continue;
                strbuf_printf(sb, "%s\"%s\":%" PRIu64, first ? "" : ",", keys[i], vals[i]);
                first = false;
        }
        strbuf_puts(sb, "}");
}

void evidence_sample_json(const struct ev_sample *s, struct strbuf *sb) {
        assert(s && sb);
        strbuf_puts(sb, "{");
        keyed_json(sb, "events", evidence_event_keys, EV_N_EVENTS, s->events, s->have_event);
        if (s->have_stat) {
                strbuf_puts(sb, ",");
                keyed_json(sb, "stat", evidence_stat_keys, EV_N_STAT, s->stat, s->have_stat_key);
        }
        if (s->have_current)
                strbuf_printf(sb, ",\"current\":%" PRIu64, s->current);
        if (s->have_peak)
                strbuf_printf(sb, ",\"peak\":%" PRIu64, s->peak);
        strbuf_puts(sb, "}");
}

static int keyed_from_json(const struct json_node *obj, const char *const keys[], size_t n, uint64_t vals[], bool have[]) {
        for (size_t i = 0; i < n; i++) {
                const struct json_node *v = json_get(obj, keys[i]);
                if (!v)
                        continue;
                if (json_number_u64(v, &vals[i]) < 0)
                        return -EINVAL;
                have[i] = true;
        }
        return 0;
}

int evidence_sample_from_json(const struct json_node *n, struct ev_sample *ret) {
        assert(ret);
        struct ev_sample s = {0};
        if (!n || n->type != JSON_OBJECT)
                return -EINVAL;
        const struct json_node *ev = json_get(n, "events");
        if (!ev || ev->type != JSON_OBJECT || keyed_from_json(ev, evidence_event_keys, EV_N_EVENTS, s.events, s.have_event) < 0)
                return -EINVAL;
        s.have_events = true;
        const struct json_node *st = json_get(n, "stat");
        if (st) {
                if (st->type != JSON_OBJECT || keyed_from_json(st, evidence_stat_keys, EV_N_STAT, s.stat, s.have_stat_key) < 0)
                        return -EINVAL;
                s.have_stat = true;
        }
        const struct json_node *c = json_get(n, "current");
        if (c) {
                if (json_number_u64(c, &s.current) < 0)
                        return -EINVAL;
                s.have_current = true;
        }
        const struct json_node *p = json_get(n, "peak");
        if (p) {
                if (json_number_u64(p, &s.peak) < 0)
                        return -EINVAL;
                s.have_peak = true;
        }
        *ret = s;
        return 0;
}

static const char *const evidence_verdict_names[] = {
        [EV_NOT_APPLICABLE] = "not applicable",
        [EV_NOT_AVAILABLE] = "not available",
        [EV_HELD] = "held",
        [EV_BREACHED] = "breached",
};

const char *evidence_verdict_name(enum ev_verdict v) { return NAME_FROM_TABLE(evidence_verdict_names, v, "not available"); }

static uint64_t event_delta(const struct ev_judge_input *in, unsigned k) {
        if (!in->before->have_event[k] || !in->after->have_event[k])
                return 0;
        return evidence_delta(in->before->events[k], in->after->events[k]);
}

enum ev_verdict evidence_judge(const struct ev_judge_input *in) {
        assert(in);
        if (!in->protected_)
                return EV_NOT_APPLICABLE;
        if (!in->v2 || !in->have_before || !in->have_after || !in->before || !in->after)
                return EV_NOT_AVAILABLE;
        if (!in->after->have_event[EV_LOW])
                return EV_NOT_AVAILABLE;
        if (event_delta(in, EV_LOW) > 0)
                return EV_BREACHED;
        /* memory.min is only ever broken by the OOM killer: an OOM kill in
         * a cgroup that held memory.min is the one way it shows. */
        if (in->min > 0 && event_delta(in, EV_OOM_KILL) > 0)
                return EV_BREACHED;
        return EV_HELD;
}

void evidence_format(const struct ev_judge_input *in, enum ev_verdict v, const char *why, struct strbuf *sb) {
        assert(in && sb);
        strbuf_puts(sb, "{\"verdict\":");
        strbuf_json_string(sb, evidence_verdict_name(v));
        if (why && why[0]) {
                strbuf_puts(sb, ",\"why\":");
                strbuf_json_string(sb, why);
        }
        /* The peak: the kernel's own (memory.peak, 6.12+) when the cgroup
         * was still there to ask, else the highest memory.current seen. */
        const struct ev_sample *a = in->have_after ? in->after : NULL, *b = in->have_before ? in->before : NULL;
        if (a && a->have_peak)
                strbuf_printf(sb, ",\"peak_bytes\":%" PRIu64 ",\"peak_source\":\"memory.peak\"", a->peak);
        else if ((a && a->have_current) || (b && b->have_current)) {
                uint64_t m = 0;
                if (a && a->have_current)
                        m = a->current;
                if (b && b->have_current && b->current > m)
                        m = b->current;
                strbuf_printf(sb, ",\"peak_bytes\":%" PRIu64 ",\"peak_source\":\"memory.current\"", m);
        }
        strbuf_puts(sb, "}");
}

bool evidence_deltas_format(const struct ev_judge_input *in, bool stat, struct strbuf *sb) {
        assert(in && sb);
        if (!in->have_before || !in->have_after || !in->before || !in->after)
                return false;
        const struct ev_sample *b = in->before, *a = in->after;
        size_t n = stat ? EV_N_STAT : EV_N_EVENTS;
        const char *const *keys = stat ? evidence_stat_keys : evidence_event_keys;
        const uint64_t *bv = stat ? b->stat : b->events, *av = stat ? a->stat : a->events;
        const bool *bh = stat ? b->have_stat_key : b->have_event, *ah = stat ? a->have_stat_key : a->have_event;
        strbuf_puts(sb, "{");
        bool first = true;
        for (size_t k = 0; k < n; k++) {
                if (!bh[k] || !ah[k])
                        continue;
                strbuf_printf(sb, "%s\"%s\":%" PRIu64, first ? "" : ",", keys[k], evidence_delta(bv[k], av[k]));
                first = false;
        }
        strbuf_puts(sb, "}");
        return true;
}
