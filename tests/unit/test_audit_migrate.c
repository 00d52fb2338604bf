/* Schema step 9: a database of the single global audit chain (step 8)
 * becomes one chain per order, keeping every entry byte for byte, with a
 * first checkpoint that records the old chain's last hash; a chain that
 * was already broken is moved but keeps failing verification. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <sqlite3.h>

#include "storage/audit.h"
#include "storage/jobs.h"
#include "storage/meta.h"
#include "storage/schema_sqlite.h"

/* The old entries: orders interleaved, a service event, non-ASCII. */
static const struct {
    const char *order, *action, *detail;
} OLD[] = {
    {"ord-1", "order.created", "{\"buyer\":\"Zo\xc3\xab\"}"},
    {"ord-2", "order.created", "{}"},
    {NULL, "store.opened", "{}"},
    {"ord-1", "delivery.created", "{\"number\":1}"},
    {"ord-2", "order.cancelled", "{\"why\":\"late\"}"},
    {"ord-1", "order.accepted", "{}"},
};
#define N_OLD ((int)(sizeof OLD / sizeof OLD[0]))

struct old_db {
    char dir[256], path[300];
    char head[STORE_HEX_MAX]; /* what `audit verify` printed before */
};

/* A database at the step before the per-order chains, holding OLD as a
 * version 1 chain (hashes as the old code made them), and one pending
 * job; extra_sql then runs on it (tampering). */
