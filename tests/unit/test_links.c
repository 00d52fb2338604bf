/* Links and download limits in the store (storage/links.h), on SQLite and
 * PostgreSQL (DB_TEST): recorded under the hash of their id only, used
 * within their life and their uses, revoked once, and counted by guarded
 * statements that racing handles cannot pass. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <pthread.h>
#include <time.h>

#include "storage/links.h"
#include "storage/meta.h"

static const char SHA_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/* An order with one delivery and one file; the file's id into fid. */
static void mk_file(store_meta *m, const char *order, char fid[STORE_FILE_ID_MAX])
{
    fg_reason r = {""};
    int n = 0;
    store_file f;
    memset(&f, 0, sizeof f);
    CHECK_INT(store_order_create(m, order, "s-1", "b-1", NULL, NULL, NULL, NULL, &r), FG_OK);
    CHECK_INT(store_delivery_create(m, order, NULL, NULL, &n, &r), FG_OK);
    snprintf(f.order_id, sizeof f.order_id, "%s", order);
    f.delivery = n;
    snprintf(f.name, sizeof f.name, "a.png");
    f.size = 10;
    snprintf(f.sha256, sizeof f.sha256, "%s", SHA_A);
    snprintf(f.mime, sizeof f.mime, "image/png");
    snprintf(f.kind, sizeof f.kind, "image");
    snprintf(f.preview, sizeof f.preview, "processing");
    CHECK_INT(store_file_add(m, &f, fid, &r), FG_OK);
}

static store_link link_in(const char *hash, const char *fid, const char *order, int64_t uses)
{
    store_link l;
    memset(&l, 0, sizeof l);
    snprintf(l.hash, sizeof l.hash, "%s", hash);
    snprintf(l.file_id, sizeof l.file_id, "%s", fid);
    snprintf(l.order_id, sizeof l.order_id, "%s", order);
    snprintf(l.purpose, sizeof l.purpose, "original");
    snprintf(l.minted_by, sizeof l.minted_by, "seller:s-1");
    snprintf(l.minted_role, sizeof l.minted_role, "seller");
    l.expires_at = (int64_t)time(NULL) + 600;
    l.max_uses = uses;
    return l;
}

/* True if the n bytes at needle occur in file path. */
static bool file_holds(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return memmem(buf, n, needle, strlen(needle)) != NULL;
}

TEST("a link id is 64 hex of fresh randomness, stored under its SHA-256")
{
    fg_reason r = {""};
    char id1[STORE_LINK_ID_MAX], id2[STORE_LINK_ID_MAX], h1[STORE_HEX_MAX], h2[STORE_HEX_MAX];
    char again[STORE_HEX_MAX], ref[STORE_LINK_REF_MAX];
    CHECK_INT(store_link_id_new(id1, h1, &r), FG_OK);
    CHECK_INT(store_link_id_new(id2, h2, &r), FG_OK);
    CHECK_INT((int)strlen(id1), 64);
    CHECK(strspn(id1, "0123456789abcdef") == 64);
    CHECK(strcmp(id1, id2) != 0);
    CHECK(strcmp(id1, h1) != 0);
    store_link_hash(id1, again);
    CHECK_STR(again, h1);
    /* SHA-256("abc"): the hash is the standard one, so an operator can
     * find a link's row from its id with sha256sum. */
    store_link_hash("abc", again);
    CHECK_STR(again, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    store_link_ref(h1, ref);
    CHECK_INT((int)strlen(ref), 16);
    CHECK(strncmp(ref, h1, 16) == 0);
}

DB_TEST("a link is recorded and read back under its hash; the id is nowhere in the store")
{
    struct db d;
    fg_reason r = {""};
    char fid[STORE_FILE_ID_MAX], id[STORE_LINK_ID_MAX], hash[STORE_HEX_MAX];
    store_link got;
    db_open(&d);
    mk_file(d.m, "ord-1", fid);
    CHECK_INT(store_link_id_new(id, hash, &r), FG_OK);
    store_link l = link_in(hash, fid, "ord-1", 3);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_OK);
    CHECK_INT(store_link_get(d.m, hash, &got, &r), FG_OK);
    CHECK_STR(got.file_id, fid);
    CHECK_STR(got.order_id, "ord-1");
    CHECK_STR(got.purpose, "original");
    CHECK_STR(got.minted_by, "seller:s-1");
    CHECK_STR(got.minted_role, "seller");
    CHECK(got.expires_at == l.expires_at);
    CHECK_INT((int)got.max_uses, 3);
    CHECK_INT((int)got.uses, 0);
    CHECK_STR(got.revoked_at, "");
    CHECK_INT((int)strlen(got.created_at), STORE_TIME_MAX - 1);
    CHECK_INT(store_link_get(d.m, id, &got, &r), FG_ENOTFOUND);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_ESTATE);
    if (d.engine == DB_SQLITE) {
        char wal[320];
        snprintf(wal, sizeof wal, "%s-wal", d.path);
        CHECK(!file_holds(d.path, id) && !file_holds(wal, id));
        CHECK(file_holds(d.path, hash) || file_holds(wal, hash));
    }
    db_close(&d);
}

