/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `oci-memguard doctor`: will protection work on this host, and
 * is the hook itself sound? One line per check, OK / WARN / FAIL with the
 * fix; exit 1 only when protection cannot work here or the hook is broken. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_config.h"
#include "budget_view.h"
#include "cgroup.h"
#include "cli.h"
#include "json.h"
#include "kernelfix.h"
#include "outcome.h"
#include "state.h"
#include "memhealth.h"
#include "meminfo.h"
#include "sysctl.h"
#include "systemd.h"

enum status { ST_OK, ST_WARN, ST_FAIL };
static const char *const status_name[] = { "OK", "WARN", "FAIL" };

struct check {
        const char *name;
        enum status st;
        char finding[512];
        char fix[512];
};

struct report {
        struct check items[40];
        size_t n;
};

static void add(struct report *r, const char *name, enum status st, const char *fix, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add(struct report *r, const char *name, enum status st, const char *fix, const char *fmt, ...) {
        if (r->n >= ELEMENTSOF(r->items))
                return;
        struct check *c = &r->items[r->n++];
        c->name = name;
        c->st = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->finding, sizeof c->finding, fmt, ap);
        va_end(ap);
        snprintf(c->fix, sizeof c->fix, "%s", fix ? fix : "");
}

static bool host_path(const struct hook_opts *o, const char *p, char *buf, size_t size) { return path_join(buf, size, o->sysroot, p) == 0; }

static bool exists(const struct hook_opts *o, const char *p) {
        char path[PATH_MAX];
        struct stat st;
        return host_path(o, p, path, sizeof path) && stat(path, &st) == 0;
}

static bool file_has_word(int dirfd, const char *file, const char *word) {
        char buf[1024];
        if (read_small_at(dirfd, file, buf, sizeof buf) < 0)
                return false;
        for (char *s = NULL, *t = strtok_r(buf, " \n", &s); t; t = strtok_r(NULL, " \n", &s))
                if (STREQ(t, word))
                        return true;
        return false;
}

static void check_cgroups(struct report *r, const struct hook_opts *o, struct cgroup_host *h) {
        struct mg_error err = {0};
        if (cgroup_host_detect(o->sysroot, h, &err) < 0) {
                add(r, "cgroup", ST_FAIL, "mount /proc", "cannot read the mount table: %s", err.msg);
                return;
        }
        if (h->mode == CGROUP_MODE_V2 && h->v2_memory)
                add(r, "cgroup", ST_OK, NULL, "v2 at %s, memory controller available", h->v2_mount);
        else if (h->mode == CGROUP_MODE_V2)
                add(r, "cgroup", ST_FAIL, "enable the memory controller (cgroup_enable=memory on the kernel command line)",
                    "v2 at %s, but no memory controller: protection cannot work", h->v2_mount);
        else
                add(r, "cgroup", ST_FAIL,
                    "boot with systemd.unified_cgroup_hierarchy=1 (WSL: kernelCommandLine = cgroup_no_v1=all in .wslconfig); the build guard still works",
                    "%s: the memory controller is on cgroup v1 (%s): memory protection cannot work", cgroup_mode_name(h->mode),
                    h->v1_memory_mount[0] ? h->v1_memory_mount : "none");
        if (!h->has_v2 || h->v2_fd < 0 || !h->v2_memory)
                return;

        if (h->recursiveprot)
                add(r, "memory_recursiveprot", ST_OK, NULL, "on (%s)", h->v2_options);
        else
                add(r, "memory_recursiveprot", ST_WARN,
                    "mount -o remount,memory_recursiveprot /sys/fs/cgroup (systemd >= 247 mounts it so; a later fresh cgroup2 mount, e.g. by dockerd on non-systemd hosts, moby/moby#50466, drops it)",
                    "off: protection still works (the hook raises ancestors), but unclaimed parent protection does not flow to children");

        /* The engines' parents: memory must be enabled for their children. */
        static const char *const parents[] = { "/docker", "/system.slice", "/machine.slice", "/libpod_parent", "/kubepods.slice", "/kubepods" };
        char seen[512] = "", missing[512] = "";
        for (size_t i = 0; i < ELEMENTSOF(parents); i++) {
                _cleanup_close_ int fd = -1;
                if (cgroup_open(h, parents[i], &fd) < 0)
                        continue;
                bool ok = file_has_word(fd, "cgroup.subtree_control", "memory") && faccessat(fd, "memory.min", F_OK, 0) == 0;
                char *dst = ok ? seen : missing;
                size_t l = strlen(dst);
                snprintf(dst + l, 512 - l, "%s%s", l ? " " : "", parents[i]);
        }
        if (missing[0])
                add(r, "memory along engine paths", ST_WARN, "echo +memory > <parent>/cgroup.subtree_control (runc's cgroupfs driver and systemd do it when they create the path)",
                    "memory controller not enabled for the children of: %s", missing);
        else if (seen[0])
                add(r, "memory along engine paths", ST_OK, NULL, "memory enabled under %s", seen);
        else
                add(r, "memory along engine paths", ST_OK, NULL, "no engine cgroup yet (/docker, /system.slice, /machine.slice, /libpod_parent, kubepods)");
}

