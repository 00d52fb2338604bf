/* PDF previews: render, stamp and re-assemble, one page at a time. */
#include "watermark/pdf.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <vips/vips.h>

#include "watermark/formats.h"
#include "watermark/mark.h"
#include "watermark/pdf_writer.h"

/* The document: a file or a buffer, as pdfload takes either. */
typedef struct pdf_src {
    const char *path;
    const void *buf;
    size_t len;
} pdf_src;

/* Classifies a pdfload failure from poppler's message, which is the only
 * place that says why. The message itself is not passed on: it can hold
 * the file's path. */
static fg_result load_failed(int page, fg_reason *r)
{
    const char *msg = vips_error_buffer();
    fg_result rc;
    if (strstr(msg, "assword") || strstr(msg, "ncrypt"))
        rc = fg_fail(r, FG_EUNSUPPORTED,
                     "pdf is password-protected: it is withheld");
    else if (page == 0)
        rc = fg_fail(r, FG_ECORRUPT, "pdf cannot be read: damaged or truncated");
    else
        rc = fg_fail(r, FG_ECORRUPT,
                     "pdf page %d cannot be read: damaged or truncated",
                     page + 1);
    vips_error_clear();
    return rc;
}

static int load_page(const pdf_src *s, int page, int dpi, VipsImage **out)
{
    /* fail_on: a damaged page is an error, not a grey rectangle. */
    if (s->path)
        return vips_pdfload(s->path, out, "page", page, "n", 1, "dpi",
                            (double)dpi, "access", VIPS_ACCESS_SEQUENTIAL,
                            "fail_on", VIPS_FAIL_ON_ERROR, NULL);
    return vips_pdfload_buffer((void *)s->buf, s->len, out, "page", page, "n",
                               1, "dpi", (double)dpi, "access",
                               VIPS_ACCESS_SEQUENTIAL, "fail_on",
                               VIPS_FAIL_ON_ERROR, NULL);
}

/* The page's size in points, from its size in pixels at dpi. */
static void page_points(VipsImage *im, int dpi, double *w, double *h)
{
    *w = im->Xsize * 72.0 / dpi;
    *h = im->Ysize * 72.0 / dpi;
}

static fg_result check_page(VipsImage *im, int page, const wm_options *o,
                            int dpi, fg_reason *r)
{
    double w, h;
    page_points(im, dpi, &w, &h);
    if (w > FG_PDF_MAX_PAGE_POINTS || h > FG_PDF_MAX_PAGE_POINTS)
        return fg_fail(r, FG_ELIMIT,
                       "pdf page %d is %.0f x %.0f pt: larger than the page "
                       "limit (%.0f pt)",
                       page + 1, w, h, FG_PDF_MAX_PAGE_POINTS);
    if ((long long)im->Xsize * im->Ysize > o->max_pixels)
        return fg_fail(r, FG_ELIMIT,
                       "pdf page %d is %d x %d pixels at %d dpi: over the "
                       "pixel limit (%lld)",
                       page + 1, im->Xsize, im->Ysize, dpi, o->max_pixels);
    return FG_OK;
}

/* Page i of a preview gets its own jitter, so the mark is not at the same
 * place on every page (which would let it be estimated and removed). */
static uint64_t page_seed(uint64_t seed, int page)
{
    return seed ^ ((uint64_t)(page + 1) * 0x9e3779b97f4a7c15ULL);
}

/* Renders, stamps and JPEG-encodes one page: *jpeg is g_malloc'd. */
static fg_result stamp_page(VipsImage *page_im, int page, const wm_options *o,
                            uint64_t seed, void **jpeg, size_t *len,
                            fg_reason *r)
{
    VipsImage *flat = NULL, *marked = NULL;
    fg_result rc = FG_OK;
    /* Pages come with alpha; a page is paper, so it is flattened on white
     * and the JPEG has no transparency to lose. */
    double white[3] = {255, 255, 255};
    VipsArrayDouble *bg = vips_array_double_new(white, 3);
    if (vips_flatten(page_im, &flat, "background", bg, NULL) != 0) {
        vips_area_unref(VIPS_AREA(bg));
        return load_failed(page, r);
    }
    vips_area_unref(VIPS_AREA(bg));
    if ((rc = wm_mark_image(flat, o, page_seed(seed, page), &marked, r)))
        goto out;
    if (vips_jpegsave_buffer(marked, jpeg, len, "Q", o->jpeg_quality, "strip",
                             TRUE, NULL) != 0) {
        rc = load_failed(page, r);
        goto out;
    }
out:
    if (marked)
        g_object_unref(marked);
    g_object_unref(flat);
    return rc;
}

