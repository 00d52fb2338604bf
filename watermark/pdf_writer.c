/* The image-only PDF, written with cairo's PDF surface. A JPEG attached to
 * an image surface as CAIRO_MIME_TYPE_JPEG is embedded as it is
 * (DCTDecode): the surface's own pixels are never read, so they are left
 * unset (calloc'd pages that are never touched cost no memory). */
#include "watermark/pdf_writer.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <stdio.h>
#include <string.h>
#include <glib.h>
#include <stdlib.h>

struct wm_pdf_writer {
    wm_pdf_sink sink;
    void *closure;
    cairo_surface_t *pdf;
    cairo_t *cr;
    int pages;
};

static cairo_status_t on_write(void *closure, const unsigned char *data,
                               unsigned int len)
{
    wm_pdf_writer *w = closure;
    return w->sink(w->closure, data, len) == 0 ? CAIRO_STATUS_SUCCESS
                                                : CAIRO_STATUS_WRITE_ERROR;
}

wm_pdf_writer *wm_pdf_writer_new(wm_pdf_sink sink, void *closure)
{
    wm_pdf_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->sink = sink;
    w->closure = closure;
    /* The size is set again for every page. */
    w->pdf = cairo_pdf_surface_create_for_stream(on_write, w, 595.0, 842.0);
    w->cr = cairo_create(w->pdf);
    if (cairo_surface_status(w->pdf) != CAIRO_STATUS_SUCCESS ||
        cairo_status(w->cr) != CAIRO_STATUS_SUCCESS) {
        wm_pdf_writer_free(w);
        return NULL;
    }
    cairo_pdf_surface_set_metadata(w->pdf, CAIRO_PDF_METADATA_CREATOR,
                                   "filigrane preview");
    return w;
}

static fg_result check(wm_pdf_writer *w, fg_reason *r)
{
    if (cairo_status(w->cr) != CAIRO_STATUS_SUCCESS ||
        cairo_surface_status(w->pdf) != CAIRO_STATUS_SUCCESS)
        return fg_fail(r, FG_EIO, "cannot write pdf preview: %s",
                       cairo_status_to_string(cairo_surface_status(w->pdf)));
    return FG_OK;
}

fg_result wm_pdf_writer_add_jpeg(wm_pdf_writer *w, double width, double height,
                                 void *jpeg, size_t len, int px_w, int px_h,
                                 fg_reason *r)
{
    cairo_surface_t *img =
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, px_w, px_h);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS ||
        cairo_surface_set_mime_data(img, CAIRO_MIME_TYPE_JPEG, jpeg, len,
                                    g_free, jpeg) != CAIRO_STATUS_SUCCESS) {
        g_free(jpeg);
        cairo_surface_destroy(img);
        return fg_fail(r, FG_EIO, "cannot write pdf preview: out of memory");
    }
    cairo_pdf_surface_set_size(w->pdf, width, height);
    cairo_save(w->cr);
    cairo_scale(w->cr, width / px_w, height / px_h);
    cairo_set_source_surface(w->cr, img, 0, 0);
    cairo_paint(w->cr);
    cairo_restore(w->cr);
    cairo_show_page(w->cr);
    cairo_surface_destroy(img);
    w->pages++;
    return check(w, r);
}

fg_result wm_pdf_writer_add_note(wm_pdf_writer *w, double width, double height,
                                 const char *text, fg_reason *r)
{
    cairo_text_extents_t ext;
    char line[256];
    int nlines = 1;
    for (const char *p = text; *p; p++)
        nlines += *p == '\n';
    double size = width / 30, gap = size * 1.6;
    cairo_pdf_surface_set_size(w->pdf, width, height);
    cairo_save(w->cr);
    cairo_select_font_face(w->cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_source_rgb(w->cr, 0.2, 0.2, 0.2);
    /* One line after another, centred; the first (the count) in bold and
     * larger, the others in the regular face. */
    const char *p = text;
    for (int i = 0; i < nlines; i++) {
        size_t n = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
        p += n + (p[n] == '\n');
        if (i == 1) {
            cairo_select_font_face(w->cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                                   CAIRO_FONT_WEIGHT_NORMAL);
            size = width / 40;
        }
        cairo_set_font_size(w->cr, size);
        cairo_text_extents(w->cr, line, &ext);
        double y = height / 2 + (i - (nlines - 1) / 2.0) * gap;
        cairo_move_to(w->cr, (width - ext.width) / 2 - ext.x_bearing,
                      y - ext.height / 2 - ext.y_bearing);
        cairo_show_text(w->cr, line);
    }
    cairo_restore(w->cr);
    cairo_show_page(w->cr);
    w->pages++;
    return check(w, r);
}

fg_result wm_pdf_writer_finish(wm_pdf_writer *w, fg_reason *r)
{
    cairo_surface_finish(w->pdf);
    return check(w, r);
}

void wm_pdf_writer_free(wm_pdf_writer *w)
{
    if (!w)
        return;
    cairo_destroy(w->cr);
    cairo_surface_destroy(w->pdf);
    free(w);
}
