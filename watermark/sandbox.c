/* The sandboxed runner: fork, limit, exec `filigrane stamp --sandboxed`,
 * wait with a deadline, and turn whatever happened into one result.
 *
 * The worker is multi-threaded: between fork and exec the child may only
 * make system calls (another thread may have held the malloc lock at the
 * fork), so argv, envp and every fd the child needs are prepared before
 * the fork, and the child's side is a straight line of syscalls.
 *
 * The child runs as the worker's user, not a second one. Switching it to
 * another uid needs CAP_SETUID in the worker, and a worker that keeps
 * CAP_SETUID can become root again (setuid(0)): an exploited worker would
 * then own the host, which is worse than what a separate uid buys. What a
 * second uid would give (no access to other blobs or secrets.env, no
 * signals to the worker) comes from Landlock instead (watermark/landlock.h:
 * reads limited to the input, the output directory and the system files a
 * decoder needs; signals and abstract sockets scoped to the child), and
 * the child never sees the worker's secrets in its environment. */
#define _GNU_SOURCE
#include "watermark/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <linux/close_range.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/limits.h"
#include "common/setting.h"

/* ASan reserves terabytes of address space for its shadow memory at start,
 * so RLIMIT_AS would stop a sanitizer build before main. There the memory
 * limit is handed to the sanitizer's own allocator instead
 * (soft_rss_limit_mb), which makes malloc fail the same way. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_UNDER_ASAN 1
#endif
#endif

extern char **environ;

/* The stamper, opened once by wm_sandbox_pin_program. */
static int pinned_fd = -1;
static char pinned_path[PATH_MAX];

fg_result wm_sandbox_pin_program(const char *cli, fg_reason *r)
{
    if (snprintf(pinned_path, sizeof pinned_path, "%s", cli) >= (int)sizeof pinned_path)
        return fg_fail(r, FG_EUSAGE, "the stamper's path is too long");
    pinned_fd = open(cli, O_PATH | O_CLOEXEC);
    if (pinned_fd < 0)
        return fg_fail(r, FG_EIO, "cannot open the stamper program (FILIGRANE_CLI)");
    return FG_OK;
}

static fg_result parse_count(const char *name, long long max, long long *v,
                             bool suffixes, fg_reason *r)
{
    return fg_env_count(name, suffixes, 1, max, v, r);
}

fg_result wm_sandbox_limits_init(wm_sandbox_limits *l, fg_reason *r)
{
    long long mem = FG_SANDBOX_MEMORY_DEFAULT;
    long long cpu = FG_SANDBOX_CPU_DEFAULT;
    long long wall = FG_STAMP_TIMEOUT_DEFAULT;
    long long fsize = FG_SANDBOX_FILE_SIZE_DEFAULT;
    long long files = FG_SANDBOX_OPEN_FILES_DEFAULT;
    fg_result rc;
    if ((rc = parse_count("FILIGRANE_SANDBOX_MEMORY", 1LL << 46, &mem, true,
                          r)) ||
        (rc = parse_count("FILIGRANE_SANDBOX_CPU", 86400, &cpu, false, r)) ||
        (rc = parse_count("FILIGRANE_STAMP_TIMEOUT", 86400, &wall, false, r)) ||
        (rc = parse_count("FILIGRANE_SANDBOX_FILE_SIZE", 1LL << 46, &fsize,
                          true, r)) ||
        (rc = parse_count("FILIGRANE_SANDBOX_FILES", 65536, &files, false, r)))
        return rc;
    /* 64 MB is below what the CLI needs to start at all: a smaller setting
     * is a typo, not a policy. */
    if (mem < 64LL * 1024 * 1024)
        return fg_fail(r, FG_EUSAGE,
                       "bad FILIGRANE_SANDBOX_MEMORY: at least 64M is needed");
    if (files < 16)
        return fg_fail(r, FG_EUSAGE,
                       "bad FILIGRANE_SANDBOX_FILES: at least 16 are needed");
    *l = (wm_sandbox_limits){
        .address_space = mem,
        .cpu_seconds = (int)cpu,
        .wall_seconds = (int)wall,
        .file_size = fsize,
        .open_files = (int)files,
    };
    return FG_OK;
}

