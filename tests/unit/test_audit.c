/* The audit chains: canonical hashes, one chain per order, append, list,
 * checkpoints, verify, tamper detection (an entry, an order's whole
 * chain, a checkpoint), and the SQLite triggers that keep the tables
 * append-only. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <pthread.h>
#include <sqlite3.h>

#include "storage/audit.h"
#include "storage/meta.h"

/* Runs SQL on a raw connection (no triggers dropped unless sql says so);
 * returns the SQLite result code. */
static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* One integer from a query on a raw connection (-1 on failure). */
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

static void append(store_meta *m, const char *order, const char *actor,
                   const char *action, const char *detail)
{
    fg_reason r;
    if (store_audit_append(m, order, actor, action, detail,
                           "2026-11-22T10:00:00Z", NULL, &r))
        TAP_FAIL("append %s: %s", action, r.text);
}

/* Five entries over two orders and one service event. */
static void fill(store_meta *m)
{
    append(m, "ord-1", "order-system", "order.created", "{\"buyer\":\"b-9\"}");
    append(m, "ord-1", "seller:s-7", "delivery.created", "{\"number\":1}");
    append(m, NULL, "operator", "store.opened", NULL);
    append(m, "ord-2", "order-system", "order.created", "{}");
    append(m, "ord-1", "order-system", "order.accepted", "{}");
}

static void checkpoint(store_meta *m, int64_t want_heads)
{
    store_audit_checkpoint_stats st;
    fg_reason r = {""};
    if (store_audit_checkpoint_write(m, "2026-11-22T10:01:00Z", &st, &r) != FG_OK)
        TAP_FAIL("checkpoint: %s", r.text);
    if (st.heads != want_heads)
        TAP_FAIL("checkpoint named %lld heads, want %lld", (long long)st.heads,
                 (long long)want_heads);
}

