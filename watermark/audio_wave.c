/* The waveform image of an audio preview: peak per block, drawn as bars
 * around a middle line, saved as a JPEG with libvips. */
#include "watermark/audio.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vips/vips.h>

#include "watermark/save.h"

void wm_wave_init(wm_wave *w, int block)
{
    memset(w, 0, sizeof *w);
    w->block = block > 0 ? block : 1;
}

void wm_wave_release(wm_wave *w)
{
    free(w->peak);
    w->peak = NULL;
    w->n = w->cap = 0;
}

static fg_result push(wm_wave *w, float v, fg_reason *r)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        unsigned char *p = realloc(w->peak, cap);
        if (!p)
            return fg_fail(r, FG_EIO, "cannot draw the waveform: out of memory");
        w->peak = p;
        w->cap = cap;
    }
    w->peak[w->n++] = (unsigned char)(v >= 1.0f ? 255 : v * 255.0f + 0.5f);
    return FG_OK;
}

fg_result wm_wave_add(wm_wave *w, const float *const *planes, int nch, int n, fg_reason *r)
{
    for (int i = 0; i < n; i++) {
        for (int ch = 0; ch < nch; ch++) {
            float v = planes[ch][i] < 0 ? -planes[ch][i] : planes[ch][i];
            if (v > w->cur)
                w->cur = v;
        }
        if (++w->filled == w->block) {
            fg_result rc = push(w, w->cur, r);
            if (rc != FG_OK)
                return rc;
            w->filled = 0;
            w->cur = 0;
        }
    }
    return FG_OK;
}

fg_result wm_wave_save(const wm_wave *w, const char *path, fg_reason *r)
{
    enum { W = WM_WAVE_WIDTH, H = WM_WAVE_HEIGHT };
    static const unsigned char bg[3] = {0x1d, 0x20, 0x26}, ink[3] = {0x5a, 0xb0, 0xff},
                               axis[3] = {0x3a, 0x40, 0x4a};
    fg_result rc = FG_OK;
    unsigned char *px = malloc((size_t)W * H * 3);
    VipsImage *im = NULL;
    void *jpeg = NULL;
    size_t jpeg_len = 0;
    wm_outfile f = {.fd = -1};
    if (!px) {
        rc = fg_fail(r, FG_EIO, "cannot draw the waveform: out of memory");
        goto out;
    }
    for (size_t i = 0; i < (size_t)W * H; i++)
        memcpy(px + 3 * i, bg, 3);
    /* The last, partial block counts too. */
    size_t n = w->n + (w->filled > 0);
    for (int x = 0; x < W; x++) {
        unsigned peak = 0;
        size_t a = n * (size_t)x / W, b = n * (size_t)(x + 1) / W;
        if (b <= a)
            b = a + 1;
        for (size_t i = a; i < b && i < n; i++) {
            unsigned v = i < w->n ? w->peak[i] : (unsigned)(w->cur * 255.0f);
            if (v > peak)
                peak = v;
        }
        int half = (int)(peak * (H / 2 - 4) / 255);
        for (int y = H / 2 - half; y <= H / 2 + half; y++)
            memcpy(px + 3 * ((size_t)y * W + x), half || y == H / 2 ? ink : axis, 3);
        if (!half)
            memcpy(px + 3 * ((size_t)(H / 2) * W + x), axis, 3);
    }
    im = vips_image_new_from_memory(px, (size_t)W * H * 3, W, H, 3, VIPS_FORMAT_UCHAR);
    if (!im || vips_jpegsave_buffer(im, &jpeg, &jpeg_len, "Q", 85, "strip", TRUE, NULL) != 0) {
        vips_error_clear();
        rc = fg_fail(r, FG_EIO, "cannot draw the waveform: jpeg encoder failed");
        goto out;
    }
    if ((rc = wm_outfile_open(&f, path, r)) != FG_OK)
        goto out;
    for (size_t done = 0; done < jpeg_len;) {
        ssize_t k = write(f.fd, (char *)jpeg + done, jpeg_len - done);
        if (k <= 0) {
            rc = fg_fail(r, FG_EIO, "cannot write the waveform");
            goto out;
        }
        done += (size_t)k;
    }
    rc = wm_outfile_commit(&f, r);
out:
    wm_outfile_abort(&f);
    if (im)
        g_object_unref(im);
    g_free(jpeg);
    free(px);
    return rc;
}
