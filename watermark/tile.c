/* The watermark tile: text rendered once, small, then outlined, rotated
 * and folded into a periodic tile.
 *
 * Text is rendered in a design space of at most DESIGN_PX per line and the
 * finished tile scaled up, so a 100-megapixel image costs no more to mark
 * than a small one. Outline and folding are short loops over a few
 * hundred kilobytes in plain C: as libvips operations they would be a
 * dozen graph nodes for no gain. */
#include "watermark/tile.h"

#include "common/limits.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DESIGN_PX 72     /* line height where text is rendered */
#define WRAP_LINES_AT 24 /* line width, in line heights, before wrapping */
#define LINE_PITCH 3.2   /* between rows of text, in line heights */
#define INK_LIGHT 255    /* fill */
#define INK_DARK 24      /* outline */

static fg_result vips_failed(fg_reason *r, const char *what)
{
    vips_error_clear();
    return fg_fail(r, FG_EIO, "cannot draw the watermark: %s failed", what);
}

/* The text as a one-band coverage mask, with room around it for the
 * outline. */
static fg_result render(const char *text, int px, int pad,
                        VipsImage **out, fg_reason *r)
{
    VipsImage *t = NULL;
    char *markup = g_markup_escape_text(text, -1);
    /* "sans bold 10" is 10 points: px pixels per line at 7.2 px dpi. */
    int dpi = (int)lround(px * 7.2 / 1.17);
    if (vips_text(&t, markup, "font", "sans bold 10", "dpi", dpi < 1 ? 1 : dpi,
                  "width", px * WRAP_LINES_AT, "align", VIPS_ALIGN_CENTRE,
                  NULL) != 0) {
        g_free(markup);
        return vips_failed(r, "text");
    }
    g_free(markup);
    int rc = vips_embed(t, out, pad, pad, t->Xsize + 2 * pad,
                        t->Ysize + 2 * pad, NULL);
    g_object_unref(t);
    return rc == 0 ? FG_OK : vips_failed(r, "embed");
}

/* Square dilation by radius rad, separable: rows then columns. */
static void dilate(const unsigned char *in, unsigned char *out,
                   unsigned char *tmp, int w, int h, int rad)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char m = 0;
            int x0 = x - rad < 0 ? 0 : x - rad;
            int x1 = x + rad >= w ? w - 1 : x + rad;
            for (int i = x0; i <= x1; i++)
                if (in[y * w + i] > m)
                    m = in[y * w + i];
            tmp[y * w + x] = m;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char m = 0;
            int y0 = y - rad < 0 ? 0 : y - rad;
            int y1 = y + rad >= h ? h - 1 : y + rad;
            for (int i = y0; i <= y1; i++)
                if (tmp[i * w + x] > m)
                    m = tmp[i * w + x];
            out[y * w + x] = m;
        }
}

/* Light fill inside a dark outline: coverage is the dilated mask, and the
 * ink goes from dark at the rim to light where the text itself is. */
static fg_result outline(VipsImage *mask, int rad, VipsImage **out,
                         fg_reason *r)
{
    fg_result rc = FG_OK;
    int w = mask->Xsize, h = mask->Ysize;
    size_t n = (size_t)w * h, size = 0;
    unsigned char *fill = vips_image_write_to_memory(mask, &size);
    unsigned char *cover = malloc(n), *tmp = malloc(n), *px = malloc(2 * n);
    if (!fill || !cover || !tmp || !px || size != n) {
        rc = fg_fail(r, FG_EIO, "cannot draw the watermark: out of memory");
        goto out;
    }
    dilate(fill, cover, tmp, w, h, rad);
    for (size_t i = 0; i < n; i++) {
        unsigned f = fill[i], c = cover[i];
        px[2 * i] = c ? (unsigned char)((f * INK_LIGHT + (c - f) * INK_DARK) / c)
                      : INK_DARK;
        px[2 * i + 1] = (unsigned char)c;
    }
    *out = vips_image_new_from_memory_copy(px, 2 * n, w, h, 2,
                                           VIPS_FORMAT_UCHAR);
    if (!*out)
        rc = vips_failed(r, "copy");
out:
    g_free(fill);
    free(cover);
    free(tmp);
    free(px);
    return rc;
}

