/* SPDX-License-Identifier: GPL-2.0-or-later */
/* oci-memguard-runtime: a runc-compatible wrapper for engines that have no
 * hooks configuration (Docker, containerd, BuildKit).  For `create`, `run`
 * and `restore` it appends oci-memguard's hooks to the bundle's
 * config.json, then execs the real runtime with the arguments it was given
 * (argv[0] the runtime's own path, so its help and usage errors name it).
 * Whatever goes wrong on the way, it logs and execs the real runtime with
 * config.json unchanged: a protection it could not add must never be the
 * reason a container does not start. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "json.h"
#include "prefault.h"
#include "args.h"
#include "bundle_hooks.h"
#include "conf.h"

/* Where runc and crun are installed, local installs first (an admin who
 * built a newer runc put it there on purpose), runc before crun (what
 * Docker and containerd run by default). */
static const char *const runtime_candidates[] = {
        "/usr/local/sbin/runc", "/usr/local/bin/runc", "/usr/sbin/runc", "/usr/bin/runc", "/usr/sbin/crun", "/usr/bin/crun",
};

/* One line to syslog and, when its directory exists, one JSON record to
 * the hook's log, in the hook's record shape (stage "runtime-wrapper"), so
 * `jq 'select(.errors|length>0)'` finds wrapper problems with the hook's.
 * Nothing goes to stderr: under `runc run` (BuildKit) stderr is the
 * container's. */
static void wrapper_log(const struct wrapper_conf *c, const struct runtime_args *a, const char *runtime, const char *msg) {
        openlog("oci-memguard-runtime", LOG_PID, LOG_DAEMON);
        syslog(LOG_WARNING, "%s %s: %s", a->command ? a->command : "-", a->id ? a->id : "-", msg);
        closelog();

        _cleanup_strbuf_ struct strbuf line = {0};
        char ts[64];
        format_rfc3339(now_usec_realtime(), ts, sizeof ts);
        strbuf_puts(&line, "{\"time\":");
        strbuf_json_string(&line, ts);
        strbuf_puts(&line, ",\"stage\":\"runtime-wrapper\",\"id\":");
        strbuf_json_string(&line, a->id ? a->id : "");
        strbuf_puts(&line, ",\"command\":");
        strbuf_json_string(&line, a->command ? a->command : "");
        strbuf_puts(&line, ",\"bundle\":");
        strbuf_json_string(&line, a->bundle ? a->bundle : ".");
        strbuf_puts(&line, ",\"runtime\":");
        strbuf_json_string(&line, runtime ? runtime : "");
        strbuf_puts(&line, ",\"errors\":[");
        strbuf_json_string(&line, msg);
        strbuf_puts(&line, "]}\n");
        if (line.oom || !c->log_file)
                return;
        /* No O_CREAT of directories: the hook or install.sh makes them. */
        _cleanup_close_ int fd = open(c->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640);
        if (fd < 0)
                return;
        /* One write(2): O_APPEND keeps concurrent records whole. */
        (void) !write(fd, line.buf, line.len);
}

static bool same_file(const struct stat *a, const struct stat *b) { return a->st_dev == b->st_dev && a->st_ino == b->st_ino; }

/* Whether path is an executable regular file other than this program.
 * Comparing inodes (not names) also rejects a `runc` shim that is a
 * symlink or hard link to us, which would exec itself forever. */
static bool runtime_usable(const char *path, const struct stat *self, bool have_self) {
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0)
                return false;
        return !(have_self && same_file(&st, self));
}

static int exec_runtime(const struct wrapper_conf *c, const struct runtime_args *a, char **argv, const char *first_problem) {
        struct stat self;
        bool have_self = stat("/proc/self/exe", &self) == 0;
        const char *problem = first_problem;
        char msg[1024];

        if (c->runtime) {
                if (runtime_usable(c->runtime, &self, have_self)) {
                        if (problem)
                                wrapper_log(c, a, c->runtime, problem);
                        problem = NULL;
                        argv[0] = c->runtime;
                        execv(c->runtime, argv);
                        snprintf(msg, sizeof msg, "exec '%s': %s, trying the default runtimes", c->runtime, strerror(errno));
                } else
                        snprintf(msg, sizeof msg,
                                 "runtime '%s' from " MEMGUARD_RUNTIME_CONF " is missing, not executable or this wrapper, "
                                 "trying the default runtimes",
                                 c->runtime);
                wrapper_log(c, a, c->runtime, msg);
        }
        for (size_t i = 0; i < ELEMENTSOF(runtime_candidates); i++) {
                const char *rt = runtime_candidates[i];
                if (!runtime_usable(rt, &self, have_self))
                        continue;
                if (problem) {
                        wrapper_log(c, a, rt, problem);
                        problem = NULL;
                }
                argv[0] = (char *) rt;
                execv(rt, argv);
                snprintf(msg, sizeof msg, "exec '%s': %s, trying the next runtime", rt, strerror(errno));
                wrapper_log(c, a, rt, msg);
        }
        if (problem)
                wrapper_log(c, a, NULL, problem);
        wrapper_log(c, a, NULL, "no OCI runtime found (runtime= in " MEMGUARD_RUNTIME_CONF ", runc or crun in /usr/local/sbin, "
                                "/usr/local/bin, /usr/sbin, /usr/bin)");
        /* The one message for the engine: it shows the runtime's stderr
         * when the runtime fails. */
        fprintf(stderr, "oci-memguard-runtime: no OCI runtime found (see " MEMGUARD_RUNTIME_CONF ")\n");
        return 127;
}

