/* The mark on decoded images, through libvips directly: every test
 * builds its input in memory. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "watermark/mark.h"
#include "watermark/options.h"

static wm_options opts(void)
{
    wm_options o;
    fg_reason r = {{0}};
    if (wm_options_init(&o, &r) != FG_OK)
        abort();
    return o;
}

/* A smooth colour gradient, w x h, 3 bands uchar. */
static VipsImage *gradient(int w, int h)
{
    VipsImage *xy = NULL, *scaled = NULL, *b = NULL, *rgb = NULL,
              *out = NULL;
    double a[] = {200.0 / w, 200.0 / h}, c[] = {20, 40};
    if (vips_xyz(&xy, w, h, NULL) == 0 &&
        vips_linear(xy, &scaled, a, c, 2, NULL) == 0 &&
        vips_extract_band(scaled, &b, 0, NULL) == 0 &&
        vips_bandjoin2(scaled, b, &rgb, NULL) == 0)
        vips_cast(rgb, &out, VIPS_FORMAT_UCHAR, NULL);
    VipsImage *all[] = {xy, scaled, b, rgb};
    for (int i = 0; i < 4; i++)
        if (all[i])
            g_object_unref(all[i]);
    return out;
}

/* Mean absolute difference of a and b over a rectangle, all bands. */
static double cell_diff(VipsImage *a, VipsImage *b, int l, int t, int w,
                        int h)
{
    VipsImage *ca = NULL, *cb = NULL, *d = NULL, *ab = NULL;
    double avg = -1;
    if (vips_crop(a, &ca, l, t, w, h, NULL) == 0 &&
        vips_crop(b, &cb, l, t, w, h, NULL) == 0 &&
        vips_subtract(ca, cb, &d, NULL) == 0 && vips_abs(d, &ab, NULL) == 0)
        vips_avg(ab, &avg, NULL);
    VipsImage *all[] = {ca, cb, d, ab};
    for (int i = 0; i < 4; i++)
        if (all[i])
            g_object_unref(all[i]);
    return avg;
}

/* Every cell of an n x n grid differs from the plain image by at least
 * min on average. */
static int marked_everywhere(VipsImage *marked, VipsImage *plain, int n,
                             double min)
{
    int cw = marked->Xsize / n, ch = marked->Ysize / n;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            double d = cell_diff(marked, plain, x * cw, y * ch, cw, ch);
            if (d < min) {
                fprintf(stderr, "  cell %d,%d differs by %.2f\n", x, y, d);
                return 0;
            }
        }
    return 1;
}

static VipsImage *mark(VipsImage *in, wm_options *o, uint64_t seed)
{
    VipsImage *out = NULL;
    fg_reason r = {{0}};
    if (wm_mark_image(in, o, seed, &out, &r) != FG_OK) {
        fprintf(stderr, "  wm_mark_image: %s\n", r.text);
        return NULL;
    }
    /* Evaluate now, as a save would. */
    VipsImage *mem = vips_image_copy_memory(out);
    g_object_unref(out);
    return mem;
}

TEST("the mark covers every cell of a 4x4 grid, landscape and portrait")
{
    int sizes[][2] = {{1200, 800}, {800, 1200}, {640, 640}};
    for (int i = 0; i < 3; i++) {
        VipsImage *in = gradient(sizes[i][0], sizes[i][1]);
        wm_options o = opts();
        VipsImage *out = mark(in, &o, 42);
        CHECK(out != NULL);
        CHECK_INT(out->Xsize, in->Xsize);
        CHECK_INT(out->Ysize, in->Ysize);
        int ok = marked_everywhere(out, in, 4, 2.0);
        g_object_unref(out);
        g_object_unref(in);
        CHECK(ok);
    }
}

/* Share of the pixels of a rectangle where any band of a differs from b
 * (same size, 8-bit, in memory). */
