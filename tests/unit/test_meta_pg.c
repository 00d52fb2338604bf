/* The PostgreSQL backend on a real server: the connection (errors that
 * name no password, reconnection after the server dropped us), the schema,
 * and the concurrency rules of storage/meta_pg.c with several handles at
 * once, as several nodes would hold them.
 *
 * The server is FILIGRANE_TEST_DATABASE_URL (tests/run.sh starts one for
 * the run); each test makes its own database there (tests/unit/store_tmp.h).
 * The tests that need no server always run; the others are registered
 * only when it is set (PG_TEST). */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "storage/audit.h"
#include "storage/blob_refs.h"
#include "storage/purge.h"
#include "storage/meta.h"
#include "storage/meta_pg_impl.h"

/* The server's URL, as given (its own database, where databases are made
 * and dropped). */
static const char *server_url(void)
{
    return getenv(DB_URL_ENV);
}

/* Runs sql on a connection of its own to url; returns the first value of
 * the first row ("" if none) in out. False if the statement failed. */
static bool raw(const char *url, const char *sql, char *out, size_t cap)
{
    PGconn *c = PQconnectdb(url);
    PGresult *res = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(res);
    bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    if (out && cap) {
        out[0] = '\0';
        if (ok && PQntuples(res) > 0)
            snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    PQfinish(c);
    return ok;
}

static void mk_order(store_meta *m, const char *id)
{
    fg_reason r;
    bool created;
    if (store_order_create(m, id, "s-7", "b-9", NULL, NULL, NULL, &created, &r))
        TAP_FAIL("create %s: %s", id, r.text);
}

/* The first value of sql on url, as a number (-1 if the query failed). */
static long long raw_num(const char *url, const char *sql)
{
    char got[64];
    if (!raw(url, sql, got, sizeof got))
        return -1;
    return strtoll(got, NULL, 10);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- URLs and connection errors (no server needed for some) ---- */

TEST("the database URL's password is replaced by *** wherever it appears")
{
    static const struct {
        const char *in, *want;
    } rows[] = {
        {"postgres://fg:s3cret@127.0.0.1:5432/filigrane",
         "postgres://fg:***@127.0.0.1:5432/filigrane"},
        {"postgresql://fg@db.example:5432/x", "postgresql://fg@db.example:5432/x"},
        {"postgres://db.example/x?sslmode=require&password=s3cret&application_name=a",
         "postgres://db.example/x?sslmode=require&password=***&application_name=a"},
        {"postgres://fg:p%40ss@h/db?password=s3cret", "postgres://fg:***@h/db?password=***"},
        {"postgres://a:b:c@h", "postgres://a:***@h"},
        {"postgres://u:pw@", "postgres://u:***@"},
        {"not a url s3cret", "***"},
        {"postgres://u:s3cret@h/db?x=1#password=s3cret", "postgres://u:***@h/db?x=1#password=s3cret"},
        {"postgres://h1:5432,h2:5433/db", "postgres://h1:5432,h2:5433/db"},
        {"postgres://[::1]:5432/db", "postgres://[::1]:5432/db"},
        {"postgres://fg:s3cret", "postgres://fg:***"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[STORE_PG_URL_MAX];
        store_pg_redact_url(rows[i].in, out, sizeof out);
        if (i == 7) {
            /* A fragment means nothing to libpq; what matters is that the
             * user's password is gone. */
            CHECK(strstr(out, "u:***@") != NULL);
            continue;
        }
        if (strcmp(out, rows[i].want) != 0)
            TAP_FAIL("redact %s: got %s, want %s", rows[i].in, out, rows[i].want);
    }
    /* Every prefix of a URL with a password: the password never shows. */
    const char *u = "postgres://fg:s3cretpass@127.0.0.1:5432/db";
    for (size_t n = 0; n <= strlen(u); n++) {
        char in[128], out[128];
        snprintf(in, sizeof in, "%.*s", (int)n, u);
        store_pg_redact_url(in, out, sizeof out);
        if (strstr(out, "s3cretp") || (n > 20 && strstr(out, "cretpass")))
            TAP_FAIL("prefix %s shows the password: %s", in, out);
    }
    /* A small output buffer cuts, never overflows. */
    char tiny[8];
    store_pg_redact_url(u, tiny, sizeof tiny);
    CHECK_INT(strlen(tiny), 7);
}

TEST("a database URL that is not postgres:// is refused naming the setting")
{
    store_meta *m = NULL;
    fg_reason r = {""};
    CHECK_INT(store_meta_open_url("mysql://u:pw@h/db", "/nonexistent", &m, &r), FG_EUSAGE);
    CHECK(m == NULL);
    CHECK(strstr(r.text, "FILIGRANE_DATABASE_URL") != NULL);
    CHECK(strstr(r.text, "pw") == NULL);
}

TEST("an unreachable server is a clear error that shows no password")
{
    store_meta *m = NULL;
    fg_reason r = {""};
    /* Port 1 on loopback: nothing listens, the refusal is immediate. */
    CHECK_INT(store_meta_open_url("postgres://fg:hunter2secret@127.0.0.1:1/filigrane", NULL, &m,
                                  &r),
              FG_EIO);
    CHECK(m == NULL);
    CHECK(strstr(r.text, "cannot connect to PostgreSQL at postgres://fg:***@127.0.0.1:1/filigrane") ==
          r.text);
    CHECK(strstr(r.text, "hunter2") == NULL);
}

PG_TEST("a wrong password is refused by the server, and not echoed")
{
    char url[1100], bad[1100];
    snprintf(url, sizeof url, "%s", server_url());
    /* The same URL with another password. */
    const char *p = strstr(url, "://") + 3;
    const char *at = strchr(p, '@');
    const char *colon = memchr(p, ':', (size_t)(at - p));
    CHECK(at && colon);
    snprintf(bad, sizeof bad, "%.*s:wrongpassword42%s", (int)(colon - url), url, at);
    store_meta *m = NULL;
    fg_reason r = {""};
    CHECK_INT(store_meta_open_url(bad, NULL, &m, &r), FG_EIO);
    CHECK(strstr(r.text, "cannot connect to PostgreSQL at ") == r.text);
    CHECK(strstr(r.text, ":***@") != NULL);
    CHECK(strstr(r.text, "wrongpassword42") == NULL);
    CHECK(strstr(r.text, "password authentication failed") != NULL);
}

/* ---- schema ---- */

PG_TEST("a fresh database is migrated to the latest step, once per step")
{
    struct db d;
    fg_reason r;
    int v = 0;
    db_open(&d);
    CHECK_INT(store_meta_schema_version(d.m, &v, &r), FG_OK);
    CHECK_INT(v, store_pg_schema_latest());
    CHECK_INT(raw_num(d.url, "SELECT count(*) FROM schema_version"), store_pg_schema_latest());
    CHECK_INT(raw_num(d.url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                             " AND tablename IN ('orders','deliveries','files','webhooks',"
                             "'audit','outbox','blob_refs','idempotency_keys','jobs','uploads')"),
              10);
    /* Opening again applies nothing. */
    store_meta *again = db_handle(&d);
    store_meta_free(again);
    CHECK_INT(raw_num(d.url, "SELECT count(*) FROM schema_version"), store_pg_schema_latest());
    db_close(&d);
}

struct opener {
    const char *url;
    fg_result rc;
    char why[FG_REASON_MAX];
};

static void *open_one(void *p)
{
    struct opener *o = p;
    store_meta *m = NULL;
    fg_reason r = {""};
    o->rc = store_meta_open_url(o->url, NULL, &m, &r);
    snprintf(o->why, sizeof o->why, "%s", r.text);
    store_meta_free(m);
    return NULL;
}

PG_TEST("six nodes opening one empty database at once all succeed, each step applied once")
{
    struct db d;
    char sql[128];
    db_open(&d);
    store_meta_free(d.m);
    d.m = NULL;
    /* Empty it again: the opens below race on a database with no tables. */
    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", d.dbname);
    CHECK(raw(server_url(), sql, NULL, 0));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", d.dbname);
    CHECK(raw(server_url(), sql, NULL, 0));
    pthread_t t[6];
    struct opener o[6];
    for (int i = 0; i < 6; i++) {
        o[i] = (struct opener){.url = d.url};
        CHECK(pthread_create(&t[i], NULL, open_one, &o[i]) == 0);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 6; i++)
        if (o[i].rc != FG_OK)
            TAP_FAIL("opener %d: %s", i, o[i].why);
    CHECK_INT(raw_num(d.url, "SELECT count(*) FROM schema_version"), store_pg_schema_latest());
    CHECK_INT(raw_num(d.url, "SELECT count(DISTINCT version) FROM schema_version"),
              store_pg_schema_latest());
    db_close(&d);
}

PG_TEST("a database migrated by a newer program is refused")
{
    struct db d;
    char sql[160];
    db_open(&d);
    snprintf(sql, sizeof sql,
             "INSERT INTO schema_version(version, applied_at) VALUES (%d, 'later')",
             store_pg_schema_latest() + 1);
    CHECK(raw(d.url, sql, NULL, 0));
    store_meta *m = NULL;
    fg_reason r = {""};
    CHECK_INT(store_meta_open_url(d.url, NULL, &m, &r), FG_ECORRUPT);
    CHECK(m == NULL);
    CHECK(strstr(r.text, "newer than this program") != NULL);
    db_close(&d);
}

PG_TEST("the audit table refuses UPDATE, DELETE and TRUNCATE from any client")
{
    struct db d;
    fg_reason r;
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_audit_append(d.m, "ord-1", "seller:s-7", "delivery.created", "{}", NULL,
                                 NULL, &r),
              FG_OK);
    CHECK(!raw(d.url, "UPDATE audit SET detail = '{\"forged\":1}'", NULL, 0));
    CHECK(!raw(d.url, "DELETE FROM audit", NULL, 0));
    CHECK(!raw(d.url, "TRUNCATE audit", NULL, 0));
    CHECK_INT(raw_num(d.url, "SELECT count(*) FROM audit"), 1);
    store_audit_report rep;
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.first_bad, 0);
    db_close(&d);
}

PG_TEST("blob references follow file rows in the writing statement, purges drop them")
{
    struct db d;
    fg_reason r;
    int n = 0;
    int64_t refs = 0, purged = 0;
    bool known = false;
    const char *a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const char *b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);
    store_file f = {.order_id = "ord-1", .delivery = 1, .name = "a.jpg", .size = 3,
                    .mime = "image/jpeg", .kind = "image", .preview = "processing"};
    memcpy(f.sha256, a, 65);
    char id1[STORE_FILE_ID_MAX], id2[STORE_FILE_ID_MAX];
    CHECK_INT(store_file_add(d.m, &f, id1, &r), FG_OK);
    CHECK_INT(store_file_add(d.m, &f, id2, &r), FG_OK);
    CHECK_INT(store_blob_ref_count(d.m, a, &refs, &known, &r), FG_OK);
    CHECK(known);
    CHECK_INT(refs, 2);
    CHECK_INT(store_file_set_preview(d.m, id1, "ready", NULL, b, "image/jpeg", &r), FG_OK);
    CHECK_INT(store_blob_ref_count(d.m, b, &refs, &known, &r), FG_OK);
    CHECK_INT(refs, 1);
    CHECK_INT(store_blob_ref_count(d.m, a, &refs, &known, &r), FG_OK);
    CHECK_INT(refs, 2);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_purge_files(d.m, "ord-1", NULL, &purged, &r), FG_OK);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    CHECK_INT(purged, 2);
    CHECK_INT(store_blob_ref_count(d.m, a, &refs, &known, &r), FG_OK);
    CHECK_INT(refs, 0);
    CHECK_INT(store_blob_ref_count(d.m, b, &refs, &known, &r), FG_OK);
    CHECK_INT(refs, 0);
    db_close(&d);
}

