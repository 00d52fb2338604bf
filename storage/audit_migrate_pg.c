/* Schema step 9's C part for PostgreSQL: the single global audit chain
 * becomes one chain per order, exactly as storage/audit_migrate_sqlite.c
 * does it for SQLite (read its head comment: the same rules, the same
 * hashes, the same legacy checkpoint). Runs in the migration's
 * transaction, which holds the migration lock, so nothing appends
 * meanwhile. */
#include "storage/meta_pg_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/audit.h"

/* Old rows read per query: memory stays bounded whatever the trail. */
#define PAGE 1000

struct legacy {
    int64_t entries;
    int64_t broken_at; /* old seq of the first broken row, 0 if none */
    char head[STORE_HEX_MAX];
};

/* Moves one old row e (v1 fields) into its order's chain. */
static fg_result move_one(store_pg *pg, store_audit_entry *e, fg_reason *r)
{
    PGresult *res = NULL;
    const char *hv[] = {e->order_id};
    fg_result rc = store_pg_exec(pg, "SELECT seq, hash FROM audit_heads WHERE chain = $1", 1, hv,
                                 &res, "read an audit head", r);
    if (rc)
        return rc;
    e->chain_seq = 0;
    memcpy(e->prev_hash, STORE_AUDIT_GENESIS, STORE_HEX_MAX);
    if (PQntuples(res) == 1 && (!store_pg_col_i64(res, 0, 0, &e->chain_seq) ||
                                !store_pg_col(res, 0, 1, e->prev_hash, STORE_HEX_MAX)))
        rc = fg_fail(r, FG_EIO, "cannot read an audit head");
    PQclear(res);
    if (rc)
        return rc;
    e->chain_seq++;
    if ((rc = store_audit_hash(e, e->hash, r)))
        return rc;
    char sb[24], cb[24];
    const char *v[] = {store_pg_i64(sb, e->seq), e->order_id, store_pg_i64(cb, e->chain_seq),
                       e->at, e->actor, e->action, e->detail, e->prev_hash, e->hash};
    if ((rc = store_pg_exec(pg,
                            "INSERT INTO audit(seq, order_id, chain, chain_seq, at, actor,"
                            " action, detail, prev_hash, hash)"
                            " VALUES ($1, NULLIF($2, ''), $2, $3, $4, $5, $6, $7, $8, $9)",
                            9, v, NULL, "move an audit entry", r)))
        return rc;
    const char *u[] = {e->order_id, cb, e->hash, e->at};
    return store_pg_exec(pg,
                         "INSERT INTO audit_heads(chain, seq, hash, at, checkpointed)"
                         " VALUES ($1, $2, $3, $4, 0) ON CONFLICT (chain) DO UPDATE"
                         " SET seq = excluded.seq, hash = excluded.hash, at = excluded.at",
                         4, u, NULL, "move an audit entry", r);
}

/* Moves every row of audit_v1, checking the old chain as it goes. */
static fg_result move_rows(store_pg *pg, struct legacy *l, fg_reason *r)
{
    char prev[STORE_HEX_MAX] = STORE_AUDIT_GENESIS, want[STORE_HEX_MAX];
    int64_t prev_seq = 0, after = 0;
    fg_result rc = FG_OK;
    for (;;) {
        PGresult *res = NULL;
        char ab[24], lb[24];
        const char *v[] = {store_pg_i64(ab, after), store_pg_i64(lb, PAGE)};
        if ((rc = store_pg_exec(pg,
                                "SELECT seq, COALESCE(order_id, ''), at, actor, action, detail,"
                                " prev_hash, hash FROM audit_v1 WHERE seq > $1 ORDER BY seq"
                                " LIMIT $2",
                                2, v, &res, "read the old audit trail", r)))
            return rc;
        int n = PQntuples(res);
        for (int i = 0; i < n && rc == FG_OK; i++) {
            store_audit_entry e = {0};
            if (!store_pg_col_i64(res, i, 0, &e.seq) ||
                !store_pg_col(res, i, 1, e.order_id, sizeof e.order_id) ||
                !store_pg_col(res, i, 2, e.at, sizeof e.at) ||
                !store_pg_col(res, i, 3, e.actor, sizeof e.actor) ||
                !store_pg_col(res, i, 4, e.action, sizeof e.action) ||
                !store_pg_col(res, i, 6, e.prev_hash, sizeof e.prev_hash) ||
                !store_pg_col(res, i, 7, e.hash, sizeof e.hash)) {
                rc = fg_fail(r, FG_ECORRUPT,
                             "cannot move the audit trail to per-order chains: its entry %" PRId64
                             " holds an impossible value (the database was altered)",
                             e.seq);
                break;
            }
            e.detail = PQgetvalue(res, i, 5); /* borrowed until PQclear */
            after = e.seq;
            l->entries++;
            memcpy(l->head, e.hash, STORE_HEX_MAX);
            if ((rc = store_audit_hash_v1(&e, want, r)))
                break;
            if (l->broken_at == 0 && (e.seq != prev_seq + 1 || strcmp(e.prev_hash, prev) != 0 ||
                                      strcmp(e.hash, want) != 0))
                l->broken_at = e.seq;
            prev_seq = e.seq;
            memcpy(prev, e.hash, STORE_HEX_MAX);
            rc = move_one(pg, &e, r);
        }
        PQclear(res);
        if (rc || n < PAGE)
            return rc;
    }
}

