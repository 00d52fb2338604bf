/* Retention purges as jobs (orders/purge_job.c on storage/jobs.c and
 * orders/retention.c): the maintenance loop's scheduling keeps exactly one
 * purge job active however often it runs, and a claimed purge job purges
 * what is due (never an open or disputed order) and ends done or failed
 * with its reason, guarded by its lease. Real SQLite file, real local blob
 * store. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <time.h>

#include "orders/purge_job.h"
#include "storage/audit.h"
#include "storage/blob.h"
#include "storage/blob_refs.h"
#include "storage/jobs.h"
#include "storage/meta.h"

#define DAY 86400LL
#define LEASE 60000LL

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

/* Stores content as a blob the way an upload does and records it as a
 * file of a new delivery of order. hex gets the blob's name. */
static void upload(struct both *s, const char *order, const char *content,
                   char hex[STORE_HEX_MAX])
{
    fg_reason r = {""};
    char tmp[300], id[STORE_FILE_ID_MAX];
    int64_t size = 0;
    int n = 0;
    snprintf(tmp, sizeof tmp, "%s/up-XXXXXX", s->d.dir);
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
    close(fd);
    if (store_blob_hash_file(tmp, hex, &size, &r) || store_blob_ref_touch(s->d.m, hex, &r) ||
        store_blob_put_file(s->b, tmp, hex, NULL, NULL, &r))
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
    if (store_meta_begin(s->d.m, &r) ||
        store_delivery_create(s->d.m, order, NULL, NULL, &n, &r))
        TAP_FAIL("delivery: %s", r.text);
    f.delivery = n;
    if (store_file_add(s->d.m, &f, id, &r) || store_meta_commit(s->d.m, &r))
        TAP_FAIL("file: %s", r.text);
}

static void order(store_meta *m, const char *id)
{
    fg_reason r = {""};
    bool created;
    if (store_order_create(m, id, "s-1", "b-1", NULL, NULL, NULL, &created, &r))
        TAP_FAIL("order: %s", r.text);
}

/* Moves order id from open to state at `at`, with the audit entry the
 * webhook handler writes. */
static void move(store_meta *m, const char *id, const char *state, const char *at)
{
    fg_reason r = {""};
    char action[32];
    const char *from[] = {STORE_STATE_OPEN, NULL};
    snprintf(action, sizeof action, "order.%s", state);
    if (store_meta_begin(m, &r) || store_order_set_state(m, id, state, from, at, NULL, &r) ||
        store_audit_append(m, id, "order-system", action, "{}", at, NULL, &r) ||
        store_meta_commit(m, &r))
        TAP_FAIL("move: %s", r.text);
}

static bool purged(store_meta *m, const char *order_id)
{
    fg_reason r = {""};
    store_file_list l = {0};
    if (store_file_list_order(m, order_id, &l, &r))
        TAP_FAIL("files: %s", r.text);
    bool all = l.n > 0;
    for (size_t i = 0; i < l.n; i++)
        all = all && l.items[i].purged_at[0] != '\0';
    store_file_list_release(&l);
    return all;
}

static int64_t schedule(store_meta *m, int64_t now_ms, bool *added)
{
    fg_reason r = {""};
    int64_t id = -1;
    if (orders_purge_job_schedule(m, now_ms, added, &id, &r) != FG_OK)
        TAP_FAIL("schedule: %s", r.text);
    return id;
}

/* The jobs in state of kind purge. */
static size_t purge_jobs(store_meta *m, const char *state, store_job *first)
{
    fg_reason r = {""};
    store_job_list l = {0};
    size_t n = 0;
    if (store_job_list_get(m, state, 0, &l, &r))
        TAP_FAIL("list: %s", r.text);
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.items[i].kind, STORE_JOB_PURGE) == 0 && n++ == 0 && first)
            *first = l.items[i];
    store_job_list_release(&l);
    return n;
}

static bool claim(store_meta *m, const char *owner, int64_t now_ms, store_job *j)
{
    fg_reason r = {""};
    bool got = false;
    if (store_job_claim(m, owner, now_ms, LEASE, j, &got, &r) != FG_OK)
        TAP_FAIL("claim: %s", r.text);
    return got;
}

struct seen {
    int n;
    char order[64];
};

static void on_purged(void *ctx, const char *order_id, const char *state, int64_t files)
{
    struct seen *s = ctx;
    (void)state;
    (void)files;
    s->n++;
    snprintf(s->order, sizeof s->order, "%s", order_id);
}