PG_TEST("an expected conflict inside a transaction does not abort it")
{
    struct db d;
    fg_reason r;
    int n = 0;
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);
    store_file f = {.order_id = "ord-1", .delivery = 1, .name = "a.jpg", .size = 3,
                    .mime = "image/jpeg", .kind = "image", .preview = "processing",
                    .id = "0123456789abcdef0123456789abcdef"};
    memset(f.sha256, 'c', 64);
    CHECK_INT(store_file_add(d.m, &f, NULL, &r), FG_OK);
    /* The same id again, then a delivery that does not exist, then an
     * order that does not exist: refused, and the transaction goes on. */
    CHECK_INT(store_file_add(d.m, &f, NULL, &r), FG_ESTATE);
    f.id[0] = '1';
    f.delivery = 9;
    CHECK_INT(store_file_add(d.m, &f, NULL, &r), FG_ENOTFOUND);
    CHECK_INT(store_delivery_create(d.m, "ord-none", NULL, NULL, &n, &r), FG_ENOTFOUND);
    bool seen = true;
    CHECK_INT(store_webhook_record(d.m, "msg_1", NULL, &seen, &r), FG_OK);
    CHECK(!seen);
    CHECK_INT(store_webhook_record(d.m, "msg_1", NULL, &seen, &r), FG_OK);
    CHECK(seen);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    store_file_list l;
    CHECK_INT(store_file_list_order(d.m, "ord-1", &l, &r), FG_OK);
    CHECK_INT(l.n, 1);
    store_file_list_release(&l);
    db_close(&d);
}

