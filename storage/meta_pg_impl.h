/* The PostgreSQL metadata backend's handle, private to storage/: shared by
 * the files that implement it.
 *
 * Who writes what (agreed here, the header is the contract):
 *   storage/pg_conn.c    the connection: reconnection, exec, pipeline,
 *                        SQLSTATE mapping, URL redaction
 *   storage/schema_pg.c  the numbered steps (the same steps as
 *                        storage/schema_sqlite.c, in PostgreSQL types)
 *   storage/meta_pg.c    every store_meta_ops entry: handle, transactions,
 *                        orders, deliveries, files, webhooks, outbox
 *                        (insert, update, and a plain outbox_due),
 *                        blob refs, idempotency keys, purges, audit
 *   storage/audit_migrate_pg.c  schema step 9's move of a global audit
 *                        chain into per-order chains
 *   storage/jobs_pg.c    store_pg_job_ops (storage/jobs_impl.h): job
 *                        claims with FOR UPDATE SKIP LOCKED, and the
 *                        outbox's claim across nodes (outbox_claim,
 *                        outbox_release: one sender per try); outbox_due
 *                        in meta_pg.c stays the plain "what is due" read
 *   storage/uploads_pg.c store_pg_upload_ops (storage/uploads_impl.h)
 *
 * Concurrency rules every file here follows (storage/meta_pg.c's head
 * comment says why): write transactions are READ COMMITTED, read ones
 * REPEATABLE READ READ ONLY; a write transaction that reads an order
 * (order_get) locks its row FOR UPDATE, and so does store_meta_pg_lock_order;
 * no global lock on the request path; jobs claimed FOR UPDATE SKIP LOCKED;
 * a statement that may meet an expected conflict is written not to fail
 * (an error aborts the whole PostgreSQL transaction). */
#ifndef STORE_META_PG_IMPL_H
#define STORE_META_PG_IMPL_H

#include "storage/jobs_impl.h"
#include "storage/meta_impl.h"
#include "storage/pg_conn.h"
#include "storage/uploads_impl.h"

typedef struct store_meta_pg {
    store_meta base; /* first: a store_meta * is a store_meta_pg * */
    store_pg *pg;
} store_meta_pg;

/* The connection of a handle opened by store_meta_open_pg. Borrowed. */
static inline store_pg *store_meta_pg_conn(store_meta *m)
{
    return ((store_meta_pg *)m)->pg;
}

/* Opens a PostgreSQL store at url and brings its schema up to date (the
 * steps run in one transaction under a transaction-level advisory lock,
 * so nodes starting together apply each step once; only at opening).
 * Errors as store_pg_connect, and FG_ECORRUPT for a schema newer than
 * this program. *out is the caller's on success (store_meta_free). */
FG_MUST_CHECK fg_result store_meta_open_pg(const char *url, store_meta **out /* out */,
                                           fg_reason *r);

/* Locks order_id's row FOR UPDATE in the open write transaction (the one
 * lock that serialises writers of one order, and only of that order).
 * FG_ENOTFOUND if there is no such order; FG_EUSAGE outside a write
 * transaction. */
FG_MUST_CHECK fg_result store_meta_pg_lock_order(store_meta *m, const char *order_id,
                                                 fg_reason *r);

/* Schema (storage/schema_pg.c), as storage/schema_sqlite.h. */
int store_pg_schema_latest(void);
FG_MUST_CHECK fg_result store_pg_migrate(store_pg *pg, fg_reason *r);
FG_MUST_CHECK fg_result store_pg_migrate_to(store_pg *pg, int target, fg_reason *r);
int store_pg_schema_step_of(const char *fragment);

/* Step 9's C part (storage/audit_migrate_pg.c), as
 * store_sqlite_audit_rechain (storage/schema_sqlite.h): the rows of
 * audit_v1 move into per-order chains, with their heads and a first
 * checkpoint that records the old chain's last hash; an intact old table
 * is dropped, a broken one kept (append-only) and reported by verify.
 * Runs in the migration's transaction. FG_EIO if the database fails. */
FG_MUST_CHECK fg_result store_pg_audit_rechain(store_pg *pg, fg_reason *r);

/* The job and upload ops of this backend (storage/jobs_pg.c,
 * storage/uploads_pg.c). */
extern const store_job_ops store_pg_job_ops;
extern const store_upload_ops store_pg_upload_ops;

#endif
