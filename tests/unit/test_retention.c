/* Retention purges (orders/retention.c on storage/purge.c): which orders
 * are purged when, what a purge records, and that a purge never loses a
 * blob another file references, also while uploads of the same bytes race
 * it on other handles (other nodes). A real store (SQLite, and PostgreSQL
 * when tests/run.sh gives a server: DB_TEST), a real local blob store. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <pthread.h>
#include <sqlite3.h>
#include <time.h>

#include "orders/retention.h"
#include "storage/audit.h"
#include "storage/blob.h"
#include "storage/blob_refs.h"
#include "storage/meta.h"

#define DAY 86400LL

struct both {
    struct db d;
    store_blob *b;
};

static void both_open(struct both *s)
{
    fg_reason r = {""};
    db_open(&s->d);
    if (store_blob_open_fs(s->d.dir, &s->b, &r))
        TAP_FAIL("open blobs: %s", r.text);
}

static void both_close(struct both *s)
{
    store_blob_free(s->b);
    db_close(&s->d);
}

/* Stores content as a blob the way an upload does (register, store) and
 * records it as a file of a new delivery of order. hex gets its name. */
static void upload(store_meta *m, store_blob *b, const char *dir, const char *order,
                   const char *content, char hex[STORE_HEX_MAX])
{
    fg_reason r = {""};
    char tmp[300], id[STORE_FILE_ID_MAX];
    int64_t size = 0;
    int n = 0;
    snprintf(tmp, sizeof tmp, "%s/up-XXXXXX", dir);
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
    close(fd);
    if (store_blob_hash_file(tmp, hex, &size, &r) || store_blob_ref_touch(m, hex, &r) ||
        store_blob_put_file(b, tmp, hex, NULL, NULL, &r))
        TAP_FAIL("store: %s", r.text);
    store_file f;
    memset(&f, 0, sizeof f);
    snprintf(f.order_id, sizeof f.order_id, "%s", order);
    snprintf(f.name, sizeof f.name, "f.bin");
    f.size = size;
    snprintf(f.sha256, sizeof f.sha256, "%s", hex);
    snprintf(f.mime, sizeof f.mime, "application/octet-stream");
    snprintf(f.kind, sizeof f.kind, "other");
    snprintf(f.preview, sizeof f.preview, "withheld");
    if (store_meta_begin(m, &r) || store_delivery_create(m, order, NULL, NULL, &n, &r))
        TAP_FAIL("delivery: %s", r.text);
    f.delivery = n;
    if (store_file_add(m, &f, id, &r) || store_meta_commit(m, &r))
        TAP_FAIL("file: %s", r.text);
}

static void order(store_meta *m, const char *id)
{
    fg_reason r = {""};
    bool created;
    if (store_order_create(m, id, "s-1", "b-1", NULL, NULL, NULL, &created, &r))
        TAP_FAIL("order: %s", r.text);
}

/* Moves order id to state at time `at` (RFC 3339), with the audit entry
 * the webhook handler writes. */
static void close_order(store_meta *m, const char *id, const char *state, const char *at)
{
    fg_reason r = {""};
    char action[32];
    const char *from[] = {STORE_STATE_OPEN, STORE_STATE_DISPUTED, NULL};
    snprintf(action, sizeof action, "order.%s", state);
    if (store_meta_begin(m, &r) || store_order_set_state(m, id, state, from, at, NULL, &r) ||
        store_audit_append(m, id, "order-system", action, "{}", at, NULL, &r) ||
        store_meta_commit(m, &r))
        TAP_FAIL("close: %s", r.text);
}

static void iso(int64_t t, char out[STORE_TIME_MAX])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, STORE_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t purge(store_meta *m, long long cancelled, long long accepted, int64_t now)
{
    fg_reason r = {""};
    orders_retention s = {cancelled, accepted};
    orders_purge_stats st = {0, 0};
    if (orders_retention_purge(m, &s, now, NULL, NULL, &st, &r))
        TAP_FAIL("purge: %s", r.text);
    return st.orders;
}