PG_TEST("a commit after a failed statement is reported as a failed commit")
{
    struct db d;
    fg_reason r;
    db_open(&d);
    mk_order(d.m, "ord-1");
    store_pg *pg = store_meta_pg_conn(d.m);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_order_set_state(d.m, "ord-1", "accepted",
                                    (const char *const[]){"open", NULL}, NULL, NULL, &r),
              FG_OK);
    CHECK(store_pg_exec(pg, "SELECT 1/0", 0, NULL, NULL, "divide", &r) == FG_EIO);
    CHECK_STR(store_pg_sqlstate(pg), "22012");
    CHECK_INT(store_meta_commit(d.m, &r), FG_EIO);
    store_order o;
    CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_OK);
    CHECK_STR(o.state, "open");
    db_close(&d);
}

/* ---- reconnection ---- */

/* Ends m's server session from another connection, as a server restart
 * or an administrator would. */
static void kill_session(store_meta *m)
{
    char sql[128];
    int pid = PQbackendPID(store_pg_conn_ptr(store_meta_pg_conn(m)));
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
    CHECK(raw(server_url(), sql, NULL, 0));
    /* pg_terminate_backend signals; wait until the session is gone. */
    for (int i = 0; i < 200; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
        if (raw_num(server_url(), sql) == 0)
            return;
        usleep(10000);
    }
    TAP_FAIL("session %d did not end", pid);
}

PG_TEST("a connection the server dropped is re-established for the next statement")
{
    struct db d;
    fg_reason r;
    store_order o;
    db_open(&d);
    mk_order(d.m, "ord-1");
    store_pg *pg = store_meta_pg_conn(d.m);
    CHECK_INT(store_pg_reconnects(pg), 0);
    kill_session(d.m);
    /* Outside a transaction: reconnect, run again, succeed. */
    CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_OK);
    CHECK_STR(o.id, "ord-1");
    CHECK_INT(store_pg_reconnects(pg), 1);
    /* Statements prepared on the old session are prepared again. */
    kill_session(d.m);
    bool created = false;
    CHECK_INT(store_order_create(d.m, "ord-2", "s-7", "b-9", NULL, NULL, NULL, &created, &r),
              FG_OK);
    CHECK(created);
    CHECK_INT(store_pg_reconnects(pg), 2);
    /* A dropped connection before begin: begin reconnects. */
    kill_session(d.m);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_order_get(d.m, "ord-2", &o, &r), FG_OK);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    CHECK_INT(store_pg_reconnects(pg), 3);
    db_close(&d);
}

PG_TEST("a connection lost inside a transaction fails it, and the next one works")
{
    struct db d;
    fg_reason r;
    store_order o;
    int n = 0;
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);
    kill_session(d.m);
    /* The delivery went with the session: no silent retry of half a
     * transaction. */
    CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_EIO);
    CHECK(strstr(r.text, "lost") != NULL);
    CHECK_INT(store_meta_commit(d.m, &r), FG_EIO);
    CHECK(!store_meta_in_tx(d.m));
    store_delivery_list l;
    CHECK_INT(store_delivery_list_get(d.m, "ord-1", &l, &r), FG_OK);
    CHECK_INT(l.n, 0);
    store_delivery_list_release(&l);
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);
    CHECK_INT(n, 1);
    db_close(&d);
}

/* ---- concurrency: several handles, as several nodes ---- */

#define NUMBERERS 4
#define EACH 10

struct numberer {
    struct db *d;
    int numbers[EACH];
    fg_result rc;
    char why[FG_REASON_MAX];
};

/* A delivery as orders/delivery.c records one: in a write transaction,
 * the order read (and locked) and checked open, then numbered. Half of
 * them outside any transaction (the store's own). */
static void *number_some(void *p)
{
    struct numberer *x = p;
    store_meta *m = NULL;
    fg_reason r = {""};
    store_order o;
    if (store_meta_open_url(x->d->url, NULL, &m, &r)) {
        x->rc = FG_EIO;
        goto out;
    }
    for (int i = 0; i < EACH; i++) {
        if (i % 2) {
            if ((x->rc = store_delivery_create(m, "ord-1", NULL, NULL, &x->numbers[i], &r)))
                goto out;
            continue;
        }
        if ((x->rc = store_meta_begin(m, &r)) || (x->rc = store_order_get(m, "ord-1", &o, &r)) ||
            (x->rc = store_delivery_create(m, "ord-1", NULL, NULL, &x->numbers[i], &r)) ||
            (x->rc = store_audit_append(m, "ord-1", "seller:s-7", "delivery.created", "{}", NULL,
                                        NULL, &r)) ||
            (x->rc = store_meta_commit(m, &r)))
            goto out;
    }
out:
    snprintf(x->why, sizeof x->why, "%s", r.text);
    store_meta_rollback(m);
    store_meta_free(m);
    return NULL;
}

