/* tus uploads in the store (storage/uploads.c) on a real SQLite file and
 * a fresh PostgreSQL database (DB_TEST, tests/unit/store_tmp.h):
 * the row's round trip, the guarded advance, removal, the count per order,
 * the expired list; and the sweep of expired uploads (fcgi/h_tus.c),
 * which removes rows and data files and keeps the rest. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "fcgi/h_tus.h"
#include "storage/blob.h"
#include "storage/uploads.h"

#define T0 1800000000LL

static void make(store_upload *u, const char *id, const char *order, int64_t expires)
{
    fg_sha256 h;
    memset(u, 0, sizeof *u);
    snprintf(u->id, sizeof u->id, "%s", id);
    snprintf(u->order_id, sizeof u->order_id, "%s", order);
    snprintf(u->seller_id, sizeof u->seller_id, "s-1");
    snprintf(u->name, sizeof u->name, "photo é.jpg");
    snprintf(u->salt, sizeof u->salt, "%064d", 7);
    u->length = 100;
    u->expires_at = expires;
    fg_sha256_init(&h);
    fg_sha256_save(&h, u->sha_state);
    fg_sha256_update(&h, "salt", 4);
    fg_sha256_save(&h, u->commit_state);
}

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "1123456789abcdef0123456789abcdef"
#define ID3 "2123456789abcdef0123456789abcdef"

DB_TEST("an upload's row reads back as written, at offset 0")
{
    struct db d;
    store_upload u, got;
    fg_reason r = {""};
    db_open(&d);
    make(&u, ID1, "ord-1", T0);
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_OK);
    CHECK_INT(store_upload_get(d.m, ID1, &got, &r), FG_OK);
    CHECK_STR(got.order_id, "ord-1");
    CHECK_STR(got.seller_id, "s-1");
    CHECK_STR(got.name, "photo é.jpg");
    CHECK_STR(got.sha_state, u.sha_state);
    CHECK_STR(got.commit_state, u.commit_state);
    CHECK_STR(got.salt, u.salt);
    CHECK(got.length == 100 && got.offset == 0 && got.expires_at == T0);
    CHECK(got.created_at[0] != '\0');
    CHECK_INT(store_upload_get(d.m, ID2, &got, &r), FG_ENOTFOUND);
    CHECK_INT(store_upload_get(d.m, "../etc", &got, &r), FG_ENOTFOUND);
    /* The same id twice is refused (SQLite says FG_EIO, PostgreSQL's
     * unique violation FG_ESTATE) and the first row is kept. */
    u.length = 5;
    CHECK(store_upload_insert(d.m, &u, &r) != FG_OK);
    CHECK_INT(store_upload_get(d.m, ID1, &got, &r), FG_OK);
    CHECK(got.length == 100);
    db_close(&d);
}

DB_TEST("malformed uploads are refused before the store")
{
    struct db d;
    store_upload u;
    fg_reason r = {""};
    db_open(&d);
    make(&u, "not-an-id", "ord-1", T0);
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_EUSAGE);
    make(&u, ID1, "ord/1", T0);
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_EUSAGE);
    make(&u, ID1, "ord-1", T0);
    u.length = 0;
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_EUSAGE);
    make(&u, ID1, "ord-1", T0);
    u.sha_state[5] = 'z';
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_EUSAGE);
    make(&u, ID1, "ord-1", T0);
    u.name[0] = '\0';
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_EUSAGE);
    db_close(&d);
}

