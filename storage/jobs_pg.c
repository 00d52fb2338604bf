/* The PostgreSQL job queue and the outbox's claims (storage/jobs_impl.h).
 * Input has been checked by storage/jobs.c and storage/outbox.c.
 *
 * Claims across nodes. SQLite's claim picks and marks under the one write
 * lock of the database; here several nodes claim at once, and a claim
 * must neither hand one row to two claimers nor make them queue behind
 * each other. The pick is a subquery with FOR UPDATE SKIP LOCKED: each
 * claimer locks the first due row no one else holds and skips the rows
 * other claims hold, and the UPDATE around it marks the locked row in the
 * same statement. A row another claim marked and committed since this
 * statement's snapshot is locked in its new version and its WHERE checked
 * again (READ COMMITTED), so it is skipped too: no job, and no outbox
 * event, is claimed twice. Every other UPDATE here is guarded by its
 * WHERE (state, owner, lease end), which READ COMMITTED re-checks on the
 * newest row version after waiting for a concurrent writer. */
#include "storage/meta_pg_impl.h"

#include <stdlib.h>
#include <string.h>

#define COLS                                                                     \
    "id, kind, subject, COALESCE(order_id, ''), state, attempts, lease_owner, "   \
    "lease_until, run_at, last_error, created_at, updated_at"

static store_pg *pg_of(store_meta *m)
{
    return store_meta_pg_conn(m);
}

/* The number of rows an INSERT, UPDATE or DELETE touched. */
static int64_t changed(PGresult *res)
{
    return strtoll(PQcmdTuples(res), NULL, 10);
}

static fg_result read_job(const PGresult *res, int row, store_job *j, fg_reason *r)
{
    int64_t attempts = 0;
    memset(j, 0, sizeof *j);
    if (!store_pg_col_i64(res, row, 0, &j->id) || !store_pg_col_i64(res, row, 5, &attempts) ||
        !store_pg_col_i64(res, row, 7, &j->lease_until) ||
        !store_pg_col_i64(res, row, 8, &j->run_at) ||
        !store_pg_col(res, row, 1, j->kind, sizeof j->kind) ||
        !store_pg_col(res, row, 2, j->subject, sizeof j->subject) ||
        !store_pg_col(res, row, 3, j->order_id, sizeof j->order_id) ||
        !store_pg_col(res, row, 4, j->state, sizeof j->state) ||
        !store_pg_col(res, row, 6, j->lease_owner, sizeof j->lease_owner) ||
        !store_pg_col(res, row, 9, j->last_error, sizeof j->last_error) ||
        !store_pg_col(res, row, 10, j->created_at, sizeof j->created_at) ||
        !store_pg_col(res, row, 11, j->updated_at, sizeof j->updated_at) || attempts < 0 ||
        attempts > 1000000000)
        return fg_fail(r, FG_ECORRUPT, "job row holds an impossible value");
    j->attempts = (int)attempts;
    return FG_OK;
}

/* The partial unique index jobs_active makes a second active job of the
 * same kind and subject a no-op; ON CONFLICT without a target covers a
 * partial index, and a concurrent insert of the same pair waits for the
 * first to commit, then does nothing. */
static fg_result pg_add(store_meta *m, const char *kind, const char *subject,
                        const char *order_id, int64_t run_at, const char *now, bool *added,
                        int64_t *id, fg_reason *r)
{
    PGresult *res = NULL;
    char at[24];
    const char *p[] = {kind, subject, order_id, store_pg_i64(at, run_at), now};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "INSERT INTO jobs(kind, subject, order_id, run_at, created_at,"
                                 " updated_at) VALUES ($1, $2, $3, $4, $5, $5)"
                                 " ON CONFLICT DO NOTHING RETURNING id",
                                 5, p, &res, "record a job", r);
    if (rc)
        return rc;
    *added = PQntuples(res) == 1;
    if (*added && !store_pg_col_i64(res, 0, 0, id))
        rc = fg_fail(r, FG_ECORRUPT, "job row holds an impossible value");
    PQclear(res);
    return rc;
}

