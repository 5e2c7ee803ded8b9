/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_version.h>

#include "host_config.h"
#include "policy_check.h"
#include "cli.h"
#include "hook.h"
#include "prefault.h"
#include "report.h"
#include "sandbox.h"

#ifndef MEMGUARD_VERSION
#define MEMGUARD_VERSION "0.1.0"
#endif

static void usage(FILE *f) {
        fputs("Usage: oci-memguard STAGE [OPTIONS]          (prestart, createRuntime, createContainer,\n"
              "                                               startContainer, poststart, poststop)\n"
              "       oci-memguard doctor [--json]\n"
              "       oci-memguard explain --bundle DIR [--pid N] [--json]\n"
              "       oci-memguard explain --image REF [--annotation K=V]... [--command ARG0] [--build] [--json]\n"
              "       oci-memguard policy check [PATH...]\n"
              "       oci-memguard report [--since DURATION] [--json] [--log FILE]\n"
              "       oci-memguard status [--json]\n"
              "       oci-memguard sample\n"
              "       oci-memguard prune\n"
              "       oci-memguard --version\n"
              "Options: --sysroot DIR, --policy-dir DIR (repeatable), --state-dir DIR, --log-file FILE,\n"
              "         --dry-run, --no-seccomp, --no-syslog\n",
              f);
}

enum {
        OPT_SYSROOT = 0x100,
        OPT_POLICY_DIR,
        OPT_STATE_DIR,
        OPT_LOG_FILE,
        OPT_DRY_RUN,
        OPT_NO_SECCOMP,
        OPT_VERSION,
        OPT_JSON,
        OPT_BUNDLE,
        OPT_PID,
        OPT_IMAGE,
        OPT_ANNOTATION,
        OPT_COMMAND,
        OPT_BUILD,
        OPT_NO_SYSLOG,
        OPT_SINCE,
};

static const struct option long_opts[] = {
        { "sysroot", required_argument, NULL, OPT_SYSROOT },
        { "policy-dir", required_argument, NULL, OPT_POLICY_DIR },
        { "state-dir", required_argument, NULL, OPT_STATE_DIR },
        { "log-file", required_argument, NULL, OPT_LOG_FILE },
        { "log", required_argument, NULL, OPT_LOG_FILE },
        { "since", required_argument, NULL, OPT_SINCE },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
        { "no-syslog", no_argument, NULL, OPT_NO_SYSLOG },
        { "version", no_argument, NULL, OPT_VERSION },
        { "json", no_argument, NULL, OPT_JSON },
        { "bundle", required_argument, NULL, OPT_BUNDLE },
        { "pid", required_argument, NULL, OPT_PID },
        { "image", required_argument, NULL, OPT_IMAGE },
        { "annotation", required_argument, NULL, OPT_ANNOTATION },
        { "command", required_argument, NULL, OPT_COMMAND },
        { "build", no_argument, NULL, OPT_BUILD },
        { "help", no_argument, NULL, 'h' },
        {},
};

static void print_version(void) {
        int y = yajl_version();
        /* libseccomp is not linked: it compiled the filter at build time */
        printf("oci-memguard %s\nlibyajl %d.%d.%d\nlibseccomp %s\n", MEMGUARD_VERSION, y / 10000, (y / 100) % 100, y % 100,
               sandbox_libseccomp_version());
}