/* Each kind with limits of its own; 0 is "the general setting". Audio and
 * documents start with the general ones until measured. */
static const struct kind_limits {
    const char *kind;
    const char *prefix; /* of its variables */
    long long cpu, wall, memory;
} kind_limits[] = {
    {"video", "FILIGRANE_SANDBOX_VIDEO_", FG_SANDBOX_VIDEO_CPU_DEFAULT,
     FG_SANDBOX_VIDEO_TIMEOUT_DEFAULT, 0},
    {"audio", "FILIGRANE_SANDBOX_AUDIO_", 0, 0, 0},
    {"document", "FILIGRANE_SANDBOX_DOCUMENT_", 0, 0, 0},
};

/* *v: the variable prefix+suffix if set, else the larger of the kind's
 * default (def, 0 for none) and the general value already in *v. */
static fg_result kind_value(const char *prefix, const char *suffix, long long def,
                            long long min, long long max, bool bytes, long long *v,
                            fg_reason *r)
{
    char name[64];
    snprintf(name, sizeof name, "%s%s", prefix, suffix);
    long long x = def > *v ? def : *v;
    fg_result rc = fg_env_count(name, bytes, min, max, &x, r);
    if (rc == FG_OK)
        *v = x;
    return rc;
}

fg_result wm_sandbox_limits_init_kind(wm_sandbox_limits *l, const char *kind, fg_reason *r)
{
    fg_result rc = wm_sandbox_limits_init(l, r);
    if (rc != FG_OK || !kind)
        return rc;
    for (size_t i = 0; i < sizeof kind_limits / sizeof *kind_limits; i++) {
        const struct kind_limits *k = &kind_limits[i];
        if (strcmp(kind, k->kind) != 0)
            continue;
        long long cpu = l->cpu_seconds, wall = l->wall_seconds, mem = l->address_space;
        /* The same floors and ceilings as the general settings. */
        if ((rc = kind_value(k->prefix, "CPU", k->cpu, 1, 86400, false, &cpu, r)) ||
            (rc = kind_value(k->prefix, "TIMEOUT", k->wall, 1, 86400, false, &wall, r)) ||
            (rc = kind_value(k->prefix, "MEMORY", k->memory, 64LL * 1024 * 1024, 1LL << 46,
                             true, &mem, r)))
            return rc;
        l->cpu_seconds = (int)cpu;
        l->wall_seconds = (int)wall;
        l->address_space = mem;
    }
    return FG_OK;
}

fg_result wm_sandbox_limits_fit_lease(wm_sandbox_limits *l, const char *kind, long long lease,
                                      fg_reason *r)
{
    if (l->wall_seconds < lease)
        return FG_OK;
    for (size_t i = 0; i < sizeof kind_limits / sizeof *kind_limits; i++) {
        char name[64];
        if (strcmp(kind, kind_limits[i].kind) != 0)
            continue;
        snprintf(name, sizeof name, "%sTIMEOUT", kind_limits[i].prefix);
        const char *set = getenv(name);
        if (set && *set)
            return fg_fail(r, FG_EUSAGE, "FILIGRANE_JOB_LEASE must be longer than %s (%d s)",
                           name, l->wall_seconds);
    }
    l->wall_seconds = (int)(lease - 1);
    return FG_OK;
}

/* What the child needs, all allocated before the fork. */
typedef struct child_plan {
    char **argv;
    char **envp;         /* the child's environment, secrets left out */
    char *env_extra;     /* owned string envp points at, if any */
    char *in_arg;        /* "./-x" for a path that looks like an option */
    char *out_arg;
    char *poster;        /* out's companion image: removed on failure */
    int exec_fd;         /* the pinned program, or -1: exec argv[0] by path */
    int devnull;         /* stdin and stdout of the child */
    int err_w;           /* the child's stderr */
    pid_t parent;
    const wm_sandbox_limits *l;
} child_plan;

