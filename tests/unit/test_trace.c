/* The traceable mark on decoded images (watermark/trace.c), through
 * libvips directly: invisibility against the same preview without it,
 * and the payload read back after each transformation of issue 13. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "watermark/mark.h"
#include "watermark/options.h"
#include "watermark/trace.h"

static const uint64_t PAYLOAD = 0x5ca1ab1ec0ffee42ULL;

/* DESIGN, Settled details (test time): the tracing suites run whole in
 * the plain pass; under the sanitizers (ten times slower) this file runs
 * every test on fewer images and transformations, for memory safety. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static wm_options opts(const char *key)
{
    wm_options o;
    fg_reason r = {{0}};
    if (wm_options_init(&o, &r) != FG_OK)
        abort();
    o.has_trace = true;
    o.trace_payload = PAYLOAD;
    o.has_trace_key = true;
    memset(o.trace_key, 0, sizeof o.trace_key);
    memcpy(o.trace_key, key, strlen(key) < sizeof o.trace_key ? strlen(key) : sizeof o.trace_key);
    return o;
}

static VipsImage *keep(VipsImage **t, int n, VipsImage *out)
{
    for (int i = 0; i < n; i++)
        if (t[i])
            g_object_unref(t[i]);
    return out;
}

/* Photo-like, w x h sRGB: colour gradients, soft blobs of sigma blob and
 * fine grain of sigma grain (as bench/images.sh makes). */
static VipsImage *photo(int w, int h, double blob, double grain, int seed)
{
    VipsImage *t[8] = {NULL}, *out = NULL;
    double a[] = {180.0 / w, 160.0 / h, 120.0 / (w + h)}, c[] = {40, 50, 70 + seed % 50};
    if (vips_xyz(&t[0], w, h, NULL) || vips_bandjoin_const1(t[0], &t[1], 0, NULL) ||
        vips_linear(t[1], &t[2], a, c, 3, NULL) ||
        vips_gaussnoise(&t[3], w / 32 + 1, h / 32 + 1, "sigma", blob, "mean", 0.0, "seed",
                        seed, NULL) ||
        vips_resize(t[3], &t[4], 32, "kernel", VIPS_KERNEL_LINEAR, NULL) ||
        vips_crop(t[4], &t[5], 0, 0, w, h, NULL) ||
        vips_gaussnoise(&t[6], w, h, "sigma", grain, "mean", 0.0, "seed", seed + 1, NULL))
        abort();
    VipsImage *s1 = NULL, *s2 = NULL;
    if (vips_add(t[2], t[5], &s1, NULL) || vips_add(s1, t[6], &s2, NULL) ||
        vips_cast(s2, &out, VIPS_FORMAT_UCHAR, NULL))
        abort();
    g_object_unref(s1);
    g_object_unref(s2);
    out->Type = VIPS_INTERPRETATION_sRGB;
    return keep(t, 8, out);
}

static VipsImage *flat(int w, int h, double v)
{
    VipsImage *t[2] = {NULL}, *out = NULL;
    if (vips_black(&t[0], w, h, "bands", 3, NULL) || vips_linear1(t[0], &t[1], 1, v, NULL) ||
        vips_cast(t[1], &out, VIPS_FORMAT_UCHAR, NULL))
        abort();
    out->Type = VIPS_INTERPRETATION_sRGB;
    return keep(t, 2, out);
}

static VipsImage *traced(VipsImage *in, const char *key)
{
    wm_options o = opts(key);
    VipsImage *out = NULL, *mem = NULL;
    fg_reason r = {{0}};
    if (wm_trace_embed(in, &o, &out, &r) != FG_OK)
        TAP_FAIL("embed: %s", r.text);
    mem = vips_image_copy_memory(out);
    g_object_unref(out);
    return mem;
}

static double psnr(VipsImage *a, VipsImage *b)
{
    VipsImage *t[3] = {NULL};
    double mse = 0;
    if (vips_subtract(a, b, &t[0], NULL) || vips_multiply(t[0], t[0], &t[1], NULL) ||
        vips_avg(t[1], &mse, NULL))
        abort();
    keep(t, 3, NULL);
    return mse > 0 ? 10 * log10(255.0 * 255.0 / mse) : 99;
}