PG_TEST("four nodes creating deliveries for one order at once get distinct numbers 1..40")
{
    struct db d;
    fg_reason r;
    db_open(&d);
    mk_order(d.m, "ord-1");
    pthread_t t[NUMBERERS];
    struct numberer x[NUMBERERS];
    for (int i = 0; i < NUMBERERS; i++) {
        x[i] = (struct numberer){.d = &d};
        CHECK(pthread_create(&t[i], NULL, number_some, &x[i]) == 0);
    }
    for (int i = 0; i < NUMBERERS; i++)
        pthread_join(t[i], NULL);
    int seen[NUMBERERS * EACH + 1] = {0};
    for (int i = 0; i < NUMBERERS; i++) {
        if (x[i].rc)
            TAP_FAIL("node %d: %s", i, x[i].why);
        for (int k = 0; k < EACH; k++) {
            int n = x[i].numbers[k];
            CHECK(n >= 1 && n <= NUMBERERS * EACH);
            CHECK_INT(seen[n], 0);
            seen[n] = 1;
        }
    }
    store_delivery_list l;
    CHECK_INT(store_delivery_list_get(d.m, "ord-1", &l, &r), FG_OK);
    CHECK_INT(l.n, NUMBERERS * EACH);
    store_delivery_list_release(&l);
    store_audit_report rep;
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, NUMBERERS * EACH / 2);
    db_close(&d);
}

/* The acceptance webhook's side of the race: accept, then count the
 * deliveries the acceptance covers, in its transaction. */
struct acceptor {
    struct db *d;
    const char *order;
    int delay_ms;
    size_t covered;
    double waited;
    fg_result rc;
    char why[FG_REASON_MAX];
};

static void *accept_order(void *p)
{
    struct acceptor *a = p;
    store_meta *m = NULL;
    fg_reason r = {""};
    store_delivery_list l = {0};
    if (store_meta_open_url(a->d->url, NULL, &m, &r)) {
        a->rc = FG_EIO;
        goto out;
    }
    usleep((useconds_t)a->delay_ms * 1000);
    double t0 = now_s();
    if ((a->rc = store_meta_begin(m, &r)) ||
        (a->rc = store_order_set_state(m, a->order, "accepted",
                                       (const char *const[]){"open", NULL}, NULL, NULL, &r)))
        goto out;
    a->waited = now_s() - t0;
    if ((a->rc = store_delivery_list_get(m, a->order, &l, &r)))
        goto out;
    a->covered = l.n;
    a->rc = store_meta_commit(m, &r);
out:
    snprintf(a->why, sizeof a->why, "%s", r.text);
    store_delivery_list_release(&l);
    store_meta_rollback(m);
    store_meta_free(m);
    return NULL;
}

/* An upload's first step on ord-late: begin, read the order. */
struct upload {
    store_meta *m;
    char state[STORE_WORD_MAX];
    double waited;
    fg_result rc;
};

static void *check_open(void *p)
{
    struct upload *u = p;
    fg_reason r;
    store_order o;
    double t0 = now_s();
    u->rc = store_meta_begin(u->m, &r);
    if (u->rc == FG_OK)
        u->rc = store_order_get(u->m, "ord-late", &o, &r);
    u->waited = now_s() - t0;
    if (u->rc == FG_OK)
        snprintf(u->state, sizeof u->state, "%s", o.state);
    store_meta_rollback(u->m);
    return NULL;
}

PG_TEST("a delivery that checked the order open and an acceptance exclude each other")
{
    struct db d;
    fg_reason r;
    db_open(&d);
    store_meta *seller = db_handle(&d);
    for (int round = 0; round < 4; round++) {
        char order[32];
        snprintf(order, sizeof order, "ord-%d", round);
        mk_order(d.m, order);
        /* The seller's upload reads the order open, then spends time
         * storing files before it numbers the delivery: the acceptance
         * arrives in that gap. */
        pthread_t t;
        struct acceptor a = {.d = &d, .order = order, .delay_ms = 20};
        store_order o;
        int n = 0;
        CHECK_INT(store_meta_begin(seller, &r), FG_OK);
        CHECK_INT(store_order_get(seller, order, &o, &r), FG_OK);
        CHECK_STR(o.state, "open");
        CHECK(pthread_create(&t, NULL, accept_order, &a) == 0);
        usleep(120 * 1000);
        CHECK_INT(store_delivery_create(seller, order, NULL, NULL, &n, &r), FG_OK);
        CHECK_INT(store_meta_commit(seller, &r), FG_OK);
        pthread_join(t, NULL);
        if (a.rc)
            TAP_FAIL("accept: %s", a.why);
        /* The acceptance waited for the delivery and covers it: no
         * delivery exists that the acceptance did not see. */
        CHECK(a.waited > 0.05);
        store_delivery_list l;
        CHECK_INT(store_delivery_list_get(d.m, order, &l, &r), FG_OK);
        CHECK_INT(l.n, 1);
        CHECK_INT(a.covered, l.n);
        store_delivery_list_release(&l);
    }
    /* The other way round: the acceptance holds the order; the upload's
     * read waits, then sees it accepted and records nothing. */
    mk_order(d.m, "ord-late");
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_order_set_state(d.m, "ord-late", "accepted",
                                    (const char *const[]){"open", NULL}, NULL, NULL, &r),
              FG_OK);
    pthread_t t;
    struct upload up = {.m = seller};
    CHECK(pthread_create(&t, NULL, check_open, &up) == 0);
    usleep(150 * 1000);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    pthread_join(t, NULL);
    CHECK_INT(up.rc, FG_OK);
    CHECK(up.waited > 0.1);
    CHECK_STR(up.state, "accepted");
    store_meta_free(seller);
    db_close(&d);
}

#define ORDERS 12

struct seller {
    struct db *d;
    char (*names)[24];
    int made, refused;
    fg_result rc;
    char why[FG_REASON_MAX];
};

static void *deliver_all(void *p)
{
    struct seller *x = p;
    store_meta *m = NULL;
    fg_reason r = {""};
    store_order o;
    int n;
    if ((x->rc = store_meta_open_url(x->d->url, NULL, &m, &r)))
        goto out;
    for (int pass = 0; pass < 6; pass++) {
        for (int i = 0; i < ORDERS; i++) {
            if ((x->rc = store_meta_begin(m, &r)) ||
                (x->rc = store_order_get(m, x->names[i], &o, &r)))
                goto out;
            if (strcmp(o.state, "open") != 0) {
                store_meta_rollback(m);
                x->refused++;
                continue;
            }
            usleep(2000);
            if ((x->rc = store_delivery_create(m, x->names[i], NULL, NULL, &n, &r)) ||
                (x->rc = store_meta_commit(m, &r)))
                goto out;
            x->made++;
        }
    }
out:
    snprintf(x->why, sizeof x->why, "%s", r.text);
    store_meta_rollback(m);
    store_meta_free(m);
    return NULL;
}

