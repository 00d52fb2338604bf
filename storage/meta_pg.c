/* The PostgreSQL metadata backend. Input reaching these functions has been
 * checked by storage/meta.c; here it is only stored and read back.
 *
 * Concurrency. SQLite's BEGIN IMMEDIATE serialised every writer of the
 * whole database, and the code above relied on it twice: the audit append
 * (read the head, insert after it) and delivery numbering (MAX + 1). Here
 * several nodes write at once, and only writers of the same order may
 * wait for each other:
 * - write transactions are READ COMMITTED (plain BEGIN): each statement
 *   sees what committed before it started; read transactions are
 *   REPEATABLE READ READ ONLY: one snapshot for an order with its
 *   deliveries and files.
 * - order_get inside a write transaction takes FOR UPDATE on the order
 *   row. A delivery checks "open" under that lock and an acceptance moves
 *   the state under it, so they exclude each other: a delivery is either
 *   committed before the acceptance read the order, or sees "accepted".
 * - delivery numbering runs after that lock, in a later statement (a
 *   statement's snapshot is taken when it starts, so MAX(number) in the
 *   statement that waited for the lock would not see the delivery that
 *   held it).
 * - every guarded UPDATE (state from, outbox pending, idempotency token)
 *   re-checks its WHERE on the newest row version after waiting for a
 *   concurrent writer (READ COMMITTED does this), so compare-and-set
 *   stays exact.
 * - there is no global lock on the request path: the only advisory lock
 *   is the migration's, at opening.
 * - jobs are claimed with FOR UPDATE SKIP LOCKED (storage/jobs_pg.c).
 * - blob refs: the collector deletes the row (refs 0, seen_at <= cutoff)
 *   and removes the blob in the same transaction, so a concurrent touch
 *   waits on the row lock and then sees the blob gone and uploads it
 *   again.
 * - an error aborts a PostgreSQL transaction: expected outcomes (a
 *   duplicate, an unknown parent row) are written as statements that do
 *   not fail (ON CONFLICT DO NOTHING, INSERT ... SELECT ... WHERE EXISTS)
 *   and told apart by the rows they return. */
#include "storage/meta_pg_impl.h"

#include <stdlib.h>
#include <string.h>

static store_pg *pg_of(store_meta *m)
{
    return ((store_meta_pg *)m)->pg;
}

static fg_result corrupt(const char *what, fg_reason *r)
{
    return fg_fail(r, FG_ECORRUPT, "%s row holds an impossible value", what);
}

/* ---- handle, transactions ---- */

static void pg_free(store_meta *m)
{
    store_meta_pg *p = (store_meta_pg *)m;
    store_pg_free(p->pg);
    free(p);
}

static fg_result pg_schema_version(store_meta *m, int *version, fg_reason *r)
{
    PGresult *res = NULL;
    int64_t v = 0;
    fg_result rc = store_pg_exec(pg_of(m), "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                                 0, NULL, &res, "read the schema version", r);
    if (rc)
        return rc;
    if (PQntuples(res) != 1 || !store_pg_col_i64(res, 0, 0, &v))
        rc = corrupt("schema_version", r);
    else
        *version = (int)v;
    PQclear(res);
    return rc;
}

static fg_result pg_begin(store_meta *m, bool write, fg_reason *r)
{
    return store_pg_begin(pg_of(m), write, r);
}

static fg_result pg_commit(store_meta *m, fg_reason *r)
{
    return store_pg_commit(pg_of(m), r);
}

static void pg_rollback(store_meta *m)
{
    store_pg_rollback(pg_of(m));
}

static const store_meta_ops pg_ops = {
    .name = "postgresql",
    .free = pg_free,
    .schema_version = pg_schema_version,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .jobs = &store_pg_job_ops,
    .uploads = &store_pg_upload_ops,
};

fg_result store_meta_pg_lock_order(store_meta *m, const char *order_id, fg_reason *r)
{
    PGresult *res = NULL;
    if (m->tx != STORE_TX_WRITE)
        return fg_fail(r, FG_EUSAGE, "an order is locked inside a write transaction");
    const char *p[] = {order_id};
    fg_result rc = store_pg_exec(pg_of(m), "SELECT 1 FROM orders WHERE id = $1 FOR UPDATE", 1,
                                 p, &res, "lock the order", r);
    if (rc)
        return rc;
    if (PQntuples(res) != 1)
        rc = fg_fail(r, FG_ENOTFOUND, "no such order");
    PQclear(res);
    return rc;
}

fg_result store_meta_open_pg(const char *url, store_meta **out, fg_reason *r)
{
    store_meta_pg *p = NULL;
    fg_result rc;
    *out = NULL;
    if (!(p = calloc(1, sizeof *p)))
        return fg_fail(r, FG_EIO, "cannot open the database: out of memory");
    p->base.ops = &pg_ops;
    p->base.tx = STORE_TX_NONE;
    if ((rc = store_pg_connect(url, &p->pg, r)) || (rc = store_pg_migrate(p->pg, r)))
        goto out;
    *out = &p->base;
    p = NULL;
out:
    if (p) {
        store_pg_free(p->pg);
        free(p);
    }
    return rc;
}
