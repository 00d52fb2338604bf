/* Retention purges as durable jobs (the application layer; no HTTP, no
 * threads). The worker's maintenance loop does not purge: on each pass it
 * makes sure one purge job is waiting (orders_purge_job_schedule), and a
 * job runner (jobs/runner.h) runs it (orders_purge_job_run), so that a
 * purge is claimed with a lease like any job, listed by `filigrane jobs`,
 * and taken again by another runner or node if the one running it dies.
 * What is purged, and that an open or disputed order never is, is
 * orders/retention.h's: this file only runs it as a job. */
#ifndef ORDERS_PURGE_JOB_H
#define ORDERS_PURGE_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "common/result.h"
#include "orders/retention.h"
#include "storage/jobs.h"
#include "storage/meta.h"

/* The subject of the one retention purge job: a purge covers every due
 * order, so there is one subject, and the jobs table's unique index on
 * active (kind, subject) keeps at most one such job pending or running. */
#define ORDERS_PURGE_SUBJECT "retention"

/* Makes sure a retention purge job is pending or running: adds one due at
 * now_ms (unix ms; 0: now) unless one is pending or running already, in
 * which case nothing is added (*added false) and that job will do the
 * work. However often it is called, at most one purge job is active.
 * Joins the caller's write transaction if one is open, else commits on
 * its own. added and id (the new job's, 0 when none was added) may be
 * NULL. FG_EIO if the store fails. */
FG_MUST_CHECK fg_result orders_purge_job_schedule(store_meta *m, int64_t now_ms,
                                                  bool *added /* out */,
                                                  int64_t *id /* out */, fg_reason *r);

/* What a purge job did, for the caller's log. */
typedef struct orders_purge_outcome {
    orders_purge_stats stats; /* what was purged, also when the purge failed */
    bool failed;              /* the purge stopped on an error: why says which */
    bool recorded;            /* false: the lease was lost, the job left as it was */
    fg_reason why;
} orders_purge_outcome;

/* Runs purge job `job` (kind STORE_JOB_PURGE, claimed by owner on m, which
 * must not be in a transaction): purges every order due at now (unix
 * seconds) under the retention settings s, calling fn(ctx, ...) (may be
 * NULL) after each order purged, then ends the job: done, or failed with
 * the purge's reason. Each order is purged in its own transaction, so what
 * was purged before an error stays purged and the next scheduled job
 * carries on from there; the same holds when the runner dies mid-purge
 * and another takes the job again once its lease ran out. Returns FG_OK
 * when the end was recorded or the lease had been lost (out->recorded
 * false); FG_EUSAGE for a job of another kind (nothing is done); an error
 * when ending the job failed (it stays running and is taken again when
 * its lease ends). */
FG_MUST_CHECK fg_result orders_purge_job_run(const orders_retention *s, store_meta *m,
                                             const store_job *job, const char *owner,
                                             int64_t now, orders_purged_fn fn, void *ctx,
                                             orders_purge_outcome *out /* out */,
                                             fg_reason *r);

#endif
