/* The SQLite job queue. Input has been checked by storage/jobs.c. */
#include "storage/jobs_impl.h"
#include "storage/meta_impl.h"
#include "storage/schema_sqlite.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define COLS                                                                     \
    "id, kind, subject, COALESCE(order_id, ''), state, attempts, lease_owner, "   \
    "lease_until, run_at, last_error, created_at, updated_at"

static fg_result fail(store_meta *m, const char *what, fg_reason *r)
{
    return store_sqlite_fail(m, what, r);
}

static fg_result read_job(sqlite3_stmt *st, store_job *j, fg_reason *r)
{
    memset(j, 0, sizeof *j);
    j->id = sqlite3_column_int64(st, 0);
    j->attempts = sqlite3_column_int(st, 5);
    j->lease_until = sqlite3_column_int64(st, 7);
    j->run_at = sqlite3_column_int64(st, 8);
    if (!store_sqlite_col(st, 1, j->kind, sizeof j->kind) || !store_sqlite_col(st, 2, j->subject, sizeof j->subject) ||
        !store_sqlite_col(st, 3, j->order_id, sizeof j->order_id) || !store_sqlite_col(st, 4, j->state, sizeof j->state) ||
        !store_sqlite_col(st, 6, j->lease_owner, sizeof j->lease_owner) ||
        !store_sqlite_col(st, 9, j->last_error, sizeof j->last_error) ||
        !store_sqlite_col(st, 10, j->created_at, sizeof j->created_at) ||
        !store_sqlite_col(st, 11, j->updated_at, sizeof j->updated_at))
        return fg_fail(r, FG_ECORRUPT, "job row holds an impossible value");
    return FG_OK;
}

