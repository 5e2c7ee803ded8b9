/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Where the container's cgroup is and how to read and write its memory
 * protection files, all relative to the cgroup2 mount's directory fd. */

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

enum cgroup_mode { CGROUP_MODE_V1, CGROUP_MODE_HYBRID, CGROUP_MODE_V2 };

struct cgroup_host {
        enum cgroup_mode mode;
        bool has_v2;            /* a cgroup2 mount was found */
        char v2_mount[512];     /* host path of the cgroup2 mount, e.g. /sys/fs/cgroup */
        char v2_options[512];   /* super options of that mount */
        bool recursiveprot;     /* memory_recursiveprot in the super options */
        bool v1_memory;         /* a cgroup v1 hierarchy has the memory controller */
        char v1_memory_mount[512];
        bool v2_memory;         /* "memory" listed in the v2 root's cgroup.controllers */
        int v2_fd;              /* O_PATH|O_DIRECTORY fd of the v2 mount (under sysroot), or -1 */
};

const char *cgroup_mode_name(enum cgroup_mode m);

/* Reads <sysroot>/proc/self/mountinfo and finds the cgroup2 mount and its
 * options; opens the mount directory. Never assumes /sys/fs/cgroup. */
int cgroup_host_detect(const char *sysroot, struct cgroup_host *ret, struct mg_error *err);
void cgroup_host_close(struct cgroup_host *h);

/* From <sysroot>/proc/<pid>/cgroup: the v2 path ("0::") and the v1 memory
 * path, each "" when absent. */
int cgroup_of_pid(const char *sysroot, int64_t pid, char *v2, size_t v2_size, char *v1mem, size_t v1mem_size);

/* Turns linux.cgroupsPath into a path below the cgroup root: absolute paths
 * as they are; systemd "slice:prefix:name" expanded as runc/crun do; a
 * relative path is rooted at "/" (crun's rule; runc would nest it below its
 * own cgroup, which a hook cannot know); empty → "/<id>". */
int cgroup_path_from_config(const char *cgroups_path, const char *id, char *buf, size_t size);

/* Normalizes and validates a cgroup path: must start with '/', no "." or
 * ".." components, no empty components; trailing '/' removed. */
int cgroup_path_normalize(char *path);

/* Opens the directory of a cgroup below the v2 mount, one component at a
 * time with O_NOFOLLOW (no symlink can lead out of cgroupfs). */
int cgroup_open(const struct cgroup_host *h, const char *path, int *ret_fd);
/* The same below any hierarchy's root directory fd (a cgroup v1 memory
 * mount opened by the caller). */
int cgroup_open_at(int root_fd, const char *path, int *ret_fd);
bool cgroup_exists(const struct cgroup_host *h, const char *path);

/* Reads memory.min/memory.low ("max" → MEMGUARD_VALUE_MAX). */
int cgroup_read_value(int cgfd, const char *file, uint64_t *ret);
/* The same for a file of a child of root_fd ("<child>/<file>"), in one
 * openat2 that follows no symlink and stays beneath root_fd: no directory
 * fd per child (the budget reads two files of every child of the root).
 * -ENOTDIR/-ENOENT/-ELOOP/-EXDEV: no such cgroup file there. */
int cgroup_read_child_value(int root_fd, const char *child, const char *file, uint64_t *ret);
/* Writes a value and reads it back into *ret_actual. */
int cgroup_write_value(int cgfd, const char *file, uint64_t value, uint64_t *ret_actual);

/* A human explanation of why a memory file is missing under path
 * ("memory controller not enabled in '/docker' (cgroup.subtree_control)"). */
void cgroup_explain_missing(const struct cgroup_host *h, const char *path, char *buf, size_t size);
