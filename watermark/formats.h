/* Inside the engine: one stamper per kind of content.
 *
 * wm_stamp_file detects the kind and hands the file to exactly one of
 * these. Each has the contract of wm_stamp_file (watermark/wm.h): a
 * preview of in written to out in the format out's extension names (or
 * the kind's own format), seeded placement, FG_EUNSUPPORTED /
 * FG_ECORRUPT / FG_ELIMIT / FG_EIO with a reason, and no file left at
 * out on failure. in has already passed the byte limit. */
#ifndef WM_FORMATS_H
#define WM_FORMATS_H

#include <stdint.h>

#include "watermark/wm.h"

FG_MUST_CHECK fg_result wm_stamp_image(const char *in, const char *out,
                                       const wm_options *o, uint64_t seed,
                                       fg_reason *r);
FG_MUST_CHECK fg_result wm_stamp_pdf(const char *in, const char *out,
                                     const wm_options *o, uint64_t seed,
                                     fg_reason *r);
FG_MUST_CHECK fg_result wm_stamp_archive(const char *in, const char *out,
                                         const wm_options *o, uint64_t seed,
                                         fg_reason *r);

/* A video (watermark/video.c): an MP4 at out (H.264 and AAC, at most
 * 720p, every frame marked, metadata stripped, cut at o->max_seconds), and
 * its marked poster frame at out WM_POSTER_SUFFIX (JPEG). */
FG_MUST_CHECK fg_result wm_stamp_video(const char *in, const char *out,
                                       const wm_options *o, uint64_t seed,
                                       fg_reason *r);
FG_MUST_CHECK fg_result wm_stamp_text(const char *in, const char *out,
                                      const wm_options *o, uint64_t seed,
                                      fg_reason *r);

#endif