static void make_old(struct old_db *o, int entries, const char *extra_sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    fg_reason r = {""};
    int step = store_sqlite_schema_step_of("CREATE TABLE audit_heads");
    CHECK(step > 1);
    CHECK(tmp_dir_make(o->dir) == 0);
    snprintf(o->path, sizeof o->path, "%s/meta.db", o->dir);
    CHECK(sqlite3_open(o->path, &db) == SQLITE_OK);
    CHECK_INT(store_sqlite_migrate_to(db, step - 1, &r), FG_OK);
    CHECK(sqlite3_prepare_v2(db,
                             "INSERT INTO audit(seq, order_id, at, actor, action, detail,"
                             " prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                             -1, &st, NULL) == SQLITE_OK);
    memcpy(o->head, STORE_AUDIT_GENESIS, STORE_HEX_MAX);
    for (int i = 0; i < entries; i++) {
        store_audit_entry e = {.seq = i + 1, .at = "2026-11-20T09:00:00.000Z",
                               .actor = "order-system", .detail = (char *)OLD[i].detail};
        snprintf(e.order_id, sizeof e.order_id, "%s", OLD[i].order ? OLD[i].order : "");
        snprintf(e.action, sizeof e.action, "%s", OLD[i].action);
        memcpy(e.prev_hash, o->head, STORE_HEX_MAX);
        CHECK_INT(store_audit_hash_v1(&e, e.hash, &r), FG_OK);
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, e.seq);
        if (OLD[i].order)
            sqlite3_bind_text(st, 2, OLD[i].order, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 2);
        sqlite3_bind_text(st, 3, e.at, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, e.actor, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, e.action, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, e.detail, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, e.prev_hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, e.hash, -1, SQLITE_STATIC);
        CHECK(sqlite3_step(st) == SQLITE_DONE);
        memcpy(o->head, e.hash, STORE_HEX_MAX);
    }
    sqlite3_finalize(st);
    CHECK(sqlite3_exec(db,
                       "INSERT INTO jobs(kind, subject, run_at, created_at, updated_at)"
                       " VALUES ('purge', 'retention', 5, '2026-11-20T09:00:00.000Z',"
                       " '2026-11-20T09:00:00.000Z')",
                       NULL, NULL, NULL) == SQLITE_OK);
    if (extra_sql)
        CHECK(sqlite3_exec(db, extra_sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

static long long raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

TEST("the global chain moves into per-order chains: every entry kept, all verifying")
{
    struct old_db o;
    store_meta *m = NULL;
    store_audit_list l = {0};
    store_audit_report rep;
    store_job_list jobs = {0};
    fg_reason r = {""};
    make_old(&o, N_OLD, NULL);
    CHECK_INT(store_meta_open_sqlite(o.path, &m, &r), FG_OK);
    CHECK_INT(store_audit_list_get(m, NULL, 0, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, N_OLD);
    int64_t want_chain_seq[] = {1, 1, 1, 2, 2, 3};
    for (size_t i = 0; i < l.n && i < N_OLD; i++) {
        char h[STORE_HEX_MAX];
        CHECK_INT(l.items[i].seq, (int64_t)i + 1); /* the old order is kept */
        CHECK_INT(l.items[i].chain_seq, want_chain_seq[i]);
        CHECK_STR(l.items[i].order_id, OLD[i].order ? OLD[i].order : "");
        CHECK_STR(l.items[i].action, OLD[i].action);
        CHECK_STR(l.items[i].detail, OLD[i].detail);
        CHECK_STR(l.items[i].at, "2026-11-20T09:00:00.000Z");
        CHECK_STR(l.items[i].actor, "order-system");
        CHECK_INT(store_audit_hash(&l.items[i], h, &r), FG_OK);
        CHECK_STR(l.items[i].hash, h);
    }
    store_audit_list_release(&l);
    CHECK_INT(store_audit_verify(m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, N_OLD);
    CHECK_INT(rep.chains, 3);
    CHECK_INT(rep.checkpoints, 1);
    CHECK_INT(rep.legacy_entries, N_OLD);
    CHECK_STR(rep.legacy_head, o.head);
    /* The old table is gone once its checkpoint vouches for it. */
    CHECK_INT(raw_int(o.path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_v1'"), 0);
    CHECK_INT(raw_int(o.path, "SELECT COUNT(*) FROM audit_heads WHERE seq = checkpointed"), 3);
    /* Appends go on in their order's chain. */
    int64_t seq = 0;
    CHECK_INT(store_audit_append(m, "ord-1", "buyer:b-1", "file.downloaded", NULL, NULL, &seq,
                                 &r),
              FG_OK);
    CHECK_INT(seq, 4);
    CHECK_INT(store_audit_checkpoint_write(m, NULL, NULL, &r), FG_OK);
    CHECK_INT(store_audit_verify(m, &rep, &r), FG_OK);
    CHECK_INT(rep.checkpoints, 2);
    /* The rebuilt jobs table kept its row and takes checkpoint jobs. */
    CHECK_INT(store_job_list_get(m, STORE_JOB_PENDING, 0, &jobs, &r), FG_OK);
    CHECK_INT(jobs.n, 1);
    if (jobs.n == 1)
        CHECK_STR(jobs.items[0].subject, "retention");
    store_job_list_release(&jobs);
    bool added = false;
    CHECK_INT(store_job_add(m, STORE_JOB_CHECKPOINT, "audit", NULL, 0, &added, NULL, &r), FG_OK);
    CHECK(added);
    store_meta_free(m);
    tmp_dir_remove(o.dir);
}

TEST("the migration's checkpoint carries the old head, and dropping a moved order shows")
{
    struct old_db o;
    store_meta *m = NULL;
    store_audit_report rep;
    fg_reason r = {""};
    make_old(&o, N_OLD, NULL);
    CHECK_INT(store_meta_open_sqlite(o.path, &m, &r), FG_OK);
    store_meta_free(m);
    /* prev_hash of checkpoint 1 is the old head: the new checkpoint chain
     * continues the old one. */
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM audit_checkpoints WHERE seq = 1 AND prev_hash = '%s'"
             " AND legacy LIKE '{\"entries\":6,\"head\":\"%s\",\"broken_at\":0}'",
             o.head, o.head);
    CHECK_INT(raw_int(o.path, sql), 1);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(o.path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE chain = 'ord-2';"
                       " DELETE FROM audit_heads WHERE chain = 'ord-2';",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_INT(store_meta_open_sqlite(o.path, &m, &r), FG_OK);
    CHECK_INT(store_audit_verify(m, &rep, &r), FG_ECORRUPT);
    CHECK_STR(rep.chain, "ord-2");
    CHECK_INT(rep.first_bad, 2);
    store_meta_free(m);
    tmp_dir_remove(o.dir);
}

TEST("an old chain already broken is moved whole, kept, and still fails verification")
{
    struct old_db o;
    store_meta *m = NULL;
    store_audit_list l = {0};
    store_audit_report rep;
    fg_reason r = {""};
    /* Entry 4's detail changed before the upgrade, its hash left. */
    make_old(&o, N_OLD,
             "DROP TRIGGER audit_no_update;"
             "UPDATE audit SET detail = '{\"number\":2}' WHERE seq = 4;");
    CHECK_INT(store_meta_open_sqlite(o.path, &m, &r), FG_OK);
    CHECK_INT(store_audit_list_get(m, NULL, 0, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, N_OLD);
    if (l.n == N_OLD)
        CHECK_STR(l.items[3].detail, "{\"number\":2}");
    store_audit_list_release(&l);
    CHECK_INT(store_audit_verify(m, &rep, &r), FG_ECORRUPT);
    CHECK(rep.in_checkpoints);
    CHECK_INT(rep.first_bad, 1);
    CHECK(strstr(rep.why, "already broken at its entry 4") != NULL);
    /* The old rows stay for whoever investigates, append-only again. */
    CHECK_INT(raw_int(o.path, "SELECT COUNT(*) FROM audit_v1"), N_OLD);
    CHECK(raw_int(o.path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'"
                          " AND tbl_name = 'audit_v1'") == 2);
    store_meta_free(m);
    tmp_dir_remove(o.dir);
}

TEST("an old trail cut at its start or with an entry removed is reported too")
{
    static const struct {
        const char *sql;
        const char *why;
    } rows[] = {
        {"DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 3;", "entry 4"},
        {"DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 1;", "entry 2"},
    };
    for (size_t i = 0; i < 2; i++) {
        struct old_db o;
        store_meta *m = NULL;
        store_audit_report rep;
        fg_reason r = {""};
        make_old(&o, N_OLD, rows[i].sql);
        CHECK_INT(store_meta_open_sqlite(o.path, &m, &r), FG_OK);
        CHECK_INT(store_audit_verify(m, &rep, &r), FG_ECORRUPT);
        CHECK(strstr(rep.why, rows[i].why) != NULL);
        CHECK_INT(rep.count, N_OLD - 1);
        store_meta_free(m);
        tmp_dir_remove(o.dir);
    }
}

TEST("a database with no audit entry migrates to no checkpoint")
{
    struct old_db o;
    store_meta *m = NULL;
    store_audit_report rep;
    fg_reason r = {""};
    make_old(&o, 0, NULL);
    CHECK_INT(store_meta_open_sqlite(o.path, &m, &r), FG_OK);
    CHECK_INT(store_audit_verify(m, &rep, &r), FG_OK);
    CHECK_INT(rep.checkpoints, 0);
    CHECK_INT(rep.legacy_entries, 0);
    CHECK_STR(rep.head, STORE_AUDIT_GENESIS);
    store_meta_free(m);
    tmp_dir_remove(o.dir);
}
