/* Inside the engine: stamping one decoded image.
 *
 * The image, PDF and archive paths all end here, so a page of a PDF and a
 * photo inside a zip get exactly the watermark a lone photo gets. Uses
 * libvips: never linked into the worker. */
#ifndef WM_MARK_H
#define WM_MARK_H

#include <vips/vips.h>

#include "watermark/wm.h"

/* Turns a decoded image into a preview ready to save: auto-rotated by its
 * EXIF orientation, converted to 8-bit sRGB (alpha kept), shrunk so its
 * longest edge is at most o->max_edge (0: unchanged), every frame of a
 * multi-page (animated) image stamped with the tiled diagonal mark of
 * o's template, placed with a jitter derived from seed, and stripped of
 * all metadata. Under the mark the picture is destroyed (block mosaic and
 * fresh random noise), so the mark cannot be inverted even with the seed:
 * two calls with one seed place the mark alike but differ in its noise. in is borrowed; on FG_OK *out is a new reference the
 * caller unrefs. On failure *out is NULL and r says why. */
FG_MUST_CHECK fg_result wm_mark_image(VipsImage *in, const wm_options *o,
                                      uint64_t seed, VipsImage **out /* out */,
                                      fg_reason *r);

#endif
