/* The SQLite part of links and download limits (storage/links_impl.h).
 * Input has been checked by storage/links.c. Every count is one guarded
 * UPDATE: under SQLite's single writer, two racing requests run it one
 * after the other, and the second sees the first's count. */
#include "storage/links_impl.h"
#include "storage/meta_impl.h"
#include "storage/schema_sqlite.h"

#include <sqlite3.h>
#include <string.h>

#define COLS                                                                         \
    "hash, file_id, order_id, purpose, minted_by, minted_role, created_at, expires_at, " \
    "max_uses, uses, revoked_at"

static fg_result fail(store_meta *m, const char *what, fg_reason *r)
{
    return store_sqlite_fail(m, what, r);
}

static fg_result prep(store_meta *m, const char *sql, sqlite3_stmt **st, fg_reason *r)
{
    if (sqlite3_prepare_v2(store_sqlite_db(m), sql, -1, st, NULL) != SQLITE_OK)
        return fail(m, "prepare a link query", r);
    return FG_OK;
}

static fg_result sq_insert(store_meta *m, const store_link *l, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m,
                        "INSERT INTO links(" COLS ") VALUES"
                        " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, '')"
                        " ON CONFLICT(hash) DO NOTHING",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, l->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, l->file_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, l->order_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, l->purpose, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, l->minted_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, l->minted_role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, l->created_at, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, l->expires_at);
    sqlite3_bind_int64(st, 9, l->max_uses);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = fail(m, "record a link", r);
    else if (sqlite3_changes(store_sqlite_db(m)) != 1)
        rc = fg_fail(r, FG_ESTATE, "the link exists already");
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_get(store_meta *m, const char *hash, store_link *out, bool *found,
                        fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    *found = false;
    fg_result rc = prep(m, "SELECT " COLS " FROM links WHERE hash = ?1", &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        out->expires_at = sqlite3_column_int64(st, 7);
        out->max_uses = sqlite3_column_int64(st, 8);
        out->uses = sqlite3_column_int64(st, 9);
        if (!store_sqlite_col(st, 0, out->hash, sizeof out->hash) ||
            !store_sqlite_col(st, 1, out->file_id, sizeof out->file_id) ||
            !store_sqlite_col(st, 2, out->order_id, sizeof out->order_id) ||
            !store_sqlite_col(st, 3, out->purpose, sizeof out->purpose) ||
            !store_sqlite_col(st, 4, out->minted_by, sizeof out->minted_by) ||
            !store_sqlite_col(st, 5, out->minted_role, sizeof out->minted_role) ||
            !store_sqlite_col(st, 6, out->created_at, sizeof out->created_at) ||
            !store_sqlite_col(st, 10, out->revoked_at, sizeof out->revoked_at))
            rc = fg_fail(r, FG_ECORRUPT, "link row holds an impossible value");
        else
            *found = true;
    } else if (s != SQLITE_DONE) {
        rc = fail(m, "read a link", r);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Runs st, an UPDATE ... RETURNING one integer: *changed whether a row
 * was, *v its value. */
static fg_result returning(store_meta *m, sqlite3_stmt *st, bool *changed, int64_t *v,
                           const char *what, fg_reason *r)
{
    int s = sqlite3_step(st);
    *changed = false;
    if (s == SQLITE_ROW) {
        *changed = true;
        *v = sqlite3_column_int64(st, 0);
        s = sqlite3_step(st);
    }
    return s == SQLITE_DONE ? FG_OK : fail(m, what, r);
}

static fg_result sq_use(store_meta *m, const char *hash, int64_t now, bool *taken,
                        int64_t *uses, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m,
                        "UPDATE links SET uses = uses + 1 WHERE hash = ?1"
                        " AND revoked_at = '' AND expires_at > ?2 AND uses < max_uses"
                        " RETURNING uses",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    rc = returning(m, st, taken, uses, "use a link", r);
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_revoke(store_meta *m, const char *hash, const char *at, bool *revoked,
                           bool *found, fg_reason *r)
{
    store_link l;
    fg_result rc = sq_get(m, hash, &l, found, r);
    sqlite3_stmt *st = NULL;
    if (rc || !*found)
        return rc;
    if ((rc = prep(m, "UPDATE links SET revoked_at = ?2 WHERE hash = ?1 AND revoked_at = ''",
                   &st, r)))
        return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, at, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = fail(m, "revoke a link", r);
    else
        *revoked = sqlite3_changes(store_sqlite_db(m)) == 1;
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_set_max_downloads(store_meta *m, const char *order_id, int64_t n,
                                      bool *found, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m, "UPDATE orders SET max_downloads = ?2 WHERE id = ?1", &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
    if (n > 0)
        sqlite3_bind_int64(st, 2, n);
    else
        sqlite3_bind_null(st, 2);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = fail(m, "set the download limit", r);
    else
        *found = sqlite3_changes(store_sqlite_db(m)) == 1;
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_max_downloads(store_meta *m, const char *order_id, int64_t *n, bool *found,
                                  fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    *found = false;
    fg_result rc = prep(m, "SELECT COALESCE(max_downloads, 0) FROM orders WHERE id = ?1", &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *found = true;
        *n = sqlite3_column_int64(st, 0);
    } else if (s != SQLITE_DONE) {
        rc = fail(m, "read the download limit", r);
    }
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_count_download(store_meta *m, const char *id, bool *taken, int64_t *after,
                                   bool *found, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m,
                        "UPDATE files SET buyer_downloads = buyer_downloads + 1 WHERE id = ?1"
                        " AND buyer_downloads < COALESCE((SELECT max_downloads FROM orders"
                        "   WHERE orders.id = files.order_id), 9223372036854775807)"
                        " RETURNING buyer_downloads",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = returning(m, st, taken, after, "count a download", r);
    sqlite3_finalize(st);
    *found = *taken;
    if (rc || *taken)
        return rc;
    /* Refused or unknown: say which, with the count that refused. */
    if ((rc = prep(m, "SELECT buyer_downloads FROM files WHERE id = ?1", &st, r)))
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *found = true;
        *after = sqlite3_column_int64(st, 0);
    } else if (s != SQLITE_DONE) {
        rc = fail(m, "read a download count", r);
    }
    sqlite3_finalize(st);
    return rc;
}

const store_link_ops store_sqlite_link_ops = {
    .insert = sq_insert,
    .get = sq_get,
    .use = sq_use,
    .revoke = sq_revoke,
    .set_max_downloads = sq_set_max_downloads,
    .max_downloads = sq_max_downloads,
    .count_download = sq_count_download,
};