int main(int argc, char **argv) {
        prefault_startup(__builtin_frame_address(0));
        struct cli c = { .opts.use_syslog = true, .pid = -1 };
        int opt;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
                switch (opt) {
                case OPT_SYSROOT: c.opts.sysroot = optarg; break;
                case OPT_POLICY_DIR:
                        if (c.opts.n_policy_dirs >= ELEMENTSOF(c.opts.policy_dirs)) {
                                fprintf(stderr, "oci-memguard: too many --policy-dir\n");
                                return 2;
                        }
                        c.opts.policy_dirs[c.opts.n_policy_dirs++] = optarg;
                        break;
                case OPT_STATE_DIR: c.opts.state_dir = optarg; break;
                case OPT_LOG_FILE: c.opts.log_file = optarg; break;
                case OPT_DRY_RUN: c.opts.dry_run = true; break;
                case OPT_NO_SECCOMP: c.opts.no_seccomp = true; break;
                case OPT_NO_SYSLOG: c.opts.use_syslog = false; break;
                case OPT_VERSION: print_version(); return 0;
                case OPT_JSON: c.json = true; break;
                case OPT_BUNDLE: c.bundle = optarg; break;
                case OPT_PID: {
                        char *end;
                        c.pid = strtoll(optarg, &end, 10);
                        if (*end || c.pid <= 0) {
                                fprintf(stderr, "oci-memguard: --pid: '%s' is not a process id\n", optarg);
                                return 2;
                        }
                        break;
                }
                case OPT_IMAGE: c.image = optarg; break;
                case OPT_ANNOTATION:
                        if (c.n_annotations >= ELEMENTSOF(c.annotations) || !strchr(optarg, '=')) {
                                fprintf(stderr, "oci-memguard: --annotation takes KEY=VALUE (at most %zu)\n", ELEMENTSOF(c.annotations));
                                return 2;
                        }
                        c.annotations[c.n_annotations++] = optarg;
                        break;
                case OPT_COMMAND: c.command = optarg; break;
                case OPT_BUILD: c.build = true; break;
                case OPT_SINCE: c.since = optarg; break;
                case 'h': usage(stdout); return 0;
                default:
                        fprintf(stderr, "oci-memguard: unknown option '%s'\n", argv[optind - 1]);
                        usage(stderr);
                        return 2;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        const char *cmd = argv[optind];
        c.args = argv + optind + 1;
        c.n_args = argc - optind - 1;
        if (hook_opts_resolve(&c.opts) < 0) {
                fprintf(stderr, "oci-memguard: a path is too long\n");
                return 2;
        }

        if (hook_stage_is_known(cmd)) {
                if (c.n_args) {
                        fprintf(stderr, "oci-memguard: unexpected argument '%s'\n", c.args[0]);
                        return 2;
                }
                return hook_stage_main(cmd, &c.opts);
        }
        if (STREQ(cmd, "prune")) {
                if (c.n_args) {
                        fprintf(stderr, "oci-memguard: unexpected argument '%s'\n", c.args[0]);
                        return 2;
                }
                return hook_stage_main(cmd, &c.opts);
        }
        if (STREQ(cmd, "doctor"))
                return doctor_main(&c);
        if (STREQ(cmd, "explain"))
                return explain_main(&c);
        if (STREQ(cmd, "report"))
                return report_main(&c);
        if (STREQ(cmd, "status"))
                return status_main(&c);
        if (STREQ(cmd, "sample"))
                return sample_main(&c);
        if (STREQ(cmd, "policy")) {
                if (c.n_args < 1 || !STREQ(c.args[0], "check")) {
                        fprintf(stderr, "oci-memguard: usage: oci-memguard policy check [PATH...]\n");
                        return 2;
                }
                int r;
                if (c.n_args > 1)
                        r = policy_check_paths(c.args + 1, (size_t) c.n_args - 1, true, false, stdout);
                else {
                        /* Both policy directories and the host configuration. */
                        r = policy_check_paths((char *const *) c.opts.policy_dirs, c.opts.n_policy_dirs, true, true, stdout);
                        char hc[PATH_MAX];
                        int k = path_join(hc, sizeof hc, c.opts.sysroot, HOST_CONFIG_PATH);
                        k = k < 0 ? k : policy_check_host_config(hc, true, true, stdout);
                        r = r < 0 ? r : k < 0 ? k : r + k;
                }
                if (r < 0) {
                        fprintf(stderr, "oci-memguard: policy check: %s\n", strerror(-r));
                        return 2;
                }
                return r > 0 ? 1 : 0;
        }
        fprintf(stderr, "oci-memguard: unknown stage or command '%s'\n", cmd);
        usage(stderr);
        return 2;
}
