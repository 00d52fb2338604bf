/* The traceable mark: embedding on a preview, and the decoder (see
 * watermark/trace.h for the method). */
#include "watermark/trace.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T WM_TRACE_TILE
#define C WM_TRACE_CELL

/* Strength: A_FLAT on a flat area (a change of one level on a few of
 * its pixels: below what an eye sees, and what a JPEG keeps), growing
 * with the mean gradient of the cell (texture hides more), up to A_MAX.
 * With the dither's rounding (a quarter level squared at most), no cell
 * changes by more than 2.45^2 + 0.25 = 6.25 squared levels on average,
 * so the PSNR against the same preview without it is above 40.2 dB
 * whatever the picture: a bound per cell, not per image, so that the
 * embedding streams with the save instead of holding the preview. */
#define A_FLAT 0.7
#define A_GAIN 0.25
#define A_MAX 2.45

/* The decoder's search. Scales: what a 50% downscale, a screenshot
 * (zoom out or in) and a crop (1) give, with margin. The coarse pass
 * folds a window of WINDOW preview pixels, so a scale error of STEP
 * drifts the tile by at most WINDOW * STEP / 2, about 1.6 pixels, less
 * than half a cell; the fine pass then folds the whole image (up to FULL
 * preview pixels a side) in steps of FINE_STEP. */
#define S_MIN 0.4
#define S_MAX 2.5
#define STEP 1.005
#define WINDOW 640
#define FULL 4096
#define FINE_STEP 0.0004
#define FINE_N 12
/* High-pass residuals beyond this many levels are edges, not the trace:
 * clipped, so one strong edge cannot outvote the chips. */
#define CLIP 12.0f

/* A 4 x 4 ordered dither, in 32nds of a level (2k + 1 for k = 0..15):
 * the changes of a cell average its chip times its strength exactly. */
static const int dither32[4][4] = {
    {1, 17, 5, 21},
    {25, 9, 29, 13},
    {7, 23, 3, 19},
    {31, 15, 27, 11},
};

typedef struct embed {
    signed char chip[WM_TRACE_NCELLS]; /* this payload's chip of each cell */
} embed;

static void embed_free(VipsImage *im, void *e)
{
    (void)im;
    g_free(e);
}

/* The mean absolute gradient of a cell's green channel (or grey), from
 * the pixels inside it only. A whole cell is measured on its two middle
 * rows (their horizontal steps and the vertical step between them): the
 * strength needs only its order of magnitude, and this reads an eighth of
 * what a full measure would. */
static float cell_gradient(VipsRegion *ir, int x0, int y0, int xe, int ye, int nb, int g0,
                           int *hi, int *lo)
{
    int g = 0, n = 0;
    *hi = 0;
    *lo = 255;
    if (xe - x0 == C && ye - y0 == C) {
        const unsigned char *a = VIPS_REGION_ADDR(ir, x0, y0 + 1) + g0;
        const unsigned char *b = a + VIPS_REGION_LSKIP(ir);
        for (int k = 0; k < C; k++) {
            int u = a[k * nb] > b[k * nb] ? a[k * nb] : b[k * nb];
            int v = a[k * nb] < b[k * nb] ? a[k * nb] : b[k * nb];
            *hi = u > *hi ? u : *hi;
            *lo = v < *lo ? v : *lo;
        }
        g = abs(a[nb] - a[0]) + abs(a[2 * nb] - a[nb]) + abs(a[3 * nb] - a[2 * nb]) +
            abs(b[nb] - b[0]) + abs(b[2 * nb] - b[nb]) + abs(b[3 * nb] - b[2 * nb]) +
            abs(b[0] - a[0]) + abs(b[nb] - a[nb]) + abs(b[2 * nb] - a[2 * nb]) +
            abs(b[3 * nb] - a[3 * nb]);
        return (float)g / 10;
    }
    for (int y = y0; y < ye; y++) {
        const unsigned char *p = VIPS_REGION_ADDR(ir, x0, y) + g0;
        const unsigned char *below = y + 1 < ye ? p + VIPS_REGION_LSKIP(ir) : NULL;
        for (int x = x0; x < xe; x++, p += nb) {
            *hi = p[0] > *hi ? p[0] : *hi;
            *lo = p[0] < *lo ? p[0] : *lo;
            if (x + 1 < xe) {
                g += abs(p[nb] - p[0]);
                n++;
            }
            if (below) {
                g += abs(below[(x - x0) * nb] - p[0]);
                n++;
            }
        }
    }
    return n ? (float)g / (float)n : 0;
}