static double touched(VipsImage *a, VipsImage *b, int l, int t, int w, int h)
{
    size_t hit = 0;
    int nb = a->Bands;
    for (int y = t; y < t + h; y++) {
        const VipsPel *pa = (const VipsPel *)VIPS_IMAGE_ADDR(a, l, y);
        const VipsPel *pb = (const VipsPel *)VIPS_IMAGE_ADDR(b, l, y);
        for (int x = 0; x < w; x++)
            hit += memcmp(pa + x * nb, pb + x * nb, nb) != 0;
    }
    return (double)hit / ((double)w * h);
}

TEST("a short text reaches every cell of a 4x4 grid, whatever the seed")
{
    /* "PREVIEW" alone is repeated along its line rather than spaced out:
     * spaced copies left bare columns a cell could fall into. */
    VipsImage *in = gradient(600, 1000);
    VipsImage *plain = vips_image_copy_memory(in);
    CHECK(plain != NULL);
    double least = 1;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        wm_options o = opts();
        o.text_template = "PREVIEW";
        VipsImage *out = mark(in, &o, seed);
        CHECK(out != NULL);
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) {
                double t = touched(out, plain, x * 150, y * 250, 150, 250);
                least = t < least ? t : least;
            }
        g_object_unref(out);
    }
    g_object_unref(plain);
    g_object_unref(in);
    fprintf(stderr, "# least share of a cell marked, 40 seeds: %.3f\n", least);
    CHECK(least >= 0.05);
}

TEST("the mark is the same relative size on portrait and landscape")
{
    /* The same picture turned: the share of changed pixels matches. */
    VipsImage *land = gradient(1200, 800), *port = NULL;
    CHECK(vips_rot90(land, &port, NULL) == 0);
    wm_options o = opts();
    VipsImage *ml = mark(land, &o, 7), *mp = mark(port, &o, 7);
    CHECK(ml && mp);
    double dl = cell_diff(ml, land, 0, 0, 1200, 800);
    double dp = cell_diff(mp, port, 0, 0, 800, 1200);
    g_object_unref(ml);
    g_object_unref(mp);
    g_object_unref(land);
    g_object_unref(port);
    CHECK(dl > 0 && dp > 0);
    CHECK(fabs(dl - dp) / dl < 0.25);
}

TEST("the preview is shrunk to max-edge on its longest side")
{
    VipsImage *in = gradient(1600, 900);
    wm_options o = opts();
    o.max_edge = 400;
    VipsImage *out = mark(in, &o, 1);
    CHECK(out != NULL);
    CHECK_INT(out->Xsize, 400);
    CHECK_INT(out->Ysize, 225);
    g_object_unref(out);
    o.max_edge = 0;
    out = mark(in, &o, 1);
    CHECK(out != NULL);
    CHECK_INT(out->Xsize, 1600);
    g_object_unref(out);
    g_object_unref(in);
}

/* Where a and b each differ from plain (any band): the share of pixels
 * marked in one of them but not the other, among those marked in either
 * (0 for the same placement), and in *share the share marked in a. All
 * three the same size, 8-bit, in memory. */
static double placement_distance(VipsImage *plain, VipsImage *a, VipsImage *b,
                                 double *share)
{
    size_t n = (size_t)plain->Xsize * plain->Ysize, either = 0, one = 0,
           in_a = 0;
    int nb = plain->Bands;
    const VipsPel *p = (const VipsPel *)VIPS_IMAGE_ADDR(plain, 0, 0);
    const VipsPel *pa = (const VipsPel *)VIPS_IMAGE_ADDR(a, 0, 0);
    const VipsPel *pb = (const VipsPel *)VIPS_IMAGE_ADDR(b, 0, 0);
    for (size_t i = 0; i < n; i++) {
        int ca = memcmp(pa + nb * i, p + nb * i, nb) != 0;
        int cb = memcmp(pb + nb * i, p + nb * i, nb) != 0;
        either += ca || cb;
        one += ca != cb;
        in_a += ca;
    }
    if (share)
        *share = (double)in_a / n;
    return either ? (double)one / either : 0;
}

