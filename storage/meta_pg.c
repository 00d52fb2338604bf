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
#include "storage/links_impl.h"
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

/* Runs sql on m's connection (storage/pg_conn.h). */
static fg_result q(store_meta *m, const char *sql, int n, const char *const *v,
                   PGresult **res, const char *what, fg_reason *r)
{
    return store_pg_exec(pg_of(m), sql, n, v, res, what, r);
}

/* Rows changed by the command of res. */
static int64_t changed(const PGresult *res)
{
    const char *t = PQcmdTuples((PGresult *)res);
    return t && *t ? strtoll(t, NULL, 10) : 0;
}

/* Runs a write that changes at most one row and says whether it did. */
static fg_result q_changed(store_meta *m, const char *sql, int n, const char *const *v,
                           int64_t *count, const char *what, fg_reason *r)
{
    PGresult *res = NULL;
    fg_result rc = q(m, sql, n, v, &res, what, r);
    if (rc == FG_OK)
        *count = changed(res);
    PQclear(res);
    return rc;
}

/* A heap copy of text value (row, col), "" for NULL. */
static char *col_dup(const PGresult *res, int row, int col)
{
    size_t n = PQgetisnull(res, row, col) ? 0 : (size_t)PQgetlength(res, row, col);
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, n ? PQgetvalue(res, row, col) : "", n);
    d[n] = '\0';
    return d;
}

static bool col_int(const PGresult *res, int row, int col, int *out)
{
    int64_t v = 0;
    if (!store_pg_col_i64(res, row, col, &v) || v < -2147483647 || v > 2147483647)
        return false;
    *out = (int)v;
    return true;
}

/* ---- orders ---- */

static fg_result pg_order_insert(store_meta *m, const store_order *o, bool *inserted,
                                 fg_reason *r)
{
    int64_t n = 0;
    const char *v[] = {o->id, o->seller_id, o->buyer_id, o->buyer_name, o->labels,
                       o->created_at};
    fg_result rc = q_changed(m,
                             "INSERT INTO orders(id, seller_id, buyer_id, buyer_name,"
                             " labels, created_at) VALUES ($1,$2,$3,$4,$5,$6)"
                             " ON CONFLICT (id) DO NOTHING",
                             6, v, &n, "create the order", r);
    *inserted = n == 1;
    return rc;
}

#define ORDER_COLS                                                          \
    "id, state, seller_id, buyer_id, buyer_name, labels, created_at, released_at, "  \
    "preview_pages"

static fg_result pg_order_get(store_meta *m, const char *id, store_order *o, fg_reason *r)
{
    PGresult *res = NULL;
    const char *v[] = {id};
    /* In a write transaction the read is the order's lock: whatever the
     * caller decides from this state (a delivery while "open", a state
     * change) holds until its commit, and writers of other orders never
     * wait on it. */
    const char *sql = m->tx == STORE_TX_WRITE
                          ? "SELECT " ORDER_COLS " FROM orders WHERE id = $1 FOR UPDATE"
                          : "SELECT " ORDER_COLS " FROM orders WHERE id = $1";
    fg_result rc = q(m, sql, 1, v, &res, "read the order", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 0)
        rc = fg_fail(r, FG_ENOTFOUND, "no such order");
    else if (!store_pg_col(res, 0, 0, o->id, sizeof o->id) ||
             !store_pg_col(res, 0, 1, o->state, sizeof o->state) ||
             !store_pg_col(res, 0, 2, o->seller_id, sizeof o->seller_id) ||
             !store_pg_col(res, 0, 3, o->buyer_id, sizeof o->buyer_id) ||
             !store_pg_col(res, 0, 4, o->buyer_name, sizeof o->buyer_name) ||
             !store_pg_col(res, 0, 5, o->labels, sizeof o->labels) ||
             !store_pg_col(res, 0, 6, o->created_at, sizeof o->created_at) ||
             !store_pg_col(res, 0, 7, o->released_at, sizeof o->released_at) ||
             !col_int(res, 0, 8, &o->preview_pages))
        rc = corrupt("order", r);
    PQclear(res);
    return rc;
}

static fg_result pg_order_set_preview_pages(store_meta *m, const char *id, int pages,
                                            fg_reason *r)
{
    int64_t n = 0;
    char num[16];
    snprintf(num, sizeof num, "%d", pages);
    const char *v[] = {id, num};
    fg_result rc = q_changed(m, "UPDATE orders SET preview_pages = $2 WHERE id = $1", 2, v, &n,
                             "set the order's preview pages", r);
    if (rc == FG_OK && n != 1)
        rc = fg_fail(r, FG_ENOTFOUND, "no such order");
    return rc;
}

static fg_result pg_order_cas_state(store_meta *m, const char *id, const char *from,
                                    const char *to, const char *released_at, bool *updated,
                                    fg_reason *r)
{
    int64_t n = 0;
    const char *v[] = {id, from, to, released_at};
    /* READ COMMITTED re-checks "state = from" on the newest version of the
     * row after waiting for a concurrent writer: compare-and-set. */
    fg_result rc = q_changed(m,
                             "UPDATE orders SET state = $3,"
                             " released_at = COALESCE($4, released_at)"
                             " WHERE id = $1 AND state = $2",
                             4, v, &n, "change the order state", r);
    *updated = n == 1;
    return rc;
}

/* ---- deliveries ---- */

static fg_result pg_delivery_insert(store_meta *m, const char *order_id, const char *message,
                                    const char *created_at, int *number, fg_reason *r)
{
    store_pg *pg = pg_of(m);
    PGresult *res[2] = {NULL, NULL};
    const char *lock_v[] = {order_id};
    const char *ins_v[] = {order_id, message, created_at};
    /* Two statements, one round trip: the lock, then the number. The
     * second runs after the first has waited for any other writer of the
     * order, with a snapshot taken then, so MAX(number) counts the
     * delivery that writer committed. An unknown order inserts nothing
     * (no foreign-key error to abort the transaction). */
    const char *const sql[] = {
        "SELECT 1 FROM orders WHERE id = $1 FOR UPDATE",
        "INSERT INTO deliveries(order_id, number, message, created_at)"
        " SELECT o.id, (SELECT COALESCE(MAX(d.number), 0) + 1 FROM deliveries d"
        "   WHERE d.order_id = $1), $2, $3 FROM orders o WHERE o.id = $1"
        " RETURNING number"};
    const int np[] = {1, 3};
    const char *const *pv[] = {lock_v, ins_v};
    bool own = !store_pg_in_tx(pg);
    fg_result rc;
    /* Alone, the lock would end with its own statement: one transaction. */
    if (own && (rc = store_pg_begin(pg, true, r)))
        return rc;
    if ((rc = store_pg_pipeline(pg, 2, sql, np, pv, res, "create the delivery", r)))
        goto out;
    if (PQntuples(res[1]) != 1)
        rc = fg_fail(r, FG_ENOTFOUND, "no such order");
    else if (!col_int(res[1], 0, 0, number))
        rc = corrupt("delivery", r);
    if (own && rc == FG_OK)
        rc = store_pg_commit(pg, r);
out:
    if (own && rc)
        store_pg_rollback(pg);
    PQclear(res[0]);
    PQclear(res[1]);
    return rc;
}

