#include "orders/purge_job.h"

#include <string.h>

fg_result orders_purge_job_schedule(store_meta *m, int64_t now_ms, bool *added, int64_t *id,
                                    fg_reason *r)
{
    /* No order: a purge covers them all. store_job_add is a no-op while a
     * job of this kind and subject is pending or running. */
    return store_job_add(m, STORE_JOB_PURGE, ORDERS_PURGE_SUBJECT, NULL, now_ms, added, id, r);
}

fg_result orders_purge_job_run(const orders_retention *s, store_meta *m, const store_job *job,
                               const char *owner, int64_t now, orders_purged_fn fn, void *ctx,
                               orders_purge_outcome *out, fg_reason *r)
{
    fg_result rc;
    memset(out, 0, sizeof *out);
    if (strcmp(job->kind, STORE_JOB_PURGE) != 0)
        return fg_fail(r, FG_EUSAGE, "job %lld is not a purge job", (long long)job->id);
    /* No attempts limit as preview jobs have: a purge decodes nothing that
     * could kill its runner, and running it again only does what is left. */
    out->failed = orders_retention_purge(m, s, now, fn, ctx, &out->stats, &out->why) != FG_OK;
    /* The purges committed order by order: the end of the job is one
     * statement of its own. */
    rc = store_job_finish(m, job->id, owner, out->failed ? STORE_JOB_FAILED : STORE_JOB_DONE,
                          out->failed ? out->why.text : NULL, r);
    out->recorded = rc == FG_OK;
    /* FG_ESTATE: another runner holds the job now (our lease ran out); the
     * outcome is its own, and the purges done here are committed either
     * way. */
    return rc == FG_ESTATE ? FG_OK : rc;
}
