/* The SQLite metadata backend. Input reaching these functions has been
 * checked by storage/meta.c; here it is only stored and read back. */
#include "storage/meta_impl.h"
#include "storage/jobs_impl.h"
#include "storage/links_impl.h"
#include "storage/uploads_impl.h"
#include "storage/schema_sqlite.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Long enough for a writer to finish a large transaction (an upload's
 * rows), short enough that a stuck lock surfaces as an error, not a hang. */
#define BUSY_TIMEOUT_MS 5000

/* Prepared statements kept for the life of the handle, keyed by the
 * address of their SQL text (every query here is a string literal).
 * Parsing a query costs more than running it: on the download path, where
 * a request is two point lookups, preparing each time was a quarter of
 * the worker's CPU. 64 covers every query in this file. */
#define STMT_CACHE 64

typedef struct meta_sqlite {
    store_meta base; /* first: a store_meta * is a meta_sqlite * */
    sqlite3 *db;
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } cache[STMT_CACHE];
    int ncache;
} meta_sqlite;

static sqlite3 *db_of(store_meta *m)
{
    return ((meta_sqlite *)m)->db;
}

sqlite3 *store_sqlite_db(store_meta *m)
{
    return db_of(m);
}

fg_result store_sqlite_fail(store_meta *m, const char *what, fg_reason *r)
{
    return fg_fail(r, FG_EIO, "cannot %s: %s", what, sqlite3_errmsg(db_of(m)));
}

static fg_result db_fail(store_meta *m, const char *what, fg_reason *r)
{
    return store_sqlite_fail(m, what, r);
}

/* Hands out the statement for sql, prepared once per handle. The caller
 * gives it back with done(). */
static fg_result prep(store_meta *m, const char *sql, sqlite3_stmt **st,
                      fg_reason *r)
{
    meta_sqlite *s = (meta_sqlite *)m;
    for (int i = 0; i < s->ncache; i++) {
        if (s->cache[i].sql == sql) {
            *st = s->cache[i].st;
            return FG_OK;
        }
    }
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_fail(m, "prepare a query", r);
    if (s->ncache < STMT_CACHE) {
        s->cache[s->ncache].sql = sql;
        s->cache[s->ncache].st = *st;
        s->ncache++;
    }
    return FG_OK;
}

/* Gives a statement back: reset for its next use if cached (which also
 * ends the implicit read transaction it held), finalized otherwise. */
static void done(store_meta *m, sqlite3_stmt *st)
{
    meta_sqlite *s = (meta_sqlite *)m;
    if (!st)
        return;
    for (int i = 0; i < s->ncache; i++) {
        if (s->cache[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    }
    sqlite3_finalize(st);
}

/* Binds text values ?1..?n (NULL binds SQL NULL). */
static bool bind_texts(sqlite3_stmt *st, int n, const char *const *v)
{
    for (int i = 0; i < n; i++) {
        int rc = v[i] ? sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC)
                      : sqlite3_bind_null(st, i + 1);
        if (rc != SQLITE_OK)
            return false;
    }
    return true;
}

bool store_sqlite_col(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    size_t n = s ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= cap)
        return false;
    memcpy(dst, s ? (const char *)s : "", n);
    dst[n] = '\0';
    return true;
}

static fg_result corrupt(const char *what, fg_reason *r)
{
    return fg_fail(r, FG_ECORRUPT, "%s row holds an impossible value", what);
}

/* ---- handle, transactions ---- */

static void sq_free(store_meta *m)
{
    meta_sqlite *s = (meta_sqlite *)m;
    for (int i = 0; i < s->ncache; i++)
        sqlite3_finalize(s->cache[i].st);
    sqlite3_close_v2(s->db);
    free(s);
}

static fg_result sq_schema_version(store_meta *m, int *version, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                        &st, r);
    if (rc)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    else
        rc = db_fail(m, "read the schema version", r);
    done(m, st);
    return rc;
}

static fg_result sq_begin(store_meta *m, bool write, fg_reason *r)
{
    /* IMMEDIATE takes the write lock at once, so a writer never fails with
     * SQLITE_BUSY halfway through (a deferred transaction upgrading from
     * read to write cannot wait: it must restart). */
    const char *sql = write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED";
    if (sqlite3_exec(db_of(m), sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(m, "begin a transaction", r);
    return FG_OK;
}

static fg_result sq_commit(store_meta *m, fg_reason *r)
{
    if (sqlite3_exec(db_of(m), "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(m, "commit", r);
    return FG_OK;
}

static void sq_rollback(store_meta *m)
{
    if (!sqlite3_get_autocommit(db_of(m)))
        sqlite3_exec(db_of(m), "ROLLBACK", NULL, NULL, NULL);
}

/* ---- orders ---- */

static fg_result sq_order_insert(store_meta *m, const store_order *o,
                                 bool *inserted, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {o->id, o->seller_id, o->buyer_id, o->buyer_name,
                       o->labels, o->created_at};
    fg_result rc = prep(m,
                        "INSERT INTO orders(id, seller_id, buyer_id, buyer_name,"
                        " labels, created_at) VALUES (?1,?2,?3,?4,?5,?6)"
                        " ON CONFLICT(id) DO NOTHING",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 6, v) || sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "create the order", r);
    else
        *inserted = sqlite3_changes(db_of(m)) == 1;
    done(m, st);
    return rc;
}

static fg_result sq_order_get(store_meta *m, const char *id, store_order *o,
                              fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m,
                        "SELECT id, state, seller_id, buyer_id, buyer_name,"
                        " labels, created_at, released_at, preview_pages"
                        " FROM orders WHERE id = ?1",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = fg_fail(r, FG_ENOTFOUND, "no such order");
    } else if (step != SQLITE_ROW) {
        rc = db_fail(m, "read the order", r);
    } else if (!store_sqlite_col(st, 0, o->id, sizeof o->id) ||
               !store_sqlite_col(st, 1, o->state, sizeof o->state) ||
               !store_sqlite_col(st, 2, o->seller_id, sizeof o->seller_id) ||
               !store_sqlite_col(st, 3, o->buyer_id, sizeof o->buyer_id) ||
               !store_sqlite_col(st, 4, o->buyer_name, sizeof o->buyer_name) ||
               !store_sqlite_col(st, 5, o->labels, sizeof o->labels) ||
               !store_sqlite_col(st, 6, o->created_at, sizeof o->created_at) ||
               !store_sqlite_col(st, 7, o->released_at, sizeof o->released_at)) {
        rc = corrupt("order", r);
    } else {
        o->preview_pages = sqlite3_column_int(st, 8);
    }
    done(m, st);
    return rc;
}

static fg_result sq_order_set_preview_pages(store_meta *m, const char *id, int pages,
                                            fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m, "UPDATE orders SET preview_pages = ?2 WHERE id = ?1", &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, pages);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "set the order's preview pages", r);
    else if (sqlite3_changes(db_of(m)) != 1)
        rc = fg_fail(r, FG_ENOTFOUND, "no such order");
    done(m, st);
    return rc;
}

