/* PDF previews: render, stamp and re-assemble, a few pages at a time.
 *
 * Pages are rendered with poppler-glib directly rather than libvips's
 * pdfload: pdfload opens the document again for every page, which cost
 * more than the rendering itself (measured: 11 ms a page against 1.6 ms
 * for a 500-page report) and made memory grow with the page count (each
 * opening loads the fonts again, and cairo keeps up to 256 of them). One
 * open document, rendered page after page, keeps both flat. poppler is
 * the same library pdfload uses; like pdfload, it runs only in the
 * sandboxed child (wm_sandbox_active). */
#include "watermark/pdf.h"

#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poppler.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <vips/vips.h>

#include "watermark/formats.h"
#include "watermark/mark.h"
#include "watermark/trace.h"
#include "watermark/pdf_writer.h"
#include "watermark/save.h"
#include "watermark/seccomp.h"

/* Rendered pages are marked and encoded two at a time (the machines have
 * two cores; poppler renders one document on one thread), in batches
 * written in order: at most BATCH rendered pages are held at once,
 * whatever the length of the document. */
#define WORKERS 2
#define BATCH 4

typedef struct page_job {
    int index;
    VipsImage *page; /* rendered, 8-bit sRGB, no alpha */
    void *jpeg;      /* g_malloc'd */
    size_t len;
    double pt_w, pt_h;
    int px_w, px_h;
    fg_result rc;
    fg_reason why;
} page_job;

typedef struct page_pool {
    const wm_options *o;
    uint64_t seed;
    page_job *jobs;
    int n;
    gint next;
} page_pool;

static fg_result open_failed(GError *e, fg_reason *r)
{
    fg_result rc;
    /* poppler's message is not passed on: it can name the file. */
    if (e && e->domain == POPPLER_ERROR && e->code == POPPLER_ERROR_ENCRYPTED)
        rc = fg_fail(r, FG_EUNSUPPORTED,
                     "pdf is password-protected: it is withheld");
    else
        rc = fg_fail(r, FG_ECORRUPT, "pdf cannot be read: damaged or truncated");
    g_clear_error(&e);
    return rc;
}

static void free_pixels(VipsImage *im, void *buf)
{
    (void)im;
    g_free(buf);
}

/* Renders page i at dpi on white, after checking its size against the
 * limits: the pixels are allocated only for a page that passes. */
static fg_result render_page(PopplerDocument *doc, int i, int dpi,
                             const wm_options *o, page_job *j, fg_reason *r)
{
    PopplerPage *page = poppler_document_get_page(doc, i);
    cairo_surface_t *s = NULL;
    cairo_t *cr = NULL;
    unsigned char *rgb = NULL;
    fg_result rc = FG_OK;
    if (!page)
        return fg_fail(r, FG_ECORRUPT, "pdf page %d cannot be read", i + 1);
    poppler_page_get_size(page, &j->pt_w, &j->pt_h);
    if (!(j->pt_w >= 1 && j->pt_h >= 1)) {
        rc = fg_fail(r, FG_ECORRUPT, "pdf page %d has no size", i + 1);
        goto out;
    }
    if (j->pt_w > FG_PDF_MAX_PAGE_POINTS || j->pt_h > FG_PDF_MAX_PAGE_POINTS) {
        rc = fg_fail(r, FG_ELIMIT,
                     "pdf page %d is %.0f x %.0f pt: over the page size "
                     "limit (%.0f pt)",
                     i + 1, j->pt_w, j->pt_h, FG_PDF_MAX_PAGE_POINTS);
        goto out;
    }
    int w = (int)lround(j->pt_w * dpi / 72.0), h = (int)lround(j->pt_h * dpi / 72.0);
    if (w < 1)
        w = 1;
    if (h < 1)
        h = 1;
    j->px_w = w;
    j->px_h = h;
    if ((long long)w * h > o->max_pixels) {
        rc = fg_fail(r, FG_ELIMIT,
                     "pdf page %d is %d x %d pixels at %d dpi: over the pixel "
                     "limit (%lld)",
                     i + 1, w, h, dpi, o->max_pixels);
        goto out;
    }
    s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cr = cairo_create(s);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        rc = fg_fail(r, FG_EIO, "pdf page %d: out of memory", i + 1);
        goto out;
    }
    /* A page is paper: white under whatever it draws. */
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, (double)w / j->pt_w, (double)h / j->pt_h);
    poppler_page_render(page, cr);
    cairo_surface_flush(s);
    /* cairo's RGB24 is a native-endian 0x00RRGGBB word per pixel; libvips
     * wants R, G, B bytes. */
    rgb = g_try_malloc((size_t)w * h * 3);
    if (!rgb) {
        rc = fg_fail(r, FG_EIO, "pdf page %d: out of memory", i + 1);
        goto out;
    }
    const unsigned char *px = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < h; y++) {
        const uint32_t *row = (const uint32_t *)(px + (size_t)y * stride);
        unsigned char *o3 = rgb + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            uint32_t v = row[x];
            o3[3 * x] = (unsigned char)(v >> 16);
            o3[3 * x + 1] = (unsigned char)(v >> 8);
            o3[3 * x + 2] = (unsigned char)v;
        }
    }
    j->page = vips_image_new_from_memory(rgb, (size_t)w * h * 3, w, h, 3,
                                         VIPS_FORMAT_UCHAR);
    if (!j->page) {
        vips_error_clear();
        rc = fg_fail(r, FG_EIO, "pdf page %d: out of memory", i + 1);
        goto out;
    }
    g_signal_connect(j->page, "postclose", G_CALLBACK(free_pixels), rgb);
    rgb = NULL; /* freed with the image */
