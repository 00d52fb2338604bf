/* Landlock through its raw system calls: glibc 2.36 has no wrappers, and
 * libseccomp's neighbour for this job, libcap's, does not cover it. */
#define _GNU_SOURCE /* O_PATH */
#include "watermark/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static bool confined;

bool wm_sandbox_writes_confined(void) { return confined; }

/* Every right that changes the file system, by the Landlock ABI version
 * that introduced it. Rights a kernel does not know must not be asked. */
static uint64_t write_rights(int abi)
{
    uint64_t w = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                 LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                 LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
#ifdef LANDLOCK_ACCESS_FS_REFER
    if (abi >= 2)
        w |= LANDLOCK_ACCESS_FS_REFER;
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
    if (abi >= 3)
        w |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
    (void)abi;
    return w;
}

fg_result wm_sandbox_confine_writes(const char *out, fg_reason *r)
{
    char copy[PATH_MAX];
    int ruleset = -1, dir = -1;
    fg_result rc = FG_OK;
    if (snprintf(copy, sizeof copy, "%s", out) >= (int)sizeof copy)
        return fg_fail(r, FG_EUSAGE, "output path is too long");
    const char *where = dirname(copy);

    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                       LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1)
        return FG_OK; /* ENOSYS or EOPNOTSUPP: no Landlock on this kernel */
    if (setenv("TMPDIR", where, 1) != 0)
        return fg_fail(r, FG_EIO, "cannot set up the sandbox: out of memory");

    struct landlock_ruleset_attr attr = {.handled_access_fs = write_rights((int)abi)};
    ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) {
        rc = fg_fail(r, FG_EIO, "cannot set up the sandbox: landlock ruleset refused");
        goto out;
    }
    dir = open(where, O_PATH | O_CLOEXEC | O_DIRECTORY);
    if (dir < 0) {
        rc = fg_fail(r, FG_EIO, "cannot write the preview: its directory cannot be opened");
        goto out;
    }
    struct landlock_path_beneath_attr beneath = {
        .allowed_access = attr.handled_access_fs,
        .parent_fd = dir,
    };
    if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) != 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot set up the sandbox: landlock rules refused");
        goto out;
    }
    confined = true;
out:
    if (dir >= 0)
        close(dir);
    if (ruleset >= 0)
        close(ruleset);
    return rc;
}
