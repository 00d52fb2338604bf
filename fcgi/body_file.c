#define _GNU_SOURCE
#include "fcgi/body_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int body_dir = -1;
static char body_path[PATH_MAX];
static size_t body_len;

fg_result fcgi_body_file_init(const char *data, fg_reason *r)
{
    int n = snprintf(body_path, sizeof body_path, "%s/tmp/body", data);
    if (n < 0 || (size_t)n >= sizeof body_path - 1)
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_DATA is too long");
    body_len = (size_t)n;
    body_path[n - 5] = '\0'; /* its parent, tmp, first */
    int made = mkdir(body_path, 0700);
    body_path[n - 5] = '/';
    if ((made != 0 && errno != EEXIST) || (mkdir(body_path, 0700) != 0 && errno != EEXIST))
        return fg_fail(r, FG_EIO, "cannot make the upload body directory");
    body_dir = open(body_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (body_dir < 0)
        return fg_fail(r, FG_EIO, "cannot open the upload body directory");
    return FG_OK;
}

void fcgi_body_file_release(void)
{
    if (body_dir >= 0)
        close(body_dir);
    body_dir = -1;
}

fg_result fcgi_body_file_open(const char *param, int *fd, fg_reason *r)
{
    struct stat st;
    *fd = -1;
    if (body_dir < 0)
        return fg_fail(r, FG_EIO, "the upload body directory is not open");
    /* nginx names its files "<client_body_temp_path>/<levels>/<number>". */
    if (strncmp(param, body_path, body_len) != 0 || param[body_len] != '/' ||
        !param[body_len + 1])
        return fg_fail(r, FG_EFORBIDDEN, "the upload body file is not in nginx's body directory");
    /* Resolved beneath the directory opened at start: no "..", no
     * absolute jump, and no symbolic link anywhere on the way, the last
     * component included. */
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                   RESOLVE_NO_XDEV,
    };
    int f = (int)syscall(SYS_openat2, body_dir, param + body_len + 1, &how, sizeof how);
    if (f < 0) {
        if (errno == ELOOP || errno == EXDEV || errno == ENOTDIR)
            return fg_fail(r, FG_EFORBIDDEN, "the upload body file is reached through a link");
        if (errno == ENOENT)
            return fg_fail(r, FG_EUSAGE, "the upload body file does not exist");
        return fg_fail(r, FG_EIO, "cannot read the upload");
    }
    if (fstat(f, &st) != 0) {
        close(f);
        return fg_fail(r, FG_EIO, "cannot read the upload");
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1) {
        close(f);
        return fg_fail(r, FG_EFORBIDDEN,
                       "the upload body file is not a file nginx wrote for this worker");
    }
    /* Back to blocking reads: O_NONBLOCK only kept a FIFO from hanging. */
    int fl = fcntl(f, F_GETFL);
    if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        close(f);
        return fg_fail(r, FG_EIO, "cannot read the upload");
    }
    *fd = f;
    return FG_OK;
}
