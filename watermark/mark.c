/* Stamping one decoded image: orient, sRGB, shrink, mark, strip.
 *
 * Every step is a lazy libvips operation that reads its input top to
 * bottom, so the whole chain runs in one pass when the caller saves the
 * result, and memory does not grow with the image height (a sequential
 * loader stays sequential). Intermediate images hang off one local
 * context that is dropped at the end. */
#include "watermark/mark.h"

#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "watermark/tile.h"

/* Line height of the mark as a fraction of the shorter edge of a frame:
 * the same on portrait and landscape. */
#define MARK_TEXT_FRACTION 0.05
#define MARK_ANGLE 30.0   /* degrees, rising to the right */
#define MARK_ANGLE_JITTER 8.0
/* What lies under the mark is replaced by blocks of one of its pixels,
 * a block being this fraction of a line of text (MARK_BLOCK_MIN to
 * MARK_BLOCK_MAX pixels), plus uniform noise of +-MARK_NOISE levels at
 * the default opacity, more above it (noise_amplitude). Tuned on real
 * photos (tests/unit/test_mark_attack.c): inverting the blend gains an
 * attacker about 1 dB (2 dB at high opacities; the test allows 3), while
 * the letters stay light and readable, and the preview 2.5 to 4 dB PSNR
 * further from the original than a plain blend at the same place. */
#define MARK_BLOCK_FRACTION 0.25
#define MARK_BLOCK_MIN 2
#define MARK_BLOCK_MAX 32
#define MARK_NOISE 44.0
#define MARK_NOISE_OPACITY 0.3