DB_TEST("the maintenance enqueue adds exactly one purge job however often it runs")
{
    struct db d, other;
    store_job j;
    bool added = false;
    int64_t now = (int64_t)time(NULL) * 1000;
    db_open(&d);
    int64_t first = schedule(d.m, now, &added);
    CHECK(added);
    CHECK(first > 0);
    for (int i = 1; i <= 50; i++) {
        added = true;
        CHECK_INT(schedule(d.m, now + i * 1000, &added), 0);
        CHECK(!added);
    }
    /* Another handle (a second node, `filigrane`) adds none either. */
    other.m = db_handle(&d);
    CHECK_INT(schedule(other.m, now, &added), 0);
    CHECK(!added);
    store_meta_free(other.m);
    CHECK_INT(purge_jobs(d.m, NULL, &j), 1);
    CHECK_INT(j.id, first);
    CHECK_STR(j.subject, ORDERS_PURGE_SUBJECT);
    CHECK_STR(j.state, STORE_JOB_PENDING);
    CHECK_INT(j.run_at, now); /* due at once */
    db_close(&d);
}

DB_TEST("while the purge job runs no second one is added; once it ended, the next pass adds one")
{
    struct db d;
    store_job j;
    fg_reason r = {""};
    bool added = false;
    int64_t now = (int64_t)time(NULL) * 1000;
    db_open(&d);
    int64_t first = schedule(d.m, now, &added);
    CHECK(claim(d.m, "runner-a", now, &j));
    CHECK_INT(j.id, first);
    CHECK_INT(schedule(d.m, now + 1000, &added), 0);
    CHECK(!added);
    CHECK_INT(purge_jobs(d.m, NULL, NULL), 1);
    CHECK_INT(store_job_finish(d.m, first, "runner-a", STORE_JOB_DONE, NULL, &r), FG_OK);
    int64_t second = schedule(d.m, now + 2000, &added);
    CHECK(added);
    CHECK(second > first);
    CHECK_INT(purge_jobs(d.m, STORE_JOB_PENDING, NULL), 1);
    CHECK_INT(purge_jobs(d.m, STORE_JOB_DONE, NULL), 1);
    db_close(&d);
}

DB_TEST("a purge job purges the cancelled order past its retention, never the disputed or open one, and ends done")
{
    struct both s;
    store_job j;
    fg_reason r = {""};
    struct seen seen = {0, ""};
    orders_purge_outcome out;
    char hc[STORE_HEX_MAX], hd[STORE_HEX_MAX], ho[STORE_HEX_MAX], at[STORE_TIME_MAX];
    int64_t now = (int64_t)time(NULL);
    both_open(&s);
    order(s.d.m, "ord-c");
    order(s.d.m, "ord-d");
    order(s.d.m, "ord-o");
    upload(&s, "ord-c", "cancelled bytes", hc);
    upload(&s, "ord-d", "disputed bytes", hd);
    upload(&s, "ord-o", "open bytes", ho);
    time_t t = (time_t)(now - 40 * DAY);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    move(s.d.m, "ord-c", STORE_STATE_CANCELLED, at);
    move(s.d.m, "ord-d", STORE_STATE_DISPUTED, at);
    bool added = false;
    int64_t id = schedule(s.d.m, now * 1000, &added);
    CHECK(claim(s.d.m, "runner-a", now * 1000, &j));
    CHECK_INT(j.id, id);
    orders_retention ret = {30, 0}; /* accepted orders purged too: not these */
    CHECK_INT(orders_purge_job_run(&ret, s.d.m, &j, "runner-a", now, on_purged, &seen, &out,
                                   &r), FG_OK);
    CHECK(out.recorded);
    CHECK(!out.failed);
    CHECK_INT(out.stats.orders, 1);
    CHECK_INT(out.stats.files, 1);
    CHECK_INT(seen.n, 1);
    CHECK_STR(seen.order, "ord-c");
    CHECK(purged(s.d.m, "ord-c"));
    CHECK(!purged(s.d.m, "ord-d"));
    CHECK(!purged(s.d.m, "ord-o"));
    int64_t n = -1;
    bool known = false;
    CHECK_INT(store_blob_ref_count(s.d.m, hd, &n, &known, &r), FG_OK);
    CHECK_INT(n, 1);
    CHECK_INT(purge_jobs(s.d.m, STORE_JOB_DONE, &j), 1);
    CHECK_INT(j.id, id);
    CHECK_STR(j.last_error, "");
    CHECK_INT(purge_jobs(s.d.m, NULL, NULL), 0); /* nothing left active */
    both_close(&s);
}