static fg_result sq_order_cas_state(store_meta *m, const char *id,
                                    const char *from, const char *to,
                                    const char *released_at, bool *updated,
                                    fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {id, from, to, released_at};
    fg_result rc = prep(m,
                        "UPDATE orders SET state = ?3,"
                        " released_at = COALESCE(?4, released_at)"
                        " WHERE id = ?1 AND state = ?2",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 4, v) || sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "change the order state", r);
    else
        *updated = sqlite3_changes(db_of(m)) == 1;
    done(m, st);
    return rc;
}

/* ---- deliveries ---- */

static fg_result sq_delivery_insert(store_meta *m, const char *order_id,
                                    const char *message, const char *created_at,
                                    int *number, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {order_id, message, created_at};
    /* One statement computes and takes the next number: SQLite runs it
     * under the write lock, and the primary key would refuse a duplicate
     * anyway. */
    fg_result rc = prep(m,
                        "INSERT INTO deliveries(order_id, number, message,"
                        " created_at) SELECT ?1, COALESCE(MAX(number), 0) + 1,"
                        " ?2, ?3 FROM deliveries WHERE order_id = ?1"
                        " RETURNING number",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 3, v)) {
        rc = db_fail(m, "create the delivery", r);
        goto out;
    }
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *number = sqlite3_column_int(st, 0);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(m, "create the delivery", r);
    } else if (sqlite3_extended_errcode(db_of(m)) ==
               SQLITE_CONSTRAINT_FOREIGNKEY) {
        rc = fg_fail(r, FG_ENOTFOUND, "no such order");
    } else {
        rc = db_fail(m, "create the delivery", r);
    }
out:
    done(m, st);
    return rc;
}

static bool read_delivery(sqlite3_stmt *st, store_delivery *d)
{
    d->number = sqlite3_column_int(st, 1);
    return store_sqlite_col(st, 0, d->order_id, sizeof d->order_id) &&
           store_sqlite_col(st, 2, d->message, sizeof d->message) &&
           store_sqlite_col(st, 3, d->created_at, sizeof d->created_at);
}

#define DELIVERY_COLS "order_id, number, message, created_at"

static fg_result sq_delivery_get(store_meta *m, const char *order_id,
                                 int number, store_delivery *out, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m,
                        "SELECT " DELIVERY_COLS " FROM deliveries"
                        " WHERE order_id = ?1 AND number = ?2",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, number);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE)
        rc = fg_fail(r, FG_ENOTFOUND, "no such delivery");
    else if (step != SQLITE_ROW)
        rc = db_fail(m, "read the delivery", r);
    else if (!read_delivery(st, out))
        rc = corrupt("delivery", r);
    done(m, st);
    return rc;
}

/* Grows a heap array of `size`-byte items to hold one more. */
static bool grow(void **items, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*items, ncap * size);
    if (!p)
        return false;
    *items = p;
    *cap = ncap;
    return true;
}

static fg_result sq_delivery_list(store_meta *m, const char *order_id,
                                  store_delivery_list *out, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int step;
    fg_result rc = prep(m,
                        "SELECT " DELIVERY_COLS " FROM deliveries"
                        " WHERE order_id = ?1 ORDER BY number LIMIT ?2",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, FG_MAX_LIST_ROWS);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow((void **)&out->items, out->n, &cap, sizeof *out->items)) {
            rc = fg_fail(r, FG_EIO, "cannot list deliveries: out of memory");
            goto out;
        }
        if (!read_delivery(st, &out->items[out->n])) {
            rc = corrupt("delivery", r);
            goto out;
        }
        out->n++;
    }
    if (step != SQLITE_DONE)
        rc = db_fail(m, "list deliveries", r);
out:
    done(m, st);
    if (rc)
        store_delivery_list_release(out);
    return rc;
}

/* ---- files ---- */

#define FILE_COLS                                                            \
    "id, order_id, delivery, name, size, sha256, mime, kind, preview,"       \
    " reason, preview_sha256, preview_mime, created_at, buyer_views,"        \
    " buyer_downloads, salt, commitment, purged_at, poster_sha256, poster_mime"

static bool read_file(sqlite3_stmt *st, store_file *f)
{
    f->delivery = sqlite3_column_int(st, 2);
    f->size = sqlite3_column_int64(st, 4);
    f->buyer_views = sqlite3_column_int64(st, 13);
    f->buyer_downloads = sqlite3_column_int64(st, 14);
    return store_sqlite_col(st, 0, f->id, sizeof f->id) &&
           store_sqlite_col(st, 1, f->order_id, sizeof f->order_id) &&
           store_sqlite_col(st, 3, f->name, sizeof f->name) &&
           store_sqlite_col(st, 5, f->sha256, sizeof f->sha256) &&
           store_sqlite_col(st, 6, f->mime, sizeof f->mime) &&
           store_sqlite_col(st, 7, f->kind, sizeof f->kind) &&
           store_sqlite_col(st, 8, f->preview, sizeof f->preview) &&
           store_sqlite_col(st, 9, f->reason, sizeof f->reason) &&
           store_sqlite_col(st, 10, f->preview_sha256, sizeof f->preview_sha256) &&
           store_sqlite_col(st, 11, f->preview_mime, sizeof f->preview_mime) &&
           store_sqlite_col(st, 12, f->created_at, sizeof f->created_at) &&
           store_sqlite_col(st, 15, f->salt, sizeof f->salt) &&
           store_sqlite_col(st, 16, f->commitment, sizeof f->commitment) &&
           store_sqlite_col(st, 17, f->purged_at, sizeof f->purged_at) &&
           store_sqlite_col(st, 18, f->poster_sha256, sizeof f->poster_sha256) &&
           store_sqlite_col(st, 19, f->poster_mime, sizeof f->poster_mime);
}

static fg_result sq_file_insert(store_meta *m, const store_file *f,
                                fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m,
                        "INSERT INTO files(id, order_id, delivery, name, size,"
                        " sha256, mime, kind, preview, reason, preview_sha256,"
                        " preview_mime, created_at, salt, commitment) VALUES"
                        " (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
                        &st, r);
    if (rc)
        return rc;
    const char *v[] = {f->id, f->order_id};
    const char *w[] = {f->name};
    const char *x[] = {f->sha256, f->mime, f->kind, f->preview, f->reason,
                       f->preview_sha256, f->preview_mime, f->created_at,
                       f->salt, f->commitment};
    bool ok = bind_texts(st, 2, v) &&
              sqlite3_bind_int(st, 3, f->delivery) == SQLITE_OK &&
              sqlite3_bind_text(st, 4, w[0], -1, SQLITE_STATIC) == SQLITE_OK &&
              sqlite3_bind_int64(st, 5, f->size) == SQLITE_OK;
    for (int i = 0; ok && i < 10; i++)
        ok = sqlite3_bind_text(st, 6 + i, x[i], -1, SQLITE_STATIC) == SQLITE_OK;
    if (!ok) {
        rc = db_fail(m, "add the file", r);
    } else if (sqlite3_step(st) != SQLITE_DONE) {
        int ext = sqlite3_extended_errcode(db_of(m));
        if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
            rc = fg_fail(r, FG_ENOTFOUND, "no such delivery");
        else if (ext == SQLITE_CONSTRAINT_UNIQUE)
            rc = fg_fail(r, FG_ESTATE, "a file with this id exists already");
        else
            rc = db_fail(m, "add the file", r);
    }
    done(m, st);
    return rc;
}