DB_TEST("a link with a bad field is refused and nothing is stored")
{
    struct db d;
    fg_reason r = {""};
    char fid[STORE_FILE_ID_MAX], hash[STORE_HEX_MAX];
    store_link got;
    db_open(&d);
    mk_file(d.m, "ord-1", fid);
    store_link_hash("x", hash);
    store_link l = link_in(hash, fid, "ord-1", 0);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_EUSAGE); /* max_uses 0 */
    l = link_in(hash, fid, "ord-1", FG_LINK_MAX_USES + 1);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_EUSAGE);
    l = link_in(hash, fid, "ord-1", FG_LINK_MAX_USES);
    snprintf(l.purpose, sizeof l.purpose, "everything");
    CHECK_INT(store_link_add(d.m, &l, &r), FG_EUSAGE);
    l = link_in(hash, fid, "ord-1", 1);
    snprintf(l.minted_role, sizeof l.minted_role, "nobody");
    CHECK_INT(store_link_add(d.m, &l, &r), FG_EUSAGE);
    l = link_in("ABC", fid, "ord-1", 1);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_EUSAGE);
    l = link_in(hash, "not-a-file-id", "ord-1", 1);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_EUSAGE);
    l = link_in(hash, fid, "../ord", 1);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_EUSAGE);
    CHECK_INT(store_link_get(d.m, hash, &got, &r), FG_ENOTFOUND);
    l = link_in(hash, fid, "ord-1", FG_LINK_MAX_USES);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_OK);
    db_close(&d);
}

DB_TEST("a link's uses stop at max_uses, at its expiry and at its revocation")
{
    struct db d;
    fg_reason r = {""};
    char fid[STORE_FILE_ID_MAX], h1[STORE_HEX_MAX], h2[STORE_HEX_MAX], h3[STORE_HEX_MAX];
    bool taken = false, revoked = false;
    int64_t uses = 0, now = (int64_t)time(NULL);
    store_link got;
    db_open(&d);
    mk_file(d.m, "ord-1", fid);
    store_link_hash("one", h1);
    store_link_hash("two", h2);
    store_link_hash("three", h3);
    store_link l = link_in(h1, fid, "ord-1", 2);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_OK);
    CHECK_INT(store_link_use(d.m, h1, now, &taken, &uses, &r), FG_OK);
    CHECK(taken && uses == 1);
    CHECK_INT(store_link_use(d.m, h1, now, &taken, &uses, &r), FG_OK);
    CHECK(taken && uses == 2);
    CHECK_INT(store_link_use(d.m, h1, now, &taken, &uses, &r), FG_OK);
    CHECK(!taken);
    CHECK_INT(store_link_get(d.m, h1, &got, &r), FG_OK);
    CHECK_INT((int)got.uses, 2);

    l = link_in(h2, fid, "ord-1", 5);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_OK);
    CHECK_INT(store_link_use(d.m, h2, l.expires_at - 1, &taken, &uses, &r), FG_OK);
    CHECK(taken);
    CHECK_INT(store_link_use(d.m, h2, l.expires_at, &taken, &uses, &r), FG_OK);
    CHECK(!taken); /* expires_at is the first second it no longer opens */

    l = link_in(h3, fid, "ord-1", 5);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_OK);
    CHECK_INT(store_link_revoke(d.m, h3, NULL, &revoked, &r), FG_OK);
    CHECK(revoked);
    CHECK_INT(store_link_revoke(d.m, h3, NULL, &revoked, &r), FG_OK);
    CHECK(!revoked);
    CHECK_INT(store_link_get(d.m, h3, &got, &r), FG_OK);
    CHECK((int)strlen(got.revoked_at) == STORE_TIME_MAX - 1);
    CHECK_INT(store_link_use(d.m, h3, now, &taken, &uses, &r), FG_OK);
    CHECK(!taken);

    store_link_hash("nobody made me", h3);
    CHECK_INT(store_link_use(d.m, h3, now, &taken, &uses, &r), FG_OK);
    CHECK(!taken);
    CHECK_INT(store_link_revoke(d.m, h3, NULL, &revoked, &r), FG_ENOTFOUND);
    db_close(&d);
}

