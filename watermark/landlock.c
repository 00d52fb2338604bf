/* Landlock through its raw system calls: glibc 2.36 has no wrappers, and
 * Debian 12's kernel headers stop at ABI 2, so the later rights and the
 * later fields of the ruleset are spelled out here. */
#define _GNU_SOURCE /* O_PATH */
#include "watermark/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#define LL_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LL_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; a kernel is handed only the
 * prefix its ABI knows. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

#define READ_RIGHTS (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FILE_READ LANDLOCK_ACCESS_FS_READ_FILE

/* What decoders read besides their input: shared libraries, fonts,
 * fontconfig's configuration and caches, locales, libmagic's database,
 * glib's and libvips's data (all under /usr on a merged-/usr system; /lib
 * and /lib64 for the others), the dynamic loader's cache. Found by
 * stamping every format (JPEG, PNG, WebP, TIFF, GIF, SVG, PDF, zip, tar.gz)
 * under strace and looking for EACCES; what is still refused is not
 * needed (/usr/lib/ssl/openssl.cnf and /usr/share/locale/locale.alias
 * are links into /etc: the defaults serve). A path that does not exist
 * here is skipped. /etc as a whole, /home, /root, /tmp and the data
 * directory stay closed. */
static const char *const system_reads[] = {
    "/usr", "/lib", "/lib64", "/etc/fonts", "/etc/ld.so.cache", "/etc/magic",
    "/var/cache/fontconfig",
    /* The number of CPUs (glibc's get_nprocs, glib): without it libvips
     * would run one thread. */
    "/sys/devices/system/cpu", "/sys/devices/system/node", "/proc/stat", "/proc/self/status",
};
static const char *const device_reads[] = {"/dev/null", "/dev/urandom"};

/* A sanitizer build reads its own /proc/self (maps, statm, task/) to
 * check its memory limit and to stop the world for the leak check at
 * exit: there the child's own /proc directory is readable too. */
#if defined(__SANITIZE_ADDRESS__)
#define LANDLOCK_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LANDLOCK_UNDER_ASAN 1
#endif
#endif

static bool confined;

bool wm_sandbox_confined(void) { return confined; }

/* Every right that changes the file system, by the Landlock ABI version
 * that introduced it. Rights a kernel does not know must not be asked. */
static uint64_t write_rights(int abi)
{
    uint64_t w = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                 LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                 LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2)
        w |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        w |= LANDLOCK_ACCESS_FS_TRUNCATE;
    return w;
}

/* Allows rights beneath path (a directory) or on it (a file: only the
 * file rights count). A missing path is skipped when optional. */
static fg_result allow(int ruleset, const char *path, uint64_t rights, bool optional,
                       fg_reason *r)
{
    struct stat st;
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (optional)
            return FG_OK;
        return fg_fail(r, FG_EIO, "cannot set up the sandbox: a file it needs cannot be opened");
    }
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        rights &= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                  LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_EXECUTE;
    struct landlock_path_beneath_attr beneath = {.allowed_access = rights, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0);
    close(fd);
    if (rc != 0)
        return fg_fail(r, FG_EIO, "cannot set up the sandbox: landlock rule refused");
    return FG_OK;
}

fg_result wm_sandbox_confine(const char *in, const char *out, fg_reason *r)
{
    return wm_sandbox_confine_paths(in, out, NULL, NULL, r);
}

fg_result wm_sandbox_confine_paths(const char *in, const char *out,
                                   const char *const *extra_reads,
                                   const char *const *extra_writes, fg_reason *r)
{
    char copy[PATH_MAX];
    int ruleset = -1;
    fg_result rc = FG_OK;
    if (snprintf(copy, sizeof copy, "%s", out) >= (int)sizeof copy)
        return fg_fail(r, FG_EUSAGE, "output path is too long");
    const char *where = dirname(copy);

    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1)
        return FG_OK; /* ENOSYS or EOPNOTSUPP: no Landlock on this kernel */
    if (setenv("TMPDIR", where, 1) != 0)
        return fg_fail(r, FG_EIO, "cannot set up the sandbox: out of memory");

    uint64_t all = write_rights((int)abi) | READ_RIGHTS;
    struct ll_ruleset_attr attr = {.handled_access_fs = all};
    size_t size = sizeof attr.handled_access_fs;
    if (abi >= 4) {
        /* seccomp refuses socket() already; this holds if it ever lets
         * one through. */
        attr.handled_access_net = LL_ACCESS_NET_BIND_TCP | LL_ACCESS_NET_CONNECT_TCP;
        size = offsetof(struct ll_ruleset_attr, scoped);
    }
    if (abi >= 6) {
        /* Same user as the worker: without this the child could kill it,
         * or talk to any abstract socket on the host. */
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
        size = sizeof attr;
    }
    ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) {
        rc = fg_fail(r, FG_EIO, "cannot set up the sandbox: landlock ruleset refused");
        goto out;
    }
    if (allow(ruleset, where, all, false, r) != FG_OK) {
        rc = fg_fail(r, FG_EIO, "cannot write the preview: its directory cannot be opened");
        goto out;
    }
    if ((rc = allow(ruleset, in, FILE_READ, true, r)) != FG_OK)
        goto out;
    for (size_t i = 0; i < sizeof system_reads / sizeof *system_reads; i++)
        if ((rc = allow(ruleset, system_reads[i], READ_RIGHTS, true, r)) != FG_OK)
            goto out;
    for (size_t i = 0; extra_reads && extra_reads[i]; i++)
        if ((rc = allow(ruleset, extra_reads[i], READ_RIGHTS, true, r)) != FG_OK)
            goto out;
    for (size_t i = 0; extra_writes && extra_writes[i]; i++)
        if ((rc = allow(ruleset, extra_writes[i], all, false, r)) != FG_OK)
            goto out;
    for (size_t i = 0; i < sizeof device_reads / sizeof *device_reads; i++)
        if ((rc = allow(ruleset, device_reads[i], FILE_READ | LANDLOCK_ACCESS_FS_WRITE_FILE, true,
                        r)) != FG_OK)
            goto out;
#ifdef LANDLOCK_UNDER_ASAN
    if ((rc = allow(ruleset, "/proc/self", READ_RIGHTS, true, r)) != FG_OK)
        goto out;
    /* The leak check reads its suppressions file at exit, confined. */
    const char *lsan = getenv("LSAN_OPTIONS");
    const char *sup = lsan ? strstr(lsan, "suppressions=") : NULL;
    if (sup) {
        char file[PATH_MAX];
        sup += strlen("suppressions=");
        size_t n = strcspn(sup, ":");
        if (n < sizeof file) {
            memcpy(file, sup, n);
            file[n] = '\0';
            if ((rc = allow(ruleset, file, FILE_READ, true, r)) != FG_OK)
                goto out;
        }
    }
#endif
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot set up the sandbox: landlock rules refused");
        goto out;
    }
    confined = true;
out:
    if (ruleset >= 0)
        close(ruleset);
    return rc;
}