static fg_result sq_file_set_preview(store_meta *m, const char *id,
                                     const char *preview, const char *reason,
                                     const char *psha, const char *pmime,
                                     fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {id, preview, reason, psha, pmime};
    fg_result rc = prep(m,
                        "UPDATE files SET preview = ?2, reason = ?3,"
                        " preview_sha256 = ?4, preview_mime = ?5 WHERE id = ?1",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 5, v) || sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "update the preview", r);
    else if (sqlite3_changes(db_of(m)) != 1)
        rc = fg_fail(r, FG_ENOTFOUND, "no such file");
    done(m, st);
    return rc;
}

static fg_result sq_file_set_poster(store_meta *m, const char *id, const char *psha,
                                    const char *pmime, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {id, psha, pmime};
    fg_result rc = prep(m, "UPDATE files SET poster_sha256 = ?2, poster_mime = ?3 WHERE id = ?1",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 3, v) || sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "update the poster", r);
    else if (sqlite3_changes(db_of(m)) != 1)
        rc = fg_fail(r, FG_ENOTFOUND, "no such file");
    done(m, st);
    return rc;
}

static fg_result sq_file_get(store_meta *m, const char *id, store_file *out,
                             fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m, "SELECT " FILE_COLS " FROM files WHERE id = ?1",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE)
        rc = fg_fail(r, FG_ENOTFOUND, "no such file");
    else if (step != SQLITE_ROW)
        rc = db_fail(m, "read the file", r);
    else if (!read_file(st, out))
        rc = corrupt("file", r);
    done(m, st);
    return rc;
}

static fg_result sq_file_list(store_meta *m, const char *order_id, int delivery,
                              store_file_list *out, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int step;
    fg_result rc = prep(m,
                        "SELECT " FILE_COLS " FROM files WHERE order_id = ?1"
                        " AND (?2 = 0 OR delivery = ?2)"
                        " ORDER BY delivery, seq LIMIT ?3",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, delivery);
    sqlite3_bind_int64(st, 3, FG_MAX_LIST_ROWS);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow((void **)&out->items, out->n, &cap, sizeof *out->items)) {
            rc = fg_fail(r, FG_EIO, "cannot list files: out of memory");
            goto out;
        }
        if (!read_file(st, &out->items[out->n])) {
            rc = corrupt("file", r);
            goto out;
        }
        out->n++;
    }
    if (step != SQLITE_DONE)
        rc = db_fail(m, "list files", r);
out:
    done(m, st);
    if (rc)
        store_file_list_release(out);
    return rc;
}

static fg_result sq_file_count(store_meta *m, const char *id,
                               store_counter which, int64_t *after,
                               fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    /* Column names cannot be bound: pick one of two fixed statements. */
    const char *sql =
        which == STORE_COUNT_BUYER_VIEW
            ? "UPDATE files SET buyer_views = buyer_views + 1 WHERE id = ?1"
              " RETURNING buyer_views"
            : "UPDATE files SET buyer_downloads = buyer_downloads + 1"
              " WHERE id = ?1 RETURNING buyer_downloads";
    fg_result rc = prep(m, sql, &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *after = sqlite3_column_int64(st, 0);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(m, "count the file", r);
    } else if (step == SQLITE_DONE) {
        rc = fg_fail(r, FG_ENOTFOUND, "no such file");
    } else {
        rc = db_fail(m, "count the file", r);
    }
    done(m, st);
    return rc;
}

/* ---- webhooks ---- */

static fg_result sq_webhook_insert(store_meta *m, const char *id,
                                   const char *at, bool *seen, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {id, at};
    fg_result rc = prep(m,
                        "INSERT INTO webhooks(id, at) VALUES (?1, ?2)"
                        " ON CONFLICT(id) DO NOTHING",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 2, v) || sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "record the webhook id", r);
    else
        *seen = sqlite3_changes(db_of(m)) == 0;
    done(m, st);
    return rc;
}

/* ---- outbox ---- */

static fg_result sq_outbox_insert(store_meta *m, const char *type,
                                  const char *order_id, const char *payload,
                                  const char *created_at, int64_t now,
                                  int64_t *id, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {created_at, type, order_id, payload};
    fg_result rc = prep(m,
                        "INSERT INTO outbox(created_at, type, order_id,"
                        " payload, next_attempt_at) VALUES (?1,?2,?3,?4,?5)",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 4, v) || sqlite3_bind_int64(st, 5, now) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "record the event", r);
    else
        *id = sqlite3_last_insert_rowid(db_of(m));
    done(m, st);
    return rc;
}

#define OUTBOX_COLS                                                          \
    "id, created_at, type, order_id, payload, attempts, next_attempt_at,"    \
    " last_error, state, sent_at"

/* Fills e from a row; e->payload is a new heap copy the caller frees. */
static fg_result read_outbox(sqlite3_stmt *st, store_outbox_event *e,
                             fg_reason *r)
{
    e->id = sqlite3_column_int64(st, 0);
    e->attempts = sqlite3_column_int(st, 5);
    e->next_attempt_at = sqlite3_column_int64(st, 6);
    e->payload = NULL;
    if (!store_sqlite_col(st, 1, e->created_at, sizeof e->created_at) ||
        !store_sqlite_col(st, 2, e->type, sizeof e->type) ||
        !store_sqlite_col(st, 3, e->order_id, sizeof e->order_id) ||
        !store_sqlite_col(st, 7, e->last_error, sizeof e->last_error) ||
        !store_sqlite_col(st, 8, e->state, sizeof e->state) ||
        !store_sqlite_col(st, 9, e->sent_at, sizeof e->sent_at))
        return corrupt("outbox", r);
    const unsigned char *p = sqlite3_column_text(st, 4);
    size_t n = p ? (size_t)sqlite3_column_bytes(st, 4) : 0;
    e->payload = malloc(n + 1);
    if (!e->payload)
        return fg_fail(r, FG_EIO, "cannot read the outbox: out of memory");
    memcpy(e->payload, p ? (const char *)p : "", n);
    e->payload[n] = '\0';
    return FG_OK;
}