static unsigned kernel_version(const struct hook_opts *o, char *release, size_t size) {
        char path[PATH_MAX];
        release[0] = '\0';
        if (!host_path(o, "/proc/sys/kernel/osrelease", path, sizeof path) || read_small_at(AT_FDCWD, path, release, size) < 0)
                return 0;
        unsigned a = 0, b = 0;
        if (sscanf(release, "%u.%u", &a, &b) != 2)
                return 0;
        return a * 1000 + b;
}

static void check_kernel(struct report *r, const struct hook_opts *o, const struct cgroup_host *h) {
        char rel[128];
        unsigned v = kernel_version(o, rel, sizeof rel);
        bool reclaim = h->v2_fd >= 0 && h->v2_memory && faccessat(h->v2_fd, "memory.reclaim", F_OK, 0) == 0;
        if (reclaim)
                add(r, "memory.reclaim", ST_OK, NULL, "present: the build guard reclaims the deficit, not the whole page cache");
        else
                add(r, "memory.reclaim", ST_WARN,
                    v >= 5019 || !v ? "the memory controller on cgroup v2 (memory.reclaim lives at its root)" : "kernel >= 5.19 on cgroup v2",
                    "absent: the build guard falls back to drop_caches (kernel %s)", rel[0] ? rel : "unknown");
        if (v >= 6011)
                add(r, "memory.reclaim swappiness=", ST_OK, NULL, "kernel %s >= 6.11: inferred from the version (the hook asks the kernel itself)", rel);
        else
                add(r, "memory.reclaim swappiness=", ST_WARN, "kernel >= 6.11",
                    "kernel %s < 6.11 (inferred from the version): reclaim may swap anonymous memory as well as drop cache", rel[0] ? rel : "unknown");
        /* memory.peak (5.19): look at one child cgroup, the root has none. */
        if (h->v2_fd < 0 || !h->v2_memory)
                return;
        bool peak = false;
        {
                _cleanup_(closedirp) DIR *d = NULL;
                (void) opendir_at(h->v2_fd, ".", &d);
                struct dirent *de;
                while (d && (de = readdir(d)) && !peak) {
                        char p[NAME_MAX + 20];
                        if (de->d_type != DT_DIR || de->d_name[0] == '.')
                                continue;
                        snprintf(p, sizeof p, "%s/memory.peak", de->d_name);
                        peak = faccessat(h->v2_fd, p, F_OK, 0) == 0;
                }
        }
        if (peak)
                add(r, "memory.peak", ST_OK, NULL, "present");
        else
                add(r, "memory.peak", ST_WARN, "kernel >= 5.19", "not found in any child cgroup");
}

/* "page allocation failure: order:4" in veth_alloc_queues at container
 * start: a kernel without the vmalloc fallback for the veth queue array
 * needs a physically contiguous block per veth when it has many possible
 * CPUs. The version is the upstream one: Debian and Ubuntu keep it out of
 * uname -r. */
static void check_veth_queues(struct report *r, const struct hook_opts *o) {
        char version[512] = "", signature[256] = "", release[128] = "", path[PATH_MAX], cpus[64] = "";
        if (host_path(o, "/proc/version", path, sizeof path))
                (void) read_small_at(AT_FDCWD, path, version, sizeof version);
        if (host_path(o, "/proc/version_signature", path, sizeof path))
                (void) read_small_at(AT_FDCWD, path, signature, sizeof signature);
        if (host_path(o, "/proc/sys/kernel/osrelease", path, sizeof path))
                (void) read_small_at(AT_FDCWD, path, release, sizeof release);
        if (host_path(o, "/sys/devices/system/cpu/possible", path, sizeof path))
                (void) read_small_at(AT_FDCWD, path, cpus, sizeof cpus);
        cpus[strcspn(cpus, "\n")] = '\0';
        struct kernel_version v;
        enum kver_source src;
        if (kernel_upstream_version(version, signature, release, &v, &src) < 0) {
                add(r, "kernel veth queues", ST_WARN, "check the kernel for commit 1ce7d306ea63 (veth: try harder when allocating queue memory)",
                    "cannot tell the kernel's upstream version (/proc/version, /proc/version_signature, osrelease)");
                return;
        }
        const char *fixed_in;
        enum veth_queues q = veth_queue_fix(&v, &fixed_in);
        char ver[48];
        snprintf(ver, sizeof ver, "%u.%u.%u", v.major, v.minor, v.patch);
        switch (q) {
        case VETH_ONE_QUEUE:
                add(r, "kernel veth queues", ST_OK, NULL, "kernel %s (%s) creates one queue per veth: no per-CPU allocation at container start", ver,
                    kver_source_name(src));
                break;
        case VETH_FIXED:
                add(r, "kernel veth queues", ST_OK, NULL, "kernel %s (%s) has the veth queue fix (vmalloc fallback, since %s): container starts need no order-4 block for it",
                    ver, kver_source_name(src), fixed_in);
                break;
        case VETH_UNFIXED:
        case VETH_NO_BACKPORT: {
                char fix[160];
                snprintf(fix, sizeof fix, "a kernel with commit 1ce7d306ea63 (%s or later%s)", fixed_in,
                         q == VETH_NO_BACKPORT ? "; this series ended without it" : " of this series");
                add(r, "kernel veth queues", ST_WARN, fix,
                    "kernel %s (%s) allocates the veth queues as one physically contiguous block, one entry per possible CPU (%s): on a fragmented host a container start "
                    "fails with \"page allocation failure: order:4\" in veth_alloc_queues. The build guard compacts memory before build steps, which helps the next "
                    "container; nothing a hook does runs before the engine creates this container's veth",
                    ver, kver_source_name(src), cpus[0] ? cpus : "unknown");
                break;
        }
        }
}

