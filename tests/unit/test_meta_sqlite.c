/* The metadata store on real SQLite files in a temp directory; the tests
 * that hold for any engine (DB_TEST) run on PostgreSQL too when
 * tests/run.sh gives a server (tests/unit/test_meta_pg.c has
 * PostgreSQL's own). */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <pthread.h>
#include <sqlite3.h>
#include <time.h>

#include "storage/meta.h"
#include "storage/schema_sqlite.h"

/* One value from a query on a separate, raw connection. */
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

static void mk_order(store_meta *m, const char *id)
{
    fg_reason r;
    bool created;
    fg_result rc = store_order_create(m, id, "s-7", "b-9", "Zo\xc3\xab Martin",
                                      "{\"buyer\":\"Zo\xc3\xab\"}",
                                      "2026-11-22T10:00:00Z", &created, &r);
    if (rc)
        TAP_FAIL("create %s: %s", id, r.text);
}

/* ---- opening and migrations ---- */

TEST("a fresh database is migrated to the latest schema in WAL mode")
{
    struct db d;
    fg_reason r;
    int v = 0;
    db_open(&d);
    CHECK_INT(store_meta_schema_version(d.m, &v, &r), FG_OK);
    CHECK_INT(v, store_sqlite_schema_latest());
    CHECK_INT(raw_int(d.path, "SELECT count(*) FROM schema_version"),
              store_sqlite_schema_latest());
    CHECK_INT(raw_int(d.path, "SELECT count(*) FROM sqlite_schema WHERE "
                              "type='table' AND name IN ('orders','deliveries',"
                              "'files','webhooks','audit')"),
              5);
    sqlite3 *raw = NULL;
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_open(d.path, &raw) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL) == 0);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(raw);
    db_close(&d);
}

TEST("reopening a migrated database applies nothing twice and keeps data")
{
    struct db d;
    fg_reason r;
    store_order o;
    int v = 0;
    db_open(&d);
    mk_order(d.m, "ord-1");
    for (int i = 0; i < 3; i++) {
        store_meta_free(d.m);
        CHECK_INT(store_meta_open_sqlite(d.path, &d.m, &r), FG_OK);
    }
    CHECK_INT(store_meta_schema_version(d.m, &v, &r), FG_OK);
    CHECK_INT(v, store_sqlite_schema_latest());
    CHECK_INT(raw_int(d.path, "SELECT count(*) FROM schema_version"),
              store_sqlite_schema_latest());
    CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_OK);
    db_close(&d);
}

TEST("a database migrated by a newer program is refused")
{
    struct db d;
    fg_reason r = {""};
    db_open(&d);
    store_meta_free(d.m);
    d.m = NULL;
    sqlite3 *raw = NULL;
    CHECK(sqlite3_open(d.path, &raw) == SQLITE_OK);
    CHECK(sqlite3_exec(raw, "INSERT INTO schema_version VALUES (99, 'x')",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(raw);
    store_meta *m = (store_meta *)1;
    CHECK_INT(store_meta_open_sqlite(d.path, &m, &r), FG_ECORRUPT);
    CHECK(m == NULL);
    CHECK(strstr(r.text, "newer") != NULL);
    CHECK(strstr(r.text, d.dir) == NULL); /* no server path in a reason */
    db_close(&d);
}

TEST("a file that is not a database is refused without naming its path")
{
    char dir[256], path[300];
    fg_reason r = {""};
    store_meta *m = NULL;
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(path, sizeof path, "%s/junk.db", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    for (int i = 0; i < 100; i++)
        fputs("this is not a database at all, just text\n", f);
    fclose(f);
    CHECK_INT(store_meta_open_sqlite(path, &m, &r), FG_EIO);
    CHECK(m == NULL);
    CHECK(strstr(r.text, dir) == NULL);
    store_meta_free(NULL); /* accepted */
    tmp_dir_remove(dir);
}

struct opener {
    const char *path;
    fg_result rc;
    char why[FG_REASON_MAX];
};

static void *open_one(void *arg)
{
    struct opener *o = arg;
    store_meta *m = NULL;
    fg_reason r = {""};
    o->rc = store_meta_open_sqlite(o->path, &m, &r);
    memcpy(o->why, r.text, sizeof o->why);
    store_meta_free(m);
    return NULL;
}

TEST("six handles opening one fresh database at once all succeed, migrated once")
{
    char dir[256], path[300];
    pthread_t t[6];
    struct opener o[6];
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(path, sizeof path, "%s/meta.db", dir);
    for (int i = 0; i < 6; i++) {
        o[i] = (struct opener){.path = path};
        CHECK(pthread_create(&t[i], NULL, open_one, &o[i]) == 0);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 6; i++)
        if (o[i].rc != FG_OK)
            TAP_FAIL("opener %d: %s", i, o[i].why);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM schema_version"),
              store_sqlite_schema_latest());
    tmp_dir_remove(dir);
}

/* ---- orders ---- */

DB_TEST("an order is created open and read back field by field")
{
    struct db d;
    fg_reason r;
    store_order o;
    bool created = false;
    db_open(&d);
    CHECK_INT(store_order_create(d.m, "ord-1", "s-7", "b-9", "Zo\xc3\xab Martin",
                                 "{\"k\":1}", "2026-11-22T10:00:00Z", &created,
                                 &r),
              FG_OK);
    CHECK(created);
    CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_OK);
    CHECK_STR(o.id, "ord-1");
    CHECK_STR(o.state, "open");
    CHECK_STR(o.seller_id, "s-7");
    CHECK_STR(o.buyer_id, "b-9");
    CHECK_STR(o.buyer_name, "Zo\xc3\xab Martin");
    CHECK_STR(o.labels, "{\"k\":1}");
    CHECK_STR(o.created_at, "2026-11-22T10:00:00.000Z");
    CHECK_STR(o.released_at, "");
    CHECK_INT(store_order_create(d.m, "ord-2", "s-7", "b-9", NULL, NULL, NULL,
                                 NULL, &r),
              FG_OK);
    CHECK_INT(store_order_get(d.m, "ord-2", &o, &r), FG_OK);
    CHECK_STR(o.buyer_name, "");
    CHECK_STR(o.labels, "{}");
    CHECK_INT(strlen(o.created_at), 24);
    CHECK(o.created_at[23] == 'Z');
    db_close(&d);
}

DB_TEST("creating an existing order with the same parties is a no-op, other parties a conflict")
{
    struct db d;
    fg_reason r;
    store_order o;
    bool created = true;
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_order_create(d.m, "ord-1", "s-7", "b-9", "Other Name", NULL,
                                 NULL, &created, &r),
              FG_OK);
    CHECK(!created);
    CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_OK);
    CHECK_STR(o.buyer_name, "Zo\xc3\xab Martin"); /* unchanged */
    CHECK_INT(store_order_create(d.m, "ord-1", "s-8", "b-9", NULL, NULL, NULL,
                                 &created, &r),
              FG_ESTATE);
    CHECK_INT(store_order_create(d.m, "ord-1", "s-7", "b-10", NULL, NULL, NULL,
                                 &created, &r),
              FG_ESTATE);
    CHECK(!created);
    db_close(&d);
}