/* Folds the rotated stamp into a tile of pw x ph: replicated, the tile
 * repeats the stamp at every multiple of (pw, 0) and (0, ph). Pixels that
 * fall off the tile wrap around, so copies cross tile edges without
 * seams; where copies would meet, the more opaque pixel wins. */
static fg_result fold(VipsImage *stamp, int pw, int ph, double opacity,
                      VipsImage **out, fg_reason *r)
{
    fg_result rc = FG_OK;
    int w = stamp->Xsize, h = stamp->Ysize;
    size_t size = 0, n = (size_t)pw * ph;
    unsigned char *in = vips_image_write_to_memory(stamp, &size);
    unsigned char *px = calloc(2 * n, 1);
    if (!in || !px || size != (size_t)w * h * 2) {
        rc = fg_fail(r, FG_EIO, "cannot draw the watermark: out of memory");
        goto out;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const unsigned char *s = in + 2 * ((size_t)y * w + x);
            unsigned char *d = px + 2 * ((size_t)(y % ph) * pw + x % pw);
            if (s[1] > d[1]) {
                d[0] = s[0];
                d[1] = s[1];
            }
        }
    for (size_t i = 0; i < n; i++)
        px[2 * i + 1] = (unsigned char)lround(px[2 * i + 1] * opacity);
    *out = vips_image_new_from_memory_copy(px, 2 * n, pw, ph, 2,
                                           VIPS_FORMAT_UCHAR);
    if (!*out)
        rc = vips_failed(r, "copy");
out:
    g_free(in);
    free(px);
    return rc;
}

static void free_pixels(VipsImage *im, void *px)
{
    (void)im;
    free(px);
}

/* An image over px that frees px when it closes, or NULL (px freed). */
static VipsImage *wrap(unsigned char *px, int w, int h, int bands)
{
    VipsImage *im = vips_image_new_from_memory(px, (size_t)w * h * bands, w,
                                               h, bands, VIPS_FORMAT_UCHAR);
    if (!im) {
        free(px);
        return NULL;
    }
    g_signal_connect(im, "postclose", G_CALLBACK(free_pixels), px);
    return im;
}

/* Scales the folded tile by s (bilinear, wrapping at the edges so the
 * result is still seamlessly periodic) into the two images the blend
 * reads: the ink as `bands` identical bands, and the coverage. Written
 * out because vips_affine, vips_bandjoin and a copy cost several times
 * more: this runs over up to a tenth of the image's pixels, per file. */
static fg_result expand(VipsImage *tile, double s, int bands,
                        VipsImage **ink, VipsImage **cover, fg_reason *r)
{
    fg_result rc = FG_OK;
    int w = tile->Xsize, h = tile->Ysize;
    int pw = (int)lround(w * s), ph = (int)lround(h * s);
    size_t size = 0, n = (size_t)pw * ph;
    unsigned char *in = vips_image_write_to_memory(tile, &size);
    unsigned char *ip = malloc(n * bands), *cp = malloc(n);
    int *col = malloc(sizeof(int) * pw * 3);
    if (!in || !ip || !cp || !col || size != (size_t)w * h * 2) {
        rc = fg_fail(r, FG_EIO, "cannot draw the watermark: out of memory");
        goto out;
    }
    /* Per output column: the two source columns and an 8-bit weight. */
    for (int x = 0; x < pw; x++) {
        double sx = (x + 0.5) * w / pw - 0.5 + w;
        int x0 = (int)floor(sx);
        col[3 * x] = (x0 % w) * 2;
        col[3 * x + 1] = ((x0 + 1) % w) * 2;
        col[3 * x + 2] = (int)lround((sx - x0) * 256);
    }
    for (int y = 0; y < ph; y++) {
        double sy = (y + 0.5) * h / ph - 0.5 + h;
        int y0 = (int)floor(sy), fy = (int)lround((sy - y0) * 256);
        const unsigned char *r0 = in + (size_t)(y0 % h) * w * 2;
        const unsigned char *r1 = in + (size_t)((y0 + 1) % h) * w * 2;
        unsigned char *di = ip + (size_t)y * pw * bands;
        unsigned char *dc = cp + (size_t)y * pw;
        for (int x = 0; x < pw; x++) {
            int a = col[3 * x], b = col[3 * x + 1], fx = col[3 * x + 2];
            unsigned v[2];
            for (int k = 0; k < 2; k++) {
                unsigned top = r0[a + k] * (256 - fx) + r0[b + k] * fx;
                unsigned bot = r1[a + k] * (256 - fx) + r1[b + k] * fx;
                v[k] = (top * (256 - fy) + bot * fy + 32768) >> 16;
            }
            for (int k = 0; k < bands; k++)
                di[x * bands + k] = (unsigned char)v[0];
            dc[x] = (unsigned char)v[1];
        }
    }
    *ink = wrap(ip, pw, ph, bands);
    *cover = wrap(cp, pw, ph, 1);
    ip = cp = NULL;
    if (!*ink || !*cover) {
        if (*ink)
            g_object_unref(*ink);
        if (*cover)
            g_object_unref(*cover);
        *ink = *cover = NULL;
        rc = vips_failed(r, "copy");
    }
out:
    g_free(in);
    free(ip);
    free(cp);
    free(col);
    return rc;
}

