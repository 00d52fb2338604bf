/* The PostgreSQL part of links and download limits
 * (storage/links_impl.h). Input has been checked by storage/links.c.
 *
 * Each count is one UPDATE guarded by its limit (uses < max_uses,
 * buyer_downloads < max_downloads). Under READ COMMITTED a second request
 * racing for the last use waits for the first's row lock, then re-checks
 * its WHERE on the row the first committed, finds the limit reached and
 * changes nothing: one winner, on one node or several. */
#include "storage/links_impl.h"
#include "storage/meta_pg_impl.h"

#include <stdlib.h>
#include <string.h>

#define COLS                                                                         \
    "hash, file_id, order_id, purpose, minted_by, minted_role, created_at, expires_at, " \
    "max_uses, uses, revoked_at"

static store_pg *pg_of(store_meta *m)
{
    return store_meta_pg_conn(m);
}

static fg_result pg_insert(store_meta *m, const store_link *l, fg_reason *r)
{
    PGresult *res = NULL;
    char eb[24], mb[24];
    const char *p[] = {l->hash,       l->file_id,     l->order_id,
                       l->purpose,    l->minted_by,   l->minted_role,
                       l->created_at, store_pg_i64(eb, l->expires_at),
                       store_pg_i64(mb, l->max_uses)};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "INSERT INTO links(" COLS ") VALUES"
                                 " ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, '')"
                                 " ON CONFLICT (hash) DO NOTHING",
                                 9, p, &res, "record a link", r);
    if (rc)
        return rc;
    if (strtoll(PQcmdTuples(res), NULL, 10) != 1)
        rc = fg_fail(r, FG_ESTATE, "the link exists already");
    PQclear(res);
    return rc;
}

static fg_result pg_get(store_meta *m, const char *hash, store_link *out, bool *found,
                        fg_reason *r)
{
    PGresult *res = NULL;
    const char *p[] = {hash};
    *found = false;
    fg_result rc = store_pg_exec(pg_of(m), "SELECT " COLS " FROM links WHERE hash = $1", 1, p,
                                 &res, "read a link", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 1) {
        if (!store_pg_col_i64(res, 0, 7, &out->expires_at) ||
            !store_pg_col_i64(res, 0, 8, &out->max_uses) ||
            !store_pg_col_i64(res, 0, 9, &out->uses) ||
            !store_pg_col(res, 0, 0, out->hash, sizeof out->hash) ||
            !store_pg_col(res, 0, 1, out->file_id, sizeof out->file_id) ||
            !store_pg_col(res, 0, 2, out->order_id, sizeof out->order_id) ||
            !store_pg_col(res, 0, 3, out->purpose, sizeof out->purpose) ||
            !store_pg_col(res, 0, 4, out->minted_by, sizeof out->minted_by) ||
            !store_pg_col(res, 0, 5, out->minted_role, sizeof out->minted_role) ||
            !store_pg_col(res, 0, 6, out->created_at, sizeof out->created_at) ||
            !store_pg_col(res, 0, 10, out->revoked_at, sizeof out->revoked_at))
            rc = fg_fail(r, FG_ECORRUPT, "link row holds an impossible value");
        else
            *found = true;
    }
    PQclear(res);
    return rc;
}

/* Runs an UPDATE ... RETURNING one bigint: *changed whether a row was,
 * *v its value. */
static fg_result returning(store_meta *m, const char *sql, int n, const char *const *p,
                           bool *changed, int64_t *v, const char *what, fg_reason *r)
{
    PGresult *res = NULL;
    *changed = false;
    fg_result rc = store_pg_exec(pg_of(m), sql, n, p, &res, what, r);
    if (rc)
        return rc;
    if (PQntuples(res) == 1) {
        if (store_pg_col_i64(res, 0, 0, v))
            *changed = true;
        else
            rc = fg_fail(r, FG_ECORRUPT, "a counter holds an impossible value");
    }
    PQclear(res);
    return rc;
}

