/* Inside the engine: the repeating unit of the watermark.
 *
 * A tile is a small two-band uchar image (band 0: ink grey level, band 1:
 * coverage already scaled by the opacity) that is periodic: replicated
 * side by side it draws rows of rotated text in a brick pattern, with
 * neighbours overlapping seamlessly. The image pipeline replicates and
 * crops it to the frame, so the per-pixel cost of the mark is one blend. */
#ifndef WM_TILE_H
#define WM_TILE_H

#include <vips/vips.h>

#include "common/result.h"

typedef struct wm_tile_spec {
    const char *text;  /* plain UTF-8, escaped here for Pango */
    double text_px;    /* height of a line of text in the output, pixels */
    double angle;      /* degrees, counter-clockwise */
    double opacity;    /* 0 < opacity <= 1 */
    double spacing;    /* row pitch factor, about 1 */
} wm_tile_spec;

/* Renders the tile for spec. On FG_OK *out is a new memory image the
 * caller unrefs; on failure *out is NULL and r says why. */
FG_MUST_CHECK fg_result wm_tile_new(const wm_tile_spec *spec,
                                    VipsImage **out /* out */, fg_reason *r);

#endif
