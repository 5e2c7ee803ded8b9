/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "conf.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void problem(struct wrapper_conf *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct wrapper_conf *c, const char *fmt, ...) {
        size_t l = strlen(c->problems);
        if (l + 3 >= sizeof c->problems)
                return;
        if (l) {
                strcpy(c->problems + l, "; ");
                l += 2;
        }
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->problems + l, sizeof c->problems - l, fmt, ap);
        va_end(ap);
}

static char *strip(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        size_t l = strlen(s);
        while (l && isspace((unsigned char) s[l - 1]))
                s[--l] = '\0';
        return s;
}

static int set_path(struct wrapper_conf *c, char **slot, const char *key, const char *v, unsigned line) {
        if (v[0] != '/') {
                problem(c, "%s:%u: %s must be an absolute path, ignoring", MEMGUARD_RUNTIME_CONF, line, key);
                return -EINVAL;
        }
        char *d = strdup(v);
        if (!d)
                return -ENOMEM;
        free(*slot);
        *slot = d;
        return 0;
}

void conf_free(struct wrapper_conf *c) {
        free(c->runtime);
        free(c->hook);
        free(c->log_file);
        for (size_t i = 0; i < c->n_hook_args; i++)
                free(c->hook_args[i]);
        *c = (struct wrapper_conf) {0};
}

static int parse(struct wrapper_conf *c, char *buf) {
        int ret = 0;
        unsigned lineno = 0;
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                lineno++;
                char *s = strip(line);
                if (!*s || *s == '#')
                        continue;
                char *eq = strchr(s, '=');
                if (!eq) {
                        problem(c, "%s:%u: syntax: expected KEY=VALUE, ignoring", MEMGUARD_RUNTIME_CONF, lineno);
                        ret = -EINVAL;
                        continue;
                }
                *eq = '\0';
                char *key = strip(s), *val = strip(eq + 1);
                int r = 0;
                if (STREQ(key, "runtime"))
                        r = set_path(c, &c->runtime, key, val, lineno);
                else if (STREQ(key, "hook"))
                        r = set_path(c, &c->hook, key, val, lineno);
                else if (STREQ(key, "log_file")) {
                        r = set_path(c, &c->log_file, key, val, lineno);
                        if (r == 0)
                                c->log_file_set = true;
                } else if (STREQ(key, "timeout")) {
                        uint64_t t;
                        if (safe_atou64(val, &t) < 0 || t < 1 || t > 3600) {
                                problem(c, "%s:%u: timeout must be 1..3600 seconds, ignoring", MEMGUARD_RUNTIME_CONF, lineno);
                                r = -EINVAL;
                        } else
                                c->timeout = (unsigned) t;
                } else if (STREQ(key, "hook_arg")) {
                        if (c->n_hook_args >= WRAPPER_MAX_HOOK_ARGS) {
                                problem(c, "%s:%u: more than %u hook_arg lines, ignoring", MEMGUARD_RUNTIME_CONF, lineno,
                                        WRAPPER_MAX_HOOK_ARGS);
                                r = -E2BIG;
                        } else if (!(c->hook_args[c->n_hook_args] = strdup(val)))
                                return -ENOMEM;
                        else
                                c->n_hook_args++;
                } else {
                        problem(c, "%s:%u: unknown key '%.64s', ignoring", MEMGUARD_RUNTIME_CONF, lineno, key);
                        r = -EINVAL;
                }
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        ret = r;
        }
        return ret;
}

int conf_load(const char *path, struct wrapper_conf *c) {
        *c = (struct wrapper_conf) { .timeout = WRAPPER_DEFAULT_TIMEOUT };
        int ret = 0;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0) {
                if (errno != ENOENT) {
                        problem(c, "%s: %s, using defaults", path, strerror(errno));
                        ret = -errno;
                }
        } else {
                struct stat st;
                _cleanup_free_ char *buf = NULL;
                size_t len;
                int r;
                if (fstat(fd, &st) < 0) {
                        problem(c, "%s: %s, using defaults", path, strerror(errno));
                        ret = -errno;
                } else if (!S_ISREG(st.st_mode)) {
                        problem(c, "%s: type: not a regular file, using defaults", path);
                        ret = -EINVAL;
                } else if (geteuid() == 0 && (st.st_uid != 0 || (st.st_mode & 022))) {
                        /* The file names a program we exec as root: one that
                         * someone else can write is ignored (owner/mode). */
                        problem(c, "%s: owner/mode: must be owned by root and not group/world writable, using defaults", path);
                        ret = -EPERM;
                } else if ((r = read_fd_bounded(fd, WRAPPER_MAX_CONF_BYTES, &buf, &len)) < 0) {
                        problem(c, "%s: %s, using defaults", path,
                                r == -EFBIG ? "size: larger than 64 KiB" : r == -EBADMSG ? "NUL byte in file" : strerror(-r));
                        ret = r;
                } else if ((r = parse(c, buf)) < 0) {
                        if (r == -ENOMEM)
                                return r;
                        ret = r;
                }
        }
        if (!c->hook && !(c->hook = strdup(MEMGUARD_HOOK_PATH)))
                return -ENOMEM;
        if (!c->log_file && !(c->log_file = strdup(MEMGUARD_LOG_FILE)))
                return -ENOMEM;
        return ret;
}