DB_TEST("a purge job that stops on an error ends failed with the reason")
{
    struct both s;
    store_job j;
    fg_reason r = {""};
    orders_purge_outcome out;
    char hc[STORE_HEX_MAX];
    int64_t now = (int64_t)time(NULL);
    both_open(&s);
    order(s.d.m, "ord-c");
    upload(&s, "ord-c", "cancelled bytes", hc);
    move(s.d.m, "ord-c", STORE_STATE_CANCELLED, "2020-01-01T00:00:00Z");
    /* The store refuses to mark files purged, as a full disk would. */
    db_exec(&s.d, s.d.engine == DB_SQLITE
                      ? "CREATE TRIGGER no_purge BEFORE UPDATE OF purged_at ON files"
                        " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;"
                      : "CREATE FUNCTION no_purge() RETURNS trigger LANGUAGE plpgsql AS $$"
                        " BEGIN RAISE EXCEPTION 'disk on fire'; END $$;"
                        "CREATE TRIGGER no_purge BEFORE UPDATE OF purged_at ON files"
                        " FOR EACH ROW EXECUTE FUNCTION no_purge();");
    bool added = false;
    schedule(s.d.m, now * 1000, &added);
    CHECK(claim(s.d.m, "runner-a", now * 1000, &j));
    orders_retention ret = {30, -1};
    CHECK_INT(orders_purge_job_run(&ret, s.d.m, &j, "runner-a", now, NULL, NULL, &out, &r),
              FG_OK);
    CHECK(out.recorded);
    CHECK(out.failed);
    CHECK_INT(out.stats.orders, 0);
    CHECK(!purged(s.d.m, "ord-c"));
    CHECK_INT(purge_jobs(s.d.m, STORE_JOB_FAILED, &j), 1);
    CHECK(j.last_error[0] != '\0');
    CHECK_STR(j.last_error, out.why.text);
    /* The next pass schedules a new one. */
    CHECK(schedule(s.d.m, now * 1000, &added) > 0);
    CHECK(added);
    both_close(&s);
}

DB_TEST("a runner whose lease ran out purges but cannot end the job its successor holds")
{
    struct db d;
    store_job mine, theirs;
    fg_reason r = {""};
    orders_purge_outcome out;
    bool added = false;
    int64_t now = (int64_t)time(NULL);
    db_open(&d);
    schedule(d.m, now * 1000, &added);
    CHECK(claim(d.m, "dead-runner", now * 1000, &mine));
    CHECK(claim(d.m, "runner-b", now * 1000 + LEASE, &theirs));
    CHECK_INT(theirs.id, mine.id);
    orders_retention ret = {30, -1};
    CHECK_INT(orders_purge_job_run(&ret, d.m, &mine, "dead-runner", now, NULL, NULL, &out, &r),
              FG_OK);
    CHECK(!out.recorded);
    CHECK_INT(purge_jobs(d.m, STORE_JOB_RUNNING, &theirs), 1);
    CHECK_STR(theirs.lease_owner, "runner-b");
    CHECK_INT(orders_purge_job_run(&ret, d.m, &theirs, "runner-b", now, NULL, NULL, &out, &r),
              FG_OK);
    CHECK(out.recorded);
    CHECK_INT(purge_jobs(d.m, STORE_JOB_DONE, NULL), 1);
    db_close(&d);
}

DB_TEST("a job of another kind is refused and purges nothing")
{
    struct both s;
    store_job j;
    fg_reason r = {""};
    orders_purge_outcome out;
    char hc[STORE_HEX_MAX];
    int64_t now = (int64_t)time(NULL);
    both_open(&s);
    order(s.d.m, "ord-c");
    upload(&s, "ord-c", "cancelled bytes", hc);
    move(s.d.m, "ord-c", STORE_STATE_CANCELLED, "2020-01-01T00:00:00Z");
    CHECK_INT(store_job_add(s.d.m, STORE_JOB_PREVIEW, "f-1", "ord-c", now * 1000, NULL, NULL,
                            &r), FG_OK);
    CHECK(claim(s.d.m, "runner-a", now * 1000, &j));
    orders_retention ret = {0, -1};
    CHECK_INT(orders_purge_job_run(&ret, s.d.m, &j, "runner-a", now, NULL, NULL, &out, &r),
              FG_EUSAGE);
    CHECK(!purged(s.d.m, "ord-c"));
    both_close(&s);
}