out:
    g_free(rgb);
    if (cr)
        cairo_destroy(cr);
    if (s)
        cairo_surface_destroy(s);
    g_object_unref(page);
    return rc;
}

/* Page i of a preview gets its own jitter, so the mark is not at the same
 * place on every page (which would let it be estimated and removed). */
static uint64_t page_seed(uint64_t seed, int page)
{
    return seed ^ ((uint64_t)(page + 1) * 0x9e3779b97f4a7c15ULL);
}

static void stamp_one(page_pool *p, page_job *j)
{
    VipsImage *marked = NULL;
    j->rc = wm_mark_image(j->page, p->o, page_seed(p->seed, j->index), &marked,
                          &j->why);
    /* The traceable mark (watermark/trace.h), on each page image. */
    if (j->rc == FG_OK) {
        VipsImage *traced = NULL;
        j->rc = wm_trace_embed(marked, p->o, &traced, &j->why);
        g_object_unref(marked);
        marked = traced;
    }
    if (j->rc == FG_OK &&
        vips_jpegsave_buffer(marked, &j->jpeg, &j->len, "Q",
                             p->o->jpeg_quality, "strip", TRUE, NULL) != 0) {
        vips_error_clear();
        j->rc = fg_fail(&j->why, FG_EIO, "pdf page %d: cannot encode",
                        j->index + 1);
    }
    if (marked)
        g_object_unref(marked);
    g_object_unref(j->page);
    j->page = NULL;
}

static gpointer page_worker(gpointer data)
{
    page_pool *p = data;
    for (;;) {
        int i = g_atomic_int_add(&p->next, 1);
        if (i >= p->n)
            return NULL;
        stamp_one(p, &p->jobs[i]);
    }
}

static void stamp_batch(page_pool *p)
{
    GThread *helper = NULL;
    p->next = 0;
    if (WORKERS > 1 && p->n > 1)
        helper = g_thread_try_new("fg-pdf", page_worker, p, NULL);
    page_worker(p);
    if (helper)
        g_thread_join(helper);
}

/* The preview of doc: its first `shown` pages (at most the document's),
 * then, when the document has more, a page saying how many of how many
 * were shown. claimed_total, when above 0, is the length of the original
 * the document is an excerpt of (text laid out only as far as shown). */
