/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Build-time generator of the hook's seccomp filter (hook/sandbox.c loads it).
 *
 * The hook used to build its filter with libseccomp on every container
 * start: a dozen probing seccomp() calls and rule compilation, about a
 * tenth of the start's cost. The allowlist does not change between starts,
 * so libseccomp compiles it here, once, when the hook is built, and
 * hook/sandbox.c loads the resulting BPF with one prctl(). The program is
 * specific to the architecture it is generated on, which is the one the
 * hook is built for (no cross builds). libseccomp's own checks (the audit
 * architecture first; x32 syscalls refused on x86-64) are part of it.
 *
 * Prints a C header with one filter per build flavour:
 *   sandbox_filter           the installed hook
 *   sandbox_filter_kp        the test build with kill points (kill, tgkill)
 *   sandbox_filter_asan      ASan/UBSan builds (the sanitizer runtime's needs)
 *   sandbox_filter_asan_kp
 *
 * Usage: seccomp-filter > seccomp-filter.h */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>
#include <linux/filter.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Every syscall the hook makes after its inputs are read, and why. */
static const int allowed[] = {
        /* files: ledger, records, cgroup and sysctl values, the log */
        SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(openat), SCMP_SYS(close), SCMP_SYS(lseek),
        SCMP_SYS(openat2),                    /* a cgroup path in one call, no symlinks (cgroup_open) */
        SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(faccessat),
        SCMP_SYS(getdents64),                 /* readdir of the records and policy dirs */
        SCMP_SYS(mkdir), SCMP_SYS(mkdirat),   /* state and log dirs on first use */
        SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2), /* atomic record/ledger writes */
        SCMP_SYS(unlink), SCMP_SYS(unlinkat), /* records of stopped containers */
        SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(fchmod),
        SCMP_SYS(flock),                      /* the ledger lock */
        SCMP_SYS(fcntl), SCMP_SYS(dup),       /* fdopendir, stdio */
        SCMP_SYS(sync),                       /* before drop_caches (build guard) */
        /* memory: malloc */
        SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect), SCMP_SYS(madvise),
        /* time and timers: bounded waits (lock, memory.reclaim, compaction) */
        SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
        SCMP_SYS(setitimer), SCMP_SYS(alarm),
        SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
        /* syslog: the socket is connected before confinement (LOG_NDELAY);
         * glibc reconnects after a syslogd restart (socket limited below) */
        SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(connect),
        /* systemd's bus (hook/dbus.c): the answer to SetUnitProperties,
         * waited for with a deadline */
        SCMP_SYS(recvmsg), SCMP_SYS(ppoll),
        /* identity and exit */
        SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getuid), SCMP_SYS(geteuid),
        SCMP_SYS(futex), SCMP_SYS(getrandom),
        SCMP_SYS(exit), SCMP_SYS(exit_group),
        SCMP_SYS(wait4), SCMP_SYS(waitid),    /* the build guard's bounded child */
        SCMP_SYS(set_robust_list),            /* glibc's fork, in the child */
        /* glibc's qsort sizes its merge buffer by physical memory
         * (sysconf(_SC_PHYS_PAGES)) once an array passes 1 KiB: 64 clamped
         * containers to top up, or a plan with 30 writes */
        SCMP_SYS(sysinfo),
};

/* test build only: raise(SIGKILL) at a kill point */
static const int allowed_killpoints[] = { SCMP_SYS(kill), SCMP_SYS(tgkill) };

/* ASan/LSan: the leak check at exit stops the world through a helper thread
 * and ptrace; symbolizing reads /proc/self/maps. Never in an installed hook. */
static const int allowed_sanitizer[] = {
        SCMP_SYS(clone), SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(prctl), SCMP_SYS(sigaltstack),
        SCMP_SYS(sched_yield), SCMP_SYS(getppid), SCMP_SYS(kill), SCMP_SYS(tgkill), SCMP_SYS(readlink),
        SCMP_SYS(readlinkat), SCMP_SYS(pipe2), SCMP_SYS(getpgid), SCMP_SYS(sched_getaffinity), SCMP_SYS(open),
        SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(getdents), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
        SCMP_SYS(prlimit64), SCMP_SYS(getrlimit), SCMP_SYS(setrlimit), SCMP_SYS(execve), SCMP_SYS(dup2),
        SCMP_SYS(ioctl), SCMP_SYS(getcwd), SCMP_SYS(uname), SCMP_SYS(munlock), SCMP_SYS(mlock),
        SCMP_SYS(socket), SCMP_SYS(close_range), SCMP_SYS(membarrier),
};

