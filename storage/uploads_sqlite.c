/* The SQLite part of tus uploads. Input has been checked by
 * storage/uploads.c. */
#include "storage/meta_impl.h"
#include "storage/schema_sqlite.h"
#include "storage/uploads_impl.h"

#include <sqlite3.h>
#include <string.h>

#define COLS                                                                             \
    "id, order_id, seller_id, name, length, received, sha_state, commit_state, salt, " \
    "created_at, expires_at"

static fg_result fail(store_meta *m, const char *what, fg_reason *r)
{
    return fg_fail(r, FG_EIO, "cannot %s: %s", what, sqlite3_errmsg(store_sqlite_db(m)));
}

static bool col(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    size_t n = s ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= cap)
        return false;
    memcpy(dst, s ? (const char *)s : "", n);
    dst[n] = '\0';
    return true;
}

static fg_result sq_insert(store_meta *m, const store_upload *u, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    char now[STORE_TIME_MAX];
    store_time_now(now);
    if (sqlite3_prepare_v2(store_sqlite_db(m),
                           "INSERT INTO uploads(" COLS ") VALUES"
                           " (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8, ?9, ?10)",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(m, "prepare an upload", r);
    sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->order_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->seller_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, u->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, u->length);
    sqlite3_bind_text(st, 6, u->sha_state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, u->commit_state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, u->salt, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, *u->created_at ? u->created_at : now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, u->expires_at);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = fail(m, "record an upload", r);
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_get(store_meta *m, const char *id, store_upload *out, bool *found,
                        fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    *found = false;
    if (sqlite3_prepare_v2(store_sqlite_db(m), "SELECT " COLS " FROM uploads WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(m, "prepare an upload read", r);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        out->length = sqlite3_column_int64(st, 4);
        out->offset = sqlite3_column_int64(st, 5);
        out->expires_at = sqlite3_column_int64(st, 10);
        if (!col(st, 0, out->id, sizeof out->id) ||
            !col(st, 1, out->order_id, sizeof out->order_id) ||
            !col(st, 2, out->seller_id, sizeof out->seller_id) ||
            !col(st, 3, out->name, sizeof out->name) ||
            !col(st, 6, out->sha_state, sizeof out->sha_state) ||
            !col(st, 7, out->commit_state, sizeof out->commit_state) ||
            !col(st, 8, out->salt, sizeof out->salt) ||
            !col(st, 9, out->created_at, sizeof out->created_at))
            rc = fg_fail(r, FG_ECORRUPT, "upload row holds an impossible value");
        else
            *found = true;
    } else if (s != SQLITE_DONE) {
        rc = fail(m, "read an upload", r);
    }
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_advance(store_meta *m, const char *id, int64_t from, int64_t to,
                            const char *sha_state, const char *commit_state,
                            int64_t expires_at, bool *updated, fg_reason *r)
{
    sqlite3 *db = store_sqlite_db(m);
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    if (sqlite3_prepare_v2(db,
                           "UPDATE uploads SET received = ?3, sha_state = ?4,"
                           " commit_state = ?5, expires_at = ?6"
                           " WHERE id = ?1 AND received = ?2 AND ?3 <= length",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(m, "prepare an upload advance", r);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    sqlite3_bind_text(st, 4, sha_state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, commit_state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, expires_at);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = fail(m, "advance an upload", r);
    *updated = rc == FG_OK && sqlite3_changes(db) == 1;
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_remove(store_meta *m, const char *id, bool *removed, fg_reason *r)
{
    sqlite3 *db = store_sqlite_db(m);
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    if (sqlite3_prepare_v2(db, "DELETE FROM uploads WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(m, "prepare an upload removal", r);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = fail(m, "remove an upload", r);
    *removed = rc == FG_OK && sqlite3_changes(db) == 1;
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_count(store_meta *m, const char *order_id, int64_t *n, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    if (sqlite3_prepare_v2(store_sqlite_db(m),
                           "SELECT count(*) FROM uploads WHERE order_id = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(m, "prepare an upload count", r);
    sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        rc = fail(m, "count uploads", r);
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_expired(store_meta *m, int64_t now, char (*ids)[STORE_FILE_ID_MAX],
                            size_t cap, size_t *n, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    int s;
    if (sqlite3_prepare_v2(store_sqlite_db(m),
                           "SELECT id FROM uploads WHERE expires_at <= ?1"
                           " ORDER BY expires_at LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(m, "prepare an expiry query", r);
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)cap);
    while ((s = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
        if (col(st, 0, ids[*n], STORE_FILE_ID_MAX))
            (*n)++;
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        rc = fail(m, "list expired uploads", r);
    sqlite3_finalize(st);
    return rc;
}

const store_upload_ops store_sqlite_upload_ops = {
    .insert = sq_insert,
    .get = sq_get,
    .advance = sq_advance,
    .remove = sq_remove,
    .count = sq_count,
    .expired = sq_expired,
};