static int64_t refs(store_meta *m, const char *hex)
{
    fg_reason r;
    int64_t n = -1;
    bool k;
    if (store_blob_ref_count(m, hex, &n, &k, &r))
        TAP_FAIL("count: %s", r.text);
    return n;
}

static bool stored(store_blob *b, const char *hex)
{
    fg_reason r;
    bool e = false;
    if (store_blob_stat(b, hex, &e, NULL, &r))
        TAP_FAIL("stat: %s", r.text);
    return e;
}

DB_TEST("a cancelled order is purged 30 days after its cancellation, not a second before")
{
    struct both s;
    char hex[STORE_HEX_MAX], at[STORE_TIME_MAX];
    int64_t t0 = (int64_t)time(NULL) - 100 * DAY;
    both_open(&s);
    order(s.d.m, "ord-c");
    upload(s.d.m, s.b, s.d.dir, "ord-c", "cancelled bytes", hex);
    iso(t0, at);
    close_order(s.d.m, "ord-c", STORE_STATE_CANCELLED, at);
    CHECK_INT(purge(s.d.m, 30, -1, t0 + 30 * DAY - 1), 0);
    CHECK_INT(refs(s.d.m, hex), 1);
    CHECK_INT(purge(s.d.m, 30, -1, t0 + 30 * DAY), 1);
    CHECK_INT(refs(s.d.m, hex), 0);
    CHECK_INT(purge(s.d.m, 30, -1, t0 + 31 * DAY), 0); /* once */
    both_close(&s);
}

DB_TEST("a purge keeps the file row with purged_at, records order.purged, and frees the blob")
{
    struct both s;
    fg_reason r = {""};
    char hex[STORE_HEX_MAX], at[STORE_TIME_MAX];
    store_file_list files = {0};
    store_audit_list log = {0};
    both_open(&s);
    order(s.d.m, "ord-c");
    upload(s.d.m, s.b, s.d.dir, "ord-c", "purged bytes", hex);
    iso((int64_t)time(NULL) - 40 * DAY, at);
    close_order(s.d.m, "ord-c", STORE_STATE_CANCELLED, at);
    CHECK_INT(purge(s.d.m, 30, -1, (int64_t)time(NULL)), 1);
    CHECK_INT(store_file_list_order(s.d.m, "ord-c", &files, &r), FG_OK);
    CHECK_INT(files.n, 1);
    CHECK(files.items[0].purged_at[0] != '\0');
    CHECK_STR(files.items[0].sha256, hex); /* still says what was delivered */
    /* A preview recorded late on a purged file (a job that was running)
     * takes no reference: nothing would ever drop it again. */
    CHECK_INT(store_file_set_preview(s.d.m, files.items[0].id, "ready", NULL,
                                     "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
                                     "image/jpeg", &r), FG_OK);
    CHECK_INT(refs(s.d.m, "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"), 0);
    CHECK_INT(refs(s.d.m, hex), 0);
    store_file_list_release(&files);
    CHECK_INT(store_audit_list_get(s.d.m, "ord-c", 0, 0, &log, &r), FG_OK);
    CHECK(log.n >= 1);
    CHECK_STR(log.items[log.n - 1].action, "order.purged");
    CHECK(strstr(log.items[log.n - 1].detail, "\"name\":\"f.bin\"") != NULL);
    CHECK(strstr(log.items[log.n - 1].detail, hex) == NULL); /* never released */
    store_audit_list_release(&log);
    CHECK(stored(s.b, hex));
    store_blob_gc_opts o = {.now = (int64_t)time(NULL) + 10, .grace = 5};
    CHECK_INT(store_blob_gc(s.d.m, s.b, &o, NULL, &r), FG_OK);
    CHECK(!stored(s.b, hex));
    both_close(&s);
}

