/* The traceable mark: an invisible, keyed payload in every image preview,
 * and its decoder.
 *
 * Method: additive spread spectrum on luminance. A tile of keyed +-1
 * chips (watermark/trace_code.h: 32 x 32 cells of 4 x 4 pixels, 256 of
 * them a known sync pattern, the others 12 chips for each of 64 payload
 * bits) is repeated over the whole preview from its corner, its strength
 * following the local texture, and added equally to R, G and B (so
 * greyscale keeps it). The decoder high-passes the suspect's luminance,
 * folds it modulo the tile at each candidate scale, finds the sync by
 * circular correlation (its offset is what a crop moved), and reads each
 * bit as the sum of its chips. Uses libvips: never linked into the worker;
 * the decoder runs in the sandboxed child. */
#ifndef WM_TRACE_H
#define WM_TRACE_H

#include <vips/vips.h>

#include "watermark/trace_code.h"
#include "watermark/wm.h"

/* Adds the trace of o (o->trace_payload under o->trace_key) to in, an
 * 8-bit image (sRGB or grey, alpha kept untouched), every page of a
 * multi-page one alike. Without o->has_trace and o->has_trace_key it is a
 * new reference to in. No 4 x 4 cell changes by more than 6.25 squared
 * levels on average (PSNR above 40.2 dB). Lazy: computed in libvips's
 * threads as the preview is saved. in is borrowed; on FG_OK *out is a new reference the
 * caller unrefs; on failure *out is NULL and r says why (FG_EIO). */
FG_MUST_CHECK fg_result wm_trace_embed(VipsImage *in, const wm_options *o,
                                       VipsImage **out /* out */, fg_reason *r);

/* Searches in (any image libvips decoded) for a trace under key: scales
 * from 0.4 to 2.5 times the preview's, any offset. rep gets up to
 * WM_TRACE_MAX_CANDIDATES candidates whose sync peak reaches
 * WM_TRACE_Z_MIN, strongest first (none: no trace found, still FG_OK).
 * Returns FG_ECORRUPT if in cannot be decoded, FG_EIO when out of
 * memory. */
FG_MUST_CHECK fg_result wm_trace_detect(VipsImage *in, const unsigned char key[WM_TRACE_KEY_BYTES],
                                        wm_trace_report *rep /* out */, fg_reason *r);

/* The sandboxed child's `stamp --trace`: decodes the file at in (an
 * image, or each page of a PDF up to o->max_pages, within o's pixel and
 * byte limits), searches it with o->trace_key and writes the report
 * (wm_trace_report_format) to the new file out. FG_EUSAGE without a key;
 * FG_EUNSUPPORTED for another kind; FG_ECORRUPT, FG_ELIMIT, FG_EIO as
 * stamping. */
FG_MUST_CHECK fg_result wm_trace_file(const char *in, const char *out, const wm_options *o,
                                      fg_reason *r);

/* The chips of o's trace (its payload under its key) for every cell of
 * the tile, for wm_trace_embed_plane; *on is false (and chip untouched)
 * without o->has_trace and o->has_trace_key. FG_EIO if OpenSSL fails. */
FG_MUST_CHECK fg_result wm_trace_chips(const wm_options *o, signed char chip[WM_TRACE_NCELLS],
                                       bool *on /* out */, fg_reason *r);

/* wm_trace_embed's changes, made in place on one plane of w x h 8-bit
 * samples (a video frame's luma): the same cells, chips, strength rule
 * and dither, the strength times gain, and lo_lim..hi_lim the range a
 * cell's clip rule keeps it inside (16..235 for limited-range luma).
 * Can't fail. */
void wm_trace_embed_plane(unsigned char *plane, ptrdiff_t stride, int w, int h,
                          const signed char chip[WM_TRACE_NCELLS], double gain, int lo_lim,
                          int hi_lim);

#endif