static fg_result pg_claim(store_meta *m, const char *owner, int64_t now, int64_t lease_until,
                          const char *now_text, store_job *out, bool *got, fg_reason *r)
{
    PGresult *res = NULL;
    char until[24], at[24];
    const char *p[] = {owner, store_pg_i64(until, lease_until), now_text, store_pg_i64(at, now)};
    *got = false;
    fg_result rc = store_pg_exec(pg_of(m),
                                 "UPDATE jobs SET state = 'running', lease_owner = $1,"
                                 " lease_until = $2, attempts = attempts + 1, updated_at = $3"
                                 " WHERE id = (SELECT id FROM jobs"
                                 "   WHERE (state = 'pending' AND run_at <= $4)"
                                 "      OR (state = 'running' AND lease_until <= $4)"
                                 "   ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                                 " RETURNING " COLS,
                                 4, p, &res, "claim a job", r);
    if (rc)
        return rc;
    if (PQntuples(res) == 1 && (rc = read_job(res, 0, out, r)) == FG_OK)
        *got = true;
    PQclear(res);
    return rc;
}

static fg_result pg_finish(store_meta *m, int64_t id, const char *owner, const char *state,
                           const char *error, const char *now_text, bool *updated,
                           fg_reason *r)
{
    PGresult *res = NULL;
    char idt[24];
    const char *p[] = {state, error, now_text, store_pg_i64(idt, id), owner};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "UPDATE jobs SET state = $1, last_error = $2, lease_owner = '',"
                                 " lease_until = 0, updated_at = $3"
                                 " WHERE id = $4 AND state = 'running' AND lease_owner = $5",
                                 5, p, &res, "end a job", r);
    if (rc)
        return rc;
    *updated = changed(res) == 1;
    PQclear(res);
    return FG_OK;
}

static fg_result pg_list(store_meta *m, const char *state, size_t limit, store_job_list *out,
                         fg_reason *r)
{
    PGresult *res = NULL;
    char lim[24];
    const char *p[] = {state, store_pg_i64(lim, (int64_t)limit)};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "SELECT " COLS " FROM jobs WHERE"
                                 " ($1::text IS NULL AND state IN ('pending','running','failed'))"
                                 " OR state = $1 ORDER BY id LIMIT $2",
                                 2, p, &res, "list jobs", r);
    if (rc)
        return rc;
    int n = PQntuples(res);
    if (n > 0 && !(out->items = calloc((size_t)n, sizeof *out->items)))
        rc = fg_fail(r, FG_EIO, "cannot list jobs: out of memory");
    for (int i = 0; rc == FG_OK && i < n; i++)
        if ((rc = read_job(res, i, &out->items[i], r)) == FG_OK)
            out->n++;
    PQclear(res);
    return rc;
}

static fg_result pg_count(store_meta *m, const char *state, int64_t *n, fg_reason *r)
{
    PGresult *res = NULL;
    const char *p[] = {state};
    fg_result rc = store_pg_exec(pg_of(m), "SELECT count(*) FROM jobs WHERE state = $1", 1, p,
                                 &res, "count jobs", r);
    if (rc)
        return rc;
    if (PQntuples(res) != 1 || !store_pg_col_i64(res, 0, 0, n))
        rc = fg_fail(r, FG_EIO, "cannot count jobs: no count returned");
    PQclear(res);
    return rc;
}

static fg_result pg_rebuild(store_meta *m, const char *order_id, int64_t run_at,
                            const char *now, int64_t *added, fg_reason *r)
{
    PGresult *res = NULL;
    char at[24];
    const char *p[] = {order_id, store_pg_i64(at, run_at), now};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "INSERT INTO jobs(kind, subject, order_id, run_at, created_at,"
                                 " updated_at)"
                                 " SELECT 'preview', f.id, f.order_id, $2, $3, $3 FROM files f"
                                 " JOIN orders o ON o.id = f.order_id"
                                 " WHERE f.kind <> 'other' AND ($1::text IS NULL OR f.order_id = $1)"
                                 "   AND o.state <> 'cancelled'"
                                 " ORDER BY f.seq ON CONFLICT DO NOTHING",
                                 3, p, &res, "record rebuild jobs", r);
    if (rc)
        return rc;
    *added = changed(res);
    PQclear(res);
    return FG_OK;
}