static double max_abs_diff(VipsImage *a, VipsImage *b)
{
    VipsImage *t[2] = {NULL};
    double mx = 0;
    if (vips_subtract(a, b, &t[0], NULL) || vips_abs(t[0], &t[1], NULL) ||
        vips_max(t[1], &mx, NULL))
        abort();
    keep(t, 2, NULL);
    return mx;
}

static size_t jpeg_size(VipsImage *im, int q)
{
    void *buf = NULL;
    size_t len = 0;
    if (vips_jpegsave_buffer(im, &buf, &len, "Q", q, "strip", TRUE, NULL))
        abort();
    g_free(buf);
    return len;
}

static VipsImage *via(VipsImage *im, const char *fmt, int q)
{
    void *buf = NULL;
    size_t len = 0;
    VipsImage *out = NULL, *mem = NULL;
    int rc = strcmp(fmt, "jpg") == 0
                 ? vips_jpegsave_buffer(im, &buf, &len, "Q", q, NULL)
                 : vips_pngsave_buffer(im, &buf, &len, "compression", 1, NULL);
    if (rc || !(out = vips_image_new_from_buffer(buf, len, "", NULL)))
        abort();
    mem = vips_image_copy_memory(out);
    g_object_unref(out);
    g_free(buf);
    return mem;
}

/* The payload's bit errors in the strongest candidate, or -1 if there is
 * none; *z its sync peak. */
static int bit_errors(VipsImage *im, const char *key, double *z)
{
    wm_trace_report rep;
    fg_reason r = {{0}};
    wm_options o = opts(key);
    *z = 0;
    if (wm_trace_detect(im, o.trace_key, &rep, &r) != FG_OK)
        TAP_FAIL("detect: %s", r.text);
    if (rep.n == 0)
        return -1;
    *z = rep.c[0].z;
    return __builtin_popcountll(rep.c[0].bits ^ PAYLOAD);
}

TEST("a traced preview stays above 40 dB PSNR of the same preview without it (photo, grain, flat)")
{
    VipsImage *ims[] = {photo(1600, 1066, 40, 6, 1), photo(900, 900, 60, 30, 2),
                        flat(800, 600, 128)};
    for (int i = 0; i < 3; i++) {
        VipsImage *t = traced(ims[i], "k1");
        double p = psnr(ims[i], t);
        printf("# image %d: PSNR %.1f dB\n", i, p);
        CHECK(p >= 40.0);
        CHECK(p < 60.0); /* and it is there */
        g_object_unref(t);
        g_object_unref(ims[i]);
    }
}

TEST("on a flat area no pixel moves by more than one level (two next to white or black)")
{
    for (int v = 0; v <= 255; v += 17) {
        VipsImage *f = flat(512, 512, v), *t = traced(f, "k1");
        double mx = max_abs_diff(f, t);
        if (mx > (v < 12 || v > 243 ? 2.0 : 1.0))
            TAP_FAIL("level %d moves by %.0f", v, mx);
        g_object_unref(f);
        g_object_unref(t);
    }
}

TEST("the preview's JPEG grows by less than 10%")
{
    VipsImage *ims[] = {photo(1600, 1066, 40, 6, 3), photo(1200, 800, 20, 3, 4)};
    for (int i = 0; i < 2; i++) {
        VipsImage *t = traced(ims[i], "k1");
        size_t a = jpeg_size(ims[i], 85), b = jpeg_size(t, 85);
        printf("# image %d: %zu -> %zu bytes (%+.1f%%)\n", i, a, b, 100.0 * b / a - 100);
        CHECK((double)b <= 1.10 * (double)a);
        g_object_unref(t);
        g_object_unref(ims[i]);
    }
}

