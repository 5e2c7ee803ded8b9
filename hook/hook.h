/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The hook's stages: identify the container, decide from the policies,
 * protect through the ledger, guard builds, record the outcome. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host_config.h"
#include "policy.h"
#include "build.h"
#include "cgroup.h"
#include "image.h"
#include "outcome.h"
#include "oci.h"

struct hook_opts {
        const char *sysroot;              /* "" for the real root */
        const char *policy_dirs[16];
        size_t n_policy_dirs;             /* 0: the default vendor+admin dirs */
        const char *state_dir;            /* NULL: <sysroot>/run/oci-memguard */
        const char *log_file;             /* NULL: <sysroot>/var/log/oci-memguard/events.jsonl */
        bool dry_run;
        bool no_seccomp;
        bool use_syslog;
        uint64_t deadline_usec;           /* CLOCK_MONOTONIC: the run ends by then; 0: 5 s from the ledger's use */
        char metrics_dir[256];            /* host.json metrics_dir: the textfile's directory, "" none */
        struct host_config host_config;   /* host.json (or the defaults), read once per run */
        bool host_config_read;            /* host_config (and its error) are filled */
        char host_config_error[512];      /* why host.json was not used, "" when it was or is absent */
        /* resolved defaults live here */
        char buf_state_dir[4096], buf_log_file[4096], buf_vendor[4096], buf_admin[4096];
};

int hook_opts_resolve(struct hook_opts *o);

/* Everything known about one container, and what the policies say. */
struct container_view {
        struct hook_state state;
        struct oci_info oci;
        bool has_oci;
        struct cgroup_host host;
        char cgroup[1024];          /* v2 path (or v1 memory path on v1 hosts) */
        char cgroup_dir[1600];      /* host dir that exists while the container does */
        const char *cgroup_from;    /* "/proc/<pid>/cgroup" or "linux.cgroupsPath" */
        bool protect_possible;      /* cgroup v2 memory controller for this path */
        char protect_skip[512];     /* why not, when not */
        struct image_info img;
        bool image_trusted;         /* attested, or a claim a matching policy trusts */
        bool build;                 /* treated as a build (attested or trusted) */
        char build_signal[128];
        char build_source[64];      /* which signal decided ("" when none) */
        bool build_trusted;
        /* explain --image/--build: the operator describes the container,
         * so what is said there is not a container's claim */
        const char *asserted_image;
        bool asserted_build;
        struct policy_set policies;
        struct policy *merged;
        size_t *matched;
        size_t n_matched;
        uint64_t min, low;          /* resolved claims (bytes) */
        int swappiness;             /* claim or -1 */
        uint64_t mem_total;
        struct host_config host_config; /* host.json, or the defaults */
        bool no_cgroup;             /* explain --image: no container, no cgroup */
};

void container_view_free(struct container_view *v);
/* MemTotal, read once per run (0 when /proc/meminfo cannot be read). */
uint64_t container_mem_total(struct container_view *v, const struct hook_opts *o);

/* Given v->state (id, pid, bundle, annotations) and optionally v->oci, finds
 * the cgroup, the image and the build signals, loads and merges policies and
 * resolves the claims. Problems it works around go to out; a failure that
 * stops the decision returns a negative errno with err filled (naming the
 * source of a bad value), for the caller to report. */
int container_decide(struct container_view *v, const struct hook_opts *o, struct outcome *out, struct mg_error *err);

/* After container_decide: records the container, raises/gives back through
 * the ledger, runs the build guard; with o->dry_run every write is a
 * "planned" action in out and nothing changes (explain uses this). Returns
 * the start stage's exit status (1 only for on_error=fail). */
int container_protect(struct container_view *v, const struct hook_opts *o, struct outcome *out);

/* Runs one OCI stage; returns the process exit status. */
int hook_stage_main(const char *stage, struct hook_opts *o);

bool hook_stage_is_known(const char *stage);