static fg_result sq_outbox_oldest(store_meta *m, char created_at[STORE_TIME_MAX], fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    int step;
    fg_result rc = prep(m,
                        "SELECT created_at FROM outbox WHERE state = 'pending'"
                        " ORDER BY id LIMIT 1",
                        &st, r);
    if (rc)
        return rc;
    if ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(created_at, STORE_TIME_MAX, "%s", t ? (const char *)t : "");
    } else if (step != SQLITE_DONE) {
        rc = db_fail(m, "read the outbox", r);
    }
    done(m, st);
    return rc;
}

static fg_result sq_outbox_due(store_meta *m, int64_t now, size_t limit,
                               store_outbox_list *out, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int step;
    fg_result rc = prep(m,
                        "SELECT " OUTBOX_COLS " FROM outbox"
                        " WHERE state = 'pending' AND next_attempt_at <= ?1"
                        " ORDER BY next_attempt_at, id LIMIT ?2",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow((void **)&out->items, out->n, &cap, sizeof *out->items)) {
            rc = fg_fail(r, FG_EIO, "cannot read the outbox: out of memory");
            goto out;
        }
        rc = read_outbox(st, &out->items[out->n], r);
        if (out->items[out->n].payload)
            out->n++; /* so release frees it, even on a later failure */
        if (rc)
            goto out;
    }
    if (step != SQLITE_DONE)
        rc = db_fail(m, "read the outbox", r);
out:
    done(m, st);
    if (rc)
        store_outbox_list_release(out);
    return rc;
}

static fg_result sq_outbox_update(store_meta *m, int64_t id, const char *state,
                                  int64_t next, const char *error,
                                  const char *sent_at, bool *updated,
                                  fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {state, error, sent_at};
    fg_result rc = prep(m,
                        "UPDATE outbox SET state = ?1, last_error = COALESCE(?2, last_error),"
                        " sent_at = COALESCE(?3, sent_at),"
                        " attempts = attempts + 1,"
                        " next_attempt_at = CASE WHEN ?1 = 'pending' THEN ?5"
                        "   ELSE next_attempt_at END"
                        " WHERE id = ?4 AND state = 'pending'",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 3, v) || sqlite3_bind_int64(st, 4, id) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, next) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "update the event", r);
    else
        *updated = sqlite3_changes(db_of(m)) == 1;
    done(m, st);
    return rc;
}

static fg_result sq_outbox_list_state(store_meta *m, const char *state, int64_t after,
                                      size_t limit, store_outbox_list *out, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int step;
    fg_result rc = prep(m,
                        "SELECT " OUTBOX_COLS " FROM outbox"
                        " WHERE state = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow((void **)&out->items, out->n, &cap, sizeof *out->items)) {
            rc = fg_fail(r, FG_EIO, "cannot read the outbox: out of memory");
            goto out;
        }
        rc = read_outbox(st, &out->items[out->n], r);
        if (out->items[out->n].payload)
            out->n++;
        if (rc)
            goto out;
    }
    if (step != SQLITE_DONE)
        rc = db_fail(m, "read the outbox", r);
out:
    done(m, st);
    if (rc)
        store_outbox_list_release(out);
    return rc;
}

static fg_result sq_outbox_replay(store_meta *m, int64_t id, int64_t now, bool *updated,
                                  fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m,
                        "UPDATE outbox SET state = 'pending', attempts = 0,"
                        " next_attempt_at = ?2 WHERE id = ?1 AND state = 'dead'",
                        &st, r);
    if (rc)
        return rc;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, now) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "replay the event", r);
    else
        *updated = sqlite3_changes(db_of(m)) == 1;
    done(m, st);
    return rc;
}

/* The outbox claim (in store_sqlite_job_ops, storage/jobs_impl.h).
 * One UPDATE inside store_outbox_claim's BEGIN IMMEDIATE: the write lock
 * is held from the pick to the move, so a second connection's claim sees
 * the new next_attempt_at and skips the rows. RETURNING gives no order:
 * the rows are sorted by id after (they all share the lease end now). */
static int by_id(const void *a, const void *b)
{
    int64_t x = ((const store_outbox_event *)a)->id;
    int64_t y = ((const store_outbox_event *)b)->id;
    return (x > y) - (x < y);
}

fg_result store_sqlite_outbox_claim(store_meta *m, int64_t now, int64_t until,
                                    size_t limit, store_outbox_list *out,
                                    fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int step;
    fg_result rc = prep(m,
                        "UPDATE outbox SET next_attempt_at = ?2 WHERE id IN ("
                        " SELECT id FROM outbox WHERE state = 'pending'"
                        "  AND next_attempt_at <= ?1"
                        "  ORDER BY next_attempt_at, id LIMIT ?3)"
                        " RETURNING " OUTBOX_COLS,
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, until);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow((void **)&out->items, out->n, &cap, sizeof *out->items)) {
            rc = fg_fail(r, FG_EIO, "cannot claim events: out of memory");
            goto out;
        }
        rc = read_outbox(st, &out->items[out->n], r);
        if (out->items[out->n].payload)
            out->n++; /* so release frees it, even on a later failure */
        if (rc)
            goto out;
    }
    if (step != SQLITE_DONE)
        rc = db_fail(m, "claim events", r);
out:
    done(m, st);
    if (rc)
        store_outbox_list_release(out);
    else if (out->n > 1)
        qsort(out->items, out->n, sizeof *out->items, by_id);
    return rc;
}

fg_result store_sqlite_outbox_release(store_meta *m, int64_t id, int64_t until,
                                      int64_t now, bool *released, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m,
                        "UPDATE outbox SET next_attempt_at = ?3"
                        " WHERE id = ?1 AND state = 'pending' AND next_attempt_at = ?2",
                        &st, r);
    if (rc)
        return rc;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, until) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, now) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "give an event back", r);
    else
        *released = sqlite3_changes(db_of(m)) == 1;
    done(m, st);
    return rc;
}

/* ---- audit (one chain per order; the SQL is the model for every
 * backend: storage/meta_impl.h) ---- */