DB_TEST("a disputed or open order is never purged, however old")
{
    struct both s;
    fg_reason r = {""};
    char hex[STORE_HEX_MAX], hex2[STORE_HEX_MAX];
    both_open(&s);
    order(s.d.m, "ord-d");
    order(s.d.m, "ord-o");
    upload(s.d.m, s.b, s.d.dir, "ord-d", "disputed bytes", hex);
    upload(s.d.m, s.b, s.d.dir, "ord-o", "open bytes", hex2);
    const char *from[] = {STORE_STATE_OPEN, NULL};
    CHECK_INT(store_order_set_state(s.d.m, "ord-d", STORE_STATE_DISPUTED, from,
                                    "2020-01-01T00:00:00Z", NULL, &r), FG_OK);
    /* Even an order.cancelled entry in its trail (a replay, a bug) does
     * not make a disputed order due: the state decides. */
    CHECK_INT(store_audit_append(s.d.m, "ord-d", "x", "order.cancelled", "{}",
                                 "2020-01-01T00:00:00Z", NULL, &r), FG_OK);
    CHECK_INT(purge(s.d.m, 0, 0, (int64_t)time(NULL) + 3650 * DAY), 0);
    CHECK_INT(refs(s.d.m, hex), 1);
    CHECK_INT(refs(s.d.m, hex2), 1);
    both_close(&s);
}

DB_TEST("accepted orders are kept unless FILIGRANE_RETENTION_ACCEPTED_DAYS is set")
{
    struct both s;
    char hex[STORE_HEX_MAX], at[STORE_TIME_MAX];
    int64_t t0 = (int64_t)time(NULL) - 400 * DAY;
    both_open(&s);
    order(s.d.m, "ord-a");
    upload(s.d.m, s.b, s.d.dir, "ord-a", "accepted bytes", hex);
    iso(t0, at);
    close_order(s.d.m, "ord-a", STORE_STATE_ACCEPTED, at);
    CHECK_INT(purge(s.d.m, 0, -1, (int64_t)time(NULL)), 0);
    CHECK_INT(purge(s.d.m, 0, 365, t0 + 365 * DAY - 1), 0);
    CHECK_INT(purge(s.d.m, 0, 365, t0 + 365 * DAY), 1);
    CHECK_INT(refs(s.d.m, hex), 0);
    both_close(&s);
}

DB_TEST("a blob shared with another order's file keeps its count and survives the collector")
{
    struct both s;
    fg_reason r = {""};
    char hex[STORE_HEX_MAX], hex2[STORE_HEX_MAX], at[STORE_TIME_MAX];
    both_open(&s);
    order(s.d.m, "ord-c");
    order(s.d.m, "ord-n");
    upload(s.d.m, s.b, s.d.dir, "ord-c", "same bytes", hex);
    upload(s.d.m, s.b, s.d.dir, "ord-n", "same bytes", hex2);
    CHECK_STR(hex, hex2);
    iso((int64_t)time(NULL) - 40 * DAY, at);
    close_order(s.d.m, "ord-c", STORE_STATE_CANCELLED, at);
    CHECK_INT(purge(s.d.m, 30, -1, (int64_t)time(NULL)), 1);
    CHECK_INT(refs(s.d.m, hex), 1);
    store_blob_gc_opts o = {.now = (int64_t)time(NULL) + 10, .grace = 0};
    CHECK_INT(store_blob_gc(s.d.m, s.b, &o, NULL, &r), FG_OK);
    CHECK(stored(s.b, hex));
    both_close(&s);
}