TEST("two seeds place the mark differently; one seed places it the same, "
     "with fresh noise under it")
{
    VipsImage *in = gradient(600, 400);
    VipsImage *plain = vips_image_copy_memory(in);
    wm_options o = opts();
    VipsImage *a = mark(in, &o, 1), *b = mark(in, &o, 2), *c = mark(in, &o, 1);
    CHECK(plain && a && b && c);
    double share = 0;
    double ab = placement_distance(plain, a, b, NULL);
    double ac = placement_distance(plain, a, c, &share);
    double noise = cell_diff(a, c, 0, 0, 600, 400);
    g_object_unref(a);
    g_object_unref(b);
    g_object_unref(c);
    g_object_unref(plain);
    g_object_unref(in);
    CHECK(share > 0.05 && share < 0.5);
    CHECK(ab > 0.5);
    CHECK(ac < 0.01);
    CHECK(noise > 0.5); /* the same place, not the same pixels */
}

TEST("markup characters and non-ASCII names render")
{
    const char *names[] = {"Tom & Jerry <Ltd>", "Zo\xc3\xab \xc5\x81ukasiewicz",
                           "</span><b>", "a&amp;b"};
    VipsImage *in = gradient(400, 300);
    for (int i = 0; i < 4; i++) {
        wm_options o = opts();
        char spec[64];
        snprintf(spec, sizeof spec, "buyer=%s", names[i]);
        fg_reason r = {{0}};
        CHECK_INT(wm_options_add_var(&o, spec, &r), FG_OK);
        o.text_template = "for {buyer}";
        VipsImage *out = mark(in, &o, 3);
        CHECK(out != NULL);
        double d = cell_diff(out, in, 0, 0, 400, 300);
        g_object_unref(out);
        CHECK(d > 1.0);
    }
    g_object_unref(in);
}

TEST("alpha is kept and left untouched")
{
    VipsImage *rgb = gradient(300, 200), *alpha = NULL, *rgba = NULL,
              *a2 = NULL;
    CHECK(vips_extract_band(rgb, &alpha, 1, NULL) == 0);
    CHECK(vips_bandjoin2(rgb, alpha, &rgba, NULL) == 0);
    wm_options o = opts();
    VipsImage *out = mark(rgba, &o, 5);
    CHECK(out != NULL);
    CHECK_INT(out->Bands, 4);
    CHECK(vips_extract_band(out, &a2, 3, NULL) == 0);
    double d = cell_diff(a2, alpha, 0, 0, 300, 200);
    VipsImage *all[] = {rgb, alpha, rgba, a2, out};
    for (int i = 0; i < 5; i++)
        g_object_unref(all[i]);
    CHECK(d == 0.0);
}

TEST("metadata of the original is removed")
{
    VipsImage *in = gradient(200, 200), *tagged = NULL;
    CHECK(vips_copy(in, &tagged, NULL) == 0);
    static const char blob[] = "GPS 48.85N 2.35E";
    vips_image_set_blob_copy(tagged, VIPS_META_EXIF_NAME, blob, sizeof blob);
    vips_image_set_blob_copy(tagged, VIPS_META_XMP_NAME, blob, sizeof blob);
    vips_image_set_blob_copy(tagged, VIPS_META_IPTC_NAME, blob, sizeof blob);
    vips_image_set_string(tagged, "exif-ifd0-Make", "Camera");
    vips_image_set_string(tagged, "png-comment-0-Comment", "secret");
    wm_options o = opts();
    VipsImage *out = NULL;
    fg_reason r = {{0}};
    CHECK_INT(wm_mark_image(tagged, &o, 9, &out, &r), FG_OK);
    const char *gone[] = {VIPS_META_EXIF_NAME, VIPS_META_XMP_NAME,
                          VIPS_META_IPTC_NAME, "exif-ifd0-Make",
                          "png-comment-0-Comment", VIPS_META_ICC_NAME};
    int left = 0;
    for (int i = 0; i < 6; i++)
        if (vips_image_get_typeof(out, gone[i]))
            left++;
    g_object_unref(out);
    g_object_unref(tagged);
    g_object_unref(in);
    CHECK_INT(left, 0);
}

