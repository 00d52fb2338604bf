#include "fcgi/checkpoints.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "fcgi/log.h"
#include "jobs/runner.h"
#include "orders/checkpoint_job.h"
#include "storage/meta.h"

struct fcgi_checkpoints {
    long long interval;
    store_meta *meta; /* the thread's own handle */
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    bool stop;
};

static void ask(fcgi_checkpoints *c)
{
    fg_reason r = {{0}};
    bool added = false;
    int64_t job = 0;
    if (orders_checkpoint_job_schedule(c->meta, jobs_now_ms(), &added, &job, &r) != FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "audit error=\"cannot schedule the checkpoint job: %s\"", r.text);
    } else if (added) {
        fcgi_log(FCGI_LOG_DEBUG, "job=%lld audit checkpoint scheduled", (long long)job);
        jobs_wake();
    }
}

static void *run(void *p)
{
    fcgi_checkpoints *c = p;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        pthread_mutex_unlock(&c->mu);
        ask(c);
        pthread_mutex_lock(&c->mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)c->interval;
        while (!c->stop && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

fg_result fcgi_checkpoints_start(long long interval, const char *db_path, fcgi_checkpoints **out,
                                 fg_reason *r)
{
    pthread_condattr_t ca;
    fcgi_checkpoints *c = NULL;
    fg_result rc;
    bool mu = false, cv = false;
    *out = NULL;
    if (interval < 1 || interval > ORDERS_CHECKPOINT_INTERVAL_MAX)
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_CHECKPOINT_INTERVAL must be 1s to 1d");
    if (!(c = calloc(1, sizeof *c)))
        return fg_fail(r, FG_EIO, "cannot start the checkpoint timer: out of memory");
    c->interval = interval;
    if ((rc = store_meta_open_db(db_path, &c->meta, r)))
        goto fail;
    mu = pthread_mutex_init(&c->mu, NULL) == 0;
    if (mu && pthread_condattr_init(&ca) == 0) {
        cv = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&c->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!mu || !cv || pthread_create(&c->tid, NULL, run, c) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot start the checkpoint timer thread");
        goto fail;
    }
    *out = c;
    return FG_OK;
fail:
    if (cv)
        pthread_cond_destroy(&c->cv);
    if (mu)
        pthread_mutex_destroy(&c->mu);
    store_meta_free(c->meta);
    free(c);
    return rc;
}

void fcgi_checkpoints_stop(fcgi_checkpoints *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->tid, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    store_meta_free(c->meta);
    free(c);
}