TEST("the entry and checkpoint hashes are SHA-256 of the documented netstrings")
{
    /* Expected values computed independently (Python hashlib) from the
     * serialisation documented in storage/audit.h. */
    store_audit_entry e = {.seq = 77, /* storage order: not hashed */
                           .chain_seq = 1,
                           .order_id = "ord-1",
                           .at = "2026-11-22T10:00:00.000Z",
                           .actor = "order-system",
                           .action = "order.created",
                           .detail = "{\"seller_id\":\"s-7\",\"buyer\":\"Zo\xc3\xab\"}",
                           .prev_hash = STORE_AUDIT_GENESIS};
    char h[STORE_HEX_MAX];
    fg_reason r;
    CHECK_INT(store_audit_hash(&e, h, &r), FG_OK);
    CHECK_STR(h, "baa59942a8fb7a8e35c18097d62268cf18302b99954938f414d4aee3714d1e61");
    e.seq = 1;
    char h1[STORE_HEX_MAX];
    CHECK_INT(store_audit_hash(&e, h1, &r), FG_OK);
    CHECK_STR(h1, h);
    /* Version 1 (the global chain) keeps its old vector. */
    CHECK_INT(store_audit_hash_v1(&e, h, &r), FG_OK);
    CHECK_STR(h, "8373adc97aa6fd53e5578cc8c8ba7fa6ab911de7daa65d38ad834cdefa122faa");
    store_audit_entry g = {.chain_seq = 2,
                           .order_id = "",
                           .at = "2026-11-22T10:00:00.000Z",
                           .actor = "operator",
                           .action = "store.opened",
                           .detail = "{}"};
    memset(g.prev_hash, 'a', 64);
    CHECK_INT(store_audit_hash(&g, h, &r), FG_OK);
    CHECK_STR(h, "55e0f61169d7a459da5d8b76ffdb6983f0265cf621fbaf356027c984fe0de4a8");
    /* Moving a byte between fields changes the hash (no ambiguity). */
    snprintf(g.actor, sizeof g.actor, "operato");
    snprintf(g.action, sizeof g.action, "rstore.opened");
    char h2[STORE_HEX_MAX];
    CHECK_INT(store_audit_hash(&g, h2, &r), FG_OK);
    CHECK(strcmp(h, h2) != 0);

    char heads[200];
    snprintf(heads, sizeof heads, "[[\"\",3,\"%.64s\"],[\"ord-1\",5,\"%.64s\"]]",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
    store_audit_checkpoint c = {.seq = 1, .at = "2026-11-22T10:01:00.000Z",
                                .heads = heads, .prev_hash = STORE_AUDIT_GENESIS};
    CHECK_INT(store_audit_checkpoint_hash(&c, h, &r), FG_OK);
    CHECK_STR(h, "78e33acc313b8429d906be3da8d96669ce0426337a9da366b31a20617f3e9cb5");
}

TEST("each order has its own chain: seq from 1, prev_hash from genesis, unaffected by the others")
{
    struct db d, alone;
    fg_reason r;
    store_audit_list all = {0}, one = {0};
    int64_t seq = 0;
    db_open(&d);
    db_open(&alone);
    fill(d.m);
    /* The same ord-1 entries in a store that holds nothing else. */
    append(alone.m, "ord-1", "order-system", "order.created", "{\"buyer\":\"b-9\"}");
    append(alone.m, "ord-1", "seller:s-7", "delivery.created", "{\"number\":1}");
    append(alone.m, "ord-1", "order-system", "order.accepted", "{}");
    CHECK_INT(store_audit_append(d.m, "ord-2", "buyer:b-3", "file.previewed",
                                 "{\"file\":\"x\"}", NULL, &seq, &r),
              FG_OK);
    CHECK_INT(seq, 2); /* ord-2's second entry */
    CHECK_INT(store_audit_list_get(d.m, NULL, 0, 0, &all, &r), FG_OK);
    CHECK_INT(all.n, 6);
    /* Storage order over all chains, place in each chain. */
    int64_t want_chain_seq[] = {1, 2, 1, 1, 3, 2};
    const char *want_chain[] = {"ord-1", "ord-1", "", "ord-2", "ord-1", "ord-2"};
    for (size_t i = 0; i < all.n; i++) {
        char want[STORE_HEX_MAX];
        CHECK_INT(all.items[i].seq, (int64_t)i + 1);
        CHECK_INT(all.items[i].chain_seq, want_chain_seq[i]);
        CHECK_STR(all.items[i].order_id, want_chain[i]);
        CHECK_INT(store_audit_hash(&all.items[i], want, &r), FG_OK);
        CHECK_STR(all.items[i].hash, want);
        if (all.items[i].chain_seq == 1)
            CHECK_STR(all.items[i].prev_hash, STORE_AUDIT_GENESIS);
    }
    CHECK_STR(all.items[1].prev_hash, all.items[0].hash);
    CHECK_STR(all.items[4].prev_hash, all.items[1].hash);
    CHECK_STR(all.items[5].prev_hash, all.items[3].hash);
    CHECK_STR(all.items[2].detail, "{}");
    CHECK_INT(strlen(all.items[5].at), 24); /* "now" has milliseconds */
    /* ord-1's chain is byte for byte what it is alone. */
    CHECK_INT(store_audit_list_get(alone.m, "ord-1", 0, 0, &one, &r), FG_OK);
    CHECK_INT(one.n, 3);
    CHECK_STR(one.items[0].hash, all.items[0].hash);
    CHECK_STR(one.items[1].hash, all.items[1].hash);
    CHECK_STR(one.items[2].hash, all.items[4].hash);
    store_audit_list_release(&one);
    store_audit_list_release(&all);
    CHECK(all.items == NULL && all.n == 0);
    /* The head rows follow. */
    CHECK_INT(raw_int(d.path, "SELECT seq FROM audit_heads WHERE chain = 'ord-1'"), 3);
    CHECK_INT(raw_int(d.path, "SELECT seq FROM audit_heads WHERE chain = ''"), 1);
    CHECK_INT(raw_int(d.path, "SELECT COUNT(*) FROM audit_heads"), 3);
    db_close(&alone);
    db_close(&d);
}

TEST("an order's trail pages by its own seq, with hashes a client can recompute")
{
    struct db d;
    fg_reason r;
    store_audit_list l = {0};
    bool more = false;
    db_open(&d);
    fill(d.m);
    CHECK_INT(store_audit_list_get(d.m, "ord-1", 0, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, 3);
    const char *want_action[] = {"order.created", "delivery.created", "order.accepted"};
    for (size_t i = 0; i < l.n; i++) {
        char h[STORE_HEX_MAX];
        CHECK_INT(l.items[i].chain_seq, (int64_t)i + 1);
        CHECK_STR(l.items[i].action, want_action[i]);
        CHECK_STR(l.items[i].order_id, "ord-1");
        CHECK_INT(store_audit_hash(&l.items[i], h, &r), FG_OK);
        CHECK_STR(l.items[i].hash, h);
    }
    store_audit_list_release(&l);
    /* after= is the order's seq: after 1, the second of ord-1 (whose
     * storage seq is 2) and then the third (storage seq 5). */
    CHECK_INT(store_audit_page_get(d.m, "ord-1", 1, 1, &l, &more, &r), FG_OK);
    CHECK_INT(l.n, 1);
    CHECK_INT(l.items[0].chain_seq, 2);
    CHECK(more);
    store_audit_list_release(&l);
    CHECK_INT(store_audit_page_get(d.m, "ord-1", 2, 5, &l, &more, &r), FG_OK);
    CHECK_INT(l.n, 1);
    CHECK_INT(l.items[0].chain_seq, 3);
    CHECK(!more);
    store_audit_list_release(&l);
    CHECK_INT(store_audit_list_get(d.m, "", 0, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, 1);
    CHECK_STR(l.items[0].action, "store.opened");
    store_audit_list_release(&l);
    CHECK_INT(store_audit_list_get(d.m, "ord-404", 0, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, 0);
    store_audit_list_release(&l);
    db_close(&d);
}

TEST("an untouched trail verifies, checkpointed or not, and an empty one too")
{
    struct db d;
    fg_reason r;
    store_audit_report rep;
    db_open(&d);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, 0);
    CHECK_INT(rep.first_bad, 0);
    CHECK_STR(rep.head, STORE_AUDIT_GENESIS);
    fill(d.m);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, 5);
    CHECK_INT(rep.chains, 3);
    CHECK_INT(rep.checkpoints, 0);
    CHECK_STR(rep.why, "");
    checkpoint(d.m, 3);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.checkpoints, 1);
    char head1[STORE_HEX_MAX];
    memcpy(head1, rep.head, sizeof head1);
    CHECK(strcmp(head1, STORE_AUDIT_GENESIS) != 0);
    append(d.m, "ord-2", "buyer:b-1", "file.previewed", NULL);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_STR(rep.head, head1); /* appends alone do not move it */
    checkpoint(d.m, 1);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.checkpoints, 2);
    CHECK_INT(rep.count, 6);
    db_close(&d);
}

