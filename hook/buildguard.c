/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "buildguard.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

/* Counters that tell whether a build fought for memory. */
static const char *const vmstat_keys[] = {
        "allocstall_dma", "allocstall_dma32", "allocstall_normal", "allocstall_movable",
        "compact_stall",  "compact_fail",     "compact_success",   "oom_kill",
};

static int vmstat_read(const char *sysroot, uint64_t vals[], bool have[]) {
        char path[PATH_MAX];
        int r = path_join(path, sizeof path, sysroot, "/proc/vmstat");
        if (r < 0)
                return r;
        _cleanup_free_ char *buf = NULL;
        r = read_file_at(AT_FDCWD, path, 256 * 1024, &buf, NULL);
        if (r < 0)
                return r;
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *sp = strchr(line, ' ');
                if (!sp)
                        continue;
                *sp = '\0';
                for (size_t i = 0; i < ELEMENTSOF(vmstat_keys); i++)
                        if (STREQ(line, vmstat_keys[i]) && safe_atou64(sp + 1, &vals[i]) == 0)
                                have[i] = true;
        }
        return 0;
}

char *buildguard_snapshot_json(const char *sysroot) {
        uint64_t vals[ELEMENTSOF(vmstat_keys)] = {0};
        bool have[ELEMENTSOF(vmstat_keys)] = {0};
        if (vmstat_read(sysroot, vals, have) < 0)
                return NULL;
        struct strbuf sb = {0};
        strbuf_puts(&sb, "{\"vmstat\":{");
        bool first = true;
        for (size_t i = 0; i < ELEMENTSOF(vmstat_keys); i++) {
                if (!have[i])
                        continue;
                strbuf_printf(&sb, "%s\"%s\":%" PRIu64, first ? "" : ",", vmstat_keys[i], vals[i]);
                first = false;
        }
        strbuf_puts(&sb, "}}");
        if (sb.oom) {
                strbuf_free(&sb);
                return NULL;
        }
        return sb.buf;
}

void buildguard_before_build(const struct container_view *v, const struct hook_opts *o, struct outcome *out) {
        (void) v;
        (void) o;
        (void) out;
}

void buildguard_after_build(const char *snapshot_json, const char *sysroot, struct outcome *out) {
        if (!snapshot_json)
                return;
        _cleanup_json_ struct json_node *root = NULL;
        if (json_parse(snapshot_json, strlen(snapshot_json), NULL, &root, NULL) < 0)
                return;
        const struct json_node *snap = json_get(root, "vmstat");
        uint64_t vals[ELEMENTSOF(vmstat_keys)] = {0};
        bool have[ELEMENTSOF(vmstat_keys)] = {0};
        if (!snap || vmstat_read(sysroot, vals, have) < 0)
                return;
        struct strbuf sb = {0};
        strbuf_puts(&sb, "{");
        bool first = true;
        for (size_t i = 0; i < ELEMENTSOF(vmstat_keys); i++) {
                uint64_t before;
                if (!have[i] || json_get_u64(snap, vmstat_keys[i], &before, NULL) < 0)
                        continue;
                strbuf_printf(&sb, "%s\"%s\":%" PRIu64, first ? "" : ",", vmstat_keys[i], vals[i] >= before ? vals[i] - before : 0);
                first = false;
        }
        strbuf_puts(&sb, "}");
        if (!sb.oom)
                outcome_extra_raw(out, "vmstat_delta", sb.buf);
        strbuf_free(&sb);
}

void buildguard_after_last_build(const struct hook_opts *o, struct outcome *out) {
        (void) o;
        (void) out;
}