static char *path_arg(const char *p)
{
    /* A path starting with '-' would be read as an option. */
    size_t n = strlen(p) + 3;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", p[0] == '-' ? "./" : "", p);
    return s;
}

/* Variables the child must not see: an exploited decoder could read its
 * own environment, and the worker's holds every secret it was given. A
 * name is dropped when it says it holds a credential. */
static bool secret_name(const char *kv)
{
    static const char *const words[] = {"SECRET", "TOKEN", "PASSWORD", "PASSWD",
                                        "_KEY", "CREDENTIAL", "DATABASE_URL"};
    const char *eq = strchr(kv, '=');
    size_t n = eq ? (size_t)(eq - kv) : strlen(kv);
    if (strncmp(kv, "PG", 2) == 0 || strncmp(kv, "AWS_", 4) == 0)
        return true;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t w = strlen(words[i]);
        for (size_t j = 0; j + w <= n; j++)
            if (memcmp(kv + j, words[i], w) == 0)
                return true;
    }
    return false;
}

/* The child's environment: the worker's, without its secrets, and under a
 * sanitizer with the memory limit handed to the sanitizer's allocator. */
static fg_result plan_env(child_plan *p, const char *const *extra, fg_reason *r)
{
    size_t n = 0, nx = 0;
    while (environ[n])
        n++;
    while (extra && extra[nx])
        nx++;
    p->envp = calloc(n + nx + 2, sizeof *p->envp);
    if (!p->envp)
        return fg_fail(r, FG_EIO, "cannot start stamper: out of memory");
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
#ifdef SANDBOX_UNDER_ASAN
        if (strncmp(environ[i], "ASAN_OPTIONS=", 13) == 0)
            continue;
#endif
        if (!secret_name(environ[i]))
            p->envp[j++] = environ[i];
    }
    /* The caller's own additions, even when their names look secret: it
     * meant the child to have them. */
    for (size_t i = 0; i < nx; i++)
        p->envp[j++] = (char *)extra[i];
#ifdef SANDBOX_UNDER_ASAN
    const char *old = getenv("ASAN_OPTIONS");
    size_t len = (old ? strlen(old) : 0) + 96;
    p->env_extra = malloc(len);
    if (!p->env_extra)
        return fg_fail(r, FG_EIO, "cannot start stamper: out of memory");
    snprintf(p->env_extra, len,
             "ASAN_OPTIONS=%s%sallocator_may_return_null=1:"
             "soft_rss_limit_mb=%lld",
             old ? old : "", old && *old ? ":" : "",
             p->l->address_space / (1024 * 1024));
    p->envp[j++] = p->env_extra;
#endif
    p->envp[j] = NULL;
    return FG_OK;
}

static void set_limit(int res, long long soft, long long hard)
{
    struct rlimit rl = {(rlim_t)soft, (rlim_t)hard};
    (void)setrlimit(res, &rl);
}

/* The child between fork and exec: system calls only, no allocation, no
 * locks, no stdio. Any failure ends the child with 127, which the parent
 * reports as "cannot start". */
static void __attribute__((noreturn)) child_run(const child_plan *p)
{
    const wm_sandbox_limits *l = p->l;
    sigset_t none;

    /* Dispositions set to SIG_IGN and the signal mask survive exec: the
     * worker's choices for its own threads must not leak into the child. */
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa = {.sa_handler = SIG_DFL};
        (void)sigaction(sig, &sa, NULL);
    }
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);

    /* Own process group, so a timeout kills every thread and anything the
     * decoder might have started; and dies with its parent (strictly: with
     * the parent thread that forked it, which in the worker is a request
     * thread that lives as long as the process). */
    (void)setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != p->parent)
        _exit(127);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        _exit(127);