TEST("a checkpoint names only the heads that moved, and none when nothing did")
{
    struct db d;
    fg_reason r;
    store_audit_checkpoint_stats st;
    store_audit_checkpoint c = {0};
    db_open(&d);
    CHECK_INT(store_audit_checkpoint_write(d.m, NULL, &st, &r), FG_OK);
    CHECK_INT(st.checkpoints, 0);
    fill(d.m);
    checkpoint(d.m, 3);
    CHECK_INT(store_audit_checkpoint_write(d.m, NULL, &st, &r), FG_OK);
    CHECK_INT(st.checkpoints, 0);
    append(d.m, "ord-1", "buyer:b-9", "file.downloaded", NULL);
    append(d.m, "ord-1", "buyer:b-9", "file.downloaded", NULL);
    CHECK_INT(store_audit_checkpoint_write(d.m, "2026-11-22T10:02:00Z", &st, &r), FG_OK);
    CHECK_INT(st.checkpoints, 1);
    CHECK_INT(st.heads, 1);
    CHECK_INT(st.last_seq, 2);
    CHECK_INT(raw_int(d.path, "SELECT COUNT(*) FROM audit_checkpoints"), 2);
    CHECK_INT(raw_int(d.path, "SELECT instr(heads, '[[\"ord-1\",5,\"') FROM audit_checkpoints"
                              " WHERE seq = 2"),
              1);
    CHECK_INT(raw_int(d.path, "SELECT length(heads) FROM audit_checkpoints WHERE seq = 2"),
              (long long)strlen("[[\"ord-1\",5,\"\"]]") + 64);
    (void)c;
    /* Inside a transaction it is a misuse: it runs in its own. */
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_audit_checkpoint_write(d.m, NULL, &st, &r), FG_EUSAGE);
    store_meta_rollback(d.m);
    db_close(&d);
}