PG_TEST("racing deliveries and acceptances on many orders: none lands after its acceptance")
{
    struct db d;
    fg_reason r;
    db_open(&d);
    struct acceptor a[ORDERS];
    pthread_t ta[ORDERS];
    char names[ORDERS][24];
    for (int i = 0; i < ORDERS; i++) {
        snprintf(names[i], sizeof names[i], "ord-r%d", i);
        mk_order(d.m, names[i]);
    }
    /* Two sellers' handles keep delivering to every order while it is
     * open; acceptances come at staggered times. */
    struct seller s[2];
    pthread_t ts[2];
    for (int k = 0; k < 2; k++) {
        s[k] = (struct seller){.d = &d, .names = names};
        CHECK(pthread_create(&ts[k], NULL, deliver_all, &s[k]) == 0);
    }
    for (int i = 0; i < ORDERS; i++) {
        a[i] = (struct acceptor){.d = &d, .order = names[i], .delay_ms = 15 + 25 * i};
        CHECK(pthread_create(&ta[i], NULL, accept_order, &a[i]) == 0);
    }
    for (int k = 0; k < 2; k++)
        pthread_join(ts[k], NULL);
    for (int i = 0; i < ORDERS; i++)
        pthread_join(ta[i], NULL);
    for (int k = 0; k < 2; k++)
        if (s[k].rc)
            TAP_FAIL("seller %d: %s", k, s[k].why);
    int total = 0;
    for (int i = 0; i < ORDERS; i++) {
        if (a[i].rc)
            TAP_FAIL("accept %s: %s", names[i], a[i].why);
        store_delivery_list l;
        CHECK_INT(store_delivery_list_get(d.m, names[i], &l, &r), FG_OK);
        if (l.n != a[i].covered)
            TAP_FAIL("%s: %zu deliveries, the acceptance covered %zu", names[i], l.n,
                     a[i].covered);
        for (size_t k = 0; k < l.n; k++)
            CHECK_INT(l.items[k].number, (int)k + 1);
        total += (int)l.n;
        store_delivery_list_release(&l);
    }
    CHECK_INT(total, s[0].made + s[1].made);
    /* The race happened: some deliveries were made and some refused. */
    CHECK(total > 0);
    CHECK(s[0].refused + s[1].refused > 0);
    db_close(&d);
}

/* Another order's writes while order A is held: they must not wait. */
struct other {
    struct db *d;
    const char *order;
    atomic_int done;
    fg_result rc;
    char why[FG_REASON_MAX];
};

static void *write_other(void *p)
{
    struct other *x = p;
    store_meta *m = NULL;
    fg_reason r = {""};
    store_order o;
    int n = 0;
    bool created;
    if ((x->rc = store_meta_open_url(x->d->url, NULL, &m, &r)))
        goto out;
    if ((x->rc = store_order_create(m, x->order, "s-7", "b-9", NULL, NULL, NULL, &created, &r)) ||
        (x->rc = store_meta_begin(m, &r)) || (x->rc = store_order_get(m, x->order, &o, &r)) ||
        (x->rc = store_delivery_create(m, x->order, NULL, NULL, &n, &r)) ||
        (x->rc = store_audit_append(m, x->order, "seller:s-7", "delivery.created", "{}", NULL,
                                    NULL, &r)) ||
        (x->rc = store_outbox_add(m, "delivery.ready", x->order, "{}", NULL, &r)) ||
        (x->rc = store_meta_commit(m, &r)))
        goto out;
    /* And a state change of its own. */
    x->rc = store_order_set_state(m, x->order, "accepted", (const char *const[]){"open", NULL},
                                  NULL, NULL, &r);
out:
    snprintf(x->why, sizeof x->why, "%s", r.text);
    store_meta_rollback(m);
    store_meta_free(m);
    atomic_store(&x->done, 1);
    return NULL;
}

static bool wait_done(atomic_int *flag, double seconds)
{
    double end = now_s() + seconds;
    while (now_s() < end) {
        if (atomic_load(flag))
            return true;
        usleep(5000);
    }
    return atomic_load(flag) != 0;
}

static atomic_int a_done;

static void *accept_a(void *p)
{
    accept_order(p);
    atomic_store(&a_done, 1);
    return NULL;
}

PG_TEST("writers of order B never wait for a transaction holding order A")
{
    struct db d;
    fg_reason r;
    store_order o;
    int n = 0;
    db_open(&d);
    mk_order(d.m, "ord-a");
    /* Order A held as a delivery holds it: its row locked, a delivery
     * numbered, an audit entry appended, not committed. */
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_order_get(d.m, "ord-a", &o, &r), FG_OK);
    CHECK_INT(store_delivery_create(d.m, "ord-a", NULL, NULL, &n, &r), FG_OK);
    CHECK_INT(store_audit_append(d.m, "ord-a", "seller:s-7", "delivery.created", "{}", NULL,
                                 NULL, &r),
              FG_OK);
    pthread_t tb, ta;
    struct other b = {.d = &d, .order = "ord-b"};
    CHECK(pthread_create(&tb, NULL, write_other, &b) == 0);
    bool b_done = wait_done(&b.done, 5.0);
    /* A writer of order A itself does wait: the lock is real. */
    struct acceptor a = {.d = &d, .order = "ord-a"};
    a_done = 0;
    CHECK(pthread_create(&ta, NULL, accept_a, &a) == 0);
    bool a_early = wait_done(&a_done, 0.3);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    pthread_join(tb, NULL);
    pthread_join(ta, NULL);
    CHECK(b_done);
    if (b.rc)
        TAP_FAIL("order b: %s", b.why);
    CHECK(!a_early);
    CHECK_INT(a.rc, FG_OK);
    CHECK_INT(a.covered, 1);
    store_audit_report rep;
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    db_close(&d);
}

/* ---- schema step 9 on PostgreSQL: the global chain moves per order ---- */

/* The old entries: orders interleaved, a service event, non-ASCII. */
static const struct {
    const char *order, *action, *detail;
} OLD[] = {
    {"ord-1", "order.created", "{\"buyer\":\"Zo\xc3\xab\"}"},
    {"ord-2", "order.created", "{}"},
    {NULL, "store.opened", "{}"},
    {"ord-1", "delivery.created", "{\"number\":1}"},
    {"ord-1", "order.accepted", "{}"},
};
#define N_OLD ((int)(sizeof OLD / sizeof OLD[0]))