/* How long the wrapper may spend on config.json before it gives up and
 * passes it through: a parse is linear and a 16 MiB file takes ~0.1 s, so
 * only a starved machine reaches this, and then the start must not wait
 * on us. */
#define WRAPPER_CONFIG_BUDGET_USEC (1000u * 1000u)

/* Adds the hooks for create/run/restore.  Returns a problem to log, or
 * NULL.  Its words say what happens next: a config.json that is missing or
 * invalid is left for the runtime to reject (no container starts); for
 * anything else the runtime may start the container, without our hooks. */
static const char *add_hooks(const struct wrapper_conf *c, const struct runtime_args *a, char *buf, size_t size) {
        /* A hook path that does not exist would make the runtime fail the
         * start ("stat ...: no such file"): better no hook than no
         * container. */
        if (access(c->hook, X_OK) < 0) {
                snprintf(buf, size, "hook '%s' is not executable (%s), container starts without oci-memguard hooks", c->hook,
                         strerror(errno));
                return buf;
        }
        _cleanup_close_ int dfd = open(a->bundle ? a->bundle : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                snprintf(buf, size, "bundle '%s': %s: no hooks added, the runtime reports it", a->bundle ? a->bundle : ".",
                         strerror(errno));
                return buf;
        }

        /* The hook gets the wrapper's log file too, so both write one log. */
        char *extra[WRAPPER_MAX_HOOK_ARGS + 1];
        size_t n = 0;
        char logopt[4200];
        if (c->log_file_set) {
                int k = snprintf(logopt, sizeof logopt, "--log-file=%s", c->log_file);
                if (k > 0 && (size_t) k < sizeof logopt)
                        extra[n++] = logopt;
        }
        for (size_t i = 0; i < c->n_hook_args; i++)
                extra[n++] = c->hook_args[i];

        struct hook_spec spec = {
                .path = c->hook,
                .extra_args = extra,
                .n_extra_args = n,
                .timeout = c->timeout,
                .deadline_usec = now_usec_monotonic() + WRAPPER_CONFIG_BUDGET_USEC,
        };
        enum bundle_hooks_result res;
        struct mg_error err = {0};
        int r = bundle_hooks_add(dfd, &spec, &res, &err);
        if (r == -EINVAL || r == -ENOENT) {
                snprintf(buf, size, "invalid config.json, left unchanged for the runtime to reject: %s", err.msg);
                return buf;
        }
        if (r < 0) {
                snprintf(buf, size, "%s, container starts without oci-memguard hooks", err.msg);
                return buf;
        }
        return NULL;
}

int main(int argc, char **argv) {
        /* as the hook does (lib/prefault.c): where faults are dear */
        prefault_startup(__builtin_frame_address(0));
        struct runtime_args a;
        runtime_args_parse(argc, argv, &a);

        struct wrapper_conf c;
        int r = conf_load(MEMGUARD_RUNTIME_CONF, &c);
        if (r == -ENOMEM) {
                /* Nothing is known but the defaults: still start. */
                c = (struct wrapper_conf) { .timeout = WRAPPER_DEFAULT_TIMEOUT };
        }
        if (c.problems[0])
                wrapper_log(&c, &a, c.runtime, c.problems);

        char buf[1400];
        const char *problem = NULL;
        if (runtime_args_wants_hooks(&a) && c.hook)
                problem = add_hooks(&c, &a, buf, sizeof buf);

        /* argv as given, but argv[0]: the runtime's own path. */
        r = exec_runtime(&c, &a, argv, problem);
        conf_free(&c);
        return r;
}
