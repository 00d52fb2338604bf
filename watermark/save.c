/* Saving a finished preview in the format its name asks for. */
#include "watermark/save.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *ext;
    wm_format format;
} exts[] = {
    {"jpg", WM_FORMAT_JPEG}, {"jpeg", WM_FORMAT_JPEG}, {"png", WM_FORMAT_PNG},
    {"webp", WM_FORMAT_WEBP}, {"gif", WM_FORMAT_GIF},  {"pdf", WM_FORMAT_PDF},
    {"zip", WM_FORMAT_ZIP},
};

wm_format wm_format_from_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot)
        return WM_FORMAT_AUTO;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot + 1, exts[i].ext) == 0)
            return exts[i].format;
    return WM_FORMAT_AUTO;
}

static int pages_of(VipsImage *im)
{
    int ph = vips_image_get_page_height(im);
    return (ph > 0 && ph < im->Ysize && im->Ysize % ph == 0) ? im->Ysize / ph
                                                             : 1;
}

/* libvips reports decode errors when the saver pulls pixels, so a failed
 * save is either the input's fault or the disk's. The disk's say so. */
static fg_result save_failed(fg_reason *r)
{
    const char *msg = vips_error_buffer();
    int io = strstr(msg, "write") || strstr(msg, "No space") ||
             strstr(msg, "target");
    vips_error_clear();
    if (io)
        return fg_fail(r, FG_EIO, "cannot write the preview: write failed");
    return fg_fail(r, FG_ECORRUPT, "image data is truncated or damaged");
}

/* What a single-image format gets: the first frame, alpha flattened onto
 * white for JPEG (which has none). */
static int prepare(VipsObject *ctx, VipsImage *in, wm_format f,
                   VipsImage **out)
{
    VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 4);
    VipsImage *x = in;
    int pages = pages_of(in);
    if (pages > 1 && (f == WM_FORMAT_JPEG || f == WM_FORMAT_PNG)) {
        if (vips_crop(x, &t[0], 0, 0, x->Xsize, x->Ysize / pages, NULL) ||
            vips_copy(t[0], &t[1], NULL))
            return -1;
        vips_image_remove(t[1], VIPS_META_PAGE_HEIGHT);
        vips_image_remove(t[1], VIPS_META_N_PAGES);
        x = t[1];
    }
    if (f == WM_FORMAT_JPEG && (x->Bands == 2 || x->Bands == 4)) {
        VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
        int rc = vips_flatten(x, &t[2], "background", white, NULL);
        vips_area_unref(VIPS_AREA(white));
        if (rc || vips_cast(t[2], &t[3], VIPS_FORMAT_UCHAR, NULL))
            return -1;
        x = t[3];
    }
    *out = x;
    return 0;
}

static int save(VipsImage *im, VipsTarget *t, wm_format f, int q)
{
    switch (f) {
    case WM_FORMAT_PNG:
        return vips_pngsave_target(im, t, "strip", TRUE, NULL);
    case WM_FORMAT_WEBP:
        return vips_webpsave_target(im, t, "strip", TRUE, "Q", q, NULL);
    case WM_FORMAT_GIF:
        return vips_gifsave_target(im, t, "strip", TRUE, NULL);
    default:
        return vips_jpegsave_target(im, t, "strip", TRUE, "Q", q, NULL);
    }
}

fg_result wm_save_image(VipsImage *im, const char *out, const wm_options *o,
                        fg_reason *r)
{
    VipsObject *ctx = VIPS_OBJECT(vips_image_new());
    VipsTarget *target = NULL;
    wm_outfile f = {.fd = -1};
    fg_result rc = FG_OK;
    VipsImage *x = NULL;
    wm_format fmt = wm_format_from_path(out);
    if (fmt == WM_FORMAT_PDF || fmt == WM_FORMAT_ZIP) {
        rc = fg_fail(r, FG_EUSAGE, "an image preview cannot be saved as %s",
                     fmt == WM_FORMAT_PDF ? "pdf" : "zip");
        goto out;
    }
    if (fmt == WM_FORMAT_AUTO)
        fmt = pages_of(im) > 1                      ? WM_FORMAT_GIF
              : (im->Bands == 2 || im->Bands == 4) ? WM_FORMAT_PNG
                                                   : WM_FORMAT_JPEG;
    if (prepare(ctx, im, fmt, &x) != 0) {
        vips_error_clear();
        rc = fg_fail(r, FG_EIO, "cannot make the preview: conversion failed");
        goto out;
    }
    if ((rc = wm_outfile_open(&f, out, r)) != FG_OK)
        goto out;
    target = vips_target_new_to_descriptor(f.fd);
    if (!target) {
        vips_error_clear();
        rc = fg_fail(r, FG_EIO, "cannot write the preview: no target");
        goto out;
    }
    if (save(x, target, fmt, o->jpeg_quality) != 0) {
        rc = save_failed(r);
        goto out;
    }
    rc = wm_outfile_commit(&f, r);
out:
    if (target)
        g_object_unref(target);
    wm_outfile_abort(&f);
    g_object_unref(ctx);
    return rc;
}