TEST("more changed chains than one checkpoint holds go in the next ones, at once")
{
    struct db d;
    fg_reason r;
    store_audit_checkpoint_stats st;
    store_audit_report rep;
    char id[32];
    db_open(&d);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    for (int i = 0; i < STORE_AUDIT_CHECKPOINT_HEADS + 5; i++) {
        snprintf(id, sizeof id, "o-%05d", i);
        append(d.m, id, "order-system", "order.created", NULL);
    }
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    CHECK_INT(store_audit_checkpoint_write(d.m, NULL, &st, &r), FG_OK);
    CHECK_INT(st.checkpoints, 2);
    CHECK_INT(st.heads, STORE_AUDIT_CHECKPOINT_HEADS + 5);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.chains, STORE_AUDIT_CHECKPOINT_HEADS + 5);
    /* The last order, only in the second checkpoint, is guarded too. */
    CHECK_INT(raw_exec(d.path, "DROP TRIGGER audit_no_delete;"
                               " DELETE FROM audit WHERE chain = 'o-04004';"
                               " DELETE FROM audit_heads WHERE chain = 'o-04004';"),
              SQLITE_OK);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_ECORRUPT);
    CHECK_STR(rep.chain, "o-04004");
    db_close(&d);
}

TEST("UPDATE and DELETE of audit entries and checkpoints are refused by the database itself")
{
    struct db d;
    fg_reason r;
    store_audit_report rep;
    db_open(&d);
    fill(d.m);
    checkpoint(d.m, 3);
    CHECK_INT(raw_exec(d.path, "UPDATE audit SET detail = '{}' WHERE seq = 2"),
              SQLITE_CONSTRAINT);
    CHECK_INT(raw_exec(d.path, "DELETE FROM audit WHERE seq = 5"), SQLITE_CONSTRAINT);
    CHECK_INT(raw_exec(d.path, "DELETE FROM audit"), SQLITE_CONSTRAINT);
    CHECK_INT(raw_exec(d.path, "UPDATE audit_checkpoints SET heads = '[]'"),
              SQLITE_CONSTRAINT);
    CHECK_INT(raw_exec(d.path, "DELETE FROM audit_checkpoints"), SQLITE_CONSTRAINT);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, 5);
    db_close(&d);
}

/* The triggers dropped first, as an attacker with the file would. */
#define UNGUARD "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; "

