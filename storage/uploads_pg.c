/* The PostgreSQL part of tus uploads (storage/uploads_impl.h). Input has
 * been checked by storage/uploads.c.
 *
 * An upload may be resumed on any node (DESIGN, Settled details, "tus
 * across nodes"): two PATCH requests for one upload, on two nodes, both
 * read offset N and both try to advance it. The advance is one UPDATE
 * guarded by received = from; under READ COMMITTED the second waits for
 * the first's row lock, re-checks its WHERE on the new version, finds the
 * offset moved and changes nothing, so exactly one request's bytes
 * count. */
#include "storage/meta_pg_impl.h"

#include <stdlib.h>
#include <string.h>

#define COLS                                                                             \
    "id, order_id, seller_id, name, length, received, sha_state, commit_state, salt, " \
    "created_at, expires_at"

static store_pg *pg_of(store_meta *m)
{
    return store_meta_pg_conn(m);
}

static int64_t changed(PGresult *res)
{
    return strtoll(PQcmdTuples(res), NULL, 10);
}

static fg_result pg_insert(store_meta *m, const store_upload *u, fg_reason *r)
{
    char now[STORE_TIME_MAX], len[24], exp[24];
    store_time_now(now);
    const char *p[] = {u->id,
                       u->order_id,
                       u->seller_id,
                       u->name,
                       store_pg_i64(len, u->length),
                       u->sha_state,
                       u->commit_state,
                       u->salt,
                       *u->created_at ? u->created_at : now,
                       store_pg_i64(exp, u->expires_at)};
    return store_pg_exec(pg_of(m),
                         "INSERT INTO uploads(" COLS ") VALUES"
                         " ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10)",
                         10, p, NULL, "record an upload", r);
}

static fg_result pg_get(store_meta *m, const char *id, store_upload *out, bool *found,
                        fg_reason *r)
{
    PGresult *res = NULL;
    const char *p[] = {id};
    *found = false;
    fg_result rc = store_pg_exec(pg_of(m), "SELECT " COLS " FROM uploads WHERE id = $1", 1, p,
                                 &res, "read an upload", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 1) {
        if (!store_pg_col_i64(res, 0, 4, &out->length) ||
            !store_pg_col_i64(res, 0, 5, &out->offset) ||
            !store_pg_col_i64(res, 0, 10, &out->expires_at) ||
            !store_pg_col(res, 0, 0, out->id, sizeof out->id) ||
            !store_pg_col(res, 0, 1, out->order_id, sizeof out->order_id) ||
            !store_pg_col(res, 0, 2, out->seller_id, sizeof out->seller_id) ||
            !store_pg_col(res, 0, 3, out->name, sizeof out->name) ||
            !store_pg_col(res, 0, 6, out->sha_state, sizeof out->sha_state) ||
            !store_pg_col(res, 0, 7, out->commit_state, sizeof out->commit_state) ||
            !store_pg_col(res, 0, 8, out->salt, sizeof out->salt) ||
            !store_pg_col(res, 0, 9, out->created_at, sizeof out->created_at))
            rc = fg_fail(r, FG_ECORRUPT, "upload row holds an impossible value");
        else
            *found = true;
    }
    PQclear(res);
    return rc;
}

/* `$3 <= length` in the WHERE, not left to the CHECK constraint: a
 * violated CHECK would be an error that aborts the caller's transaction,
 * where a refused advance is an expected outcome (FG_ESTATE above). */
static fg_result pg_advance(store_meta *m, const char *id, int64_t from, int64_t to,
                            const char *sha_state, const char *commit_state,
                            int64_t expires_at, bool *updated, fg_reason *r)
{
    PGresult *res = NULL;
    char ft[24], tt[24], et[24];
    const char *p[] = {id,        store_pg_i64(ft, from), store_pg_i64(tt, to), sha_state,
                       commit_state, store_pg_i64(et, expires_at)};
    *updated = false;
    fg_result rc = store_pg_exec(pg_of(m),
                                 "UPDATE uploads SET received = $3, sha_state = $4,"
                                 " commit_state = $5, expires_at = $6"
                                 " WHERE id = $1 AND received = $2 AND $3 <= length",
                                 6, p, &res, "advance an upload", r);
    if (rc)
        return rc;
    *updated = changed(res) == 1;
    PQclear(res);
    return FG_OK;
}

static fg_result pg_remove(store_meta *m, const char *id, bool *removed, fg_reason *r)
{
    PGresult *res = NULL;
    const char *p[] = {id};
    *removed = false;
    fg_result rc = store_pg_exec(pg_of(m), "DELETE FROM uploads WHERE id = $1", 1, p, &res,
                                 "remove an upload", r);
    if (rc)
        return rc;
    *removed = changed(res) == 1;
    PQclear(res);
    return FG_OK;
}

static fg_result pg_count(store_meta *m, const char *order_id, int64_t *n, fg_reason *r)
{
    PGresult *res = NULL;
    const char *p[] = {order_id};
    fg_result rc = store_pg_exec(pg_of(m), "SELECT count(*) FROM uploads WHERE order_id = $1",
                                 1, p, &res, "count uploads", r);
    if (rc)
        return rc;
    if (PQntuples(res) != 1 || !store_pg_col_i64(res, 0, 0, n))
        rc = fg_fail(r, FG_EIO, "cannot count uploads: no count returned");
    PQclear(res);
    return rc;
}

static fg_result pg_expired(store_meta *m, int64_t now, char (*ids)[STORE_FILE_ID_MAX],
                            size_t cap, size_t *n, fg_reason *r)
{
    PGresult *res = NULL;
    char nt[24], lim[24];
    const char *p[] = {store_pg_i64(nt, now), store_pg_i64(lim, (int64_t)cap)};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "SELECT id FROM uploads WHERE expires_at <= $1"
                                 " ORDER BY expires_at, id LIMIT $2",
                                 2, p, &res, "list expired uploads", r);
    if (rc)
        return rc;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && *n < cap; i++)
        if (store_pg_col(res, i, 0, ids[*n], STORE_FILE_ID_MAX))
            (*n)++;
    PQclear(res);
    return FG_OK;
}

const store_upload_ops store_pg_upload_ops = {
    .insert = pg_insert,
    .get = pg_get,
    .advance = pg_advance,
    .remove = pg_remove,
    .count = pg_count,
    .expired = pg_expired,
};