#ifndef SANDBOX_UNDER_ASAN
    set_limit(RLIMIT_AS, l->address_space, l->address_space);
#endif
    /* The soft CPU limit sends SIGXCPU, which the parent reports as such;
     * the hard one, a second later, is a SIGKILL for a child that ignores
     * it. Equal limits would skip straight to the SIGKILL. */
    set_limit(RLIMIT_CPU, l->cpu_seconds, l->cpu_seconds + 1LL);
    set_limit(RLIMIT_FSIZE, l->file_size, l->file_size);
    set_limit(RLIMIT_NOFILE, l->open_files, l->open_files);
    set_limit(RLIMIT_CORE, 0, 0);

    if (dup2(p->devnull, 0) < 0 || dup2(p->devnull, 1) < 0 ||
        dup2(p->err_w, 2) < 0)
        _exit(127);
    /* Everything else the worker had open (the FastCGI socket, database
     * handles, other children's pipes) is closed at the exec, whether or
     * not it was opened with O_CLOEXEC; the pinned program's descriptor
     * must stay open until then. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3; fd < 65536; fd++)
            if (fd != p->exec_fd)
                (void)close(fd);
    }
    /* The program opened before the worker dropped root: its directory
     * may be closed to the user the worker now runs as (a checkout under
     * /root). A script behind that descriptor cannot be run this way (its
     * interpreter would open /dev/fd/N, closed at the exec): it is run by
     * its path, which must then be reachable. */
    if (p->exec_fd >= 0) {
        syscall(SYS_execveat, p->exec_fd, "", p->argv, p->envp, AT_EMPTY_PATH);
        if (errno != ENOENT)
            _exit(127);
    }
    execve(p->argv[0], p->argv, p->envp);
    static const char msg[] = "cannot start the stamper\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The child's stderr, of which only the first line is kept, bounded. */
typedef struct errline {
    char text[FG_REASON_MAX];
    size_t len;
    bool done; /* first line complete */
} errline;

/* Reads what is there; returns false at EOF or error. */
static bool drain(int fd, errline *e)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return false;
    for (ssize_t i = 0; i < n && !e->done; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\n') {
            e->done = e->len > 0;
            continue;
        }
        if (e->len + 1 >= sizeof e->text)
            e->done = true;
        else
            e->text[e->len++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    e->text[e->len] = '\0';
    return true;
}

/* The reason the child gave, without the file it was given: the CLI says
 * "filigrane: NAME: reason" (NAME the basename), and the worker's file
 * names are not for buyers to read. */
static const char *strip_prefix(const char *s, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *names[] = {path, slash ? slash + 1 : path};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(names[i]);
        if (n && strncmp(s, names[i], n) == 0 && strncmp(s + n, ": ", 2) == 0)
            return s + n + 2;
    }
    return s;
}

static const char *child_reason(errline *e, const char *in, const char *out)
{
    const char *s = e->text;
    if (strncmp(s, "filigrane: ", 11) == 0)
        s += 11;
    s = strip_prefix(s, in);
    return strip_prefix(s, out);
}

static const char *signal_word(int sig)
{
    switch (sig) {
    case SIGSEGV: return "segmentation fault";
    case SIGBUS: return "bus error";
    case SIGABRT: return "aborted";
    case SIGILL: return "illegal instruction";
    case SIGFPE: return "arithmetic fault";
    case SIGSYS: return "forbidden system call";
    case SIGKILL: return "killed";
    default: return "signal";
    }
}

