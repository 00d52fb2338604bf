/* watermark/seccomp.c's converter profile (the process that execs
 * LibreOffice) and watermark/office.c's entry points outside a sandbox. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "watermark/office.h"
#include "watermark/seccomp.h"

/* Runs probe in a child under the converter's filter; its exit status. */
static int in_converter(int (*probe)(void))
{
    pid_t pid = fork();
    if (pid == 0) {
        fg_reason r = {{0}};
        if (wm_sandbox_enter_converter(&r) != FG_OK)
            _exit(100);
        _exit(probe());
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int inet_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    return fd >= 0 ? 1 : errno == EPERM ? 0 : 2;
}

static int inet6_udp_socket(void)
{
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    return fd >= 0 ? 1 : errno == EPERM ? 0 : 2;
}

static int netlink_socket(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW, 0);
    return fd >= 0 ? 1 : errno == EPERM ? 0 : 2;
}

static int unix_socket(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    return fd >= 0 ? 0 : 1;
}

/* A listening AF_UNIX socket made before the filter, as the worker's
 * FastCGI socket is: the converter must not reach it. */
static char listening[108];

static int unix_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", listening);
    if (fd < 0)
        return 3;
    return connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 1 : errno == EPERM ? 0 : 2;
}

TEST("the converter cannot connect to a unix socket of the host (the worker's FastCGI socket)")
{
    snprintf(listening, sizeof listening, "/tmp/test_office_%d.sock", (int)getpid());
    unlink(listening);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", listening);
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 4) == 0);
    /* The control: without the filter the connection is made. */
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0);
    close(c);
    int got = in_converter(unix_connect);
    close(s);
    unlink(listening);
    CHECK_INT(got, 0);
}

static int run_true(void)
{
    execl("/bin/true", "true", (char *)NULL);
    return 3;
}

TEST("the converter's filter refuses every socket family but AF_UNIX")
{
    CHECK_INT(in_converter(inet_socket), 0);
    CHECK_INT(in_converter(inet6_udp_socket), 0);
    CHECK_INT(in_converter(netlink_socket), 0);
    CHECK_INT(in_converter(unix_socket), 0);
}

TEST("the converter's filter lets it exec LibreOffice (a program runs)")
{
    CHECK_INT(in_converter(run_true), 0);
}

static int try_unshare(void)
{
    /* Killed by the filter: SIGSYS. */
    return unshare(CLONE_NEWNS) == 0 ? 1 : 2;
}

TEST("the converter's filter still kills namespace changes")
{
    CHECK_INT(in_converter(try_unshare), 128 + SIGSYS);
}

TEST("FILIGRANE_SOFFICE must be absolute, and the conversion says so before starting anything")
{
    char pdf[256] = "x";
    fg_reason r = {{0}};
    wm_type t = {.mime = "application/vnd.oasis.opendocument.text", .kind = WM_KIND_DOCUMENT};
    setenv("FILIGRANE_SOFFICE", "soffice.bin", 1);
    CHECK_INT(wm_office_convert("/nonexistent.odt", &t, "/tmp/x.pdf", pdf, sizeof pdf, &r),
              FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_SOFFICE") != NULL);
    CHECK_STR(pdf, "");
    unsetenv("FILIGRANE_SOFFICE");
}