TEST("16-bit, grey and CMYK inputs become 8-bit sRGB")
{
    VipsImage *in = gradient(200, 100), *wide = NULL, *grey = NULL,
              *cmyk = NULL, *k = NULL, *k4 = NULL;
    CHECK(vips_colourspace(in, &wide, VIPS_INTERPRETATION_RGB16, NULL) == 0);
    CHECK(vips_colourspace(in, &grey, VIPS_INTERPRETATION_B_W, NULL) == 0);
    CHECK(vips_bandjoin2(in, in, &k, NULL) == 0);
    CHECK(vips_extract_band(k, &k4, 0, "n", 4, NULL) == 0);
    CHECK(vips_copy(k4, &cmyk, "interpretation", VIPS_INTERPRETATION_CMYK,
                    NULL) == 0);
    VipsImage *ins[] = {wide, grey, cmyk};
    for (int i = 0; i < 3; i++) {
        wm_options o = opts();
        VipsImage *out = mark(ins[i], &o, 4);
        CHECK(out != NULL);
        int ok = out->Bands == 3 && out->BandFmt == VIPS_FORMAT_UCHAR &&
                 out->Type == VIPS_INTERPRETATION_sRGB;
        g_object_unref(out);
        CHECK(ok);
    }
    VipsImage *all[] = {in, wide, grey, cmyk, k, k4};
    for (int i = 0; i < 6; i++)
        g_object_unref(all[i]);
}

TEST("every frame of an animation is marked, in the same place")
{
    VipsImage *frame = gradient(160, 120), *strip = NULL, *anim = NULL;
    CHECK(vips_replicate(frame, &strip, 1, 3, NULL) == 0);
    CHECK(vips_copy(strip, &anim, NULL) == 0);
    vips_image_set_int(anim, VIPS_META_PAGE_HEIGHT, 120);
    vips_image_set_int(anim, VIPS_META_N_PAGES, 3);
    wm_options o = opts();
    o.max_edge = 80;
    VipsImage *out = mark(anim, &o, 11), *plain = NULL;
    CHECK(out != NULL);
    CHECK_INT(out->Xsize, 80);
    CHECK_INT(out->Ysize, 180);
    CHECK_INT(vips_image_get_page_height(out), 60);
    CHECK(vips_resize(frame, &plain, 0.5, NULL) == 0);
    for (int f = 0; f < 3; f++) {
        VipsImage *fr = NULL;
        CHECK(vips_crop(out, &fr, 0, 60 * f, 80, 60, NULL) == 0);
        double d = cell_diff(fr, plain, 0, 0, 80, 60);
        g_object_unref(fr);
        CHECK(d > 1.0);
    }
    VipsImage *f0 = NULL, *f2 = NULL, *m0 = NULL, *m2 = NULL, *pm = NULL;
    CHECK(vips_crop(out, &f0, 0, 0, 80, 60, NULL) == 0);
    CHECK(vips_crop(out, &f2, 0, 120, 80, 60, NULL) == 0);
    m0 = vips_image_copy_memory(f0);
    m2 = vips_image_copy_memory(f2);
    pm = vips_image_copy_memory(plain);
    CHECK(m0 && m2 && pm);
    double share = 0, apart = placement_distance(pm, m0, m2, &share);
    VipsImage *all[] = {frame, strip, anim, out, plain, f0, f2, m0, m2, pm};
    for (int i = 0; i < 10; i++)
        g_object_unref(all[i]);
    CHECK(share > 0.05 && share < 0.6);
    CHECK(apart < 0.02);
}

__attribute__((constructor)) static void start(void)
{
    if (VIPS_INIT("test_mark") != 0)
        abort();
    vips_cache_set_max(0);
}
