#include "orders/checkpoint_job.h"

#include <string.h>

#include "common/duration.h"

fg_result orders_checkpoint_interval_load(long long *seconds, fg_reason *r)
{
    *seconds = ORDERS_CHECKPOINT_INTERVAL_DEFAULT;
    return fg_duration_env("FILIGRANE_CHECKPOINT_INTERVAL", 1, ORDERS_CHECKPOINT_INTERVAL_MAX,
                           seconds, r);
}

fg_result orders_checkpoint_job_schedule(store_meta *m, int64_t now_ms, bool *added, int64_t *id,
                                         fg_reason *r)
{
    bool moved = false;
    if (added)
        *added = false;
    if (id)
        *id = 0;
    /* A quiet service writes no job rows: one a minute for nothing would
     * fill the jobs table and the job listing. */
    fg_result rc = store_audit_heads_moved(m, &moved, r);
    if (rc || !moved)
        return rc;
    return store_job_add(m, STORE_JOB_CHECKPOINT, ORDERS_CHECKPOINT_SUBJECT, NULL, now_ms, added,
                         id, r);
}

fg_result orders_checkpoint_job_run(store_meta *m, const store_job *job, const char *owner,
                                    orders_checkpoint_outcome *out, fg_reason *r)
{
    memset(out, 0, sizeof *out);
    if (strcmp(job->kind, STORE_JOB_CHECKPOINT) != 0)
        return fg_fail(r, FG_EUSAGE, "job %lld is not a checkpoint job", (long long)job->id);
    fg_result rc = store_audit_checkpoint_write(m, NULL, &out->stats, &out->why);
    /* FG_ESTATE: another pass wrote that checkpoint; it covers the heads. */
    out->failed = rc != FG_OK && rc != FG_ESTATE;
    /* The checkpoints committed on their own: the end of the job is one
     * statement of its own. */
    rc = store_job_finish(m, job->id, owner, out->failed ? STORE_JOB_FAILED : STORE_JOB_DONE,
                          out->failed ? out->why.text : NULL, r);
    out->recorded = rc == FG_OK;
    return rc == FG_ESTATE ? FG_OK : rc;
}
