/* Temp files of ours in the data directory's temp directory and in the
 * scratch directory (FILIGRANE_SCRATCH, by default the same): what is
 * ours, and removing it.
 *
 * Every temp entry filigrane makes there starts with one of
 * STORE_TMP_PREFIXES: "upload-" (a multipart part being split out,
 * fcgi/multipart.c), "stamp-" (a preview job's directory, fcgi/previews.c),
 * "blob-" (a blob being written, storage/blob_fs.c; a local copy of an
 * S3 blob or an assembled upload, storage/blob_s3.c). nginx keeps its own
 * directories beside them (body/, fastcgi/, ...): those are never ours to
 * touch, even at startup, since nginx may be serving requests while the
 * worker restarts. A new kind of temp file gets a prefix here. The data
 * files of tus uploads ("tus-", storage/blob_fs.c) deliberately have none:
 * they outlive the process, and expire by their rows instead. */
#ifndef STORE_TMP_CLEAN_H
#define STORE_TMP_CLEAN_H

#include <stdint.h>
#include <time.h>

#include "common/result.h"

#define STORE_TMP_PREFIXES {"upload-", "stamp-", "blob-", NULL}

/* Removes path: a file, or a directory with everything under it (at most
 * 16 levels deep). Symlinks are removed, never followed. Best effort: what
 * cannot be removed is left. Returns the number of entries removed. This
 * function can't fail. */
int64_t store_tmp_remove_tree(const char *path);

/* Removes every entry of dir whose name starts with one of
 * STORE_TMP_PREFIXES and that was last modified before `before` (the
 * wall clock, to the nanosecond: a run killed and restarted within one
 * second still finds its leftovers older): the leftovers of a previous
 * run, which died (kill -9, a power cut) before it could clean up.
 * Entries newer than `before` belong to a process still running and are
 * kept. The worker calls it at startup, before it takes requests. *removed (may be NULL) gets the
 * number of top-level entries removed. FG_EIO if dir cannot be read (a
 * missing dir is nothing to clean: FG_OK). */
FG_MUST_CHECK fg_result store_tmp_clean(const char *dir,
                                        const struct timespec *before,
                                        int64_t *removed /* out */,
                                        fg_reason *r);

#endif