TEST("tampering with an entry (triggers dropped) is found at its chain and seq")
{
    /* ord-1's second entry rehashed over a changed detail, as a careful
     * forger would: only its successor's prev_hash then gives it away. */
    static const char forge[] =
        UNGUARD "UPDATE audit SET detail = '{\"number\":2}' WHERE seq = 2; "
                "UPDATE audit SET hash = '%s' WHERE seq = 2;";
    struct {
        const char *what;
        const char *sql; /* NULL: the forged-hash case */
        const char *chain;
        int64_t first_bad; /* chain_seq */
    } rows[] = {
        {"one byte of detail changed", UNGUARD "UPDATE audit SET detail ="
                                               " '{\"number\":9}' WHERE seq = 2",
         "ord-1", 2},
        {"actor changed", UNGUARD "UPDATE audit SET actor = 'buyer:b-9' WHERE seq = 1",
         "ord-1", 1},
        {"time changed", UNGUARD "UPDATE audit SET at = '2026-11-21T10:00:00.000Z'"
                                 " WHERE seq = 4",
         "ord-2", 1},
        {"entry moved to another order", UNGUARD "UPDATE audit SET chain = 'ord-2',"
                                                 " chain_seq = 2 WHERE seq = 5",
         "ord-2", 2},
        {"service event given an order", UNGUARD "UPDATE audit SET chain = 'ord-3'"
                                                 " WHERE seq = 3",
         "ord-3", 1},
        {"middle entry dropped", UNGUARD "DELETE FROM audit WHERE seq = 2", "ord-1", 3},
        {"first entry dropped", UNGUARD "DELETE FROM audit WHERE seq = 1", "ord-1", 2},
        {"entries reordered", UNGUARD "UPDATE audit SET chain_seq = 100 WHERE seq = 1;"
                                      " UPDATE audit SET chain_seq = 1 WHERE seq = 2;"
                                      " UPDATE audit SET chain_seq = 2 WHERE seq = 100;"
                                      " UPDATE audit SET chain_seq = 2 WHERE chain_seq = 100",
         "ord-1", 1},
        {"hash overwritten", UNGUARD "UPDATE audit SET hash = 'x' WHERE seq = 5", "ord-1", 3},
        {"actor too long to be real", UNGUARD "UPDATE audit SET actor ="
                                              " printf('%.300c', 'x') WHERE seq = 2",
         "ord-1", 2},
        {"forged hash", NULL, "ord-1", 3},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct db d;
        fg_reason r = {""};
        store_audit_report rep;
        char sql[1024];
        db_open(&d);
        fill(d.m);
        if (rows[i].sql) {
            snprintf(sql, sizeof sql, "%s", rows[i].sql);
        } else {
            store_audit_list l = {0};
            CHECK_INT(store_audit_list_get(d.m, "ord-1", 1, 1, &l, &r), FG_OK);
            char *detail = l.items[0].detail;
            l.items[0].detail = "{\"number\":2}";
            char h[STORE_HEX_MAX];
            CHECK_INT(store_audit_hash(&l.items[0], h, &r), FG_OK);
            l.items[0].detail = detail;
            store_audit_list_release(&l);
            snprintf(sql, sizeof sql, forge, h);
        }
        CHECK_INT(raw_exec(d.path, sql), SQLITE_OK);
        fg_result rc = store_audit_verify(d.m, &rep, &r);
        if (rc != FG_ECORRUPT || rep.first_bad != rows[i].first_bad ||
            strcmp(rep.chain, rows[i].chain) != 0 || rep.in_checkpoints)
            TAP_FAIL("%s: got %s chain '%s' first_bad %lld (%s)", rows[i].what,
                     fg_result_name(rc), rep.chain, (long long)rep.first_bad, r.text);
        CHECK(rep.why[0] != '\0');
        CHECK(strstr(r.text, "broken") != NULL);
        db_close(&d);
    }
}

TEST("dropping a whole order's chain, or a chain's end, is found by the checkpoints")
{
    static const char *const attacks[] = {
        /* ord-1 gone, head row and all: every remaining chain is whole. */
        UNGUARD "DELETE FROM audit WHERE chain = 'ord-1';"
                " DELETE FROM audit_heads WHERE chain = 'ord-1';",
        /* ord-1's last entry cut, its head row moved back to match. */
        UNGUARD "DELETE FROM audit WHERE chain = 'ord-1' AND chain_seq = 3;"
                " UPDATE audit_heads SET seq = 2, hash = (SELECT hash FROM audit"
                "   WHERE chain = 'ord-1' AND chain_seq = 2) WHERE chain = 'ord-1';",
    };
    static const int64_t want_bad[] = {3, 3};
    for (size_t i = 0; i < 2; i++) {
        struct db d, plain;
        fg_reason r = {""};
        store_audit_report rep;
        db_open(&d);
        fill(d.m);
        checkpoint(d.m, 3);
        CHECK_INT(raw_exec(d.path, attacks[i]), SQLITE_OK);
        CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_ECORRUPT);
        CHECK_STR(rep.chain, "ord-1");
        CHECK_INT(rep.first_bad, want_bad[i]);
        CHECK(strstr(rep.why, "checkpoint 1") != NULL);
        CHECK(strstr(rep.why, "missing") != NULL);
        /* Without a checkpoint, the chains alone cannot tell: that is what
         * the checkpoints are for (and why the job runs every minute). */
        db_open(&plain);
        fill(plain.m);
        CHECK_INT(raw_exec(plain.path, attacks[i]), SQLITE_OK);
        CHECK_INT(store_audit_verify(plain.m, &rep, &r), FG_OK);
        db_close(&plain);
        db_close(&d);
    }
}