static fg_result sq_add(store_meta *m, const char *kind, const char *subject,
                        const char *order_id, int64_t run_at, const char *now, bool *added,
                        int64_t *id, fg_reason *r)
{
    sqlite3 *db = store_sqlite_db(m);
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    /* The partial unique index jobs_active makes a second active job of
     * the same kind and subject a no-op. */
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO jobs(kind, subject, order_id, run_at, created_at,"
                           " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                           " ON CONFLICT DO NOTHING RETURNING id",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(m, "prepare a job", r);
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
    if (order_id)
        sqlite3_bind_text(st, 3, order_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, run_at);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    *added = s == SQLITE_ROW;
    if (s == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        s = sqlite3_step(st);
    }
    if (s != SQLITE_DONE)
        rc = fail(m, "record a job", r);
    sqlite3_finalize(st);
    return rc;
}

/* One statement, inside the caller's BEGIN IMMEDIATE (storage/jobs.c):
 * the write lock is held from the pick to the mark, so no other
 * connection can claim the same row in between. On PostgreSQL the same
 * claim is the subquery with FOR UPDATE SKIP LOCKED:
 *
 *   UPDATE jobs SET state = 'running', ... WHERE id = (
 *     SELECT id FROM jobs WHERE (state = 'pending' AND run_at <= $now)
 *        OR (state = 'running' AND lease_until <= $now)
 *     ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
 *   RETURNING ...;
 *
 * where concurrent claimers on several nodes skip each other's rows
 * instead of queueing on one lock. */
static fg_result sq_claim(store_meta *m, const char *owner, int64_t now, int64_t lease_until,
                          const char *now_text, store_job *out, bool *got, fg_reason *r)
{
    sqlite3 *db = store_sqlite_db(m);
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    *got = false;
    if (sqlite3_prepare_v2(db,
                           "UPDATE jobs SET state = 'running', lease_owner = ?1,"
                           " lease_until = ?2, attempts = attempts + 1, updated_at = ?3"
                           " WHERE id = (SELECT id FROM ("
                           "   SELECT id, run_at FROM jobs WHERE state = 'pending'"
                           "     AND run_at <= ?4"
                           "   UNION ALL SELECT id, run_at FROM jobs WHERE state = 'running'"
                           "     AND lease_until <= ?4)"
                           "   ORDER BY run_at, id LIMIT 1)"
                           " RETURNING " COLS,
                           -1, &st, NULL) != SQLITE_OK)
        return fail(m, "prepare a claim", r);
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, lease_until);
    sqlite3_bind_text(st, 3, now_text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        if ((rc = read_job(st, out, r)) == FG_OK)
            *got = true;
        s = sqlite3_step(st);
    }
    if (rc == FG_OK && s != SQLITE_DONE)
        rc = fail(m, "claim a job", r);
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_finish(store_meta *m, int64_t id, const char *owner, const char *state,
                           const char *error, const char *now_text, bool *updated,
                           fg_reason *r)
{
    sqlite3 *db = store_sqlite_db(m);
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    if (sqlite3_prepare_v2(db,
                           "UPDATE jobs SET state = ?1, last_error = ?2, lease_owner = '',"
                           " lease_until = 0, updated_at = ?3"
                           " WHERE id = ?4 AND state = 'running' AND lease_owner = ?5",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(m, "prepare a job's end", r);
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, now_text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, id);
    sqlite3_bind_text(st, 5, owner, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = fail(m, "end a job", r);
    else
        *updated = sqlite3_changes(db) == 1;
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_list(store_meta *m, const char *state, size_t limit, store_job_list *out,
                         fg_reason *r)
{
    sqlite3 *db = store_sqlite_db(m);
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    size_t cap = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT " COLS " FROM jobs WHERE"
                           " (?1 IS NULL AND state IN ('pending','running','failed'))"
                           " OR state = ?1 ORDER BY id LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(m, "prepare the job list", r);
    if (state)
        sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            store_job *p = realloc(out->items, nc * sizeof *p);
            if (!p) {
                rc = fg_fail(r, FG_EIO, "out of memory");
                break;
            }
            out->items = p;
            cap = nc;
        }
        if ((rc = read_job(st, &out->items[out->n], r)) != FG_OK)
            break;
        out->n++;
    }
    if (rc == FG_OK && s != SQLITE_DONE)
        rc = fail(m, "list jobs", r);
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_count(store_meta *m, const char *state, int64_t *n, fg_reason *r)
{
    sqlite3 *db = store_sqlite_db(m);
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM jobs WHERE state = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(m, "prepare a job count", r);
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        rc = fail(m, "count jobs", r);
    sqlite3_finalize(st);
    return rc;
}

static fg_result sq_rebuild(store_meta *m, const char *order_id, int64_t run_at,
                            const char *now, int64_t *added, fg_reason *r)
{
    sqlite3 *db = store_sqlite_db(m);
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO jobs(kind, subject, order_id, run_at, created_at,"
                           " updated_at)"
                           " SELECT 'preview', f.id, f.order_id, ?2, ?3, ?3 FROM files f"
                           " JOIN orders o ON o.id = f.order_id"
                           " WHERE f.kind <> 'other' AND (?1 IS NULL OR f.order_id = ?1)"
                           "   AND o.state <> 'cancelled'"
                           " ORDER BY f.seq ON CONFLICT DO NOTHING",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(m, "prepare a rebuild", r);
    if (order_id)
        sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, run_at);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = fail(m, "record rebuild jobs", r);
    else
        *added = sqlite3_changes(db);
    sqlite3_finalize(st);
    return rc;
}

/* The prefix is compared with substr, not LIKE: a host name may hold '_',
 * which LIKE reads as a wildcard. The partial index jobs_running keeps
 * this to the running rows. On PostgreSQL:
 *
 *   SELECT DISTINCT lease_owner FROM jobs
 *    WHERE state = 'running' AND starts_with(lease_owner, $1)
 *    ORDER BY lease_owner LIMIT $2;
 *
 * a plain read: the release below re-checks every row it changes. */
static fg_result sq_owners(store_meta *m, const char *prefix, size_t limit,
                           store_job_owners *out, fg_reason *r)
{
    sqlite3 *db = store_sqlite_db(m);
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    size_t cap = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT DISTINCT lease_owner FROM jobs WHERE state = 'running'"
                           " AND substr(lease_owner, 1, length(?1)) = ?1"
                           " ORDER BY lease_owner LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(m, "prepare the lease owners' list", r);
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char(*p)[STORE_JOB_OWNER_MAX] = realloc(out->items, nc * sizeof *p);
            if (!p) {
                rc = fg_fail(r, FG_EIO, "out of memory");
                break;
            }
            out->items = p;
            cap = nc;
        }
        if (!store_sqlite_col(st, 0, out->items[out->n], STORE_JOB_OWNER_MAX)) {
            rc = fg_fail(r, FG_ECORRUPT, "job row holds an impossible lease owner");
            break;
        }
        out->n++;
    }
    if (rc == FG_OK && s != SQLITE_DONE)
        rc = fail(m, "list the lease owners", r);
    sqlite3_finalize(st);
    return rc;
}

/* Guarded by state and owner in the statement itself, so a job finished
 * or claimed again after the owners were listed is not touched. attempts
 * is left as it is: the claim that died counts. On PostgreSQL the same
 * UPDATE (READ COMMITTED) waits for a row a concurrent claim holds and
 * re-checks the WHERE on the row's new version, with the same effect. */
static fg_result sq_release_owner(store_meta *m, const char *owner, const char *now_text,
                                  int64_t *released, fg_reason *r)
{
    sqlite3 *db = store_sqlite_db(m);
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    if (sqlite3_prepare_v2(db,
                           "UPDATE jobs SET state = 'pending', lease_owner = '',"
                           " lease_until = 0, last_error = 'its runner died',"
                           " updated_at = ?1"
                           " WHERE state = 'running' AND lease_owner = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(m, "prepare a lease release", r);
    sqlite3_bind_text(st, 1, now_text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = fail(m, "release a dead runner's jobs", r);
    else
        *released = sqlite3_changes(db);
    sqlite3_finalize(st);
    return rc;
}

/* A full scan of jobs: the pass runs every few minutes and the table
 * holds at most FILIGRANE_JOB_KEEP worth of finished jobs. */
static fg_result sq_prune(store_meta *m, const char *before, int64_t *removed, fg_reason *r)
{
    sqlite3 *db = store_sqlite_db(m);
    sqlite3_stmt *st = NULL;
    fg_result rc = FG_OK;
    if (sqlite3_prepare_v2(db, "DELETE FROM jobs WHERE state = 'done' AND updated_at < ?1", -1,
                           &st, NULL) != SQLITE_OK)
        return fail(m, "prepare a job prune", r);
    sqlite3_bind_text(st, 1, before, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = fail(m, "prune finished jobs", r);
    else
        *removed = sqlite3_changes(db);
    sqlite3_finalize(st);
    return rc;
}

const store_job_ops store_sqlite_job_ops = {
    .prune = sq_prune,
    .owners = sq_owners,
    .release_owner = sq_release_owner,
    .rebuild_previews = sq_rebuild,
    .add = sq_add,
    .claim = sq_claim,
    .finish = sq_finish,
    .list = sq_list,
    .count = sq_count,
    .outbox_claim = store_sqlite_outbox_claim,
    .outbox_release = store_sqlite_outbox_release,
};