DB_TEST("malformed and over-long order fields are refused with fitting codes")
{
    char long_id[FG_MAX_ID + 2], max_id[FG_MAX_ID + 1];
    char long_name[FG_MAX_BUYER_NAME + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    memset(max_id, 'a', sizeof max_id - 1);
    max_id[sizeof max_id - 1] = '\0';
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    struct {
        const char *id, *seller, *buyer, *name, *labels, *at;
        fg_result want;
    } rows[] = {
        {"ord-ok", "s", "b", NULL, NULL, NULL, FG_OK},
        {max_id, "s", "b", NULL, NULL, NULL, FG_OK},
        {long_id, "s", "b", NULL, NULL, NULL, FG_ELIMIT},
        {"", "s", "b", NULL, NULL, NULL, FG_EUSAGE},
        {NULL, "s", "b", NULL, NULL, NULL, FG_EUSAGE},
        {"../etc", "s", "b", NULL, NULL, NULL, FG_EUSAGE},
        {"a/b", "s", "b", NULL, NULL, NULL, FG_EUSAGE},
        {"a b", "s", "b", NULL, NULL, NULL, FG_EUSAGE},
        {"ord\n1", "s", "b", NULL, NULL, NULL, FG_EUSAGE},
        {"ord-x", "", "b", NULL, NULL, NULL, FG_EUSAGE},
        {"ord-x", "s", "b?", NULL, NULL, NULL, FG_EUSAGE},
        {"ord-x", "s", "b", long_name, NULL, NULL, FG_ELIMIT},
        {"ord-x", "s", "b", "bad \xff utf8", NULL, NULL, FG_EUSAGE},
        {"ord-x", "s", "b", "overlong \xc0\xaf", NULL, NULL, FG_EUSAGE},
        {"ord-x", "s", "b", "surrogate \xed\xa0\x80", NULL, NULL, FG_EUSAGE},
        {"ord-x", "s", "b", "cut \xe2\x82", NULL, NULL, FG_EUSAGE},
        {"ord-x", "s", "b", NULL, "", NULL, FG_EUSAGE},
        {"ord-x", "s", "b", NULL, NULL, "2026-11-22 10:00:00", FG_EUSAGE},
        {"ord-x", "s", "b", NULL, NULL, "2026-11-22T10:00:00+02:00", FG_EUSAGE},
        {"ord-x", "s", "b", NULL, NULL, "2026-13-22T10:00:00Z", FG_EUSAGE},
        {"ord-y", "s", "b", "\xf0\x9f\x98\x80 ok", NULL,
         "2026-11-22T10:00:00.123Z", FG_OK},
    };
    struct db d;
    db_open(&d);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fg_reason r = {""};
        fg_result rc = store_order_create(d.m, rows[i].id, rows[i].seller,
                                          rows[i].buyer, rows[i].name,
                                          rows[i].labels, rows[i].at, NULL, &r);
        if (rc != rows[i].want)
            TAP_FAIL("row %zu: got %s (%s), want %s", i, fg_result_name(rc),
                     r.text, fg_result_name(rows[i].want));
    }
    store_order o;
    fg_reason r;
    CHECK_INT(store_order_get(d.m, "ord-x", &o, &r), FG_ENOTFOUND);
    CHECK_INT(store_order_get(d.m, "ord-y", &o, &r), FG_OK);
    CHECK_STR(o.created_at, "2026-11-22T10:00:00.123Z");
    db_close(&d);
}

DB_TEST("an unknown or impossible order id is not found")
{
    struct db d;
    fg_reason r;
    store_order o;
    db_open(&d);
    CHECK_INT(store_order_get(d.m, "ord-404", &o, &r), FG_ENOTFOUND);
    CHECK_INT(store_order_get(d.m, "../../etc/passwd", &o, &r), FG_ENOTFOUND);
    CHECK_INT(store_order_get(d.m, "", &o, &r), FG_ENOTFOUND);
    db_close(&d);
}

/* ---- state changes ---- */

