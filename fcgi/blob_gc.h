/* The worker's maintenance loop: a thread that, every
 * FILIGRANE_BLOB_GC_INTERVAL, schedules the retention purge as a job
 * (orders/purge_job.h: one purge job due now, unless one is waiting or
 * running; the job runners purge the orders whose retention ran out,
 * orders/retention.h), deletes Idempotency-Key records past their
 * lifetime (storage/idempotency.h), deletes the rows of jobs done more
 * than FILIGRANE_JOB_KEEP ago (storage/jobs.h), then removes unreferenced blobs
 * (storage/blob_refs.h), keeping each for FILIGRANE_BLOB_GRACE after it
 * was last registered or unreferenced.
 * The worker's pass looks only at counted blobs (one indexed query); the
 * sweep of blobs that have no count at all is `filigrane blobs gc`. */
#ifndef FCGI_BLOB_GC_H
#define FCGI_BLOB_GC_H

#include "common/result.h"
#include "orders/retention.h"
#include "storage/blob.h"

/* Defaults: an hour of grace, far longer than an upload takes between
 * registering its blobs and recording its rows; a pass every 10 minutes. */
#define FCGI_BLOB_GRACE_DEFAULT 3600
#define FCGI_BLOB_GC_INTERVAL_DEFAULT 600
/* A week of finished jobs: enough to answer "was this preview stamped,
 * when?" after a weekend; failed jobs are never deleted. */
#define FCGI_JOB_KEEP_DEFAULT (7LL * 86400)

typedef struct fcgi_blob_gc_settings {
    long long grace;    /* seconds, 1 .. 365 days */
    long long interval; /* seconds between passes, 1 .. 7 days; 0: never */
    orders_retention retention; /* for the purge jobs' handler */
    long long idem_ttl; /* seconds an Idempotency-Key is kept (the worker's
                           configuration sets it; default 24 h) */
    long long job_keep; /* seconds a done job's row is kept, 1 .. 365 days */
} fcgi_blob_gc_settings;

/* Reads FILIGRANE_BLOB_GRACE, FILIGRANE_BLOB_GC_INTERVAL and
 * FILIGRANE_JOB_KEEP (durations:
 * seconds, or with s, m, h, d) and the retention settings over the
 * defaults. FG_EUSAGE naming the variable for a bad value. */
FG_MUST_CHECK fg_result fcgi_blob_gc_settings_load(fcgi_blob_gc_settings *s /* out */,
                                                   fg_reason *r);

typedef struct fcgi_blob_gc fcgi_blob_gc;

/* Starts the collector thread with its own metadata handle on db_path (a
 * SQLite file or a postgres:// URL: store_meta_open_db); it
 * runs a first pass at once, then one every s->interval. blobs is shared
 * and must outlive the collector. With interval 0 nothing is started and
 * *out is NULL (FG_OK). FG_EIO if the database or the thread cannot be
 * had. */
FG_MUST_CHECK fg_result fcgi_blob_gc_start(const fcgi_blob_gc_settings *s,
                                           const char *db_path, store_blob *blobs,
                                           fcgi_blob_gc **out /* out */,
                                           fg_reason *r);

/* Stops the thread (a pass under way finishes the blob in hand) and frees
 * it. Accepts NULL. Can't fail. */
void fcgi_blob_gc_stop(fcgi_blob_gc *g);

#endif
