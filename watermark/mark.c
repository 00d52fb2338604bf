/* Stamping one decoded image: orient, sRGB, shrink, mark, strip.
 *
 * Every step is a lazy libvips operation that reads its input top to
 * bottom, so the whole chain runs in one pass when the caller saves the
 * result, and memory does not grow with the image height (a sequential
 * loader stays sequential). Intermediate images hang off one local
 * context that is dropped at the end. */
#include "watermark/mark.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "watermark/tile.h"

/* Line height of the mark as a fraction of the shorter edge of a frame:
 * the same on portrait and landscape. */
#define MARK_TEXT_FRACTION 0.05
#define MARK_ANGLE 30.0   /* degrees, rising to the right */
#define MARK_ANGLE_JITTER 8.0

static fg_result vips_failed(fg_reason *r, const char *what)
{
    vips_error_clear();
    return fg_fail(r, FG_EIO, "cannot make the preview: %s failed", what);
}

uint64_t wm_seed_from_bytes(const void *buf, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    uint64_t s = 0;
    if (!EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) || n < 8)
        return 0;
    for (int i = 0; i < 8; i++)
        s = (s << 8) | md[i];
    return s;
}

/* splitmix64: a few well-mixed numbers from one seed. */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) /* [0, 1) */
{
    return (double)(next(s) >> 11) / 9007199254740992.0;
}

static int has_alpha(VipsImage *im)
{
    return im->Bands == 2 || im->Bands == 4;
}

/* 8-bit sRGB, alpha kept: through the embedded ICC profile when there is
 * one (CMYK photos need it), else by the interpretation libvips guesses. */
static fg_result to_srgb(VipsObject *ctx, VipsImage *in, VipsImage **out,
                         fg_reason *r)
{
    VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 4);
    VipsImage *x = in;
    if (vips_image_get_typeof(x, VIPS_META_ICC_NAME)) {
        if (vips_icc_transform(x, &t[0], "srgb", "embedded", TRUE,
                               "depth", 8, NULL) == 0)
            x = t[0];
        else
            vips_error_clear(); /* a broken profile: convert without it */
    }
    VipsInterpretation from = vips_image_guess_interpretation(x);
    if (from != VIPS_INTERPRETATION_sRGB || x->Bands < 3) {
        if (vips_colourspace(x, &t[1], VIPS_INTERPRETATION_sRGB,
                             "source_space", from, NULL) != 0)
            return vips_failed(r, "colour conversion");
        x = t[1];
    }
    if (x->Bands > 4) {
        if (vips_extract_band(x, &t[2], 0, "n", 4, NULL) != 0)
            return vips_failed(r, "band extraction");
        x = t[2];
    }
    if (x->BandFmt != VIPS_FORMAT_UCHAR) {
        if (vips_cast(x, &t[3], VIPS_FORMAT_UCHAR, NULL) != 0)
            return vips_failed(r, "cast");
        x = t[3];
    }
    *out = x;
    return FG_OK;
}

static int resize_one(VipsObject *ctx, VipsImage *in, double scale,
                      VipsImage **out)
{
    VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 4);
    if (!has_alpha(in))
        return vips_resize(in, out, scale, NULL);
    /* Resampled premultiplied, or transparent pixels bleed their colour
     * into the edges. */
    if (vips_premultiply(in, &t[0], NULL) || vips_resize(t[0], &t[1], scale, NULL) ||
        vips_unpremultiply(t[1], &t[2], NULL) ||
        vips_cast(t[2], out, VIPS_FORMAT_UCHAR, NULL))
        return -1;
    return 0;
}

/* Shrinks so the longest edge of a frame is at most max_edge. Frames of
 * an animation are resized one by one, so none bleeds into the next. */
