/* The worker's job handler: the one function the job runners
 * (jobs/runner.h) hand each claimed job to. It dispatches by the job's
 * kind to what that job does (orders/preview_job.h for previews,
 * orders/purge_job.h for retention purges, orders/checkpoint_job.h for
 * audit checkpoints), then logs the outcome and
 * counts it in the metrics. */
#ifndef FCGI_JOBS_HANDLER_H
#define FCGI_JOBS_HANDLER_H

#include "orders/preview_job.h"
#include "orders/retention.h"
#include "storage/jobs.h"

/* What every kind of job needs; shared and read-only, outliving the
 * runners. */
typedef struct fcgi_jobs_env {
    const orders_preview_env *preview;
    const orders_retention *retention; /* parsed at start */
} fcgi_jobs_env;

/* A jobs_handler; ctx is a const fcgi_jobs_env *. Preview (and rebuild)
 * jobs go to fcgi_preview_job (fcgi/previews.h); purge jobs run the
 * retention purge at the current time; checkpoint jobs write the audit
 * checkpoints. Never fails: an error is logged
 * and a job still running is taken again when its lease runs out. */
void fcgi_job_handle(void *ctx, store_meta *m, const store_job *job, const char *owner,
                     double wait_seconds);

/* A jobs_error_fn: logs what the runners could not do (a claim, the
 * release at start). Can't fail. */
void fcgi_job_error(void *ctx, const char *reason);

#endif