static void check_memory(struct report *r, const struct hook_opts *o) {
        uint64_t swp;
        if (sysctl_swappiness_get(o->sysroot, &swp) == 0)
        {
                /* A running build may hold a lower value: the ledger knows the original. */
                char lj[PATH_MAX];
                struct stat st;
                bool held = snprintf(lj, sizeof lj, "%s/ledger.json", o->state_dir) < (int) sizeof lj && stat(lj, &st) == 0;
                add(r, "vm.swappiness", ST_OK, NULL, "%" PRIu64 "%s", swp, held ? " (a running build may hold it: the original is in ledger.json)" : "");
        }
        else
                add(r, "vm.swappiness", ST_WARN, NULL, "unreadable");
        struct memhealth mh;
        if (memhealth_read(o->sysroot, 4, &mh) < 0) {
                add(r, "MemAvailable", ST_WARN, NULL, "/proc/meminfo unreadable");
                return;
        }
        uint64_t pct = mh.mem_total ? mh.mem_available * 100 / mh.mem_total : 0;
        add(r, "MemAvailable", pct >= 10 ? ST_OK : ST_WARN, pct >= 10 ? NULL : "find what holds the memory; builds will get the build guard's reclaim",
            "%" PRIu64 " MiB of %" PRIu64 " MiB (%" PRIu64 "%%)", mh.mem_available >> 20, mh.mem_total >> 20, pct);
        if (!mh.have_buddy)
                add(r, "fragmentation (order 4)", ST_WARN, NULL, "/proc/buddyinfo unreadable");
        else if (mh.blocks_at_order == 0)
                add(r, "fragmentation (order 4)", ST_WARN, "echo 1 > /proc/sys/vm/compact_memory (the build guard does it before builds)",
                    "no free block of order >= 4 in DMA32/Normal: order-4 allocations (veth queues) will fail");
        else
                add(r, "fragmentation (order 4)", ST_OK, NULL, "%" PRIu64 " free blocks of order >= 4 in DMA32/Normal", mh.blocks_at_order);
}

/* The hook changes slices and container scopes through systemd's private
 * socket; when it does not answer, the hook writes them directly and
 * systemd resets them the next time it realizes the unit. A real round
 * trip (Ping), bounded by the hook's own deadline for a value (2 s,
 * apply.c): with 1 s, doctor warned in the systemd VM while systemd was
 * still busy booting, about a bus the hook then used without trouble. */
static void check_systemd_bus(struct report *r, const struct hook_opts *o) {
        char where[PATH_MAX] = "";
        uint64_t t0 = now_usec_monotonic();
        int k = systemd_bus_ping(o->sysroot, 2 * 1000 * 1000, where, sizeof where);
        uint64_t ms = (now_usec_monotonic() - t0) / 1000;
        if (k == 0)
                add(r, "systemd bus", ST_OK, NULL, "%s answers (Ping in %" PRIu64 " ms): slices and container scopes are changed through systemd",
                    where, ms);
        else
                add(r, "systemd bus", ST_WARN,
                    k == -EACCES && geteuid() != 0 ? "run doctor as root (the hook runs as root; the private socket is root's)"
                                                   : "check systemd (systemctl is-system-running); the hook falls back to direct writes",
                    "%s does not answer (%s): the hook would write the memory.min/memory.low of slices and scopes directly, and systemd resets them on daemon-reload",
                    where, strerror(-k));
}

static void check_platform(struct report *r, const struct hook_opts *o) {
        if (exists(o, "/run/systemd/system")) {
                add(r, "systemd", ST_OK, NULL, "running: ancestors that are slices are changed through systemd");
                check_systemd_bus(r, o);
        } else
                add(r, "systemd", ST_OK, NULL, "not running: cgroup files are written directly");
        char rel[128] = "", path[PATH_MAX];
        if (host_path(o, "/proc/sys/kernel/osrelease", path, sizeof path))
                (void) read_small_at(AT_FDCWD, path, rel, sizeof rel);
        bool wsl = strcasestr(rel, "microsoft") || exists(o, "/proc/sys/fs/binfmt_misc/WSLInterop") || exists(o, "/run/WSL");
        if (wsl)
                add(r, "WSL2", ST_WARN,
                    "keep autoMemoryReclaim at its default (dropCache) or disable Docker Desktop's Resource Saver; use build.after to give memory back after builds",
                    "WSL2 detected (%s). autoMemoryReclaim=gradual together with Docker Desktop's Resource Saver freezes WSL (microsoft/WSL#11066, docker/for-win#14656); the reclaim mode is set in %%USERPROFILE%%\\.wslconfig and cannot be read from inside Linux",
                    rel[0] ? rel : "WSLInterop");
        else
                add(r, "WSL2", ST_OK, NULL, "not WSL");
}

/* A registered hook path that does not exist makes every start fail (or,
 * for Podman, silently skips the hook): FAIL. */