static fg_result shrink(VipsObject *ctx, VipsImage *in, int max_edge,
                        int pages, VipsImage **out, fg_reason *r)
{
    int fh = in->Ysize / pages;
    int edge = in->Xsize > fh ? in->Xsize : fh;
    *out = in;
    if (max_edge <= 0 || edge <= max_edge)
        return FG_OK;
    double scale = (double)max_edge / edge;
    if (pages == 1) {
        VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 1);
        if (resize_one(ctx, in, scale, &t[0]) != 0)
            return vips_failed(r, "resize");
        *out = t[0];
        return FG_OK;
    }
    VipsImage **frames = (VipsImage **)vips_object_local_array(ctx, pages);
    VipsImage **t = (VipsImage **)vips_object_local_array(ctx, pages + 2);
    for (int i = 0; i < pages; i++)
        if (vips_crop(in, &t[i], 0, i * fh, in->Xsize, fh, NULL) != 0 ||
            resize_one(ctx, t[i], scale, &frames[i]) != 0)
            return vips_failed(r, "resize");
    if (vips_arrayjoin(frames, &t[pages], pages, "across", 1, NULL) != 0 ||
        vips_copy(t[pages], &t[pages + 1], NULL) != 0)
        return vips_failed(r, "frame join");
    vips_image_set_int(t[pages + 1], VIPS_META_PAGE_HEIGHT, frames[0]->Ysize);
    *out = t[pages + 1];
    return FG_OK;
}

/* The blend, as one libvips generate function: per pixel, look the tile
 * up (wrapping, same place on every frame) and mix its ink into the
 * colour bands by its coverage; alpha passes through. Written out rather
 * than as replicate + crop + ifthenelse because ifthenelse asks for small
 * tiles, which costs a sequentially decoded JPEG about half its decode
 * time again; this reads and writes in strips, like the loader and the
 * saver. */
typedef struct blend {
    VipsImage *in;          /* the image marked, a reference held */
    VipsImage *ink, *cover; /* one-band memory tiles, owned */
    int ox, oy, fh, colour_bands;
} blend;

static void blend_free(VipsImage *im, blend *b)
{
    (void)im;
    g_object_unref(b->in);
    g_object_unref(b->ink);
    g_object_unref(b->cover);
    g_free(b);
}

static int blend_gen(VipsRegion *out, void *seq, void *image, void *client,
                     gboolean *stop)
{
    VipsRegion *in = seq;
    const blend *b = client;
    const VipsRect *r = &out->valid;
    int tw = b->cover->Xsize, th = b->cover->Ysize, nb = out->im->Bands;
    (void)image, (void)stop;
    if (vips_region_prepare(in, r) != 0)
        return -1;
    for (int y = r->top; y < VIPS_RECT_BOTTOM(r); y++) {
        int ty = (y % b->fh + b->oy) % th;
        const VipsPel *cov = VIPS_IMAGE_ADDR(b->cover, 0, ty);
        const VipsPel *ink = VIPS_IMAGE_ADDR(b->ink, 0, ty);
        const VipsPel *p = VIPS_REGION_ADDR(in, r->left, y);
        VipsPel *q = VIPS_REGION_ADDR(out, r->left, y);
        int tx = (r->left + b->ox) % tw;
        for (int x = 0; x < r->width; x++, p += nb, q += nb) {
            unsigned c = cov[tx], k = 0;
            if (c)
                for (; k < (unsigned)b->colour_bands; k++)
                    q[k] = (VipsPel)((c * ink[tx] + (255 - c) * p[k] + 127) /
                                     255);
            for (; k < (unsigned)nb; k++)
                q[k] = p[k];
            if (++tx == tw)
                tx = 0;
        }
    }
    return 0;
}

