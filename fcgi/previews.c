#include "fcgi/previews.h"

#include <string.h>

#include "fcgi/log.h"
#include "fcgi/metrics.h"

void fcgi_preview_job(void *ctx, store_meta *m, const store_job *job, const char *owner,
                      double wait_seconds)
{
    const orders_preview_env *env = ctx;
    orders_preview_outcome out;
    fg_reason r = {{0}};
    fcgi_histogram_observe(FCGI_H_JOB_WAIT, wait_seconds);
    fg_result rc = orders_preview_job_run(env, m, job, owner, &out, &r);
    if (out.stamped)
        fcgi_histogram_observe(FCGI_H_STAMP, out.stamp_seconds);
    if (rc != FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "job=%lld file=%s error=\"cannot record preview: %s\"",
                 (long long)job->id, job->subject, r.text);
        return;
    }
    if (!out.recorded) {
        fcgi_log(FCGI_LOG_WARN, "job=%lld file=%s lease lost: outcome left to its holder",
                 (long long)job->id, job->subject);
        return;
    }
    bool ready = out.state && strcmp(out.state, STORE_PREVIEW_READY) == 0;
    bool withheld = out.state && strcmp(out.state, STORE_PREVIEW_WITHHELD) == 0;
    fcgi_metric_inc(ready ? FCGI_M_PREVIEWS_READY
                    : withheld ? FCGI_M_PREVIEWS_WITHHELD
                               : FCGI_M_PREVIEWS_FAILED);
    if (ready)
        fcgi_log(FCGI_LOG_INFO, "job=%lld file=%s preview=ready%s attempt=%d wait_s=%.3f "
                 "stamp_s=%.3f",
                 (long long)job->id, job->subject, out.rebuild ? " rebuild=1" : "",
                 job->attempts, wait_seconds, out.stamp_seconds);
    else
        fcgi_log(FCGI_LOG_WARN, "job=%lld file=%s preview=%s%s reason=\"%s\"",
                 (long long)job->id, job->subject, out.state ? out.state : "-",
                 out.rebuild ? " rebuild=1" : "", out.why.text);
}