static int hooksd_path(const struct hook_opts *o, const char *file, char *ret, size_t size) {
        char path[PATH_MAX];
        if (!host_path(o, file, path, sizeof path))
                return -ENAMETOOLONG;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_file_at(AT_FDCWD, path, 64 * 1024, &buf, &len);
        if (r < 0)
                return r;
        _cleanup_json_ struct json_node *root = NULL;
        if (json_parse(buf, len, NULL, &root, NULL) < 0)
                return -EBADMSG;
        const char *keys[] = { "hook", "path", NULL };
        const struct json_node *p = json_get_path(root, keys);
        if (!p || p->type != JSON_STRING)
                return -EBADMSG;
        snprintf(ret, size, "%s", p->str);
        return 0;
}

/* The link may exist while what it points to does not (the wrapper was
 * uninstalled): lstat finds the one, stat the other. */
enum presence { ABSENT, PRESENT, DANGLING };
static enum presence presence(const struct hook_opts *o, const char *p) {
        char path[PATH_MAX];
        struct stat st;
        if (!host_path(o, p, path, sizeof path) || lstat(path, &st) < 0)
                return ABSENT;
        return stat(path, &st) == 0 ? PRESENT : DANGLING;
}

/* BuildKit runs the first `runc` on dockerd's own PATH; the shim only
 * counts when dockerd was started with its directory first (install.sh's
 * docker.service drop-in takes effect at the next restart). Read from the
 * running dockerd's environment; no line when no dockerd runs or its
 * environment is not readable (not root). */
static void check_dockerd_path(struct report *r, const struct hook_opts *o) {
        char proc[PATH_MAX];
        if (!host_path(o, "/proc", proc, sizeof proc))
                return;
        DIR *d = opendir(proc);
        if (!d)
                return;
        struct dirent *de;
        long pid = 0;
        while (!pid && (de = readdir(d))) {
                char comm[32] = "", p[NAME_MAX + 16];
                if (de->d_name[0] < '1' || de->d_name[0] > '9' || strspn(de->d_name, "0123456789") != strlen(de->d_name))
                        continue;
                snprintf(p, sizeof p, "%s/comm", de->d_name);
                int dfd = dirfd(d);
                if (read_small_at(dfd, p, comm, sizeof comm) >= 0 && STREQ(comm, "dockerd"))
                        pid = strtol(de->d_name, NULL, 10);
        }
        closedir(d);
        if (!pid)
                return;
        /* environ is NUL-separated, which the text readers refuse: read it
         * here, bounded; a longer environment is cut, PATH is usually early. */
        char envp[64], path[PATH_MAX], env[16384];
        snprintf(envp, sizeof envp, "/proc/%ld/environ", pid);
        if (!host_path(o, envp, path, sizeof path))
                return;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return;
        size_t len = 0;
        for (ssize_t k; len < sizeof env - 1 && (k = read(fd, env + len, sizeof env - 1 - len)) != 0;) {
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                len += (size_t) k;
        }
        env[len] = '\0';
        const char *pathvar = NULL;
        for (size_t i = 0; i < len; i += strlen(env + i) + 1)
                if (strncmp(env + i, "PATH=", 5) == 0)
                        pathvar = env + i + 5;
        /* the first directory of PATH holding a runc is the one BuildKit runs */
        char first[PATH_MAX] = "";
        for (const char *dir = pathvar; dir && *dir && !first[0];) {
                size_t n = strcspn(dir, ":");
                char cand[PATH_MAX];
                if (n > 0 && n < sizeof cand - 6) {
                        snprintf(cand, sizeof cand, "%.*s/runc", (int) n, dir);
                        if (presence(o, cand) == PRESENT)
                                snprintf(first, sizeof first, "%s", cand);
                }
                dir += n + (dir[n] == ':');
        }
        if (strstr(first, "/oci-memguard/shim/runc"))
                add(r, "dockerd PATH", ST_OK, NULL, "dockerd (pid %ld) runs %s, the shim: BuildKit RUN steps get the hook", pid, first);
        else
                add(r, "dockerd PATH", ST_WARN,
                    "systemctl restart docker (install.sh's drop-in puts the shim first), or start dockerd with PATH=/usr/local/lib/oci-memguard/shim:$PATH",
                    "dockerd (pid %ld) runs %s for BuildKit RUN steps, not the shim: they run without the hook", pid, first[0] ? first : "no runc on its PATH");
}

/* containerd's config.toml: every `BinaryName = "..."` naming our wrapper.
 * Not a TOML parser: the key is unique enough, and a commented line starts
 * with '#'. Returns how many name oci-memguard; those that exist go to
 * found, those that do not to missing (space-separated). */
static unsigned containerd_binaries(const struct hook_opts *o, const char *toml, char *found, size_t fsize, char *missing, size_t msize) {
        unsigned n = 0;
        found[0] = missing[0] = '\0';
        for (const char *line = toml; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                const char *p = line + strspn(line, " \t");
                if (strncmp(p, "BinaryName", 10) != 0)
                        continue;
                p += 10 + strspn(p + 10, " \t");
                if (*p != '=')
                        continue;
                p += 1 + strspn(p + 1, " \t");
                if (*p != '"' && *p != '\'')
                        continue;
                const char *end = strchr(p + 1, *p);
                const char *nl = strchr(p, '\n');
                if (!end || (nl && end > nl) || end - p - 1 >= PATH_MAX)
                        continue;
                char bin[PATH_MAX];
                snprintf(bin, sizeof bin, "%.*s", (int) (end - p - 1), p + 1);
                if (!strstr(bin, "oci-memguard"))
                        continue;
                n++;
                char *dst = exists(o, bin) ? found : missing;
                size_t size = dst == found ? fsize : msize, l = strlen(dst);
                int w = snprintf(dst + l, size - l, "%s%s", l ? " " : "", bin);
                if (w < 0 || (size_t) w >= size - l)
                        dst[l] = '\0'; /* no room: keep the names that fit whole */
        }
        return n;
}