DB_TEST("the offset moves only from where it is, never past the length")
{
    struct db d;
    store_upload u, got;
    fg_sha256 h;
    char st[FG_SHA256_STATE_HEX_MAX];
    fg_reason r = {""};
    db_open(&d);
    make(&u, ID1, "ord-1", T0);
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_OK);
    fg_sha256_init(&h);
    fg_sha256_update(&h, "0123456789", 10);
    fg_sha256_save(&h, st);
    CHECK_INT(store_upload_advance(d.m, ID1, 0, 10, st, st, T0 + 5, &r), FG_OK);
    CHECK_INT(store_upload_get(d.m, ID1, &got, &r), FG_OK);
    CHECK(got.offset == 10 && got.expires_at == T0 + 5);
    CHECK_STR(got.sha_state, st);
    /* A second request that read offset 0 loses. */
    CHECK_INT(store_upload_advance(d.m, ID1, 0, 10, st, st, T0 + 6, &r), FG_ESTATE);
    CHECK_INT(store_upload_advance(d.m, ID1, 10, 101, st, st, T0 + 6, &r), FG_ESTATE);
    CHECK_INT(store_upload_advance(d.m, ID1, 10, 100, st, st, T0 + 6, &r), FG_OK);
    CHECK_INT(store_upload_advance(d.m, ID1, 10, 5, st, st, T0 + 6, &r), FG_EUSAGE);
    CHECK_INT(store_upload_advance(d.m, ID2, 0, 1, st, st, T0 + 6, &r), FG_ESTATE);
    CHECK_INT(store_upload_advance(d.m, ID1, 100, 100, "00", st, T0 + 6, &r), FG_EUSAGE);
    CHECK_INT(store_upload_get(d.m, ID1, &got, &r), FG_OK);
    CHECK(got.offset == 100);
    db_close(&d);
}

DB_TEST("removal, the count per order and the expired list")
{
    struct db d;
    store_upload u;
    char ids[4][STORE_FILE_ID_MAX];
    size_t n = 0;
    int64_t count = 0;
    bool removed = false;
    fg_reason r = {""};
    db_open(&d);
    make(&u, ID1, "ord-1", T0 + 20);
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_OK);
    make(&u, ID2, "ord-1", T0 + 10);
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_OK);
    make(&u, ID3, "ord-2", T0 + 30);
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_OK);
    CHECK_INT(store_upload_count(d.m, "ord-1", &count, &r), FG_OK);
    CHECK(count == 2);
    CHECK_INT(store_upload_expired(d.m, T0 + 9, ids, 4, &n, &r), FG_OK);
    CHECK(n == 0);
    CHECK_INT(store_upload_expired(d.m, T0 + 20, ids, 4, &n, &r), FG_OK);
    CHECK(n == 2);
    CHECK_STR(ids[0], ID2); /* oldest first; T0 + 20 is expired at T0 + 20 */
    CHECK_STR(ids[1], ID1);
    CHECK_INT(store_upload_expired(d.m, T0 + 100, ids, 1, &n, &r), FG_OK);
    CHECK(n == 1);
    CHECK_INT(store_upload_delete(d.m, ID2, &removed, &r), FG_OK);
    CHECK(removed);
    CHECK_INT(store_upload_delete(d.m, ID2, &removed, &r), FG_OK);
    CHECK(!removed);
    CHECK_INT(store_upload_count(d.m, "ord-1", &count, &r), FG_OK);
    CHECK(count == 1);
    db_close(&d);
}

DB_TEST("the sweep removes expired uploads' rows and data files, and keeps the others")
{
    struct db d;
    store_upload u;
    store_blob *b = NULL;
    char p1[PATH_MAX], p2[PATH_MAX];
    int64_t n = 0;
    fg_reason r = {""};
    db_open(&d);
    CHECK_INT(store_blob_open_fs(d.dir, &b, &r), FG_OK);
    make(&u, ID1, "ord-1", T0);
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_OK);
    make(&u, ID2, "ord-1", T0 + 100);
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_OK);
    CHECK(fcgi_tus_data_path(b, ID1, p1, sizeof p1) && fcgi_tus_data_path(b, ID2, p2, sizeof p2));
    close(open(p1, O_CREAT | O_WRONLY, 0600));
    close(open(p2, O_CREAT | O_WRONLY, 0600));
    CHECK_INT(fcgi_tus_sweep(d.m, b, T0 + 1, &n, &r), FG_OK);
    CHECK(n == 1);
    CHECK(access(p1, F_OK) != 0 && access(p2, F_OK) == 0);
    CHECK_INT(store_upload_get(d.m, ID1, &u, &r), FG_ENOTFOUND);
    CHECK_INT(store_upload_get(d.m, ID2, &u, &r), FG_OK);
    store_blob_free(b);
    db_close(&d);
}

