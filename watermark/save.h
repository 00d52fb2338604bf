/* Inside the engine: writing a preview, atomically.
 *
 * A preview appears at its path complete or not at all: it is written to
 * a temporary file in the same directory, flushed, then renamed over the
 * path. A reader (nginx, the worker) never sees half a file, and a failed
 * stamp leaves nothing behind. */
#ifndef WM_SAVE_H
#define WM_SAVE_H

#include <limits.h>
#include <vips/vips.h>

#include "watermark/wm.h"

typedef enum wm_format {
    WM_FORMAT_AUTO, /* no extension we know: chosen from the content */
    WM_FORMAT_JPEG,
    WM_FORMAT_PNG,
    WM_FORMAT_WEBP,
    WM_FORMAT_GIF,
    WM_FORMAT_PDF,
    WM_FORMAT_ZIP,
} wm_format;

/* The format path's extension names (case-insensitive), or
 * WM_FORMAT_AUTO. This function can't fail. */
wm_format wm_format_from_path(const char *path);

typedef struct wm_outfile {
    char tmp[PATH_MAX];
    const char *path; /* borrowed */
    int fd;           /* -1 when closed */
} wm_outfile;

/* Creates the temporary file for path (mode 0644). Returns FG_EIO if the
 * directory is not writable. Call wm_outfile_abort in any case. */
FG_MUST_CHECK fg_result wm_outfile_open(wm_outfile *f /* out */,
                                        const char *path, fg_reason *r);

/* Flushes, closes and renames the temporary file to the path. Returns
 * FG_EIO on failure (the temporary file is then still there for abort). */
FG_MUST_CHECK fg_result wm_outfile_commit(wm_outfile *f, fg_reason *r);

/* Closes and removes the temporary file, if any is left. This function
 * can't fail. */
void wm_outfile_abort(wm_outfile *f);

/* Saves a finished preview (from wm_mark_image) to out atomically, in the
 * format out names or, for WM_FORMAT_AUTO, GIF for an animation, PNG
 * where there is alpha, JPEG otherwise. Decoding happens here, as libvips
 * pulls pixels through the pipeline: a damaged input is FG_ECORRUPT, a
 * failed write FG_EIO, a format that cannot hold an image FG_EUSAGE. */
FG_MUST_CHECK fg_result wm_save_image(VipsImage *im, const char *out,
                                      const wm_options *o, fg_reason *r);

#endif