fg_result wm_tile_new(const wm_tile_spec *spec, int bands, VipsImage **ink,
                      VipsImage **cover, fg_reason *r)
{
    VipsImage *mask = NULL, *inked = NULL, *rot = NULL, *tile = NULL;
    fg_result rc;
    *ink = *cover = NULL;
    double px = spec->text_px < 6 ? 6 : spec->text_px;
    int design = px > DESIGN_PX ? DESIGN_PX : (int)lround(px);
    int rad = design / 10 > 1 ? design / 10 : 1;
    double deg = spec->angle < 10 ? 10 : spec->angle > 80 ? 80 : spec->angle;
    double a = deg * M_PI / 180, sc = sin(a) * cos(a);
    double pitch = design * LINE_PITCH * spec->spacing;
    if ((rc = render(spec->text, design, 2 * rad, &mask, r)) != FG_OK ||
        (rc = outline(mask, rad, &inked, r)) != FG_OK)
        goto out;
    /* A short text ("PREVIEW") is repeated on its line until copies a gap
     * apart make lines a pitch apart: stretching the gap instead left bare
     * columns between copies, and a region of the picture in one of them
     * went unmarked. */
    double gap = design * 1.5;
    if ((inked->Xsize + gap) * sc < pitch) {
        int k = (int)ceil(pitch / sc / (inked->Xsize + gap));
        GString *line = g_string_new(spec->text);
        for (int i = 1; i < k && line->len < FG_MAX_MARK_TEXT; i++)
            g_string_append_printf(line, " \xc2\xb7 %s", spec->text);
        g_object_unref(mask);
        g_object_unref(inked);
        mask = inked = NULL;
        rc = render(line->str, design, 2 * rad, &mask, r);
        g_string_free(line, TRUE);
        if (rc != FG_OK || (rc = outline(mask, rad, &inked, r)) != FG_OK)
            goto out;
    }
    /* vips_rotate turns clockwise for a positive angle. */
    if (vips_rotate(inked, &rot, -deg, NULL) != 0) {
        rc = vips_failed(r, "rotate");
        goto out;
    }
    /* The lattice: copies end to end along the text's direction, a gap
     * apart, in parallel lines at least a pitch apart. With (pw, 0) and
     * (0, ph) as periods, the step (pw, -n ph) runs along the text and
     * lines are ph cos(a) apart; a long text gets n lines per step rather
     * than wide bare bands between its lines. */
    double step = inked->Xsize + gap;
    if (step * sc < pitch)
        step = pitch / sc;
    int n = (int)floor(step * sc / pitch);
    int pw = (int)lround(step * cos(a));
    int ph = (int)lround(step * sin(a) / (n < 1 ? 1 : n));
    if ((rc = fold(rot, pw, ph, spec->opacity, &tile, r)) != FG_OK)
        goto out;
    rc = expand(tile, px / design, bands, ink, cover, r);
out:
    if (tile)
        g_object_unref(tile);
    if (rot)
        g_object_unref(rot);
    if (inked)
        g_object_unref(inked);
    if (mask)
        g_object_unref(mask);
    return rc;
}
