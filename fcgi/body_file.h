/* The upload body files nginx hands the worker (REQUEST_BODY_FILE).
 *
 * The worker renames a raw upload into the blob store, so the path in that
 * parameter decides which file becomes a blob that buyers and sellers can
 * download. Anyone who reaches the FastCGI socket could name any file
 * (another user's, a root-owned secret when the worker ran as root): a
 * body file is accepted only beneath nginx's body temp directory
 * ($FILIGRANE_DATA/tmp/body, client_body_temp_path in nginx.conf), reached
 * without following any link, a regular file owned by the worker's own
 * user (nginx's workers run as that user). */
#ifndef FCGI_BODY_FILE_H
#define FCGI_BODY_FILE_H

#include "common/result.h"

/* Opens the body temp directory under data (making it, 0700, if missing).
 * Call once at start, before the request threads. FG_EIO if it cannot be
 * opened. */
FG_MUST_CHECK fg_result fcgi_body_file_init(const char *data, fg_reason *r);

/* Opens the body file nginx named in param, read-only. On FG_OK *fd is the
 * caller's to close. FG_EFORBIDDEN with a reason when the path is not a
 * file nginx wrote: outside the body temp directory, through a link, not a
 * regular file, or owned by another user; the file is never touched then.
 * FG_EIO when it cannot be opened. */
FG_MUST_CHECK fg_result fcgi_body_file_open(const char *param, int *fd /* out */,
                                            fg_reason *r);

/* Closes the directory. Can't fail. */
void fcgi_body_file_release(void);

#endif