#define DELIVERY_COLS "order_id, number, message, created_at"

static bool read_delivery(const PGresult *res, int row, store_delivery *d)
{
    return col_int(res, row, 1, &d->number) &&
           store_pg_col(res, row, 0, d->order_id, sizeof d->order_id) &&
           store_pg_col(res, row, 2, d->message, sizeof d->message) &&
           store_pg_col(res, row, 3, d->created_at, sizeof d->created_at);
}

static fg_result pg_delivery_get(store_meta *m, const char *order_id, int number,
                                 store_delivery *out, fg_reason *r)
{
    PGresult *res = NULL;
    char nb[24];
    const char *v[] = {order_id, store_pg_i64(nb, number)};
    fg_result rc = q(m,
                     "SELECT " DELIVERY_COLS " FROM deliveries"
                     " WHERE order_id = $1 AND number = $2",
                     2, v, &res, "read the delivery", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 0)
        rc = fg_fail(r, FG_ENOTFOUND, "no such delivery");
    else if (!read_delivery(res, 0, out))
        rc = corrupt("delivery", r);
    PQclear(res);
    return rc;
}

static fg_result pg_delivery_list(store_meta *m, const char *order_id,
                                  store_delivery_list *out, fg_reason *r)
{
    PGresult *res = NULL;
    char lb[24];
    const char *v[] = {order_id, store_pg_i64(lb, FG_MAX_LIST_ROWS)};
    fg_result rc = q(m,
                     "SELECT " DELIVERY_COLS " FROM deliveries"
                     " WHERE order_id = $1 ORDER BY number LIMIT $2",
                     2, v, &res, "list deliveries", r);
    if (rc)
        return rc;
    int n = PQntuples(res);
    if (n > 0 && !(out->items = calloc((size_t)n, sizeof *out->items))) {
        rc = fg_fail(r, FG_EIO, "cannot list deliveries: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++, out->n++) {
        if (!read_delivery(res, i, &out->items[i])) {
            rc = corrupt("delivery", r);
            goto out;
        }
    }
out:
    PQclear(res);
    if (rc)
        store_delivery_list_release(out);
    return rc;
}

/* ---- files ---- */

#define FILE_COLS                                                            \
    "id, order_id, delivery, name, size, sha256, mime, kind, preview,"       \
    " reason, preview_sha256, preview_mime, created_at, buyer_views,"        \
    " buyer_downloads, salt, commitment, purged_at, poster_sha256, poster_mime"

static bool read_file(const PGresult *res, int i, store_file *f)
{
    return col_int(res, i, 2, &f->delivery) && store_pg_col_i64(res, i, 4, &f->size) &&
           store_pg_col_i64(res, i, 13, &f->buyer_views) &&
           store_pg_col_i64(res, i, 14, &f->buyer_downloads) &&
           store_pg_col(res, i, 0, f->id, sizeof f->id) &&
           store_pg_col(res, i, 1, f->order_id, sizeof f->order_id) &&
           store_pg_col(res, i, 3, f->name, sizeof f->name) &&
           store_pg_col(res, i, 5, f->sha256, sizeof f->sha256) &&
           store_pg_col(res, i, 6, f->mime, sizeof f->mime) &&
           store_pg_col(res, i, 7, f->kind, sizeof f->kind) &&
           store_pg_col(res, i, 8, f->preview, sizeof f->preview) &&
           store_pg_col(res, i, 9, f->reason, sizeof f->reason) &&
           store_pg_col(res, i, 10, f->preview_sha256, sizeof f->preview_sha256) &&
           store_pg_col(res, i, 11, f->preview_mime, sizeof f->preview_mime) &&
           store_pg_col(res, i, 12, f->created_at, sizeof f->created_at) &&
           store_pg_col(res, i, 15, f->salt, sizeof f->salt) &&
           store_pg_col(res, i, 16, f->commitment, sizeof f->commitment) &&
           store_pg_col(res, i, 17, f->purged_at, sizeof f->purged_at) &&
           store_pg_col(res, i, 18, f->poster_sha256, sizeof f->poster_sha256) &&
           store_pg_col(res, i, 19, f->poster_mime, sizeof f->poster_mime);
}

static fg_result pg_file_insert(store_meta *m, const store_file *f, fg_reason *r)
{
    char db[24], sb[24];
    int64_t n = 0;
    const char *v[] = {f->id, f->order_id, store_pg_i64(db, f->delivery), f->name,
                       store_pg_i64(sb, f->size), f->sha256, f->mime, f->kind, f->preview,
                       f->reason, f->preview_sha256, f->preview_mime, f->created_at,
                       f->salt, f->commitment};
    /* Neither a missing delivery nor a taken id may abort the caller's
     * transaction: the insert guards both, and an empty result is told
     * apart below. */
    fg_result rc = q_changed(m,
                             "INSERT INTO files(id, order_id, delivery, name, size,"
                             " sha256, mime, kind, preview, reason, preview_sha256,"
                             " preview_mime, created_at, salt, commitment)"
                             " SELECT $1, $2, $3::integer, $4, $5::bigint, $6, $7, $8, $9,"
                             " $10, $11, $12, $13, $14, $15"
                             " WHERE EXISTS (SELECT 1 FROM deliveries"
                             "   WHERE order_id = $2 AND number = $3::integer)"
                             " ON CONFLICT (id) DO NOTHING",
                             15, v, &n, "add the file", r);
    if (rc || n == 1)
        return rc;
    PGresult *res = NULL;
    const char *w[] = {f->id};
    if ((rc = q(m, "SELECT 1 FROM files WHERE id = $1", 1, w, &res, "add the file", r)))
        return rc;
    rc = PQntuples(res) ? fg_fail(r, FG_ESTATE, "a file with this id exists already")
                        : fg_fail(r, FG_ENOTFOUND, "no such delivery");
    PQclear(res);
    return rc;
}

static fg_result pg_file_set_preview(store_meta *m, const char *id, const char *preview,
                                     const char *reason, const char *psha, const char *pmime,
                                     fg_reason *r)
{
    int64_t n = 0;
    const char *v[] = {id, preview, reason, psha, pmime};
    fg_result rc = q_changed(m,
                             "UPDATE files SET preview = $2, reason = $3,"
                             " preview_sha256 = $4, preview_mime = $5 WHERE id = $1",
                             5, v, &n, "update the preview", r);
    if (rc == FG_OK && n != 1)
        rc = fg_fail(r, FG_ENOTFOUND, "no such file");
    return rc;
}

static fg_result pg_file_set_poster(store_meta *m, const char *id, const char *psha,
                                    const char *pmime, fg_reason *r)
{
    int64_t n = 0;
    const char *v[] = {id, psha, pmime};
    fg_result rc = q_changed(m, "UPDATE files SET poster_sha256 = $2, poster_mime = $3 WHERE id = $1",
                             3, v, &n, "update the poster", r);
    if (rc == FG_OK && n != 1)
        rc = fg_fail(r, FG_ENOTFOUND, "no such file");
    return rc;
}

static fg_result pg_file_get(store_meta *m, const char *id, store_file *out, fg_reason *r)
{
    PGresult *res = NULL;
    const char *v[] = {id};
    fg_result rc = q(m, "SELECT " FILE_COLS " FROM files WHERE id = $1", 1, v, &res,
                     "read the file", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 0)
        rc = fg_fail(r, FG_ENOTFOUND, "no such file");
    else if (!read_file(res, 0, out))
        rc = corrupt("file", r);
    PQclear(res);
    return rc;
}

static fg_result pg_file_list(store_meta *m, const char *order_id, int delivery,
                              store_file_list *out, fg_reason *r)
{
    PGresult *res = NULL;
    char db[24], lb[24];
    const char *v[] = {order_id, store_pg_i64(db, delivery), store_pg_i64(lb, FG_MAX_LIST_ROWS)};
    fg_result rc = q(m,
                     "SELECT " FILE_COLS " FROM files WHERE order_id = $1"
                     " AND ($2::integer = 0 OR delivery = $2::integer)"
                     " ORDER BY delivery, seq LIMIT $3",
                     3, v, &res, "list files", r);
    if (rc)
        return rc;
    int n = PQntuples(res);
    if (n > 0 && !(out->items = calloc((size_t)n, sizeof *out->items))) {
        rc = fg_fail(r, FG_EIO, "cannot list files: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++, out->n++) {
        if (!read_file(res, i, &out->items[i])) {
            rc = corrupt("file", r);
            goto out;
        }
    }
out:
    PQclear(res);
    if (rc)
        store_file_list_release(out);
    return rc;
}

static fg_result pg_file_count(store_meta *m, const char *id, store_counter which,
                               int64_t *after, fg_reason *r)
{
    PGresult *res = NULL;
    const char *v[] = {id};
    /* Column names cannot be parameters: one of two fixed statements. */
    const char *sql = which == STORE_COUNT_BUYER_VIEW
                          ? "UPDATE files SET buyer_views = buyer_views + 1 WHERE id = $1"
                            " RETURNING buyer_views"
                          : "UPDATE files SET buyer_downloads = buyer_downloads + 1"
                            " WHERE id = $1 RETURNING buyer_downloads";
    fg_result rc = q(m, sql, 1, v, &res, "count the file", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 0)
        rc = fg_fail(r, FG_ENOTFOUND, "no such file");
    else if (!store_pg_col_i64(res, 0, 0, after))
        rc = corrupt("file", r);
    PQclear(res);
    return rc;
}

/* ---- webhooks ---- */

static fg_result pg_webhook_insert(store_meta *m, const char *id, const char *at, bool *seen,
                                   fg_reason *r)
{
    int64_t n = 0;
    const char *v[] = {id, at};
    /* Two nodes receiving the same webhook: the second insert waits for
     * the first transaction, then finds the id (seen) or, if it rolled
     * back, records it itself. */
    fg_result rc = q_changed(m,
                             "INSERT INTO webhooks(id, at) VALUES ($1, $2)"
                             " ON CONFLICT (id) DO NOTHING",
                             2, v, &n, "record the webhook id", r);
    *seen = n == 0;
    return rc;
}

/* ---- outbox ---- */

static fg_result pg_outbox_insert(store_meta *m, const char *type, const char *order_id,
                                  const char *payload, const char *created_at, int64_t now,
                                  int64_t *id, fg_reason *r)
{
    PGresult *res = NULL;
    char nb[24];
    const char *v[] = {created_at, type, order_id, payload, store_pg_i64(nb, now)};
    fg_result rc = q(m,
                     "INSERT INTO outbox(created_at, type, order_id, payload,"
                     " next_attempt_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                     5, v, &res, "record the event", r);
    if (rc)
        return rc;
    if (PQntuples(res) != 1 || !store_pg_col_i64(res, 0, 0, id))
        rc = corrupt("outbox", r);
    PQclear(res);
    return rc;
}

#define OUTBOX_COLS                                                          \
    "id, created_at, type, order_id, payload, attempts, next_attempt_at,"    \
    " last_error, state, sent_at"

/* Fills e from a row; e->payload is a new heap copy the caller frees. */
static fg_result read_outbox(const PGresult *res, int i, store_outbox_event *e, fg_reason *r)
{
    e->payload = NULL;
    if (!store_pg_col_i64(res, i, 0, &e->id) || !col_int(res, i, 5, &e->attempts) ||
        !store_pg_col_i64(res, i, 6, &e->next_attempt_at) ||
        !store_pg_col(res, i, 1, e->created_at, sizeof e->created_at) ||
        !store_pg_col(res, i, 2, e->type, sizeof e->type) ||
        !store_pg_col(res, i, 3, e->order_id, sizeof e->order_id) ||
        !store_pg_col(res, i, 7, e->last_error, sizeof e->last_error) ||
        !store_pg_col(res, i, 8, e->state, sizeof e->state) ||
        !store_pg_col(res, i, 9, e->sent_at, sizeof e->sent_at))
        return corrupt("outbox", r);
    if (!(e->payload = col_dup(res, i, 4)))
        return fg_fail(r, FG_EIO, "cannot read the outbox: out of memory");
    return FG_OK;
}

static fg_result pg_outbox_oldest(store_meta *m, char created_at[STORE_TIME_MAX], fg_reason *r)
{
    PGresult *res = NULL;
    fg_result rc = q(m,
                     "SELECT created_at FROM outbox WHERE state = 'pending'"
                     " ORDER BY id LIMIT 1",
                     0, NULL, &res, "read the outbox", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 1 && !store_pg_col(res, 0, 0, created_at, STORE_TIME_MAX))
        rc = corrupt("outbox", r);
    PQclear(res);
    return rc;
}

static fg_result pg_outbox_due(store_meta *m, int64_t now, size_t limit,
                               store_outbox_list *out, fg_reason *r)
{
    PGresult *res = NULL;
    char nb[24], lb[24];
    const char *v[] = {store_pg_i64(nb, now), store_pg_i64(lb, (int64_t)limit)};
    fg_result rc = q(m,
                     "SELECT " OUTBOX_COLS " FROM outbox"
                     " WHERE state = 'pending' AND next_attempt_at <= $1"
                     " ORDER BY next_attempt_at, id LIMIT $2",
                     2, v, &res, "read the outbox", r);
    if (rc)
        return rc;
    int n = PQntuples(res);
    if (n > 0 && !(out->items = calloc((size_t)n, sizeof *out->items))) {
        rc = fg_fail(r, FG_EIO, "cannot read the outbox: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        rc = read_outbox(res, i, &out->items[i], r);
        if (out->items[i].payload)
            out->n++; /* so release frees it, even on a later failure */
        if (rc)
            goto out;
    }
out:
    PQclear(res);
    if (rc)
        store_outbox_list_release(out);
    return rc;
}

static fg_result pg_outbox_update(store_meta *m, int64_t id, const char *state, int64_t next,
                                  const char *error, const char *sent_at, bool *updated,
                                  fg_reason *r)
{
    int64_t n = 0;
    char ib[24], nb[24];
    const char *v[] = {state, error, sent_at, store_pg_i64(ib, id), store_pg_i64(nb, next)};
    fg_result rc = q_changed(m,
                             "UPDATE outbox SET state = $1,"
                             " last_error = COALESCE($2, last_error),"
                             " sent_at = COALESCE($3, sent_at),"
                             " attempts = attempts + 1,"
                             " next_attempt_at = CASE WHEN $1 = 'pending' THEN $5::bigint"
                             "   ELSE next_attempt_at END"
                             " WHERE id = $4 AND state = 'pending'",
                             5, v, &n, "update the event", r);
    *updated = n == 1;
    return rc;
}

static fg_result pg_outbox_list_state(store_meta *m, const char *state, int64_t after,
                                      size_t limit, store_outbox_list *out, fg_reason *r)
{
    PGresult *res = NULL;
    char ab[24], lb[24];
    const char *v[] = {state, store_pg_i64(ab, after), store_pg_i64(lb, (int64_t)limit)};
    fg_result rc = q(m,
                     "SELECT " OUTBOX_COLS " FROM outbox"
                     " WHERE state = $1 AND id > $2 ORDER BY id LIMIT $3",
                     3, v, &res, "read the outbox", r);
    if (rc)
        return rc;
    int n = PQntuples(res);
    if (n > 0 && !(out->items = calloc((size_t)n, sizeof *out->items))) {
        rc = fg_fail(r, FG_EIO, "cannot read the outbox: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        rc = read_outbox(res, i, &out->items[i], r);
        if (out->items[i].payload)
            out->n++;
        if (rc)
            goto out;
    }
out:
    PQclear(res);
    if (rc)
        store_outbox_list_release(out);
    return rc;
}

static fg_result pg_outbox_replay(store_meta *m, int64_t id, int64_t now, bool *updated,
                                  fg_reason *r)
{
    int64_t n = 0;
    char ib[24], nb[24];
    const char *v[] = {store_pg_i64(ib, id), store_pg_i64(nb, now)};
    fg_result rc = q_changed(m,
                             "UPDATE outbox SET state = 'pending', attempts = 0,"
                             " next_attempt_at = $2 WHERE id = $1 AND state = 'dead'",
                             2, v, &n, "replay the event", r);
    *updated = n == 1;
    return rc;
}

/* ---- traceable marks ---- */

static fg_result pg_trace_put(store_meta *m, const char *payload, const char *order_id,
                              const char *buyer_id, const char *file_id, const char *created_at,
                              fg_reason *r)
{
    const char *v[] = {payload, order_id, buyer_id, file_id, created_at};
    return q(m,
             "INSERT INTO trace_marks(payload, order_id, buyer_id, file_id, created_at)"
             " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payload) DO NOTHING",
             5, v, NULL, "record a trace", r);
}

/* Copies text value (row, col) into dst (cap bytes); false if it does
 * not fit. */
static bool col_copy(const PGresult *res, int row, int col, char *dst, size_t cap)
{
    size_t n = (size_t)PQgetlength(res, row, col);
    if (PQgetisnull(res, row, col) || n >= cap)
        return false;
    memcpy(dst, PQgetvalue(res, row, col), n);
    dst[n] = '\0';
    return true;
}

static fg_result pg_trace_get(store_meta *m, const char *payload, store_trace_mark *out,
                              bool *found, fg_reason *r)
{
    PGresult *res = NULL;
    const char *v[] = {payload};
    fg_result rc = q(m,
                     "SELECT order_id, buyer_id, file_id, created_at FROM trace_marks"
                     " WHERE payload = $1",
                     1, v, &res, "read a trace", r);
    if (rc)
        return rc;
    *found = PQntuples(res) == 1;
    if (*found && (!col_copy(res, 0, 0, out->order_id, sizeof out->order_id) ||
                   !col_copy(res, 0, 1, out->buyer_id, sizeof out->buyer_id) ||
                   !col_copy(res, 0, 2, out->file_id, sizeof out->file_id) ||
                   !col_copy(res, 0, 3, out->created_at, sizeof out->created_at)))
        rc = corrupt("trace", r);
    PQclear(res);
    return rc;
}

/* ---- blob references ---- */

static fg_result pg_blob_ref_touch(store_meta *m, const char *hex, int64_t now, fg_reason *r)
{
    char nb[24];
    const char *v[] = {hex, store_pg_i64(nb, now)};
    /* If the collector is deleting this row, the upsert waits for its
     * commit, then inserts a fresh row: the caller then finds the blob
     * gone and stores it again. */
    return q(m,
             "INSERT INTO blob_refs(sha256, refs, seen_at) VALUES ($1, 0, $2)"
             " ON CONFLICT (sha256) DO UPDATE"
             " SET seen_at = GREATEST(blob_refs.seen_at, excluded.seen_at)",
             2, v, NULL, "register a blob", r);
}

static fg_result pg_blob_ref_get(store_meta *m, const char *hex, int64_t *refs,
                                 int64_t *seen_at, bool *known, fg_reason *r)
{
    PGresult *res = NULL;
    const char *v[] = {hex};
    fg_result rc = q(m, "SELECT refs, seen_at FROM blob_refs WHERE sha256 = $1", 1, v, &res,
                     "read a blob's references", r);
    if (rc)
        return rc;
    *known = PQntuples(res) == 1;
    if (*known && (!store_pg_col_i64(res, 0, 0, refs) || !store_pg_col_i64(res, 0, 1, seen_at)))
        rc = corrupt("blob reference", r);
    PQclear(res);
    return rc;
}

static fg_result pg_blob_ref_unused(store_meta *m, int64_t cutoff, size_t limit,
                                    char (*hexes)[STORE_HEX_MAX], size_t *n, fg_reason *r)
{
    PGresult *res = NULL;
    char cb[24], lb[24];
    const char *v[] = {store_pg_i64(cb, cutoff), store_pg_i64(lb, (int64_t)limit)};
    *n = 0;
    fg_result rc = q(m,
                     "SELECT sha256 FROM blob_refs WHERE refs = 0"
                     " AND seen_at <= $1 ORDER BY seen_at LIMIT $2",
                     2, v, &res, "list unused blobs", r);
    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(res) && *n < limit; i++) {
        if (!store_pg_col(res, i, 0, hexes[*n], STORE_HEX_MAX)) {
            rc = corrupt("blob reference", r);
            break;
        }
        (*n)++;
    }
    PQclear(res);
    return rc;
}

static fg_result pg_blob_ref_drop(store_meta *m, const char *hex, int64_t cutoff,
                                  bool *dropped, fg_reason *r)
{
    int64_t n = 0;
    char cb[24];
    const char *v[] = {hex, store_pg_i64(cb, cutoff)};
    /* The deleted row stays locked until the collector's commit, after it
     * removed the blob: a concurrent touch or file insert waits for it. */
    fg_result rc = q_changed(m,
                             "DELETE FROM blob_refs WHERE sha256 = $1 AND refs = 0"
                             " AND seen_at <= $2",
                             2, v, &n, "forget an unused blob", r);
    *dropped = n == 1;
    return rc;
}

/* ---- idempotency keys ---- */

static fg_result pg_idem_get(store_meta *m, const char *seller_id, const char *order_id,
                             const char *key, int64_t *claimed_at, char *token,
                             char *fingerprint, int *delivery, bool *found, fg_reason *r)
{
    store_pg *pg = pg_of(m);
    PGresult *res[2] = {NULL, NULL};
    const char *v[] = {seller_id, order_id, key};
    const char *const *pv[] = {v, v};
    const int np[] = {3, 3};
    /* In a write transaction (a claim) the key is locked first, so two
     * nodes claiming one key take turns, as under SQLite's write lock:
     * the second reads the first's claim in a later statement. A row lock
     * would not do: there may be no row yet. The advisory lock is per key
     * (a hash of seller, order and key), never global, and ends with the
     * transaction. */
    const char *const sql[] = {
        "SELECT pg_advisory_xact_lock(hashtextextended("
        "  $1 || chr(10) || $2 || chr(10) || $3, 1017))",
        "SELECT claimed_at, token, fingerprint, COALESCE(delivery, 0)"
        " FROM idempotency_keys"
        " WHERE seller_id = $1 AND order_id = $2 AND key = $3"};
    fg_result rc;
    PGresult *row;
    if (m->tx == STORE_TX_WRITE) {
        if ((rc = store_pg_pipeline(pg, 2, sql, np, pv, res, "read an idempotency key", r)))
            return rc;
        row = res[1];
    } else {
        if ((rc = q(m, sql[1], 3, v, &res[1], "read an idempotency key", r)))
            return rc;
        row = res[1];
    }
    *found = PQntuples(row) == 1;
    if (*found && (!store_pg_col_i64(row, 0, 0, claimed_at) || !col_int(row, 0, 3, delivery) ||
                   !store_pg_col(row, 0, 1, token, STORE_FILE_ID_MAX) ||
                   !store_pg_col(row, 0, 2, fingerprint, STORE_HEX_MAX)))
        rc = corrupt("idempotency key", r);
    PQclear(res[0]);
    PQclear(res[1]);
    return rc;
}

static fg_result pg_idem_put(store_meta *m, const char *seller_id, const char *order_id,
                             const char *key, const char *token, int64_t claimed_at,
                             fg_reason *r)
{
    char cb[24];
    const char *v[] = {seller_id, order_id, key, token, store_pg_i64(cb, claimed_at)};
    return q(m,
             "INSERT INTO idempotency_keys(seller_id, order_id, key, token,"
             " fingerprint, delivery, claimed_at) VALUES ($1, $2, $3, $4, '', NULL, $5)"
             " ON CONFLICT (seller_id, order_id, key) DO UPDATE SET token = excluded.token,"
             " fingerprint = '', delivery = NULL, claimed_at = excluded.claimed_at",
             5, v, NULL, "claim an idempotency key", r);
}

static fg_result pg_idem_complete(store_meta *m, const char *seller_id, const char *order_id,
                                  const char *key, const char *token, const char *fingerprint,
                                  int delivery, bool *updated, fg_reason *r)
{
    int64_t n = 0;
    char db[24];
    const char *v[] = {seller_id, order_id, key, token, fingerprint, store_pg_i64(db, delivery)};
    fg_result rc = q_changed(m,
                             "UPDATE idempotency_keys SET fingerprint = $5,"
                             " delivery = $6::integer"
                             " WHERE seller_id = $1 AND order_id = $2 AND key = $3"
                             " AND token = $4 AND delivery IS NULL",
                             6, v, &n, "record an idempotency key", r);
    *updated = n == 1;
    return rc;
}

static fg_result pg_idem_release(store_meta *m, const char *seller_id, const char *order_id,
                                 const char *key, const char *token, fg_reason *r)
{
    const char *v[] = {seller_id, order_id, key, token};
    return q(m,
             "DELETE FROM idempotency_keys WHERE seller_id = $1"
             " AND order_id = $2 AND key = $3 AND token = $4 AND delivery IS NULL",
             4, v, NULL, "release an idempotency key", r);
}

static fg_result pg_idem_expire(store_meta *m, int64_t before, int64_t *n, fg_reason *r)
{
    char bb[24];
    const char *v[] = {store_pg_i64(bb, before)};
    return q_changed(m, "DELETE FROM idempotency_keys WHERE claimed_at <= $1", 1, v, n,
                     "expire idempotency keys", r);
}

/* ---- retention ---- */

static fg_result pg_purge_due(store_meta *m, const char *state, const char *cutoff,
                              size_t limit, char (*ids)[FG_MAX_ID + 1], size_t *n,
                              fg_reason *r)
{
    PGresult *res = NULL;
    char lb[24];
    const char *v[] = {state, cutoff, store_pg_i64(lb, (int64_t)limit)};
    *n = 0;
    /* A cancelled order's closing time is its order.cancelled audit entry
     * (orders keep no cancelled_at); an accepted one's is released_at. */
    fg_result rc = q(m,
                     "SELECT o.id FROM orders o WHERE o.state = $1"
                     " AND EXISTS (SELECT 1 FROM files f WHERE f.order_id = o.id"
                     "   AND f.purged_at = '')"
                     " AND CASE o.state"
                     "   WHEN 'accepted' THEN o.released_at <= $2"
                     "   ELSE (SELECT MAX(a.at) FROM audit a WHERE a.chain = o.id"
                     "     AND a.action = 'order.' || o.state) <= $2 END"
                     " ORDER BY o.id LIMIT $3",
                     3, v, &res, "list orders due for purging", r);
    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(res) && *n < limit; i++) {
        if (!store_pg_col(res, i, 0, ids[*n], FG_MAX_ID + 1)) {
            rc = corrupt("order", r);
            break;
        }
        (*n)++;
    }
    PQclear(res);
    return rc;
}

static fg_result pg_purge_files(store_meta *m, const char *order_id, const char *at,
                                int64_t *n, fg_reason *r)
{
    const char *v[] = {order_id, at};
    return q_changed(m,
                     "UPDATE files SET purged_at = $2"
                     " WHERE order_id = $1 AND purged_at = ''",
                     2, v, n, "purge the files", r);
}

/* ---- audit: one chain per order (storage/meta_impl.h gives the SQL;
 * the lock of an append is one audit_heads row, its chain's) ---- */

static fg_result pg_audit_head(store_meta *m, const char *chain, int64_t *seq,
                               char hash[STORE_HEX_MAX], fg_reason *r)
{
    PGresult *res[2] = {NULL, NULL};
    const char *v[] = {chain};
    const char *const *pv[] = {v, v};
    const int np[] = {1, 1};
    /* The placeholder insert waits for a concurrent first append to the
     * same chain (a uniqueness check on an uncommitted row), then does
     * nothing; the locking read runs after it, with a fresh snapshot,
     * and waits for whoever holds the row. One round trip for both. */
    const char *const sql[] = {
        "INSERT INTO audit_heads(chain, seq, hash, at, checkpointed)"
        " VALUES ($1, 0, '" STORE_AUDIT_GENESIS "', '', 0) ON CONFLICT (chain) DO NOTHING",
        "SELECT seq, hash FROM audit_heads WHERE chain = $1 FOR UPDATE"};
    fg_result rc = store_pg_pipeline(pg_of(m), 2, sql, np, pv, res, "lock the audit chain's head",
                                     r);
    if (rc)
        return rc;
    if (PQntuples(res[1]) != 1)
        rc = fg_fail(r, FG_EIO, "cannot read the audit chain's head");
    else if (!store_pg_col_i64(res[1], 0, 0, seq) || *seq < 0 ||
             !store_pg_col(res[1], 0, 1, hash, STORE_HEX_MAX))
        rc = corrupt("audit head", r);
    PQclear(res[0]);
    PQclear(res[1]);
    return rc;
}

static fg_result pg_audit_insert(store_meta *m, const store_audit_entry *e, fg_reason *r)
{
    int64_t n = 0;
    char sb[24];
    const char *v[] = {e->order_id, e->at,        e->actor, e->action,
                       e->detail,   e->prev_hash, e->hash,  store_pg_i64(sb, e->chain_seq)};
    /* One statement: the entry, and the head moved only if the entry went
     * in. Nothing changed means the head moved under us (no lock was
     * taken); the caller's transaction rolls back. */
    fg_result rc = q_changed(m,
                             "WITH entry AS ("
                             " INSERT INTO audit(order_id, chain, chain_seq, at, actor, action,"
                             "  detail, prev_hash, hash)"
                             " VALUES (NULLIF($1, ''), $1, $8::bigint, $2, $3, $4, $5, $6, $7)"
                             " ON CONFLICT (chain, chain_seq) DO NOTHING RETURNING 1)"
                             " UPDATE audit_heads SET seq = $8::bigint, hash = $7, at = $2"
                             " WHERE chain = $1 AND seq = $8::bigint - 1"
                             " AND EXISTS (SELECT 1 FROM entry)",
                             8, v, &n, "append to the audit trail", r);
    if (rc == FG_OK && n != 1)
        rc = fg_fail(r, FG_ESTATE, "the audit chain of order '%s' moved", e->order_id);
    return rc;
}

#define AUDIT_COLS "seq, chain, chain_seq, at, actor, action, detail, prev_hash, hash"

/* Fills e from a row; e->detail is a new heap copy the caller frees (NULL
 * when the row is impossible: FG_ECORRUPT, with seq, chain_seq and, if it
 * fits, the chain still set). */
static fg_result read_audit(const PGresult *res, int i, store_audit_entry *e, fg_reason *r)
{
    e->detail = NULL;
    bool nums = store_pg_col_i64(res, i, 0, &e->seq);
    nums = store_pg_col_i64(res, i, 2, &e->chain_seq) && nums;
    if (!nums)
        return corrupt("audit", r);
    if (!store_pg_col(res, i, 1, e->order_id, sizeof e->order_id)) {
        e->order_id[0] = '\0';
        return corrupt("audit", r);
    }
    if (!store_pg_col(res, i, 3, e->at, sizeof e->at) ||
        !store_pg_col(res, i, 4, e->actor, sizeof e->actor) ||
        !store_pg_col(res, i, 5, e->action, sizeof e->action) ||
        !store_pg_col(res, i, 7, e->prev_hash, sizeof e->prev_hash) ||
        !store_pg_col(res, i, 8, e->hash, sizeof e->hash))
        return corrupt("audit", r);
    if (!(e->detail = col_dup(res, i, 6)))
        return fg_fail(r, FG_EIO, "cannot read the audit trail: out of memory");
    return FG_OK;
}

static fg_result pg_audit_get(store_meta *m, const char *chain, int64_t chain_seq,
                              store_audit_entry *out, bool *found, fg_reason *r)
{
    PGresult *res = NULL;
    char sb[24];
    const char *v[] = {chain, store_pg_i64(sb, chain_seq)};
    *found = false;
    out->detail = NULL;
    fg_result rc = q(m, "SELECT " AUDIT_COLS " FROM audit WHERE chain = $1 AND chain_seq = $2", 2,
                     v, &res, "read an audit entry", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 1) {
        rc = read_audit(res, 0, out, r);
        *found = rc == FG_OK;
        if (rc) {
            free(out->detail);
            out->detail = NULL;
        }
    }
    PQclear(res);
    return rc;
}

static fg_result pg_audit_list(store_meta *m, const char *chain, int64_t after, size_t limit,
                               store_audit_list *out, fg_reason *r)
{
    PGresult *res = NULL;
    char ab[24], lb[24];
    const char *v[] = {chain, store_pg_i64(ab, after), store_pg_i64(lb, (int64_t)limit)};
    fg_result rc = q(m,
                     chain ? "SELECT " AUDIT_COLS " FROM audit"
                             " WHERE chain = $1 AND chain_seq > $2 ORDER BY chain_seq LIMIT $3"
                           : "SELECT " AUDIT_COLS " FROM audit"
                             " WHERE $1::text IS NULL AND seq > $2 ORDER BY seq LIMIT $3",
                     3, v, &res, "list the audit trail", r);
    if (rc)
        return rc;
    int n = PQntuples(res);
    if (n > 0 && !(out->items = calloc((size_t)n, sizeof *out->items))) {
        rc = fg_fail(r, FG_EIO, "cannot list the audit trail: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        rc = read_audit(res, i, &out->items[i], r);
        if (out->items[i].detail)
            out->n++; /* so release frees it, even on a later failure */
        if (rc)
            goto out;
    }
out:
    PQclear(res);
    if (rc)
        store_audit_list_release(out);
    return rc;
}

/* Rows read per query by audit_each: memory stays bounded whatever the
 * trail's length. Called in a read transaction, so every page comes from
 * one snapshot. */
#define AUDIT_PAGE 1000

static fg_result pg_audit_each(store_meta *m, store_audit_fn fn, void *ctx, fg_reason *r)
{
    char chain[FG_MAX_ID + 1] = "";
    int64_t after = 0;
    bool first = true;
    fg_result rc = FG_OK;
    for (;;) {
        PGresult *res = NULL;
        char ab[24], lb[24];
        const char *v[] = {first ? NULL : chain, store_pg_i64(ab, after),
                           store_pg_i64(lb, AUDIT_PAGE)};
        if ((rc = q(m,
                    "SELECT " AUDIT_COLS " FROM audit"
                    " WHERE $1::text IS NULL OR (chain, chain_seq) > ($1, $2::bigint)"
                    " ORDER BY chain, chain_seq LIMIT $3",
                    3, v, &res, "read the audit trail", r)))
            return rc;
        int n = PQntuples(res);
        for (int i = 0; i < n && rc == FG_OK; i++) {
            store_audit_entry e = {0};
            rc = read_audit(res, i, &e, r);
            if (rc == FG_ECORRUPT) {
                /* An impossible row is a broken chain, not a failed read. */
                store_audit_entry bad = {.seq = e.seq, .chain_seq = e.chain_seq, .hash = "-"};
                memcpy(bad.order_id, e.order_id, sizeof bad.order_id);
                rc = fn(ctx, &bad, r);
            } else if (rc == FG_OK) {
                rc = fn(ctx, &e, r);
            }
            free(e.detail);
            /* The key of the next page: this row's, read raw (a chain too
             * long for an entry still orders the walk). */
            first = false;
            snprintf(chain, sizeof chain, "%.*s", (int)sizeof chain - 1,
                     PQgetvalue(res, i, 1));
            store_pg_col_i64(res, i, 2, &after);
        }
        PQclear(res);
        if (rc || n < AUDIT_PAGE)
            return rc;
    }
}

static fg_result pg_audit_heads_page(store_meta *m, bool changed_only, const char *after_chain,
                                     size_t limit, store_audit_head *out, size_t *n,
                                     fg_reason *r)
{
    PGresult *res = NULL;
    char lb[24];
    const char *v[] = {after_chain, store_pg_i64(lb, (int64_t)limit)};
    *n = 0;
    fg_result rc = q(m,
                     changed_only
                         ? "SELECT chain, seq, hash, at, checkpointed FROM audit_heads"
                           " WHERE ($1::text IS NULL OR chain > $1) AND seq >= 1"
                           " AND seq > checkpointed ORDER BY chain LIMIT $2"
                         : "SELECT chain, seq, hash, at, checkpointed FROM audit_heads"
                           " WHERE ($1::text IS NULL OR chain > $1) AND seq >= 1"
                           " ORDER BY chain LIMIT $2",
                     2, v, &res, "read the audit heads", r);
    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(res) && *n < limit; i++) {
        store_audit_head *h = &out[*n];
        if (!store_pg_col_i64(res, i, 1, &h->seq) ||
            !store_pg_col_i64(res, i, 4, &h->checkpointed) ||
            !store_pg_col(res, i, 0, h->chain, sizeof h->chain) ||
            !store_pg_col(res, i, 2, h->hash, sizeof h->hash) ||
            !store_pg_col(res, i, 3, h->at, sizeof h->at)) {
            rc = corrupt("audit head", r);
            break;
        }
        (*n)++;
    }
    PQclear(res);
    return rc;
}

static fg_result pg_audit_checkpoint_last(store_meta *m, int64_t *seq, char hash[STORE_HEX_MAX],
                                          fg_reason *r)
{
    PGresult *res = NULL;
    /* The checkpoint job's write transaction locks the last checkpoint,
     * so two nodes' passes queue; verify reads it in a READ ONLY one. */
    const char *sql = m->tx == STORE_TX_WRITE
                          ? "SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"
                            " FOR UPDATE"
                          : "SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1";
    fg_result rc = q(m, sql, 0, NULL, &res, "read the last audit checkpoint", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        *seq = 0;
        memcpy(hash, STORE_AUDIT_GENESIS, STORE_HEX_MAX);
    } else if (!store_pg_col_i64(res, 0, 0, seq) || !store_pg_col(res, 0, 1, hash, STORE_HEX_MAX)) {
        rc = corrupt("audit checkpoint", r);
    }
    PQclear(res);
    return rc;
}

static fg_result pg_audit_checkpoint_insert(store_meta *m, const store_audit_checkpoint *c,
                                            const store_audit_head *heads, size_t n,
                                            fg_reason *r)
{
    char sb[24];
    int64_t added = 0;
    const char *v[] = {c->at, c->heads, c->legacy, c->prev_hash, c->hash, store_pg_i64(sb, c->seq)};
    /* Taken by another pass since our read: no error to abort on, the
     * empty insert says so. */
    fg_result rc = q_changed(m,
                             "INSERT INTO audit_checkpoints(seq, at, heads, legacy, prev_hash,"
                             " hash) VALUES ($6, $1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
                             6, v, &added, "write an audit checkpoint", r);
    if (rc)
        return rc;
    if (added != 1)
        return fg_fail(r, FG_ESTATE, "audit checkpoint %lld was written by another pass",
                       (long long)c->seq);
    /* One head at a time, in chain order (the order given): each waits
     * for an append in flight on that chain, then re-checks its WHERE. */
    for (size_t i = 0; i < n && rc == FG_OK; i++) {
        char hb[24];
        const char *w[] = {heads[i].chain, store_pg_i64(hb, heads[i].seq)};
        rc = q(m,
               "UPDATE audit_heads SET checkpointed = $2"
               " WHERE chain = $1 AND checkpointed < $2",
               2, w, NULL, "mark an audit head checkpointed", r);
    }
    return rc;
}

static fg_result pg_audit_checkpoint_get(store_meta *m, int64_t seq, store_audit_checkpoint *out,
                                         bool *found, fg_reason *r)
{
    PGresult *res = NULL;
    char sb[24];
    const char *v[] = {store_pg_i64(sb, seq)};
    *found = false;
    memset(out, 0, sizeof *out);
    fg_result rc = q(m,
                     "SELECT seq, at, heads, legacy, prev_hash, hash FROM audit_checkpoints"
                     " WHERE seq = $1",
                     1, v, &res, "read an audit checkpoint", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 1) {
        if (!store_pg_col_i64(res, 0, 0, &out->seq) ||
            !store_pg_col(res, 0, 1, out->at, sizeof out->at) ||
            !store_pg_col(res, 0, 3, out->legacy, sizeof out->legacy) ||
            !store_pg_col(res, 0, 4, out->prev_hash, sizeof out->prev_hash) ||
            !store_pg_col(res, 0, 5, out->hash, sizeof out->hash))
            rc = corrupt("audit checkpoint", r);
        else if (!(out->heads = col_dup(res, 0, 2)))
            rc = fg_fail(r, FG_EIO, "cannot read an audit checkpoint: out of memory");
        else
            *found = true;
    }
    PQclear(res);
    return rc;
}

static const store_meta_ops pg_ops = {
    .name = "postgresql",
    .free = pg_free,
    .schema_version = pg_schema_version,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .order_insert = pg_order_insert,
    .order_get = pg_order_get,
    .order_set_preview_pages = pg_order_set_preview_pages,
    .order_cas_state = pg_order_cas_state,
    .delivery_insert = pg_delivery_insert,
    .delivery_get = pg_delivery_get,
    .delivery_list = pg_delivery_list,
    .file_insert = pg_file_insert,
    .file_set_preview = pg_file_set_preview,
    .file_set_poster = pg_file_set_poster,
    .file_get = pg_file_get,
    .file_list = pg_file_list,
    .file_count = pg_file_count,
    .webhook_insert = pg_webhook_insert,
    .outbox_insert = pg_outbox_insert,
    .outbox_due = pg_outbox_due,
    .outbox_oldest = pg_outbox_oldest,
    .outbox_update = pg_outbox_update,
    .outbox_list_state = pg_outbox_list_state,
    .outbox_replay = pg_outbox_replay,
    .trace_put = pg_trace_put,
    .trace_get = pg_trace_get,
    .blob_ref_touch = pg_blob_ref_touch,
    .blob_ref_get = pg_blob_ref_get,
    .blob_ref_unused = pg_blob_ref_unused,
    .blob_ref_drop = pg_blob_ref_drop,
    .idem_get = pg_idem_get,
    .idem_put = pg_idem_put,
    .idem_complete = pg_idem_complete,
    .idem_release = pg_idem_release,
    .idem_expire = pg_idem_expire,
    .purge_due = pg_purge_due,
    .purge_files = pg_purge_files,
    .audit_head = pg_audit_head,
    .audit_insert = pg_audit_insert,
    .audit_get = pg_audit_get,
    .audit_list = pg_audit_list,
    .audit_each = pg_audit_each,
    .audit_heads_page = pg_audit_heads_page,
    .audit_checkpoint_last = pg_audit_checkpoint_last,
    .audit_checkpoint_insert = pg_audit_checkpoint_insert,
    .audit_checkpoint_get = pg_audit_checkpoint_get,
    .jobs = &store_pg_job_ops,
    .uploads = &store_pg_upload_ops,
    .links = &store_pg_link_ops,
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