static fg_result sq_audit_head(store_meta *m, const char *chain, int64_t *seq,
                               char hash[STORE_HEX_MAX], fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    /* BEGIN IMMEDIATE holds the write lock already: the placeholder row
     * only gives audit_insert a row to move, as under PostgreSQL. */
    fg_result rc = prep(m,
                        "INSERT OR IGNORE INTO audit_heads(chain, seq, hash, at, checkpointed)"
                        " VALUES (?1, 0, '" STORE_AUDIT_GENESIS "', '', 0)",
                        &st, r);
    if (rc)
        return rc;
    if (sqlite3_bind_text(st, 1, chain, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "lock the audit chain's head", r);
    done(m, st);
    if (rc || (rc = prep(m, "SELECT seq, hash FROM audit_heads WHERE chain = ?1", &st, r)))
        return rc;
    if (sqlite3_bind_text(st, 1, chain, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        rc = db_fail(m, "read the audit chain's head", r);
    else if ((*seq = sqlite3_column_int64(st, 0)) < 0 ||
             !store_sqlite_col(st, 1, hash, STORE_HEX_MAX))
        rc = corrupt("audit head", r);
    done(m, st);
    return rc;
}

static fg_result sq_audit_insert(store_meta *m, const store_audit_entry *e,
                                 fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {e->order_id, e->at, e->actor, e->action, e->detail, e->prev_hash, e->hash};
    fg_result rc = prep(m,
                        "INSERT INTO audit(order_id, chain, chain_seq, at, actor, action,"
                        " detail, prev_hash, hash) VALUES"
                        " (NULLIF(?1, ''), ?1, ?8, ?2, ?3, ?4, ?5, ?6, ?7)",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 7, v) || sqlite3_bind_int64(st, 8, e->chain_seq) != SQLITE_OK)
        rc = db_fail(m, "append to the audit trail", r);
    else if (sqlite3_step(st) != SQLITE_DONE)
        rc = sqlite3_extended_errcode(db_of(m)) == SQLITE_CONSTRAINT_UNIQUE
                 ? fg_fail(r, FG_ESTATE, "the audit chain of order '%s' moved", e->order_id)
                 : db_fail(m, "append to the audit trail", r);
    done(m, st);
    if (rc || (rc = prep(m,
                         "UPDATE audit_heads SET seq = ?2, hash = ?3, at = ?4"
                         " WHERE chain = ?1 AND seq = ?2 - 1",
                         &st, r)))
        return rc;
    if (sqlite3_bind_text(st, 1, e->order_id, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, e->chain_seq) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, e->hash, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 4, e->at, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "move the audit chain's head", r);
    else if (sqlite3_changes(db_of(m)) != 1)
        rc = fg_fail(r, FG_ESTATE, "the audit chain of order '%s' moved", e->order_id);
    done(m, st);
    return rc;
}

#define AUDIT_COLS "seq, chain, chain_seq, at, actor, action, detail, prev_hash, hash"

/* Fills e from a row; e->detail is a new heap copy the caller frees (NULL
 * when the row is impossible: FG_ECORRUPT, seq, chain_seq and, if it
 * fits, the chain still set). */
static fg_result read_audit(sqlite3_stmt *st, store_audit_entry *e,
                            fg_reason *r)
{
    e->seq = sqlite3_column_int64(st, 0);
    e->chain_seq = sqlite3_column_int64(st, 2);
    e->detail = NULL;
    if (!store_sqlite_col(st, 1, e->order_id, sizeof e->order_id)) {
        e->order_id[0] = '\0';
        return corrupt("audit", r);
    }
    if (!store_sqlite_col(st, 3, e->at, sizeof e->at) ||
        !store_sqlite_col(st, 4, e->actor, sizeof e->actor) ||
        !store_sqlite_col(st, 5, e->action, sizeof e->action) ||
        !store_sqlite_col(st, 7, e->prev_hash, sizeof e->prev_hash) ||
        !store_sqlite_col(st, 8, e->hash, sizeof e->hash))
        return corrupt("audit", r);
    const unsigned char *d = sqlite3_column_text(st, 6);
    size_t n = d ? (size_t)sqlite3_column_bytes(st, 6) : 0;
    e->detail = malloc(n + 1);
    if (!e->detail)
        return fg_fail(r, FG_EIO, "cannot read the audit trail: out of memory");
    memcpy(e->detail, d ? (const char *)d : "", n);
    e->detail[n] = '\0';
    return FG_OK;
}

static fg_result sq_audit_get(store_meta *m, const char *chain, int64_t chain_seq,
                              store_audit_entry *out, bool *found, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    *found = false;
    out->detail = NULL;
    fg_result rc = prep(m,
                        "SELECT " AUDIT_COLS " FROM audit WHERE chain = ?1 AND chain_seq = ?2",
                        &st, r);
    if (rc)
        return rc;
    int step = SQLITE_ERROR;
    if (sqlite3_bind_text(st, 1, chain, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, chain_seq) != SQLITE_OK ||
        ((step = sqlite3_step(st)) != SQLITE_ROW && step != SQLITE_DONE))
        rc = db_fail(m, "read an audit entry", r);
    else if (step == SQLITE_ROW) {
        rc = read_audit(st, out, r);
        *found = rc == FG_OK;
        if (rc) {
            free(out->detail);
            out->detail = NULL;
        }
    }
    done(m, st);
    return rc;
}

static fg_result sq_audit_list(store_meta *m, const char *chain,
                               int64_t after, size_t limit,
                               store_audit_list *out, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int step;
    fg_result rc = prep(m,
                        chain ? "SELECT " AUDIT_COLS " FROM audit"
                                " WHERE chain = ?1 AND chain_seq > ?2"
                                " ORDER BY chain_seq LIMIT ?3"
                              : "SELECT " AUDIT_COLS " FROM audit"
                                " WHERE ?1 IS NULL AND seq > ?2"
                                " ORDER BY seq LIMIT ?3",
                        &st, r);
    if (rc)
        return rc;
    if (chain)
        sqlite3_bind_text(st, 1, chain, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow((void **)&out->items, out->n, &cap, sizeof *out->items)) {
            rc = fg_fail(r, FG_EIO, "cannot list the audit trail: out of memory");
            goto out;
        }
        rc = read_audit(st, &out->items[out->n], r);
        if (out->items[out->n].detail)
            out->n++; /* so release frees it, even on a later failure */
        if (rc)
            goto out;
    }
    if (step != SQLITE_DONE)
        rc = db_fail(m, "list the audit trail", r);
out:
    done(m, st);
    if (rc)
        store_audit_list_release(out);
    return rc;
}

static fg_result sq_audit_each(store_meta *m, store_audit_fn fn, void *ctx,
                               fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    store_audit_entry e;
    int step;
    fg_result rc = prep(m, "SELECT " AUDIT_COLS " FROM audit ORDER BY chain, chain_seq", &st,
                        r);
    if (rc)
        return rc;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = read_audit(st, &e, r);
        if (rc == FG_ECORRUPT) {
            /* An impossible row is a broken chain, not a failed read. */
            store_audit_entry bad = {.seq = e.seq, .chain_seq = e.chain_seq, .hash = "-"};
            memcpy(bad.order_id, e.order_id, sizeof bad.order_id);
            rc = fn(ctx, &bad, r);
        } else if (rc == FG_OK) {
            rc = fn(ctx, &e, r);
        }
        free(e.detail);
        if (rc)
            goto out;
    }
    if (step != SQLITE_DONE)
        rc = db_fail(m, "read the audit trail", r);
out:
    done(m, st);
    return rc;
}

