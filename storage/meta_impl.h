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
#include "storage/trace.h"

enum store_tx { STORE_TX_NONE, STORE_TX_READ, STORE_TX_WRITE };

/* Called once per audit entry by audit_each; a result other than FG_OK
 * stops the walk and is returned by audit_each. fn never calls an op on
 * the handle (a backend may be streaming the rows on its connection). */
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
    /* FG_ENOTFOUND when there is no such order. */
    fg_result (*order_set_preview_pages)(store_meta *m, const char *id, int pages,
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
    fg_result (*file_set_poster)(store_meta *m, const char *id, const char *poster_sha256,
                                 const char *poster_mime, fg_reason *r);
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
    /* created_at of the first pending event by id; "" when none. */
    fg_result (*outbox_oldest)(store_meta *m, char created_at[STORE_TIME_MAX],
                               fg_reason *r);
    /* Updates pending event id only: state, next_attempt_at (ignored
     * unless pending), last_error and sent_at (NULL keeps them),
     * attempts + 1.
     * *updated says whether a pending row was there. */
    fg_result (*outbox_update)(store_meta *m, int64_t id, const char *state,
                               int64_t next_attempt_at, const char *error,
                               const char *sent_at, bool *updated,
                               fg_reason *r);
    /* Up to limit events in `state` with id > after, by id. */
    fg_result (*outbox_list_state)(store_meta *m, const char *state, int64_t after,
                                   size_t limit, store_outbox_list *out,
                                   fg_reason *r);
    /* Dead event id back to pending, due at now, attempts 0 (last_error
     * kept): UPDATE ... WHERE id = ? AND state = 'dead'; *updated says
     * whether it was. */
    fg_result (*outbox_replay)(store_meta *m, int64_t id, int64_t now,
                               bool *updated, fg_reason *r);

    /* Blob references (storage/blob_refs.h). touch: a row for hex with
     * refs 0 if none, and seen_at raised to now. get: *known false when
     * there is no row. unused: up to limit hexes with refs 0 and seen_at
     * <= cutoff, oldest first, into hexes (limit entries). drop: deletes
     * the row of hex only if refs is 0 and seen_at <= cutoff; *dropped
     * says whether it did. */
    /* Traceable marks (storage/trace.h). put: inserts the row of payload
     * (16 hex digits) unless one exists (then changes nothing). get:
     * *found false when there is none. */
    fg_result (*trace_put)(store_meta *m, const char *payload, const char *order_id,
                           const char *buyer_id, const char *file_id, const char *created_at,
                           fg_reason *r);
    fg_result (*trace_get)(store_meta *m, const char *payload, struct store_trace_mark *out,
                           bool *found, fg_reason *r);

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
     * accepted) closed at or before cutoff with unpurged files (a
     * cancelled order closed at the latest 'order.cancelled' entry of
     * its audit chain: audit.chain = orders.id, the UNIQUE index's
     * prefix). files:
     * sets purged_at where it is still ''. */
    fg_result (*purge_due)(store_meta *m, const char *state, const char *cutoff,
                           size_t limit, char (*ids)[FG_MAX_ID + 1], size_t *n,
                           fg_reason *r);
    fg_result (*purge_files)(store_meta *m, const char *order_id, const char *at,
                             int64_t *n, fg_reason *r);

    /* ---- The audit trail (storage/audit.h): one chain per order. ----
     *
     * Tables (SQLite step 9, storage/schema_sqlite.c; PostgreSQL the same
     * with BIGINT/BIGSERIAL):
     *   audit(seq INTEGER PRIMARY KEY (SQLite rowid; PG BIGSERIAL, the
     *         storage order, never hashed), order_id TEXT (NULL for the
     *         service chain, kept for queries by order), chain TEXT NOT
     *         NULL ('' service chain), chain_seq INTEGER NOT NULL >= 1,
     *         at, actor, action, detail, prev_hash, hash TEXT NOT NULL,
     *         UNIQUE(chain, chain_seq)); no UPDATE, no DELETE.
     *   audit_heads(chain TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash
     *         TEXT NOT NULL, at TEXT NOT NULL, checkpointed INTEGER NOT
     *         NULL DEFAULT 0).
     *   audit_checkpoints(seq INTEGER PRIMARY KEY >= 1, at, heads,
     *         legacy, prev_hash, hash TEXT NOT NULL); no UPDATE, no
     *         DELETE.
     * chain is the entry's order_id ("" for none). Each op's SQL below is
     * the SQLite text (storage/meta_sqlite.c); "PG:" says what PostgreSQL
     * must do differently. Under PG no audit op takes a lock wider than
     * one audit_heads row: appends to two orders never wait on each
     * other. */

    /* Locks chain's head for an append and reads it: the last entry's
     * chain_seq and hash, or 0 and STORE_AUDIT_GENESIS when the chain has
     * none. Called only inside a write transaction; the lock is held to
     * its end, so a second appender to the same chain waits here and then
     * reads the head the first one moved.
     *   INSERT INTO audit_heads(chain, seq, hash, at, checkpointed)
     *     VALUES (?chain, 0, <genesis>, '', 0)        -- SQLite: INSERT OR IGNORE
     *   SELECT seq, hash FROM audit_heads WHERE chain = ?chain
     * SQLite: BEGIN IMMEDIATE already holds the database's write lock.
     * PG: INSERT ... ON CONFLICT (chain) DO NOTHING (waits for a
     * concurrent first insert of the same chain to commit), then SELECT
     * ... FOR UPDATE: this row lock is what serialises the chain. The
     * placeholder row (seq 0) only commits with the entry that follows it
     * (audit_insert sets its seq), so a committed head has seq >= 1. */
    fg_result (*audit_head)(store_meta *m, const char *chain, int64_t *seq,
                            char hash[STORE_HEX_MAX], fg_reason *r);
    /* Appends e (chain = e->order_id, chain_seq = e->chain_seq, the rest
     * as given; e->seq is ignored: the backend assigns the storage order)
     * and moves the head, after audit_head locked it in this transaction:
     *   INSERT INTO audit(order_id, chain, chain_seq, at, actor, action,
     *     detail, prev_hash, hash) VALUES (NULLIF(?chain,''), ?chain, ...)
     *   UPDATE audit_heads SET seq = ?chain_seq, hash = ?hash, at = ?at
     *     WHERE chain = ?chain AND seq = ?chain_seq - 1
     * The UPDATE must change exactly one row; otherwise the head moved
     * under us (no lock was taken): FG_ESTATE "the audit chain of order
     * X moved", and the caller's transaction rolls back. A UNIQUE
     * (chain, chain_seq) violation is FG_ESTATE too. PG: no extra lock
     * (the head row is already ours). */
    fg_result (*audit_insert)(store_meta *m, const store_audit_entry *e,
                              fg_reason *r);
    /* The entry at (chain, chain_seq) into *out (its detail a heap copy
     * the caller frees), *found false when there is none:
     *   SELECT ... FROM audit WHERE chain = ?1 AND chain_seq = ?2
     * No lock (PG: a plain read). */
    fg_result (*audit_get)(store_meta *m, const char *chain, int64_t chain_seq,
                           store_audit_entry *out, bool *found, fg_reason *r);
    /* chain not NULL: that chain's entries with chain_seq > after, by
     * chain_seq (WHERE chain = ?1 AND chain_seq > ?2 ORDER BY chain_seq
     * LIMIT ?3). chain NULL: every entry with seq > after, by seq. At most
     * limit rows. No lock. */
    fg_result (*audit_list)(store_meta *m, const char *chain, int64_t after,
                            size_t limit, store_audit_list *out, fg_reason *r);
    /* Every entry, ORDER BY chain, chain_seq (the UNIQUE index's order;
     * chain compared bytewise: SQLite's default BINARY collation, PG
     * COLLATE "C"), one at a time to fn. Called inside a read
     * transaction (one snapshot). A row that cannot be read into an entry
     * (a field too long: the file was altered) reaches fn with hash "-"
     * and its chain and chain_seq, so it reads as a broken entry. */
    fg_result (*audit_each)(store_meta *m, store_audit_fn fn, void *ctx,
                            fg_reason *r);
    /* Up to limit heads with chain > after_chain (bytewise; "" before the
     * first call is not a chain: pass NULL to start), seq >= 1, and with
     * changed_only also seq > checkpointed, ORDER BY chain:
     *   SELECT chain, seq, hash, at, checkpointed FROM audit_heads
     *     WHERE (?1 IS NULL OR chain > ?1) AND seq >= 1
     *       [AND seq > checkpointed] ORDER BY chain LIMIT ?2
     * into out (limit entries), *n how many. No lock: a head moved after
     * this read is still "changed" for the next checkpoint. */
    fg_result (*audit_heads_page)(store_meta *m, bool changed_only,
                                  const char *after_chain, size_t limit,
                                  store_audit_head *out, size_t *n,
                                  fg_reason *r);
    /* The last checkpoint's seq and hash (0 and STORE_AUDIT_GENESIS if
     * none):
     *   SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1
     * In a write transaction (the checkpoint's), PG adds FOR UPDATE, so
     * two checkpointers queue; with no row yet nothing is locked and the
     * loser's INSERT fails on the primary key (FG_ESTATE, from 23505).
     * In a read transaction (verify: m->tx == STORE_TX_READ) it is a
     * plain read (FOR UPDATE is refused in a READ ONLY transaction). Not
     * on any request's path. */
    fg_result (*audit_checkpoint_last)(store_meta *m, int64_t *seq,
                                       char hash[STORE_HEX_MAX], fg_reason *r);
    /* Inserts c (all fields given, hash computed) and marks the n heads
     * it names, in the caller's write transaction:
     *   INSERT INTO audit_checkpoints(seq, at, heads, legacy, prev_hash,
     *     hash) VALUES (...)   -- primary key taken: FG_ESTATE
     *   for each head h, in the order given (by chain):
     *   UPDATE audit_heads SET checkpointed = ?h.seq
     *     WHERE chain = ?h.chain AND checkpointed < ?h.seq
     * PG: each UPDATE takes that head's row lock, so it waits for an
     * append to that chain in flight (a short request transaction) and
     * then re-checks its WHERE (READ COMMITTED); the heads are taken in
     * chain order, one at a time, so it cannot deadlock with appenders
     * (who lock one chain, or several in chain order). */
    fg_result (*audit_checkpoint_insert)(store_meta *m,
                                         const store_audit_checkpoint *c,
                                         const store_audit_head *heads,
                                         size_t n, fg_reason *r);
    /* Checkpoint seq into *out (heads a heap copy: the caller calls
     * store_audit_checkpoint_release), *found false when there is none.
     * No lock. */
    fg_result (*audit_checkpoint_get)(store_meta *m, int64_t seq,
                                      store_audit_checkpoint *out, bool *found,
                                      fg_reason *r);

    /* The job queue (storage/jobs_impl.h). */
    const struct store_job_ops *jobs;
    /* tus uploads (storage/uploads_impl.h). */
    const struct store_upload_ops *uploads;
    /* Scoped links and download limits (storage/links_impl.h). */
    const struct store_link_ops *links;
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

/* The heads text of a checkpoint (storage/audit.h) for h[0..n-1], which
 * are sorted by chain: a heap string the caller frees into *out. FG_EIO
 * when out of memory. Shared by audit.c and the SQLite migration. */
fg_result store_audit_heads_text(const store_audit_head *h, size_t n, char **out,
                                 fg_reason *r);

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
