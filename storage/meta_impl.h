/* What a metadata backend implements (private to storage/).
 *
 * storage/meta.c checks every argument, resolves defaults (times, ids) and
 * keeps the transaction state; a backend receives only valid, complete
 * input and does the storing. Logic that must be the same for every
 * backend (idempotent order creation, the guarded state change, the audit
 * chain) is written once in meta.c and audit.c on top of these ops. */
#ifndef STORE_META_IMPL_H
#define STORE_META_IMPL_H

#include "storage/audit.h"
#include "storage/meta.h"

enum store_tx { STORE_TX_NONE, STORE_TX_READ, STORE_TX_WRITE };

/* Called once per audit entry in seq order; a result other than FG_OK
 * stops the walk and is returned by audit_each. */
typedef fg_result (*store_audit_fn)(void *ctx, const store_audit_entry *e,
                                    fg_reason *r);

typedef struct store_meta_ops {
    const char *name; /* "sqlite" */
    void (*free)(store_meta *m);
    fg_result (*schema_version)(store_meta *m, int *version, fg_reason *r);

    fg_result (*begin)(store_meta *m, bool write, fg_reason *r);
    fg_result (*commit)(store_meta *m, fg_reason *r);
    void (*rollback)(store_meta *m);

    /* Inserts o unless its id exists (then *inserted is false and nothing
     * changes). */
    fg_result (*order_insert)(store_meta *m, const store_order *o,
                              bool *inserted, fg_reason *r);
    fg_result (*order_get)(store_meta *m, const char *id, store_order *out,
                           fg_reason *r);
    /* Compare-and-set: sets state to `to` (and released_at when not NULL)
     * only where the state is still `from`; *updated says whether it was. */
    fg_result (*order_cas_state)(store_meta *m, const char *id,
                                 const char *from, const char *to,
                                 const char *released_at, bool *updated,
                                 fg_reason *r);

    fg_result (*delivery_insert)(store_meta *m, const char *order_id,
                                 const char *message, const char *created_at,
                                 int *number, fg_reason *r);
    fg_result (*delivery_get)(store_meta *m, const char *order_id, int number,
                              store_delivery *out, fg_reason *r);
    fg_result (*delivery_list)(store_meta *m, const char *order_id,
                               store_delivery_list *out, fg_reason *r);

    fg_result (*file_insert)(store_meta *m, const store_file *f, fg_reason *r);
    fg_result (*file_set_preview)(store_meta *m, const char *id,
                                  const char *preview, const char *reason,
                                  const char *preview_sha256,
                                  const char *preview_mime, fg_reason *r);
    fg_result (*file_get)(store_meta *m, const char *id, store_file *out,
                          fg_reason *r);
    /* delivery 0: every delivery of the order. */
    fg_result (*file_list)(store_meta *m, const char *order_id, int delivery,
                           store_file_list *out, fg_reason *r);
    fg_result (*file_count)(store_meta *m, const char *id, store_counter which,
                            int64_t *after, fg_reason *r);

    fg_result (*webhook_insert)(store_meta *m, const char *id, const char *at,
                                bool *seen, fg_reason *r);

    /* Inserts a pending event due at now (unix seconds). */
    fg_result (*outbox_insert)(store_meta *m, const char *type,
                               const char *order_id, const char *payload,
                               const char *created_at, int64_t now,
                               int64_t *id, fg_reason *r);
    fg_result (*outbox_due)(store_meta *m, int64_t now, size_t limit,
                            store_outbox_list *out, fg_reason *r);
    /* Updates pending event id only: state, next_attempt_at (ignored
     * unless pending), last_error and sent_at (NULL keeps them),
     * attempts + 1.
     * *updated says whether a pending row was there. */
    fg_result (*outbox_update)(store_meta *m, int64_t id, const char *state,
                               int64_t next_attempt_at, const char *error,
                               const char *sent_at, bool *updated,
                               fg_reason *r);

    /* Blob references (storage/blob_refs.h). touch: a row for hex with
     * refs 0 if none, and seen_at raised to now. get: *known false when
     * there is no row. unused: up to limit hexes with refs 0 and seen_at
     * <= cutoff, oldest first, into hexes (limit entries). drop: deletes
     * the row of hex only if refs is 0 and seen_at <= cutoff; *dropped
     * says whether it did. */
    fg_result (*blob_ref_touch)(store_meta *m, const char *hex, int64_t now,
                                fg_reason *r);
    fg_result (*blob_ref_get)(store_meta *m, const char *hex, int64_t *refs,
                              int64_t *seen_at, bool *known, fg_reason *r);
    fg_result (*blob_ref_unused)(store_meta *m, int64_t cutoff, size_t limit,
                                 char (*hexes)[STORE_HEX_MAX], size_t *n,
                                 fg_reason *r);
    fg_result (*blob_ref_drop)(store_meta *m, const char *hex, int64_t cutoff,
                               bool *dropped, fg_reason *r);

    /* Idempotency keys (storage/idempotency.h). get: *found false when
     * there is no row; *claimed_at, token, fingerprint ("" in flight) and
     * *delivery (0 in flight) otherwise. put: inserts or replaces the row
     * as a fresh claim. complete: sets fingerprint and delivery where the
     * row is still in flight under token; *updated says whether it was.
     * release: deletes the row where it is in flight under token. expire:
     * deletes rows claimed at or before `before`, *n how many. */
    fg_result (*idem_get)(store_meta *m, const char *seller_id,
                          const char *order_id, const char *key,
                          int64_t *claimed_at, char *token,
                          char *fingerprint, int *delivery, bool *found,
                          fg_reason *r);
    fg_result (*idem_put)(store_meta *m, const char *seller_id,
                          const char *order_id, const char *key,
                          const char *token, int64_t claimed_at, fg_reason *r);
    fg_result (*idem_complete)(store_meta *m, const char *seller_id,
                               const char *order_id, const char *key,
                               const char *token, const char *fingerprint,
                               int delivery, bool *updated, fg_reason *r);
    fg_result (*idem_release)(store_meta *m, const char *seller_id,
                              const char *order_id, const char *key,
                              const char *token, fg_reason *r);
    fg_result (*idem_expire)(store_meta *m, int64_t before, int64_t *n,
                             fg_reason *r);

    /* Retention (storage/purge.h). due: orders in `state` (cancelled or
     * accepted) closed at or before cutoff with unpurged files. files:
     * sets purged_at where it is still ''. */
    fg_result (*purge_due)(store_meta *m, const char *state, const char *cutoff,
                           size_t limit, char (*ids)[FG_MAX_ID + 1], size_t *n,
                           fg_reason *r);
    fg_result (*purge_files)(store_meta *m, const char *order_id, const char *at,
                             int64_t *n, fg_reason *r);

    /* The last entry's seq and hash (0 and the genesis hash if none). */
    fg_result (*audit_head)(store_meta *m, int64_t *seq,
                            char hash[STORE_HEX_MAX], fg_reason *r);
    fg_result (*audit_insert)(store_meta *m, const store_audit_entry *e,
                              fg_reason *r);
    /* order_id NULL: every entry. */
    fg_result (*audit_list)(store_meta *m, const char *order_id, int64_t after,
                            size_t limit, store_audit_list *out, fg_reason *r);
    fg_result (*audit_each)(store_meta *m, store_audit_fn fn, void *ctx,
                            fg_reason *r);

    /* The job queue (storage/jobs_impl.h). */
    const struct store_job_ops *jobs;
    /* tus uploads (storage/uploads_impl.h). */
    const struct store_upload_ops *uploads;
} store_meta_ops;

/* The part of every handle that meta.c owns; backends embed it first. */
struct store_meta {
    const store_meta_ops *ops;
    enum store_tx tx;
};

/* Ends a transaction a call opened for itself (own): commits when rc is
 * FG_OK (returning the commit's result), rolls back otherwise. When the
 * call ran inside its caller's transaction (own false) it leaves it
 * alone and returns rc. */
static inline fg_result store_tx_finish(store_meta *m, bool own, fg_result rc,
                                        fg_reason *r)
{
    if (!own)
        return rc;
    if (rc == FG_OK)
        return store_meta_commit(m, r);
    store_meta_rollback(m);
    return rc;
}

/* Checks shared by meta.c and audit.c (storage/meta_check.c). Each
 * returns FG_OK or fails with FG_EUSAGE / FG_ELIMIT naming `what`. */
fg_result store_check_id(const char *s, const char *what, fg_reason *r);
fg_result store_check_text(const char *s, size_t max, bool allow_empty,
                           const char *what, fg_reason *r);
/* Copies a valid time (or now, for NULL/"") into out, normalised to
 * milliseconds. */
fg_result store_check_time(const char *s, char out[STORE_TIME_MAX],
                           const char *what, fg_reason *r);

#endif
