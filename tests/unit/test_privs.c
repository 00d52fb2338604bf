/* common/privs.c: leaving root for good. Each drop runs in a child, so
 * the test program itself stays what it was. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/privs.h"

/* Runs fn in a child; returns its exit status. */
static int in_child(int (*fn)(void))
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn());
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

static int drop_to_nobody(void)
{
    fg_reason r = {{0}};
    if (fg_privs_drop(65534, 65534, &r) != FG_OK)
        return 1;
    if (getuid() != 65534 || geteuid() != 65534 || getgid() != 65534 || getgroups(0, NULL) != 0)
        return 2;
    if (setuid(0) == 0 || seteuid(0) == 0)
        return 3;
    /* Root's files are now out of reach. */
    if (access("/root", X_OK) == 0 && access("/etc/shadow", R_OK) == 0)
        return 4;
    return 0;
}

static int drop_to_root(void)
{
    fg_reason r = {{0}};
    return fg_privs_drop(0, 0, &r) == FG_EUSAGE ? 0 : 1;
}

TEST("dropping to an unprivileged user leaves no way back to root")
{
    if (geteuid() != 0) {
        printf("# not root: nothing to drop\n");
        return;
    }
    CHECK_INT(in_child(drop_to_nobody), 0);
}

TEST("dropping \"to root\" is refused")
{
    CHECK_INT(in_child(drop_to_root), 0);
}

TEST("a user is looked up by name; an unknown one is named in the reason")
{
    uid_t uid;
    gid_t gid;
    fg_reason r = {{0}};
    CHECK_INT(fg_privs_lookup("root", &uid, &gid, &r), FG_OK);
    CHECK_INT(uid, 0);
    CHECK_INT(fg_privs_lookup("no-such-user-here", &uid, &gid, &r), FG_EUSAGE);
    CHECK_STR(r.text, "no user no-such-user-here on this host");
}
