/* Stamping an image file: bounded from its header, decoded in one
 * sequential pass, marked, saved.
 *
 * The header is read on its own first and checked against the pixel and
 * frame limits: libvips has no limit of its own, and a 30000 x 30000 PNG
 * of a few megabytes would otherwise decode into gigabytes. */
#include "watermark/formats.h"

#include <string.h>

#include "watermark/mark.h"
#include "watermark/save.h"
#include "watermark/trace.h"

/* Loaders that hold animations: all their frames are loaded. Any other
 * multi-page image (a TIFF document, a HEIF burst) shows its first. */
static int is_animated_loader(const char *loader)
{
    return strcmp(loader, "VipsForeignLoadNsgifSource") == 0 ||
           strcmp(loader, "VipsForeignLoadWebpSource") == 0;
}

/* Whether the loader (a type name) is blocked in this process: untrusted
 * loaders (SVG, ImageMagick, ...) are, outside the sandbox. */
static int is_blocked(const char *loader)
{
    GType type = g_type_from_name(loader);
    if (!type)
        return 1;
    VipsOperationClass *c = VIPS_OPERATION_CLASS(g_type_class_ref(type));
    int blocked = (c->flags & VIPS_OPERATION_BLOCKED) != 0;
    g_type_class_unref(c);
    return blocked;
}

static VipsImage *open_image(const char *in, int all,
                             int shrink, VipsAccess access)
{
    VipsSource *src = vips_source_new_from_file(in);
    VipsImage *im = NULL;
    if (!src)
        return NULL;
    /* fail_on=truncated: a cut-off file is an error, not a grey band. */
    if (all)
        im = vips_image_new_from_source(src, "", "access", access, "fail_on",
                                        VIPS_FAIL_ON_TRUNCATED, "n", -1, NULL);
    else if (shrink > 1)
        im = vips_image_new_from_source(src, "", "access", access, "fail_on",
                                        VIPS_FAIL_ON_TRUNCATED, "shrink",
                                        shrink, NULL);
    else
        im = vips_image_new_from_source(src, "", "access", access, "fail_on",
                                        VIPS_FAIL_ON_TRUNCATED, NULL);
    g_object_unref(src);
    return im;
}

/* The largest JPEG shrink-on-load factor that keeps the longest edge at
 * or above max_edge: the DCT does most of the downscale for free. */
static int jpeg_shrink(int w, int h, int max_edge)
{
    int edge = w > h ? w : h, s = 8;
    if (max_edge <= 0)
        return 1;
    while (s > 1 && edge / s < max_edge)
        s /= 2;
    return s;
}

fg_result wm_stamp_image(const char *in, const char *out, const wm_options *o,
                         uint64_t seed, fg_reason *r)
{
    VipsSource *src = NULL;
    VipsImage *head = NULL, *im = NULL, *preview = NULL, *traced = NULL;
    fg_result rc = FG_OK;
    wm_type type;
    if ((rc = wm_detect_file(in, &type, r)) != FG_OK)
        goto out;
    src = vips_source_new_from_file(in);
    const char *loader = src ? vips_foreign_find_load_source(src) : NULL;
    if (!loader || is_blocked(loader)) {
        vips_error_clear();
        rc = fg_fail(r, FG_EUNSUPPORTED, "type %s is withheld", type.mime);
        goto out;
    }
    int animated = is_animated_loader(loader);
    head = open_image(in, 0, 1, VIPS_ACCESS_SEQUENTIAL);
    if (!head) {
        vips_error_clear();
        rc = fg_fail(r, FG_ECORRUPT, "cannot read the image header");
        goto out;
    }
    long long frames = animated ? vips_image_get_n_pages(head) : 1;
    long long pixels = (long long)head->Xsize * head->Ysize * frames;
    if (frames > o->max_frames) {
        rc = fg_fail(r, FG_ELIMIT, "%lld frames, over the limit of %d "
                                   "(--max-frames)", frames, o->max_frames);
        goto out;
    }
    if (pixels > o->max_pixels) {
        rc = fg_fail(r, FG_ELIMIT, "%dx%d%s is %lld pixels, over the limit "
                                   "of %lld (--max-pixels)",
                     head->Xsize, head->Ysize, frames > 1 ? " per frame" : "",
                     pixels, o->max_pixels);
        goto out;
    }
    /* Turning a picture by 90 degrees reads it column-wise: that needs
     * random access, which libvips gives by decoding to memory or, for a
     * large image, to a temporary file. */
    int orient = vips_image_get_orientation(head);
    VipsAccess access = (orient == 1 || animated) ? VIPS_ACCESS_SEQUENTIAL
                                                  : VIPS_ACCESS_RANDOM;
    int shrink = strcmp(loader, "VipsForeignLoadJpegSource") == 0
                     ? jpeg_shrink(head->Xsize, head->Ysize, o->max_edge)
                     : 1;
    if (animated && frames > 1)
        im = open_image(in, 1, 1, access);
    else if (shrink > 1 || access != VIPS_ACCESS_SEQUENTIAL)
        im = open_image(in, 0, shrink, access);
    else
        im = g_object_ref(head);
    if (!im) {
        vips_error_clear();
        rc = fg_fail(r, FG_ECORRUPT, "cannot read the image");
        goto out;
    }
    if ((rc = wm_mark_image(im, o, seed, &preview, r)) != FG_OK)
        goto out;
    /* The traceable mark (watermark/trace.h): after the visible one,
     * before saving. */
    if ((rc = wm_trace_embed(preview, o, &traced, r)) != FG_OK)
        goto out;
    rc = wm_save_image(traced, out, o, r);
out:
    if (traced)
        g_object_unref(traced);
    if (preview)
        g_object_unref(preview);
    if (im)
        g_object_unref(im);
    if (head)
        g_object_unref(head);
    if (src)
        g_object_unref(src);
    return rc;
}
