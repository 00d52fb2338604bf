/* Audit checkpoints as durable jobs (the application layer; no HTTP, no
 * threads). Every FILIGRANE_CHECKPOINT_INTERVAL the worker's checkpoint
 * timer (fcgi/checkpoints.h) makes sure one checkpoint job is waiting when
 * some chain's head moved since the last checkpoint
 * (orders_checkpoint_job_schedule), and a job runner (jobs/runner.h) writes
 * the checkpoint (orders_checkpoint_job_run), so that it is claimed with a
 * lease like any job, by one node of a cluster, and taken again if its
 * runner dies. What a checkpoint is, is storage/audit.h's. */
#ifndef ORDERS_CHECKPOINT_JOB_H
#define ORDERS_CHECKPOINT_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "common/result.h"
#include "storage/audit.h"
#include "storage/jobs.h"
#include "storage/meta.h"

/* The subject of the one checkpoint job: a checkpoint covers every chain,
 * so the jobs table's unique index on active (kind, subject) keeps at
 * most one pending or running. */
#define ORDERS_CHECKPOINT_SUBJECT "audit"

/* FILIGRANE_CHECKPOINT_INTERVAL: default a minute, 1 s .. 1 day. It is the
 * window in which a dropped order (or the end of a chain) is not yet
 * covered by a checkpoint. */
#define ORDERS_CHECKPOINT_INTERVAL_DEFAULT 60
#define ORDERS_CHECKPOINT_INTERVAL_MAX 86400

/* Reads FILIGRANE_CHECKPOINT_INTERVAL (a duration: seconds, or with s, m,
 * h, d) into *seconds, default ORDERS_CHECKPOINT_INTERVAL_DEFAULT.
 * FG_EUSAGE naming the variable outside 1 s .. 1 d. */
FG_MUST_CHECK fg_result orders_checkpoint_interval_load(long long *seconds /* out */,
                                                        fg_reason *r);

/* Adds a checkpoint job due at now_ms (unix ms; 0: now) if a head moved
 * since the last checkpoint and no such job is pending or running;
 * otherwise nothing (*added false). Outside any transaction. added and id
 * (0 when none was added) may be NULL. FG_EIO if the store fails. */
FG_MUST_CHECK fg_result orders_checkpoint_job_schedule(store_meta *m, int64_t now_ms,
                                                       bool *added /* out */,
                                                       int64_t *id /* out */, fg_reason *r);

/* What a checkpoint job did, for the caller's log. */
typedef struct orders_checkpoint_outcome {
    store_audit_checkpoint_stats stats;
    bool failed;   /* the checkpoint failed: why says why */
    bool recorded; /* false: the lease was lost, the job left as it was */
    fg_reason why;
} orders_checkpoint_outcome;

/* Runs checkpoint job `job` (kind STORE_JOB_CHECKPOINT, claimed by owner
 * on m, which must not be in a transaction): writes checkpoints for every
 * moved head (store_audit_checkpoint_write), then ends the job: done, or
 * failed with the reason. Another pass writing at the same moment (two
 * nodes: only after a lease ran out) is not a failure: that pass covers
 * the heads. Returns FG_OK when the end was recorded or the lease had been
 * lost (out->recorded false); FG_EUSAGE for a job of another kind
 * (nothing is done); an error when ending the job failed. */
FG_MUST_CHECK fg_result orders_checkpoint_job_run(store_meta *m, const store_job *job,
                                                  const char *owner,
                                                  orders_checkpoint_outcome *out /* out */,
                                                  fg_reason *r);

#endif
