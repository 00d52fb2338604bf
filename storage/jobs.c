/* The job queue's interface: checks and the claim's transaction, then the
 * backend's ops (storage/jobs_impl.h). */
#include "storage/jobs_impl.h"
#include "storage/meta_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static bool is_kind(const char *s)
{
    return s && (strcmp(s, STORE_JOB_PREVIEW) == 0 || strcmp(s, STORE_JOB_PURGE) == 0 ||
                 strcmp(s, STORE_JOB_REBUILD) == 0 || strcmp(s, STORE_JOB_CHECKPOINT) == 0);
}

static bool is_state(const char *s)
{
    return s && (strcmp(s, STORE_JOB_PENDING) == 0 || strcmp(s, STORE_JOB_RUNNING) == 0 ||
                 strcmp(s, STORE_JOB_DONE) == 0 || strcmp(s, STORE_JOB_FAILED) == 0);
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

fg_result store_job_add(store_meta *m, const char *kind, const char *subject,
                        const char *order_id, int64_t run_at, bool *added, int64_t *id_out,
                        fg_reason *r)
{
    char now[STORE_TIME_MAX];
    bool a = false;
    int64_t id = 0;
    fg_result rc;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (!is_kind(kind))
        return fg_fail(r, FG_EUSAGE, "unknown job kind");
    if ((rc = store_check_id(subject, "job subject", r)) ||
        (order_id && *order_id && (rc = store_check_id(order_id, "order id", r))))
        return rc;
    if (run_at < 0)
        return fg_fail(r, FG_EUSAGE, "a job cannot be due before 1970");
    store_time_now(now);
    if ((rc = m->ops->jobs->add(m, kind, subject, order_id && *order_id ? order_id : NULL,
                                run_at ? run_at : now_ms(), now, &a, &id, r)))
        return rc;
    if (added)
        *added = a;
    if (id_out)
        *id_out = a ? id : 0;
    return FG_OK;
}

fg_result store_job_claim(store_meta *m, const char *owner, int64_t now, int64_t lease_ms,
                          store_job *out, bool *got, fg_reason *r)
{
    char now_text[STORE_TIME_MAX];
    fg_result rc;
    *got = false;
    if (m->tx != STORE_TX_NONE)
        return fg_fail(r, FG_EUSAGE, "a claim takes its own transaction");
    if (!owner || !*owner || strlen(owner) >= STORE_JOB_OWNER_MAX)
        return fg_fail(r, FG_EUSAGE, "a claim needs an owner of 1 to %d bytes",
                       STORE_JOB_OWNER_MAX - 1);
    if (lease_ms <= 0 || now < 0)
        return fg_fail(r, FG_EUSAGE, "a claim needs a positive lease");
    store_time_now(now_text);
    /* BEGIN IMMEDIATE: the write lock before the pick (see the backend). */
    if ((rc = store_meta_begin(m, r)))
        return rc;
    rc = m->ops->jobs->claim(m, owner, now, now + lease_ms, now_text, out, got, r);
    if (rc == FG_OK)
        return store_meta_commit(m, r);
    store_meta_rollback(m);
    *got = false;
    return rc;
}

fg_result store_job_finish(store_meta *m, int64_t id, const char *owner, const char *state,
                           const char *error, fg_reason *r)
{
    char now_text[STORE_TIME_MAX], err[FG_REASON_MAX];
    bool updated = false;
    fg_result rc;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (!state || (strcmp(state, STORE_JOB_DONE) != 0 && strcmp(state, STORE_JOB_FAILED) != 0))
        return fg_fail(r, FG_EUSAGE, "a job ends done or failed");
    if (!owner || !*owner)
        return fg_fail(r, FG_EUSAGE, "a job's end needs its owner");
    /* Cut at a character boundary is the caller's business: the reason
     * comes from fg_fail, which keeps it short. */
    snprintf(err, sizeof err, "%s", error ? error : "");
    store_time_now(now_text);
    if ((rc = m->ops->jobs->finish(m, id, owner, state, err, now_text, &updated, r)))
        return rc;
    if (!updated)
        return fg_fail(r, FG_ESTATE, "job %lld is no longer held by this runner",
                       (long long)id);
    return FG_OK;
}

fg_result store_job_list_get(store_meta *m, const char *state, size_t limit, store_job_list *out,
                         fg_reason *r)
{
    out->items = NULL;
    out->n = 0;
    if (state && !is_state(state))
        return fg_fail(r, FG_EUSAGE, "unknown job state (pending, running, done, failed)");
    if (limit == 0 || limit > FG_MAX_LIST_ROWS)
        limit = FG_MAX_LIST_ROWS;
    fg_result rc = m->ops->jobs->list(m, state, limit, out, r);
    if (rc)
        store_job_list_release(out);
    return rc;
}

fg_result store_job_count(store_meta *m, const char *state, int64_t *n, fg_reason *r)
{
    *n = 0;
    if (!is_state(state))
        return fg_fail(r, FG_EUSAGE, "unknown job state (pending, running, done, failed)");
    return m->ops->jobs->count(m, state, n, r);
}

fg_result store_job_rebuild_previews(store_meta *m, const char *order_id, int64_t *added,
                                     fg_reason *r)
{
    char now[STORE_TIME_MAX];
    int64_t n = 0;
    fg_result rc;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (order_id && (rc = store_check_id(order_id, "order id", r)))
        return rc;
    store_time_now(now);
    if ((rc = m->ops->jobs->rebuild_previews(m, order_id, now_ms(), now, &n, r)))
        return rc;
    if (added)
        *added = n;
    return FG_OK;
}

fg_result store_job_owners_get(store_meta *m, const char *prefix, store_job_owners *out,
                               fg_reason *r)
{
    out->items = NULL;
    out->n = 0;
    if (!prefix || !*prefix || strlen(prefix) >= STORE_JOB_OWNER_MAX)
        return fg_fail(r, FG_EUSAGE, "an owner prefix has 1 to %d bytes",
                       STORE_JOB_OWNER_MAX - 1);
    fg_result rc = m->ops->jobs->owners(m, prefix, FG_MAX_LIST_ROWS, out, r);
    if (rc)
        store_job_owners_release(out);
    return rc;
}

fg_result store_job_release_owner(store_meta *m, const char *owner, int64_t *released,
                                  fg_reason *r)
{
    char now_text[STORE_TIME_MAX];
    int64_t n = 0;
    fg_result rc;
    if (released)
        *released = 0;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (!owner || !*owner || strlen(owner) >= STORE_JOB_OWNER_MAX)
        return fg_fail(r, FG_EUSAGE, "a lease owner has 1 to %d bytes",
                       STORE_JOB_OWNER_MAX - 1);
    store_time_now(now_text);
    if ((rc = m->ops->jobs->release_owner(m, owner, now_text, &n, r)))
        return rc;
    if (released)
        *released = n;
    return FG_OK;
}

/* updated_at is text in store_time_now's one form (milliseconds, Z), so
 * the limit is written in that form and compared as a string. */
fg_result store_job_prune(store_meta *m, int64_t older_than, int64_t *removed, fg_reason *r)
{
    char before[STORE_TIME_MAX], sec[32];
    struct tm tm;
    int64_t n = 0;
    fg_result rc;
    if (removed)
        *removed = 0;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (older_than < 0)
        return fg_fail(r, FG_EUSAGE, "a prune limit cannot be before 1970");
    time_t t = (time_t)(older_than / 1000);
    if (!gmtime_r(&t, &tm) || strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
        return fg_fail(r, FG_EUSAGE, "a prune limit past year 9999");
    snprintf(before, sizeof before, "%.19s.%03uZ", sec, (unsigned)(older_than % 1000));
    if ((rc = m->ops->jobs->prune(m, before, &n, r)))
        return rc;
    if (removed)
        *removed = n;
    return FG_OK;
}

void store_job_owners_release(store_job_owners *l)
{
    if (!l)
        return;
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void store_job_list_release(store_job_list *l)
{
    if (!l)
        return;
    free(l->items);
    l->items = NULL;
    l->n = 0;
}
