/* fcgi/body_file.c: which REQUEST_BODY_FILE paths the worker accepts. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcgi/body_file.h"

static char data[256], body[300], outside[300];

static void make_file(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

static void setup(void)
{
    if (data[0])
        return;
    snprintf(data, sizeof data, "/tmp/fg-bodyfile-XXXXXX");
    if (!mkdtemp(data))
        abort();
    fg_reason r = {{0}};
    if (fcgi_body_file_init(data, &r) != FG_OK)
        abort();
    snprintf(body, sizeof body, "%s/tmp/body", data);
    snprintf(outside, sizeof outside, "%s/secrets.env", data);
    make_file(outside, "FILIGRANE_JWT_SECRET=x\n");
}

__attribute__((destructor)) static void cleanup(void)
{
    char cmd[400];
    fcgi_body_file_release();
    if (!data[0])
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", data);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", data);
}

static fg_result try_open(const char *p, fg_reason *r)
{
    int fd = -1;
    fg_result rc = fcgi_body_file_open(p, &fd, r);
    if (rc == FG_OK)
        close(fd);
    else if (fd != -1)
        return FG_EIO; /* a refusal must leave no descriptor behind */
    return rc;
}

TEST("init makes the body directory 0700 when it is missing")
{
    setup();
    struct stat st;
    CHECK(stat(body, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_INT(st.st_mode & 0777, 0700);
}

TEST("a regular file nginx wrote beneath the body directory is accepted")
{
    setup();
    char d[400], f[420];
    fg_reason r = {{0}};
    snprintf(d, sizeof d, "%s/7", body);
    CHECK(mkdir(d, 0700) == 0 || errno == EEXIST);
    snprintf(f, sizeof f, "%s/0000000017", d);
    make_file(f, "upload");
    CHECK_INT(try_open(f, &r), FG_OK);
}

TEST("paths that are not a file nginx wrote are refused, 403, with a reason")
{
    setup();
    char p[8][500];
    fg_reason r = {{0}};
    snprintf(p[0], sizeof p[0], "%s", outside);                        /* beside it */
    snprintf(p[1], sizeof p[1], "%s/../../secrets.env", body);         /* climbs out */
    snprintf(p[2], sizeof p[2], "%s/link", body);                      /* symlink out */
    CHECK(symlink(outside, p[2]) == 0);
    char real_dir[400];
    snprintf(real_dir, sizeof real_dir, "%s/elsewhere", data);
    CHECK(mkdir(real_dir, 0700) == 0);
    snprintf(p[3], sizeof p[3], "%s/file", real_dir);
    make_file(p[3], "ours, but not an upload");
    snprintf(p[4], sizeof p[4], "%s/dirlink", body);                   /* a directory link */
    CHECK(symlink(real_dir, p[4]) == 0);
    snprintf(p[4], sizeof p[4], "%s/dirlink/file", body);
    snprintf(p[5], sizeof p[5], "%s/fifo", body);                      /* not a regular file */
    CHECK(mkfifo(p[5], 0600) == 0);
    snprintf(p[6], sizeof p[6], "%s/hardlink", body);                  /* a second name */
    CHECK(link(p[3], p[6]) == 0);
    snprintf(p[7], sizeof p[7], "%sx/file", body);                     /* a prefix only */
    for (int i = 0; i < 8; i++) {
        fg_result rc = try_open(p[i], &r);
        if (rc != FG_EFORBIDDEN)
            fprintf(stderr, "  path %d: %s\n", i, r.text);
        CHECK_INT(rc, FG_EFORBIDDEN);
        CHECK(strstr(r.text, "upload body file") != NULL);
        CHECK(strstr(r.text, data) == NULL); /* no server path in the reason */
    }
    /* Nothing was touched. */
    struct stat st;
    CHECK(stat(outside, &st) == 0 && st.st_nlink == 1);
    CHECK(access(p[3], F_OK) == 0);
}

TEST("a file owned by another user in the body directory is refused")
{
    setup();
    char f[400];
    fg_reason r = {{0}};
    if (geteuid() != 0) {
        printf("# not root: cannot give a file to another user\n");
        return;
    }
    snprintf(f, sizeof f, "%s/0000000099", body);
    make_file(f, "planted");
    CHECK(chown(f, 65534, 65534) == 0);
    CHECK_INT(try_open(f, &r), FG_EFORBIDDEN);
}

TEST("a missing body file is a bad request, not a server error")
{
    setup();
    char f[400];
    fg_reason r = {{0}};
    snprintf(f, sizeof f, "%s/0000000404", body);
    CHECK_INT(try_open(f, &r), FG_EUSAGE);
    CHECK_INT(try_open(body, &r), FG_EFORBIDDEN); /* the directory itself: nothing after it */
}