TEST("alpha is left alone and every band of colour carries the same change")
{
    /* Levels 60 to 200: no change is clipped. */
    VipsImage *p = flat(600, 400, 60), *g = NULL, *mid = NULL, *a = NULL, *rgba = NULL, *t = NULL;
    VipsImage *ba = NULL, *bt = NULL, *r0 = NULL, *r1 = NULL, *d0 = NULL, *d1 = NULL;
    CHECK(vips_gaussnoise(&g, 600, 400, "sigma", 20.0, "mean", 70.0, NULL) == 0);
    CHECK(vips_add(p, g, &mid, NULL) == 0);
    VipsImage *mc = NULL;
    CHECK(vips_cast(mid, &mc, VIPS_FORMAT_UCHAR, NULL) == 0);
    CHECK(vips_bandjoin_const1(mc, &a, 200, NULL) == 0);
    CHECK(vips_copy(a, &rgba, "interpretation", VIPS_INTERPRETATION_sRGB, NULL) == 0);
    t = traced(rgba, "k1");
    CHECK_INT(t->Bands, 4);
    CHECK(vips_extract_band(rgba, &ba, 3, NULL) == 0 && vips_extract_band(t, &bt, 3, NULL) == 0);
    CHECK(max_abs_diff(ba, bt) == 0);
    /* Away from clipping, the change of red is the change of blue. */
    CHECK(vips_extract_band(t, &r0, 0, NULL) == 0 && vips_extract_band(t, &r1, 2, NULL) == 0);
    CHECK(vips_subtract(r0, r1, &d0, NULL) == 0);
    VipsImage *o0 = NULL, *o1 = NULL;
    CHECK(vips_extract_band(rgba, &o0, 0, NULL) == 0 && vips_extract_band(rgba, &o1, 2, NULL) == 0);
    CHECK(vips_subtract(o0, o1, &d1, NULL) == 0);
    CHECK(max_abs_diff(d0, d1) <= 0);
    VipsImage *all[] = {p, g, mid, mc, a, rgba, t, ba, bt, r0, r1, d0, d1, o0, o1};
    for (int i = 0; i < 15; i++)
        g_object_unref(all[i]);
}

typedef VipsImage *(*transform)(VipsImage *in);

static VipsImage *t_none(VipsImage *in) { return via(in, "jpg", 85); }
static VipsImage *t_q50(VipsImage *in) { return via(in, "jpg", 50); }
static VipsImage *t_half(VipsImage *in)
{
    VipsImage *s = NULL;
    if (vips_resize(in, &s, 0.5, NULL))
        abort();
    VipsImage *out = via(s, "jpg", 85);
    g_object_unref(s);
    return out;
}
static VipsImage *t_crop(VipsImage *in)
{
    VipsImage *s = NULL;
    int w = in->Xsize, h = in->Ysize;
    if (vips_crop(in, &s, w / 5, h / 5, w - 2 * (w / 5), h - 2 * (h / 5), NULL))
        abort();
    VipsImage *out = via(s, "png", 0);
    g_object_unref(s);
    return out;
}
static VipsImage *linear(VipsImage *in, double a, double b)
{
    VipsImage *s = NULL, *c = NULL;
    if (vips_linear1(in, &s, a, b, NULL) || vips_cast(s, &c, VIPS_FORMAT_UCHAR, NULL))
        abort();
    VipsImage *out = via(c, "png", 0);
    g_object_unref(s);
    g_object_unref(c);
    return out;
}
static VipsImage *t_bright(VipsImage *in) { return linear(in, 1, 38); }
static VipsImage *t_dark(VipsImage *in) { return linear(in, 1, -38); }
static VipsImage *t_lowc(VipsImage *in) { return linear(in, 0.85, 19); }
static VipsImage *t_highc(VipsImage *in) { return linear(in, 1.15, -19); }
static VipsImage *t_shot(VipsImage *in)
{
    VipsImage *s = NULL;
    if (vips_resize(in, &s, 0.8, NULL))
        abort();
    VipsImage *out = via(s, "png", 0);
    g_object_unref(s);
    return out;
}
static VipsImage *t_grey(VipsImage *in)
{
    VipsImage *s = NULL;
    if (vips_colourspace(in, &s, VIPS_INTERPRETATION_B_W, NULL))
        abort();
    VipsImage *out = via(s, "jpg", 85);
    g_object_unref(s);
    return out;
}
static VipsImage *t_cropscale(VipsImage *in)
{
    VipsImage *s = NULL, *c = NULL;
    if (vips_resize(in, &s, 0.5, NULL) ||
        vips_crop(s, &c, s->Xsize / 5, s->Ysize / 5, s->Xsize - 2 * (s->Xsize / 5),
                  s->Ysize - 2 * (s->Ysize / 5), NULL))
        abort();
    VipsImage *out = via(c, "jpg", 75);
    g_object_unref(s);
    g_object_unref(c);
    return out;
}

