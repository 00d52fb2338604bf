/* Removing our temp files: at startup, what a dead run left; after a job,
 * its directory, whatever the job's outcome. */
#define _GNU_SOURCE
#include "storage/tmp_clean.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A job directory holds a preview and the stamper's scratch files; 16
 * levels is far beyond that, and bounds the recursion whatever a hostile
 * decoder managed to create. */
#define MAX_DEPTH 16

static int64_t remove_at(int at, const char *name, int depth)
{
    if (unlinkat(at, name, 0) == 0)
        return 1;
    if ((errno != EISDIR && errno != EPERM) || depth >= MAX_DEPTH)
        return 0;
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n += remove_at(dirfd(d), e->d_name, depth + 1);
    }
    closedir(d);
    if (unlinkat(at, name, AT_REMOVEDIR) == 0)
        n++;
    return n;
}

int64_t store_tmp_remove_tree(const char *path)
{
    if (!path || !*path)
        return 0;
    return remove_at(AT_FDCWD, path, 0);
}

static bool ours(const char *name)
{
    static const char *const prefixes[] = STORE_TMP_PREFIXES;
    for (const char *const *p = prefixes; *p; p++)
        if (strncmp(name, *p, strlen(*p)) == 0)
            return true;
    return false;
}

static bool older(const struct stat *st, const struct timespec *t)
{
    return st->st_mtim.tv_sec < t->tv_sec ||
           (st->st_mtim.tv_sec == t->tv_sec && st->st_mtim.tv_nsec < t->tv_nsec);
}

fg_result store_tmp_clean(const char *dir, const struct timespec *before,
                          int64_t *removed, fg_reason *r)
{
    int64_t n = 0;
    struct stat st;
    struct dirent *e;
    DIR *d = opendir(dir);
    if (removed)
        *removed = 0;
    if (!d) {
        if (errno == ENOENT)
            return FG_OK;
        return fg_fail(r, FG_EIO, "cannot read the temp directory");
    }
    while ((e = readdir(d))) {
        if (!ours(e->d_name))
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !older(&st, before))
            continue;
        if (remove_at(dirfd(d), e->d_name, 0) > 0)
            n++;
    }
    closedir(d);
    if (removed)
        *removed = n;
    return FG_OK;
}