static fg_result sq_audit_heads_page(store_meta *m, bool changed_only, const char *after_chain,
                                     size_t limit, store_audit_head *out, size_t *n,
                                     fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    int step = SQLITE_DONE;
    *n = 0;
    fg_result rc = prep(m,
                        changed_only
                            ? "SELECT chain, seq, hash, at, checkpointed FROM audit_heads"
                              " WHERE (?1 IS NULL OR chain > ?1) AND seq >= 1"
                              " AND seq > checkpointed ORDER BY chain LIMIT ?2"
                            : "SELECT chain, seq, hash, at, checkpointed FROM audit_heads"
                              " WHERE (?1 IS NULL OR chain > ?1) AND seq >= 1"
                              " ORDER BY chain LIMIT ?2",
                        &st, r);
    if (rc)
        return rc;
    if ((after_chain && sqlite3_bind_text(st, 1, after_chain, -1, SQLITE_STATIC) != SQLITE_OK) ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)limit) != SQLITE_OK) {
        rc = db_fail(m, "read the audit heads", r);
        goto out;
    }
    while (*n < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
        store_audit_head *h = &out[*n];
        h->seq = sqlite3_column_int64(st, 1);
        h->checkpointed = sqlite3_column_int64(st, 4);
        if (!store_sqlite_col(st, 0, h->chain, sizeof h->chain) ||
            !store_sqlite_col(st, 2, h->hash, sizeof h->hash) ||
            !store_sqlite_col(st, 3, h->at, sizeof h->at)) {
            rc = corrupt("audit head", r);
            goto out;
        }
        (*n)++;
    }
    if (*n < limit && step != SQLITE_DONE)
        rc = db_fail(m, "read the audit heads", r);
out:
    done(m, st);
    return rc;
}

static fg_result sq_audit_checkpoint_last(store_meta *m, int64_t *seq, char hash[STORE_HEX_MAX],
                                          fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m, "SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
                        &st, r);
    if (rc)
        return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        *seq = 0;
        memcpy(hash, STORE_AUDIT_GENESIS, STORE_HEX_MAX);
    } else if (step != SQLITE_ROW) {
        rc = db_fail(m, "read the last audit checkpoint", r);
    } else {
        *seq = sqlite3_column_int64(st, 0);
        if (!store_sqlite_col(st, 1, hash, STORE_HEX_MAX))
            rc = corrupt("audit checkpoint", r);
    }
    done(m, st);
    return rc;
}

static fg_result sq_audit_checkpoint_insert(store_meta *m, const store_audit_checkpoint *c,
                                            const store_audit_head *heads, size_t n,
                                            fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {c->at, c->heads, c->legacy, c->prev_hash, c->hash};
    fg_result rc = prep(m,
                        "INSERT INTO audit_checkpoints(seq, at, heads, legacy, prev_hash, hash)"
                        " VALUES (?6, ?1, ?2, ?3, ?4, ?5)",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 5, v) || sqlite3_bind_int64(st, 6, c->seq) != SQLITE_OK)
        rc = db_fail(m, "write an audit checkpoint", r);
    else if (sqlite3_step(st) != SQLITE_DONE)
        rc = sqlite3_extended_errcode(db_of(m)) == SQLITE_CONSTRAINT_PRIMARYKEY
                 ? fg_fail(r, FG_ESTATE, "audit checkpoint %lld was written by another pass",
                           (long long)c->seq)
                 : db_fail(m, "write an audit checkpoint", r);
    done(m, st);
    if (rc || (rc = prep(m,
                         "UPDATE audit_heads SET checkpointed = ?2"
                         " WHERE chain = ?1 AND checkpointed < ?2",
                         &st, r)))
        return rc;
    for (size_t i = 0; i < n && rc == FG_OK; i++) {
        if (sqlite3_reset(st) != SQLITE_OK ||
            sqlite3_bind_text(st, 1, heads[i].chain, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, heads[i].seq) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(m, "mark an audit head checkpointed", r);
    }
    done(m, st);
    return rc;
}

static fg_result sq_audit_checkpoint_get(store_meta *m, int64_t seq, store_audit_checkpoint *out,
                                         bool *found, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    *found = false;
    memset(out, 0, sizeof *out);
    fg_result rc = prep(m,
                        "SELECT seq, at, heads, legacy, prev_hash, hash FROM audit_checkpoints"
                        " WHERE seq = ?1",
                        &st, r);
    if (rc)
        return rc;
    int step = SQLITE_ERROR;
    if (sqlite3_bind_int64(st, 1, seq) != SQLITE_OK ||
        ((step = sqlite3_step(st)) != SQLITE_ROW && step != SQLITE_DONE)) {
        rc = db_fail(m, "read an audit checkpoint", r);
    } else if (step == SQLITE_ROW) {
        out->seq = sqlite3_column_int64(st, 0);
        const unsigned char *h = sqlite3_column_text(st, 2);
        size_t len = h ? (size_t)sqlite3_column_bytes(st, 2) : 0;
        if (!store_sqlite_col(st, 1, out->at, sizeof out->at) ||
            !store_sqlite_col(st, 3, out->legacy, sizeof out->legacy) ||
            !store_sqlite_col(st, 4, out->prev_hash, sizeof out->prev_hash) ||
            !store_sqlite_col(st, 5, out->hash, sizeof out->hash)) {
            rc = corrupt("audit checkpoint", r);
        } else if (!(out->heads = malloc(len + 1))) {
            rc = fg_fail(r, FG_EIO, "cannot read an audit checkpoint: out of memory");
        } else {
            memcpy(out->heads, h ? (const char *)h : "", len);
            out->heads[len] = '\0';
            *found = true;
        }
    }
    done(m, st);
    return rc;
}

/* ---- traceable marks ---- */

static fg_result sq_trace_put(store_meta *m, const char *payload, const char *order_id,
                              const char *buyer_id, const char *file_id, const char *created_at,
                              fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {payload, order_id, buyer_id, file_id, created_at};
    fg_result rc = prep(m,
                        "INSERT INTO trace_marks(payload, order_id, buyer_id, file_id,"
                        " created_at) VALUES (?1, ?2, ?3, ?4, ?5)"
                        " ON CONFLICT(payload) DO NOTHING",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 5, v) || sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "record a trace", r);
    done(m, st);
    return rc;
}

static fg_result sq_trace_get(store_meta *m, const char *payload, store_trace_mark *out,
                              bool *found, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m,
                        "SELECT order_id, buyer_id, file_id, created_at FROM trace_marks"
                        " WHERE payload = ?1",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, payload, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    *found = step == SQLITE_ROW;
    if (step == SQLITE_ROW) {
        if (!store_sqlite_col(st, 0, out->order_id, sizeof out->order_id) ||
            !store_sqlite_col(st, 1, out->buyer_id, sizeof out->buyer_id) ||
            !store_sqlite_col(st, 2, out->file_id, sizeof out->file_id) ||
            !store_sqlite_col(st, 3, out->created_at, sizeof out->created_at))
            rc = fg_fail(r, FG_ECORRUPT, "trace row holds an impossible value");
    } else if (step != SQLITE_DONE) {
        rc = db_fail(m, "read a trace", r);
    }
    done(m, st);
    return rc;
}