DB_TEST("state changes happen only from an allowed state, and accepting sets released_at")
{
    static const char *const from_open[] = {"open", NULL};
    static const char *const from_live[] = {"open", "disputed", NULL};
    static const char *const from_bad[] = {"open", "closed", NULL};
    struct {
        const char *to;
        const char *const *from;
        fg_result want;
        const char *prev;  /* state before, as reported */
        const char *after; /* state after */
    } steps[] = {
        {"disputed", from_open, FG_OK, "open", "disputed"},
        {"disputed", from_open, FG_ESTATE, "disputed", "disputed"},
        {"accepted", from_bad, FG_EUSAGE, "", "disputed"},
        {"released", from_live, FG_EUSAGE, "", "disputed"},
        {"accepted", from_live, FG_OK, "disputed", "accepted"},
        {"cancelled", from_live, FG_ESTATE, "accepted", "accepted"},
        {"accepted", from_live, FG_ESTATE, "accepted", "accepted"},
    };
    struct db d;
    fg_reason r;
    store_order o;
    db_open(&d);
    mk_order(d.m, "ord-1");
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        char prev[STORE_WORD_MAX] = "";
        fg_result rc = store_order_set_state(d.m, "ord-1", steps[i].to,
                                             steps[i].from,
                                             "2026-11-25T09:12:00Z", prev, &r);
        if (rc != steps[i].want)
            TAP_FAIL("step %zu: got %s (%s)", i, fg_result_name(rc), r.text);
        CHECK_STR(prev, steps[i].prev);
        CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_OK);
        CHECK_STR(o.state, steps[i].after);
    }
    CHECK_STR(o.released_at, "2026-11-25T09:12:00.000Z");
    CHECK_INT(store_order_set_state(d.m, "ord-404", "accepted", from_live, NULL,
                                    NULL, &r),
              FG_ENOTFOUND);
    /* Cancelling does not set released_at. */
    mk_order(d.m, "ord-2");
    CHECK_INT(store_order_set_state(d.m, "ord-2", "cancelled", from_live, NULL,
                                    NULL, &r),
              FG_OK);
    CHECK_INT(store_order_get(d.m, "ord-2", &o, &r), FG_OK);
    CHECK_STR(o.state, "cancelled");
    CHECK_STR(o.released_at, "");
    db_close(&d);
}

struct racer {
    const char *path;
    const char *to;
    int won;
    int lost;
    int failed;
};

#define RACE_ORDERS 40

static void *race(void *arg)
{
    static const char *const from[] = {"open", "disputed", NULL};
    struct racer *x = arg;
    store_meta *m = NULL;
    fg_reason r;
    if (store_meta_open_db(x->path, &m, &r) != FG_OK) {
        x->failed++;
        return NULL;
    }
    for (int i = 0; i < RACE_ORDERS; i++) {
        char id[32];
        snprintf(id, sizeof id, "ord-%d", i);
        fg_result rc = store_order_set_state(m, id, x->to, from, NULL, NULL, &r);
        if (rc == FG_OK)
            x->won++;
        else if (rc == FG_ESTATE)
            x->lost++;
        else
            x->failed++;
    }
    store_meta_free(m);
    return NULL;
}

DB_TEST("accept and cancel racing on two handles: exactly one wins for each order")
{
    struct db d;
    fg_reason r;
    db_open(&d);
    for (int i = 0; i < RACE_ORDERS; i++) {
        char id[32];
        snprintf(id, sizeof id, "ord-%d", i);
        mk_order(d.m, id);
    }
    const char *where = d.engine == DB_SQLITE ? d.path : d.url;
    struct racer a = {where, "accepted", 0, 0, 0};
    struct racer c = {where, "cancelled", 0, 0, 0};
    pthread_t ta, tc;
    CHECK(pthread_create(&ta, NULL, race, &a) == 0);
    CHECK(pthread_create(&tc, NULL, race, &c) == 0);
    pthread_join(ta, NULL);
    pthread_join(tc, NULL);
    CHECK_INT(a.failed + c.failed, 0);
    CHECK_INT(a.won + c.won, RACE_ORDERS);
    CHECK_INT(a.lost + c.lost, RACE_ORDERS);
    int accepted = 0;
    for (int i = 0; i < RACE_ORDERS; i++) {
        char id[32];
        store_order o;
        snprintf(id, sizeof id, "ord-%d", i);
        CHECK_INT(store_order_get(d.m, id, &o, &r), FG_OK);
        accepted += strcmp(o.state, "accepted") == 0;
        CHECK(strcmp(o.state, "accepted") == 0 ? o.released_at[0] != '\0'
                                               : o.released_at[0] == '\0');
    }
    CHECK_INT(accepted, a.won);
    db_close(&d);
}

/* ---- deliveries ---- */

DB_TEST("deliveries are numbered 1, 2, 3 per order and listed in order")
{
    struct db d;
    fg_reason r;
    int n = 0;
    store_delivery_list l = {0};
    store_delivery one;
    db_open(&d);
    mk_order(d.m, "ord-1");
    mk_order(d.m, "ord-2");
    const char *msgs[] = {"first cut", NULL, "final \xe2\x9c\x93"};
    for (int i = 0; i < 3; i++) {
        CHECK_INT(store_delivery_create(d.m, "ord-1", msgs[i], NULL, &n, &r),
                  FG_OK);
        CHECK_INT(n, i + 1);
    }
    CHECK_INT(store_delivery_create(d.m, "ord-2", "x", "2026-11-23T08:00:00Z",
                                    &n, &r),
              FG_OK);
    CHECK_INT(n, 1);
    CHECK_INT(store_delivery_list_get(d.m, "ord-1", &l, &r), FG_OK);
    CHECK_INT(l.n, 3);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(l.items[i].number, i + 1);
        CHECK_STR(l.items[i].order_id, "ord-1");
        CHECK_STR(l.items[i].message, msgs[i] ? msgs[i] : "");
    }
    store_delivery_list_release(&l);
    CHECK(l.items == NULL && l.n == 0);
    CHECK_INT(store_delivery_get(d.m, "ord-2", 1, &one, &r), FG_OK);
    CHECK_STR(one.created_at, "2026-11-23T08:00:00.000Z");
    CHECK_INT(store_delivery_get(d.m, "ord-2", 2, &one, &r), FG_ENOTFOUND);
    CHECK_INT(store_delivery_get(d.m, "ord-2", 0, &one, &r), FG_ENOTFOUND);
    CHECK_INT(store_delivery_create(d.m, "ord-404", NULL, NULL, &n, &r),
              FG_ENOTFOUND);
    CHECK_INT(store_delivery_list_get(d.m, "ord-404", &l, &r), FG_OK);
    CHECK_INT(l.n, 0);
    store_delivery_list_release(&l);
    db_close(&d);
}

