#include "fcgi/blob_gc.h"
#include "fcgi/h_tus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "common/duration.h"
#include "common/limits.h"
#include "fcgi/log.h"
#include "jobs/runner.h"
#include "orders/purge_job.h"
#include "storage/blob_refs.h"
#include "storage/idempotency.h"
#include "storage/jobs.h"
#include "storage/meta.h"

struct fcgi_blob_gc {
    fcgi_blob_gc_settings s;
    store_meta *meta; /* the thread's own handle */
    store_blob *blobs;
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    bool stop;
};

fg_result fcgi_blob_gc_settings_load(fcgi_blob_gc_settings *s, fg_reason *r)
{
    long long grace = FCGI_BLOB_GRACE_DEFAULT, every = FCGI_BLOB_GC_INTERVAL_DEFAULT,
              keep = FCGI_JOB_KEEP_DEFAULT;
    fg_result rc;
    /* A grace of 0 would let a pass remove a blob an upload registered a
     * moment ago and is about to record: at least a second. */
    if ((rc = fg_duration_env("FILIGRANE_BLOB_GRACE", 1, 365LL * 86400, &grace, r)) ||
        (rc = fg_duration_env("FILIGRANE_BLOB_GC_INTERVAL", 0, 7LL * 86400, &every, r)) ||
        (rc = fg_duration_env("FILIGRANE_JOB_KEEP", 1, 365LL * 86400, &keep, r)))
        return rc;
    s->job_keep = keep;
    s->grace = grace;
    s->interval = every;
    s->idem_ttl = FG_IDEM_TTL_SECONDS;
    return orders_retention_load(&s->retention, r);
}

static void log_removed(void *ctx, const char *hex, int64_t size)
{
    (void)ctx;
    fcgi_log(FCGI_LOG_INFO, "blob_gc removed=%s bytes=%lld", hex, (long long)size);
}

/* The purge itself is a job (orders/purge_job.h), run by a job runner:
 * here only one is made due now, and a job still waiting or running from
 * an earlier pass makes this a no-op, so a slow purge never piles up
 * jobs. The blobs a purge unreferences start their grace period then and
 * go in a later pass of the collector. Each step's failure is logged and
 * the next still runs. */
static void maintain(fcgi_blob_gc *g)
{
    fg_reason r = {{0}};
    bool added = false;
    int64_t job = 0, expired = 0, pruned = 0, now = (int64_t)time(NULL);
    if (orders_purge_job_schedule(g->meta, jobs_now_ms(), &added, &job, &r) != FG_OK)
        fcgi_log(FCGI_LOG_ERROR, "retention error=\"cannot schedule the purge job: %s\"", r.text);
    else if (added) {
        fcgi_log(FCGI_LOG_INFO, "job=%lld retention purge scheduled", (long long)job);
        jobs_wake();
    }
    if (store_idem_expire(g->meta, now - g->s.idem_ttl, &expired, &r) != FG_OK)
        fcgi_log(FCGI_LOG_ERROR, "idempotency_keys error=\"%s\"", r.text);
    else if (expired)
        fcgi_log(FCGI_LOG_INFO, "idempotency_keys expired=%lld", (long long)expired);
    if (store_job_prune(g->meta, jobs_now_ms() - g->s.job_keep * 1000, &pruned, &r) != FG_OK)
        fcgi_log(FCGI_LOG_ERROR, "jobs error=\"cannot prune done jobs: %s\"", r.text);
    else if (pruned)
        fcgi_log(FCGI_LOG_INFO, "jobs pruned=%lld", (long long)pruned);
    fcgi_tus_maintain(g->meta, g->blobs, now); /* expired tus uploads (fcgi/h_tus.h) */
}

static void pass(fcgi_blob_gc *g)
{
    fg_reason r = {{0}};
    store_blob_gc_stats st = {0, 0};
    maintain(g);
    store_blob_gc_opts o = {.now = (int64_t)time(NULL), .grace = g->s.grace,
                            .sweep = false, .fn = log_removed};
    if (store_blob_gc(g->meta, g->blobs, &o, &st, &r) != FG_OK)
        fcgi_log(FCGI_LOG_ERROR, "blob_gc error=\"%s\" removed=%lld", r.text,
                 (long long)st.removed);
    else if (st.removed)
        fcgi_log(FCGI_LOG_INFO, "blob_gc pass removed=%lld bytes=%lld", (long long)st.removed,
                 (long long)st.bytes);
}

static void *run(void *p)
{
    fcgi_blob_gc *g = p;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        pthread_mutex_unlock(&g->mu);
        pass(g);
        pthread_mutex_lock(&g->mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)g->s.interval;
        while (!g->stop && pthread_cond_timedwait(&g->cv, &g->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

fg_result fcgi_blob_gc_start(const fcgi_blob_gc_settings *s, const char *db_path,
                             store_blob *blobs, fcgi_blob_gc **out, fg_reason *r)
{
    pthread_condattr_t ca;
    fcgi_blob_gc *g = NULL;
    fg_result rc;
    bool mu = false, cv = false;
    *out = NULL;
    if (s->interval == 0)
        return FG_OK;
    if (!(g = calloc(1, sizeof *g)))
        return fg_fail(r, FG_EIO, "cannot start the blob collector: out of memory");
    g->s = *s;
    g->blobs = blobs;
    if ((rc = store_meta_open_db(db_path, &g->meta, r)))
        goto fail;
    mu = pthread_mutex_init(&g->mu, NULL) == 0;
    if (mu && pthread_condattr_init(&ca) == 0) {
        cv = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&g->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!mu || !cv || pthread_create(&g->tid, NULL, run, g) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot start the blob collector thread");
        goto fail;
    }
    *out = g;
    return FG_OK;
fail:
    if (cv)
        pthread_cond_destroy(&g->cv);
    if (mu)
        pthread_mutex_destroy(&g->mu);
    store_meta_free(g->meta);
    free(g);
    return rc;
}

void fcgi_blob_gc_stop(fcgi_blob_gc *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->tid, NULL);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    store_meta_free(g->meta);
    free(g);
}
