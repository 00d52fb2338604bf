#include "fcgi/jobs_handler.h"

#include <string.h>
#include <time.h>

#include "fcgi/log.h"
#include "fcgi/previews.h"
#include "orders/checkpoint_job.h"
#include "orders/purge_job.h"

struct purge_log {
    const store_job *job;
};

static void log_purged(void *ctx, const char *order_id, const char *state, int64_t files)
{
    const struct purge_log *l = ctx;
    fcgi_log(FCGI_LOG_INFO, "job=%lld retention purged order=%s state=%s files=%lld",
             (long long)l->job->id, order_id, state, (long long)files);
}

static void purge_job(const fcgi_jobs_env *env, store_meta *m, const store_job *job,
                      const char *owner, double wait_seconds)
{
    struct purge_log l = {job};
    orders_purge_outcome out;
    fg_reason r = {{0}};
    /* Not in filigrane_job_wait_seconds: that is the previews' queue (what
     * a seller waits for), which a purge due every pass would only dilute. */
    fg_result rc = orders_purge_job_run(env->retention, m, job, owner, (int64_t)time(NULL),
                                        log_purged, &l, &out, &r);
    if (rc != FG_OK)
        fcgi_log(FCGI_LOG_ERROR, "job=%lld purge error=\"cannot end the purge job: %s\" "
                 "orders=%lld files=%lld",
                 (long long)job->id, r.text, (long long)out.stats.orders,
                 (long long)out.stats.files);
    else if (!out.recorded)
        fcgi_log(FCGI_LOG_WARN, "job=%lld purge lease lost: outcome left to its holder "
                 "orders=%lld files=%lld",
                 (long long)job->id, (long long)out.stats.orders, (long long)out.stats.files);
    else if (out.failed)
        fcgi_log(FCGI_LOG_ERROR, "job=%lld purge=failed reason=\"%s\" orders=%lld files=%lld",
                 (long long)job->id, out.why.text, (long long)out.stats.orders,
                 (long long)out.stats.files);
    else
        fcgi_log(FCGI_LOG_INFO, "job=%lld purge=done orders=%lld files=%lld attempt=%d "
                 "wait_s=%.3f",
                 (long long)job->id, (long long)out.stats.orders, (long long)out.stats.files,
                 job->attempts, wait_seconds);
}

static void checkpoint_job(store_meta *m, const store_job *job, const char *owner)
{
    orders_checkpoint_outcome out;
    fg_reason r = {{0}};
    /* Not in filigrane_job_wait_seconds either: the previews' queue. */
    fg_result rc = orders_checkpoint_job_run(m, job, owner, &out, &r);
    if (rc != FG_OK)
        fcgi_log(FCGI_LOG_ERROR, "job=%lld checkpoint error=\"cannot end the checkpoint job: %s\"",
                 (long long)job->id, r.text);
    else if (out.failed)
        fcgi_log(FCGI_LOG_ERROR, "job=%lld checkpoint=failed reason=\"%s\"", (long long)job->id,
                 out.why.text);
    else if (out.stats.checkpoints)
        fcgi_log(FCGI_LOG_INFO, "job=%lld checkpoint=done checkpoints=%lld heads=%lld last=%lld",
                 (long long)job->id, (long long)out.stats.checkpoints,
                 (long long)out.stats.heads, (long long)out.stats.last_seq);
}

void fcgi_job_handle(void *ctx, store_meta *m, const store_job *job, const char *owner,
                     double wait_seconds)
{
    const fcgi_jobs_env *env = ctx;
    if (strcmp(job->kind, STORE_JOB_PURGE) == 0)
        purge_job(env, m, job, owner, wait_seconds);
    else if (strcmp(job->kind, STORE_JOB_CHECKPOINT) == 0)
        checkpoint_job(m, job, owner);
    else
        fcgi_preview_job((void *)env->preview, m, job, owner, wait_seconds);
}

void fcgi_job_error(void *ctx, const char *reason)
{
    (void)ctx;
    fcgi_log(FCGI_LOG_ERROR, "job runner error=\"%s\"", reason);
}
