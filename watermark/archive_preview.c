#include "watermark/archive_preview.h"

#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "watermark/mark.h"
#include "watermark/trace.h"
#include "watermark/pdf.h"

/* The machines we run on have two cores. One JPEG photo keeps libvips's
 * own pool of threads only partly busy (decoding and encoding a JPEG are
 * serial), so two entries are stamped side by side. */
#define WORKERS 2

wm_preview_job *wm_preview_job_new(long index, const char *name,
                                   const char *mime, wm_kind kind,
                                   const char *sha, GByteArray *data,
                                   uint64_t seed)
{
    wm_preview_job *j = g_try_new0(wm_preview_job, 1);
    if (!j) {
        g_byte_array_free(data, TRUE);
        return NULL;
    }
    j->index = index;
    j->name = g_strdup(name);
    j->mime = g_strdup(mime);
    j->kind = kind;
    g_strlcpy(j->sha, sha, sizeof j->sha);
    j->data = data;
    j->len = data->len;
    j->seed = seed;
    return j;
}

void wm_preview_job_free(wm_preview_job *j)
{
    if (!j)
        return;
    if (j->data)
        g_byte_array_free(j->data, TRUE);
    g_free(j->name);
    g_free(j->mime);
    g_free(j->out);
    g_free(j);
}

static fg_result stamp_image(wm_preview_job *j, const wm_options *o)
{
    VipsImage *in = NULL, *marked = NULL;
    fg_result rc = FG_OK;
    in = vips_image_new_from_buffer(j->data->data, j->data->len, "", "access",
                                    VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                    VIPS_FAIL_ON_ERROR, NULL);
    if (!in) {
        rc = fg_fail(&j->why, FG_EUNSUPPORTED, "image cannot be read");
        goto out;
    }
    /* From the header, before a pixel is decoded. */
    if ((long long)in->Xsize * in->Ysize > o->max_pixels) {
        rc = fg_fail(&j->why, FG_ELIMIT,
                     "image is %d x %d: over the pixel limit", in->Xsize,
                     in->Ysize);
        goto out;
    }
    if ((rc = wm_mark_image(in, o, j->seed, &marked, &j->why)))
        goto out;
    /* The traceable mark (watermark/trace.h), on each image entry. */
    {
        VipsImage *traced = NULL;
        rc = wm_trace_embed(marked, o, &traced, &j->why);
        g_object_unref(marked);
        marked = traced;
        if (rc)
            goto out;
    }
    int ok;
    if (vips_image_hasalpha(marked)) {
        j->ext = ".png";
        ok = vips_pngsave_buffer(marked, &j->out, &j->out_len, "strip", TRUE,
                                 NULL);
    } else {
        j->ext = ".jpg";
        ok = vips_jpegsave_buffer(marked, &j->out, &j->out_len, "Q",
                                  o->jpeg_quality, "strip", TRUE, NULL);
    }
    if (ok != 0)
        rc = fg_fail(&j->why, FG_ECORRUPT, "image cannot be read");
out:
    if (rc != FG_OK)
        vips_error_clear();
    if (marked)
        g_object_unref(marked);
    if (in)
        g_object_unref(in);
    return rc;
}

static void stamp_one(wm_preview_job *j, const wm_options *o)
{
    if (j->kind == WM_KIND_PDF) {
        j->ext = ".pdf";
        j->rc = wm_pdf_preview_buffer(j->data->data, j->data->len, o, j->seed,
                                      &j->out, &j->out_len, &j->why);
    } else {
        j->rc = stamp_image(j, o);
    }
    /* The original bytes are not needed any more: memory is bounded by
     * what is queued, not by what has been read. */
    g_byte_array_free(j->data, TRUE);
    j->data = NULL;
}

typedef struct pool {
    wm_preview_job **jobs;
    int n;
    gint next;
    const wm_options *o;
} pool;

static gpointer worker(gpointer data)
{
    pool *p = data;
    for (;;) {
        int i = g_atomic_int_add(&p->next, 1);
        if (i >= p->n)
            break;
        stamp_one(p->jobs[i], p->o);
    }
    return NULL;
}

void wm_preview_run(wm_preview_job **jobs, int n, const wm_options *o)
{
    pool p = {.jobs = jobs, .n = n, .next = 0, .o = o};
    GThread *helper = NULL;
    if (n > 1)
        helper = g_thread_try_new("fg-preview", worker, &p, NULL);
    /* Without a helper thread, this one does all the work. */
    worker(&p);
    if (helper)
        g_thread_join(helper);
}
