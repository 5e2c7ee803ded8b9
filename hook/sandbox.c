/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Self-confinement (SPEC §9). The hook runs as root on input container
 * users partly control; once its inputs are read it only needs to write a
 * few files, so it gives up everything else: no new privileges, and a
 * seccomp allowlist whose default is to kill the process. */
#include "sandbox.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>

#if defined(__SANITIZE_ADDRESS__)
#define MEMGUARD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMGUARD_SANITIZED 1
#endif
#endif

static void seccomp_releasep(scmp_filter_ctx *ctx) {
        if (*ctx)
                seccomp_release(*ctx);
}

/* Every syscall the hook makes after its inputs are read, and why. */
static const int allowed[] = {
        /* files: ledger, records, cgroup and sysctl values, the log */
        SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(openat), SCMP_SYS(close), SCMP_SYS(lseek),
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
        /* sd-bus (hook/systemd.c): systemd's answer to SetUnitProperties,
         * waited for with a deadline */
        SCMP_SYS(recvmsg), SCMP_SYS(ppoll), SCMP_SYS(getsockname),
        /* identity and exit */
        SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getuid), SCMP_SYS(geteuid),
        SCMP_SYS(futex), SCMP_SYS(getrandom),
        SCMP_SYS(exit), SCMP_SYS(exit_group),
        SCMP_SYS(wait4), SCMP_SYS(waitid),    /* the build guard's bounded child */
        SCMP_SYS(set_robust_list),            /* glibc's fork, in the child */
#ifdef MEMGUARD_KILLPOINTS
        /* test build only: raise(SIGKILL) at a kill point */
        SCMP_SYS(kill), SCMP_SYS(tgkill),
#endif
#ifdef MEMGUARD_SANITIZED
        /* ASan/LSan: the leak check at exit stops the world through a
         * helper thread and ptrace; symbolizing reads /proc/self/maps. */
        SCMP_SYS(clone), SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(prctl), SCMP_SYS(sigaltstack),
        SCMP_SYS(sched_yield), SCMP_SYS(getppid), SCMP_SYS(kill), SCMP_SYS(tgkill), SCMP_SYS(readlink),
        SCMP_SYS(readlinkat), SCMP_SYS(pipe2), SCMP_SYS(getpgid), SCMP_SYS(sched_getaffinity), SCMP_SYS(open),
        SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(getdents), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
        SCMP_SYS(prlimit64), SCMP_SYS(getrlimit), SCMP_SYS(setrlimit), SCMP_SYS(execve), SCMP_SYS(dup2),
        SCMP_SYS(ioctl), SCMP_SYS(getcwd), SCMP_SYS(uname), SCMP_SYS(munlock), SCMP_SYS(mlock),
        SCMP_SYS(socket), SCMP_SYS(close_range), SCMP_SYS(membarrier),
#endif
};

int sandbox_enter(bool disabled, struct outcome *out) {
        if (disabled) {
                outcome_skip(out, "seccomp disabled (--no-seccomp)");
                return 0;
        }
        /* No setuid or file capability can raise privileges from here on
         * (required to load a filter without CAP_SYS_ADMIN, and right anyway). */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                outcome_error(out, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
                return -errno;
        }
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        if (!ctx) {
                outcome_error(out, "seccomp_init failed");
                return -ENOMEM;
        }
        int r;
        for (size_t i = 0; i < ELEMENTSOF(allowed); i++) {
                /* libseccomp returns negative errno; an unknown syscall on
                 * this architecture (-EFAULT/-EDOM) is simply not added. */
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
                if (r < 0 && r != -EFAULT && r != -EDOM && r != -EEXIST) {
                        outcome_error(out, "seccomp rule %d: %s", allowed[i], strerror(-r));
                        return r;
                }
        }
        /* sd-bus: options of its AF_UNIX connection only (buffer sizes,
         * SO_PEERCRED/SO_PEERSEC/SO_PEERGROUPS of systemd, SO_ACCEPTCONN) */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(getsockopt), 1, SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET));
        if (r < 0)
                goto fail;
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setsockopt), 1, SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET));
        if (r < 0)
                goto fail;
#ifndef MEMGUARD_SANITIZED
        /* syslog reconnect: AF_UNIX only, never the network */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        if (r < 0)
                goto fail;
        /* The build guard runs uninterruptible sysctl writes (drop_caches,
         * compact_memory) in a child it can stop waiting for: fork-style
         * clone only, never into new namespaces. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                                                                 CLONE_NEWUTS | CLONE_NEWCGROUP,
                                     0));
        if (r < 0)
                goto fail;
        /* stdio asks whether stderr is a terminal */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, TCGETS));
        if (r < 0)
                goto fail;
#endif
        /* Newer libc tries these first and falls back on ENOSYS; killing
         * for them would break a harmless fallback. */
        static const int enosys[] = { SCMP_SYS(clone3), SCMP_SYS(openat2), SCMP_SYS(faccessat2) };
        for (size_t i = 0; i < ELEMENTSOF(enosys); i++) {
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), enosys[i], 0);
                if (r < 0 && r != -EFAULT && r != -EDOM)
                        goto fail;
        }
        r = seccomp_load(ctx);
        if (r < 0)
                goto fail;
        return 0;
fail:
        outcome_error(out, "seccomp: %s: continuing unconfined", strerror(-r));
        return r;
}
