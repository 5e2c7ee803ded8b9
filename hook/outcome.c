/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "outcome.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

void outcome_init(struct outcome *o, const char *stage) {
        *o = (struct outcome) {0};
        o->stage = stage;
        o->cgroup_mode = "";
        o->start_usec = now_usec_monotonic();
}

void outcome_free(struct outcome *o) {
        strbuf_free(&o->policies);
        strbuf_free(&o->actions);
        strbuf_free(&o->errors);
        strbuf_free(&o->skipped);
        strbuf_free(&o->extra);
}

static void list_add_string(struct strbuf *sb, unsigned *n, const char *s) {
        if ((*n)++)
                strbuf_puts(sb, ",");
        strbuf_json_string(sb, s);
}

void outcome_policy(struct outcome *o, const char *name) { list_add_string(&o->policies, &o->n_policies, name); }

void outcome_action(struct outcome *o, const char *target, const char *file, const char *old, const char *new_, const char *result) {
        if (o->n_actions++)
                strbuf_puts(&o->actions, ",");
        strbuf_json_member_str(&o->actions, "{", "target", target);
        strbuf_json_member_str(&o->actions, ",", "file", file);
        strbuf_json_member_str(&o->actions, ",", "old", old);
        strbuf_json_member_str(&o->actions, ",", "new", new_);
        strbuf_json_member_str(&o->actions, ",", "result", result);
        strbuf_puts(&o->actions, "}");
}

static void list_add_vprintf(struct strbuf *sb, unsigned *n, const char *fmt, va_list ap) {
        char buf[1024];
        vsnprintf(buf, sizeof buf, fmt, ap);
        list_add_string(sb, n, buf);
}

void outcome_error(struct outcome *o, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        list_add_vprintf(&o->errors, &o->n_errors, fmt, ap);
        va_end(ap);
}

void outcome_skip(struct outcome *o, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        list_add_vprintf(&o->skipped, &o->n_skipped, fmt, ap);
        va_end(ap);
}

void outcome_extra_raw(struct outcome *o, const char *key, const char *json) {
        strbuf_puts(&o->extra, ",");
        strbuf_json_string(&o->extra, key);
        strbuf_puts(&o->extra, ":");
        strbuf_puts(&o->extra, json);
}

void outcome_extra_u64(struct outcome *o, const char *key, uint64_t v) {
        char buf[32];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long) v);
        outcome_extra_raw(o, key, buf);
}

void outcome_extra_str(struct outcome *o, const char *key, const char *v) { strbuf_json_member_str(&o->extra, ",", key, v); }

static const char *body(const struct strbuf *sb) { return sb->buf ? sb->buf : ""; }

int outcome_format(const struct outcome *o, struct strbuf *out) {
        char ts[64];
        format_rfc3339(now_usec_realtime(), ts, sizeof ts);
        strbuf_json_member_str(out, "{", "time", ts);
        strbuf_json_member_str(out, ",", "stage", o->stage);
        strbuf_json_member_str(out, ",", "id", o->id);
        strbuf_json_member_str(out, ",", "image", o->image);
        strbuf_json_member_str(out, ",", "image_source", o->image_source);
        strbuf_json_member_bool(out, ",", "image_trusted", o->image_trusted);
        strbuf_json_member_str(out, ",", "cgroup", o->cgroup);
        strbuf_json_member_str(out, ",", "cgroup_mode", o->cgroup_mode);
        strbuf_json_member_bool(out, ",", "recursiveprot", o->recursiveprot);
        strbuf_printf(out, ",\"policies\":[%s]", body(&o->policies));
        strbuf_json_member_bool(out, ",", "build", o->build);
        strbuf_json_member_str(out, ",", "build_signal", o->build_signal);
        strbuf_json_member_str(out, ",", "build_source", o->build_source);
        strbuf_json_member_bool(out, ",", "build_trusted", o->build_trusted);
        strbuf_json_member_bool(out, ",", "dry_run", o->dry_run);
        strbuf_printf(out, ",\"actions\":[%s]", body(&o->actions));
        strbuf_printf(out, ",\"skipped\":[%s]", body(&o->skipped));
        strbuf_printf(out, ",\"errors\":[%s]", body(&o->errors));
        strbuf_puts(out, body(&o->extra));
        strbuf_printf(out, ",\"duration_us\":%llu}", (unsigned long long) (now_usec_monotonic() - o->start_usec));
        return out->oom ? -ENOMEM : 0;
}

/* The log file's directory 0750 (records name containers), its parents 0755. */
static int mkdir_parents(const char *file) {
        char dir[PATH_MAX];
        int n = snprintf(dir, sizeof dir, "%s", file);
        if (n < 0 || (size_t) n >= sizeof dir)
                return -ENAMETOOLONG;
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = '\0';
        return mkdir_p(dir, 0750);
}

void log_open_syslog(void) { openlog("oci-memguard", LOG_NDELAY | LOG_PID, LOG_DAEMON); }

int outcome_write(const struct outcome *o, const char *log_file, bool use_syslog) {
        _cleanup_(strbuf_free) struct strbuf line = {0};
        int r = outcome_format(o, &line);
        if (r < 0)
                return r;
        strbuf_puts(&line, "\n");
        if (line.oom)
                return -ENOMEM;

        if (use_syslog) {
                /* The summary carries container-supplied strings: always
                 * through "%s", never as the format. */
                char summary[1536];
                snprintf(summary, sizeof summary, "%s id=%.128s image=%.200s cgroup=%.300s actions=%u errors=%u%s%s%s%s%s",
                         o->stage, o->id, o->image[0] ? o->image : "-", o->cgroup[0] ? o->cgroup : "-", o->n_actions,
                         o->n_errors, o->n_skipped ? " skipped=" : "", o->n_skipped ? "yes" : "", o->budget_summary,
                         o->limit_notice[0] ? ": " : "", o->limit_notice);
                for (char *p = summary; *p; p++)
                        if ((unsigned char) *p < 0x20)
                                *p = '?';
                syslog(o->n_errors ? LOG_WARNING : LOG_INFO, "%s", summary);
        }

        if (!log_file || !*log_file)
                return 0;
        /* Parents are made only when missing: not a mkdir per component on
         * every run. */
        _cleanup_close_ int fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640);
        if (fd < 0 && errno == ENOENT) {
                (void) mkdir_parents(log_file);
                fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640);
        }
        if (fd < 0)
                return -errno;
        /* One write(2) per record: O_APPEND keeps concurrent hooks' lines
         * whole. */
        return write_all(fd, line.buf, line.len);
}
