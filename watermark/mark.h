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

/* The mark of a w x h frame as wm_mark_image places it with seed, laid
 * out over the whole frame for a caller that blends it itself (video,
 * frame after frame): cover[y * width + x] is how much ink to blend (0 to
 * 255, opacity included; 0 where there is no mark), ink[...] the ink's
 * grey level. What lies under the mark is to be replaced, as in images,
 * by blocks of `block` pixels carrying one pixel of theirs, plus fresh
 * noise: noise[b] is the offset for a random byte b. */
typedef struct wm_mark_plane {
    int width, height;
    unsigned char *ink;   /* heap, width * height */
    unsigned char *cover; /* heap, width * height */
    int block;
    int noise[256];
} wm_mark_plane;

/* Fills *p (the caller releases it with wm_mark_plane_release). On failure
 * nothing is held and r says why. */
FG_MUST_CHECK fg_result wm_mark_plane_init(wm_mark_plane *p /* out */, const wm_options *o,
                                           uint64_t seed, int w, int h, fg_reason *r);

/* Frees what *p holds. This function can't fail. */
void wm_mark_plane_release(wm_mark_plane *p);

#endif
