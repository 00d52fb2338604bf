/* Schema step 9's C part: the single global audit chain becomes one chain
 * per order (storage/audit.h). Runs inside the migration's transaction,
 * right after the step's SQL renamed the old table to audit_v1 and made
 * the new tables, so either every row moves or nothing changes.
 *
 * Each old row is checked against the version 1 chain (seq, prev_hash,
 * hash) and copied, every field byte for byte, with its old seq as its
 * storage seq, into its order's chain (chain_seq and prev_hash follow that
 * chain, hash is the version 2 one). Then checkpoints name every head:
 * the first carries the old chain's last hash as its prev_hash and in
 * its legacy field, so a head kept from before the upgrade is still
 * checked (`filigrane audit verify`).
 *
 * A broken old chain (rows altered before the upgrade) is moved all the
 * same: refusing would leave the service unable to start on its own data.
 * But it must not be laundered into chains that verify: the first
 * checkpoint's legacy field records the old seq where it broke, verify
 * reports it from then on, and audit_v1 is kept (append-only again) for
 * whoever investigates. An intact old chain's table is dropped: the
 * checkpoint vouches for it. */
#include "storage/schema_sqlite.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/audit.h"
#include "storage/meta_impl.h"

static fg_result fail(sqlite3 *db, const char *what, fg_reason *r)
{
    return fg_fail(r, FG_EIO, "cannot %s: %s", what, sqlite3_errmsg(db));
}

static fg_result prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, fg_reason *r)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return fail(db, "prepare the audit migration", r);
    return FG_OK;
}

/* Reads an old row into e (detail borrowed from the statement until its
 * next step); false when a field cannot fit: the file was altered. */
static bool read_v1(sqlite3_stmt *st, store_audit_entry *e)
{
    e->seq = sqlite3_column_int64(st, 0);
    e->detail = (char *)sqlite3_column_text(st, 5);
    return store_sqlite_col(st, 1, e->order_id, sizeof e->order_id) &&
           store_sqlite_col(st, 2, e->at, sizeof e->at) &&
           store_sqlite_col(st, 3, e->actor, sizeof e->actor) &&
           store_sqlite_col(st, 4, e->action, sizeof e->action) &&
           store_sqlite_col(st, 6, e->prev_hash, sizeof e->prev_hash) &&
           store_sqlite_col(st, 7, e->hash, sizeof e->hash) && e->detail &&
           strlen(e->detail) == (size_t)sqlite3_column_bytes(st, 5);
}

struct legacy {
    int64_t entries;
    int64_t broken_at; /* old seq of the first broken row, 0 if none */
    char head[STORE_HEX_MAX];
};

