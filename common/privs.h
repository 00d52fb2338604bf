/* Leaving root: the worker and the CLI start as root under `make run`
 * (scripts/run.sh) and in CI, and must not stay so. */
#ifndef FG_PRIVS_H
#define FG_PRIVS_H

#include <sys/types.h>

#include "common/result.h"

/* The uid and primary gid of the user called name. FG_EUSAGE if there is
 * no such user (the reason names it), FG_EIO if the lookup failed. */
FG_MUST_CHECK fg_result fg_privs_lookup(const char *name, uid_t *uid /* out */,
                                        gid_t *gid /* out */, fg_reason *r);

/* Becomes uid/gid for good: no supplementary groups, real, effective and
 * saved ids all set, and then checks that there is no way back (setuid(0)
 * must fail). Applies to every thread of the process (glibc broadcasts
 * set*id), but call it before starting threads anyway. uid 0 is refused
 * (FG_EUSAGE). FG_EIO if any step fails: the caller must then exit, since
 * the process is in an unknown state. */
FG_MUST_CHECK fg_result fg_privs_drop(uid_t uid, gid_t gid, fg_reason *r);

#endif
