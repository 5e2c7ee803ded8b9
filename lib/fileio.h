/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Files: bounded reads, whole writes, mkdir -p, atomic replace. Every
 * function returns 0 (or a length) or a negative errno. */

#include <dirent.h>
#include <stddef.h>
#include <sys/types.h>

/* write(2) until all len bytes are written, retrying on EINTR. */
int write_all(int fd, const void *data, size_t len);
/* Makes path and its missing parents (0755); path itself gets last_mode.
 * An existing directory is success. One mkdir when path's parent exists. */
int mkdir_p(const char *path, mode_t last_mode);

/* Reads at most max bytes of the open fd (plus one to detect overflow).
 * Rejects content larger than max (-EFBIG) and NUL bytes (-EBADMSG).
 * The buffer is NUL-terminated; *ret_len excludes the terminator. */
int read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_len);
/* openat(dirfd, path, O_RDONLY|O_CLOEXEC|O_NOFOLLOW) + read_fd_bounded.
 * O_NOFOLLOW applies to the last component only: callers pass paths they
 * built themselves below trusted roots. */
int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);
/* Short files of procfs/sysfs/cgroupfs: reads into buf (NUL-terminated,
 * trailing newline stripped). -EFBIG when it does not fit. */
int read_small_at(int dirfd, const char *path, char *buf, size_t size);
/* The same for a file of one line (a cgroup value, /proc/<pid>/stat): the
 * read that ends in a newline is the last, one read(2) fewer per file
 * (kernfs and procfs hand a small file over whole). */
int read_line_at(int dirfd, const char *path, char *buf, size_t size);
/* The same from a file already open (one opened with openat2). */
int read_line_fd(int fd, char *buf, size_t size);
/* Writes the whole string to an existing file (never O_CREAT: a wrong name
 * must fail with ENOENT), retrying on EINTR. */
int write_existing_at(int dirfd, const char *path, const char *value);
/* Writes a file atomically: temp file in the same directory, fsync, rename. */
int write_file_atomic_at(int dirfd, const char *path, const char *data, size_t len, mode_t mode);

/* A directory stream of path below dirfd ("." for dirfd itself), through
 * a descriptor of its own: dirfd stays the caller's (for openat of each
 * entry) and the listing starts at the beginning whatever dirfd's offset.
 * The last component is never followed if it is a symlink. */
int opendir_at(int dirfd, const char *path, DIR **ret);
/* For _cleanup_(closedirp). */
void closedirp(DIR **d);

/* Reads the host file path (absolute) as seen below sysroot ("" or "/" for
 * the real root): path_join + read_file_at, with read_file_at's bounds. */
int read_host_file(const char *sysroot, const char *path, size_t max, char **ret, size_t *ret_len);
