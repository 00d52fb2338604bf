/* The durable job queue (storage/jobs.c, storage/jobs_sqlite.c,
 * storage/jobs_pg.c) on a real SQLite file and, when the run has a
 * PostgreSQL server, on a fresh PostgreSQL database (DB_TEST): claim
 * order, leases that run out, two handles claiming at once, outcomes
 * guarded by the lease. The clock is passed in. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <pthread.h>
#include <time.h>
#include <sqlite3.h>

#include "storage/jobs.h"
#include "storage/meta.h"
#include "storage/schema_sqlite.h"

#define T0 1700000000000LL /* unix ms */
#define LEASE 60000LL

static int64_t add(store_meta *m, const char *subject, int64_t run_at)
{
    fg_reason r = {""};
    bool added = false;
    int64_t id = 0;
    if (store_job_add(m, STORE_JOB_PREVIEW, subject, "ord-1", run_at, &added, &id, &r) != FG_OK)
        TAP_FAIL("add %s: %s", subject, r.text);
    CHECK(added);
    return id;
}

static bool claim(store_meta *m, const char *owner, int64_t now, store_job *j)
{
    fg_reason r = {""};
    bool got = false;
    if (store_job_claim(m, owner, now, LEASE, j, &got, &r) != FG_OK)
        TAP_FAIL("claim: %s", r.text);
    return got;
}

DB_TEST("claims take the oldest due job first and never one not yet due")
{
    struct db d;
    store_job j;
    db_open(&d);
    int64_t later = add(d.m, "f-later", T0 + 5000);
    int64_t second = add(d.m, "f-second", T0 - 1000);
    int64_t first = add(d.m, "f-first", T0 - 2000);
    CHECK(claim(d.m, "a", T0, &j));
    CHECK_INT(j.id, first);
    CHECK_STR(j.state, STORE_JOB_RUNNING);
    CHECK_STR(j.lease_owner, "a");
    CHECK_INT(j.lease_until, T0 + LEASE);
    CHECK_INT(j.attempts, 1);
    CHECK(claim(d.m, "a", T0, &j));
    CHECK_INT(j.id, second);
    CHECK(!claim(d.m, "a", T0, &j));
    CHECK(claim(d.m, "a", T0 + 5000, &j));
    CHECK_INT(j.id, later);
    db_close(&d);
}

DB_TEST("a running job whose lease ran out is claimed again, and only then")
{
    struct db d;
    store_job j;
    db_open(&d);
    int64_t id = add(d.m, "f-1", T0);
    CHECK(claim(d.m, "dead-runner", T0, &j));
    CHECK(!claim(d.m, "b", T0 + LEASE - 1, &j));
    CHECK(claim(d.m, "b", T0 + LEASE, &j));
    CHECK_INT(j.id, id);
    CHECK_STR(j.lease_owner, "b");
    CHECK_INT(j.attempts, 2);
    db_close(&d);
}

DB_TEST("only the runner holding a job may end it, and only once")
{
    struct db d;
    store_job j;
    fg_reason r = {""};
    int64_t n = -1;
    db_open(&d);
    int64_t id = add(d.m, "f-1", T0);
    CHECK(claim(d.m, "a", T0, &j));
    CHECK(claim(d.m, "b", T0 + LEASE, &j)); /* a was presumed dead */
    CHECK_INT(store_job_finish(d.m, id, "a", STORE_JOB_DONE, NULL, &r), FG_ESTATE);
    CHECK_INT(store_job_finish(d.m, id, "b", STORE_JOB_FAILED, "timed out", &r), FG_OK);
    CHECK_INT(store_job_finish(d.m, id, "b", STORE_JOB_DONE, NULL, &r), FG_ESTATE);
    CHECK_INT(store_job_count(d.m, STORE_JOB_FAILED, &n, &r), FG_OK);
    CHECK_INT(n, 1);
    /* Ended inside a transaction that is rolled back: still running. */
    add(d.m, "f-2", T0);
    CHECK(claim(d.m, "c", T0, &j));
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_job_finish(d.m, j.id, "c", STORE_JOB_DONE, NULL, &r), FG_OK);
    store_meta_rollback(d.m);
    CHECK_INT(store_job_count(d.m, STORE_JOB_RUNNING, &n, &r), FG_OK);
    CHECK_INT(n, 1);
    CHECK_INT(store_job_finish(d.m, j.id, "c", "pending", NULL, &r), FG_EUSAGE);
    db_close(&d);
}