static fg_result preview(PopplerDocument *doc, const wm_options *o_in,
                         uint64_t seed, int shown, int claimed_total,
                         wm_pdf_sink sink, void *closure, fg_reason *r)
{
    wm_pdf_writer *w = NULL;
    fg_result rc = FG_OK;
    page_job jobs[BATCH];
    /* Pages keep their rendered size: the DPI already made them screen
     * sized, and shrinking would change the page geometry. */
    wm_options o = *o_in;
    o.max_edge = 0;
    int dpi = o.pdf_dpi > 0 ? o.pdf_dpi : FG_PDF_DPI_DEFAULT;
    page_pool pool = {.o = &o, .seed = seed, .jobs = jobs};
    int total = poppler_document_get_n_pages(doc);
    if (total < 1)
        return fg_fail(r, FG_ECORRUPT, "pdf has no pages");
    int pages = total < shown ? total : shown;
    if (claimed_total > total)
        total = claimed_total;

    w = wm_pdf_writer_new(sink, closure);
    if (!w)
        return fg_fail(r, FG_EIO, "cannot write pdf preview: out of memory");
    for (int base = 0; base < pages && rc == FG_OK; base += BATCH) {
        pool.n = pages - base < BATCH ? pages - base : BATCH;
        for (int k = 0; k < pool.n; k++)
            jobs[k] = (page_job){.index = base + k};
        for (int k = 0; k < pool.n && rc == FG_OK; k++)
            rc = render_page(doc, base + k, dpi, &o, &jobs[k], r);
        if (rc == FG_OK)
            stamp_batch(&pool);
        for (int k = 0; k < pool.n; k++) {
            page_job *j = &jobs[k];
            if (rc == FG_OK && j->rc != FG_OK)
                rc = fg_fail(r, j->rc, "%s", j->why.text);
            if (rc == FG_OK) {
                rc = wm_pdf_writer_add_jpeg(w, j->pt_w, j->pt_h, j->jpeg,
                                            j->len, j->px_w, j->px_h, r);
                j->jpeg = NULL; /* the writer took it */
            }
            if (j->page)
                g_object_unref(j->page);
            g_free(j->jpeg);
        }
    }
    if (rc == FG_OK && pages < total) {
        char note[160];
        double w0, h0;
        PopplerPage *first = poppler_document_get_page(doc, 0);
        poppler_page_get_size(first, &w0, &h0);
        g_object_unref(first);
        /* Two lines: the count, then what the buyer gets on acceptance. */
        snprintf(note, sizeof note,
                 "Preview limited to %d of %d pages\n"
                 "the other %d %s held back until acceptance",
                 pages, total, total - pages, total - pages == 1 ? "is" : "are");
        rc = wm_pdf_writer_add_note(w, w0, h0, note, r);
    }
    if (rc == FG_OK)
        rc = wm_pdf_writer_finish(w, r);
    wm_pdf_writer_free(w);
    return rc;
}

static int to_bytes(void *closure, const unsigned char *data, size_t len)
{
    g_byte_array_append(closure, data, (guint)len);
    return 0;
}

