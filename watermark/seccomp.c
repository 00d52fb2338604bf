/* The seccomp filter of the sandboxed stamper, and its test hooks.
 *
 * A deny list, not an allow list: libvips, glib, poppler, cairo, pango and
 * fontconfig between them use well over a hundred system calls, differing
 * with the library versions and the file decoded, and an allow list that
 * misses one kills an innocent preview in production. What a decoder
 * exploit would need to hurt anyone beyond its own (rlimited, short-lived,
 * output-only) process is a short list: the network, new programs, other
 * processes' memory, and kernel administration. Those are denied. */
#define _GNU_SOURCE
#include "watermark/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Killed on sight: no decoder has a reason to call these. */
static const char *const kill_list[] = {
    "execve", "execveat",                        /* no new programs */
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "pidfd_getfd",                               /* no other processes */
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "setns", "unshare",                          /* no new namespaces */
    "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "reboot", "swapon", "swapoff", "acct", "syslog",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "iopl", "ioperm", "quotactl", "vhangup", "lookup_dcookie",
    "bpf", "perf_event_open", "userfaultfd",     /* kernel attack surface */
    "keyctl", "add_key", "request_key", "personality",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
};

/* Refused with EPERM rather than killed: a library probing for a network
 * (a font or colour-profile lookup) gets an error it handles, and an
 * exploit gets no socket either way. socketpair stays: it reaches no one. */
static const char *const errno_list[] = {
    "socket", "connect", "bind", "listen", "accept", "accept4",
};

/* The converter's sockets: LibreOffice will not start without its one
 * AF_UNIX pipe (the single-instance check, in its own directory: see
 * watermark/office.c), which it binds and listens on. Sockets of every
 * other family stay refused, so no network; and connect is refused
 * whatever the socket, so nothing on the host is reached through one. */
static int unix_sockets_only(scmp_filter_ctx ctx)
{
    int nr = seccomp_syscall_resolve_name("socket");
    int rc = 0;
    if (nr != __NR_SCMP_ERROR)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
    /* No connect at all: a pathname socket is reached by its path, which
     * Landlock does not guard on every kernel (the worker's own FastCGI
     * socket belongs to the same user). LibreOffice's pipe only listens. */
    nr = seccomp_syscall_resolve_name("connect");
    if ((rc == 0 || rc == -EDOM) && nr != __NR_SCMP_ERROR)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    return rc == -EDOM ? 0 : rc;
}

/* LeakSanitizer stops the world with ptrace when the process exits: in a
 * sanitizer build ptrace stays allowed, or every child would die of its
 * own leak check. */
#if defined(__SANITIZE_ADDRESS__)
#define SECCOMP_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECCOMP_UNDER_ASAN 1
#endif
#endif