DB_TEST("one active job per kind and subject; a finished one can be asked again")
{
    struct db d;
    store_job j;
    fg_reason r = {""};
    bool added = true;
    db_open(&d);
    int64_t id = add(d.m, "f-1", T0);
    CHECK_INT(store_job_add(d.m, STORE_JOB_PREVIEW, "f-1", "ord-1", 0, &added, NULL, &r), FG_OK);
    CHECK(!added);
    CHECK(claim(d.m, "a", T0, &j));
    CHECK_INT(store_job_add(d.m, STORE_JOB_PREVIEW, "f-1", "ord-1", 0, &added, NULL, &r), FG_OK);
    CHECK(!added);
    CHECK_INT(store_job_finish(d.m, id, "a", STORE_JOB_DONE, NULL, &r), FG_OK);
    CHECK_INT(store_job_add(d.m, STORE_JOB_PREVIEW, "f-1", "ord-1", 0, &added, NULL, &r), FG_OK);
    CHECK(added);
    db_close(&d);
}

DB_TEST("bad kinds, subjects, owners and states are refused")
{
    struct db d;
    store_job j;
    store_job_list l;
    fg_reason r = {""};
    bool got;
    db_open(&d);
    CHECK_INT(store_job_add(d.m, "mine", "f-1", NULL, 0, NULL, NULL, &r), FG_EUSAGE);
    CHECK_INT(store_job_add(d.m, STORE_JOB_PREVIEW, "../x", NULL, 0, NULL, NULL, &r), FG_EUSAGE);
    CHECK_INT(store_job_add(d.m, STORE_JOB_PREVIEW, "", NULL, 0, NULL, NULL, &r), FG_EUSAGE);
    CHECK_INT(store_job_claim(d.m, "", T0, LEASE, &j, &got, &r), FG_EUSAGE);
    CHECK_INT(store_job_claim(d.m, "a", T0, 0, &j, &got, &r), FG_EUSAGE);
    CHECK_INT(store_job_list_get(d.m, "lost", 0, &l, &r), FG_EUSAGE);
    /* A claim takes its own transaction: never inside a caller's. */
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_job_claim(d.m, "a", T0, LEASE, &j, &got, &r), FG_EUSAGE);
    store_meta_rollback(d.m);
    db_close(&d);
}

DB_TEST("a job added in a transaction that rolls back does not exist")
{
    struct db d;
    store_job j;
    fg_reason r = {""};
    db_open(&d);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    add(d.m, "f-1", T0);
    store_meta_rollback(d.m);
    CHECK(!claim(d.m, "a", T0, &j));
    db_close(&d);
}

/* Two handles (as two runners, or two nodes) claiming at once. */
#define RACE_JOBS 300
static pthread_barrier_t start_line;
struct racer {
    store_meta *m;
    char owner[16];
    int64_t got[RACE_JOBS];
    int n;
    int errors;
};

static void *race(void *p)
{
    struct racer *k = p;
    store_meta *m = k->m;
    fg_reason r = {""};
    /* Both handles open, then both claim as fast as they can. */
    pthread_barrier_wait(&start_line);
    for (;;) {
        store_job j;
        bool got = false;
        if (store_job_claim(m, k->owner, T0, LEASE, &j, &got, &r) != FG_OK) {
            k->errors++;
            break;
        }
        if (!got)
            break;
        k->got[k->n++] = j.id;
        usleep(200); /* room for the other handle between claims */
    }
    return NULL;
}