/* ---- blob references ---- */

static fg_result sq_blob_ref_touch(store_meta *m, const char *hex, int64_t now,
                                   fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m,
                        "INSERT INTO blob_refs(sha256, refs, seen_at)"
                        " VALUES (?1, 0, ?2) ON CONFLICT(sha256) DO UPDATE"
                        " SET seen_at = MAX(seen_at, excluded.seen_at)",
                        &st, r);
    if (rc)
        return rc;
    if (sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, now) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "register a blob", r);
    done(m, st);
    return rc;
}

static fg_result sq_blob_ref_get(store_meta *m, const char *hex, int64_t *refs,
                                 int64_t *seen_at, bool *known, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m, "SELECT refs, seen_at FROM blob_refs WHERE sha256 = ?1",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    *known = step == SQLITE_ROW;
    if (step == SQLITE_ROW) {
        *refs = sqlite3_column_int64(st, 0);
        *seen_at = sqlite3_column_int64(st, 1);
    } else if (step != SQLITE_DONE) {
        rc = db_fail(m, "read a blob's references", r);
    }
    done(m, st);
    return rc;
}

static fg_result sq_blob_ref_unused(store_meta *m, int64_t cutoff, size_t limit,
                                    char (*hexes)[STORE_HEX_MAX], size_t *n,
                                    fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    int step = SQLITE_DONE;
    *n = 0;
    fg_result rc = prep(m,
                        "SELECT sha256 FROM blob_refs WHERE refs = 0"
                        " AND seen_at <= ?1 ORDER BY seen_at LIMIT ?2",
                        &st, r);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, cutoff);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    while (*n < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!store_sqlite_col(st, 0, hexes[*n], STORE_HEX_MAX)) {
            rc = corrupt("blob reference", r);
            goto out;
        }
        (*n)++;
    }
    if (*n < limit && step != SQLITE_DONE)
        rc = db_fail(m, "list unused blobs", r);
out:
    done(m, st);
    return rc;
}

static fg_result sq_blob_ref_drop(store_meta *m, const char *hex, int64_t cutoff,
                                  bool *dropped, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m,
                        "DELETE FROM blob_refs WHERE sha256 = ?1 AND refs = 0"
                        " AND seen_at <= ?2",
                        &st, r);
    if (rc)
        return rc;
    if (sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, cutoff) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "forget an unused blob", r);
    else
        *dropped = sqlite3_changes(db_of(m)) == 1;
    done(m, st);
    return rc;
}

/* ---- idempotency keys ---- */

static fg_result sq_idem_get(store_meta *m, const char *seller_id,
                             const char *order_id, const char *key,
                             int64_t *claimed_at, char *token, char *fingerprint,
                             int *delivery, bool *found, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {seller_id, order_id, key};
    fg_result rc = prep(m,
                        "SELECT claimed_at, token, fingerprint, COALESCE(delivery, 0)"
                        " FROM idempotency_keys"
                        " WHERE seller_id = ?1 AND order_id = ?2 AND key = ?3",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 3, v)) {
        rc = db_fail(m, "read an idempotency key", r);
        goto out;
    }
    int step = sqlite3_step(st);
    *found = step == SQLITE_ROW;
    if (step == SQLITE_ROW) {
        *claimed_at = sqlite3_column_int64(st, 0);
        *delivery = sqlite3_column_int(st, 3);
        if (!store_sqlite_col(st, 1, token, STORE_FILE_ID_MAX) || !store_sqlite_col(st, 2, fingerprint, STORE_HEX_MAX))
            rc = corrupt("idempotency key", r);
    } else if (step != SQLITE_DONE) {
        rc = db_fail(m, "read an idempotency key", r);
    }
out:
    done(m, st);
    return rc;
}

static fg_result sq_idem_put(store_meta *m, const char *seller_id,
                             const char *order_id, const char *key,
                             const char *token, int64_t claimed_at, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {seller_id, order_id, key, token};
    fg_result rc = prep(m,
                        "INSERT OR REPLACE INTO idempotency_keys(seller_id, order_id,"
                        " key, token, fingerprint, delivery, claimed_at)"
                        " VALUES (?1, ?2, ?3, ?4, '', NULL, ?5)",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 4, v) || sqlite3_bind_int64(st, 5, claimed_at) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "claim an idempotency key", r);
    done(m, st);
    return rc;
}

static fg_result sq_idem_complete(store_meta *m, const char *seller_id,
                                  const char *order_id, const char *key,
                                  const char *token, const char *fingerprint,
                                  int delivery, bool *updated, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {seller_id, order_id, key, token, fingerprint};
    fg_result rc = prep(m,
                        "UPDATE idempotency_keys SET fingerprint = ?5, delivery = ?6"
                        " WHERE seller_id = ?1 AND order_id = ?2 AND key = ?3"
                        " AND token = ?4 AND delivery IS NULL",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 5, v) || sqlite3_bind_int(st, 6, delivery) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "record an idempotency key", r);
    else
        *updated = sqlite3_changes(db_of(m)) == 1;
    done(m, st);
    return rc;
}

static fg_result sq_idem_release(store_meta *m, const char *seller_id,
                                 const char *order_id, const char *key,
                                 const char *token, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {seller_id, order_id, key, token};
    fg_result rc = prep(m,
                        "DELETE FROM idempotency_keys WHERE seller_id = ?1"
                        " AND order_id = ?2 AND key = ?3 AND token = ?4"
                        " AND delivery IS NULL",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 4, v) || sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "release an idempotency key", r);
    done(m, st);
    return rc;
}

static fg_result sq_idem_expire(store_meta *m, int64_t before, int64_t *n, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = prep(m, "DELETE FROM idempotency_keys WHERE claimed_at <= ?1", &st, r);
    if (rc)
        return rc;
    if (sqlite3_bind_int64(st, 1, before) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "expire idempotency keys", r);
    else
        *n = sqlite3_changes(db_of(m));
    done(m, st);
    return rc;
}

/* ---- retention ---- */

static fg_result sq_purge_due(store_meta *m, const char *state, const char *cutoff,
                              size_t limit, char (*ids)[FG_MAX_ID + 1], size_t *n,
                              fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    int step = SQLITE_DONE;
    *n = 0;
    /* A cancelled order's closing time is its order.cancelled audit entry
     * (orders keep no cancelled_at); an accepted one's is released_at. */
    fg_result rc = prep(m,
                        "SELECT o.id FROM orders o WHERE o.state = ?1"
                        " AND EXISTS (SELECT 1 FROM files f WHERE f.order_id = o.id"
                        "   AND f.purged_at = '')"
                        " AND CASE o.state"
                        "   WHEN 'accepted' THEN o.released_at <= ?2"
                        "   ELSE (SELECT MAX(a.at) FROM audit a WHERE a.chain = o.id"
                        "     AND a.action = 'order.' || o.state) <= ?2 END"
                        " ORDER BY o.id LIMIT ?3",
                        &st, r);
    if (rc)
        return rc;
    const char *v[] = {state, cutoff};
    if (!bind_texts(st, 2, v) || sqlite3_bind_int64(st, 3, (sqlite3_int64)limit) != SQLITE_OK) {
        rc = db_fail(m, "list orders due for purging", r);
        goto out;
    }
    while (*n < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!store_sqlite_col(st, 0, ids[*n], FG_MAX_ID + 1)) {
            rc = corrupt("order", r);
            goto out;
        }
        (*n)++;
    }
    if (*n < limit && step != SQLITE_DONE)
        rc = db_fail(m, "list orders due for purging", r);
