/* Text and source code: laid out with Pango on cairo's PDF surface, then
 * handed to the PDF path as an excerpt (watermark/text.h says how).
 *
 * The vector PDF made here never leaves the sandboxed child: it is only
 * the page source the PDF path rasterizes and stamps, so the preview is
 * image-only like every other. */
#include "watermark/text.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <pango/pangocairo.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "watermark/formats.h"
#include "watermark/pdf.h"
#include "watermark/seccomp.h"

/* A4 in points, a margin that prints, a monospace size that reads on a
 * screen at the PDF path's 100 dpi. */
#define PAGE_W 595.28
#define PAGE_H 841.89
#define MARGIN 48.0
#define FONT "DejaVu Sans Mono 9"
#define TAB 8

/* One character's cells: 0 for combining marks and zero-width ones, 2
 * for East Asian wide ones, 1 otherwise. */
static int cells_of(gunichar c)
{
    if (g_unichar_iszerowidth(c))
        return 0;
    return g_unichar_iswide(c) ? 2 : 1;
}

/* The next character of s[0..n) and its length in bytes; an invalid or
 * truncated sequence is U+FFFD of length 1. */
static gunichar next_char(const char *s, size_t n, size_t *len)
{
    gunichar c = g_utf8_get_char_validated(s, (gssize)(n < 8 ? n : 8));
    if (c == (gunichar)-1 || c == (gunichar)-2) {
        *len = 1;
        return 0xFFFD;
    }
    *len = (size_t)(g_utf8_next_char(s) - s);
    /* Controls would be drawn as boxes or not at all; U+FFFD says there
     * was something. Tabs are expanded by the caller. */
    if ((c < 0x20 && c != '\t') || (c >= 0x7f && c < 0xa0))
        return 0xFFFD;
    return c;
}

/* The end of the next piece of a line of n bytes: at most max bytes, cut
 * at a character boundary. */
static size_t piece_end(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t e = max;
    while (e > 0 && ((unsigned char)s[e] & 0xC0) == 0x80)
        e--;
    return e > 0 ? e : max;
}

/* The cells of piece s[0..n), tabs expanded; with out, also its text as
 * valid UTF-8 (tabs as spaces, bad bytes and controls as U+FFFD). */
static long long piece_cells(const char *s, size_t n, GString *out)
{
    long long cells = 0;
    size_t i = 0, len;
    while (i < n) {
        if (s[i] == '\r') {
            i++;
            continue;
        }
        gunichar c = next_char(s + i, n - i, &len);
        i += len;
        if (c == '\t') {
            int k = TAB - (int)(cells % TAB);
            cells += k;
            if (out)
                g_string_append_len(out, "        ", k);
            continue;
        }
        cells += cells_of(c);
        if (out)
            g_string_append_unichar(out, c);
    }
    return cells;
}

typedef struct layout_state {
    cairo_t *cr;
    PangoLayout *layout;
    int pages;         /* pages to lay out */
    int rows_per_page;
    int cols;
    double line_h;
    long long row;     /* rows so far, laid out or counted */
    bool page_open;    /* something drawn on the current page */
} layout_state;

/* Rows a piece of `cells` cells takes, without laying it out. */
static long long rows_of(long long cells, int cols)
{
    return cells <= 0 ? 1 : (cells + cols - 1) / cols;
}

static bool laying_out(const layout_state *st)
{
    return st->row / st->rows_per_page < st->pages;
}

/* Lays out one piece and draws its lines, row after row, while the rows
 * are within the excerpt; counts the rest. */
static void draw_piece(layout_state *st, const GString *text)
{
    pango_layout_set_text(st->layout, text->str, (int)text->len);
    PangoLayoutIter *it = pango_layout_get_iter(st->layout);
    do {
        if (!laying_out(st)) {
            st->row++;
            continue;
        }
        int in_page = (int)(st->row % st->rows_per_page);
        if (in_page == 0 && st->page_open) {
            cairo_show_page(st->cr);
            st->page_open = false;
        }
        PangoRectangle logical;
        pango_layout_iter_get_line_extents(it, NULL, &logical);
        int baseline = pango_layout_iter_get_baseline(it);
        /* The line's own x: Pango puts a right-to-left paragraph's lines
         * against the right margin. */
        cairo_move_to(st->cr, MARGIN + (double)logical.x / PANGO_SCALE,
                      MARGIN + in_page * st->line_h +
                          (double)(baseline - logical.y) / PANGO_SCALE);
        pango_cairo_show_layout_line(st->cr, pango_layout_iter_get_line_readonly(it));
        st->page_open = true;
        st->row++;
    } while (pango_layout_iter_next_line(it));
    pango_layout_iter_free(it);
}

static cairo_status_t to_bytes(void *closure, const unsigned char *data, unsigned int len)
{
    g_byte_array_append(closure, data, len);
    return CAIRO_STATUS_SUCCESS;
}