TEST("a head row out of step with its chain is found")
{
    static const struct {
        const char *sql, *chain;
    } rows[] = {
        /* The chain's entries dropped, its head left. */
        {UNGUARD "DELETE FROM audit WHERE chain = 'ord-2'", "ord-2"},
        /* A chain with no head row (the next append would fail). */
        {"DELETE FROM audit_heads WHERE chain = 'ord-2'", ""},
        /* A head behind its chain. */
        {"UPDATE audit_heads SET seq = 2, hash = (SELECT hash FROM audit WHERE"
         " chain = 'ord-1' AND chain_seq = 2) WHERE chain = 'ord-1'",
         "ord-1"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct db d;
        fg_reason r = {""};
        store_audit_report rep;
        db_open(&d);
        fill(d.m);
        CHECK_INT(raw_exec(d.path, rows[i].sql), SQLITE_OK);
        CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_ECORRUPT);
        CHECK_STR(rep.chain, rows[i].chain);
        CHECK(strstr(rep.why, "head") != NULL);
        db_close(&d);
    }
}

#define UNGUARD_CP                                                                       \
    "DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete; "

TEST("tampering with the checkpoints is found, and cutting the last one moves the head")
{
    static const struct {
        const char *sql;
        int64_t first_bad;
    } rows[] = {
        {UNGUARD_CP "UPDATE audit_checkpoints SET at = '2026-11-22T10:09:00.000Z'"
                    " WHERE seq = 1",
         1},
        {UNGUARD_CP "UPDATE audit_checkpoints SET heads = replace(heads, '\"ord-1\",3',"
                    " '\"ord-1\",2') WHERE seq = 1",
         1},
        {UNGUARD_CP "DELETE FROM audit_checkpoints WHERE seq = 1", 1},
        {UNGUARD_CP "UPDATE audit_checkpoints SET seq = 5 WHERE seq = 2", 2},
        {UNGUARD_CP "DELETE FROM audit_checkpoints WHERE seq = 2", 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct db d;
        fg_reason r = {""};
        store_audit_report before, rep;
        db_open(&d);
        fill(d.m);
        checkpoint(d.m, 3);
        append(d.m, "ord-2", "buyer:b-1", "file.previewed", NULL);
        checkpoint(d.m, 1);
        CHECK_INT(store_audit_verify(d.m, &before, &r), FG_OK);
        CHECK_INT(raw_exec(d.path, rows[i].sql), SQLITE_OK);
        fg_result rc = store_audit_verify(d.m, &rep, &r);
        if (rows[i].first_bad == 0) {
            /* The last checkpoint taken away: what is left is a valid
             * prefix, and only the head kept outside shows it. */
            CHECK_INT(rc, FG_OK);
            CHECK_INT(rep.checkpoints, 1);
            CHECK(strcmp(rep.head, before.head) != 0);
        } else {
            CHECK_INT(rc, FG_ECORRUPT);
            CHECK(rep.in_checkpoints);
            CHECK_INT(rep.first_bad, rows[i].first_bad);
        }
        db_close(&d);
    }
}

TEST("an entry appended in a rolled-back transaction leaves no trace, no head and no gap")
{
    struct db d;
    fg_reason r;
    int64_t seq = 0;
    store_audit_report rep;
    db_open(&d);
    fill(d.m);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_audit_append(d.m, "ord-1", "order-system", "order.cancelled",
                                 NULL, NULL, &seq, &r),
              FG_OK);
    CHECK_INT(seq, 4);
    CHECK_INT(store_audit_append(d.m, "ord-9", "order-system", "order.created",
                                 NULL, NULL, &seq, &r),
              FG_OK);
    CHECK_INT(seq, 1);
    store_meta_rollback(d.m);
    CHECK_INT(raw_int(d.path, "SELECT COUNT(*) FROM audit_heads WHERE chain = 'ord-9'"), 0);
    CHECK_INT(store_audit_append(d.m, "ord-1", "order-system", "order.accepted",
                                 NULL, NULL, &seq, &r),
              FG_OK);
    CHECK_INT(seq, 4);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, 6);
    /* Inside a read transaction, appending is a misuse. */
    CHECK_INT(store_meta_begin_read(d.m, &r), FG_OK);
    CHECK_INT(store_audit_append(d.m, NULL, "operator", "x", NULL, NULL, NULL,
                                 &r),
              FG_EUSAGE);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    db_close(&d);
}

