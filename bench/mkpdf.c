/* Makes a text PDF for the benchmark: mkpdf OUT PAGES. A4 pages of
 * text lines, every fifth page landscape, like a report with tables. */
#include <cairo-pdf.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long pages = strtol(argv[2], NULL, 10);
    cairo_surface_t *s = cairo_pdf_surface_create(argv[1], 595.276, 841.89);
    cairo_t *cr = cairo_create(s);
    char line[128];
    for (long i = 0; i < pages; i++) {
        int land = i % 5 == 4;
        double w = land ? 841.89 : 595.276, h = land ? 595.276 : 841.89;
        cairo_pdf_surface_set_size(s, w, h);
        cairo_set_source_rgb(cr, 0.95, 0.95, 1);
        cairo_rectangle(cr, 40, 40, w - 80, 60);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_select_font_face(cr, "DejaVu Sans", 0, 0);
        cairo_set_font_size(cr, 11);
        for (int l = 0; l * 16 + 130 < h - 40; l++) {
            snprintf(line, sizeof line,
                     "Page %ld line %d: quarterly figures for the zanzibar "
                     "account, %d units", i + 1, l + 1, (int)(i * 37 + l) % 997);
            cairo_move_to(cr, 50, 130 + l * 16);
            cairo_show_text(cr, line);
        }
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_finish(s);
    int rc = cairo_surface_status(s) != CAIRO_STATUS_SUCCESS;
    cairo_surface_destroy(s);
    return rc;
}
