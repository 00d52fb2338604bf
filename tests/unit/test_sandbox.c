/* The sandboxed runner, driven through the real CLI binary: a normal
 * stamp, and every way a child can fail (hang, CPU burn, crash, memory
 * exhaustion, a forbidden system call) forced by FILIGRANE_TEST_HOOK. */
#define _GNU_SOURCE
#include <cairo.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/limits.h"
#include "watermark/sandbox.h"

#include <linux/landlock.h>
#include <sys/syscall.h>
#define TAP_MAIN
#include "tests/unit/tap.h"

#include "tests/unit/cli_fixture.h"

static char png[700], out[700];

static void setup(void)
{
    if (cli[0])
        return;
    fixture_setup("fg-sandbox");
    snprintf(png, sizeof png, "%s/photo.png", dir);
    snprintf(out, sizeof out, "%s/preview.jpg", dir);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 320, 200);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0.2, 0.5, 0.8);
    cairo_paint(cr);
    cairo_destroy(cr);
    if (cairo_surface_write_to_png(s, png) != CAIRO_STATUS_SUCCESS)
        abort();
    cairo_surface_destroy(s);
}

static wm_sandbox_limits limits(void)
{
    wm_sandbox_limits l;
    fg_reason r = {{0}};
    unsetenv("FILIGRANE_SANDBOX_MEMORY");
    if (wm_sandbox_limits_init(&l, &r) != FG_OK)
        abort();
    return l;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static fg_result run_hook(const char *hook, const wm_sandbox_limits *l,
                          fg_reason *r)
{
    setup();
    setenv("FILIGRANE_TEST_HOOK", hook, 1);
    fg_result rc = wm_sandbox_stamp(hooks_cli, png, out, NULL, l, r);
    unsetenv("FILIGRANE_TEST_HOOK");
    return rc;
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void touch(const char *p)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "partial", 7) != 7)
        abort();
    close(fd);
}

TEST("a normal stamp through the sandbox writes a JPEG preview")
{
    setup();
    wm_sandbox_limits l = limits();
    fg_reason r = {{0}};
    unlink(out);
    const char *args[] = {"--var", "order=ord-1", NULL};
    CHECK_INT(wm_sandbox_stamp(cli, png, out, args, &l, &r), FG_OK);
    FILE *f = fopen(out, "rb");
    CHECK(f);
    unsigned char head[3] = {0};
    size_t n = fread(head, 1, 3, f);
    fclose(f);
    CHECK_INT(n, 3);
    CHECK(head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff);
}

TEST("a child that hangs is killed at the wall-clock limit: timeout")
{
    wm_sandbox_limits l = limits();
    l.wall_seconds = 2;
    fg_reason r = {{0}};
    setup();
    touch(out);
    double t0 = now();
    CHECK_INT(run_hook("hang", &l, &r), FG_ETIMEOUT);
    double dt = now() - t0;
    CHECK(dt >= 1.9 && dt < 3.5);
    CHECK_STR(r.text, "preview timed out after 2 s");
    CHECK(!exists(out));
}

TEST("a child that burns cpu is stopped by its cpu limit")
{
    wm_sandbox_limits l = limits();
    l.cpu_seconds = 1;
    l.wall_seconds = 20;
    fg_reason r = {{0}};
    double t0 = now();
    CHECK_INT(run_hook("spin", &l, &r), FG_ETIMEOUT);
    CHECK(now() - t0 < 10);
    CHECK_STR(r.text, "preview used more than 1 s of cpu time");
}

TEST("a child that crashes is reported as a crash with its signal")
{
    wm_sandbox_limits l = limits();
    fg_reason r = {{0}};
    setup();
    touch(out);
    CHECK_INT(run_hook("crash", &l, &r), FG_ECRASH);
    CHECK(strstr(r.text, "decoder crashed (signal 11") == r.text);
    CHECK(!exists(out));
}