/* d's database at the step before per-order chains, holding OLD as a
 * version 1 chain (hashed as the old code did), then tamper (may be NULL)
 * run on it; the last old hash into head. */
static void make_old_pg(struct db *d, const char *tamper, char head[STORE_HEX_MAX])
{
    fg_reason r = {""};
    store_pg *pg = NULL;
    char sql[128];
    int step = store_pg_schema_step_of("CREATE TABLE audit_heads");
    CHECK(step > 1);
    /* A database of its own, not migrated by db_open. */
    store_meta_free(d->m);
    d->m = NULL;
    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", d->dbname);
    CHECK(raw(server_url(), sql, NULL, 0));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", d->dbname);
    CHECK(raw(server_url(), sql, NULL, 0));
    CHECK_INT(store_pg_connect(d->url, &pg, &r), FG_OK);
    CHECK_INT(store_pg_migrate_to(pg, step - 1, &r), FG_OK);
    memcpy(head, STORE_AUDIT_GENESIS, STORE_HEX_MAX);
    for (int i = 0; i < N_OLD; i++) {
        store_audit_entry e = {.seq = i + 1, .at = "2026-11-20T09:00:00.000Z",
                               .actor = "order-system", .detail = (char *)OLD[i].detail};
        char sb[24];
        snprintf(e.order_id, sizeof e.order_id, "%s", OLD[i].order ? OLD[i].order : "");
        snprintf(e.action, sizeof e.action, "%s", OLD[i].action);
        memcpy(e.prev_hash, head, STORE_HEX_MAX);
        CHECK_INT(store_audit_hash_v1(&e, e.hash, &r), FG_OK);
        const char *v[] = {store_pg_i64(sb, e.seq), OLD[i].order, e.at, e.actor, e.action,
                           e.detail, e.prev_hash, e.hash};
        if (store_pg_exec(pg,
                          "INSERT INTO audit(seq, order_id, at, actor, action, detail,"
                          " prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                          8, v, NULL, "insert", &r))
            TAP_FAIL("%s", r.text);
        memcpy(head, e.hash, STORE_HEX_MAX);
    }
    store_pg_free(pg);
    if (tamper)
        CHECK(raw(d->url, tamper, NULL, 0));
}

PG_TEST("step 9 moves a global audit chain into per-order chains, vouched for by a checkpoint")
{
    struct db d;
    fg_reason r;
    char head[STORE_HEX_MAX];
    store_audit_report rep;
    db_open(&d);
    make_old_pg(&d, NULL, head);
    d.m = db_handle(&d);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    CHECK_INT(rep.count, N_OLD);
    CHECK_INT(rep.chains, 3);
    CHECK_INT(rep.checkpoints, 1);
    CHECK_INT(rep.legacy_entries, N_OLD);
    CHECK_STR(rep.legacy_head, head);
    /* Every field byte for byte, in its order's chain, old seq kept. */
    store_audit_list l;
    CHECK_INT(store_audit_list_get(d.m, "ord-1", 0, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, 3);
    CHECK_INT(l.items[0].chain_seq, 1);
    CHECK_INT(l.items[0].seq, 1);
    CHECK_STR(l.items[0].detail, "{\"buyer\":\"Zo\xc3\xab\"}");
    CHECK_INT(l.items[2].chain_seq, 3);
    CHECK_INT(l.items[2].seq, 5);
    store_audit_list_release(&l);
    CHECK(!raw(d.url, "SELECT 1 FROM audit_v1", NULL, 0));
    /* New entries follow: after the moved seqs, on their chains. */
    int64_t cs = 0;
    CHECK_INT(store_audit_append(d.m, "ord-2", "seller:s-7", "delivery.created", "{}", NULL, &cs,
                                 &r),
              FG_OK);
    CHECK_INT(cs, 2);
    CHECK_INT(raw_num(d.url, "SELECT MAX(seq) FROM audit"), N_OLD + 1);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_OK);
    /* A job of the new kind is accepted by the altered check. */
    CHECK(raw(d.url,
              "INSERT INTO jobs(kind, subject, run_at, created_at, updated_at)"
              " VALUES ('checkpoint', 'audit', 1, 'x', 'x')",
              NULL, 0));
    db_close(&d);
}

PG_TEST("step 9 moves a broken global chain but keeps it failing, and keeps the old table")
{
    struct db d;
    fg_reason r;
    char head[STORE_HEX_MAX];
    store_audit_report rep;
    db_open(&d);
    /* Entry 2 rewritten before the upgrade (triggers dropped first). */
    make_old_pg(&d,
                "ALTER TABLE audit DISABLE TRIGGER USER;"
                " UPDATE audit SET detail = '{\"forged\":1}' WHERE seq = 2",
                head);
    d.m = db_handle(&d);
    CHECK_INT(store_audit_verify(d.m, &rep, &r), FG_ECORRUPT);
    CHECK(strstr(rep.why, "2") != NULL);
    CHECK_INT(raw_num(d.url, "SELECT count(*) FROM audit_v1"), N_OLD);
    CHECK(!raw(d.url, "DELETE FROM audit_v1", NULL, 0));
    db_close(&d);
}

/* ---- a real server restart (a private cluster: scripts/pg.sh) ---- */

/* Runs scripts/pg.sh with args; its stdout's first line into out. */
static int pg_script(const char *args, char *out, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "./scripts/pg.sh %s 2>/dev/null", args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[1024];
    bool first = true;
    if (out && cap)
        out[0] = '\0';
    /* Read it all: closing early would kill the script with SIGPIPE. */
    while (fgets(line, sizeof line, p)) {
        if (first && out && cap)
            snprintf(out, cap, "%.*s", (int)strcspn(line, "\n"), line);
        first = false;
    }
    return pclose(p);
}

/* A loopback port nothing listens on now. */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

TEST("after the server restarts, the handle reconnects; while it is down, a clear error")
{
    char dir[] = "/tmp/fg-pg-restart-XXXXXX", args[256], url[1024];
    fg_reason r = {""};
    store_meta *m = NULL;
    store_order o;
    bool created = false;
    if (pg_script("bindir", NULL, 0) != 0)
        TAP_FAIL("PostgreSQL's server binaries are not installed (make deps)");
    CHECK(mkdtemp(dir) != NULL);
    int port = free_port();
    CHECK(port > 0);
    snprintf(args, sizeof args, "start %s %d", dir, port);
    if (pg_script(args, url, sizeof url) != 0 || strncmp(url, "postgres://", 11) != 0)
        TAP_FAIL("scripts/pg.sh %s failed", args);
    const char *password = strchr(strstr(url, "://") + 3, ':') + 1;
    char secret[64];
    snprintf(secret, sizeof secret, "%.*s", (int)strcspn(password, "@"), password);
    CHECK(strlen(secret) >= 16);

    fg_result rc = store_meta_open_url(url, NULL, &m, &r);
    if (rc == FG_OK)
        rc = store_order_create(m, "ord-1", "s-7", "b-9", NULL, NULL, NULL, &created, &r);
    snprintf(args, sizeof args, "stop %s", dir);
    bool stopped = rc == FG_OK && pg_script(args, NULL, 0) == 0;
    /* Down: the statement fails, its reason names the server without the
     * password. */
    fg_result down = stopped ? store_order_get(m, "ord-1", &o, &r) : FG_OK;
    char down_why[FG_REASON_MAX];
    snprintf(down_why, sizeof down_why, "%s", r.text);
    snprintf(args, sizeof args, "start %s %d", dir, port);
    bool restarted = stopped && pg_script(args, NULL, 0) == 0;
    /* Up again: the same handle goes on, outside and inside transactions. */
    fg_result up = restarted ? store_order_get(m, "ord-1", &o, &r) : FG_EIO;
    fg_result tx = FG_EIO;
    int n = 0;
    if (up == FG_OK && (tx = store_meta_begin(m, &r)) == FG_OK &&
        (tx = store_order_get(m, "ord-1", &o, &r)) == FG_OK &&
        (tx = store_delivery_create(m, "ord-1", NULL, NULL, &n, &r)) == FG_OK)
        tx = store_meta_commit(m, &r);
    store_meta_rollback(m);
    int64_t reconnects = m ? store_pg_reconnects(store_meta_pg_conn(m)) : 0;
    store_meta_free(m);
    snprintf(args, sizeof args, "stop %s", dir);
    pg_script(args, NULL, 0);
    snprintf(args, sizeof args, "rm -rf %s", dir);
    if (system(args) != 0)
        fprintf(stderr, "# cannot remove %s\n", dir);

    CHECK_INT(rc, FG_OK);
    CHECK(stopped);
    CHECK_INT(down, FG_EIO);
    CHECK(strstr(down_why, "cannot connect to PostgreSQL at postgres://") == down_why);
    CHECK(strstr(down_why, ":***@127.0.0.1:") != NULL);
    CHECK(strstr(down_why, secret) == NULL);
    CHECK(restarted);
    CHECK_INT(up, FG_OK);
    CHECK_STR(o.id, "ord-1");
    CHECK_INT(tx, FG_OK);
    CHECK_INT(n, 1);
    CHECK(reconnects >= 1);
}

/* ---- a deadlock is a conflict to try again ---- */

struct locker {
    store_meta *m;
    const char *first, *second;
    fg_result rc;
    char why[FG_REASON_MAX];
};

static void *lock_two(void *p)
{
    struct locker *x = p;
    fg_reason r = {""};
    if ((x->rc = store_meta_begin(x->m, &r)) ||
        (x->rc = store_meta_pg_lock_order(x->m, x->first, &r)))
        goto out;
    usleep(200 * 1000);
    if ((x->rc = store_meta_pg_lock_order(x->m, x->second, &r)))
        goto out;
    x->rc = store_meta_commit(x->m, &r);
out:
    snprintf(x->why, sizeof x->why, "%s", r.text);
    store_meta_rollback(x->m);
    return NULL;
}

PG_TEST("two transactions locking two orders crosswise: one is told to try again")
{
    struct db d;
    db_open(&d);
    mk_order(d.m, "ord-a");
    mk_order(d.m, "ord-b");
    store_meta *other = db_handle(&d);
    struct locker x = {.m = d.m, .first = "ord-a", .second = "ord-b"};
    struct locker y = {.m = other, .first = "ord-b", .second = "ord-a"};
    pthread_t tx, ty;
    CHECK(pthread_create(&tx, NULL, lock_two, &x) == 0);
    CHECK(pthread_create(&ty, NULL, lock_two, &y) == 0);
    pthread_join(tx, NULL);
    pthread_join(ty, NULL);
    /* PostgreSQL breaks the cycle: exactly one fails, with 40P01 mapped
     * to a retryable conflict; the other commits. */
    CHECK_INT((x.rc == FG_OK) + (y.rc == FG_OK), 1);
    struct locker *lost = x.rc == FG_OK ? &y : &x;
    CHECK_INT(lost->rc, FG_EIO);
    CHECK(strstr(lost->why, "conflict, try again") != NULL);
    CHECK_STR(store_pg_sqlstate(store_meta_pg_conn(lost->m)), "40P01");
    /* The loser's handle works on. */
    store_order o;
    fg_reason r;
    CHECK_INT(store_order_get(lost->m, "ord-a", &o, &r), FG_OK);
    store_meta_free(other);
    db_close(&d);
}

/* ---- a write lost in flight is reported, never run twice ---- */

struct counter {
    store_meta *m;
    const char *file;
    fg_result rc;
    char why[FG_REASON_MAX];
};

static void *count_view(void *p)
{
    struct counter *x = p;
    fg_reason r = {""};
    int64_t after = 0;
    x->rc = store_file_count(x->m, x->file, STORE_COUNT_BUYER_VIEW, &after, &r);
    snprintf(x->why, sizeof x->why, "%s", r.text);
    return NULL;
}

PG_TEST("a counter update whose connection dies in flight fails, and is not counted twice")
{
    struct db d;
    fg_reason r;
    int n = 0;
    char id[STORE_FILE_ID_MAX], sql[256];
    db_open(&d);
    mk_order(d.m, "ord-1");
    CHECK_INT(store_delivery_create(d.m, "ord-1", NULL, NULL, &n, &r), FG_OK);
    store_file f = {.order_id = "ord-1", .delivery = 1, .name = "a.jpg", .size = 3,
                    .mime = "image/jpeg", .kind = "image", .preview = "processing"};
    memset(f.sha256, 'a', 64);
    CHECK_INT(store_file_add(d.m, &f, id, &r), FG_OK);
    /* Another node holds the file's row, so the update waits in flight. */
    PGconn *holder = db_raw_pg(&d);
    db_raw_exec(holder, "BEGIN");
    snprintf(sql, sizeof sql, "SELECT 1 FROM files WHERE id = '%s' FOR UPDATE", id);
    db_raw_exec(holder, sql);
    store_meta *m = db_handle(&d);
    int pid = PQbackendPID(store_pg_conn_ptr(store_meta_pg_conn(m)));
    struct counter x = {.m = m, .file = id};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, count_view, &x) == 0);
    /* Wait until it is blocked on the row, then end its session. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND wait_event_type = 'Lock'",
             pid);
    for (int i = 0; i < 300 && raw_num(d.url, sql) != 1; i++)
        usleep(10000);
    CHECK_INT(raw_num(d.url, sql), 1);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
    CHECK(raw(d.url, sql, NULL, 0));
    pthread_join(t, NULL);
    db_raw_exec(holder, "COMMIT");
    PQfinish(holder);
    CHECK_INT(x.rc, FG_EIO);
    CHECK(strstr(x.why, "lost") != NULL);
    store_file got;
    CHECK_INT(store_file_get(d.m, id, &got, &r), FG_OK);
    CHECK_INT(got.buyer_views, 0);
    /* The next statement on that handle reconnects and counts once. */
    int64_t after = 0;
    CHECK_INT(store_file_count(m, id, STORE_COUNT_BUYER_VIEW, &after, &r), FG_OK);
    CHECK_INT(after, 1);
    store_meta_free(m);
    db_close(&d);
}