/* starts_with, not LIKE: a host name may hold '_', which LIKE reads as a
 * wildcard. A plain read: the release re-checks every row it changes. */
static fg_result pg_owners(store_meta *m, const char *prefix, size_t limit,
                           store_job_owners *out, fg_reason *r)
{
    PGresult *res = NULL;
    char lim[24];
    const char *p[] = {prefix, store_pg_i64(lim, (int64_t)limit)};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "SELECT DISTINCT lease_owner FROM jobs WHERE state = 'running'"
                                 " AND starts_with(lease_owner, $1)"
                                 " ORDER BY lease_owner LIMIT $2",
                                 2, p, &res, "list the lease owners", r);
    if (rc)
        return rc;
    int n = PQntuples(res);
    if (n > 0 && !(out->items = calloc((size_t)n, sizeof *out->items)))
        rc = fg_fail(r, FG_EIO, "cannot list the lease owners: out of memory");
    for (int i = 0; rc == FG_OK && i < n; i++) {
        if (!store_pg_col(res, i, 0, out->items[i], STORE_JOB_OWNER_MAX))
            rc = fg_fail(r, FG_ECORRUPT, "job row holds an impossible lease owner");
        else
            out->n++;
    }
    PQclear(res);
    return rc;
}

/* Guarded by state and owner in the statement itself: a row a concurrent
 * claim holds is waited for and its WHERE checked again on the new
 * version, so a job claimed again since the listing is left alone. */
static fg_result pg_release_owner(store_meta *m, const char *owner, const char *now_text,
                                  int64_t *released, fg_reason *r)
{
    PGresult *res = NULL;
    const char *p[] = {now_text, owner};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "UPDATE jobs SET state = 'pending', lease_owner = '',"
                                 " lease_until = 0, last_error = 'its runner died',"
                                 " updated_at = $1"
                                 " WHERE state = 'running' AND lease_owner = $2",
                                 2, p, &res, "release a dead runner's jobs", r);
    if (rc)
        return rc;
    *released = changed(res);
    PQclear(res);
    return FG_OK;
}

/* updated_at is text in one form and COLLATE "C" (storage/schema_pg.c),
 * so the string comparison is the time order, as on SQLite. */
static fg_result pg_prune(store_meta *m, const char *before, int64_t *removed, fg_reason *r)
{
    PGresult *res = NULL;
    const char *p[] = {before};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "DELETE FROM jobs WHERE state = 'done' AND updated_at < $1", 1, p,
                                 &res, "prune finished jobs", r);
    if (rc)
        return rc;
    *removed = changed(res);
    PQclear(res);
    return FG_OK;
}

/* ---- the outbox's claims ---- */

#define OUTBOX_COLS                                                          \
    "o.id, o.created_at, o.type, COALESCE(o.order_id, ''), o.payload,"       \
    " o.attempts, o.next_attempt_at, o.last_error, o.state,"                 \
    " COALESCE(o.sent_at, '')"

