/* Assembling an image-only PDF, one JPEG page at a time.
 *
 * The JPEG bytes go into the PDF as they are (a DCTDecode image): nothing
 * is decoded or re-encoded, and nothing of a page is kept once the next
 * one starts. */
#ifndef WM_PDF_WRITER_H
#define WM_PDF_WRITER_H

#include <stddef.h>

#include "common/result.h"

typedef struct wm_pdf_writer wm_pdf_writer;

/* Where the PDF goes: write(closure, data, len) returns 0 on success. */
typedef int (*wm_pdf_sink)(void *closure, const unsigned char *data,
                           size_t len);

/* A new writer sending its bytes to sink. Returns NULL when out of
 * memory. */
wm_pdf_writer *wm_pdf_writer_new(wm_pdf_sink sink, void *closure);

/* Adds a page of width x height points showing the JPEG in jpeg (len
 * bytes, px_w x px_h pixels) scaled to the whole page. Takes ownership
 * of jpeg (a g_malloc'd buffer) whatever it returns. Returns FG_EIO if
 * the sink failed. */
FG_MUST_CHECK fg_result wm_pdf_writer_add_jpeg(wm_pdf_writer *w, double width,
                                               double height, void *jpeg,
                                               size_t len, int px_w, int px_h,
                                               fg_reason *r);

/* Adds a page of width x height points with text centred on it, one
 * line per '\n'-separated part, the first larger and bold (the note that
 * a preview was cut short). */
FG_MUST_CHECK fg_result wm_pdf_writer_add_note(wm_pdf_writer *w, double width,
                                               double height,
                                               const char *text,
                                               fg_reason *r);

/* Writes the end of the PDF (cross-reference table, trailer). Returns
 * FG_EIO if the sink failed. The writer is still to be freed. */
FG_MUST_CHECK fg_result wm_pdf_writer_finish(wm_pdf_writer *w, fg_reason *r);

/* Frees w; a writer never finished leaves an incomplete PDF behind in the
 * sink. Accepts NULL. */
void wm_pdf_writer_free(wm_pdf_writer *w);

#endif