/* ---- races: each thread its own handle, as worker threads and nodes ---- */

struct racer {
    struct db *d;
    const char *what; /* "link" or "download" */
    const char *key;  /* the link's hash or the file id */
    pthread_barrier_t *start;
    int won;
    int failed;
};

static void *race(void *arg)
{
    struct racer *x = arg;
    fg_reason r = {""};
    store_meta *m = db_handle(x->d);
    bool taken = false;
    int64_t n = 0;
    pthread_barrier_wait(x->start);
    for (int i = 0; m && i < 5; i++) {
        fg_result rc = store_meta_begin(m, &r);
        if (rc == FG_OK)
            rc = strcmp(x->what, "link") == 0
                     ? store_link_use(m, x->key, (int64_t)time(NULL), &taken, &n, &r)
                     : store_file_count_download(m, x->key, &taken, &n, &r);
        if (rc == FG_OK)
            rc = store_meta_commit(m, &r);
        if (rc != FG_OK) {
            store_meta_rollback(m);
            x->failed++;
        } else if (taken) {
            x->won++;
        }
    }
    store_meta_free(m);
    return NULL;
}

static int run_race(struct db *d, const char *what, const char *key)
{
    enum { N = 6 };
    pthread_t t[N];
    struct racer x[N];
    pthread_barrier_t start;
    int won = 0, failed = 0;
    pthread_barrier_init(&start, NULL, N);
    for (int i = 0; i < N; i++) {
        x[i] = (struct racer){d, what, key, &start, 0, 0};
        pthread_create(&t[i], NULL, race, &x[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        won += x[i].won;
        failed += x[i].failed;
    }
    pthread_barrier_destroy(&start);
    CHECK_INT(failed, 0);
    return won;
}

DB_TEST("six handles racing 30 times for a link's 7 uses take exactly 7")
{
    struct db d;
    fg_reason r = {""};
    char fid[STORE_FILE_ID_MAX], hash[STORE_HEX_MAX];
    store_link got;
    db_open(&d);
    mk_file(d.m, "ord-1", fid);
    store_link_hash("raced", hash);
    store_link l = link_in(hash, fid, "ord-1", 7);
    CHECK_INT(store_link_add(d.m, &l, &r), FG_OK);
    CHECK_INT(run_race(&d, "link", hash), 7);
    CHECK_INT(store_link_get(d.m, hash, &got, &r), FG_OK);
    CHECK_INT((int)got.uses, 7);
    db_close(&d);
}

DB_TEST("max_downloads caps a file's buyer downloads; none set, none capped")
{
    struct db d;
    fg_reason r = {""};
    char fid[STORE_FILE_ID_MAX], gid[STORE_FILE_ID_MAX];
    bool taken = false;
    int64_t n = 0, lim = -1;
    store_file f;
    db_open(&d);
    mk_file(d.m, "ord-1", fid);
    mk_file(d.m, "ord-2", gid);
    CHECK_INT(store_order_max_downloads(d.m, "ord-1", &lim, &r), FG_OK);
    CHECK(lim == 0);
    CHECK_INT(store_order_set_max_downloads(d.m, "ord-1", 2, &r), FG_OK);
    CHECK_INT(store_order_max_downloads(d.m, "ord-1", &lim, &r), FG_OK);
    CHECK(lim == 2);
    for (int i = 1; i <= 2; i++) {
        CHECK_INT(store_file_count_download(d.m, fid, &taken, &n, &r), FG_OK);
        CHECK(taken && n == i);
    }
    CHECK_INT(store_file_count_download(d.m, fid, &taken, &n, &r), FG_OK);
    CHECK(!taken && n == 2);
    CHECK_INT(store_file_get(d.m, fid, &f, &r), FG_OK);
    CHECK(f.buyer_downloads == 2);
    /* Raising the limit opens one more; clearing it, every one. */
    CHECK_INT(store_order_set_max_downloads(d.m, "ord-1", 3, &r), FG_OK);
    CHECK_INT(store_file_count_download(d.m, fid, &taken, &n, &r), FG_OK);
    CHECK(taken && n == 3);
    CHECK_INT(store_order_set_max_downloads(d.m, "ord-1", 0, &r), FG_OK);
    CHECK_INT(store_file_count_download(d.m, fid, &taken, &n, &r), FG_OK);
    CHECK(taken && n == 4);
    /* Another order's file: no limit of its own. */
    for (int i = 0; i < 5; i++)
        CHECK_INT(store_file_count_download(d.m, gid, &taken, &n, &r), FG_OK);
    CHECK(taken && n == 5);

    CHECK_INT(store_order_set_max_downloads(d.m, "ord-1", -1, &r), FG_EUSAGE);
    CHECK_INT(store_order_set_max_downloads(d.m, "ord-1", FG_MAX_DOWNLOADS_LIMIT + 1, &r),
              FG_EUSAGE);
    CHECK_INT(store_order_set_max_downloads(d.m, "ord-1", FG_MAX_DOWNLOADS_LIMIT, &r), FG_OK);
    CHECK_INT(store_order_set_max_downloads(d.m, "ord-9", 1, &r), FG_ENOTFOUND);
    CHECK_INT(store_order_max_downloads(d.m, "ord-9", &lim, &r), FG_ENOTFOUND);
    CHECK_INT(store_file_count_download(d.m, "0123456789abcdef0123456789abcdef", &taken, &n, &r),
              FG_ENOTFOUND);
    db_close(&d);
}

DB_TEST("a refused download inside a transaction changes nothing when it rolls back")
{
    struct db d;
    fg_reason r = {""};
    char fid[STORE_FILE_ID_MAX], gid[STORE_FILE_ID_MAX];
    bool taken = false;
    int64_t n = 0;
    store_file f;
    db_open(&d);
    mk_file(d.m, "ord-1", fid);
    /* A second file of the same order, as in an archive. */
    memset(&f, 0, sizeof f);
    CHECK_INT(store_file_get(d.m, fid, &f, &r), FG_OK);
    f.id[0] = '\0';
    CHECK_INT(store_file_add(d.m, &f, gid, &r), FG_OK);
    CHECK_INT(store_order_set_max_downloads(d.m, "ord-1", 1, &r), FG_OK);
    CHECK_INT(store_file_count_download(d.m, fid, &taken, &n, &r), FG_OK);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_file_count_download(d.m, gid, &taken, &n, &r), FG_OK);
    CHECK(taken);
    CHECK_INT(store_file_count_download(d.m, fid, &taken, &n, &r), FG_OK);
    CHECK(!taken);
    store_meta_rollback(d.m);
    CHECK_INT(store_file_get(d.m, gid, &f, &r), FG_OK);
    CHECK(f.buyer_downloads == 0);
    db_close(&d);
}

DB_TEST("six handles racing 30 times for 4 downloads allowed take exactly 4")
{
    struct db d;
    fg_reason r = {""};
    char fid[STORE_FILE_ID_MAX];
    store_file f;
    db_open(&d);
    mk_file(d.m, "ord-1", fid);
    CHECK_INT(store_order_set_max_downloads(d.m, "ord-1", 4, &r), FG_OK);
    CHECK_INT(run_race(&d, "download", fid), 4);
    CHECK_INT(store_file_get(d.m, fid, &f, &r), FG_OK);
    CHECK(f.buyer_downloads == 4);
    db_close(&d);
}

DB_TEST("a database opened at the latest step has the links table and orders.max_downloads")
{
    struct db d;
    fg_reason r = {""};
    int v = 0;
    db_open(&d);
    CHECK_INT(store_meta_schema_version(d.m, &v, &r), FG_OK);
    CHECK(v >= 1);
    char fid[STORE_FILE_ID_MAX];
    int64_t lim = -1;
    mk_file(d.m, "ord-1", fid);
    CHECK_INT(store_order_set_max_downloads(d.m, "ord-1", 7, &r), FG_OK);
    CHECK_INT(store_order_max_downloads(d.m, "ord-1", &lim, &r), FG_OK);
    CHECK(lim == 7);
    db_close(&d);
}