struct sleeper {
    store_pg *pg;
    fg_result rc;
};

static void *sleep_once(void *p)
{
    struct sleeper *s = p;
    fg_reason r;
    s->rc = store_pg_exec(s->pg, "SELECT pg_sleep(0.3)", 0, NULL, NULL, "sleep", &r);
    return NULL;
}

PG_TEST("a read whose connection dies in flight runs again on a new connection")
{
    struct db d;
    fg_reason r;
    char sql[256];
    db_open(&d);
    mk_order(d.m, "ord-1");
    store_meta *m = db_handle(&d);
    store_pg *pg = store_meta_pg_conn(m);
    int pid = PQbackendPID(store_pg_conn_ptr(pg));
    /* pg_sleep in flight: ended from outside, then run again. */
    struct sleeper s = {.pg = pg};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, sleep_once, &s) == 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND state = 'active'", pid);
    for (int i = 0; i < 300 && raw_num(d.url, sql) != 1; i++)
        usleep(10000);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
    CHECK(raw(d.url, sql, NULL, 0));
    pthread_join(t, NULL);
    CHECK_INT(s.rc, FG_OK);
    CHECK_INT(store_pg_reconnects(pg), 1);
    store_order o;
    CHECK_INT(store_order_get(m, "ord-1", &o, &r), FG_OK);
    store_meta_free(m);
    db_close(&d);
}