static fg_result map_status(int st, bool timed_out, const wm_sandbox_limits *l,
                            errline *e, const char *in, const char *out,
                            fg_reason *r)
{
    const char *why = child_reason(e, in, out);
    if (st == -1)
        return fg_fail(r, FG_EIO, "stamper status lost: SIGCHLD is ignored");
    if (timed_out)
        return fg_fail(r, FG_ETIMEOUT, "preview timed out after %d s",
                       l->wall_seconds);
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        if (sig == SIGXCPU)
            return fg_fail(r, FG_ETIMEOUT,
                           "preview used more than %d s of cpu time",
                           l->cpu_seconds);
        if (sig == SIGXFSZ)
            return fg_fail(r, FG_ELIMIT,
                           "preview larger than the sandbox file size limit");
        if (*why)
            return fg_fail(r, FG_ECRASH, "decoder crashed (signal %d, %s): %s",
                           sig, signal_word(sig), why);
        return fg_fail(r, FG_ECRASH, "decoder crashed (signal %d, %s)", sig,
                       signal_word(sig));
    }
    if (!WIFEXITED(st))
        return fg_fail(r, FG_ECRASH, "decoder stopped unexpectedly");
    fg_result code;
    switch (WEXITSTATUS(st)) {
    case 0: return FG_OK;
    case 2: code = FG_EUSAGE; break;
    case 3: code = FG_EUNSUPPORTED; break;
    case 4: code = FG_ECORRUPT; break;
    case 5: code = FG_ELIMIT; break;
    case 127: return fg_fail(r, FG_EIO, "cannot start the stamper");
    default:
        if (*why)
            return fg_fail(r, FG_EIO, "%s", why);
        return fg_fail(r, FG_EIO, "stamper failed (exit %d)", WEXITSTATUS(st));
    }
    if (*why)
        return fg_fail(r, code, "%s", why);
    return fg_fail(r, code, "stamper failed: %s", fg_result_name(code));
}

/* Waits for the child until the deadline, reading its stderr meanwhile.
 * Returns true if it had to be killed. *st is always set: the child is
 * reaped on every path, so no zombie is left behind. */
static bool wait_child(pid_t pid, int err_r, int wall_seconds, errline *e,
                       int *st)
{
    long long deadline = now_ms() + (long long)wall_seconds * 1000;
    int pidfd = pidfd_open(pid, 0);
    bool pipe_open = true;
    bool killed = false;

    for (;;) {
        pid_t w = waitpid(pid, st, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            /* Someone else reaped it (SIGCHLD set to SIG_IGN): its result
             * is lost, and must not pass for a success. */
            *st = -1;
            break;
        }
        long long left = deadline - now_ms();
        if (left <= 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, st, 0) < 0 && errno == EINTR)
                ;
            killed = true;
            break;
        }
        struct pollfd fds[2];
        int n = 0;
        if (pipe_open)
            fds[n++] = (struct pollfd){.fd = err_r, .events = POLLIN};
        if (pidfd >= 0)
            fds[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        /* Without a pidfd (kernels before 5.3) the exit is noticed by
         * polling waitpid every 20 ms. */
        int slice = pidfd >= 0 ? (int)(left > 60000 ? 60000 : left)
                               : (int)(left > 20 ? 20 : left);
        if (n == 0) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        int pr = poll(fds, (nfds_t)n, slice);
        if (pr > 0 && pipe_open && fds[0].revents)
            pipe_open = drain(err_r, e);
    }
    /* The child is gone; whatever it wrote is still in the pipe. */
    if (!killed)
        while (pipe_open && (pipe_open = drain(err_r, e)))
            ;
    if (pidfd >= 0)
        close(pidfd);
    return killed;
}

/* A child killed at the deadline or by a signal had no chance to remove
 * its half-written preview: the temp file watermark/outfile.c makes next
 * to out, ".<name of out>.tmp-XXXXXX". Only names of that exact form are
 * removed, so nothing else in a caller's directory is touched. */
static void remove_child_temps(const char *out)
{
    char dir[4096], prefix[512];
    const char *slash = strrchr(out, '/');
    const char *base = slash ? slash + 1 : out;
    int n = !slash         ? snprintf(dir, sizeof dir, ".")
            : slash == out ? snprintf(dir, sizeof dir, "/")
                           : snprintf(dir, sizeof dir, "%.*s", (int)(slash - out), out);
    if (n < 0 || n >= (int)sizeof dir ||
        snprintf(prefix, sizeof prefix, ".%s.tmp-", base) >= (int)sizeof prefix)
        return;
    size_t plen = strlen(prefix);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, plen) == 0 && strlen(e->d_name) == plen + 6)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