static fg_result preview(const pdf_src *src, const wm_options *o_in,
                         uint64_t seed, wm_pdf_sink sink, void *closure,
                         fg_reason *r)
{
    VipsImage *im = NULL;
    wm_pdf_writer *w = NULL;
    fg_result rc = FG_OK;
    /* Pages keep their rendered size: the DPI already made them screen
     * sized, and shrinking would change the page geometry. */
    wm_options o = *o_in;
    o.max_edge = 0;
    int dpi = o.pdf_dpi > 0 ? o.pdf_dpi : FG_PDF_DPI_DEFAULT;

    if (load_page(src, 0, dpi, &im) != 0)
        return load_failed(0, r);
    int total = vips_image_get_n_pages(im);
    int pages = total < o.max_pages ? total : o.max_pages;
    double w0, h0;
    page_points(im, dpi, &w0, &h0);

    w = wm_pdf_writer_new(sink, closure);
    if (!w) {
        rc = fg_fail(r, FG_EIO, "cannot write pdf preview: out of memory");
        goto out;
    }
    for (int i = 0; i < pages; i++) {
        if (i > 0) {
            g_object_unref(im);
            im = NULL;
            if (load_page(src, i, dpi, &im) != 0) {
                rc = load_failed(i, r);
                goto out;
            }
        }
        if ((rc = check_page(im, i, &o, dpi, r)))
            goto out;
        void *jpeg = NULL;
        size_t len = 0;
        double pw, ph;
        page_points(im, dpi, &pw, &ph);
        if ((rc = stamp_page(im, i, &o, seed, &jpeg, &len, r)) ||
            (rc = wm_pdf_writer_add_jpeg(w, pw, ph, jpeg, len, im->Xsize,
                                         im->Ysize, r)))
            goto out;
        /* Each page opens the document afresh in poppler and frees it
         * again; glibc keeps the freed heap, and peak memory would creep
         * up with the page count. Handing it back every few pages keeps
         * a 500-page preview at the memory of a 50-page one. */
        if (i % 8 == 7)
            malloc_trim(0);
    }
    if (pages < total) {
        char note[96];
        snprintf(note, sizeof note, "Preview limited to %d of %d pages", pages,
                 total);
        if ((rc = wm_pdf_writer_add_note(w, w0, h0, note, r)))
            goto out;
    }
    rc = wm_pdf_writer_finish(w, r);
out:
    wm_pdf_writer_free(w);
    if (im)
        g_object_unref(im);
    return rc;
}

static int to_bytes(void *closure, const unsigned char *data, size_t len)
{
    g_byte_array_append(closure, data, (guint)len);
    return 0;
}

fg_result wm_pdf_preview_buffer(const void *buf, size_t len,
                                const wm_options *o, uint64_t seed,
                                void **out_buf, size_t *out_len, fg_reason *r)
{
    pdf_src src = {.buf = buf, .len = len};
    GByteArray *bytes = g_byte_array_new();
    *out_buf = NULL;
    *out_len = 0;
    fg_result rc = preview(&src, o, seed, to_bytes, bytes, r);
    if (rc != FG_OK) {
        g_byte_array_free(bytes, TRUE);
        return rc;
    }
    *out_len = bytes->len;
    *out_buf = g_byte_array_free(bytes, FALSE);
    return FG_OK;
}

static int to_file(void *closure, const unsigned char *data, size_t len)
{
    return fwrite(data, 1, len, closure) == len ? 0 : -1;
}

fg_result wm_stamp_pdf(const char *in, const char *out, const wm_options *o,
                       uint64_t seed, fg_reason *r)
{
    pdf_src src = {.path = in};
    char tmp[4096];
    FILE *f = NULL;
    fg_result rc = FG_OK;
    int fd = -1;

    /* Written beside out and renamed into place, so a failure (or a kill
     * by the sandbox) never leaves half a PDF at out. */
    if (snprintf(tmp, sizeof tmp, "%s.partXXXXXX", out) >= (int)sizeof tmp)
        return fg_fail(r, FG_EUSAGE, "output path too long");
    fd = mkstemp(tmp);
    if (fd < 0)
        return fg_fail(r, FG_EIO, "cannot create pdf preview: %s",
                       errno == ENOSPC ? "disk full" : "cannot write there");
    f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        rc = fg_fail(r, FG_EIO, "cannot create pdf preview: out of memory");
        goto out;
    }
    if ((rc = preview(&src, o, seed, to_file, f, r)))
        goto out;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot write pdf preview: disk full");
        goto out;
    }
    if (rename(tmp, out) != 0)
        rc = fg_fail(r, FG_EIO, "cannot write pdf preview: rename failed");
out:
    if (f && fclose(f) != 0 && rc == FG_OK)
        rc = fg_fail(r, FG_EIO, "cannot write pdf preview: disk full");
    if (rc != FG_OK)
        unlink(tmp);
    return rc;
}