TEST("a child that runs out of memory under its limit fails with a reason")
{
    wm_sandbox_limits l = limits();
    l.address_space = 256LL << 20;
    fg_reason r = {{0}};
    CHECK_INT(run_hook("oom", &l, &r), FG_ECRASH);
    CHECK(strstr(r.text, "decoder crashed (signal 6, aborted): ") == r.text);
    /* In a sanitizer build, the sanitizer's allocator enforces the limit
     * and says so first. */
    CHECK(strstr(r.text, "out of memory") || strstr(r.text, "rss limit"));
}

/* Landlock is in the kernel when its ABI version can be asked. */
static bool kernel_has_landlock(void)
{
    return syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) >= 1;
}

TEST("a sandboxed child can write beside its output and nowhere else")
{
    setup();
    wm_sandbox_limits l = limits();
    fg_reason r = {{0}};
    char sub[700], inside[760], outside[760], sub_out[760];
    snprintf(sub, sizeof sub, "%s/job", dir);
    CHECK(mkdir(sub, 0755) == 0 || errno == EEXIST);
    snprintf(sub_out, sizeof sub_out, "%s/preview.jpg", sub);
    snprintf(inside, sizeof inside, "%s/scratch.tmp", sub);
    snprintf(outside, sizeof outside, "%s/original.bin", dir); /* beside the job: a blob */

    setenv("FILIGRANE_TEST_HOOK", "write", 1);
    setenv("FILIGRANE_TEST_WRITE_PATH", inside, 1);
    fg_result rc = wm_sandbox_stamp(hooks_cli, png, sub_out, NULL, &l, &r);
    CHECK_INT(rc, FG_OK);
    CHECK(exists(inside));

    setenv("FILIGRANE_TEST_WRITE_PATH", outside, 1);
    rc = wm_sandbox_stamp(hooks_cli, png, sub_out, NULL, &l, &r);
    unsetenv("FILIGRANE_TEST_HOOK");
    unsetenv("FILIGRANE_TEST_WRITE_PATH");
    if (kernel_has_landlock()) {
        CHECK(rc != FG_OK);
        CHECK_STR(r.text, "write refused: permission denied");
        CHECK(!exists(outside));
    } else {
        /* The documented fallback: seccomp and rlimits only. */
        CHECK_INT(rc, FG_OK);
    }
}

static int landlock_abi(void)
{
    return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
}

/* The layout of a data directory: the job's own directory beside
 * secrets.env and another stored original, all readable by this user. */
static fg_result try_read(const char *target, fg_reason *r)
{
    wm_sandbox_limits l = limits();
    char job[700], job_out[760];
    snprintf(job, sizeof job, "%s/stamp-job", dir);
    if (mkdir(job, 0700) != 0 && errno != EEXIST)
        abort();
    snprintf(job_out, sizeof job_out, "%s/preview", job);
    setenv("FILIGRANE_TEST_HOOK", "read", 1);
    setenv("FILIGRANE_TEST_READ_PATH", target, 1);
    fg_result rc = wm_sandbox_stamp(hooks_cli, png, job_out, NULL, &l, r);
    unsetenv("FILIGRANE_TEST_HOOK");
    unsetenv("FILIGRANE_TEST_READ_PATH");
    return rc;
}

