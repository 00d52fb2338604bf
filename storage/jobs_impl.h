/* What a metadata backend implements for the job queue and the outbox's
 * claims (private to storage/; storage/jobs.h and storage/meta.h are the
 * interfaces). storage/jobs.c and storage/outbox.c check every argument
 * and own the transaction of a claim; a backend only stores. */
#ifndef STORE_JOBS_IMPL_H
#define STORE_JOBS_IMPL_H

#include "storage/jobs.h"

typedef struct store_job_ops {
    /* INSERT unless an active job of kind and subject exists (*added). */
    fg_result (*add)(store_meta *m, const char *kind, const char *subject,
                     const char *order_id, int64_t run_at, const char *now,
                     bool *added, int64_t *id, fg_reason *r);
    /* Inside the caller's write transaction: one statement that picks the
     * oldest due job and marks it running (*got false if none). */
    fg_result (*claim)(store_meta *m, const char *owner, int64_t now,
                       int64_t lease_until, const char *now_text,
                       store_job *out, bool *got, fg_reason *r);
    /* Guarded end: *updated false unless running and owned by owner. */
    fg_result (*finish)(store_meta *m, int64_t id, const char *owner,
                        const char *state, const char *error,
                        const char *now_text, bool *updated, fg_reason *r);
    /* state NULL: pending, running and failed. */
    fg_result (*list)(store_meta *m, const char *state, size_t limit,
                      store_job_list *out, fg_reason *r);
    fg_result (*count)(store_meta *m, const char *state, int64_t *n,
                       fg_reason *r);
    /* order_id NULL: every order not cancelled. */
    fg_result (*rebuild_previews)(store_meta *m, const char *order_id, int64_t run_at,
                                  const char *now, int64_t *added, fg_reason *r);
    /* Distinct owners of running jobs starting with prefix, sorted. */
    fg_result (*owners)(store_meta *m, const char *prefix, size_t limit,
                        store_job_owners *out, fg_reason *r);
    /* Guarded: only rows still running and owned by owner. */
    fg_result (*release_owner)(store_meta *m, const char *owner,
                               const char *now_text, int64_t *released,
                               fg_reason *r);
    /* Done jobs with updated_at < before (a stored time's text). */
    fg_result (*prune)(store_meta *m, const char *before, int64_t *removed,
                       fg_reason *r);

    /* The outbox's sender claims events as runners claim jobs
     * (storage/meta.h, store_outbox_claim), so its claim lives here too.
     * claim, inside the caller's write transaction: one statement that
     * picks up to limit pending events due at now (next_attempt_at <=
     * now), oldest due first, sets their next_attempt_at to until (the
     * lease end) and returns them sorted by id. release: sets
     * next_attempt_at of pending event id to now where it is still until
     * (*released says whether). */
    fg_result (*outbox_claim)(store_meta *m, int64_t now, int64_t until,
                              size_t limit, store_outbox_list *out,
                              fg_reason *r);
    fg_result (*outbox_release)(store_meta *m, int64_t id, int64_t until,
                                int64_t now, bool *released, fg_reason *r);
} store_job_ops;

/* The SQLite backend's (storage/jobs_sqlite.c). */
extern const store_job_ops store_sqlite_job_ops;

#endif