static void check_engines(struct report *r, const struct hook_opts *o) {
        unsigned registered = 0;
        /* Podman, CRI-O and Buildah read both; /etc overrides /usr/share. */
        static const char *const hooks[] = { "/usr/share/containers/oci/hooks.d/oci-memguard-prestart.json",
                                             "/usr/share/containers/oci/hooks.d/oci-memguard-poststop.json",
                                             "/etc/containers/oci/hooks.d/oci-memguard-prestart.json",
                                             "/etc/containers/oci/hooks.d/oci-memguard-poststop.json" };
        for (size_t i = 0; i < ELEMENTSOF(hooks); i++) {
                char hp[PATH_MAX];
                int rr = hooksd_path(o, hooks[i], hp, sizeof hp);
                if (rr == -ENOENT)
                        continue;
                registered++;
                if (rr < 0)
                        add(r, "podman/cri-o hooks.d", ST_FAIL, "reinstall: sudo ./install.sh", "%s is not a valid hooks.d file", hooks[i]);
                else if (!exists(o, hp))
                        add(r, "podman/cri-o hooks.d", ST_FAIL, "reinstall (sudo ./install.sh), or correct hook.path",
                            "%s names %s, which does not exist (Podman skips the hook silently, CRI-O fails the start)", hooks[i], hp);
                else
                        add(r, "podman/cri-o hooks.d", ST_OK, NULL, "%s -> %s", hooks[i], hp);
        }
        char path[PATH_MAX];
        _cleanup_free_ char *dj = NULL;
        size_t len;
        if (host_path(o, "/etc/docker/daemon.json", path, sizeof path) && read_file_at(AT_FDCWD, path, 1u << 20, &dj, &len) == 0) {
                _cleanup_json_ struct json_node *root = NULL;
                const char *keys[] = { "runtimes", "oci-memguard", "path", NULL };
                const struct json_node *p = json_parse(dj, len, NULL, &root, NULL) == 0 ? json_get_path(root, keys) : NULL;
                if (p && p->type == JSON_STRING) {
                        registered++;
                        const struct json_node *def = json_get(root, "default-runtime");
                        bool is_default = def && def->type == JSON_STRING && STREQ(def->str, "oci-memguard");
                        if (!exists(o, p->str))
                                add(r, "docker runtime", ST_FAIL, "reinstall (sudo ./install.sh), or correct runtimes.oci-memguard.path and restart dockerd",
                                    "daemon.json runtime oci-memguard -> %s, which does not exist (every container using it fails to start)", p->str);
                        else
                                add(r, "docker runtime", ST_OK, NULL, "daemon.json runtime oci-memguard -> %s%s", p->str,
                                    is_default ? " (default-runtime: classic build RUN steps covered)" : " (not the default-runtime: install.sh --docker-default covers classic builds)");
                }
        }
        /* The BuildKit shim: a `runc` link to the wrapper in a directory
         * first on dockerd's PATH (mk/wrapper.mk SHIMDIR = <prefix>/lib/oci-memguard/shim). */
        static const char *const shims[] = { "/usr/local/lib/oci-memguard/shim/runc", "/usr/lib/oci-memguard/shim/runc" };
        for (size_t i = 0; i < ELEMENTSOF(shims); i++)
                switch (presence(o, shims[i])) {
                case ABSENT: break;
                case PRESENT:
                        registered++;
                        add(r, "buildkit shim", ST_OK, NULL, "%s (dockerd must have its directory first on PATH)", shims[i]);
                        break;
                case DANGLING:
                        registered++;
                        add(r, "buildkit shim", ST_FAIL, "reinstall (sudo ./install.sh), or remove the link",
                            "%s points to a file that does not exist: BuildKit cannot run a single step", shims[i]);
                        break;
                }
        _cleanup_free_ char *ct = NULL;
        if (host_path(o, "/etc/containerd/config.toml", path, sizeof path) && read_file_at(AT_FDCWD, path, 4u << 20, &ct, &len) == 0) {
                char found[1024], missing[1024];
                if (containerd_binaries(o, ct, found, sizeof found, missing, sizeof missing) > 0) {
                        registered++;
                        if (missing[0])
                                add(r, "containerd", ST_FAIL, "reinstall (sudo ./install.sh), or correct BinaryName and restart containerd",
                                    "/etc/containerd/config.toml: BinaryName %s does not exist (containers of that runtime fail to start)", missing);
                        else
                                add(r, "containerd", ST_OK, NULL, "/etc/containerd/config.toml: BinaryName %s", found);
                }
        }
        if (!registered)
                add(r, "engines", ST_WARN, "sudo ./install.sh registers with the engines it finds; plain runc: see README", "no engine has the hook registered yet");
}