static inline unsigned char sat(int v)
{
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Computes the region out asks for, a row of cells at a time: each cell
 * it touches is measured whole, whichever region reads it, so a cell
 * split between two regions gets one strength (regions aligned on cells
 * read nothing twice). */
static int embed_gen(VipsRegion *out, void *seq, void *a, void *b, gboolean *stop)
{
    (void)stop;
    VipsRegion *ir = seq;
    const VipsImage *in = a;
    const embed *e = b;
    const VipsRect *r = &out->valid;
    int w = in->Xsize, h = in->Ysize, nb = in->Bands, nc = nb >= 3 ? 3 : 1;
    int g0 = nc == 3 ? 1 : 0;
    int x0 = r->left / C * C, y0 = r->top / C * C;
    int x1 = (r->left + r->width + C - 1) / C * C, y1 = (r->top + r->height + C - 1) / C * C;
    VipsRect need = {x0, y0, (x1 < w ? x1 : w) - x0, (y1 < h ? y1 : h) - y0};
    if (vips_region_prepare(ir, &need))
        return -1;
    int ncx = (need.width + C - 1) / C;
    /* Each cell's 4 x 4 changes: its chip times its strength, rounded by
     * the ordered dither (in 32nds: floor((32 d + 2k + 1) / 32)). */
    signed char(*delta)[C][C] = malloc((size_t)ncx * sizeof *delta);
    /* A flat cell near white or black (by its sample) would lose the
     * half of its changes that clip: its pixels that would clip are
     * shifted by a level instead, so both chips stay apart (white paper
     * carries the trace at one or two levels below white). */
    unsigned char *edge = malloc((size_t)ncx);
    if (!delta || !edge) {
        free(delta);
        free(edge);
        vips_error("filigrane", "out of memory");
        return -1;
    }
    for (int cy = y0 / C; cy * C < r->top + r->height; cy++) {
        int ye = cy * C + C < h ? cy * C + C : h;
        for (int i = 0; i < ncx; i++) {
            int cx = x0 / C + i, xs = cx * C, xe = xs + C < w ? xs + C : w;
            int hi = 0, lo = 255;
            float amp = A_FLAT + A_GAIN * cell_gradient(ir, xs, cy * C, xe, ye, nb, g0, &hi, &lo);
            if (amp > A_MAX)
                amp = A_MAX;
            int a32 = (int)lrintf(32 * amp), m = (a32 + 31) >> 5;
            int d32 = a32 * e->chip[(cy % WM_TRACE_CELLS) * WM_TRACE_CELLS + cx % WM_TRACE_CELLS];
            /* Only where the changes are a level at most: shifted, they
             * stay within two, and the cell within its 6.25 bound. */
            edge[i] = (unsigned char)(m == 1 && (hi + 9 > 255 || lo - 9 < 0));
            for (int ty = 0; ty < C; ty++)
                for (int tx = 0; tx < C; tx++)
                    delta[i][ty][tx] = (signed char)((d32 + dither32[ty][tx]) >> 5);
        }
        int ya = cy * C > r->top ? cy * C : r->top;
        int yb = ye < r->top + r->height ? ye : r->top + r->height;
        for (int y = ya; y < yb; y++) {
            const unsigned char *p = VIPS_REGION_ADDR(ir, r->left, y);
            unsigned char *q = VIPS_REGION_ADDR(out, r->left, y);
            int ty = y & (C - 1);
            /* A cell at a time: its row of changes and its edge flag are
             * read once for its pixels. */
            int x = r->left, xend = r->left + r->width;
            while (x < xend) {
                int ci = (int)((unsigned)(x - x0) / C), cend = x0 + (ci + 1) * C;
                const signed char *drow = delta[ci][ty];
                int eg = edge[ci];
                if (cend > xend)
                    cend = xend;
                if (nb == 3 && !eg) {
                    for (; x < cend; x++, p += 3, q += 3) {
                        int dv = drow[x & (C - 1)];
                        q[0] = sat(p[0] + dv);
                        q[1] = sat(p[1] + dv);
                        q[2] = sat(p[2] + dv);
                    }
                    continue;
                }
                for (; x < cend; x++, p += nb, q += nb) {
                    int dv = drow[x & (C - 1)];
                    if (eg) {
                        int mx = 0, mn = 255;
                        for (int k = 0; k < nc; k++) {
                            mx = p[k] > mx ? p[k] : mx;
                            mn = p[k] < mn ? p[k] : mn;
                        }
                        dv += mx + eg > 255 ? -eg : mn - eg < 0 ? eg : 0;
                    }
                    for (int k = 0; k < nc; k++)
                        q[k] = sat(p[k] + dv);
                    for (int k = nc; k < nb; k++)
                        q[k] = p[k];
                }
            }
        }
    }
    free(delta);
    free(edge);
    return 0;
}

fg_result wm_trace_embed(VipsImage *in, const wm_options *o, VipsImage **out, fg_reason *r)
{
    wm_trace_pattern pat;
    *out = NULL;
    if (!o->has_trace || !o->has_trace_key) {
        *out = g_object_ref(in);
        return FG_OK;
    }
    if (in->BandFmt != VIPS_FORMAT_UCHAR || in->Bands < 1 || in->Bands > 4 ||
        in->Coding != VIPS_CODING_NONE)
        return fg_fail(r, FG_EIO, "cannot trace a preview of %d bands of format %d", in->Bands,
                       in->BandFmt);
    fg_result rc = wm_trace_pattern_init(&pat, o->trace_key, r);
    if (rc != FG_OK)
        return rc;
    embed *e = g_new(embed, 1);
    for (int cy = 0; cy < WM_TRACE_CELLS; cy++)
        for (int cx = 0; cx < WM_TRACE_CELLS; cx++)
            e->chip[cy * WM_TRACE_CELLS + cx] =
                (signed char)wm_trace_chip(&pat, o->trace_payload, cx, cy);
    /* A lazy image on top of in: libvips computes it in its threads, a
     * strip at a time, as the saver asks (the fields, animation timing
     * included, are in's). */
    VipsImage *im = vips_image_new();
    g_object_ref(in);
    vips_object_local(im, in);
    g_signal_connect(im, "close", G_CALLBACK(embed_free), e);
    if (vips_image_pipelinev(im, VIPS_DEMAND_STYLE_ANY, in, NULL) ||
        vips_image_generate(im, vips_start_one, embed_gen, vips_stop_one, in, e)) {
        vips_error_clear();
        g_object_unref(im);
        return fg_fail(r, FG_EIO, "cannot trace the preview");
    }
    *out = im;
    return FG_OK;
}

/* ---- the decoder ---- */

/* An in-place radix-2 FFT of n contiguous complex values; tw holds
 * exp(-2 pi i k / n) for k < n / 2. */
static void fft(double *re, double *im, int n, const double *tw_re, const double *tw_im,
                int inverse)
{
    for (int i = 1, j = 0; i < n; i++) {
        int bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    for (int len = 2; len <= n; len <<= 1) {
        int step = n / len;
        for (int i = 0; i < n; i += len)
            for (int j = 0; j < len / 2; j++) {
                double cr = tw_re[j * step], ci = inverse ? -tw_im[j * step] : tw_im[j * step];
                int a = i + j, b = i + j + len / 2;
                double vr = re[b] * cr - im[b] * ci, vi = re[b] * ci + im[b] * cr;
                re[b] = re[a] - vr;
                im[b] = im[a] - vi;
                re[a] += vr;
                im[a] += vi;
            }
    }
}

/* The folded tile at one of two resolutions: n = T bins of one pixel
 * (the fine pass, and reading the bits), or n = T / 2 bins of two (the
 * coarse pass over scales: a quarter of the work, offsets to 2 pixels). */
typedef struct grid {
    int n, shift;
    double ref_re[T * T], ref_im[T * T]; /* FFT of the sync chips */
    double tw_re[T / 2], tw_im[T / 2];
} grid;

static void fft2(const grid *g, double *re, double *im, int inverse)
{
    double cr[T], ci[T];
    int n = g->n;
    for (int y = 0; y < n; y++)
        fft(re + y * n, im + y * n, n, g->tw_re, g->tw_im, inverse);
    for (int x = 0; x < n; x++) {
        for (int y = 0; y < n; y++) {
            cr[y] = re[y * n + x];
            ci[y] = im[y * n + x];
        }
        fft(cr, ci, n, g->tw_re, g->tw_im, inverse);
        for (int y = 0; y < n; y++) {
            re[y * n + x] = cr[y];
            im[y * n + x] = ci[y];
        }
    }
}

static void grid_init(grid *g, const wm_trace_pattern *pat, int shift)
{
    g->shift = shift;
    g->n = T >> shift;
    for (int k = 0; k < g->n / 2; k++) {
        g->tw_re[k] = cos(2 * M_PI * k / g->n);
        g->tw_im[k] = -sin(2 * M_PI * k / g->n);
    }
    memset(g->ref_re, 0, sizeof g->ref_re);
    memset(g->ref_im, 0, sizeof g->ref_im);
    for (int y = 0; y < T; y++)
        for (int x = 0; x < T; x++) {
            int cell = (y / C) * WM_TRACE_CELLS + x / C;
            if (pat->role[cell] < 0)
                g->ref_re[(y >> shift) * g->n + (x >> shift)] += pat->pn[cell];
        }
    fft2(g, g->ref_re, g->ref_im, 0);
}

typedef struct search {
    const float *hp; /* high-passed luminance, clipped */
    int w, h;
    const wm_trace_pattern *pat;
    grid coarse, fine;
    double re[T * T], im[T * T];
    float fold[T * T];
    int cnt[T * T];
    int *ux; /* column -> bin at the current scale */
} search;

/* Folds the window [x0, x1) x [y0, y1) of the suspect modulo the tile at
 * scale s into g's bins (the mean of each, 0 where nothing fell), then
 * takes out what repeats every 8 pixels: a JPEG's block grid, which every
 * recompressed image has and which is no trace. */
static void fold(search *S, const grid *g, double s, int x0, int y0, int x1, int y1)
{
    double inv = 1.0 / s;
    int n = g->n, sh = g->shift;
    memset(S->fold, 0, sizeof S->fold);
    memset(S->cnt, 0, sizeof S->cnt);
    for (int x = x0; x < x1; x++)
        S->ux[x] = ((int)((double)x * inv) & (T - 1)) >> sh;
    for (int y = y0; y < y1; y++) {
        int v = ((int)((double)y * inv) & (T - 1)) >> sh;
        const float *row = S->hp + (size_t)y * S->w;
        float *f = S->fold + v * n;
        int *c = S->cnt + v * n;
        for (int x = x0; x < x1; x++) {
            f[S->ux[x]] += row[x];
            c[S->ux[x]]++;
        }
    }
    int p = 8 >> sh;
    double msum[8][8] = {{0}};
    int mcnt[8][8] = {{0}};
    for (int i = 0; i < n * n; i++)
        if (S->cnt[i]) {
            S->fold[i] /= (float)S->cnt[i];
            msum[(i / n) % p][(i % n) % p] += S->fold[i];
            mcnt[(i / n) % p][(i % n) % p]++;
        }
    for (int i = 0; i < n * n; i++)
        if (S->cnt[i]) {
            int a = (i / n) % p, b = (i % n) % p;
            S->fold[i] -= (float)(msum[a][b] / mcnt[a][b]);
        }
}

/* The sync peak of the current fold: its height in standard deviations
 * of the correlation surface, and where (the crop's offset modulo the
 * tile, in pixels). Lags are compared within their phase in the cell
 * (all lags a whole number of cells apart), whose spread differs: a
 * pattern of cells correlates more at whole-cell lags. */
static double correlate(search *S, const grid *g, int *dx, int *dy)
{
    int n = g->n, cell = C >> g->shift;
    for (int i = 0; i < n * n; i++) {
        S->re[i] = S->fold[i];
        S->im[i] = 0;
    }
    fft2(g, S->re, S->im, 0);
    for (int i = 0; i < n * n; i++) {
        /* conj(F) * R */
        double fr = S->re[i], fi = -S->im[i];
        S->re[i] = fr * g->ref_re[i] - fi * g->ref_im[i];
        S->im[i] = fr * g->ref_im[i] + fi * g->ref_re[i];
    }
    fft2(g, S->re, S->im, 1);
    double sum[C][C] = {{0}}, sum2[C][C] = {{0}};
    for (int i = 0; i < n * n; i++) {
        double v = S->re[i];
        sum[(i / n) % cell][(i % n) % cell] += v;
        sum2[(i / n) % cell][(i % n) % cell] += v * v;
    }
    double best = 0;
    int at = 0, k = n * n / (cell * cell);
    for (int i = 0; i < n * n; i++) {
        int a = (i / n) % cell, b = (i % n) % cell;
        double mean = sum[a][b] / k, var = sum2[a][b] / k - mean * mean;
        double z = var > 1e-12 ? (S->re[i] - mean) / sqrt(var) : 0;
        if (z > best) {
            best = z;
            at = i;
        }
    }
    *dx = (at % n) << g->shift;
    *dy = (at / n) << g->shift;
    return best;
}

static double score(search *S, const grid *g, double s, int window, int *dx, int *dy)
{
    int span = (int)(window * s);
    int x0 = 0, y0 = 0, x1 = S->w, y1 = S->h;
    if (span < S->w) {
        x0 = (S->w - span) / 2;
        x1 = x0 + span;
    }
    if (span < S->h) {
        y0 = (S->h - span) / 2;
        y1 = y0 + span;
    }
    fold(S, g, s, x0, y0, x1, y1);
    return correlate(S, g, dx, dy);
}

/* Reads the bits of the current (fine) fold at offset (dx, dy) into c. */
static void read_bits(search *S, int dx, int dy, wm_trace_candidate *c)
{
    double soft[WM_TRACE_BITS] = {0};
    for (int cy = 0; cy < WM_TRACE_CELLS; cy++)
        for (int cx = 0; cx < WM_TRACE_CELLS; cx++) {
            int cell = cy * WM_TRACE_CELLS + cx, role = S->pat->role[cell];
            if (role < 0)
                continue;
            double v = 0;
            for (int py = cy * C; py < cy * C + C; py++)
                for (int px = cx * C; px < cx * C + C; px++)
                    v += S->fold[((py - dy) & (T - 1)) * T + ((px - dx) & (T - 1))];
            soft[role] += S->pat->pn[cell] * v;
        }
    c->bits = 0;
    for (int i = 0; i < WM_TRACE_BITS; i++)
        c->bits = (c->bits << 1) | (soft[i] > 0);
    /* The weakest first: selection of the WM_TRACE_WEAK smallest. */
    bool used[WM_TRACE_BITS] = {false};
    for (int j = 0; j < WM_TRACE_WEAK; j++) {
        int min = -1;
        for (int i = 0; i < WM_TRACE_BITS; i++)
            if (!used[i] && (min < 0 || fabs(soft[i]) < fabs(soft[min])))
                min = i;
        used[min] = true;
        c->weak[j] = (unsigned char)min;
    }
}

/* High-passes in's luminance into a float buffer (the trace lives at the
 * scale of its 4-pixel cells; what is coarser is the picture). */
static fg_result highpass(VipsImage *in, float **out, int *w, int *h, fg_reason *r)
{
    VipsImage *t[6] = {NULL};
    fg_result rc = FG_OK;
    VipsImage *im = in;
    *out = NULL;
    if (vips_image_hasalpha(im)) {
        if (vips_flatten(im, &t[0], NULL))
            goto fail;
        im = t[0];
    }
    if (vips_colourspace(im, &t[1], VIPS_INTERPRETATION_B_W, NULL) ||
        vips_extract_band(t[1], &t[2], 0, NULL) ||
        vips_cast(t[2], &t[3], VIPS_FORMAT_FLOAT, NULL) ||
        vips_gaussblur(t[3], &t[4], 1.5, "precision", VIPS_PRECISION_FLOAT, NULL) ||
        vips_subtract(t[3], t[4], &t[5], NULL))
        goto fail;
    size_t size = 0;
    float *buf = vips_image_write_to_memory(t[5], &size);
    if (!buf)
        goto fail;
    *w = t[5]->Xsize;
    *h = t[5]->Ysize;
    for (size_t i = 0; i < size / sizeof *buf; i++)
        buf[i] = buf[i] > CLIP ? CLIP : buf[i] < -CLIP ? -CLIP : buf[i];
    *out = buf;
    goto out;
fail:
    vips_error_clear();
    rc = fg_fail(r, FG_ECORRUPT, "cannot decode the image");
out:
    for (int i = 5; i >= 0; i--)
        if (t[i])
            g_object_unref(t[i]);
    return rc;
}

typedef struct peak {
    double z, s;
} peak;

fg_result wm_trace_detect(VipsImage *in, const unsigned char key[WM_TRACE_KEY_BYTES],
                          wm_trace_report *rep, fg_reason *r)
{
    wm_trace_pattern pat;
    search *S = NULL;
    float *hp = NULL;
    int w = 0, h = 0;
    memset(rep, 0, sizeof *rep);
    fg_result rc = wm_trace_pattern_init(&pat, key, r);
    if (rc != FG_OK || (rc = highpass(in, &hp, &w, &h, r)) != FG_OK)
        goto out;
    S = calloc(1, sizeof *S);
    if (!S || !(S->ux = malloc((size_t)w * sizeof *S->ux))) {
        rc = fg_fail(r, FG_EIO, "out of memory");
        goto out;
    }
    S->hp = hp;
    S->w = w;
    S->h = h;
    S->pat = &pat;
    grid_init(&S->coarse, &pat, 1);
    grid_init(&S->fine, &pat, 0);
    /* Coarse: the best few scales, each a local peak at least 3% from the
     * others. */
    peak top[WM_TRACE_MAX_CANDIDATES] = {{0, 0}};
    for (double s = S_MIN; s <= S_MAX; s *= STEP) {
        int dx, dy;
        double z = score(S, &S->coarse, s, WINDOW, &dx, &dy);
        int near = -1;
        for (int i = 0; i < WM_TRACE_MAX_CANDIDATES; i++)
            if (top[i].s > 0 && fabs(top[i].s / s - 1) < 0.03)
                near = i;
        if (near >= 0) {
            if (z > top[near].z)
                top[near] = (peak){z, s};
            continue;
        }
        int min = 0;
        for (int i = 1; i < WM_TRACE_MAX_CANDIDATES; i++)
            if (top[i].z < top[min].z)
                min = i;
        if (z > top[min].z)
            top[min] = (peak){z, s};
    }
    /* Fine: each around its coarse scale, on the whole image. */
    for (int i = 0; i < WM_TRACE_MAX_CANDIDATES; i++) {
        if (top[i].s <= 0)
            continue;
        double best = -1, bs = top[i].s;
        int bx = 0, by = 0;
        for (int k = -FINE_N; k <= FINE_N; k++) {
            int dx, dy;
            double s = top[i].s * (1 + FINE_STEP * k);
            double z = score(S, &S->fine, s, FULL, &dx, &dy);
            if (z > best) {
                best = z;
                bs = s;
                bx = dx;
                by = dy;
            }
        }
        if (best < WM_TRACE_Z_MIN)
            continue;
        int dx, dy;
        (void)score(S, &S->fine, bs, FULL, &dx, &dy);
        wm_trace_candidate *c = &rep->c[rep->n++];
        c->z = best;
        c->scale = bs;
        read_bits(S, bx, by, c);
    }
    /* Strongest first. */
    for (int i = 1; i < rep->n; i++)
        for (int j = i; j > 0 && rep->c[j].z > rep->c[j - 1].z; j--) {
            wm_trace_candidate t = rep->c[j];
            rep->c[j] = rep->c[j - 1];
            rep->c[j - 1] = t;
        }
out:
    if (S)
        free(S->ux);
    free(S);
    g_free(hp);
    return rc;
}

/* Adds the candidates of one page to rep, keeping the strongest. */
static void merge(wm_trace_report *rep, const wm_trace_report *page)
{
    for (int i = 0; i < page->n; i++) {
        int at = rep->n;
        if (rep->n == WM_TRACE_MAX_CANDIDATES) {
            at = rep->n - 1;
            if (rep->c[at].z >= page->c[i].z)
                continue;
        } else {
            rep->n++;
        }
        rep->c[at] = page->c[i];
        for (int j = at; j > 0 && rep->c[j].z > rep->c[j - 1].z; j--) {
            wm_trace_candidate t = rep->c[j];
            rep->c[j] = rep->c[j - 1];
            rep->c[j - 1] = t;
        }
    }
}

/* Opens page (or the image, page < 0) of in, checked against the pixel
 * limit from its header before a pixel is decoded. */
static fg_result open_page(const char *in, int page, int dpi, const wm_options *o,
                           VipsImage **out, fg_reason *r)
{
    VipsImage *im = page < 0 ? vips_image_new_from_file(in, "fail_on", VIPS_FAIL_ON_TRUNCATED,
                                                        NULL)
                             : vips_image_new_from_file(in, "page", page, "dpi", (double)dpi,
                                                        NULL);
    *out = NULL;
    if (!im) {
        vips_error_clear();
        return fg_fail(r, FG_ECORRUPT, "cannot read the file");
    }
    if ((long long)im->Xsize * im->Ysize > o->max_pixels) {
        long long px = (long long)im->Xsize * im->Ysize;
        g_object_unref(im);
        return fg_fail(r, FG_ELIMIT, "%lld pixels, over the limit of %lld (--max-pixels)", px,
                       o->max_pixels);
    }
    *out = im;
    return FG_OK;
}

fg_result wm_trace_file(const char *in, const char *out, const wm_options *o, fg_reason *r)
{
    wm_trace_report rep, page;
    wm_type type;
    VipsImage *im = NULL;
    struct stat st;
    char text[1024];
    memset(&rep, 0, sizeof rep);
    if (!o->has_trace_key)
        return fg_fail(r, FG_EUSAGE, "no trace pattern key (%s)", WM_TRACE_PATTERN_ENV);
    if (stat(in, &st) != 0)
        return fg_fail(r, FG_ECORRUPT, "cannot read the file");
    if (st.st_size > o->max_bytes)
        return fg_fail(r, FG_ELIMIT, "%lld bytes, over the limit of %lld (--max-bytes)",
                       (long long)st.st_size, o->max_bytes);
    fg_result rc = wm_detect_file(in, &type, r);
    if (rc != FG_OK)
        return rc;
    if (type.kind == WM_KIND_IMAGE) {
        if ((rc = open_page(in, -1, 0, o, &im, r)) == FG_OK)
            rc = wm_trace_detect(im, o->trace_key, &rep, r);
        if (im)
            g_object_unref(im);
    } else if (type.kind == WM_KIND_PDF) {
        /* Page by page, at the resolution previews are made at, until a
         * page shows a trace (any page of a leaked PDF names it). */
        for (int i = 0; i < o->max_pages && rep.n == 0; i++) {
            rc = open_page(in, i, o->pdf_dpi, o, &im, r);
            if (rc != FG_OK) {
                if (i > 0) /* past the last page */
                    rc = FG_OK;
                break;
            }
            rc = wm_trace_detect(im, o->trace_key, &page, r);
            g_object_unref(im);
            im = NULL;
            if (rc != FG_OK)
                break;
            merge(&rep, &page);
        }
    } else {
        return fg_fail(r, FG_EUNSUPPORTED, "type %s cannot be traced", type.mime);
    }
    if (rc != FG_OK)
        return rc;
    size_t n = wm_trace_report_format(&rep, text, sizeof text);
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return fg_fail(r, FG_EIO, "cannot write the trace report");
    bool ok = n > 0 && write(fd, text, n) == (ssize_t)n;
    if (close(fd) != 0 || !ok) {
        unlink(out);
        return fg_fail(r, FG_EIO, "cannot write the trace report");
    }
    return FG_OK;
}

/* ---- the same trace on a plane of luma (video frames) ---- */

fg_result wm_trace_chips(const wm_options *o, signed char chip[WM_TRACE_NCELLS], bool *on,
                         fg_reason *r)
{
    wm_trace_pattern pat;
    *on = false;
    if (!o->has_trace || !o->has_trace_key)
        return FG_OK;
    fg_result rc = wm_trace_pattern_init(&pat, o->trace_key, r);
    if (rc != FG_OK)
        return rc;
    for (int cy = 0; cy < WM_TRACE_CELLS; cy++)
        for (int cx = 0; cx < WM_TRACE_CELLS; cx++)
            chip[cy * WM_TRACE_CELLS + cx] =
                (signed char)wm_trace_chip(&pat, o->trace_payload, cx, cy);
    *on = true;
    return FG_OK;
}

/* The cell's strength and clip flag exactly as embed_gen computes them
 * (cell_gradient's measure), from a plain plane of one band. */
static float plane_gradient(const unsigned char *p0, ptrdiff_t stride, int xs, int ys, int xe,
                            int ye, int *hi, int *lo)
{
    int g = 0, n = 0;
    *hi = 0;
    *lo = 255;
    if (xe - xs == C && ye - ys == C) {
        const unsigned char *a = p0 + (ys + 1) * stride + xs, *b = a + stride;
        for (int k = 0; k < C; k++) {
            int u = a[k] > b[k] ? a[k] : b[k], v = a[k] < b[k] ? a[k] : b[k];
            *hi = u > *hi ? u : *hi;
            *lo = v < *lo ? v : *lo;
        }
        g = abs(a[1] - a[0]) + abs(a[2] - a[1]) + abs(a[3] - a[2]) + abs(b[1] - b[0]) +
            abs(b[2] - b[1]) + abs(b[3] - b[2]) + abs(b[0] - a[0]) + abs(b[1] - a[1]) +
            abs(b[2] - a[2]) + abs(b[3] - a[3]);
        return (float)g / 10;
    }
    for (int y = ys; y < ye; y++) {
        const unsigned char *p = p0 + y * stride;
        for (int x = xs; x < xe; x++) {
            *hi = p[x] > *hi ? p[x] : *hi;
            *lo = p[x] < *lo ? p[x] : *lo;
            if (x + 1 < xe) {
                g += abs(p[x + 1] - p[x]);
                n++;
            }
            if (y + 1 < ye) {
                g += abs(p[x + stride] - p[x]);
                n++;
            }
        }
    }
    return n ? (float)g / (float)n : 0;
}

void wm_trace_embed_plane(unsigned char *plane, ptrdiff_t stride, int w, int h,
                          const signed char chip[WM_TRACE_NCELLS], double gain, int lo_lim,
                          int hi_lim)
{
    for (int ys = 0; ys < h; ys += C) {
        int ye = ys + C < h ? ys + C : h, cy = ys / C;
        for (int xs = 0; xs < w; xs += C) {
            int xe = xs + C < w ? xs + C : w, cx = xs / C;
            int hi, lo;
            float amp = A_FLAT + A_GAIN * plane_gradient(plane, stride, xs, ys, xe, ye, &hi, &lo);
            if (amp > A_MAX)
                amp = A_MAX;
            int flat = lrintf(32 * amp) <= 32; /* embed_gen's m == 1 */
            amp *= (float)gain;
            int a32 = (int)lrintf(32 * amp), m = (a32 + 31) >> 5;
            int d32 = a32 * chip[(cy % WM_TRACE_CELLS) * WM_TRACE_CELLS + cx % WM_TRACE_CELLS];
            /* As embed_gen: a flat cell (changes of a level at most at
             * gain 1) near the ends of the range is shifted inward so
             * that neither chip clips; by m levels, since a gain above 1
             * makes its changes up to m (m is 1 at gain 1: embed_gen's
             * rule exactly). */
            int eg = flat && (hi + 9 > hi_lim || lo - 9 < lo_lim) ? m : 0;
            for (int y = ys; y < ye; y++) {
                unsigned char *p = plane + y * stride;
                for (int x = xs; x < xe; x++) {
                    int dv = (d32 + dither32[y - ys][x - xs]) >> 5;
                    if (eg)
                        dv += p[x] + eg > hi_lim ? -eg : p[x] - eg < lo_lim ? eg : 0;
                    p[x] = sat(p[x] + dv);
                }
            }
        }
    }
}
