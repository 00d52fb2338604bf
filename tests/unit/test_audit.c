/* The audit chain: canonical hash, append, list, verify, tamper detection,
 * and the SQLite triggers that keep the table append-only. */
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

static void append(store_meta *m, const char *order, const char *actor,
                   const char *action, const char *detail)
{
    fg_reason r;
    if (store_audit_append(m, order, actor, action, detail,
                           "2026-11-22T10:00:00Z", NULL, &r))
        TAP_FAIL("append %s: %s", action, r.text);
}

/* Five entries over two orders and one global event. */
static void fill(store_meta *m)
{
    append(m, "ord-1", "order-system", "order.created", "{\"buyer\":\"b-9\"}");
    append(m, "ord-1", "seller:s-7", "delivery.created", "{\"number\":1}");
    append(m, NULL, "operator", "store.opened", NULL);
    append(m, "ord-2", "order-system", "order.created", "{}");
    append(m, "ord-1", "order-system", "order.accepted", "{}");
}

TEST("the entry hash is SHA-256 of the documented netstring serialisation")
{
    /* Expected values computed independently (Python hashlib) from the
     * serialisation documented in storage/audit.h. */
    store_audit_entry e = {.seq = 1,
                           .order_id = "ord-1",
                           .at = "2026-11-22T10:00:00.000Z",
                           .actor = "order-system",
                           .action = "order.created",
                           .detail = "{\"seller_id\":\"s-7\",\"buyer\":\"Zo\xc3\xab\"}",
                           .prev_hash = STORE_AUDIT_GENESIS};
    char h[STORE_HEX_MAX];
    fg_reason r;
    CHECK_INT(store_audit_hash(&e, h, &r), FG_OK);
    CHECK_STR(h, "8373adc97aa6fd53e5578cc8c8ba7fa6ab911de7daa65d38ad834cdefa122faa");
    store_audit_entry g = {.seq = 2,
                           .order_id = "",
                           .at = "2026-11-22T10:00:00.000Z",
                           .actor = "operator",
                           .action = "store.opened",
                           .detail = "{}"};
    memset(g.prev_hash, 'a', 64);
    CHECK_INT(store_audit_hash(&g, h, &r), FG_OK);
    CHECK_STR(h, "4b4deb423adec6c7f8b4532b16a25a095e8249d95ffab5b4e3f96bed113e6923");
    /* Moving a byte between fields changes the hash (no ambiguity). */
    snprintf(g.actor, sizeof g.actor, "operato");
    snprintf(g.action, sizeof g.action, "rstore.opened");
    char h2[STORE_HEX_MAX];
    CHECK_INT(store_audit_hash(&g, h2, &r), FG_OK);
    CHECK(strcmp(h, h2) != 0);
}

TEST("appended entries chain: seq counts up and each prev_hash is the previous hash")
{
    struct db d;
    fg_reason r;
    store_audit_list all = {0};
    int64_t seq = 0;
    db_open(&d);
    fill(d.m);
    CHECK_INT(store_audit_append(d.m, "ord-2", "buyer:b-3", "file.previewed",
                                 "{\"file\":\"x\"}", NULL, &seq, &r),
              FG_OK);
    CHECK_INT(seq, 6);
    CHECK_INT(store_audit_list_get(d.m, NULL, 0, 0, &all, &r), FG_OK);
    CHECK_INT(all.n, 6);
    for (size_t i = 0; i < all.n; i++) {
        char want[STORE_HEX_MAX];
        CHECK_INT(all.items[i].seq, (int64_t)i + 1);
        CHECK_STR(all.items[i].prev_hash,
                  i ? all.items[i - 1].hash : STORE_AUDIT_GENESIS);
        CHECK_INT(store_audit_hash(&all.items[i], want, &r), FG_OK);
        CHECK_STR(all.items[i].hash, want);
    }
    CHECK_STR(all.items[2].order_id, ""); /* the global event */
    CHECK_STR(all.items[2].detail, "{}");
    CHECK_STR(all.items[0].at, "2026-11-22T10:00:00.000Z");
    CHECK_INT(strlen(all.items[5].at), 24); /* "now" has milliseconds */
    store_audit_list_release(&all);
    CHECK(all.items == NULL && all.n == 0);
    db_close(&d);
}

