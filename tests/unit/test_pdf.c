/* PDF previews, end to end: PDFs made here with cairo, stamped by the real
 * CLI (through its sandbox), checked with poppler-utils and qpdf the way
 * a buyer or an auditor would look at them. */
#define _GNU_SOURCE
#include <cairo-pdf.h>
#include <cairo.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vips/vips.h>

#include "watermark/formats.h"

#define TAP_MAIN
#include "tests/unit/tap.h"

#include "tests/unit/cli_fixture.h"

static void setup(void) { fixture_setup("fg-pdf"); }

/* Runs a shell command; returns its exit status, its output in out. */
static int run(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = 0;
    if (out) {
        while (n + 1 < outlen) {
            size_t k = fread(out + n, 1, outlen - 1 - n, p);
            if (k == 0)
                break;
            n += k;
        }
        out[n] = '\0';
    }
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0)
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct page_spec {
    double w, h;
} page_spec;

/* A text PDF: every page says "quokka <word> page N" many times. */
static void make_pdf(const char *file, const page_spec *pages, int n,
                     const char *word)
{
    cairo_surface_t *s = cairo_pdf_surface_create(file, pages[0].w, pages[0].h);
    cairo_t *cr = cairo_create(s);
    char line[128];
    for (int i = 0; i < n; i++) {
        cairo_pdf_surface_set_size(s, pages[i].w, pages[i].h);
        cairo_select_font_face(cr, "DejaVu Sans", 0, 0);
        cairo_set_font_size(cr, 12);
        for (double y = 40; y < pages[i].h - 20; y += 18) {
            snprintf(line, sizeof line, "quokka %s page %d", word, i + 1);
            cairo_move_to(cr, 20, y);
            cairo_show_text(cr, line);
        }
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_finish(s);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
        abort();
    cairo_surface_destroy(s);
}

static int stamp(const char *opts, const char *in, const char *out, char *err,
                 size_t errlen)
{
    return run(err, errlen, "%s stamp %s '%s' '%s' 2>&1", cli, opts, in, out);
}

static const page_spec mixed[] = {
    {595.276, 841.89}, /* A4 */
    {792, 612},        /* US letter, landscape */
    {300, 200},        /* a card */
};

TEST("a pdf preview has the original's page count and page sizes")
{
    setup();
    char out[8192];
    make_pdf(path("mixed.pdf"), mixed, 3, "zanzibar");
    CHECK_INT(stamp("", path("mixed.pdf"), path("mixed-preview.pdf"), out,
                    sizeof out),
              0);
    CHECK_INT(run(out, sizeof out, "pdfinfo -f 1 -l 3 '%s'",
                  path("mixed-preview.pdf")),
              0);
    CHECK(strstr(out, "Pages:           3\n") != NULL);
    CHECK(strstr(out, "Page    1 size:  595.276 x 841.89 pts") != NULL);
    CHECK(strstr(out, "Page    2 size:  792 x 612 pts") != NULL);
    CHECK(strstr(out, "Page    3 size:  300 x 200 pts") != NULL);
}

TEST("none of the original's words can be extracted from the preview")
{
    setup();
    char out[65536];
    make_pdf(path("words.pdf"), mixed, 2, "xylophonist");
    CHECK_INT(run(out, sizeof out, "pdftotext '%s' -", path("words.pdf")), 0);
    CHECK(strstr(out, "xylophonist") != NULL); /* the test PDF has text */
    CHECK_INT(stamp("", path("words.pdf"), path("words-preview.pdf"), out,
                    sizeof out),
              0);
    CHECK_INT(run(out, sizeof out, "pdftotext '%s' -",
                  path("words-preview.pdf")),
              0);
    CHECK(strstr(out, "xylophonist") == NULL);
    CHECK(strstr(out, "quokka") == NULL);
    CHECK(strstr(out, "page") == NULL);
}

TEST("the preview passes qpdf --check and carries no original metadata")
{
    setup();
    char out[8192];
    make_pdf(path("check.pdf"), mixed, 3, "checked");
    CHECK_INT(stamp("", path("check.pdf"), path("check-preview.pdf"), out,
                    sizeof out),
              0);
    CHECK_INT(run(out, sizeof out, "qpdf --check '%s'",
                  path("check-preview.pdf")),
              0);
    CHECK(strstr(out, "No syntax or stream encoding errors") != NULL);
    CHECK_INT(run(out, sizeof out, "pdffonts '%s'", path("check-preview.pdf")),
              0);
    /* pdffonts prints two header lines and one line per font: none. */
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    CHECK_INT(lines, 2);
}

/* The mark covers the page: each cell of a grid differs from the plain
 * rendering of the original. */
TEST("every part of a preview page is watermarked")
{
    setup();
    char out[8192];
    const page_spec a4[] = {{595.276, 841.89}};
    make_pdf(path("grid.pdf"), a4, 1, "grid");
    CHECK_INT(stamp("--opacity 0.5", path("grid.pdf"), path("grid-preview.pdf"),
                    out, sizeof out),
              0);
    VipsImage *a = NULL, *b = NULL, *fa = NULL, *fb = NULL, *d = NULL;
    CHECK(vips_pdfload(path("grid.pdf"), &a, "dpi", 50.0, NULL) == 0);
    CHECK(vips_pdfload(path("grid-preview.pdf"), &b, "dpi", 50.0, NULL) == 0);
    CHECK(vips_flatten(a, &fa, NULL) == 0 && vips_flatten(b, &fb, NULL) == 0);
    CHECK(fa->Xsize == fb->Xsize && fa->Ysize == fb->Ysize);
    CHECK(vips_subtract(fa, fb, &d, NULL) == 0);
    int cells = 0, marked = 0;
    for (int gy = 0; gy < 4; gy++)
        for (int gx = 0; gx < 3; gx++) {
            VipsImage *cell = NULL, *ab = NULL;
            double m = 0;
            int cw = d->Xsize / 3, ch = d->Ysize / 4;
            CHECK(vips_crop(d, &cell, gx * cw, gy * ch, cw, ch, NULL) == 0);
            CHECK(vips_abs(cell, &ab, NULL) == 0 && vips_avg(ab, &m, NULL) == 0);
            cells++;
            marked += m > 1.0;
            g_object_unref(ab);
            g_object_unref(cell);
        }
    CHECK_INT(marked, cells);
    g_object_unref(d);
    g_object_unref(fb);
    g_object_unref(fa);
    g_object_unref(b);
    g_object_unref(a);
}

TEST("a long pdf is capped at --max-pages and says so on a last page")
{
    setup();
    char out[8192];
    page_spec five[5];
    for (int i = 0; i < 5; i++)
        five[i] = (page_spec){595.276, 841.89};
    make_pdf(path("five.pdf"), five, 5, "long");
    CHECK_INT(stamp("--max-pages 2", path("five.pdf"), path("five-preview.pdf"),
                    out, sizeof out),
              0);
    CHECK_INT(run(out, sizeof out, "pdfinfo '%s'", path("five-preview.pdf")), 0);
    CHECK(strstr(out, "Pages:           3\n") != NULL);
    CHECK_INT(run(out, sizeof out, "pdftotext -f 3 -l 3 '%s' -",
                  path("five-preview.pdf")),
              0);
    CHECK(strstr(out, "Preview limited to 2 of 5 pages") != NULL);
    setenv("FILIGRANE_MAX_PAGES", "4", 1);
    CHECK_INT(stamp("", path("five.pdf"), path("five-env.pdf"), out,
                    sizeof out),
              0);
    unsetenv("FILIGRANE_MAX_PAGES");
    CHECK_INT(run(out, sizeof out, "pdfinfo '%s'", path("five-env.pdf")), 0);
    CHECK(strstr(out, "Pages:           5\n") != NULL);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

TEST("a password-protected pdf is withheld with a reason")
{
    setup();
    char out[8192];
    make_pdf(path("plain.pdf"), mixed, 1, "secret");
    CHECK_INT(run(NULL, 0,
                  "qpdf --encrypt user owner 256 -- '%s' '%s' 2>/dev/null",
                  path("plain.pdf"), path("locked.pdf")),
              0);
    CHECK_INT(stamp("", path("locked.pdf"), path("locked-preview.pdf"), out,
                    sizeof out),
              3);
    CHECK(strstr(out, "locked.pdf: pdf is password-protected") != NULL);
    CHECK(!exists(path("locked-preview.pdf")));
}

TEST("a truncated pdf is unreadable, with a reason and no output")
{
    setup();
    char out[8192];
    make_pdf(path("whole.pdf"), mixed, 3, "truncated");
    CHECK_INT(run(NULL, 0, "head -c 4000 '%s' > '%s'", path("whole.pdf"),
                  path("cut.pdf")),
              0);
    CHECK_INT(stamp("", path("cut.pdf"), path("cut-preview.pdf"), out,
                    sizeof out),
              4);
    CHECK(strstr(out, "cut.pdf: pdf cannot be read: damaged or truncated"));
    CHECK(!exists(path("cut-preview.pdf")));
}

TEST("a pdf with a broken cross-reference table is repaired or refused")
{
    setup();
    char out[8192];
    make_pdf(path("xref.pdf"), mixed, 2, "xref");
    /* Every offset in the xref table off by a few bytes. */
    CHECK_INT(run(NULL, 0,
                  "sed 's/^\\(00000\\)\\([0-9]\\{5\\}\\) 00000 n/\\199999 "
                  "00000 n/' '%s' > '%s'",
                  path("xref.pdf"), path("badxref.pdf")),
              0);
    int rc = stamp("", path("badxref.pdf"), path("badxref-preview.pdf"), out,
                   sizeof out);
    if (rc == 0) {
        CHECK_INT(run(out, sizeof out, "pdfinfo '%s'",
                      path("badxref-preview.pdf")),
                  0);
        CHECK(strstr(out, "Pages:           2\n") != NULL);
    } else {
        CHECK_INT(rc, 4);
        CHECK(strstr(out, "pdf cannot be read") != NULL);
    }
}

TEST("a page of absurd size is refused before it is rendered")
{
    setup();
    char out[8192];
    const page_spec huge[] = {{595, 842}, {14000, 14000}};
    make_pdf(path("huge.pdf"), huge, 2, "huge");
    CHECK_INT(stamp("", path("huge.pdf"), path("huge-preview.pdf"), out,
                    sizeof out),
              5);
    CHECK(strstr(out, "pdf page 2 is 19444 x 19444 pixels at 100 dpi: over "
                      "the pixel limit") != NULL);
    CHECK(!exists(path("huge-preview.pdf")));
    CHECK_INT(stamp("--max-pixels 1000", path("mixed.pdf"),
                    path("tiny-preview.pdf"), out, sizeof out),
              5);
}

TEST("outside the sandbox the pdf stamper refuses to decode")
{
    setup();
    wm_options o;
    fg_reason r = {{0}};
    CHECK_INT(wm_options_init(&o, &r), FG_OK);
    make_pdf(path("outside.pdf"), mixed, 1, "outside");
    CHECK_INT(wm_stamp_pdf(path("outside.pdf"), path("outside-preview.pdf"), &o,
                           1, &r),
              FG_EUNSUPPORTED);
    CHECK_STR(r.text, "pdf previews are made only in the sandbox");
    CHECK(!exists(path("outside-preview.pdf")));
}

__attribute__((constructor(101))) static void start(void)
{
    if (VIPS_INIT("test_pdf") != 0)
        abort();
}