DB_TEST("a delivery message over its limit is refused")
{
    struct db d;
    fg_reason r;
    int n = 0;
    static char msg[FG_MAX_MESSAGE + 2];
    db_open(&d);
    mk_order(d.m, "ord-1");
    memset(msg, 'm', FG_MAX_MESSAGE + 1);
    CHECK_INT(store_delivery_create(d.m, "ord-1", msg, NULL, &n, &r), FG_ELIMIT);
    msg[FG_MAX_MESSAGE] = '\0';
    CHECK_INT(store_delivery_create(d.m, "ord-1", msg, NULL, &n, &r), FG_OK);
    CHECK_INT(n, 1);
    db_close(&d);
}

struct numberer {
    const char *path;
    int got[25];
    int failed;
};

static void *number_many(void *arg)
{
    struct numberer *x = arg;
    store_meta *m = NULL;
    fg_reason r;
    if (store_meta_open_db(x->path, &m, &r) != FG_OK) {
        x->failed++;
        return NULL;
    }
    for (int i = 0; i < 25; i++)
        if (store_delivery_create(m, "ord-1", NULL, NULL, &x->got[i], &r))
            x->failed++;
    store_meta_free(m);
    return NULL;
}

DB_TEST("two handles creating deliveries at once get distinct numbers 1..50")
{
    struct db d;
    struct numberer a = {0}, b = {0};
    bool seen[51] = {false};
    db_open(&d);
    mk_order(d.m, "ord-1");
    a.path = b.path = d.engine == DB_SQLITE ? d.path : d.url;
    pthread_t ta, tb;
    CHECK(pthread_create(&ta, NULL, number_many, &a) == 0);
    CHECK(pthread_create(&tb, NULL, number_many, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_INT(a.failed + b.failed, 0);
    for (int i = 0; i < 25; i++) {
        CHECK(a.got[i] >= 1 && a.got[i] <= 50 && !seen[a.got[i]]);
        seen[a.got[i]] = true;
        CHECK(b.got[i] >= 1 && b.got[i] <= 50 && !seen[b.got[i]]);
        seen[b.got[i]] = true;
    }
    db_close(&d);
}

/* ---- files ---- */

#define SHA_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SHA_B "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
#define SHA_C "fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13"

static store_file file_in(const char *order, int delivery, const char *name)
{
    store_file f = {0};
    snprintf(f.order_id, sizeof f.order_id, "%s", order);
    f.delivery = delivery;
    snprintf(f.name, sizeof f.name, "%s", name);
    f.size = 81234;
    snprintf(f.sha256, sizeof f.sha256, "%s", SHA_A);
    snprintf(f.mime, sizeof f.mime, "image/png");
    snprintf(f.kind, sizeof f.kind, "image");
    snprintf(f.preview, sizeof f.preview, "processing");
    return f;
}

DB_TEST("files are added, read back with their order, updated and listed in upload order")
{
    struct db d;
    fg_reason r;
    int n;
    char id1[STORE_FILE_ID_MAX], id2[STORE_FILE_ID_MAX], id3[STORE_FILE_ID_MAX];
    store_file f, got;
    store_file_list l = {0};
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);

    f = file_in("ord-1", 2, "z last.png");
    CHECK_INT(store_file_add(d.m, &f, id1, &r), FG_OK);
    CHECK(store_file_id_valid(id1));
    f = file_in("ord-1", 1, "logo final.png");
    CHECK_INT(store_file_add(d.m, &f, id2, &r), FG_OK);
    f = file_in("ord-1", 2, "a first.pdf");
    snprintf(f.id, sizeof f.id, "0123456789abcdef0123456789abcdef");
    snprintf(f.kind, sizeof f.kind, "pdf");
    snprintf(f.mime, sizeof f.mime, "application/pdf");
    snprintf(f.preview, sizeof f.preview, "withheld");
    snprintf(f.reason, sizeof f.reason, "pdf previews come later");
    CHECK_INT(store_file_add(d.m, &f, id3, &r), FG_OK);
    CHECK_STR(id3, "0123456789abcdef0123456789abcdef");
    CHECK(strcmp(id1, id2) != 0);

    CHECK_INT(store_file_get(d.m, id2, &got, &r), FG_OK);
    CHECK_STR(got.id, id2);
    CHECK_STR(got.order_id, "ord-1");
    CHECK_INT(got.delivery, 1);
    CHECK_STR(got.name, "logo final.png");
    CHECK_INT(got.size, 81234);
    CHECK_STR(got.sha256, SHA_A);
    CHECK_STR(got.mime, "image/png");
    CHECK_STR(got.kind, "image");
    CHECK_STR(got.preview, "processing");
    CHECK_STR(got.reason, "");
    CHECK_STR(got.preview_sha256, "");
    CHECK_INT(got.buyer_views, 0);

    CHECK_INT(store_file_set_preview(d.m, id2, "ready", NULL, SHA_B,
                                     "image/jpeg", &r),
              FG_OK);
    CHECK_INT(store_file_get(d.m, id2, &got, &r), FG_OK);
    CHECK_STR(got.preview, "ready");
    CHECK_STR(got.preview_sha256, SHA_B);
    CHECK_STR(got.preview_mime, "image/jpeg");
    CHECK_INT(store_file_set_preview(d.m, id1, "failed", "decoder crashed",
                                     NULL, NULL, &r),
              FG_OK);
    CHECK_INT(store_file_get(d.m, id1, &got, &r), FG_OK);
    CHECK_STR(got.preview, "failed");
    CHECK_STR(got.reason, "decoder crashed");

    CHECK_INT(store_file_list_delivery(d.m, "ord-1", 2, &l, &r), FG_OK);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.items[0].id, id1); /* upload order, not name order */
    CHECK_STR(l.items[1].id, id3);
    CHECK_STR(l.items[1].reason, "pdf previews come later");
    store_file_list_release(&l);
    CHECK_INT(store_file_list_order(d.m, "ord-1", &l, &r), FG_OK);
    CHECK_INT(l.n, 3);
    CHECK_STR(l.items[0].id, id2); /* delivery 1 first */
    CHECK_STR(l.items[1].id, id1);
    CHECK_STR(l.items[2].id, id3);
    store_file_list_release(&l);
    CHECK_INT(store_file_list_order(d.m, "ord-404", &l, &r), FG_OK);
    CHECK_INT(l.n, 0);
    store_file_list_release(&l);
    db_close(&d);
}