/* Cell width and row height of the font. */
static void measure(PangoLayout *layout, double *cell_w, double *line_h)
{
    int w = 0, h = 0;
    pango_layout_set_text(layout, "0000000000", -1);
    pango_layout_get_size(layout, &w, &h);
    *cell_w = (double)w / PANGO_SCALE / 10.0;
    *line_h = (double)h / PANGO_SCALE;
}

fg_result wm_text_layout(const char *text, size_t len, int pages, int max_line, void **pdf,
                         size_t *pdf_len, int *total, fg_reason *r)
{
    fg_result rc = FG_OK;
    GByteArray *bytes = g_byte_array_new();
    cairo_surface_t *s = cairo_pdf_surface_create_for_stream(to_bytes, bytes, PAGE_W, PAGE_H);
    cairo_t *cr = cairo_create(s);
    PangoLayout *layout = pango_cairo_create_layout(cr);
    PangoFontDescription *font = pango_font_description_from_string(FONT);
    GString *piece = g_string_sized_new(256);
    *pdf = NULL;
    *pdf_len = 0;
    *total = 0;
    if (pages < 1)
        pages = 1;
    if (max_line < 16)
        max_line = 16;
    pango_layout_set_font_description(layout, font);
    pango_layout_set_width(layout, (int)((PAGE_W - 2 * MARGIN) * PANGO_SCALE));
    pango_layout_set_wrap(layout, PANGO_WRAP_CHAR);
    pango_layout_set_auto_dir(layout, TRUE);
    double cell_w, line_h;
    measure(layout, &cell_w, &line_h);
    layout_state st = {
        .cr = cr,
        .layout = layout,
        .pages = pages,
        .line_h = line_h,
        .rows_per_page = (int)((PAGE_H - 2 * MARGIN) / line_h),
        .cols = (int)((PAGE_W - 2 * MARGIN) / cell_w),
    };
    if (st.rows_per_page < 1 || st.cols < 1) {
        rc = fg_fail(r, FG_EIO, "cannot lay out text: no font");
        goto out;
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        /* A line, in pieces of at most max_line bytes. */
        do {
            size_t n = piece_end(text + i, end - i, (size_t)max_line);
            if (laying_out(&st)) {
                g_string_truncate(piece, 0);
                piece_cells(text + i, n, piece);
                draw_piece(&st, piece);
            } else {
                st.row += rows_of(piece_cells(text + i, n, NULL), st.cols);
            }
            i += n;
        } while (i < end);
        i = end + 1;
    }
    if (st.page_open || st.row == 0) {
        cairo_show_page(cr);
        st.page_open = false;
    }
    long long t = (st.row + st.rows_per_page - 1) / st.rows_per_page;
    *total = t < 1 ? 1 : t > FG_MAX_PREVIEW_PAGES * 1000LL ? FG_MAX_PREVIEW_PAGES * 1000 : (int)t;
    cairo_surface_finish(s);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS || cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        rc = fg_fail(r, FG_EIO, "cannot lay out text: %s",
                     cairo_status_to_string(cairo_surface_status(s)));
out:
    g_string_free(piece, TRUE);
    pango_font_description_free(font);
    g_object_unref(layout);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    if (rc == FG_OK) {
        *pdf_len = bytes->len;
        *pdf = g_byte_array_free(bytes, FALSE);
    } else {
        g_byte_array_free(bytes, TRUE);
    }
    return rc;
}

fg_result wm_stamp_text(const char *in, const char *out, const wm_options *o, uint64_t seed,
                        fg_reason *r)
{
    void *pdf = NULL, *map = MAP_FAILED;
    size_t pdf_len = 0;
    int total = 0;
    struct stat st;
    fg_result rc = FG_OK;
    /* Pango shapes untrusted text (HarfBuzz, fontconfig): in the sandbox
     * only, as poppler. */
    if (!wm_sandbox_active())
        return fg_fail(r, FG_EUNSUPPORTED, "text previews are made only in the sandbox");
    int fd = open(in, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fg_fail(r, FG_ECORRUPT, "cannot open the text: %s",
                       errno == ENOENT ? "no such file" : "not readable");
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        rc = fg_fail(r, FG_ECORRUPT, "the text is empty or unreadable");
        goto out;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = fg_fail(r, FG_EIO, "cannot read the text: out of memory");
        goto out;
    }
    if ((rc = wm_text_layout(map, (size_t)st.st_size, wm_excerpt_pages(o), o->text_max_line,
                             &pdf, &pdf_len, &total, r)) == FG_OK)
        rc = wm_pdf_excerpt_buffer(pdf, pdf_len, total, out, o, seed, r);
out:
    g_free(pdf);
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    close(fd);
    return rc;
}