TEST("the payload is read back exactly after each transformation of issue 13")
{
    static const struct {
        const char *name;
        transform fn;
    } rows[] = {
        {"JPEG q85 (the preview itself)", t_none}, {"JPEG q50", t_q50},
        {"50% downscale", t_half}, {"20% crop per side", t_crop},
        {"brightness +15%", t_bright}, {"brightness -15%", t_dark},
        {"contrast -15%", t_lowc}, {"contrast +15%", t_highc},
        {"screenshot (80%, PNG)", t_shot}, {"greyscale", t_grey},
        {"50% downscale and 20% crop, JPEG q75", t_cropscale},
    };
    VipsImage *p = photo(1800, 1200, 40, 6, 7), *t = traced(p, "k1");
    int failed = 0;
    size_t nrows = SANITIZED ? 3 : sizeof rows / sizeof rows[0];
    for (size_t i = 0; i < nrows; i++) {
        VipsImage *x = rows[i].fn(t);
        double z = 0;
        int e = bit_errors(x, "k1", &z);
        printf("# %s: sync %.1f sd, bit errors %d/64\n", rows[i].name, z, e);
        failed += e != 0;
        g_object_unref(x);
    }
    g_object_unref(t);
    g_object_unref(p);
    CHECK_INT(failed, 0);
}

TEST("white paper carries the trace: a page of black text on white")
{
    VipsImage *txt = NULL, *inv = NULL, *page = NULL, *rgb = NULL, *t = NULL;
    CHECK(vips_text(&txt, "Quotation 2026-11\nTotal due: 1,240.00 EUR\nPayable in 30 days",
                    "dpi", 200, "width", 1400, NULL) == 0);
    CHECK(vips_invert(txt, &inv, NULL) == 0);
    CHECK(vips_embed(inv, &page, 100, 100, 1700, 2200, "extend", VIPS_EXTEND_WHITE, NULL) == 0);
    CHECK(vips_bandjoin_const1(page, &rgb, 0, NULL) == 0);
    VipsImage *three = NULL;
    CHECK(vips_extract_band(rgb, &three, 0, "n", 1, NULL) == 0);
    VipsImage *c3 = NULL;
    VipsImage *bands[] = {three, three, three};
    CHECK(vips_bandjoin(bands, &c3, 3, NULL) == 0);
    c3->Type = VIPS_INTERPRETATION_sRGB;
    t = traced(c3, "k1");
    VipsImage *j = via(t, "jpg", 85);
    double z = 0;
    int e = bit_errors(j, "k1", &z);
    printf("# text page: sync %.1f sd, bit errors %d/64\n", z, e);
    CHECK_INT(e, 0);
    VipsImage *all[] = {txt, inv, page, rgb, three, c3, t, j};
    for (int i = 0; i < 8; i++)
        g_object_unref(all[i]);
}

TEST("an image without the trace, or traced under another key, has none")
{
    VipsImage *p = photo(1200, 800, 40, 6, 8), *t = traced(p, "k1");
    double z = 0;
    CHECK_INT(bit_errors(p, "k1", &z), -1);
    CHECK(z == 0);
    CHECK_INT(bit_errors(t, "another key", &z), -1);
    CHECK(bit_errors(t, "k1", &z) == 0);
    g_object_unref(t);
    g_object_unref(p);
}

TEST("no unmarked image of 60 (photos, grain, flat, stripes, checkers) reaches the threshold")
{
    int over = 0;
    for (int i = 0; i < (SANITIZED ? 8 : 60); i++) {
        VipsImage *im = NULL;
        int w = 300 + (i * 97) % 1500, h = 300 + (i * 61) % 1000;
        if (i % 4 == 0) {
            im = photo(w, h, 10 + i, 1 + i % 20, 100 + i);
        } else if (i % 4 == 1) {
            im = flat(w, h, (i * 37) % 256);
        } else {
            /* Periodic content, some of the tile's own period. */
            VipsImage *xy = NULL, *m = NULL, *b = NULL, *s = NULL, *c = NULL;
            int period = i % 4 == 2 ? 128 : 4 + i;
            CHECK(vips_xyz(&xy, w, h, NULL) == 0);
            CHECK(vips_remainder_const1(xy, &m, period, NULL) == 0);
            CHECK(vips_bandmean(m, &b, NULL) == 0);
            CHECK(vips_linear1(b, &s, 255.0 / period, 0, NULL) == 0);
            CHECK(vips_cast(s, &c, VIPS_FORMAT_UCHAR, NULL) == 0);
            CHECK(vips_bandjoin_const1(c, &im, 0, NULL) == 0);
            VipsImage *all[] = {xy, m, b, s, c};
            keep(all, 5, NULL);
        }
        double z = 0;
        over += bit_errors(im, "k1", &z) >= 0;
        g_object_unref(im);
    }
    CHECK_INT(over, 0);
}