DB_TEST("two handles claiming at once never get the same job, and miss none")
{
    struct db d;
    fg_reason r = {""};
    char subject[32];
    static struct racer k[2];
    pthread_t t[2];
    static int seen[RACE_JOBS + 1];
    db_open(&d);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    for (int i = 0; i < RACE_JOBS; i++) {
        snprintf(subject, sizeof subject, "f-%d", i);
        add(d.m, subject, T0 - RACE_JOBS + i);
    }
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    pthread_barrier_init(&start_line, NULL, 2);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 2; i++) {
        memset(&k[i], 0, sizeof k[i]);
        k[i].m = db_handle(&d);
        snprintf(k[i].owner, sizeof k[i].owner, "r%d", i);
        CHECK(pthread_create(&t[i], NULL, race, &k[i]) == 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start_line);
    for (int i = 0; i < 2; i++)
        store_meta_free(k[i].m);
    CHECK_INT(k[0].errors + k[1].errors, 0);
    CHECK_INT(k[0].n + k[1].n, RACE_JOBS);
    int dup = 0;
    for (int i = 0; i < 2; i++)
        for (int x = 0; x < k[i].n; x++)
            if (k[i].got[x] < 1 || k[i].got[x] > RACE_JOBS || seen[k[i].got[x]]++)
                dup++;
    CHECK_INT(dup, 0);
    printf("# claims: %d and %d\n", k[0].n, k[1].n);
    db_close(&d);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

PG_TEST("a claim passes over a job another node holds locked, without waiting for it")
{
    struct db d;
    store_job j;
    char sql[128];
    struct timespec t0;
    db_open(&d);
    int64_t first = add(d.m, "f-first", T0 - 2);
    int64_t second = add(d.m, "f-second", T0 - 1);
    /* A claim that waited for the lock would fail after 3 s. */
    db_pg_setting(&d, "lock_timeout", "3s");
    store_meta *m = db_handle(&d);
    PGconn *other = db_raw_pg(&d);
    db_raw_exec(other, "BEGIN");
    snprintf(sql, sizeof sql, "SELECT id FROM jobs WHERE id = %lld FOR UPDATE", (long long)first);
    db_raw_exec(other, sql);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool got = claim(m, "b", T0, &j);
    double took = seconds_since(&t0);
    db_raw_exec(other, "COMMIT");
    PQfinish(other);
    CHECK(got);
    CHECK_INT(j.id, second);
    CHECK(took < 1.0);
    /* Once the lock is gone the first is anyone's. */
    CHECK(claim(m, "b", T0, &j));
    CHECK_INT(j.id, first);
    store_meta_free(m);
    db_close(&d);
}

/* Four nodes claiming at once, with no pause between claims. */
#define MANY_JOBS 400
#define MANY_HANDLES 4
struct many {
    store_meta *m;
    char owner[16];
    int n, errors;
    int64_t got[MANY_JOBS];
};
static pthread_barrier_t many_line;

static void *claim_many(void *p)
{
    struct many *k = p;
    fg_reason r = {""};
    pthread_barrier_wait(&many_line);
    for (;;) {
        store_job j;
        bool got = false;
        if (store_job_claim(k->m, k->owner, T0, LEASE, &j, &got, &r) != FG_OK) {
            k->errors++;
            break;
        }
        if (!got || k->n == MANY_JOBS)
            break;
        k->got[k->n++] = j.id;
    }
    return NULL;
}

PG_TEST("four handles claiming flat out share the jobs: none twice, none missed")
{
    struct db d;
    fg_reason r = {""};
    char subject[32];
    static struct many k[MANY_HANDLES];
    static int seen[MANY_JOBS + 1];
    pthread_t t[MANY_HANDLES];
    db_open(&d);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    for (int i = 0; i < MANY_JOBS; i++) {
        snprintf(subject, sizeof subject, "f-%d", i);
        add(d.m, subject, T0 - MANY_JOBS + i);
    }
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    memset(seen, 0, sizeof seen);
    pthread_barrier_init(&many_line, NULL, MANY_HANDLES);
    for (int i = 0; i < MANY_HANDLES; i++) {
        memset(&k[i], 0, sizeof k[i]);
        k[i].m = db_handle(&d);
        snprintf(k[i].owner, sizeof k[i].owner, "node%d", i);
    }
    for (int i = 0; i < MANY_HANDLES; i++)
        CHECK(pthread_create(&t[i], NULL, claim_many, &k[i]) == 0);
    int total = 0, errors = 0, dup = 0;
    for (int i = 0; i < MANY_HANDLES; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&many_line);
    for (int i = 0; i < MANY_HANDLES; i++) {
        store_meta_free(k[i].m);
        total += k[i].n;
        errors += k[i].errors;
        for (int x = 0; x < k[i].n; x++)
            if (k[i].got[x] < 1 || k[i].got[x] > MANY_JOBS || seen[k[i].got[x]]++)
                dup++;
    }
    printf("# claims: %d %d %d %d\n", k[0].n, k[1].n, k[2].n, k[3].n);
    CHECK_INT(errors, 0);
    CHECK_INT(dup, 0);
    CHECK_INT(total, MANY_JOBS);
    db_close(&d);
}

DB_TEST("the listing shows pending, running and failed jobs, not done ones")
{
    struct db d;
    store_job j;
    store_job_list l;
    fg_reason r = {""};
    db_open(&d);
    int64_t a = add(d.m, "f-a", T0 - 3);
    int64_t b = add(d.m, "f-b", T0 - 2);
    add(d.m, "f-c", T0 - 1);
    add(d.m, "f-d", T0);
    CHECK(claim(d.m, "x", T0, &j));
    CHECK_INT(store_job_finish(d.m, a, "x", STORE_JOB_DONE, NULL, &r), FG_OK);
    CHECK(claim(d.m, "x", T0, &j));
    CHECK_INT(store_job_finish(d.m, b, "x", STORE_JOB_FAILED, "crashed", &r), FG_OK);
    CHECK(claim(d.m, "x", T0, &j));
    CHECK_INT(store_job_list_get(d.m, NULL, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, 3);
    if (l.n == 3) {
        CHECK_STR(l.items[0].state, STORE_JOB_FAILED);
        CHECK_STR(l.items[0].last_error, "crashed");
        CHECK_STR(l.items[1].state, STORE_JOB_RUNNING);
        CHECK_STR(l.items[2].state, STORE_JOB_PENDING);
    }
    store_job_list_release(&l);
    CHECK_INT(store_job_list_get(d.m, STORE_JOB_DONE, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, 1);
    store_job_list_release(&l);
    db_close(&d);
}

/* The job with this id, as the listing shows it (pending, running, failed). */
static bool find(store_meta *m, int64_t id, store_job *out)
{
    store_job_list l = {0};
    fg_reason r = {""};
    bool found = false;
    if (store_job_list_get(m, NULL, 0, &l, &r) != FG_OK)
        TAP_FAIL("list: %s", r.text);
    for (size_t i = 0; i < l.n; i++)
        if (l.items[i].id == id) {
            *out = l.items[i];
            found = true;
        }
    store_job_list_release(&l);
    return found;
}

DB_TEST("running jobs' owners are listed by exact prefix: '_' is no wildcard, pending jobs no owner")
{
    struct db d;
    store_job j;
    store_job_owners o = {0};
    fg_reason r = {""};
    db_open(&d);
    add(d.m, "f-1", T0 - 5);
    add(d.m, "f-2", T0 - 4);
    add(d.m, "f-3", T0 - 3);
    add(d.m, "f-4", T0 - 2);
    add(d.m, "f-5", T0 - 1);
    CHECK(claim(d.m, "h_1/20/0/aa", T0, &j));
    CHECK(claim(d.m, "h_1/20/0/aa", T0, &j));
    CHECK(claim(d.m, "hx1/20/0/aa", T0, &j));
    CHECK(claim(d.m, "h_1/10/1/bb", T0, &j));
    CHECK_INT(store_job_owners_get(d.m, "h_1/", &o, &r), FG_OK);
    CHECK_INT(o.n, 2);
    if (o.n == 2) {
        CHECK_STR(o.items[0], "h_1/10/1/bb");
        CHECK_STR(o.items[1], "h_1/20/0/aa");
    }
    store_job_owners_release(&o);
    CHECK_INT(store_job_owners_get(d.m, "h_1/20/0/aa/", &o, &r), FG_OK);
    CHECK_INT(o.n, 0);
    store_job_owners_release(&o);
    CHECK_INT(store_job_owners_get(d.m, "", &o, &r), FG_EUSAGE);
    store_job_owners_release(&o);
    db_close(&d);
}

DB_TEST("a dead owner's jobs go back to pending at once, attempts kept, its late outcome refused")
{
    struct db d;
    store_job j;
    fg_reason r = {""};
    int64_t n = -1;
    db_open(&d);
    int64_t a = add(d.m, "f-a", T0 - 2);
    int64_t b = add(d.m, "f-b", T0 - 1);
    int64_t c = add(d.m, "f-c", T0);
    CHECK(claim(d.m, "dead", T0, &j));
    CHECK(claim(d.m, "dead", T0, &j));
    CHECK(claim(d.m, "alive", T0, &j));
    CHECK_INT(store_job_release_owner(d.m, "dead", &n, &r), FG_OK);
    CHECK_INT(n, 2);
    CHECK(find(d.m, a, &j));
    CHECK_STR(j.state, STORE_JOB_PENDING);
    CHECK_STR(j.lease_owner, "");
    CHECK_INT(j.lease_until, 0);
    CHECK_INT(j.attempts, 1);
    CHECK(find(d.m, c, &j));
    CHECK_STR(j.state, STORE_JOB_RUNNING);
    CHECK_STR(j.lease_owner, "alive");
    /* Due again long before the lease would have run out. */
    CHECK(claim(d.m, "next", T0 + 1, &j));
    CHECK_INT(j.id, a);
    CHECK_INT(j.attempts, 2);
    CHECK_INT(store_job_finish(d.m, b, "dead", STORE_JOB_DONE, NULL, &r), FG_ESTATE);
    CHECK_INT(store_job_release_owner(d.m, "dead", &n, &r), FG_OK);
    CHECK_INT(n, 0);
    CHECK_INT(store_job_release_owner(d.m, "", &n, &r), FG_EUSAGE);
    db_close(&d);
}

DB_TEST("a job whose owner changed between the listing and the release is left alone")
{
    struct db d;
    store_job j;
    store_job_owners o = {0};
    fg_reason r = {""};
    int64_t n = -1;
    db_open(&d);
    int64_t a = add(d.m, "f-a", T0 - 1);
    int64_t b = add(d.m, "f-b", T0);
    CHECK(claim(d.m, "h/1/0/aa", T0, &j));
    CHECK(claim(d.m, "h/1/0/aa", T0, &j));
    CHECK_INT(store_job_owners_get(d.m, "h/", &o, &r), FG_OK);
    CHECK_INT(o.n, 1);
    /* Meanwhile: a's lease ran out and another node took it; b ended. */
    CHECK(claim(d.m, "other/2/0/bb", T0 + LEASE, &j));
    CHECK_INT(j.id, a);
    CHECK_INT(store_job_finish(d.m, b, "h/1/0/aa", STORE_JOB_DONE, NULL, &r), FG_OK);
    if (o.n == 1) {
        CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
        CHECK_INT(store_job_release_owner(d.m, o.items[0], &n, &r), FG_OK);
        CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
        CHECK_INT(n, 0);
    }
    store_job_owners_release(&o);
    CHECK(find(d.m, a, &j));
    CHECK_STR(j.state, STORE_JOB_RUNNING);
    CHECK_STR(j.lease_owner, "other/2/0/bb");
    CHECK_INT(j.attempts, 2);
    int64_t done = -1;
    CHECK_INT(store_job_count(d.m, STORE_JOB_DONE, &done, &r), FG_OK);
    CHECK_INT(done, 1);
    db_close(&d);
}

TEST("the jobs step gives each file left processing by an older run a job")
{
    char dir[256], path[300];
    sqlite3 *db = NULL;
    store_meta *m = NULL;
    store_job_list l = {0};
    fg_reason r = {""};
    int step = store_sqlite_schema_step_of("CREATE TABLE jobs");
    CHECK(step > 1);
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(path, sizeof path, "%s/meta.db", dir);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK_INT(store_sqlite_migrate_to(db, step - 1, &r), FG_OK);
    CHECK(sqlite3_exec(db,
                       "INSERT INTO orders(id, seller_id, buyer_id, created_at)"
                       " VALUES ('ord-1', 's', 'b', '2026-11-22T10:00:00.000Z');"
                       "INSERT INTO deliveries(order_id, number, created_at)"
                       " VALUES ('ord-1', 1, '2026-11-22T10:00:00.000Z');"
                       "INSERT INTO files(id, order_id, delivery, name, size, sha256, mime,"
                       " kind, preview, created_at) VALUES"
                       " ('f-stuck', 'ord-1', 1, 'a.jpg', 1, 'aa', 'image/jpeg', 'image',"
                       "  'processing', '2026-11-22T10:00:00.000Z'),"
                       " ('f-done', 'ord-1', 1, 'b.jpg', 1, 'bb', 'image/jpeg', 'image',"
                       "  'ready', '2026-11-22T10:00:00.000Z')",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_INT(store_meta_open_sqlite(path, &m, &r), FG_OK);
    CHECK_INT(store_job_list_get(m, STORE_JOB_PENDING, 0, &l, &r), FG_OK);
    CHECK_INT(l.n, 1);
    if (l.n == 1) {
        CHECK_STR(l.items[0].subject, "f-stuck");
        CHECK_STR(l.items[0].order_id, "ord-1");
        CHECK_INT(strlen(l.items[0].created_at), STORE_TIME_MAX - 1);
    }
    store_job_list_release(&l);
    store_meta_free(m);
    tmp_dir_remove(dir);
}

/* Sets a job's updated_at behind the store's back: the store writes the
 * real time, and a test cannot wait a week. */
static bool done_has(store_meta *m, int64_t id)
{
    store_job_list l = {0};
    fg_reason r = {""};
    bool found = false;
    if (store_job_list_get(m, STORE_JOB_DONE, 0, &l, &r) != FG_OK)
        TAP_FAIL("list: %s", r.text);
    for (size_t i = 0; i < l.n; i++)
        found = found || l.items[i].id == id;
    store_job_list_release(&l);
    return found;
}

static void set_updated(struct db *d, int64_t id, const char *at)
{
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE jobs SET updated_at = '%s' WHERE id = %lld", at,
             (long long)id);
    db_exec(d, sql);
}

DB_TEST("a prune deletes done jobs older than the limit and keeps the rest")
{
    struct db d;
    store_job j;
    fg_reason r = {""};
    int64_t n = -1;
    db_open(&d);
    /* T0 is 2023-11-14T22:13:20.000Z; the limit is T0. */
    int64_t old_done = add(d.m, "f-old-done", T0 - 4000);
    int64_t young_done = add(d.m, "f-young-done", T0 - 3000);
    int64_t old_failed = add(d.m, "f-old-failed", T0 - 2000);
    int64_t old_running = add(d.m, "f-old-running", T0 - 1000);
    int64_t old_pending = add(d.m, "f-old-pending", T0 + 999999);
    for (int i = 0; i < 4; i++)
        CHECK(claim(d.m, "a", T0, &j));
    CHECK_INT(store_job_finish(d.m, old_done, "a", STORE_JOB_DONE, NULL, &r), FG_OK);
    CHECK_INT(store_job_finish(d.m, young_done, "a", STORE_JOB_DONE, NULL, &r), FG_OK);
    CHECK_INT(store_job_finish(d.m, old_failed, "a", STORE_JOB_FAILED, "bad file", &r), FG_OK);
    set_updated(&d, old_done, "2023-11-14T22:13:19.999Z");
    set_updated(&d, young_done, "2023-11-14T22:13:20.000Z");
    set_updated(&d, old_failed, "2001-01-01T00:00:00.000Z");
    set_updated(&d, old_running, "2001-01-01T00:00:00.000Z");
    set_updated(&d, old_pending, "2001-01-01T00:00:00.000Z");
    CHECK_INT(store_job_prune(d.m, T0, &n, &r), FG_OK);
    CHECK_INT(n, 1);
    CHECK(!done_has(d.m, old_done));
    CHECK(done_has(d.m, young_done)); /* exactly at the limit: not older */
    CHECK(find(d.m, old_failed, &j));
    CHECK_STR(j.last_error, "bad file");
    CHECK(find(d.m, old_running, &j));
    CHECK_STR(j.state, STORE_JOB_RUNNING);
    CHECK(find(d.m, old_pending, &j));
    CHECK_STR(j.state, STORE_JOB_PENDING);
    /* Once past the limit the other done job goes too, nothing else. */
    CHECK_INT(store_job_prune(d.m, T0 + 1, &n, &r), FG_OK);
    CHECK_INT(n, 1);
    CHECK(!done_has(d.m, young_done));
    CHECK_INT(store_job_prune(d.m, INT64_C(253402300799000), &n, &r), FG_OK);
    CHECK_INT(n, 0);
    CHECK_INT(store_job_prune(d.m, -1, &n, &r), FG_EUSAGE);
    db_close(&d);
}