/* Moves every row; fills l. */
static fg_result move_rows(sqlite3 *db, struct legacy *l, fg_reason *r)
{
    sqlite3_stmt *sel = NULL, *head = NULL, *ins = NULL, *up = NULL;
    char prev[STORE_HEX_MAX] = STORE_AUDIT_GENESIS, want[STORE_HEX_MAX];
    int64_t prev_seq = 0;
    int step;
    fg_result rc;
    if ((rc = prepare(db,
                      "SELECT seq, COALESCE(order_id, ''), at, actor, action, detail,"
                      " prev_hash, hash FROM audit_v1 ORDER BY seq",
                      &sel, r)) ||
        (rc = prepare(db, "SELECT seq, hash FROM audit_heads WHERE chain = ?1", &head, r)) ||
        (rc = prepare(db,
                      "INSERT INTO audit(seq, order_id, chain, chain_seq, at, actor, action,"
                      " detail, prev_hash, hash)"
                      " VALUES (?1, NULLIF(?2, ''), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                      &ins, r)) ||
        (rc = prepare(db,
                      "INSERT INTO audit_heads(chain, seq, hash, at, checkpointed)"
                      " VALUES (?1, ?2, ?3, ?4, 0) ON CONFLICT(chain) DO UPDATE"
                      " SET seq = excluded.seq, hash = excluded.hash, at = excluded.at",
                      &up, r)))
        goto out;
    while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
        store_audit_entry e = {0};
        if (!read_v1(sel, &e)) {
            rc = fg_fail(r, FG_ECORRUPT,
                         "cannot move the audit trail to per-order chains: its entry %" PRId64
                         " holds an impossible value (the database file was altered)",
                         e.seq);
            goto out;
        }
        l->entries++;
        memcpy(l->head, e.hash, STORE_HEX_MAX);
        if ((rc = store_audit_hash_v1(&e, want, r)))
            goto out;
        if (l->broken_at == 0 && (e.seq != prev_seq + 1 || strcmp(e.prev_hash, prev) != 0 ||
                                  strcmp(e.hash, want) != 0))
            l->broken_at = e.seq;
        prev_seq = e.seq;
        memcpy(prev, e.hash, STORE_HEX_MAX);

        /* Its place in its order's chain. */
        e.chain_seq = 0;
        memcpy(e.prev_hash, STORE_AUDIT_GENESIS, STORE_HEX_MAX);
        sqlite3_reset(head);
        if (sqlite3_bind_text(head, 1, e.order_id, -1, SQLITE_STATIC) != SQLITE_OK ||
            ((step = sqlite3_step(head)) != SQLITE_ROW && step != SQLITE_DONE)) {
            rc = fail(db, "read an audit head", r);
            goto out;
        }
        if (step == SQLITE_ROW) {
            e.chain_seq = sqlite3_column_int64(head, 0);
            if (!store_sqlite_col(head, 1, e.prev_hash, sizeof e.prev_hash)) {
                rc = fail(db, "read an audit head", r);
                goto out;
            }
        }
        e.chain_seq++;
        if ((rc = store_audit_hash(&e, e.hash, r)))
            goto out;
        const char *v[] = {e.order_id, e.at, e.actor, e.action, e.detail, e.prev_hash, e.hash};
        sqlite3_reset(ins);
        sqlite3_reset(up);
        bool ok = sqlite3_bind_int64(ins, 1, e.seq) == SQLITE_OK &&
                  sqlite3_bind_int64(ins, 3, e.chain_seq) == SQLITE_OK;
        for (int i = 0, col[] = {2, 4, 5, 6, 7, 8, 9}; ok && i < 7; i++)
            ok = sqlite3_bind_text(ins, col[i], v[i], -1, SQLITE_STATIC) == SQLITE_OK;
        ok = ok && sqlite3_step(ins) == SQLITE_DONE &&
             sqlite3_bind_text(up, 1, e.order_id, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_int64(up, 2, e.chain_seq) == SQLITE_OK &&
             sqlite3_bind_text(up, 3, e.hash, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_text(up, 4, e.at, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_step(up) == SQLITE_DONE;
        if (!ok) {
            rc = fail(db, "move an audit entry", r);
            goto out;
        }
    }
    if (step != SQLITE_DONE)
        rc = fail(db, "read the old audit trail", r);
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(head);
    sqlite3_finalize(ins);
    sqlite3_finalize(up);
    return rc;
}

/* Checkpoints naming every head, STORE_AUDIT_CHECKPOINT_HEADS at a time;
 * the first carries the legacy record. */
static fg_result checkpoint_all(sqlite3 *db, const struct legacy *l, fg_reason *r)
{
    sqlite3_stmt *sel = NULL, *ins = NULL, *mark = NULL;
    store_audit_head *h = calloc(STORE_AUDIT_CHECKPOINT_HEADS, sizeof *h);
    store_audit_checkpoint c = {0};
    char after[FG_MAX_ID + 1] = "";
    size_t n;
    int step = SQLITE_DONE;
    fg_result rc = FG_OK;
    if (!h)
        return fg_fail(r, FG_EIO, "cannot checkpoint the moved audit trail: out of memory");
    store_time_now(c.at);
    memcpy(c.prev_hash, l->head, STORE_HEX_MAX);
    snprintf(c.legacy, sizeof c.legacy,
             "{\"entries\":%" PRId64 ",\"head\":\"%s\",\"broken_at\":%" PRId64 "}", l->entries,
             l->head, l->broken_at);
    if ((rc = prepare(db,
                      "SELECT chain, seq, hash FROM audit_heads WHERE seq >= 1"
                      " AND (?1 = 0 OR chain > ?2) ORDER BY chain LIMIT ?3",
                      &sel, r)) ||
        (rc = prepare(db,
                      "INSERT INTO audit_checkpoints(seq, at, heads, legacy, prev_hash, hash)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                      &ins, r)) ||
        (rc = prepare(db, "UPDATE audit_heads SET checkpointed = seq WHERE seq >= 1", &mark, r)))
        goto out;
    do {
        n = 0;
        sqlite3_reset(sel);
        sqlite3_bind_int(sel, 1, c.seq > 0);
        sqlite3_bind_text(sel, 2, after, -1, SQLITE_STATIC);
        sqlite3_bind_int(sel, 3, STORE_AUDIT_CHECKPOINT_HEADS);
        while (n < STORE_AUDIT_CHECKPOINT_HEADS && (step = sqlite3_step(sel)) == SQLITE_ROW) {
            h[n].seq = sqlite3_column_int64(sel, 1);
            if (!store_sqlite_col(sel, 0, h[n].chain, sizeof h[n].chain) ||
                !store_sqlite_col(sel, 2, h[n].hash, sizeof h[n].hash)) {
                rc = fail(db, "read an audit head", r);
                goto out;
            }
            n++;
        }
        if (n < STORE_AUDIT_CHECKPOINT_HEADS && step != SQLITE_DONE) {
            rc = fail(db, "read the audit heads", r);
            goto out;
        }
        if (n == 0 && c.seq > 0)
            break;
        c.seq++;
        free(c.heads);
        c.heads = NULL;
        if ((rc = store_audit_heads_text(h, n, &c.heads, r)) ||
            (rc = store_audit_checkpoint_hash(&c, c.hash, r)))
            goto out;
        sqlite3_reset(ins);
        if (sqlite3_bind_int64(ins, 1, c.seq) != SQLITE_OK ||
            sqlite3_bind_text(ins, 2, c.at, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(ins, 3, c.heads, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(ins, 4, c.legacy, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(ins, 5, c.prev_hash, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(ins, 6, c.hash, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(ins) != SQLITE_DONE) {
            rc = fail(db, "write an audit checkpoint", r);
            goto out;
        }
        /* The next one chains to this one and has no legacy record. */
        memcpy(c.prev_hash, c.hash, STORE_HEX_MAX);
        c.legacy[0] = '\0';
        if (n > 0)
            memcpy(after, h[n - 1].chain, sizeof after);
    } while (n == STORE_AUDIT_CHECKPOINT_HEADS);
    if (sqlite3_step(mark) != SQLITE_DONE)
        rc = fail(db, "mark the audit heads checkpointed", r);
out:
    free(c.heads);
    free(h);
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_finalize(mark);
    return rc;
}

fg_result store_sqlite_audit_rechain(sqlite3 *db, fg_reason *r)
{
    struct legacy l = {.head = STORE_AUDIT_GENESIS};
    fg_result rc = move_rows(db, &l, r);
    if (rc)
        return rc;
    /* A database that never had an entry has nothing to vouch for. */
    if (l.entries > 0 && (rc = checkpoint_all(db, &l, r)))
        return rc;
    const char *sql = l.broken_at == 0
                          ? "DROP TABLE audit_v1"
                          : "CREATE TRIGGER audit_v1_no_update BEFORE UPDATE ON audit_v1"
                            "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
                            "CREATE TRIGGER audit_v1_no_delete BEFORE DELETE ON audit_v1"
                            "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;";
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return fail(db, "finish moving the audit trail", r);
    return FG_OK;
}
