/* Stamping the image and PDF entries of an archive, from memory, two at a
 * time. Used by watermark/archive.c only. */
#ifndef WM_ARCHIVE_PREVIEW_H
#define WM_ARCHIVE_PREVIEW_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "watermark/wm.h"

typedef struct wm_preview_job {
    long index;         /* entry number in the archive */
    guint line;         /* its manifest line */
    char *name;         /* escaped entry name */
    char *mime;         /* escaped detected type */
    wm_kind kind;       /* WM_KIND_IMAGE or WM_KIND_PDF */
    char sha[65];       /* of the entry's bytes */
    GByteArray *data;   /* the entry's bytes, freed once stamped */
    size_t len;         /* their count, kept for the manifest */
    uint64_t seed;
    /* Set by wm_preview_run: */
    fg_result rc;
    fg_reason why;      /* when rc is not FG_OK: why it is withheld */
    void *out;          /* g_malloc'd preview bytes */
    size_t out_len;
    const char *ext;    /* ".jpg", ".png" or ".pdf" */
} wm_preview_job;

/* A job for an entry; takes ownership of data (also on failure), copies
 * name, mime and sha. Returns NULL when out of memory. */
wm_preview_job *wm_preview_job_new(long index, const char *name,
                                   const char *mime, wm_kind kind,
                                   const char *sha, GByteArray *data,
                                   uint64_t seed);
/* Accepts NULL. */
void wm_preview_job_free(wm_preview_job *j);

/* Stamps every job, on up to two threads, and sets each one's result.
 * A job that fails is withheld (its rc and why say why); it does not stop
 * the others. Returns when all are done. This function can't fail. */
void wm_preview_run(wm_preview_job **jobs, int n, const wm_options *o);

#endif