/* Checkpoints naming every head, STORE_AUDIT_CHECKPOINT_HEADS at a time;
 * the first carries the legacy record. */
static fg_result checkpoint_all(store_pg *pg, const struct legacy *l, fg_reason *r)
{
    store_audit_head *h = calloc(STORE_AUDIT_CHECKPOINT_HEADS, sizeof *h);
    store_audit_checkpoint c = {0};
    char after[FG_MAX_ID + 1] = "";
    size_t n;
    fg_result rc = FG_OK;
    if (!h)
        return fg_fail(r, FG_EIO, "cannot checkpoint the moved audit trail: out of memory");
    store_time_now(c.at);
    memcpy(c.prev_hash, l->head, STORE_HEX_MAX);
    snprintf(c.legacy, sizeof c.legacy,
             "{\"entries\":%" PRId64 ",\"head\":\"%s\",\"broken_at\":%" PRId64 "}", l->entries,
             l->head, l->broken_at);
    do {
        PGresult *res = NULL;
        char lb[24];
        const char *v[] = {c.seq > 0 ? after : NULL,
                           store_pg_i64(lb, STORE_AUDIT_CHECKPOINT_HEADS)};
        if ((rc = store_pg_exec(pg,
                                "SELECT chain, seq, hash FROM audit_heads WHERE seq >= 1"
                                " AND ($1::text IS NULL OR chain > $1) ORDER BY chain LIMIT $2",
                                2, v, &res, "read the audit heads", r)))
            goto out;
        n = 0;
        for (int i = 0; i < PQntuples(res) && n < STORE_AUDIT_CHECKPOINT_HEADS; i++, n++) {
            if (!store_pg_col(res, i, 0, h[n].chain, sizeof h[n].chain) ||
                !store_pg_col_i64(res, i, 1, &h[n].seq) ||
                !store_pg_col(res, i, 2, h[n].hash, sizeof h[n].hash)) {
                rc = fg_fail(r, FG_EIO, "cannot read an audit head");
                break;
            }
        }
        PQclear(res);
        if (rc)
            goto out;
        if (n == 0 && c.seq > 0)
            break;
        c.seq++;
        free(c.heads);
        c.heads = NULL;
        if ((rc = store_audit_heads_text(h, n, &c.heads, r)) ||
            (rc = store_audit_checkpoint_hash(&c, c.hash, r)))
            goto out;
        char sb[24];
        const char *w[] = {store_pg_i64(sb, c.seq), c.at, c.heads, c.legacy, c.prev_hash, c.hash};
        if ((rc = store_pg_exec(pg,
                                "INSERT INTO audit_checkpoints(seq, at, heads, legacy, prev_hash,"
                                " hash) VALUES ($1, $2, $3, $4, $5, $6)",
                                6, w, NULL, "write an audit checkpoint", r)))
            goto out;
        /* The next one chains to this one and has no legacy record. */
        memcpy(c.prev_hash, c.hash, STORE_HEX_MAX);
        c.legacy[0] = '\0';
        if (n > 0)
            memcpy(after, h[n - 1].chain, sizeof after);
    } while (n == STORE_AUDIT_CHECKPOINT_HEADS);
    rc = store_pg_exec(pg, "UPDATE audit_heads SET checkpointed = seq WHERE seq >= 1", 0, NULL,
                       NULL, "mark the audit heads checkpointed", r);
out:
    free(c.heads);
    free(h);
    return rc;
}

fg_result store_pg_audit_rechain(store_pg *pg, fg_reason *r)
{
    struct legacy l = {.head = STORE_AUDIT_GENESIS};
    fg_result rc = move_rows(pg, &l, r);
    if (rc)
        return rc;
    /* A database that never had an entry has nothing to vouch for. */
    if (l.entries > 0 && (rc = checkpoint_all(pg, &l, r)))
        return rc;
    /* The moved rows kept their seq: new entries are numbered after them. */
    if ((rc = store_pg_exec(pg,
                            "SELECT setval(pg_get_serial_sequence('audit', 'seq'),"
                            " GREATEST((SELECT MAX(seq) FROM audit), 1),"
                            " (SELECT MAX(seq) FROM audit) IS NOT NULL)",
                            0, NULL, NULL, "number the moved audit entries", r)))
        return rc;
    if (l.broken_at == 0)
        return store_pg_exec(pg, "DROP TABLE audit_v1", 0, NULL, NULL,
                             "finish moving the audit trail", r);
    /* Kept for whoever investigates: append-only again, whatever was done
     * to its triggers before the upgrade. */
    PGresult *res = PQexec(store_pg_conn_ptr(pg),
                           "ALTER TABLE audit_v1 ENABLE TRIGGER USER;"
                           "DROP TRIGGER IF EXISTS audit_v1_no_change ON audit_v1;"
                           "CREATE TRIGGER audit_v1_no_change BEFORE UPDATE OR DELETE ON audit_v1"
                           "  FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
                           "DROP TRIGGER IF EXISTS audit_v1_no_truncate ON audit_v1;"
                           "CREATE TRIGGER audit_v1_no_truncate BEFORE TRUNCATE ON audit_v1"
                           "  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = fg_fail(r, FG_EIO, "cannot finish moving the audit trail: %s",
                     PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                         ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                         : "connection to PostgreSQL lost");
    PQclear(res);
    return rc;
}