PG_TEST("a row lock held past the lock timeout fails the waiter as a conflict, not a hang")
{
    struct db d;
    fg_reason r;
    store_order o;
    db_open(&d);
    mk_order(d.m, "ord-1");
    PGconn *holder = db_raw_pg(&d);
    db_raw_exec(holder, "BEGIN");
    db_raw_exec(holder, "SELECT 1 FROM orders WHERE id = 'ord-1' FOR UPDATE");
    double t0 = now_s();
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    fg_result rc = store_order_get(d.m, "ord-1", &o, &r);
    double waited = now_s() - t0;
    store_meta_rollback(d.m);
    db_raw_exec(holder, "ROLLBACK");
    PQfinish(holder);
    CHECK_INT(rc, FG_EIO);
    CHECK(strstr(r.text, "conflict, try again") != NULL);
    CHECK_STR(store_pg_sqlstate(store_meta_pg_conn(d.m)), "55P03");
    CHECK(waited > 4.5 && waited < 8.0);
    /* Released: the same read goes through. */
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_OK);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    db_close(&d);
}

/* ---- what a request costs in round trips ---- */

/* A delivery as orders/delivery.c records one, without files: the order
 * read and locked, the delivery numbered, its audit entry, the commit. */
static void delivery_tx(store_meta *m, const char *order)
{
    fg_reason r;
    store_order o;
    int n;
    if (store_meta_begin(m, &r) || store_order_get(m, order, &o, &r) ||
        store_delivery_create(m, order, NULL, NULL, &n, &r) ||
        store_audit_append(m, order, "seller:s-7", "delivery.created", "{}", NULL, NULL, &r) ||
        store_meta_commit(m, &r))
        TAP_FAIL("delivery: %s", r.text);
}

PG_TEST("a delivery's transaction costs 5 round trips: BEGIN and the pairs that must follow each other travel together")
{
    struct db d;
    fg_reason r;
    store_order o;
    db_open(&d);
    mk_order(d.m, "ord-1");
    store_pg *pg = store_meta_pg_conn(d.m);
    delivery_tx(d.m, "ord-1"); /* statements prepared on first use */
    int64_t before = store_pg_round_trips(pg);
    delivery_tx(d.m, "ord-1");
    /* BEGIN + the order's read and lock; the lock again + the number;
     * the chain head's placeholder + its lock; the entry with its head;
     * COMMIT. Without pipelines this was 8. */
    CHECK_INT(store_pg_round_trips(pg) - before, 5);
    /* A read transaction: BEGIN with the first read, then the commit
     * (once its statements are prepared, by a first run). */
    for (int i = 0; i < 2; i++) {
        before = store_pg_round_trips(pg);
        CHECK_INT(store_meta_begin_read(d.m, &r), FG_OK);
        CHECK_INT(store_order_get(d.m, "ord-1", &o, &r), FG_OK);
        CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    }
    CHECK_INT(store_pg_round_trips(pg) - before, 2);
    /* A transaction that ran nothing costs nothing. */
    before = store_pg_round_trips(pg);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    store_meta_rollback(d.m);
    CHECK_INT(store_pg_round_trips(pg) - before, 0);
    store_delivery_list l;
    CHECK_INT(store_delivery_list_get(d.m, "ord-1", &l, &r), FG_OK);
    CHECK_INT(l.n, 2);
    store_delivery_list_release(&l);
    db_close(&d);
}
