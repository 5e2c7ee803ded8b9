/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Typed views of the two inputs a hook gets: the state on stdin and the
 * bundle's config.json. No json_node escapes oci.c. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct annotations {
        char **keys;
        char **values;
        size_t n;
};
void annotations_free(struct annotations *a);
const char *annotations_get(const struct annotations *a, const char *key);

struct hook_state {
        char *id;
        char *status;
        char *bundle;
        bool has_pid;
        int64_t pid;        /* > 0 when has_pid */
        struct annotations annotations;
};
void hook_state_free(struct hook_state *s);

struct oci_info {
        char *root_path;        /* absolute, resolved against the bundle */
        char *cgroups_path;     /* linux.cgroupsPath or NULL */
        char *hostname;
        char **args;  size_t n_args;   /* process.args */
        struct annotations annotations;
        /* host sources of bind mounts, for engine metadata lookups */
        char **mount_sources; size_t n_mount_sources;
        /* What the engine itself asked the runtime to write on the
         * container's own cgroup: linux.resources.memory.reservation
         * (docker run --memory-reservation; runc writes it as memory.low on
         * cgroup v2) and memory.min / memory.low in linux.resources.unified.
         * Claims set by whoever wrote config.json; a policy with
         * "memory": {"adopt_engine": true} takes them as the container's.
         * A field that is not a byte count is left unset and named in
         * engine_invalid. */
        struct oci_engine_memory {
                uint64_t reservation, min, low;
                bool has_reservation, has_min, has_low;
                const char *invalid; /* static string: the first bad field */
        } engine;
};
void oci_info_free(struct oci_info *o);

/* Parses the state document (already read, bounded). Errors name "state"
 * and the field, e.g. "state: type: 'pid' must be an integer". */
int hook_state_parse(const char *buf, size_t len, struct hook_state *ret, struct mg_error *err);

/* Reads and parses <bundle>/config.json (at most 16 MiB). bundle_dirfd may
 * be AT_FDCWD with an absolute path. Errors are prefixed with the path. */
int oci_info_load(const char *bundle, struct oci_info *ret, struct mg_error *err);
int oci_info_parse(const char *path, const char *buf, size_t len, const char *bundle, struct oci_info *ret, struct mg_error *err);