static int to_fd(void *closure, const unsigned char *data, size_t len)
{
    int fd = *(int *)closure;
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* poppler is the untrusted decoder here: refuse to run it anywhere but
 * in the sandboxed child. */
static fg_result check_sandbox(fg_reason *r)
{
    if (!wm_sandbox_active())
        return fg_fail(r, FG_EUNSUPPORTED,
                       "pdf previews are made only in the sandbox");
    return FG_OK;
}

fg_result wm_pdf_preview_buffer(const void *buf, size_t len,
                                const wm_options *o, uint64_t seed,
                                void **out_buf, size_t *out_len, fg_reason *r)
{
    GError *e = NULL;
    *out_buf = NULL;
    *out_len = 0;
    fg_result rc = check_sandbox(r);
    if (rc != FG_OK)
        return rc;
    GBytes *in = g_bytes_new_static(buf, len);
    PopplerDocument *doc = poppler_document_new_from_bytes(in, NULL, &e);
    g_bytes_unref(in);
    if (!doc)
        return open_failed(e, r);
    GByteArray *bytes = g_byte_array_new();
    rc = preview(doc, o, seed, o->max_pages, 0, to_bytes, bytes, r);
    g_object_unref(doc);
    if (rc != FG_OK) {
        g_byte_array_free(bytes, TRUE);
        return rc;
    }
    *out_len = bytes->len;
    *out_buf = g_byte_array_free(bytes, FALSE);
    return FG_OK;
}

/* Writes the preview of doc (owned: unreferenced here) to out. */
static fg_result write_preview(PopplerDocument *doc, const char *out, const wm_options *o,
                               uint64_t seed, int shown, int claimed_total, fg_reason *r)
{
    wm_outfile f = {.fd = -1};
    fg_result rc;
    /* Written to a temporary file and renamed, so a failure (or a kill by
     * the sandbox) never leaves half a PDF at out. */
    if ((rc = wm_outfile_open(&f, out, r)) == FG_OK &&
        (rc = preview(doc, o, seed, shown, claimed_total, to_fd, &f.fd, r)) == FG_OK)
        rc = wm_outfile_commit(&f, r);
    wm_outfile_abort(&f);
    g_object_unref(doc);
    return rc;
}

static fg_result check_out_pdf(const char *out, const char *what, fg_reason *r)
{
    wm_format fmt = wm_format_from_path(out);
    if (fmt != WM_FORMAT_AUTO && fmt != WM_FORMAT_PDF)
        return fg_fail(r, FG_EUSAGE, "the preview of a %s is a pdf: name the output .pdf",
                       what);
    return FG_OK;
}

static fg_result open_path(const char *in, PopplerDocument **doc, fg_reason *r)
{
    GError *e = NULL;
    int fd = open(in, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fg_fail(r, FG_ECORRUPT, "cannot open the pdf: %s",
                       errno == ENOENT ? "no such file" : "not readable");
    /* poppler owns fd from here, also when it fails. */
    *doc = poppler_document_new_from_fd(fd, NULL, &e);
    return *doc ? FG_OK : open_failed(e, r);
}

fg_result wm_stamp_pdf(const char *in, const char *out, const wm_options *o,
                       uint64_t seed, fg_reason *r)
{
    PopplerDocument *doc = NULL;
    fg_result rc = check_sandbox(r);
    if (rc == FG_OK)
        rc = check_out_pdf(out, "pdf", r);
    if (rc == FG_OK)
        rc = open_path(in, &doc, r);
    if (rc != FG_OK)
        return rc;
    return write_preview(doc, out, o, seed, o->max_pages, 0, r);
}

int wm_excerpt_pages(const wm_options *o)
{
    if (o->max_pages_given || o->excerpt_pages <= 0)
        return o->max_pages;
    return o->excerpt_pages < o->max_pages ? o->excerpt_pages : o->max_pages;
}

fg_result wm_pdf_excerpt_file(const char *in, const char *out, const wm_options *o,
                              uint64_t seed, fg_reason *r)
{
    PopplerDocument *doc = NULL;
    fg_result rc = check_sandbox(r);
    if (rc == FG_OK)
        rc = check_out_pdf(out, "document", r);
    if (rc == FG_OK)
        rc = open_path(in, &doc, r);
    if (rc != FG_OK)
        return rc;
    return write_preview(doc, out, o, seed, wm_excerpt_pages(o), 0, r);
}

fg_result wm_pdf_excerpt_buffer(const void *buf, size_t len, int total, const char *out,
                                const wm_options *o, uint64_t seed, fg_reason *r)
{
    GError *e = NULL;
    fg_result rc = check_sandbox(r);
    if (rc == FG_OK)
        rc = check_out_pdf(out, "text", r);
    if (rc != FG_OK)
        return rc;
    GBytes *in = g_bytes_new_static(buf, len);
    PopplerDocument *doc = poppler_document_new_from_bytes(in, NULL, &e);
    g_bytes_unref(in);
    if (!doc)
        return open_failed(e, r);
    return write_preview(doc, out, o, seed, wm_excerpt_pages(o), total, r);
}