static fg_result pg_use(store_meta *m, const char *hash, int64_t now, bool *taken,
                        int64_t *uses, fg_reason *r)
{
    char nb[24];
    const char *p[] = {hash, store_pg_i64(nb, now)};
    return returning(m,
                     "UPDATE links SET uses = uses + 1 WHERE hash = $1"
                     " AND revoked_at = '' AND expires_at > $2::bigint AND uses < max_uses"
                     " RETURNING uses",
                     2, p, taken, uses, "use a link", r);
}

static fg_result pg_revoke(store_meta *m, const char *hash, const char *at, bool *revoked,
                           bool *found, fg_reason *r)
{
    PGresult *res = NULL;
    store_link l;
    const char *p[] = {hash, at};
    fg_result rc = pg_get(m, hash, &l, found, r);
    if (rc || !*found)
        return rc;
    if ((rc = store_pg_exec(pg_of(m),
                            "UPDATE links SET revoked_at = $2 WHERE hash = $1 AND revoked_at = ''",
                            2, p, &res, "revoke a link", r)))
        return rc;
    *revoked = strtoll(PQcmdTuples(res), NULL, 10) == 1;
    PQclear(res);
    return FG_OK;
}

static fg_result pg_set_max_downloads(store_meta *m, const char *order_id, int64_t n,
                                      bool *found, fg_reason *r)
{
    PGresult *res = NULL;
    char nb[24];
    const char *p[] = {order_id, n > 0 ? store_pg_i64(nb, n) : NULL};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "UPDATE orders SET max_downloads = $2::bigint WHERE id = $1", 2,
                                 p, &res, "set the download limit", r);
    if (rc)
        return rc;
    *found = strtoll(PQcmdTuples(res), NULL, 10) == 1;
    PQclear(res);
    return FG_OK;
}

static fg_result pg_max_downloads(store_meta *m, const char *order_id, int64_t *n, bool *found,
                                  fg_reason *r)
{
    PGresult *res = NULL;
    const char *p[] = {order_id};
    *found = false;
    fg_result rc = store_pg_exec(pg_of(m),
                                 "SELECT COALESCE(max_downloads, 0) FROM orders WHERE id = $1", 1,
                                 p, &res, "read the download limit", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 1) {
        if (store_pg_col_i64(res, 0, 0, n))
            *found = true;
        else
            rc = fg_fail(r, FG_ECORRUPT, "a download limit holds an impossible value");
    }
    PQclear(res);
    return rc;
}

static fg_result pg_count_download(store_meta *m, const char *id, bool *taken, int64_t *after,
                                   bool *found, fg_reason *r)
{
    PGresult *res = NULL;
    const char *p[] = {id};
    fg_result rc = returning(m,
                             "UPDATE files SET buyer_downloads = buyer_downloads + 1"
                             " WHERE id = $1 AND buyer_downloads < COALESCE((SELECT"
                             "   max_downloads FROM orders WHERE orders.id = files.order_id),"
                             "   9223372036854775807)"
                             " RETURNING buyer_downloads",
                             1, p, taken, after, "count a download", r);
    *found = *taken;
    if (rc || *taken)
        return rc;
    if ((rc = store_pg_exec(pg_of(m), "SELECT buyer_downloads FROM files WHERE id = $1", 1, p,
                            &res, "read a download count", r)))
        return rc;
    if (PQntuples(res) == 1) {
        *found = true;
        if (!store_pg_col_i64(res, 0, 0, after))
            rc = fg_fail(r, FG_ECORRUPT, "a counter holds an impossible value");
    }
    PQclear(res);
    return rc;
}

const store_link_ops store_pg_link_ops = {
    .insert = pg_insert,
    .get = pg_get,
    .use = pg_use,
    .revoke = pg_revoke,
    .set_max_downloads = pg_set_max_downloads,
    .max_downloads = pg_max_downloads,
    .count_download = pg_count_download,
};
