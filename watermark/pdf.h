/* PDF previews: every page rendered (poppler), stamped like an image, and
 * assembled into an image-only PDF of the same page count and page sizes.
 * Its text cannot be extracted and its watermark is part of the pixels,
 * so neither can be removed as an object.
 *
 * poppler decodes untrusted content: these run only in the sandbox child
 * (wm_sandbox_active) and refuse to anywhere else. Pages are rendered,
 * stamped and written a few at a time, so memory does not grow with the
 * page count. */
#ifndef WM_PDF_H
#define WM_PDF_H

#include <stddef.h>
#include <stdint.h>

#include "watermark/wm.h"

/* The preview of the PDF held in buf (len bytes, borrowed), into
 * *out_buf (a g_malloc'd buffer the caller g_frees) and *out_len. At most
 * o->max_pages pages, rendered at o->pdf_dpi, each checked against
 * o->max_pixels and FG_PDF_MAX_PAGE_POINTS before it is rendered; a
 * longer document ends with a page saying how many were left out.
 * Returns FG_EUNSUPPORTED (password-protected), FG_ECORRUPT (damaged,
 * truncated, not a PDF), FG_ELIMIT (a page too large), FG_EIO, or
 * FG_EUNSUPPORTED outside the sandbox, with a reason; on failure *out_buf
 * is NULL. */
FG_MUST_CHECK fg_result wm_pdf_preview_buffer(const void *buf, size_t len,
                                              const wm_options *o,
                                              uint64_t seed,
                                              void **out_buf /* out */,
                                              size_t *out_len /* out */,
                                              fg_reason *r);

/* Pages an excerpt (text, code, office documents) shows: o->max_pages
 * when --max-pages was given, else o->excerpt_pages capped by
 * o->max_pages. This function can't fail. */
int wm_excerpt_pages(const wm_options *o);

/* The preview of the PDF at in, or held in buf (len bytes, borrowed), as
 * an excerpt: its first wm_excerpt_pages(o) pages, then a page saying how
 * many of how many are held back. total, when above the document's page
 * count, is the length of the original the buffer is the start of (text
 * is laid out only as far as the excerpt goes). Written to out (a .pdf
 * or no extension); contract and results as wm_stamp_file's. Sandbox
 * only. */
FG_MUST_CHECK fg_result wm_pdf_excerpt_file(const char *in, const char *out,
                                            const wm_options *o, uint64_t seed,
                                            fg_reason *r);
FG_MUST_CHECK fg_result wm_pdf_excerpt_buffer(const void *buf, size_t len, int total,
                                              const char *out, const wm_options *o,
                                              uint64_t seed, fg_reason *r);

#endif