DB_TEST("bad file rows are refused with fitting codes")
{
    static char long_name[FG_MAX_FILE_NAME + 2];
    struct db d;
    fg_reason r;
    int n;
    char id[STORE_FILE_ID_MAX];
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);
    struct {
        const char *what;
        store_file f;
        fg_result want;
    } rows[] = {
        {"good", file_in("ord-1", 1, "ok.png"), FG_OK},
        {"no delivery 2", file_in("ord-1", 2, "x.png"), FG_ENOTFOUND},
        {"no order", file_in("ord-9", 1, "x.png"), FG_ENOTFOUND},
        {"delivery 0", file_in("ord-1", 0, "x.png"), FG_EUSAGE},
        {"empty name", file_in("ord-1", 1, ""), FG_EUSAGE},
        {"bad utf8 name", file_in("ord-1", 1, "x\xfe.png"), FG_EUSAGE},
        {"traversal name is just a name", file_in("ord-1", 1, "../../etc/passwd"),
         FG_OK},
    };
    size_t nrows = sizeof rows / sizeof rows[0];
    for (size_t i = 0; i < nrows; i++) {
        fg_result rc = store_file_add(d.m, &rows[i].f, id, &r);
        if (rc != rows[i].want)
            TAP_FAIL("%s: got %s (%s)", rows[i].what, fg_result_name(rc), r.text);
    }
    store_file f = file_in("ord-1", 1, "x");
    memset(long_name, 'n', FG_MAX_FILE_NAME + 1);
    memcpy(f.name, long_name, FG_MAX_FILE_NAME); /* exactly at the limit */
    f.name[FG_MAX_FILE_NAME] = '\0';
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_OK);
    f = file_in("ord-1", 1, "x");
    snprintf(f.sha256, sizeof f.sha256, "%s", "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08");
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_EUSAGE);
    f = file_in("ord-1", 1, "x");
    f.sha256[10] = '\0';
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_EUSAGE);
    f = file_in("ord-1", 1, "x");
    snprintf(f.kind, sizeof f.kind, "spreadsheet");
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_EUSAGE);
    f = file_in("ord-1", 1, "x");
    snprintf(f.preview, sizeof f.preview, "done");
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_EUSAGE);
    f = file_in("ord-1", 1, "x");
    f.size = -1;
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_EUSAGE);
    f = file_in("ord-1", 1, "x");
    snprintf(f.id, sizeof f.id, "not-hex");
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_EUSAGE);
    CHECK_INT(store_file_add(d.m, &rows[0].f, id, &r), FG_OK);
    f = file_in("ord-1", 1, "same id again");
    snprintf(f.id, sizeof f.id, "%s", id);
    CHECK_INT(store_file_add(d.m, &f, NULL, &r), FG_ESTATE);
    CHECK_INT(store_file_set_preview(d.m, id, "ready", NULL, NULL, NULL, &r),
              FG_EUSAGE);
    CHECK_INT(store_file_set_preview(d.m, "00000000000000000000000000000000",
                                     "withheld", NULL, NULL, NULL, &r),
              FG_ENOTFOUND);
    store_file got;
    CHECK_INT(store_file_get(d.m, "00000000000000000000000000000000", &got, &r),
              FG_ENOTFOUND);
    CHECK_INT(store_file_get(d.m, "../../x", &got, &r), FG_ENOTFOUND);
    db_close(&d);
}

DB_TEST("a file's poster is set, read back in the file and the list, replaced and cleared")
{
    struct db d;
    fg_reason r;
    int n;
    char id[STORE_FILE_ID_MAX];
    store_file got;
    store_file_list l = {0};
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);
    store_file f = file_in("ord-1", 1, "clip.mp4");
    snprintf(f.kind, sizeof f.kind, "video");
    snprintf(f.mime, sizeof f.mime, "video/mp4");
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_OK);
    CHECK_INT(store_file_get(d.m, id, &got, &r), FG_OK);
    CHECK_STR(got.poster_sha256, "");
    CHECK_STR(got.poster_mime, "");
    CHECK_INT(store_file_set_poster(d.m, id, SHA_B, "image/jpeg", &r), FG_OK);
    CHECK_INT(store_file_get(d.m, id, &got, &r), FG_OK);
    CHECK_STR(got.poster_sha256, SHA_B);
    CHECK_STR(got.poster_mime, "image/jpeg");
    CHECK_STR(got.kind, "video");
    CHECK_INT(store_file_list_delivery(d.m, "ord-1", 1, &l, &r), FG_OK);
    CHECK_INT(l.n, 1);
    if (l.n == 1)
        CHECK_STR(l.items[0].poster_sha256, SHA_B);
    store_file_list_release(&l);
    CHECK_INT(store_file_set_poster(d.m, id, SHA_C, "image/jpeg", &r), FG_OK);
    CHECK_INT(store_file_get(d.m, id, &got, &r), FG_OK);
    CHECK_STR(got.poster_sha256, SHA_C);
    CHECK_INT(store_file_set_poster(d.m, id, "", "", &r), FG_OK);
    CHECK_INT(store_file_get(d.m, id, &got, &r), FG_OK);
    CHECK_STR(got.poster_sha256, "");
    CHECK_STR(got.poster_mime, "");
    db_close(&d);
}