/* The mark over every frame of in (8-bit sRGB, maybe with alpha). */
static fg_result stamp(VipsObject *ctx, VipsImage *in, int pages,
                       const wm_options *o, uint64_t seed, VipsImage **out,
                       fg_reason *r)
{
    int w = in->Xsize, fh = in->Ysize / pages;
    VipsImage *ink = NULL, *cover = NULL;
    fg_result rc;
    char *text = wm_template_expand(o->text_template, o->vars, o->nvars);
    if (!text)
        return fg_fail(r, FG_EIO, "cannot expand the watermark text: "
                                  "out of memory");
    uint64_t s = seed;
    wm_tile_spec spec = {
        .text = *text ? text : "PREVIEW",
        .text_px = (w < fh ? w : fh) * MARK_TEXT_FRACTION *
                   (0.9 + 0.2 * uniform(&s)),
        .angle = MARK_ANGLE + MARK_ANGLE_JITTER * (2 * uniform(&s) - 1),
        .opacity = o->opacity,
        .spacing = 0.8 + 0.3 * uniform(&s),
    };
    rc = wm_tile_new(&spec, 1, &ink, &cover, r);
    free(text);
    if (rc != FG_OK)
        return rc;
    blend *b = g_new0(blend, 1);
    /* The generated image does not hold its input as an operation would:
     * hold it here until the image closes. */
    b->in = g_object_ref(in);
    b->ink = ink;
    b->cover = cover;
    b->ox = (int)(uniform(&s) * cover->Xsize);
    b->oy = (int)(uniform(&s) * cover->Ysize);
    b->fh = fh;
    b->colour_bands = has_alpha(in) ? in->Bands - 1 : in->Bands;
    VipsImage *x = vips_image_new();
    vips_object_local(ctx, x);
    g_signal_connect(x, "close", G_CALLBACK(blend_free), b);
    if (vips_image_pipelinev(x, VIPS_DEMAND_STYLE_THINSTRIP, in, NULL) != 0 ||
        vips_image_generate(x, vips_start_one, blend_gen, vips_stop_one, in,
                            b) != 0)
        return vips_failed(r, "blend");
    *out = x;
    return FG_OK;
}

/* Fields a preview keeps: how to play an animation. Everything else
 * (EXIF, XMP, IPTC, ICC, comments, resolution) is the original's. */
static int keep_field(const char *name)
{
    static const char *const keep[] = {VIPS_META_PAGE_HEIGHT, VIPS_META_N_PAGES,
                                       "delay", "loop", "gif-delay", "gif-loop"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (strcmp(name, keep[i]) == 0)
            return 1;
    return 0;
}

static fg_result strip(VipsObject *ctx, VipsImage *in, int pages,
                       VipsImage **out, fg_reason *r)
{
    VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 1);
    if (vips_copy(in, &t[0], NULL) != 0)
        return vips_failed(r, "copy");
    gchar **fields = vips_image_get_fields(t[0]);
    for (int i = 0; fields[i]; i++)
        if (!keep_field(fields[i]))
            vips_image_remove(t[0], fields[i]);
    g_strfreev(fields);
    if (pages > 1) {
        vips_image_set_int(t[0], VIPS_META_N_PAGES, pages);
        vips_image_set_int(t[0], VIPS_META_PAGE_HEIGHT, t[0]->Ysize / pages);
    }
    *out = t[0];
    return FG_OK;
}

static int page_count(VipsImage *im)
{
    int ph = vips_image_get_page_height(im);
    return (ph > 0 && ph < im->Ysize && im->Ysize % ph == 0) ? im->Ysize / ph
                                                             : 1;
}

fg_result wm_mark_image(VipsImage *in, const wm_options *o, uint64_t seed,
                        VipsImage **out, fg_reason *r)
{
    VipsObject *ctx = VIPS_OBJECT(vips_image_new());
    VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 1);
    VipsImage *x = NULL;
    fg_result rc = FG_OK;
    *out = NULL;
    int pages = page_count(in);
    if (pages == 1) {
        if (vips_autorot(in, &t[0], NULL) != 0) {
            rc = vips_failed(r, "rotation");
            goto out;
        }
        x = t[0];
    } else {
        x = in; /* frames of an animation carry no orientation */
    }
    if ((rc = to_srgb(ctx, x, &x, r)) != FG_OK ||
        (rc = shrink(ctx, x, o->max_edge, pages, &x, r)) != FG_OK ||
        (rc = stamp(ctx, x, pages, o, seed, &x, r)) != FG_OK ||
        (rc = strip(ctx, x, pages, &x, r)) != FG_OK)
        goto out;
    g_object_ref(x);
    *out = x;
out:
    g_object_unref(ctx);
    return rc;
}