DB_TEST("retention settings: bounds at their edges, named in the error")
{
    fg_reason r = {""};
    orders_retention s;
    unsetenv("FILIGRANE_RETENTION_DAYS");
    unsetenv("FILIGRANE_RETENTION_ACCEPTED_DAYS");
    CHECK_INT(orders_retention_load(&s, &r), FG_OK);
    CHECK_INT(s.cancelled_days, 30);
    CHECK_INT(s.accepted_days, -1);
    setenv("FILIGRANE_RETENTION_DAYS", "0", 1);
    setenv("FILIGRANE_RETENTION_ACCEPTED_DAYS", "36500", 1);
    CHECK_INT(orders_retention_load(&s, &r), FG_OK);
    CHECK_INT(s.cancelled_days, 0);
    CHECK_INT(s.accepted_days, 36500);
    setenv("FILIGRANE_RETENTION_ACCEPTED_DAYS", "36501", 1);
    CHECK_INT(orders_retention_load(&s, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_RETENTION_ACCEPTED_DAYS") != NULL);
    unsetenv("FILIGRANE_RETENTION_ACCEPTED_DAYS");
    setenv("FILIGRANE_RETENTION_DAYS", "-1", 1);
    CHECK_INT(orders_retention_load(&s, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_RETENTION_DAYS") != NULL);
    unsetenv("FILIGRANE_RETENTION_DAYS");
}

/* ---- the race: purges and collections against uploads of the same
 * bytes, each thread on its own handle, as the worker's threads are. */

/* The race runs until both sides have done enough (a loaded machine is
 * slower, not wrong), or RACE_MAX_SECONDS. */
#define RACE_MIN_SECONDS 3
#define RACE_MAX_SECONDS 60
#define SHARED "the bytes everyone delivers"

struct race {
    const char *path, *dir;
    store_blob *b;
    volatile int stop;
    volatile int uploads, purges, errors;
    char hex[STORE_HEX_MAX];
    char fail[FG_REASON_MAX + 16];
};

/* Uploader: new orders, each delivering the shared bytes, then cancelled
 * long ago so that the purger takes them at once: the blob's count goes
 * 1, 0, 1, 0... while the collector runs, and every upload of the bytes
 * lands while the previous order's purge may have just dropped it to 0.
 * Right after its row commits, a file's blob must be there. */
static void *uploader(void *p)
{
    struct race *x = p;
    store_meta *m = NULL;
    fg_reason r = {""};
    if (store_meta_open_db(x->path, &m, &r)) {
        x->errors++;
        return NULL;
    }
    for (int i = 0; !x->stop; i++) {
        char id[32], hex[STORE_HEX_MAX], tmp[300];
        snprintf(id, sizeof id, "ord-r%d", i);
        bool created;
        int64_t size = 0;
        int n = 0;
        const char *from[] = {STORE_STATE_OPEN, NULL};
        store_file f;
        snprintf(tmp, sizeof tmp, "%s/up-XXXXXX", x->dir);
        int fd = mkstemp(tmp);
        if (fd < 0 || write(fd, SHARED, strlen(SHARED)) != (ssize_t)strlen(SHARED)) {
            x->errors++;
            break;
        }
        close(fd);
        /* The upload's protocol (storage/blob_refs.h): register, store,
         * then the row, in separate steps as the handler does them. */
        if (store_order_create(m, id, "s-1", "b-1", NULL, NULL, NULL, &created, &r) ||
            store_blob_hash_file(tmp, hex, &size, &r) || store_blob_ref_touch(m, hex, &r) ||
            store_blob_put_file(x->b, tmp, hex, NULL, NULL, &r))
            goto fail;
        memset(&f, 0, sizeof f);
        snprintf(f.order_id, sizeof f.order_id, "%s", id);
        snprintf(f.name, sizeof f.name, "same.bin");
        f.size = size;
        snprintf(f.sha256, sizeof f.sha256, "%s", hex);
        snprintf(f.mime, sizeof f.mime, "text/plain");
        snprintf(f.kind, sizeof f.kind, "other");
        snprintf(f.preview, sizeof f.preview, "withheld");
        if (store_meta_begin(m, &r) || store_delivery_create(m, id, NULL, NULL, &n, &r))
            goto fail;
        f.delivery = n;
        if (store_file_add(m, &f, NULL, &r) || store_meta_commit(m, &r))
            goto fail;
        bool there = false;
        if (store_blob_stat(x->b, hex, &there, NULL, &r))
            goto fail;
        if (!there) {
            snprintf(x->fail, sizeof x->fail, "the blob of a file just recorded is gone");
            x->errors++;
            break;
        }
        if ((store_meta_begin(m, &r) ||
             store_order_set_state(m, id, STORE_STATE_CANCELLED, from, NULL, NULL, &r) ||
             store_audit_append(m, id, "order-system", "order.cancelled", "{}",
                                "2020-01-01T00:00:00Z", NULL, &r) ||
             store_meta_commit(m, &r)))
            goto fail;
        snprintf(x->hex, sizeof x->hex, "%s", hex);
        x->uploads++;
        continue;
    fail:
        store_meta_rollback(m);
        snprintf(x->fail, sizeof x->fail, "upload: %s", r.text);
        x->errors++;
        break;
    }
    store_meta_free(m);
    return NULL;
}

/* Purger: purges every cancelled order at once (0 days) and runs the
 * collector with a grace of 2 s, in a loop. (Stamps are whole seconds, so
 * a grace of g s protects a registration for g - 1 to g s: 2 keeps a full
 * second between an upload's registration and its row, which take
 * microseconds here.) */
static void *purger(void *p)
{
    struct race *x = p;
    store_meta *m = NULL;
    fg_reason r = {""};
    orders_retention s = {0, -1};
    if (store_meta_open_db(x->path, &m, &r)) {
        x->errors++;
        return NULL;
    }
    while (!x->stop) {
        orders_purge_stats st = {0, 0};
        store_blob_gc_opts o = {.now = (int64_t)time(NULL), .grace = 2};
        if (orders_retention_purge(m, &s, (int64_t)time(NULL), NULL, NULL, &st, &r) ||
            store_blob_gc(m, x->b, &o, NULL, &r)) {
            snprintf(x->fail, sizeof x->fail, "purge: %s", r.text);
            x->errors++;
            break;
        }
        x->purges += (int)st.orders;
    }
    store_meta_free(m);
    return NULL;
}

DB_TEST("purges and collections racing uploads of the same bytes never remove a referenced blob")
{
    struct both s;
    struct race x;
    pthread_t a, b;
    both_open(&s);
    memset(&x, 0, sizeof x);
    x.path = s.d.engine == DB_SQLITE ? s.d.path : s.d.url;
    x.dir = s.d.dir;
    x.b = s.b;
    CHECK(pthread_create(&a, NULL, uploader, &x) == 0);
    CHECK(pthread_create(&b, NULL, purger, &x) == 0);
    sleep(RACE_MIN_SECONDS);
    for (int t = RACE_MIN_SECONDS * 10; t < RACE_MAX_SECONDS * 10 && !x.errors &&
                                         (x.uploads <= 10 || x.purges <= 5);
         t++)
        usleep(100 * 1000);
    x.stop = 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    if (x.errors)
        TAP_FAIL("%d thread errors: %s", x.errors, x.fail);
    CHECK(x.uploads > 10);
    CHECK(x.purges > 5);
    /* Every file row not purged has its blob, and the count says so. */
    static const char live[] = "SELECT sha256, COUNT(*) FROM files WHERE purged_at = ''"
                               " GROUP BY sha256";
    if (s.d.engine == DB_SQLITE) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        CHECK(sqlite3_open(s.d.path, &db) == SQLITE_OK);
        CHECK(sqlite3_prepare_v2(db, live, -1, &st, NULL) == SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *hex = (const char *)sqlite3_column_text(st, 0);
            if (!stored(s.b, hex) || refs(s.d.m, hex) != sqlite3_column_int(st, 1)) {
                sqlite3_finalize(st);
                sqlite3_close(db);
                TAP_FAIL("blob %s of a live file is gone or miscounted", hex);
            }
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
    } else {
        PGconn *c = db_raw_pg(&s.d);
        PGresult *res = PQexec(c, live);
        bool good = PQresultStatus(res) == PGRES_TUPLES_OK;
        for (int i = 0; good && i < PQntuples(res); i++) {
            const char *hex = PQgetvalue(res, i, 0);
            if (!stored(s.b, hex) || refs(s.d.m, hex) != strtoll(PQgetvalue(res, i, 1), NULL, 10))
                good = false;
        }
        PQclear(res);
        PQfinish(c);
        if (!good)
            TAP_FAIL("a blob of a live file is gone or miscounted");
    }
    both_close(&s);
}