fg_result wm_sandbox_stamp(const char *cli, const char *in, const char *out,
                           const char *const *args, const wm_sandbox_limits *l,
                           fg_reason *r)
{
    return wm_sandbox_stamp_env(cli, in, out, args, NULL, l, r);
}

fg_result wm_sandbox_stamp_env(const char *cli, const char *in, const char *out,
                               const char *const *args, const char *const *env,
                               const wm_sandbox_limits *l, fg_reason *r)
{
    child_plan p = {.exec_fd = -1, .devnull = -1, .err_w = -1, .l = l};
    int err_r = -1;
    fg_result rc = FG_OK;
    size_t nargs = 0;

    while (args && args[nargs])
        nargs++;
    if (nargs > FG_SANDBOX_MAX_ARGS) {
        rc = fg_fail(r, FG_EUSAGE, "too many stamp options (at most %d)",
                     FG_SANDBOX_MAX_ARGS);
        goto out;
    }
    p.argv = calloc(nargs + 6, sizeof *p.argv);
    p.in_arg = path_arg(in);
    p.out_arg = path_arg(out);
    size_t plen = strlen(out) + sizeof WM_POSTER_SUFFIX;
    if ((p.poster = malloc(plen)))
        snprintf(p.poster, plen, "%s%s", out, WM_POSTER_SUFFIX);
    if (!p.argv || !p.in_arg || !p.out_arg || !p.poster) {
        rc = fg_fail(r, FG_EIO, "cannot start stamper: out of memory");
        goto out;
    }
    size_t k = 0;
    p.argv[k++] = (char *)cli;
    p.argv[k++] = (char *)"stamp";
    p.argv[k++] = (char *)"--sandboxed";
    for (size_t i = 0; i < nargs; i++)
        p.argv[k++] = (char *)args[i];
    p.argv[k++] = p.in_arg;
    p.argv[k++] = p.out_arg;
    p.argv[k] = NULL;
    if ((rc = plan_env(&p, env, r)))
        goto out;
    if (pinned_fd >= 0 && strcmp(cli, pinned_path) == 0)
        p.exec_fd = pinned_fd;

    int pfd[2];
    p.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (p.devnull < 0 || pipe2(pfd, O_CLOEXEC) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot start stamper: out of file descriptors");
        goto out;
    }
    err_r = pfd[0];
    p.err_w = pfd[1];
    p.parent = getpid();

    pid_t pid = fork();
    if (pid < 0) {
        rc = fg_fail(r, FG_EIO, "cannot start stamper: fork failed");
        goto out;
    }
    if (pid == 0)
        child_run(&p);
    /* Also here, so that a kill at the deadline reaches the group even if
     * the child has not run its setpgid yet. */
    (void)setpgid(pid, pid);
    close(p.err_w);
    p.err_w = -1;

    errline e = {.len = 0};
    int st = 0;
    bool killed = wait_child(pid, err_r, l->wall_seconds, &e, &st);
    rc = map_status(st, killed, l, &e, in, out, r);
    if (killed || (st != -1 && WIFSIGNALED(st))) {
        remove_child_temps(out);
        remove_child_temps(p.poster);
    }

out:
    /* Nothing is left of a failure: neither the preview nor its companion
     * image (WM_POSTER_SUFFIX), which the child may have finished first. */
    if (rc != FG_OK) {
        (void)unlink(out);
        if (p.poster)
            (void)unlink(p.poster);
    }
    if (err_r >= 0)
        close(err_r);
    if (p.err_w >= 0)
        close(p.err_w);
    if (p.devnull >= 0)
        close(p.devnull);
    free(p.argv);
    free(p.envp);
    free(p.env_extra);
    free(p.in_arg);
    free(p.out_arg);
    free(p.poster);
    return rc;
}