static void write_text(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

TEST("a sandboxed child cannot read secrets.env, another blob or /etc/shadow")
{
    setup();
    fg_reason r = {{0}};
    char secrets[700], blob[700];
    snprintf(secrets, sizeof secrets, "%s/secrets.env", dir);
    snprintf(blob, sizeof blob, "%s/other-original.jpg", dir);
    write_text(secrets, "FILIGRANE_JWT_SECRET=not-for-decoders\n");
    write_text(blob, "another seller's original\n");
    const char *targets[] = {secrets, blob, "/etc/shadow", "/etc/passwd", "/root", "/proc/1/environ"};
    if (landlock_abi() < 1) {
        printf("# no Landlock on this kernel: reads are not confined\n");
        return;
    }
    for (int i = 0; i < 6; i++) {
        CHECK(try_read(targets[i], &r) != FG_OK);
        CHECK_STR(r.text, "read refused: permission denied");
    }
}

TEST("a sandboxed child can still read its own input and the system's fonts")
{
    setup();
    fg_reason r = {{0}};
    try_read(png, &r);
    CHECK_STR(r.text, "file read");
    try_read("/etc/fonts/fonts.conf", &r);
    CHECK_STR(r.text, "file read");
}

TEST("a sandboxed child cannot signal the process that started it")
{
    fg_reason r = {{0}};
    wm_sandbox_limits l = limits();
    if (landlock_abi() < 6) {
        printf("# Landlock before ABI 6 cannot scope signals\n");
        return;
    }
    run_hook("signal", &l, &r);
    CHECK_STR(r.text, "signal refused: operation not permitted");
}

TEST("a sandboxed child does not inherit the worker's secrets")
{
    fg_reason r = {{0}};
    wm_sandbox_limits l = limits();
    setenv("FILIGRANE_JWT_SECRET", "jwt-secret-the-child-must-not-see-0123456789", 1);
    setenv("FILIGRANE_METRICS_TOKEN", "metrics-token-0123456789", 1);
    run_hook("env", &l, &r);
    CHECK_STR(r.text, "environment: no secrets");
    unsetenv("FILIGRANE_JWT_SECRET");
    unsetenv("FILIGRANE_METRICS_TOKEN");
    /* The test sees what it set: the hook would report it if passed on. */
    CHECK(getenv("FILIGRANE_JWT_SECRET") == NULL);
}

TEST("a pinned stamper runs through its descriptor even once its path is gone")
{
    setup();
    fg_reason r = {{0}};
    wm_sandbox_limits l = limits();
    char copy[700], cmd[1600];
    snprintf(copy, sizeof copy, "%s/pinned-filigrane", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", cli, copy);
    CHECK(system(cmd) == 0);
    CHECK_INT(wm_sandbox_pin_program(copy, &r), FG_OK);
    /* Stands for a checkout the worker can no longer reach after
     * dropping root: the path fails, the descriptor still runs. */
    CHECK(unlink(copy) == 0);
    unlink(out);
    CHECK_INT(wm_sandbox_stamp(copy, png, out, NULL, &l, &r), FG_OK);
    CHECK(exists(out));
}

TEST("a sandboxed child cannot open a socket")
{
    wm_sandbox_limits l = limits();
    fg_reason r = {{0}};
    fg_result rc = run_hook("socket", &l, &r);
    CHECK(rc != FG_OK);
    CHECK_STR(r.text, "socket refused: operation not permitted");
}

TEST("a sandboxed child that tries to run a program is killed")
{
    wm_sandbox_limits l = limits();
    fg_reason r = {{0}};
    CHECK_INT(run_hook("exec", &l, &r), FG_ECRASH);
    CHECK(strstr(r.text, "forbidden system call") != NULL);
}

TEST("the child's exit code comes back as its result, without the path")
{
    setup();
    wm_sandbox_limits l = limits();
    fg_reason r = {{0}};
    char txt[700];
    snprintf(txt, sizeof txt, "%s/notes.jpg", dir);
    FILE *f = fopen(txt, "w");
    CHECK(f);
    fputs("this is not a jpeg at all\n", f);
    fclose(f);
    fg_result rc = wm_sandbox_stamp(cli, txt, out, NULL, &l, &r);
    CHECK(rc == FG_ECORRUPT || rc == FG_EUNSUPPORTED);
    CHECK(r.text[0] != '\0');
    CHECK(strstr(r.text, dir) == NULL);
    CHECK(!exists(out));

    const char *bad[] = {"--opacity", "seven", NULL};
    CHECK_INT(wm_sandbox_stamp(cli, png, out, bad, &l, &r), FG_EUSAGE);
    CHECK(!exists(out));
}

TEST("a missing CLI is an error, not a hang")
{
    setup();
    wm_sandbox_limits l = limits();
    fg_reason r = {{0}};
    CHECK_INT(wm_sandbox_stamp("/nonexistent/filigrane", png, out, NULL, &l, &r),
              FG_EIO);
    CHECK_STR(r.text, "cannot start the stamper");
}

TEST("a child reaped behind our back (SIGCHLD ignored) is not a success")
{
    setup();
    wm_sandbox_limits l = limits();
    fg_reason r = {{0}};
    signal(SIGCHLD, SIG_IGN);
    fg_result rc = wm_sandbox_stamp(cli, png, out, NULL, &l, &r);
    signal(SIGCHLD, SIG_DFL);
    CHECK_INT(rc, FG_EIO);
    CHECK_STR(r.text, "stamper status lost: SIGCHLD is ignored");
    CHECK(!exists(out));
}

TEST("no child is left behind: every child was reaped")
{
    errno = 0;
    CHECK_INT(waitpid(-1, NULL, WNOHANG), -1);
    CHECK_INT(errno, ECHILD);
}

TEST("limits come from the environment, and a malformed one is refused")
{
    wm_sandbox_limits l;
    fg_reason r = {{0}};
    setenv("FILIGRANE_SANDBOX_MEMORY", "512M", 1);
    setenv("FILIGRANE_STAMP_TIMEOUT", "7", 1);
    CHECK_INT(wm_sandbox_limits_init(&l, &r), FG_OK);
    CHECK_INT(l.address_space, 512LL << 20);
    CHECK_INT(l.wall_seconds, 7);
    setenv("FILIGRANE_STAMP_TIMEOUT", "7s", 1);
    CHECK_INT(wm_sandbox_limits_init(&l, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_STAMP_TIMEOUT") != NULL);
    setenv("FILIGRANE_STAMP_TIMEOUT", "-1", 1);
    CHECK_INT(wm_sandbox_limits_init(&l, &r), FG_EUSAGE);
    unsetenv("FILIGRANE_STAMP_TIMEOUT");
    setenv("FILIGRANE_SANDBOX_MEMORY", "1k", 1);
    CHECK_INT(wm_sandbox_limits_init(&l, &r), FG_EUSAGE);
    unsetenv("FILIGRANE_SANDBOX_MEMORY");
    CHECK_INT(wm_sandbox_limits_init(&l, &r), FG_OK);
    CHECK_INT(l.wall_seconds, FG_STAMP_TIMEOUT_DEFAULT);
}

TEST("a video gets its own limits, from FILIGRANE_SANDBOX_VIDEO_* or its defaults, never below the general ones")
{
    wm_sandbox_limits l, g;
    fg_reason r = {{0}};
    unsetenv("FILIGRANE_SANDBOX_VIDEO_CPU");
    unsetenv("FILIGRANE_SANDBOX_VIDEO_TIMEOUT");
    unsetenv("FILIGRANE_SANDBOX_VIDEO_MEMORY");
    CHECK_INT(wm_sandbox_limits_init(&g, &r), FG_OK);
    CHECK_INT(wm_sandbox_limits_init_kind(&l, "video", &r), FG_OK);
    CHECK_INT(l.wall_seconds, FG_SANDBOX_VIDEO_TIMEOUT_DEFAULT);
    CHECK_INT(l.cpu_seconds, FG_SANDBOX_VIDEO_CPU_DEFAULT);
    CHECK_INT(l.address_space, g.address_space);
    CHECK_INT(l.file_size, g.file_size);
    /* Other kinds, and none, get the general limits. */
    CHECK_INT(wm_sandbox_limits_init_kind(&l, "image", &r), FG_OK);
    CHECK_INT(l.wall_seconds, g.wall_seconds);
    CHECK_INT(wm_sandbox_limits_init_kind(&l, NULL, &r), FG_OK);
    CHECK_INT(l.cpu_seconds, g.cpu_seconds);
    /* A general limit raised past the video default raises the video's. */
    setenv("FILIGRANE_STAMP_TIMEOUT", "1000", 1);
    CHECK_INT(wm_sandbox_limits_init_kind(&l, "video", &r), FG_OK);
    CHECK_INT(l.wall_seconds, 1000);
    unsetenv("FILIGRANE_STAMP_TIMEOUT");
    /* Each variable at its edges. */
    setenv("FILIGRANE_SANDBOX_VIDEO_TIMEOUT", "1", 1);
    setenv("FILIGRANE_SANDBOX_VIDEO_CPU", "86400", 1);
    setenv("FILIGRANE_SANDBOX_VIDEO_MEMORY", "64M", 1);
    CHECK_INT(wm_sandbox_limits_init_kind(&l, "video", &r), FG_OK);
    CHECK_INT(l.wall_seconds, 1);
    CHECK_INT(l.cpu_seconds, 86400);
    CHECK_INT(l.address_space, 64LL << 20);
    setenv("FILIGRANE_SANDBOX_VIDEO_TIMEOUT", "0", 1);
    CHECK_INT(wm_sandbox_limits_init_kind(&l, "video", &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_SANDBOX_VIDEO_TIMEOUT") != NULL);
    unsetenv("FILIGRANE_SANDBOX_VIDEO_TIMEOUT");
    setenv("FILIGRANE_SANDBOX_VIDEO_CPU", "86401", 1);
    CHECK_INT(wm_sandbox_limits_init_kind(&l, "video", &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_SANDBOX_VIDEO_CPU") != NULL);
    unsetenv("FILIGRANE_SANDBOX_VIDEO_CPU");
    setenv("FILIGRANE_SANDBOX_VIDEO_MEMORY", "63M", 1);
    CHECK_INT(wm_sandbox_limits_init_kind(&l, "video", &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_SANDBOX_VIDEO_MEMORY") != NULL);
    unsetenv("FILIGRANE_SANDBOX_VIDEO_MEMORY");
    /* The image limits are untouched by the video ones. */
    setenv("FILIGRANE_SANDBOX_VIDEO_TIMEOUT", "900", 1);
    CHECK_INT(wm_sandbox_limits_init(&l, &r), FG_OK);
    CHECK_INT(l.wall_seconds, FG_STAMP_TIMEOUT_DEFAULT);
    unsetenv("FILIGRANE_SANDBOX_VIDEO_TIMEOUT");
}

TEST("a kind's default timeout fits under a shorter job lease; one set by its variable is refused, naming both")
{
    wm_sandbox_limits l;
    fg_reason r = {{0}};
    unsetenv("FILIGRANE_SANDBOX_VIDEO_TIMEOUT");
    CHECK_INT(wm_sandbox_limits_init_kind(&l, "video", &r), FG_OK);
    CHECK_INT(wm_sandbox_limits_fit_lease(&l, "video", 600, &r), FG_OK);
    CHECK_INT(l.wall_seconds, FG_SANDBOX_VIDEO_TIMEOUT_DEFAULT);
    CHECK_INT(wm_sandbox_limits_fit_lease(&l, "video", 8, &r), FG_OK);
    CHECK_INT(l.wall_seconds, 7);
    setenv("FILIGRANE_SANDBOX_VIDEO_TIMEOUT", "600", 1);
    CHECK_INT(wm_sandbox_limits_init_kind(&l, "video", &r), FG_OK);
    CHECK_INT(wm_sandbox_limits_fit_lease(&l, "video", 600, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_JOB_LEASE") && strstr(r.text, "FILIGRANE_SANDBOX_VIDEO_TIMEOUT"));
    CHECK_INT(wm_sandbox_limits_fit_lease(&l, "video", 601, &r), FG_OK);
    CHECK_INT(l.wall_seconds, 600);
    unsetenv("FILIGRANE_SANDBOX_VIDEO_TIMEOUT");
}
