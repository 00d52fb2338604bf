/* Text and source code laid out on pages (Pango and cairo), then
 * previewed as an excerpt like any PDF (watermark/pdf.h): pages rendered
 * as images, stamped, assembled into an image-only PDF.
 *
 * Layout: A4, DejaVu Sans Mono 9 pt (fontconfig falls back to Noto for
 * scripts it lacks), lines wrapped at the margin on character boundaries,
 * tabs every 8 columns, each paragraph's direction found by Pango (an
 * Arabic or Hebrew line starts at the right margin), invalid UTF-8 shown
 * as U+FFFD, control characters as U+FFFD too. A line longer than
 * o->text_max_line bytes is broken there, so Pango never lays out more
 * than that at once. Only the pages of the excerpt are laid out; the rest
 * of the text is counted (cells per row, rows per page) to say how many
 * pages the whole text makes. */
#ifndef WM_TEXT_H
#define WM_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "watermark/wm.h"

/* Lays out text (len bytes, borrowed; any bytes) as a vector PDF of at
 * most `pages` pages, into *pdf (g_malloc'd, the caller g_frees) and
 * *pdf_len; *total is the number of pages the whole text makes (counted,
 * not laid out, past `pages`). An empty text is one empty page. Returns
 * FG_EIO (out of memory, cairo failed) with a reason. No sandbox check:
 * the caller (wm_stamp_text, the unit tests) decides where it runs. */
FG_MUST_CHECK fg_result wm_text_layout(const char *text, size_t len, int pages,
                                       int max_line, void **pdf /* out */,
                                       size_t *pdf_len /* out */, int *total /* out */,
                                       fg_reason *r);

#endif