static int add_rules(scmp_filter_ctx ctx, const char *const *names, size_t n,
                     uint32_t action, bool allow_exec)
{
    for (size_t i = 0; i < n; i++) {
        /* The office converter's profile: it execs LibreOffice, which
         * needs its AF_UNIX pipe (unix_sockets_only replaces the socket
         * rules). */
        if (allow_exec && (strncmp(names[i], "execve", 6) == 0 ||
                           action == SCMP_ACT_ERRNO(EPERM)))
            continue;
#ifdef SECCOMP_UNDER_ASAN
        if (strcmp(names[i], "ptrace") == 0)
            continue;
#endif
        int nr = seccomp_syscall_resolve_name(names[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture or this libseccomp */
        int rc = seccomp_rule_add(ctx, action, nr, 0);
        /* -EDOM: a pseudo syscall this architecture lacks. */
        if (rc != 0 && rc != -EDOM)
            return rc;
    }
    return 0;
}

#ifdef FG_TEST_HOOKS
/* Compiled into the test copy of the CLI only (Makefile: filigrane-hooks):
 * the release binary has no way to crash, hang or misbehave on request. */
static void run_test_hook(void)
{
    const char *hook = getenv("FILIGRANE_TEST_HOOK");
    if (!hook || !*hook)
        return;
    if (strcmp(hook, "hang") == 0) {
        for (;;)
            pause();
    } else if (strcmp(hook, "spin") == 0) {
        for (volatile unsigned long i = 0;; i++)
            ;
    } else if (strcmp(hook, "crash") == 0) {
        /* A sanitizer build would catch SIGSEGV and exit with a report:
         * back to the default action, as an unsanitized crash. */
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
    } else if (strcmp(hook, "oom") == 0) {
        size_t chunk = 16u << 20;
        for (;;) {
            char *p = malloc(chunk);
            if (!p) {
                fputs("out of memory\n", stderr);
                abort();
            }
            memset(p, 0x5a, chunk);
        }
    } else if (strcmp(hook, "socket") == 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) {
            fputs("socket opened\n", stderr);
            exit(0);
        }
        fprintf(stderr, "socket refused: %s\n",
                errno == EPERM ? "operation not permitted" : "other error");
        exit(1);
    } else if (strcmp(hook, "write") == 0) {
        /* Tries to create the file FILIGRANE_TEST_WRITE_PATH names. */
        const char *p = getenv("FILIGRANE_TEST_WRITE_PATH");
        int fd = p ? open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
        if (fd >= 0) {
            fputs("file written\n", stderr);
            exit(0);
        }
        fprintf(stderr, "write refused: %s\n",
                errno == EACCES ? "permission denied" : "other error");
        exit(1);
    } else if (strcmp(hook, "read") == 0) {
        /* Tries to read the file FILIGRANE_TEST_READ_PATH names. */
        const char *p = getenv("FILIGRANE_TEST_READ_PATH");
        int fd = p ? open(p, O_RDONLY) : -1;
        if (fd >= 0) {
            fputs("file read\n", stderr);
            exit(1);
        }
        fprintf(stderr, "read refused: %s\n",
                errno == EACCES ? "permission denied" : "other error");
        exit(1);
    } else if (strcmp(hook, "signal") == 0) {
        /* Tries to signal its parent (the worker). */
        if (kill(getppid(), SIGCONT) == 0) {
            fputs("parent signalled\n", stderr);
            exit(1);
        }
        fprintf(stderr, "signal refused: %s\n",
                errno == EPERM ? "operation not permitted" : "other error");
        exit(1);
    } else if (strcmp(hook, "env") == 0) {
        fprintf(stderr, "environment: %s\n",
                getenv("FILIGRANE_JWT_SECRET") || getenv("FILIGRANE_METRICS_TOKEN")
                    ? "secrets visible"
                    : "no secrets");
        exit(1);
    } else if (strcmp(hook, "exec") == 0) {
        execl("/bin/true", "true", (char *)NULL);
        fputs("exec failed\n", stderr);
        exit(1);
    }
}
#endif

static bool active;

bool wm_sandbox_active(void)
{
    return active;
}

static fg_result load_filter(bool allow_exec, fg_reason *r)
{
    fg_result rc = FG_OK;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        rc = fg_fail(r, FG_EIO, "cannot set up the sandbox: seccomp unavailable");
        goto out;
    }
    /* Threads libvips or glib started already get the filter too. */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0 ||
        add_rules(ctx, kill_list, sizeof kill_list / sizeof *kill_list,
                  SCMP_ACT_KILL_PROCESS, allow_exec) != 0 ||
        add_rules(ctx, errno_list, sizeof errno_list / sizeof *errno_list,
                  SCMP_ACT_ERRNO(EPERM), allow_exec) != 0 ||
        (allow_exec && unix_sockets_only(ctx) != 0)) {
        rc = fg_fail(r, FG_EIO, "cannot set up the sandbox: bad seccomp rule");
        goto out;
    }
    /* libseccomp sets PR_SET_NO_NEW_PRIVS itself; say so explicitly, since
     * a process run outside wm_sandbox_stamp needs it for the filter. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || seccomp_load(ctx) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot set up the sandbox: filter refused");
        goto out;
    }
out:
    seccomp_release(ctx);
    return rc;
}

fg_result wm_sandbox_enter(fg_reason *r)
{
    fg_result rc = load_filter(false, r);
    if (rc == FG_OK)
        active = true;
#ifdef FG_TEST_HOOKS
    if (rc == FG_OK)
        run_test_hook();
#endif
    return rc;
}

fg_result wm_sandbox_enter_converter(fg_reason *r)
{
    return load_filter(true, r);
}
