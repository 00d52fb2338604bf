/* What a preview job does (the application layer; no HTTP, no threads):
 * runs the sandboxed stamper on a file's stored original (with the limits
 * of its kind), stores the preview as a blob, and its companion image
 * (a poster frame, a waveform: WM_POSTER_SUFFIX) when the stamper wrote
 * one, and records the outcome, in one transaction guarded
 * by the job's lease: the file's preview state, its audit entry, the end
 * of the job and, when it was the delivery's last file,
 * delivery.ready/failed in the outbox. jobs/runner.h calls it. */
#ifndef ORDERS_PREVIEW_JOB_H
#define ORDERS_PREVIEW_JOB_H

#include <stdbool.h>

#include "common/result.h"
#include "storage/blob.h"
#include "storage/jobs.h"
#include "storage/meta.h"
#include "watermark/sandbox.h"

/* What stamping needs; shared and read-only, outliving every job. */
typedef struct orders_preview_env {
    store_blob *blobs;
    const char *scratch;       /* FILIGRANE_SCRATCH: the jobs' working directories */
    const char *cli;           /* the stamper program (FILIGRANE_CLI) */
    const char *mark_template; /* FILIGRANE_MARK_TEXT */
    const char *mark_key;      /* FILIGRANE_MARK_KEY: keys the mark's placement */
    const wm_sandbox_limits *sandbox;          /* images, PDFs, archives, text */
    /* Kinds with limits of their own (wm_sandbox_limits_init_kind); NULL:
     * the general ones above. */
    const wm_sandbox_limits *sandbox_video;
    const wm_sandbox_limits *sandbox_audio;
    const wm_sandbox_limits *sandbox_document;
    int max_attempts;          /* FILIGRANE_JOB_ATTEMPTS: claims before giving up */
    int excerpt_pages;         /* FILIGRANE_EXCERPT_PAGES; 0: the default */
    int max_pages;             /* FILIGRANE_MAX_PAGES; 0: the default */
} orders_preview_env;

/* Reads FILIGRANE_EXCERPT_PAGES (pages of a text, code or office preview,
 * default FG_EXCERPT_PAGES_DEFAULT) and FILIGRANE_MAX_PAGES (most pages of
 * any preview, default FG_MAX_PDF_PAGES_DEFAULT) into env. FG_EUSAGE with
 * a reason naming the variable when one is malformed or out of range. */
FG_MUST_CHECK fg_result orders_preview_pages_load(orders_preview_env *env, fg_reason *r);

/* The --max-pages the stamper gets for a file of kind (its wm_kind_name)
 * in an order that asked for preview_pages (0: did not ask): text, code
 * and office documents show an excerpt, the order's pages or
 * env->excerpt_pages; a PDF the order's pages or, when it did not ask, the
 * stamper's own default. Capped by env->max_pages. 0 means "pass
 * nothing" (not a paged kind, or a PDF with no request). This function
 * can't fail. */
int orders_preview_pages_for(const orders_preview_env *env, const char *kind, int preview_pages);

/* What happened, for the caller's log and metrics. */
typedef struct orders_preview_outcome {
    const char *state;    /* STORE_PREVIEW_* recorded, or what stamping gave */
    bool stamped;         /* the stamper ran: stamp_seconds is its time */
    double stamp_seconds;
    bool rebuild;         /* the file had a preview state already */
    bool recorded;        /* false: the lease was lost, nothing written */
    bool announced;       /* the delivery's event was enqueued */
    fg_reason why;        /* the stamper's reason when not ready */
} orders_preview_outcome;

/* Runs preview job `job` (kind STORE_JOB_PREVIEW, claimed by owner on m).
 * A stamping that failed (timed out, crashed, over a limit, corrupt) is
 * recorded at once as the file's failure with its reason, never retried:
 * a hostile file must not cost several timeouts. A rebuild (the file had
 * a preview already) replaces it when stamping succeeds, and keeps the
 * old one otherwise; either way it is in the audit trail. A job claimed
 * more than env->max_attempts times (its runners died each time: the
 * file may be what kills them) is failed without stamping. The job's
 * directory is removed whatever happens. Returns FG_OK when the outcome
 * was recorded or the lease had been lost (out->recorded false); an error
 * when recording failed (the job then stays running, and is taken again
 * when its lease ends). */
FG_MUST_CHECK fg_result orders_preview_job_run(const orders_preview_env *env, store_meta *m,
                                               const store_job *job, const char *owner,
                                               orders_preview_outcome *out /* out */,
                                               fg_reason *r);

#endif
