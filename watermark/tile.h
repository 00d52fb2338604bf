/* Inside the engine: the repeating unit of the watermark.
 *
 * A tile is an ink image and a coverage image (already scaled by the
 * opacity), small next to the picture, and periodic: replicated
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

/* Renders the tile for spec as two memory images of the same size: *ink
 * (`bands` identical uchar bands, to match the image it is blended into)
 * and *cover (one band: how much of the ink to blend, 0 to 255, opacity
 * included). On FG_OK the caller unrefs both; on failure both are NULL and
 * r says why. */
FG_MUST_CHECK fg_result wm_tile_new(const wm_tile_spec *spec, int bands,
                                    VipsImage **ink /* out */,
                                    VipsImage **cover /* out */,
                                    fg_reason *r);

#endif