DB_TEST("a malformed poster or an unknown file is refused, and the poster is left as it was")
{
    struct db d;
    fg_reason r;
    int n;
    char id[STORE_FILE_ID_MAX];
    store_file got;
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);
    store_file f = file_in("ord-1", 1, "clip.mp4");
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_OK);
    CHECK_INT(store_file_set_poster(d.m, id, SHA_B, "image/jpeg", &r), FG_OK);
    CHECK_INT(store_file_set_poster(d.m, id, SHA_C, NULL, &r), FG_EUSAGE);
    CHECK_INT(store_file_set_poster(d.m, id, NULL, "image/jpeg", &r), FG_EUSAGE);
    CHECK_INT(store_file_set_poster(d.m, id, "ABCDEF", "image/jpeg", &r), FG_EUSAGE);
    CHECK_INT(store_file_set_poster(d.m, id, SHA_C, "image/jpeg\r\nX-Evil: 1", &r), FG_EUSAGE);
    CHECK_INT(store_file_set_poster(d.m, "00000000000000000000000000000000", SHA_C, "image/jpeg",
                                    &r),
              FG_ENOTFOUND);
    CHECK_INT(store_file_set_poster(d.m, "../../x", SHA_C, "image/jpeg", &r), FG_ENOTFOUND);
    CHECK_INT(store_file_get(d.m, id, &got, &r), FG_OK);
    CHECK_STR(got.poster_sha256, SHA_B);
    db_close(&d);
}

DB_TEST("a file's salt and commitment are stored with it, both or neither")
{
    struct db d;
    fg_reason r;
    int n;
    char id[STORE_FILE_ID_MAX];
    store_file f, got;
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);
    f = file_in("ord-1", 1, "pin.txt");
    snprintf(f.salt, sizeof f.salt, "%s", SHA_B);
    snprintf(f.commitment, sizeof f.commitment, "%s", SHA_A);
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_OK);
    CHECK_INT(store_file_get(d.m, id, &got, &r), FG_OK);
    CHECK_STR(got.salt, SHA_B);
    CHECK_STR(got.commitment, SHA_A);
    CHECK_STR(got.sha256, SHA_A);
    /* Neither: a file with no commitment (stored before them). */
    f = file_in("ord-1", 1, "old.txt");
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_OK);
    CHECK_INT(store_file_get(d.m, id, &got, &r), FG_OK);
    CHECK_STR(got.salt, "");
    CHECK_STR(got.commitment, "");
    /* One without the other, or malformed: refused. */
    f = file_in("ord-1", 1, "x");
    snprintf(f.salt, sizeof f.salt, "%s", SHA_B);
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_EUSAGE);
    f = file_in("ord-1", 1, "x");
    snprintf(f.commitment, sizeof f.commitment, "%s", SHA_B);
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_EUSAGE);
    f = file_in("ord-1", 1, "x");
    snprintf(f.salt, sizeof f.salt, "%s", SHA_B);
    snprintf(f.commitment, sizeof f.commitment, "%.63s", SHA_A);
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_EUSAGE);
    db_close(&d);
}

