/* The worker's preview job handler: runs a claimed preview job
 * (orders/preview_job.h) for a job runner (jobs/runner.h), then logs its
 * outcome and counts it in the metrics. */
#ifndef FCGI_PREVIEWS_H
#define FCGI_PREVIEWS_H

#include "orders/preview_job.h"
#include "storage/jobs.h"

/* A jobs_handler; ctx is a const orders_preview_env *. Never fails: an
 * error is logged and the job, still running, is taken again when its
 * lease runs out. */
void fcgi_preview_job(void *ctx, store_meta *m, const store_job *job, const char *owner,
                      double wait_seconds);

#endif