DB_TEST("the sweep removes a data file left without a row once it is an hour old, not before")
{
    struct db d;
    store_blob *b = NULL;
    char p1[PATH_MAX], p2[PATH_MAX], other[PATH_MAX];
    int64_t n = 0, now = (int64_t)time(NULL);
    struct timespec old[2] = {{now - FG_TUS_ORPHAN_GRACE - 5, 0},
                              {now - FG_TUS_ORPHAN_GRACE - 5, 0}};
    fg_reason r = {""};
    db_open(&d);
    CHECK_INT(store_blob_open_fs(d.dir, &b, &r), FG_OK);
    CHECK(fcgi_tus_data_path(b, ID1, p1, sizeof p1) && fcgi_tus_data_path(b, ID2, p2, sizeof p2));
    snprintf(other, sizeof other, "%s/tus-notes.txt", store_blob_tmp_dir(b));
    close(open(p1, O_CREAT | O_WRONLY, 0600));
    close(open(p2, O_CREAT | O_WRONLY, 0600));
    close(open(other, O_CREAT | O_WRONLY, 0600));
    CHECK(utimensat(AT_FDCWD, p1, old, 0) == 0 && utimensat(AT_FDCWD, other, old, 0) == 0);
    CHECK_INT(fcgi_tus_sweep(d.m, b, now, &n, &r), FG_OK);
    CHECK(n == 1);
    CHECK(access(p1, F_OK) != 0);  /* an hour old, no row */
    CHECK(access(p2, F_OK) == 0);  /* new: a creation may be under way */
    CHECK(access(other, F_OK) == 0); /* not an upload's name */
    store_blob_free(b);
    db_close(&d);
}

/* ---- one upload resumed on two nodes at once (PostgreSQL) ---- */

struct advancer {
    store_meta *m;
    const char *state;
    fg_result rc;
    volatile int done;
};

static void *advance_0_to_10(void *p)
{
    struct advancer *a = p;
    fg_reason r = {""};
    a->rc = store_upload_advance(a->m, ID1, 0, 10, a->state, a->state, T0 + 5, &r);
    a->done = 1;
    return NULL;
}

/* Node A's chunk holds the row (its UPDATE is not committed yet) when
 * node B's chunk for the same offset arrives: B waits for A, then sees
 * the offset A wrote (READ COMMITTED re-checks "received = 0") and is
 * refused; had A rolled back, B would have gone through. Either way one
 * chunk counts, never both. */
PG_TEST("two nodes advancing one upload from the same offset: the second waits, then counts only if the first did not")
{
    struct db d;
    store_upload u, got;
    fg_sha256 h;
    char st[FG_SHA256_STATE_HEX_MAX], sql[256];
    fg_reason r = {""};
    pthread_t t;
    static struct advancer a;
    db_open(&d);
    make(&u, ID1, "ord-1", T0);
    CHECK_INT(store_upload_insert(d.m, &u, &r), FG_OK);
    fg_sha256_init(&h);
    fg_sha256_update(&h, "0123456789", 10);
    fg_sha256_save(&h, st);
    store_meta *m = db_handle(&d);
    for (int commit = 1; commit >= 0; commit--) {
        PGconn *node_a = db_raw_pg(&d);
        db_raw_exec(node_a, "BEGIN");
        snprintf(sql, sizeof sql,
                 "UPDATE uploads SET received = 10 WHERE id = '%s' AND received = 0", ID1);
        db_raw_exec(node_a, sql);
        memset(&a, 0, sizeof a);
        a.m = m;
        a.state = st;
        CHECK(pthread_create(&t, NULL, advance_0_to_10, &a) == 0);
        usleep(300000);
        int waited = !a.done; /* B is held by A's row lock */
        db_raw_exec(node_a, commit ? "COMMIT" : "ROLLBACK");
        PQfinish(node_a);
        pthread_join(t, NULL);
        CHECK(waited);
        CHECK_INT(a.rc, commit ? FG_ESTATE : FG_OK);
        CHECK_INT(store_upload_get(d.m, ID1, &got, &r), FG_OK);
        CHECK(got.offset == 10);
        /* B's hash state was written only when B's chunk counted. */
        CHECK(commit ? strcmp(got.sha_state, st) != 0 : strcmp(got.sha_state, st) == 0);
        if (commit) { /* back to offset 0 for the rollback round */
            snprintf(sql, sizeof sql, "UPDATE uploads SET received = 0 WHERE id = '%s'", ID1);
            db_exec(&d, sql);
        }
    }
    store_meta_free(m);
    db_close(&d);
}