TEST("bad audit input is refused with fitting codes")
{
    static char big[FG_MAX_AUDIT_DETAIL + 2];
    char long_actor[FG_MAX_ACTOR + 2];
    memset(big, ' ', sizeof big - 1);
    memset(long_actor, 'a', sizeof long_actor - 1);
    long_actor[sizeof long_actor - 1] = '\0';
    struct {
        const char *order, *actor, *action, *detail, *at;
        fg_result want;
    } rows[] = {
        {"ord-1", "seller:s-7", "file.uploaded", "{}", NULL, FG_OK},
        {"", "operator", "store.checked", NULL, NULL, FG_OK},
        {"ord-1", "", "file.uploaded", NULL, NULL, FG_EUSAGE},
        {"ord-1", NULL, "file.uploaded", NULL, NULL, FG_EUSAGE},
        {"ord-1", long_actor, "file.uploaded", NULL, NULL, FG_ELIMIT},
        {"ord-1", "seller s-7", "file.uploaded", NULL, NULL, FG_EUSAGE},
        {"ord-1", "seller:s-7", "", NULL, NULL, FG_EUSAGE},
        {"ord-1", "seller:s-7", "File Uploaded", NULL, NULL, FG_EUSAGE},
        {"ord/1", "seller:s-7", "file.uploaded", NULL, NULL, FG_EUSAGE},
        /* A chain key that would break the checkpoints' heads text. */
        {"ord\"1", "seller:s-7", "file.uploaded", NULL, NULL, FG_EUSAGE},
        {"ord-1", "seller:s-7", "file.uploaded", big, NULL, FG_ELIMIT},
        {"ord-1", "seller:s-7", "file.uploaded", "{\"n\":\"\xff\"}", NULL,
         FG_EUSAGE},
        {"ord-1", "seller:s-7", "file.uploaded", NULL, "yesterday", FG_EUSAGE},
    };
    struct db d;
    db_open(&d);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fg_reason r = {""};
        fg_result rc = store_audit_append(d.m, rows[i].order, rows[i].actor,
                                          rows[i].action, rows[i].detail,
                                          rows[i].at, NULL, &r);
        if (rc != rows[i].want)
            TAP_FAIL("row %zu: got %s (%s)", i, fg_result_name(rc), r.text);
    }
    store_audit_report rep;
    fg_reason r;
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, 2);
    db_close(&d);
}

struct appender {
    const char *path;
    const char *actor;
    const char *order; /* NULL: its own order, then the shared one */
    int failed;
};

static void *append_many(void *arg)
{
    struct appender *x = arg;
    store_meta *m = NULL;
    fg_reason r;
    if (store_meta_open_sqlite(x->path, &m, &r) != FG_OK) {
        x->failed++;
        return NULL;
    }
    for (int i = 0; i < 30; i++)
        if (store_audit_append(m, i % 2 ? x->order : "ord-1", x->actor, "file.previewed",
                               NULL, NULL, NULL, &r))
            x->failed++;
    store_meta_free(m);
    return NULL;
}

static void *checkpoint_many(void *arg)
{
    struct appender *x = arg;
    store_meta *m = NULL;
    fg_reason r;
    if (store_meta_open_sqlite(x->path, &m, &r) != FG_OK) {
        x->failed++;
        return NULL;
    }
    for (int i = 0; i < 10; i++)
        if (store_audit_checkpoint_write(m, NULL, NULL, &r))
            x->failed++;
    store_meta_free(m);
    return NULL;
}