static void check_policies(struct report *r, const struct hook_opts *o) {
        struct policy_set set = {0};
        int rr = policy_set_load(o->policy_dirs, o->n_policy_dirs, true, &set);
        if (rr < 0)
                add(r, "policies", ST_FAIL, NULL, "cannot load: %s", strerror(-rr));
        for (size_t i = 0; i < set.n_errors; i++)
                add(r, "policies", ST_FAIL, "oci-memguard policy check; fix or remove the file (it is ignored as a whole)", "%s", set.errors[i].msg);
        char dirs[1024] = "";
        for (size_t i = 0; i < o->n_policy_dirs; i++) {
                size_t l = strlen(dirs);
                snprintf(dirs + l, sizeof dirs - l, "%s%s", i ? ", " : "", o->policy_dirs[i]);
        }
        if (rr == 0 && set.n_errors == 0 && set.n == 0)
                add(r, "policies", ST_WARN, "install the default policies (make install) or write one: oci-memguard-policy(5)",
                    "no policy file in %s: the hook does nothing for any container", dirs);
        else if (rr == 0 && set.n_errors == 0)
                add(r, "policies", ST_OK, NULL, "%zu valid file%s in %s", set.n, set.n == 1 ? "" : "s", dirs);
        policy_set_free(&set);
}

/* Whose protection it is: what the hook grants the containers it runs
 * (their records' min and max(min, low)) against what the root's children
 * hold beyond that (an admin's MemoryMin=, kubelet's reservations, another
 * tool). Others alone above a safe share of RAM leave the hook little to
 * grant and the host little to reclaim from, whatever the budget says. */
static void check_budget_owners(struct report *r, const struct hook_opts *o, const struct cgroup_host *h, const struct budget_top *top,
                                uint64_t mem_total) {
        struct outcome scratch;
        outcome_init(&scratch, "doctor");
        struct ledger l;
        struct mg_error err = {0};
        struct budget_usage mine = {0};
        size_t n = 0;
        if (ledger_open(&l, o->state_dir, o->sysroot, h, &scratch, true, now_usec_monotonic() + MEMGUARD_RUN_DEADLINE_USEC, &err) == 0 &&
            ledger_load(&l) == 0)
                for (size_t i = 0; i < l.n_recs; i++)
                        if (l.recs[i].protect && (l.recs[i].min > 0 || l.recs[i].low > 0)) {
                                budget_usage_add(&mine, l.recs[i].min, l.recs[i].low);
                                n++;
                        }
        ledger_close(&l);
        outcome_free(&scratch);
        struct budget_usage others = {
                .min = top->used.min > mine.min ? top->used.min - mine.min : 0,
                .protection = top->used.protection > mine.protection ? top->used.protection - mine.protection : 0,
        };
        char a[32], b[32], c[32], d[32];
        budget_format_bytes(mine.min, a, sizeof a);
        budget_format_bytes(mine.protection, b, sizeof b);
        budget_format_bytes(others.min, c, sizeof c);
        budget_format_bytes(others.protection, d, sizeof d);
        uint64_t safe_min = (uint64_t) ((unsigned __int128) mem_total * BUDGET_SAFE_MIN_PERCENT / 100);
        uint64_t safe_prot = (uint64_t) ((unsigned __int128) mem_total * BUDGET_SAFE_PROTECTION_PERCENT / 100);
        if (others.min > safe_min || others.protection > safe_prot)
                add(r, "protection by owner", ST_WARN,
                    "find who set it (systemctl show <slice> -p MemoryMin,MemoryLow; kubelet's reservations) and lower it: the hook cannot grant what others hold",
                    "others hold memory.min %s and min or low together %s, more than a safe share of RAM (50%% min, 80%% together) on their own; "
                    "the hook grants %zu container%s memory.min %s, protection %s",
                    c, d, n, n == 1 ? "" : "s", a, b);
        else
                add(r, "protection by owner", ST_OK, NULL, "the hook grants %zu container%s memory.min %s, protection %s; others hold memory.min %s, protection %s", n,
                    n == 1 ? "" : "s", a, b, c, d);
}

/* The host configuration and the protection budget: the caps, what the
 * top of the cgroup tree holds and who holds it. Protection that cannot be
 * held by the RAM makes reclaim skip the protected cgroups while the OOM
 * killer takes everything else, so a budget of all of RAM or more, or a
 * top of the tree already holding more than a safe share, is a warning. */