static int add_all(scmp_filter_ctx ctx, const int *list, size_t n) {
        for (size_t i = 0; i < n; i++) {
                /* an unknown syscall on this architecture (-EFAULT/-EDOM) is
                 * simply not added; a repeat (-EEXIST) is harmless */
                int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, list[i], 0);
                if (r < 0 && r != -EFAULT && r != -EDOM && r != -EEXIST) {
                        fprintf(stderr, "seccomp-filter: rule for syscall %d: %s\n", list[i], strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int build(scmp_filter_ctx ctx, bool killpoints, bool sanitized) {
        int r = add_all(ctx, allowed, ELEMENTSOF(allowed));
        if (r == 0 && killpoints)
                r = add_all(ctx, allowed_killpoints, ELEMENTSOF(allowed_killpoints));
        if (r == 0 && sanitized)
                r = add_all(ctx, allowed_sanitizer, ELEMENTSOF(allowed_sanitizer));
        if (r < 0)
                return r;
        /* hook/dbus.c: SO_ERROR after a non-blocking connect; socket-level
         * options only */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(getsockopt), 1, SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET));
        if (r == 0 && !sanitized) {
                /* syslog reconnect, systemd's private socket: AF_UNIX only,
                 * never the network */
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
                /* The build guard runs uninterruptible sysctl writes
                 * (drop_caches, compact_memory) in a child it can stop
                 * waiting for: fork-style clone only, never into new
                 * namespaces. */
                if (r == 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                             SCMP_A0(SCMP_CMP_MASKED_EQ,
                                                     CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                                                             CLONE_NEWUTS | CLONE_NEWCGROUP,
                                                     0));
                /* stdio asks whether stderr is a terminal */
                if (r == 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, TCGETS));
        }
        if (r < 0) {
                fprintf(stderr, "seccomp-filter: argument rule: %s\n", strerror(-r));
                return r;
        }
        /* Newer libc tries these first and falls back on ENOSYS; killing for
         * them would break a harmless fallback. */
        static const int enosys[] = { SCMP_SYS(clone3), SCMP_SYS(faccessat2) };
        for (size_t i = 0; i < ELEMENTSOF(enosys); i++) {
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), enosys[i], 0);
                if (r < 0 && r != -EFAULT && r != -EDOM) {
                        fprintf(stderr, "seccomp-filter: ENOSYS rule: %s\n", strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int emit(const char *name, bool killpoints, bool sanitized) {
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        if (!ctx) {
                fprintf(stderr, "seccomp-filter: seccomp_init failed\n");
                return -ENOMEM;
        }
        int r = build(ctx, killpoints, sanitized);
        int fd = r < 0 ? -1 : memfd_create("bpf", MFD_CLOEXEC);
        if (r == 0 && fd < 0)
                r = -errno;
        if (r == 0)
                r = seccomp_export_bpf(ctx, fd);
        seccomp_release(ctx);
        if (r < 0) {
                fprintf(stderr, "seccomp-filter: %s: %s\n", name, strerror(-r));
                if (fd >= 0)
                        close(fd);
                return r;
        }
        off_t size = lseek(fd, 0, SEEK_END);
        if (size <= 0 || size % sizeof(struct sock_filter) != 0 || size > BPF_MAXINSNS * (off_t) sizeof(struct sock_filter)) {
                fprintf(stderr, "seccomp-filter: %s: unexpected program size %lld\n", name, (long long) size);
                close(fd);
                return -EINVAL;
        }
        struct sock_filter prog[BPF_MAXINSNS];
        if (pread(fd, prog, (size_t) size, 0) != size) {
                fprintf(stderr, "seccomp-filter: %s: short read\n", name);
                close(fd);
                return -EIO;
        }
        close(fd);
        size_t n = (size_t) size / sizeof *prog;
        printf("static const struct sock_filter %s[%zu] __attribute__((unused)) = {\n", name, n);
        for (size_t i = 0; i < n; i++)
                printf("        { 0x%04x, %u, %u, 0x%08x },\n", prog[i].code, prog[i].jt, prog[i].jf, prog[i].k);
        printf("};\n\n");
        return 0;
}

int main(void) {
        const struct scmp_version *v = seccomp_version();
        printf("/* Generated by hook/gen/seccomp-filter.c with libseccomp %u.%u.%u: do not edit. */\n", v->major, v->minor,
               v->micro);
        printf("#define SANDBOX_LIBSECCOMP_VERSION \"%u.%u.%u\"\n\n", v->major, v->minor, v->micro);
        if (emit("sandbox_filter", false, false) < 0 || emit("sandbox_filter_kp", true, false) < 0 ||
            emit("sandbox_filter_asan", false, true) < 0 || emit("sandbox_filter_asan_kp", true, true) < 0)
                return 1;
        return fflush(stdout) == 0 ? 0 : 1;
}