TEST("an order's trail lists only its entries, with hashes a client can recompute")
{
    struct db d;
    fg_reason r;
    store_audit_list l = {0};
    db_open(&d);
    fill(d.m);
    CHECK_INT(store_audit_list_get(d.m, "ord-1", 0, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, 3);
    int64_t want_seq[] = {1, 2, 5};
    const char *want_action[] = {"order.created", "delivery.created",
                                 "order.accepted"};
    for (size_t i = 0; i < l.n; i++) {
        char h[STORE_HEX_MAX];
        CHECK_INT(l.items[i].seq, want_seq[i]);
        CHECK_STR(l.items[i].action, want_action[i]);
        CHECK_STR(l.items[i].order_id, "ord-1");
        CHECK_INT(store_audit_hash(&l.items[i], h, &r), FG_OK);
        CHECK_STR(l.items[i].hash, h);
    }
    CHECK_STR(l.items[0].actor, "order-system");
    CHECK_STR(l.items[1].detail, "{\"number\":1}");
    store_audit_list_release(&l);
    /* Paging: after seq 1, at most 1 row. */
    CHECK_INT(store_audit_list_get(d.m, "ord-1", 1, 1, &l, &r), FG_OK);
    CHECK_INT(l.n, 1);
    CHECK_INT(l.items[0].seq, 2);
    store_audit_list_release(&l);
    CHECK_INT(store_audit_list_get(d.m, "ord-404", 0, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, 0);
    store_audit_list_release(&l);
    db_close(&d);
}

TEST("an untouched chain verifies, and an empty one too")
{
    struct db d;
    fg_reason r;
    store_audit_report rep;
    store_audit_list all = {0};
    db_open(&d);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, 0);
    CHECK_INT(rep.first_bad, 0);
    CHECK_STR(rep.head, STORE_AUDIT_GENESIS);
    fill(d.m);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, 5);
    CHECK_INT(rep.first_bad, 0);
    CHECK_STR(rep.why, "");
    CHECK_INT(store_audit_list_get(d.m, NULL, 0, 0, &all, &r), FG_OK);
    CHECK_STR(rep.head, all.items[4].hash);
    store_audit_list_release(&all);
    db_close(&d);
}

TEST("UPDATE and DELETE of audit rows are refused by the database itself")
{
    struct db d;
    fg_reason r;
    store_audit_report rep;
    db_open(&d);
    fill(d.m);
    CHECK_INT(raw_exec(d.path, "UPDATE audit SET detail = '{}' WHERE seq = 2"),
              SQLITE_CONSTRAINT);
    CHECK_INT(raw_exec(d.path, "DELETE FROM audit WHERE seq = 5"),
              SQLITE_CONSTRAINT);
    CHECK_INT(raw_exec(d.path, "DELETE FROM audit"), SQLITE_CONSTRAINT);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, 5);
    db_close(&d);
}

/* The triggers dropped first, as an attacker with the file would. */
#define UNGUARD "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; "