TEST("three handles appending at once, to one chain and their own, while checkpoints run")
{
    struct db d;
    fg_reason r;
    store_audit_report rep;
    struct appender a[4] = {{0}, {0}, {0}, {0}};
    pthread_t t[4];
    const char *actors[] = {"buyer:b-1", "buyer:b-2", "seller:s-1"};
    const char *orders[] = {"ord-a", "ord-b", "ord-c"};
    db_open(&d);
    for (int i = 0; i < 4; i++) {
        a[i].path = d.path;
        a[i].actor = i < 3 ? actors[i] : "";
        a[i].order = i < 3 ? orders[i] : "";
        CHECK(pthread_create(&t[i], NULL, i < 3 ? append_many : checkpoint_many, &a[i]) == 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(a[0].failed + a[1].failed + a[2].failed + a[3].failed, 0);
    checkpoint(d.m, raw_int(d.path, "SELECT COUNT(*) FROM audit_heads WHERE seq > checkpointed"));
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, 90);
    CHECK_INT(rep.chains, 4);
    CHECK_INT(raw_int(d.path, "SELECT seq FROM audit_heads WHERE chain = 'ord-1'"), 45);
    CHECK_INT(raw_int(d.path, "SELECT COUNT(*) FROM audit_heads WHERE seq > checkpointed"), 0);
    db_close(&d);
}

/* Rewrites checkpoint seq's heads to `heads` and recomputes its hash, as
 * an attacker who read storage/audit.h would. */
static void forge_checkpoint(const char *path, int64_t seq, const char *heads)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    store_audit_checkpoint c = {.seq = seq};
    fg_reason r = {""};
    char sql[512];
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "SELECT at, legacy, prev_hash FROM audit_checkpoints"
                                 " WHERE seq = ?1", -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, seq);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    snprintf(c.at, sizeof c.at, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(c.legacy, sizeof c.legacy, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(c.prev_hash, sizeof c.prev_hash, "%s", (const char *)sqlite3_column_text(st, 2));
    sqlite3_finalize(st);
    c.heads = (char *)heads;
    CHECK_INT(store_audit_checkpoint_hash(&c, c.hash, &r), FG_OK);
    snprintf(sql, sizeof sql,
             UNGUARD_CP "UPDATE audit_checkpoints SET heads = '%s', hash = '%s'"
                        " WHERE seq = %lld",
             heads, c.hash, (long long)seq);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

TEST("a checkpoint forged with a recomputed hash is found by the next one, or by its form")
{
    struct db d;
    fg_reason r = {""};
    store_audit_report rep;
    char heads[256];
    /* ord-2 dropped, and checkpoint 1 rewritten to never have named it. */
    db_open(&d);
    fill(d.m);
    checkpoint(d.m, 3);
    append(d.m, "ord-1", "buyer:b-1", "file.previewed", NULL);
    checkpoint(d.m, 1);
    store_audit_list l = {0};
    CHECK_INT(store_audit_list_get(d.m, NULL, 0, 0, &l, &r), FG_OK);
    snprintf(heads, sizeof heads, "[[\"\",1,\"%s\"],[\"ord-1\",3,\"%s\"]]", l.items[2].hash,
             l.items[4].hash);
    store_audit_list_release(&l);
    CHECK_INT(raw_exec(d.path, UNGUARD "DELETE FROM audit WHERE chain = 'ord-2';"
                                       " DELETE FROM audit_heads WHERE chain = 'ord-2';"),
              SQLITE_OK);
    forge_checkpoint(d.path, 1, heads);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_ECORRUPT);
    CHECK(rep.in_checkpoints);
    CHECK_INT(rep.first_bad, 2);
    CHECK(strstr(rep.why, "prev_hash") != NULL);
    db_close(&d);
    /* A heads text that is not the one way to write it: refused even with
     * a good hash (a second spelling could hide a chain from a parser). */
    static const char *const bad[] = {
        "[]",
        "[[\"ord-1\",3,\"x\"]]",
        "[[\"ord-1\",03,\"0000000000000000000000000000000000000000000000000000000000000000\"]]",
        "[[\"ord-2\",1,\"0000000000000000000000000000000000000000000000000000000000000000\"],"
        "[\"ord-1\",1,\"0000000000000000000000000000000000000000000000000000000000000000\"]]",
        "[[\"ord-1\", 1,\"0000000000000000000000000000000000000000000000000000000000000000\"]]",
        "[[\"ord-1\",1,\"0000000000000000000000000000000000000000000000000000000000000000\"]] ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        db_open(&d);
        fill(d.m);
        checkpoint(d.m, 3);
        forge_checkpoint(d.path, 1, bad[i]);
        CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_ECORRUPT);
        if (!strstr(rep.why, "malformed"))
            TAP_FAIL("heads %zu: %s", i, rep.why);
        db_close(&d);
    }
}