static void check_budget(struct report *r, const struct hook_opts *o, const struct cgroup_host *h) {
        struct host_config hc;
        struct mg_error err = {0};
        char path[PATH_MAX];
        char a[96], b[96];
        int k = host_config_load(o->sysroot, true, &hc, path, sizeof path, &err);
        if (k < 0)
                add(r, "host config", ST_WARN, "oci-memguard policy check; fix the file or remove it (the hook ignores it as a whole)",
                    "%s: the defaults apply", err.msg);
        else
                add(r, "host config", ST_OK, NULL, "%s%s: budget.min %s, budget.protection %s", hc.from_file ? "" : "no ", path,
                    host_cap_format(&hc.budget.min, a, sizeof a), host_cap_format(&hc.budget.protection, b, sizeof b));

        struct budget_limits l;
        uint64_t mem_total = 0;
        if (budget_limits_for_host(o->sysroot, &hc, &l, &mem_total) < 0) {
                add(r, "budget", ST_WARN, NULL, "/proc/meminfo unreadable: a budget in %% of MemTotal promises nothing");
                return;
        }
        char mt[32];
        budget_format_bytes(mem_total, mt, sizeof mt);
        budget_cap_describe(&hc.budget.min, l.min, a, sizeof a);
        budget_cap_describe(&hc.budget.protection, l.protection, b, sizeof b);
        bool min_over = budget_cap_exceeds_ram(&hc.budget.min, l.min, mem_total);
        bool prot_over = budget_cap_exceeds_ram(&hc.budget.protection, l.protection, mem_total);
        if (min_over || prot_over)
                add(r, "budget", ST_WARN,
                    "keep budget.min at most 50% and budget.protection at most 80% of MemTotal in /etc/oci-memguard/host.json (README: Protection budget)",
                    "memory.min at most %s, min or low together at most %s, of MemTotal %s: %s all of RAM or more, so the hook may protect more than the host can hold (reclaim skips protected memory and the OOM killer takes the unprotected processes)",
                    a, b, mt, min_over && prot_over ? "both are" : min_over ? "budget.min is" : "budget.protection is");
        else
                add(r, "budget", ST_OK, NULL, "memory.min at most %s, min or low together at most %s, of MemTotal %s", a, b, mt);

        if (h->v2_fd < 0 || !h->v2_memory)
                return;
        /* What the root's children hold now: their originals and what the
         * hook raised them by, together. */
        struct budget_top top;
        int rr = budget_top_read(h, &top);
        if (rr < 0 && rr != -E2BIG) {
                add(r, "protection held", ST_WARN, NULL, "cannot read the root's children: %s", strerror(-rr));
                budget_top_free(&top);
                return;
        }
        char who[300] = "";
        for (size_t i = 0; i < top.n_holders; i++) {
                char m[32], lo[32];
                size_t len = strlen(who);
                int w = i < 4 ? snprintf(who + len, sizeof who - len, "%s%s min %s low %s", i ? ", " : "", top.holders[i].name,
                                         budget_format_bytes(top.holders[i].min, m, sizeof m), budget_format_bytes(top.holders[i].low, lo, sizeof lo))
                              : snprintf(who + len, sizeof who - len, ", %zu more", top.n_holders - i);
                if (w < 0 || (size_t) w >= sizeof who - len || i >= 4)
                        break;
        }
        char um[32], up[32], fm[32], fp[32];
        budget_format_bytes(top.used.min, um, sizeof um);
        budget_format_bytes(top.used.protection, up, sizeof up);
        budget_format_bytes(l.min == UINT64_MAX ? UINT64_MAX : l.min > top.used.min ? l.min - top.used.min : 0, fm, sizeof fm);
        budget_format_bytes(l.protection == UINT64_MAX ? UINT64_MAX : l.protection > top.used.protection ? l.protection - top.used.protection : 0, fp,
                            sizeof fp);
        /* The safe share is the default budget's, whatever the file says:
         * a budget raised to 150 % does not make 120 % safe. */
        uint64_t safe_min = (uint64_t) ((unsigned __int128) mem_total * BUDGET_SAFE_MIN_PERCENT / 100);
        uint64_t safe_prot = (uint64_t) ((unsigned __int128) mem_total * BUDGET_SAFE_PROTECTION_PERCENT / 100);
        bool full = (l.min != UINT64_MAX && top.used.min >= l.min) || (l.protection != UINT64_MAX && top.used.protection >= l.protection);
        bool unsafe = top.used.min > safe_min || top.used.protection > safe_prot;
        if (top.n_holders == 0)
                add(r, "protection held", ST_OK, NULL, "no child of the root holds memory.min or memory.low (%zu looked at)", top.n_children);
        else if (full || unsafe)
                add(r, "protection held", ST_WARN,
                    "find who set it (systemctl show <slice> -p MemoryMin,MemoryLow; kubelet's reservations) and lower it, or give the host more memory",
                    "the root's children hold memory.min %s and min or low together %s (%s): %s%s%s; left under the budget: min %s, protection %s", um,
                    up, who, unsafe ? "more than a safe share of RAM (50% min, 80% together)" : "", unsafe && full ? ", and " : "",
                    full ? "the budget is used up: new containers get no protection until some is given back" : "", fm, fp);
        else
                add(r, "protection held", ST_OK, NULL,
                    "the root's children hold memory.min %s and min or low together %s (%s); left under the budget: min %s, protection %s", um, up, who, fm,
                    fp);
        check_budget_owners(r, o, h, &top, mem_total);
        budget_top_free(&top);
}

/* A build step's hard limit next to the protection promised to the
 * other containers: a step may grow to its limit, and the protected
 * memory cannot be reclaimed for it, so when the two together exceed RAM
 * the step reaches the host's OOM killer before its own limit, and the
 * victim is whatever is unprotected (the engine, sshd, the CI agent). */