TEST("tampering with the file (triggers dropped) is found at the first broken entry")
{
    /* The hash of seq 2 recomputed over a changed detail, as a careful
     * forger would: only seq 3's prev_hash then gives it away. */
    static const char forge2[] =
        UNGUARD "UPDATE audit SET detail = '{\"number\":2}' WHERE seq = 2; "
                "UPDATE audit SET hash = '%s' WHERE seq = 2;";
    struct {
        const char *what;
        const char *sql; /* NULL: the forged-hash case */
        int64_t first_bad;
        int64_t count_ok_min; /* entries walked, at least */
    } rows[] = {
        {"detail changed", UNGUARD "UPDATE audit SET detail = '{\"number\":9}'"
                                   " WHERE seq = 2",
         2, 2},
        {"actor changed", UNGUARD "UPDATE audit SET actor = 'buyer:b-9'"
                                  " WHERE seq = 1",
         1, 1},
        {"time changed", UNGUARD "UPDATE audit SET at ="
                                 " '2026-11-21T10:00:00.000Z' WHERE seq = 4",
         4, 4},
        {"order moved", UNGUARD "UPDATE audit SET order_id = 'ord-2'"
                                " WHERE seq = 5",
         5, 5},
        {"global event given an order", UNGUARD "UPDATE audit SET order_id ="
                                                " 'ord-1' WHERE seq = 3",
         3, 3},
        {"middle entry removed", UNGUARD "DELETE FROM audit WHERE seq = 3", 4, 3},
        {"first entry removed", UNGUARD "DELETE FROM audit WHERE seq = 1", 2, 1},
        {"entries swapped", UNGUARD "UPDATE audit SET seq = 100 WHERE seq = 2;"
                                    " UPDATE audit SET seq = 2 WHERE seq = 3;"
                                    " UPDATE audit SET seq = 3 WHERE seq = 100;",
         2, 2},
        {"hash overwritten", UNGUARD "UPDATE audit SET hash = 'x'"
                                     " WHERE seq = 5",
         5, 5},
        {"actor too long to be real", UNGUARD "UPDATE audit SET actor ="
                                              " printf('%.300c', 'x')"
                                              " WHERE seq = 2",
         2, 2},
        {"forged hash", NULL, 3, 3},
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
            CHECK_INT(store_audit_list_get(d.m, NULL, 1, 1, &l, &r), FG_OK);
            char *detail = l.items[0].detail;
            l.items[0].detail = "{\"number\":2}";
            char h[STORE_HEX_MAX];
            CHECK_INT(store_audit_hash(&l.items[0], h, &r), FG_OK);
            l.items[0].detail = detail;
            store_audit_list_release(&l);
            snprintf(sql, sizeof sql, forge2, h);
        }
        CHECK_INT(raw_exec(d.path, sql), SQLITE_OK);
        fg_result rc = store_audit_verify(d.m, &rep, &r);
        if (rc != FG_ECORRUPT || rep.first_bad != rows[i].first_bad)
            TAP_FAIL("%s: got %s first_bad %lld (%s)", rows[i].what,
                     fg_result_name(rc), (long long)rep.first_bad, r.text);
        CHECK(rep.count >= rows[i].count_ok_min);
        CHECK(rep.why[0] != '\0');
        CHECK(strstr(r.text, "broken") != NULL);
        db_close(&d);
    }
}

TEST("removing the last entry leaves a valid chain with a different head")
{
    struct db d;
    fg_reason r;
    store_audit_report before, after;
    db_open(&d);
    fill(d.m);
    CHECK_INT(store_audit_verify(d.m, &before, &r), FG_OK);
    CHECK_INT(raw_exec(d.path, UNGUARD "DELETE FROM audit WHERE seq = 5"),
              SQLITE_OK);
    CHECK_INT(store_audit_verify(d.m, &after, &r), FG_OK);
    /* Only a head kept elsewhere shows it: that is what head is for. */
    CHECK(strcmp(before.head, after.head) != 0);
    CHECK_INT(after.count, 4);
    db_close(&d);
}

TEST("an entry appended in a rolled-back transaction leaves no trace and no gap")
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
    CHECK_INT(seq, 6);
    store_meta_rollback(d.m);
    CHECK_INT(store_audit_append(d.m, "ord-1", "order-system", "order.accepted",
                                 NULL, NULL, &seq, &r),
              FG_OK);
    CHECK_INT(seq, 6);
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
        if (store_audit_append(m, "ord-1", x->actor, "file.previewed", NULL,
                               NULL, NULL, &r))
            x->failed++;
    store_meta_free(m);
    return NULL;
}

TEST("three handles appending at once keep one unbroken chain")
{
    struct db d;
    fg_reason r;
    store_audit_report rep;
    struct appender a[3] = {{0}, {0}, {0}};
    pthread_t t[3];
    const char *actors[] = {"buyer:b-1", "buyer:b-2", "seller:s-1"};
    db_open(&d);
    for (int i = 0; i < 3; i++) {
        a[i].path = d.path;
        a[i].actor = actors[i];
        CHECK(pthread_create(&t[i], NULL, append_many, &a[i]) == 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(a[0].failed + a[1].failed + a[2].failed, 0);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, 90);
    db_close(&d);
}