/* Fills e from row i; e->payload is a new heap copy the list frees. */
static fg_result read_event(const PGresult *res, int i, store_outbox_event *e, fg_reason *r)
{
    int64_t attempts = 0;
    memset(e, 0, sizeof *e);
    if (!store_pg_col_i64(res, i, 0, &e->id) || !store_pg_col_i64(res, i, 5, &attempts) ||
        !store_pg_col_i64(res, i, 6, &e->next_attempt_at) ||
        !store_pg_col(res, i, 1, e->created_at, sizeof e->created_at) ||
        !store_pg_col(res, i, 2, e->type, sizeof e->type) ||
        !store_pg_col(res, i, 3, e->order_id, sizeof e->order_id) ||
        !store_pg_col(res, i, 7, e->last_error, sizeof e->last_error) ||
        !store_pg_col(res, i, 8, e->state, sizeof e->state) ||
        !store_pg_col(res, i, 9, e->sent_at, sizeof e->sent_at) || attempts < 0 ||
        attempts > 1000000000)
        return fg_fail(r, FG_ECORRUPT, "outbox row holds an impossible value");
    e->attempts = (int)attempts;
    size_t n = (size_t)PQgetlength(res, i, 4);
    if (!(e->payload = malloc(n + 1)))
        return fg_fail(r, FG_EIO, "cannot claim events: out of memory");
    memcpy(e->payload, PQgetvalue(res, i, 4), n);
    e->payload[n] = '\0';
    return FG_OK;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = ((const store_outbox_event *)a)->id;
    int64_t y = ((const store_outbox_event *)b)->id;
    return (x > y) - (x < y);
}

/* The pick locks its rows (SKIP LOCKED: another sender's rows are passed
 * over, not waited for) and the UPDATE moves them to the lease end in the
 * same statement, so a second sender never sees them due. The pick is a
 * WITH query, run once, whatever plan the UPDATE gets. */
static fg_result pg_outbox_claim(store_meta *m, int64_t now, int64_t until, size_t limit,
                                 store_outbox_list *out, fg_reason *r)
{
    PGresult *res = NULL;
    char nt[24], ut[24], lim[24];
    const char *p[] = {store_pg_i64(nt, now), store_pg_i64(ut, until),
                       store_pg_i64(lim, (int64_t)limit)};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "WITH c AS (SELECT id FROM outbox WHERE state = 'pending'"
                                 "  AND next_attempt_at <= $1"
                                 "  ORDER BY next_attempt_at, id LIMIT $3"
                                 "  FOR UPDATE SKIP LOCKED)"
                                 " UPDATE outbox o SET next_attempt_at = $2 FROM c"
                                 " WHERE o.id = c.id RETURNING " OUTBOX_COLS,
                                 3, p, &res, "claim events", r);
    if (rc)
        return rc;
    int n = PQntuples(res);
    if (n > 0 && !(out->items = calloc((size_t)n, sizeof *out->items)))
        rc = fg_fail(r, FG_EIO, "cannot claim events: out of memory");
    for (int i = 0; rc == FG_OK && i < n; i++) {
        rc = read_event(res, i, &out->items[i], r);
        if (out->items[i].payload)
            out->n++; /* so the list's release frees it */
    }
    PQclear(res);
    if (rc == FG_OK && out->n > 1)
        qsort(out->items, out->n, sizeof *out->items, by_id);
    return rc;
}

static fg_result pg_outbox_release(store_meta *m, int64_t id, int64_t until, int64_t now,
                                   bool *released, fg_reason *r)
{
    PGresult *res = NULL;
    char it[24], ut[24], nt[24];
    const char *p[] = {store_pg_i64(it, id), store_pg_i64(ut, until), store_pg_i64(nt, now)};
    fg_result rc = store_pg_exec(pg_of(m),
                                 "UPDATE outbox SET next_attempt_at = $3"
                                 " WHERE id = $1 AND state = 'pending' AND next_attempt_at = $2",
                                 3, p, &res, "give an event back", r);
    if (rc)
        return rc;
    *released = changed(res) == 1;
    PQclear(res);
    return FG_OK;
}

const store_job_ops store_pg_job_ops = {
    .add = pg_add,
    .claim = pg_claim,
    .finish = pg_finish,
    .list = pg_list,
    .count = pg_count,
    .rebuild_previews = pg_rebuild,
    .owners = pg_owners,
    .release_owner = pg_release_owner,
    .prune = pg_prune,
    .outbox_claim = pg_outbox_claim,
    .outbox_release = pg_outbox_release,
};