TEST("a file stored before commitments keeps its row, with no salt, after the upgrade")
{
    struct db d;
    fg_reason r;
    store_file got;
    int step = store_sqlite_schema_step_of("ADD COLUMN salt");
    CHECK(step > 0);
    db_open(&d);
    store_meta_free(d.m);
    d.m = NULL;
    CHECK(remove(d.path) == 0);
    /* A database at the step before, with one row in it, as an older
     * program left it. */
    sqlite3 *raw = NULL;
    CHECK(sqlite3_open(d.path, &raw) == SQLITE_OK);
    if (store_sqlite_migrate_to(raw, step - 1, &r))
        TAP_FAIL("migrate: %s", r.text);
    CHECK(sqlite3_exec(raw,
                       "INSERT INTO orders(id, seller_id, buyer_id, created_at)"
                       " VALUES ('ord-1','s-7','b-9','2026-11-22T10:00:00.000Z');"
                       "INSERT INTO deliveries(order_id, number, created_at)"
                       " VALUES ('ord-1', 1, '2026-11-22T10:00:00.000Z');"
                       "INSERT INTO files(id, order_id, delivery, name, size, sha256,"
                       " mime, kind, preview, created_at) VALUES"
                       " ('0123456789abcdef0123456789abcdef','ord-1',1,'a.txt',5,"
                       " '" SHA_A "','text/plain','other','withheld',"
                       " '2026-11-22T10:00:00.000Z');",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(raw);
    CHECK_INT(store_meta_open_sqlite(d.path, &d.m, &r), FG_OK);
    CHECK_INT(store_file_get(d.m, "0123456789abcdef0123456789abcdef", &got, &r), FG_OK);
    CHECK_STR(got.sha256, SHA_A);
    CHECK_STR(got.salt, "");
    CHECK_STR(got.commitment, "");
    db_close(&d);
}

static int refs_of(sqlite3 *db, const char *sha)
{
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(db, "SELECT refs FROM blob_refs WHERE sha256 = ?1", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

TEST("the files table rebuilt for the new kinds keeps every row, its seq and its blob references")
{
    struct db d;
    fg_reason r;
    store_file got;
    int step = store_sqlite_schema_step_of("CREATE TABLE files_v10");
    CHECK(step > 0);
    db_open(&d);
    store_meta_free(d.m);
    d.m = NULL;
    CHECK(remove(d.path) == 0);
    sqlite3 *raw = NULL;
    CHECK(sqlite3_open(d.path, &raw) == SQLITE_OK);
    if (store_sqlite_migrate_to(raw, step - 1, &r))
        TAP_FAIL("migrate: %s", r.text);
    /* A live file with a preview (seq 7) and a purged one (seq 9). */
    CHECK(sqlite3_exec(raw,
                       "INSERT INTO orders(id, seller_id, buyer_id, created_at)"
                       " VALUES ('ord-1','s-7','b-9','2026-11-22T10:00:00.000Z');"
                       "INSERT INTO deliveries(order_id, number, created_at)"
                       " VALUES ('ord-1', 1, '2026-11-22T10:00:00.000Z');"
                       "INSERT INTO files(seq, id, order_id, delivery, name, size, sha256,"
                       " mime, kind, preview, preview_sha256, preview_mime, created_at)"
                       " VALUES (7, '00000000000000000000000000000007','ord-1',1,'a.png',5,'" SHA_A "','image/png',"
                       " 'image','ready','" SHA_B "','image/jpeg','2026-11-22T10:00:00.000Z');"
                       "INSERT INTO files(seq, id, order_id, delivery, name, size, sha256,"
                       " mime, kind, preview, created_at) VALUES"
                       " (9, '00000000000000000000000000000009','ord-1',1,'b.bin',5,'" SHA_A "','application/x-foo',"
                       " 'other','withheld','2026-11-22T10:00:00.000Z');"
                       "UPDATE files SET purged_at = '2026-11-23T10:00:00.000Z'"
                       " WHERE id = '00000000000000000000000000000009';",
                       NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(refs_of(raw, SHA_A), 1);
    CHECK_INT(refs_of(raw, SHA_B), 1);
    sqlite3_close(raw);
    CHECK_INT(store_meta_open_sqlite(d.path, &d.m, &r), FG_OK);
    CHECK_INT(store_file_get(d.m, "00000000000000000000000000000007", &got, &r), FG_OK);
    CHECK_STR(got.preview_sha256, SHA_B);
    CHECK_INT(store_file_get(d.m, "00000000000000000000000000000009", &got, &r), FG_OK);
    store_meta_free(d.m);
    d.m = NULL;
    CHECK(sqlite3_open(d.path, &raw) == SQLITE_OK);
    CHECK_INT(refs_of(raw, SHA_A), 1);
    CHECK_INT(refs_of(raw, SHA_B), 1);
    CHECK(sqlite3_exec(raw, "SELECT 1 FROM files WHERE seq = 7 AND id = '00000000000000000000000000000007'", NULL, NULL,
                       NULL) == SQLITE_OK);
    /* The new kinds are accepted, an unknown one still refused. */
    CHECK(sqlite3_exec(raw, "UPDATE files SET kind = 'video' WHERE id = '00000000000000000000000000000007'", NULL, NULL,
                       NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(raw, "UPDATE files SET kind = 'movie' WHERE id = '00000000000000000000000000000007'", NULL, NULL,
                       NULL) != SQLITE_OK);
    /* A companion image is a reference like the preview: taken when set,
     * given back when the row goes. */
    CHECK(sqlite3_exec(raw, "UPDATE files SET poster_sha256 = '" SHA_C "' WHERE id = '00000000000000000000000000000007'",
                       NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(refs_of(raw, SHA_C), 1);
    CHECK(sqlite3_exec(raw, "DELETE FROM files WHERE id = '00000000000000000000000000000007'", NULL, NULL, NULL) ==
          SQLITE_OK);
    CHECK_INT(refs_of(raw, SHA_C), 0);
    CHECK_INT(refs_of(raw, SHA_B), 0);
    CHECK_INT(refs_of(raw, SHA_A), 0);
    sqlite3_close(raw);
    db_close(&d);
}

DB_TEST("per-file buyer counters count up from one")
{
    struct db d;
    fg_reason r;
    int n;
    int64_t after = 0;
    char id[STORE_FILE_ID_MAX];
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);
    store_file f = file_in("ord-1", 1, "a.png");
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_OK);
    CHECK_INT(store_file_count(d.m, id, STORE_COUNT_BUYER_VIEW, &after, &r),
              FG_OK);
    CHECK_INT(after, 1);
    CHECK_INT(store_file_count(d.m, id, STORE_COUNT_BUYER_VIEW, &after, &r),
              FG_OK);
    CHECK_INT(after, 2);
    CHECK_INT(store_file_count(d.m, id, STORE_COUNT_BUYER_DOWNLOAD, &after, &r),
              FG_OK);
    CHECK_INT(after, 1);
    store_file got;
    CHECK_INT(store_file_get(d.m, id, &got, &r), FG_OK);
    CHECK_INT(got.buyer_views, 2);
    CHECK_INT(got.buyer_downloads, 1);
    CHECK_INT(store_file_count(d.m, "ffffffffffffffffffffffffffffffff",
                               STORE_COUNT_BUYER_VIEW, &after, &r),
              FG_ENOTFOUND);
    db_close(&d);
}

TEST("generated file ids are 128-bit lowercase hex and differ")
{
    char a[STORE_FILE_ID_MAX], b[STORE_FILE_ID_MAX];
    fg_reason r;
    CHECK_INT(store_file_id_new(a, &r), FG_OK);
    CHECK_INT(store_file_id_new(b, &r), FG_OK);
    CHECK_INT(strlen(a), 32);
    CHECK(store_file_id_valid(a) && store_file_id_valid(b));
    CHECK(strcmp(a, b) != 0);
    CHECK(!store_file_id_valid("0123456789ABCDEF0123456789abcdef"));
    CHECK(!store_file_id_valid("0123456789abcdef0123456789abcde"));
    CHECK(!store_file_id_valid(NULL));
}

/* ---- webhooks and transactions ---- */

DB_TEST("a webhook id is new once, then reported as seen")
{
    struct db d;
    fg_reason r;
    bool seen = true;
    db_open(&d);
    CHECK_INT(store_webhook_record(d.m, "msg_p5jXN8AQM9LWM0D4loKWxJek", NULL,
                                   &seen, &r),
              FG_OK);
    CHECK(!seen);
    CHECK_INT(store_webhook_record(d.m, "msg_p5jXN8AQM9LWM0D4loKWxJek", NULL,
                                   &seen, &r),
              FG_OK);
    CHECK(seen);
    CHECK_INT(store_webhook_record(d.m, "", NULL, &seen, &r), FG_EUSAGE);
    CHECK_INT(store_webhook_record(d.m, "msg with space", NULL, &seen, &r),
              FG_EUSAGE);
    char big[FG_MAX_WEBHOOK_ID + 2];
    memset(big, 'w', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_INT(store_webhook_record(d.m, big, NULL, &seen, &r), FG_ELIMIT);
    db_close(&d);
}

DB_TEST("a rolled-back transaction keeps neither the webhook id nor the state change")
{
    static const char *const from[] = {"open", NULL};
    struct db d;
    fg_reason r;
    bool seen = true;
    store_order o;
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK(store_meta_in_tx(d.m));
    CHECK_INT(store_webhook_record(d.m, "msg_1", NULL, &seen, &r), FG_OK);
    CHECK(!seen);
    CHECK_INT(store_order_set_state(d.m, "ord-1", "accepted", from, NULL, NULL,
                                    &r),
              FG_OK);
    store_meta_rollback(d.m);
    CHECK(!store_meta_in_tx(d.m));
    CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_OK);
    CHECK_STR(o.state, "open");
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_webhook_record(d.m, "msg_1", NULL, &seen, &r), FG_OK);
    CHECK(!seen); /* the retry is processed for real */
    CHECK_INT(store_order_set_state(d.m, "ord-1", "accepted", from, NULL, NULL,
                                    &r),
              FG_OK);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_OK);
    CHECK_STR(o.state, "accepted");
    CHECK_INT(store_webhook_record(d.m, "msg_1", NULL, &seen, &r), FG_OK);
    CHECK(seen);
    db_close(&d);
}

DB_TEST("transactions do not nest, and a read transaction refuses writes")
{
    struct db d;
    fg_reason r;
    bool seen;
    db_open(&d);
    CHECK_INT(store_meta_commit(d.m, &r), FG_EUSAGE);
    store_meta_rollback(d.m); /* none open: harmless */
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_meta_begin(d.m, &r), FG_EUSAGE);
    CHECK_INT(store_meta_begin_read(d.m, &r), FG_EUSAGE);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    CHECK_INT(store_meta_begin_read(d.m, &r), FG_OK);
    CHECK_INT(store_webhook_record(d.m, "msg_2", NULL, &seen, &r), FG_EUSAGE);
    CHECK_INT(store_order_create(d.m, "ord-1", "s", "b", NULL, NULL, NULL, NULL,
                                 &r),
              FG_EUSAGE);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    /* Freeing with a transaction open rolls it back. */
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    mk_order(d.m, "ord-1");
    store_meta_free(d.m);
    d.m = db_handle(&d);
    store_order o;
    CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_ENOTFOUND);
    db_close(&d);
}

struct reader {
    const char *path;
    volatile int *writer_holds;
    int reads;
    int failed;
    double slowest;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *read_while_writing(void *arg)
{
    struct reader *x = arg;
    store_meta *m = NULL;
    fg_reason r;
    if (store_meta_open_db(x->path, &m, &r) != FG_OK) {
        x->failed++;
        return NULL;
    }
    while (!__atomic_load_n(x->writer_holds, __ATOMIC_ACQUIRE))
        ;
    for (int i = 0; i < 200; i++) {
        store_order o;
        double t0 = now_s();
        if (store_order_get(m, "ord-1", &o, &r) != FG_OK ||
            strcmp(o.state, "open") != 0)
            x->failed++;
        /* The uncommitted order of the writer is invisible. */
        if (store_order_get(m, "ord-new", &o, &r) != FG_ENOTFOUND)
            x->failed++;
        double dt = now_s() - t0;
        if (dt > x->slowest)
            x->slowest = dt;
        x->reads++;
    }
    store_meta_free(m);
    return NULL;
}

TEST("readers on another handle are not blocked by an open write transaction (WAL)")
{
    static const char *const from[] = {"open", NULL};
    struct db d;
    fg_reason r;
    volatile int holds = 0;
    db_open(&d);
    mk_order(d.m, "ord-1");
    struct reader x = {.path = d.path, .writer_holds = &holds};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_while_writing, &x) == 0);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    mk_order(d.m, "ord-new");
    CHECK_INT(store_order_set_state(d.m, "ord-1", "disputed", from, NULL, NULL,
                                    &r),
              FG_OK);
    __atomic_store_n(&holds, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL); /* all reads done while the write lock is held */
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    CHECK_INT(x.failed, 0);
    CHECK_INT(x.reads, 200);
    CHECK(x.slowest < 1.0); /* far below the 5 s busy timeout */
    store_order o;
    CHECK_INT(store_order_get(d.m, "ord-new", &o, &r), FG_OK);
    db_close(&d);
}