static fg_result vips_failed(fg_reason *r, const char *what)
{
    vips_error_clear();
    return fg_fail(r, FG_EIO, "cannot make the preview: %s failed", what);
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

/* The mark, as one libvips generate function. Under the mark's coverage
 * the picture is first destroyed, then inked:
 *
 *   q = (c * ink + (255 - c) * s) / 255,  s = block sample + fresh noise
 *
 * An affine blend of the picture itself (s = p) is invertible: whoever can
 * stamp a black and a white image with the same placement gets p back
 * from q. Here s is one pixel of a coarse block repeated over the block
 * (the detail is gone) plus noise drawn from the kernel's randomness for
 * this run alone (not from the seed: knowing the key and the seed does
 * not reproduce it), so inverting the blend gives back the mosaic and the
 * noise, magnified, and nothing of what lay under the letters.
 *
 * A block's sample is its top-left pixel, or the top row of the strip
 * being made when the block starts above it: every pixel read is in the
 * strip itself, so the input is read once, top to bottom, as a
 * sequential decoder wants, with no cache or second pass (a block mean
 * from a shrunk copy cost about 40% more CPU on a full-size photo).
 *
 * Per pixel: look the tile up (wrapping, same place on every frame), and
 * mix; alpha passes through. Written out rather than as replicate + crop +
 * ifthenelse because ifthenelse asks for small tiles, which costs a
 * sequentially decoded JPEG about half its decode time again; this reads
 * and writes in strips, like the loader and the saver. */
typedef struct blend {
    VipsImage *in;          /* the image marked, a reference held */
    VipsImage *ink, *cover; /* one-band memory tiles, owned */
    int ox, oy, fh, colour_bands, block;
    int noise[256];         /* a random byte to a signed offset, plus 512 */
    VipsPel clamp[1280];    /* clamp[512 + v]: v clamped to 0..255 */
} blend;

/* One thread's state: its region, its own keystream, and the bytes of it
 * not used yet. */
typedef struct blend_seq {
    VipsRegion *in;
    EVP_CIPHER_CTX *noise;
    unsigned char rnd[4096];
    int used; /* bytes of rnd consumed */
} blend_seq;

static void blend_free(VipsImage *im, blend *b)
{
    (void)im;
    g_object_unref(b->in);
    g_object_unref(b->ink);
    g_object_unref(b->cover);
    g_free(b);
}

static int blend_stop(void *vseq, void *a, void *b)
{
    blend_seq *q = vseq;
    (void)a, (void)b;
    if (q->in)
        g_object_unref(q->in);
    EVP_CIPHER_CTX_free(q->noise);
    OPENSSL_cleanse(q->rnd, sizeof q->rnd);
    g_free(q);
    return 0;
}

/* The noise is a ChaCha20 keystream under a key drawn per thread from
 * OpenSSL's DRBG (seeded by the kernel's getrandom), never from the seed.
 * A generator whose state can be solved from its outputs (xorshift and
 * friends are linear) would let an attacker who reads the noise off one
 * part of a preview predict it everywhere else; ChaCha20 gives about a
 * gigabyte a second, against a fifth of that for RAND_bytes itself. No
 * randomness fails the preview rather than mark it with a predictable
 * noise. */
static void *blend_start(VipsImage *out, void *a, void *vb)
{
    const blend *b = vb;
    blend_seq *q = g_new0(blend_seq, 1);
    unsigned char key[32 + 16]; /* key, then counter and nonce */
    (void)out, (void)a;
    q->in = vips_region_new(b->in);
    q->used = sizeof q->rnd;
    q->noise = EVP_CIPHER_CTX_new();
    int ok = q->noise && RAND_bytes(key, sizeof key) == 1 &&
             EVP_EncryptInit_ex(q->noise, EVP_chacha20(), NULL, key,
                                key + 32) == 1;
    OPENSSL_cleanse(key, sizeof key);
    if (!ok) {
        vips_error("filigrane", "no randomness for the mark");
        blend_stop(q, NULL, NULL);
        return NULL;
    }
    return q;
}

/* The next random byte of the noise. */
static int noise_byte(blend_seq *q, unsigned *v)
{
    if (q->used == (int)sizeof q->rnd) {
        int n = 0;
        memset(q->rnd, 0, sizeof q->rnd);
        if (EVP_EncryptUpdate(q->noise, q->rnd, &n, q->rnd,
                              (int)sizeof q->rnd) != 1 ||
            n != (int)sizeof q->rnd) {
            vips_error("filigrane", "no randomness for the mark");
            return -1;
        }
        q->used = 0;
    }
    *v = q->rnd[q->used++];
    return 0;
}

static VipsPel clamp8(int v)
{
    return (VipsPel)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int blend_gen(VipsRegion *out, void *vseq, void *image, void *client,
                     gboolean *stop)
{
    blend_seq *sq = vseq;
    const blend *b = client;
    const VipsRect *r = &out->valid;
    int tw = b->cover->Xsize, th = b->cover->Ysize, nb = out->im->Bands;
    int bs = b->block, cb = b->colour_bands;
    (void)image, (void)stop;
    if (vips_region_prepare(sq->in, r) != 0)
        return -1;
    for (int y = r->top; y < VIPS_RECT_BOTTOM(r); y++) {
        int ty = (y % b->fh + b->oy) % th;
        int sy = y / bs * bs;
        const VipsPel *cov = VIPS_IMAGE_ADDR(b->cover, 0, ty);
        const VipsPel *ink = VIPS_IMAGE_ADDR(b->ink, 0, ty);
        const VipsPel *p = VIPS_REGION_ADDR(sq->in, r->left, y);
        /* The samples' row, and the sample of the block x is in. */
        const VipsPel *srow =
            VIPS_REGION_ADDR(sq->in, r->left, sy > r->top ? sy : r->top);
        const VipsPel *m = srow;
        VipsPel *q = VIPS_REGION_ADDR(out, r->left, y);
        int tx = (r->left + b->ox) % tw;
        int left_in_block = bs - r->left % bs;
        /* Most pixels are not under the mark: copy the row, alpha
         * included, then overwrite the colour of those that are. */
        memcpy(q, p, (size_t)r->width * nb);
        for (int x = 0; x < r->width; x++, q += nb) {
            unsigned c = cov[tx];
            if (c) {
                unsigned v, i = ink[tx] * c + 127, a = 255 - c;
                if (noise_byte(sq, &v) != 0)
                    return -1;
                const VipsPel *cl = b->clamp + b->noise[v];
                for (int k = 0; k < cb; k++)
                    q[k] = (VipsPel)((i + a * cl[m[k]]) / 255);
            }
            if (++tx == tw)
                tx = 0;
            if (--left_in_block == 0) {
                left_in_block = bs;
                m = srow + (size_t)(x + 1) * nb;
            }
        }
    }
    return 0;
}

/* With coverage a, the preview differs from the picture p by
 * a (ink - p) + (1 - a) e, e being what replaced p (mosaic and noise); the
 * inversion leaves e alone. It gains at most 3 dB while e^2 stays above
 * a^2 (ink - p)^2 / (2 - (1 - a)^2), so above MARK_NOISE_OPACITY the
 * noise grows with the opacity a little faster than a / sqrt(2 - (1 -
 * a)^2) (the power 1.25 keeps a margin as the opacity nears 1). Seen
 * through the ink, (1 - a) times the noise, it stays about as grainy. */
static double noise_amplitude(double opacity)
{
    double a = opacity, a0 = MARK_NOISE_OPACITY;
    double f = a / sqrt(2 - (1 - a) * (1 - a));
    double f0 = a0 / sqrt(2 - (1 - a0) * (1 - a0));
    return MARK_NOISE * (f > f0 ? pow(f / f0, 1.25) : 1);
}

/* Where and how the mark goes on a w x fh frame with seed: its tile (ink
 * and cover, owned by the caller), the tile's offset and the mosaic's
 * block. Images and video frames alike come through here, so one seed
 * places the mark alike on both. */
static fg_result layout(const wm_options *o, uint64_t seed, int w, int fh, VipsImage **ink,
                        VipsImage **cover, int *ox, int *oy, int *block, fg_reason *r)
{
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
    int bs = (int)lround(spec.text_px * MARK_BLOCK_FRACTION);
    *block = bs < MARK_BLOCK_MIN ? MARK_BLOCK_MIN
             : bs > MARK_BLOCK_MAX ? MARK_BLOCK_MAX : bs;
    fg_result rc = wm_tile_new(&spec, 1, ink, cover, r);
    free(text);
    if (rc != FG_OK)
        return rc;
    *ox = (int)(uniform(&s) * (*cover)->Xsize);
    *oy = (int)(uniform(&s) * (*cover)->Ysize);
    return FG_OK;
}

fg_result wm_mark_plane_init(wm_mark_plane *p, const wm_options *o, uint64_t seed, int w, int h,
                             fg_reason *r)
{
    VipsImage *ink = NULL, *cover = NULL;
    int ox = 0, oy = 0;
    memset(p, 0, sizeof *p);
    fg_result rc = layout(o, seed, w, h, &ink, &cover, &ox, &oy, &p->block, r);
    if (rc != FG_OK)
        return rc;
    p->width = w;
    p->height = h;
    p->ink = malloc((size_t)w * h);
    p->cover = malloc((size_t)w * h);
    if (!p->ink || !p->cover) {
        rc = fg_fail(r, FG_EIO, "cannot make the mark: out of memory");
        goto out;
    }
    /* The tile repeated over the frame from its offset, as blend_gen
     * looks it up. */
    int tw = cover->Xsize, th = cover->Ysize;
    for (int y = 0; y < h; y++) {
        int ty = (y + oy) % th;
        const VipsPel *c = VIPS_IMAGE_ADDR(cover, 0, ty);
        const VipsPel *k = VIPS_IMAGE_ADDR(ink, 0, ty);
        unsigned char *pc = p->cover + (size_t)y * w, *pk = p->ink + (size_t)y * w;
        for (int x = 0, tx = ox % tw; x < w; x++) {
            pc[x] = c[tx];
            pk[x] = k[tx];
            if (++tx == tw)
                tx = 0;
        }
    }
    double amp = noise_amplitude(o->opacity);
    amp = amp > 255 ? 255 : amp;
    for (int i = 0; i < 256; i++)
        p->noise[i] = (int)lround((i - 127.5) * amp / 127.5);
out:
    g_object_unref(ink);
    g_object_unref(cover);
    if (rc != FG_OK)
        wm_mark_plane_release(p);
    return rc;
}

void wm_mark_plane_release(wm_mark_plane *p)
{
    free(p->ink);
    free(p->cover);
    p->ink = p->cover = NULL;
}

/* The mark over every frame of in (8-bit sRGB, maybe with alpha). */
static fg_result stamp(VipsObject *ctx, VipsImage *in, int pages,
                       const wm_options *o, uint64_t seed, VipsImage **out,
                       fg_reason *r)
{
    int w = in->Xsize, fh = in->Ysize / pages;
    VipsImage *ink = NULL, *cover = NULL;
    int ox = 0, oy = 0, bs = 0;
    fg_result rc = layout(o, seed, w, fh, &ink, &cover, &ox, &oy, &bs, r);
    if (rc != FG_OK)
        return rc;
    blend *b = g_new0(blend, 1);
    /* The generated image does not hold its input as an operation would:
     * hold it here until the image closes. */
    b->in = g_object_ref(in);
    b->ink = ink;
    b->cover = cover;
    b->ox = ox;
    b->oy = oy;
    b->fh = fh;
    b->block = bs;
    b->colour_bands = has_alpha(in) ? in->Bands - 1 : in->Bands;
    double amp = noise_amplitude(o->opacity);
    amp = amp > 255 ? 255 : amp; /* the clamp table's reach */
    for (int i = 0; i < 256; i++)
        b->noise[i] = 512 + (int)lround((i - 127.5) * amp / 127.5);
    for (int i = 0; i < (int)sizeof b->clamp; i++)
        b->clamp[i] = clamp8(i - 512);
    VipsImage *x = vips_image_new();
    vips_object_local(ctx, x);
    g_signal_connect(x, "close", G_CALLBACK(blend_free), b);
    if (vips_image_pipelinev(x, VIPS_DEMAND_STYLE_THINSTRIP, in, NULL) != 0 ||
        vips_image_generate(x, blend_start, blend_gen, blend_stop, NULL,
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