/* ---- video frames: the same trace on a plane of luma ---- */

/* The green band of a photo as a one-band memory image (a frame's luma
 * stand-in) and its bytes. */
static VipsImage *luma(int w, int h, int seed)
{
    VipsImage *p = photo(w, h, 40, 6, seed), *g = NULL, *mem = NULL;
    if (vips_extract_band(p, &g, 1, NULL))
        abort();
    mem = vips_image_copy_memory(g);
    g_object_unref(g);
    g_object_unref(p);
    mem->Type = VIPS_INTERPRETATION_B_W;
    return mem;
}

static VipsImage *plane_traced(VipsImage *y, const char *key, double gain, int lo, int hi)
{
    wm_options o = opts(key);
    signed char chip[WM_TRACE_NCELLS];
    bool on = false;
    fg_reason r = {{0}};
    if (wm_trace_chips(&o, chip, &on, &r) != FG_OK || !on)
        TAP_FAIL("chips: %s", r.text);
    size_t len = 0;
    unsigned char *buf = vips_image_write_to_memory(y, &len);
    if (!buf)
        abort();
    wm_trace_embed_plane(buf, y->Xsize, y->Xsize, y->Ysize, chip, gain, lo, hi);
    VipsImage *im = vips_image_new_from_memory_copy(buf, len, y->Xsize, y->Ysize, 1,
                                                    VIPS_FORMAT_UCHAR);
    g_free(buf);
    im->Type = VIPS_INTERPRETATION_B_W;
    return im;
}

TEST("a luma plane traced in place at gain 1 gets exactly the images' changes (partial cells too)")
{
    VipsImage *y = luma(642, 481, 11), *a = traced(y, "k1");
    VipsImage *b = plane_traced(y, "k1", 1.0, 0, 255);
    CHECK(max_abs_diff(a, b) == 0);
    CHECK(max_abs_diff(y, b) > 0);
    g_object_unref(y);
    g_object_unref(a);
    g_object_unref(b);
}

TEST("a 720p luma plane traced at the video's gain (1.5) is read back, within its PSNR bound")
{
    VipsImage *ys[] = {luma(1280, 720, 12), flat(1280, 720, 16)};
    for (int i = 0; i < 2; i++) {
        VipsImage *y = ys[i];
        if (y->Bands > 1) {
            VipsImage *g = NULL;
            CHECK(vips_extract_band(y, &g, 0, NULL) == 0);
            g_object_unref(y);
            y = vips_image_copy_memory(g);
            g_object_unref(g);
        }
        VipsImage *t = plane_traced(y, "k2", 1.5, 16, 235);
        double p = psnr(y, t), z = 0;
        int e = bit_errors(t, "k2", &z);
        /* The per-cell bound: (2.45 x 1.5)^2 + 0.25 squared levels. */
        double bound = 10 * log10(255.0 * 255.0 / (2.45 * 1.5 * 2.45 * 1.5 + 0.25));
        printf("# %s: PSNR %.1f dB (bound %.1f), sync %.1f sd, bit errors %d/64\n",
               i ? "flat at black (16)" : "photo-like", p, bound, z, e);
        CHECK(p >= bound && p < 60.0);
        CHECK_INT(e, 0);
        /* Black (16) is shifted up, never clipped below 16. */
        if (i == 1) {
            double mn = 0;
            CHECK(vips_min(t, &mn, NULL) == 0);
            CHECK(mn >= 16);
        }
        g_object_unref(t);
        g_object_unref(y);
    }
}

TEST("without a payload or a key a video frame gets no chips")
{
    wm_options o = opts("k1");
    signed char chip[WM_TRACE_NCELLS];
    bool on = true;
    fg_reason r = {{0}};
    o.has_trace = false;
    CHECK(wm_trace_chips(&o, chip, &on, &r) == FG_OK && !on);
    o = opts("k1");
    o.has_trace_key = false;
    on = true;
    CHECK(wm_trace_chips(&o, chip, &on, &r) == FG_OK && !on);
}

__attribute__((constructor)) static void start(void)
{
    if (VIPS_INIT("test_trace") != 0)
        abort();
    vips_cache_set_max(0);
}