out:
    done(m, st);
    return rc;
}

static fg_result sq_purge_files(store_meta *m, const char *order_id, const char *at,
                                int64_t *n, fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    const char *v[] = {order_id, at};
    fg_result rc = prep(m,
                        "UPDATE files SET purged_at = ?2"
                        " WHERE order_id = ?1 AND purged_at = ''",
                        &st, r);
    if (rc)
        return rc;
    if (!bind_texts(st, 2, v) || sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(m, "purge the files", r);
    else
        *n = sqlite3_changes(db_of(m));
    done(m, st);
    return rc;
}

static const store_meta_ops sqlite_ops = {
    .name = "sqlite",
    .free = sq_free,
    .schema_version = sq_schema_version,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .order_insert = sq_order_insert,
    .order_get = sq_order_get,
    .order_set_preview_pages = sq_order_set_preview_pages,
    .order_cas_state = sq_order_cas_state,
    .delivery_insert = sq_delivery_insert,
    .delivery_get = sq_delivery_get,
    .delivery_list = sq_delivery_list,
    .file_insert = sq_file_insert,
    .file_set_preview = sq_file_set_preview,
    .file_set_poster = sq_file_set_poster,
    .file_get = sq_file_get,
    .file_list = sq_file_list,
    .file_count = sq_file_count,
    .webhook_insert = sq_webhook_insert,
    .outbox_insert = sq_outbox_insert,
    .outbox_due = sq_outbox_due,
    .outbox_oldest = sq_outbox_oldest,
    .outbox_update = sq_outbox_update,
    .outbox_list_state = sq_outbox_list_state,
    .outbox_replay = sq_outbox_replay,
    .trace_put = sq_trace_put,
    .trace_get = sq_trace_get,
    .blob_ref_touch = sq_blob_ref_touch,
    .blob_ref_get = sq_blob_ref_get,
    .blob_ref_unused = sq_blob_ref_unused,
    .blob_ref_drop = sq_blob_ref_drop,
    .idem_get = sq_idem_get,
    .idem_put = sq_idem_put,
    .idem_complete = sq_idem_complete,
    .idem_release = sq_idem_release,
    .idem_expire = sq_idem_expire,
    .purge_due = sq_purge_due,
    .purge_files = sq_purge_files,
    .audit_head = sq_audit_head,
    .audit_insert = sq_audit_insert,
    .audit_list = sq_audit_list,
    .audit_each = sq_audit_each,
    .audit_get = sq_audit_get,
    .audit_heads_page = sq_audit_heads_page,
    .audit_checkpoint_last = sq_audit_checkpoint_last,
    .audit_checkpoint_insert = sq_audit_checkpoint_insert,
    .audit_checkpoint_get = sq_audit_checkpoint_get,
    .jobs = &store_sqlite_job_ops,
    .uploads = &store_sqlite_upload_ops,
    .links = &store_sqlite_link_ops,
};

/* Runs a pragma that answers with one row and checks the answer (a pragma
 * the library does not know is silently ignored, so check). */
static fg_result pragma(sqlite3 *db, const char *sql, const char *want,
                        fg_reason *r)
{
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = fg_fail(r, FG_EIO, "cannot set up the database: %s",
                     sqlite3_errmsg(db));
        goto out;
    }
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = fg_fail(r, FG_EIO, "cannot set up the database: %s",
                     sqlite3_errmsg(db));
        goto out;
    }
    if (want) {
        const unsigned char *got = step == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
        if (!got || strcmp((const char *)got, want) != 0)
            rc = fg_fail(r, FG_EIO, "cannot set up the database: %s is not %s",
                         sql, want);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* Switches a database to WAL. On a fresh file that takes an exclusive
 * lock, and when several handles open it at once SQLite answers "busy" at
 * once instead of waiting (the busy handler is skipped where waiting could
 * deadlock), so the switch is retried for up to about two seconds. */
static fg_result wal_mode(sqlite3 *db, fg_reason *r)
{
    fg_result rc = FG_OK;
    for (int attempt = 0; attempt < 200; attempt++) {
        rc = pragma(db, "PRAGMA journal_mode=WAL", "wal", r);
        int code = sqlite3_errcode(db);
        if (rc == FG_OK || (code != SQLITE_BUSY && code != SQLITE_LOCKED))
            return rc;
        usleep(5000 + (unsigned)(attempt % 7) * 1000);
    }
    return rc;
}

/* Process-wide SQLite settings, before its first use. Every handle
 * belongs to one thread (meta.h), so SQLite's per-connection mutexes are
 * not needed (MULTITHREAD), and its allocation statistics, which take one
 * global mutex on every allocation, made the worker's threads queue on
 * each other (futex waits) for numbers nobody reads. */
static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

fg_result store_meta_open_sqlite(const char *path, store_meta **out,
                                 fg_reason *r)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, configure_sqlite);
    meta_sqlite *s = NULL;
    fg_result rc;
    *out = NULL;
    if (!path || !*path)
        return fg_fail(r, FG_EUSAGE, "no database path given");
    s = calloc(1, sizeof *s);
    if (!s)
        return fg_fail(r, FG_EIO, "cannot open the database: out of memory");
    s->base.ops = &sqlite_ops;
    s->base.tx = STORE_TX_NONE;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                SQLITE_OPEN_EXRESCODE;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        /* The message may name the path: keep it out of the reason. */
        rc = fg_fail(r, FG_EIO, "cannot open the database: %s",
                     sqlite3_errstr(sqlite3_errcode(s->db)));
        goto out;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* synchronous=FULL: see meta.h (a webhook answered 200 must survive a
     * power cut; commits are few: uploads and webhooks, not reads). */
    if ((rc = wal_mode(s->db, r)) ||
        (rc = pragma(s->db, "PRAGMA foreign_keys=ON", NULL, r)) ||
        (rc = pragma(s->db, "PRAGMA foreign_keys", "1", r)) ||
        (rc = pragma(s->db, "PRAGMA synchronous=FULL", NULL, r)) ||
        (rc = store_sqlite_migrate(s->db, r)))
        goto out;
    *out = &s->base;
    s = NULL;
out:
    if (s) {
        sqlite3_close_v2(s->db);
        free(s);
    }
    return rc;
}
