/* Temporary file, flush, rename: the one way a preview is written. */
#include "watermark/save.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

fg_result wm_outfile_open(wm_outfile *f, const char *path, fg_reason *r)
{
    f->path = path;
    f->fd = -1;
    f->tmp[0] = '\0';
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    int n = snprintf(f->tmp, sizeof f->tmp, "%.*s.%s.tmp-XXXXXX", dirlen,
                     path, base);
    if (n < 0 || (size_t)n >= sizeof f->tmp || !*base) {
        f->tmp[0] = '\0';
        return fg_fail(r, FG_EUSAGE, "cannot write the preview: bad name");
    }
    f->fd = mkstemp(f->tmp);
    if (f->fd < 0) {
        f->tmp[0] = '\0';
        return fg_fail(r, FG_EIO, "cannot write the preview: %s",
                       errno == ENOENT ? "no such directory"
                                       : "directory not writable");
    }
    /* mkstemp makes 0600; a preview is served by another user (nginx). */
    if (fchmod(f->fd, 0644) != 0)
        return fg_fail(r, FG_EIO, "cannot write the preview: chmod failed");
    return FG_OK;
}

fg_result wm_outfile_commit(wm_outfile *f, fg_reason *r)
{
    if (f->fd < 0 || !f->tmp[0])
        return fg_fail(r, FG_EIO, "cannot write the preview: not open");
    int rc = fsync(f->fd);
    if (close(f->fd) != 0)
        rc = -1;
    f->fd = -1;
    if (rc != 0)
        return fg_fail(r, FG_EIO, "cannot write the preview: flush failed");
    if (rename(f->tmp, f->path) != 0)
        return fg_fail(r, FG_EIO, "cannot write the preview: rename failed");
    f->tmp[0] = '\0';
    return FG_OK;
}

void wm_outfile_abort(wm_outfile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp[0])
        unlink(f->tmp);
    f->tmp[0] = '\0';
}
