/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "args.h"

#include <stddef.h>
#include <string.h>

/* Global options that take a value, as runc (urfave/cli) and crun spell
 * them.  Go's flag parsing accepts "-root" as well as "--root", and
 * "--root=X" as well as "--root X"; boolean ones (--debug,
 * --systemd-cgroup) take no separate value. */
static const char *const global_valued[] = {
        "root", "log", "log-format", "criu", "rootless", "cgroup-manager", "log-level",
};

/* create/run/restore options that take a value (besides --bundle/-b). */
static const char *const sub_valued[] = {
        "console-socket", "pid-file", "preserve-fds", "image-path", "work-path", "parent-path",
        "manage-cgroups-mode", "empty-ns", "lsm-profile", "lsm-mount-context", "status-fd",
};

/* Flags with which runc (urfave/cli, Go's flag package) and crun (argp)
 * print help or their version and do nothing else. */
static const char *const help_flags[] = {
        "h", "help", "?", "usage", "v", "version",
};

static bool in(const char *name, size_t len, const char *const *set, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strlen(set[i]) == len && strncmp(set[i], name, len) == 0)
                        return true;
        return false;
}

/* "-x", "--name", "--name=value": name and its length, value or NULL. */
static void split_opt(const char *arg, const char **name, size_t *len, const char **value) {
        const char *p = arg + 1;
        if (*p == '-')
                p++;
        const char *eq = strchr(p, '=');
        *name = p;
        *len = eq ? (size_t) (eq - p) : strlen(p);
        *value = eq ? eq + 1 : NULL;
}

void runtime_args_parse(int argc, char *const *argv, struct runtime_args *ret) {
        *ret = (struct runtime_args) { .sub = -1 };
        int i = 1;
        while (i < argc) {
                const char *a = argv[i];
                if ((strcmp(a, "--") == 0)) {
                        i++;
                        break;
                }
                if (a[0] != '-' || a[1] == '\0')
                        break;
                const char *name, *value;
                size_t len;
                split_opt(a, &name, &len, &value);
                if (!value && in(name, len, help_flags, sizeof help_flags / sizeof *help_flags))
                        ret->help = true;
                i += (!value && in(name, len, global_valued, sizeof global_valued / sizeof *global_valued)) ? 2 : 1;
        }
        if (i >= argc)
                return;
        ret->sub = i;
        ret->command = argv[i];

        bool positional_only = false;
        for (int j = i + 1; j < argc; j++) {
                const char *a = argv[j];
                if (!positional_only && a[0] == '-' && a[1] != '\0') {
                        if ((strcmp(a, "--") == 0)) {
                                positional_only = true;
                                continue;
                        }
                        const char *name, *value;
                        size_t len;
                        split_opt(a, &name, &len, &value);
                        bool bundle = (len == 1 && name[0] == 'b') || (len == 6 && strncmp(name, "bundle", 6) == 0);
                        if (bundle) {
                                if (!value && j + 1 < argc)
                                        value = argv[++j];
                                if (value)
                                        ret->bundle = value;
                        } else if (!value && in(name, len, sub_valued, sizeof sub_valued / sizeof *sub_valued))
                                j++;
                        else if (!value && in(name, len, help_flags, sizeof help_flags / sizeof *help_flags) && !(len == 1 && name[0] == 'v'))
                                ret->help = true; /* after the subcommand, -v is no version flag */
                        continue;
                }
                if (!ret->id)
                        ret->id = a;
        }
}

bool runtime_args_wants_hooks(const struct runtime_args *a) {
        if (!a->command || !a->id || a->help)
                return false;
        return strcmp(a->command, "create") == 0 || strcmp(a->command, "run") == 0 || strcmp(a->command, "restore") == 0;
}
