#define _GNU_SOURCE /* getresuid, setresuid */
#include "common/privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

fg_result fg_privs_lookup(const char *name, uid_t *uid, gid_t *gid, fg_reason *r)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int e = getpwnam_r(name, &pw, buf, sizeof buf, &res);
    if (e != 0)
        return fg_fail(r, FG_EIO, "cannot look up user %.64s", name);
    if (!res)
        return fg_fail(r, FG_EUSAGE, "no user %.64s on this host", name);
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return FG_OK;
}

fg_result fg_privs_drop(uid_t uid, gid_t gid, fg_reason *r)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (uid == 0 || gid == 0)
        return fg_fail(r, FG_EUSAGE, "refusing to run as root: the unprivileged user is root");
    /* Groups first, then the gid, then the uid: after setresuid the
     * process may no longer change its groups. */
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0)
        return fg_fail(r, FG_EIO, "cannot drop privileges to uid %d", (int)uid);
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
        ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid ||
        getgroups(0, NULL) != 0)
        return fg_fail(r, FG_EIO, "privileges were not dropped to uid %d", (int)uid);
    /* The proof: a process that could become root again did not drop
     * anything (a kept capability, a saved set-user-id). */
    if (setuid(0) == 0 || setgid(0) == 0 || errno != EPERM)
        return fg_fail(r, FG_EIO, "privileges can be regained after dropping them");
    return FG_OK;
}