static void check_build_limits(struct report *r, const struct hook_opts *o, const struct cgroup_host *h) {
        _cleanup_(policy_set_free) struct policy_set set = {0};
        if (policy_set_load(o->policy_dirs, o->n_policy_dirs, true, &set) < 0)
                return; /* check_policies said so */
        struct meminfo mi;
        if (meminfo_read(o->sysroot, &mi) < 0 || mi.total == 0)
                return; /* check_memory said so */
        uint64_t held = 0;
        if (h->v2_fd >= 0 && h->v2_memory) {
                struct budget_top top;
                int rr = budget_top_read(h, &top);
                if (rr == 0 || rr == -E2BIG)
                        held = top.used.protection;
                budget_top_free(&top);
        }
        long ps = sysconf(_SC_PAGESIZE);
        char lb[32], hb[32], mb[32];
        budget_format_bytes(held, hb, sizeof hb);
        budget_format_bytes(mi.total, mb, sizeof mb);
        size_t n_limits = 0;
        bool warned = false;
        for (size_t i = 0; i < set.n; i++) {
                const struct policy_size *max = &set.items[i]->build.limit.max;
                if (!max->set)
                        continue;
                n_limits++;
                uint64_t limit = policy_size_bytes(max, mi.total, ps > 0 ? (uint64_t) ps : 4096);
                budget_format_bytes(limit, lb, sizeof lb);
                if (limit > mi.total || held > mi.total - limit) {
                        add(r, "build limits", ST_WARN,
                            "lower build.limit.max (or the protection): a step must fit in what protection leaves, times the steps that run at once",
                            "%s: a build step may use %s while containers hold %s of protection: together more than MemTotal %s, so a step "
                            "reaches the host's OOM killer before its own limit",
                            set.items[i]->name, lb, hb, mb);
                        warned = true;
                }
        }
        if (n_limits == 0)
                add(r, "build limits", ST_OK, NULL, "no policy sets build.limit.max: build steps have only the engine's limits");
        else if (!warned)
                add(r, "build limits", ST_OK, NULL, "%zu polic%s limit build steps; each limit fits beside the %s of protection held (MemTotal %s)",
                    n_limits, n_limits == 1 ? "y" : "ies", hb, mb);
}

static void check_writable(struct report *r, const char *name, const char *path) {
        /* The directory, or the nearest existing parent the hook creates it in. */
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s", path);
        struct stat st;
        while (stat(p, &st) < 0) {
                char *s = strrchr(p, '/');
                if (!s || s == p)
                        break;
                *s = '\0';
        }
        if (stat(p, &st) == 0 && !S_ISDIR(st.st_mode))
                add(r, name, ST_WARN, "remove the file or choose another path", "%s cannot be created: %s is not a directory", path, p);
        else if (access(p, W_OK) == 0)
                add(r, name, ST_OK, NULL, "%s writable", path);
        else
                add(r, name, ST_WARN, "run the hook as root; check the mount is not read-only", "%s not writable (%s)", path, p);
}

static void print_json(const struct report *r, enum status worst) {
        _cleanup_(strbuf_free) struct strbuf sb = {0};
        strbuf_printf(&sb, "{\"verdict\":\"%s\",\"checks\":[", worst == ST_FAIL ? "fail" : worst == ST_WARN ? "warn" : "ok");
        for (size_t i = 0; i < r->n; i++) {
                const struct check *c = &r->items[i];
                strbuf_puts(&sb, i ? ",{\"name\":" : "{\"name\":");
                strbuf_json_string(&sb, c->name);
                strbuf_printf(&sb, ",\"status\":\"%s\",\"finding\":", status_name[c->st]);
                strbuf_json_string(&sb, c->finding);
                strbuf_puts(&sb, ",\"fix\":");
                strbuf_json_string(&sb, c->fix);
                strbuf_puts(&sb, "}");
        }
        strbuf_puts(&sb, "]}\n");
        fputs(sb.buf ? sb.buf : "{}\n", stdout);
}

int doctor_main(struct cli *c) {
        struct hook_opts *o = &c->opts;
        struct report r = {0};
        struct cgroup_host h = { .v2_fd = -1 };
        check_cgroups(&r, o, &h);
        check_kernel(&r, o, &h);
        check_veth_queues(&r, o);
        check_memory(&r, o);
        check_platform(&r, o);
        check_engines(&r, o);
        check_dockerd_path(&r, o);
        check_policies(&r, o);
        check_budget(&r, o, &h);
        check_build_limits(&r, o, &h);
        check_writable(&r, "state dir", o->state_dir);
        char logdir[PATH_MAX];
        snprintf(logdir, sizeof logdir, "%s", o->log_file);
        char *slash = strrchr(logdir, '/');
        if (slash && slash != logdir)
                *slash = '\0';
        check_writable(&r, "log dir", logdir);
        cgroup_host_close(&h);

        enum status worst = ST_OK;
        for (size_t i = 0; i < r.n; i++)
                if (r.items[i].st > worst)
                        worst = r.items[i].st;
        if (c->json)
                print_json(&r, worst);
        else {
                for (size_t i = 0; i < r.n; i++) {
                        const struct check *k = &r.items[i];
                        printf("%-4s  %s: %s%s%s\n", status_name[k->st], k->name, k->finding, k->st != ST_OK && k->fix[0] ? " — fix: " : "",
                               k->st != ST_OK ? k->fix : "");
                }
                printf("%s\n", worst == ST_FAIL ? "doctor: protection cannot work here, or the hook is broken (FAIL above)"
                               : worst == ST_WARN ? "doctor: usable, with warnings"
                                                  : "doctor: all good");
        }
        return worst == ST_FAIL ? 1 : 0;
}
