/* Blob reference counting (the schema's triggers, the migration that
 * counts existing rows) and the collector, on a real store (SQLite, and
 * PostgreSQL when tests/run.sh gives a server: DB_TEST) and a real local
 * blob store in a temp directory. The SQLite migration's test is
 * SQLite's alone. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include "storage/blob.h"
#include "storage/blob_refs.h"
#include "storage/meta.h"
#include "storage/purge.h"
#include "storage/schema_sqlite.h"

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

/* A store and a blob store in one data directory. */
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

static int64_t refs_of(store_meta *m, const char *hex, bool *known)
{
    fg_reason r;
    int64_t n = -1;
    bool k = false;
    if (store_blob_ref_count(m, hex, &n, &k, &r))
        TAP_FAIL("count %s: %s", hex, r.text);
    if (known)
        *known = k;
    return n;
}

/* An order with one delivery. */
static void mk_delivery(store_meta *m)
{
    fg_reason r;
    bool created;
    int n;
    if (store_order_create(m, "ord-1", "s-1", "b-1", NULL, NULL, NULL, &created, &r) ||
        store_delivery_create(m, "ord-1", NULL, NULL, &n, &r))
        TAP_FAIL("setup: %s", r.text);
}

static void add_file(store_meta *m, const char *sha, char id[STORE_FILE_ID_MAX])
{
    fg_reason r;
    store_file f;
    memset(&f, 0, sizeof f);
    snprintf(f.order_id, sizeof f.order_id, "ord-1");
    f.delivery = 1;
    snprintf(f.name, sizeof f.name, "a.png");
    f.size = 10;
    snprintf(f.sha256, sizeof f.sha256, "%s", sha);
    snprintf(f.mime, sizeof f.mime, "image/png");
    snprintf(f.kind, sizeof f.kind, "image");
    snprintf(f.preview, sizeof f.preview, "processing");
    if (store_file_add(m, &f, id, &r))
        TAP_FAIL("add file: %s", r.text);
}

static void set_preview(store_meta *m, const char *id, const char *sha)
{
    fg_reason r;
    if (store_file_set_preview(m, id, "ready", NULL, sha, "image/jpeg", &r))
        TAP_FAIL("set preview: %s", r.text);
}

/* Stores bytes as a blob, registered first as the upload path does. */
static void put_blob(struct both *s, const char *text, char hex[STORE_HEX_MAX])
{
    fg_reason r;
    char path[400];
    snprintf(path, sizeof path, "%s/tmp/in", s->d.dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
    if (store_blob_hash_file(path, hex, NULL, &r) || store_blob_ref_touch(s->d.m, hex, &r) ||
        store_blob_put_file(s->b, path, hex, NULL, NULL, &r))
        TAP_FAIL("put: %s", r.text);
}

static bool blob_there(struct both *s, const char *hex)
{
    fg_reason r;
    bool exists = false;
    int64_t size;
    CHECK_INT(store_blob_stat(s->b, hex, &exists, &size, &r), FG_OK);
    return exists;
}

static fg_result gc(struct both *s, int64_t now, int64_t grace, bool sweep,
                    store_blob_gc_stats *st)
{
    fg_reason r = {""};
    store_blob_gc_opts o = {.now = now, .grace = grace, .sweep = sweep};
    fg_result rc = store_blob_gc(s->d.m, s->b, &o, st, &r);
    if (rc)
        fprintf(stderr, "  gc: %s\n", r.text);
    return rc;
}

/* ---- counting ---- */

DB_TEST("a file row counts one reference to its original and one to its preview")
{
    struct db d;
    char id1[STORE_FILE_ID_MAX], id2[STORE_FILE_ID_MAX];
    bool known = true;
    db_open(&d);
    mk_delivery(d.m);
    CHECK_INT(refs_of(d.m, A, &known), 0);
    CHECK(!known);
    add_file(d.m, A, id1);
    CHECK_INT(refs_of(d.m, A, &known), 1);
    CHECK(known);
    add_file(d.m, A, id2);
    CHECK_INT(refs_of(d.m, A, NULL), 2);
    set_preview(d.m, id1, B);
    CHECK_INT(refs_of(d.m, B, NULL), 1);
    set_preview(d.m, id2, B);
    CHECK_INT(refs_of(d.m, B, NULL), 2);
    CHECK_INT(refs_of(d.m, A, NULL), 2);
    db_close(&d);
}

DB_TEST("a new preview moves the reference from the old preview's blob")
{
    struct db d;
    char id[STORE_FILE_ID_MAX];
    db_open(&d);
    mk_delivery(d.m);
    add_file(d.m, A, id);
    set_preview(d.m, id, B);
    set_preview(d.m, id, C);
    CHECK_INT(refs_of(d.m, B, NULL), 0);
    CHECK_INT(refs_of(d.m, C, NULL), 1);
    CHECK_INT(refs_of(d.m, A, NULL), 1);
    db_close(&d);
}

DB_TEST("a poster counts one reference, moves with a new poster and is given back when cleared")
{
    struct db d;
    fg_reason r;
    char id1[STORE_FILE_ID_MAX], id2[STORE_FILE_ID_MAX];
    db_open(&d);
    mk_delivery(d.m);
    add_file(d.m, A, id1);
    add_file(d.m, A, id2);
    set_preview(d.m, id1, B);
    CHECK_INT(store_file_set_poster(d.m, id1, C, "image/jpeg", &r), FG_OK);
    CHECK_INT(store_file_set_poster(d.m, id2, C, "image/jpeg", &r), FG_OK);
    CHECK_INT(refs_of(d.m, C, NULL), 2);
    CHECK_INT(refs_of(d.m, B, NULL), 1);
    /* Poster and preview may be one blob: two references. */
    CHECK_INT(store_file_set_poster(d.m, id2, B, "image/jpeg", &r), FG_OK);
    CHECK_INT(refs_of(d.m, C, NULL), 1);
    CHECK_INT(refs_of(d.m, B, NULL), 2);
    CHECK_INT(store_file_set_poster(d.m, id1, NULL, NULL, &r), FG_OK);
    CHECK_INT(refs_of(d.m, C, NULL), 0);
    CHECK_INT(refs_of(d.m, A, NULL), 2);
    db_close(&d);
}

DB_TEST("removing or purging a file row gives back its poster's reference")
{
    struct db d;
    fg_reason r;
    char id1[STORE_FILE_ID_MAX], id2[STORE_FILE_ID_MAX], sql[200];
    int64_t n = 0;
    db_open(&d);
    mk_delivery(d.m);
    add_file(d.m, A, id1);
    add_file(d.m, A, id2);
    CHECK_INT(store_file_set_poster(d.m, id1, B, "image/jpeg", &r), FG_OK);
    CHECK_INT(store_file_set_poster(d.m, id2, C, "image/jpeg", &r), FG_OK);
    snprintf(sql, sizeof sql, "DELETE FROM files WHERE id = '%s'", id1);
    db_exec(&d, sql);
    CHECK_INT(refs_of(d.m, B, NULL), 0);
    CHECK_INT(refs_of(d.m, C, NULL), 1);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_purge_files(d.m, "ord-1", NULL, &n, &r), FG_OK);
    CHECK_INT(store_meta_commit(d.m, &r), FG_OK);
    CHECK_INT(n, 2 - 1);
    CHECK_INT(refs_of(d.m, C, NULL), 0);
    CHECK_INT(refs_of(d.m, A, NULL), 0);
    db_close(&d);
}

DB_TEST("removing a file row removes its references, in the same statement")
{
    struct db d;
    char id1[STORE_FILE_ID_MAX], id2[STORE_FILE_ID_MAX], sql[200];
    db_open(&d);
    mk_delivery(d.m);
    add_file(d.m, A, id1);
    add_file(d.m, A, id2);
    set_preview(d.m, id1, B);
    snprintf(sql, sizeof sql, "DELETE FROM files WHERE id = '%s'", id1);
    db_exec(&d, sql);
    CHECK_INT(refs_of(d.m, A, NULL), 1);
    CHECK_INT(refs_of(d.m, B, NULL), 0);
    snprintf(sql, sizeof sql, "DELETE FROM files WHERE id = '%s'", id2);
    db_exec(&d, sql);
    CHECK_INT(refs_of(d.m, A, NULL), 0);
    db_close(&d);
}

DB_TEST("a file row rolled back leaves no reference behind")
{
    struct db d;
    fg_reason r;
    char id[STORE_FILE_ID_MAX];
    bool known = true;
    db_open(&d);
    mk_delivery(d.m);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    add_file(d.m, C, id);
    CHECK_INT(refs_of(d.m, C, NULL), 1);
    store_meta_rollback(d.m);
    CHECK_INT(refs_of(d.m, C, &known), 0);
    CHECK(!known);
    db_close(&d);
}

DB_TEST("registering a blob gives it count 0 and never lowers a count")
{
    struct db d;
    fg_reason r;
    char id[STORE_FILE_ID_MAX];
    bool known = false;
    db_open(&d);
    mk_delivery(d.m);
    CHECK_INT(store_blob_ref_touch(d.m, B, &r), FG_OK);
    CHECK_INT(refs_of(d.m, B, &known), 0);
    CHECK(known);
    add_file(d.m, A, id);
    CHECK_INT(store_blob_ref_touch(d.m, A, &r), FG_OK);
    CHECK_INT(refs_of(d.m, A, NULL), 1);
    CHECK_INT(store_blob_ref_touch(d.m, "not-hex", &r), FG_EUSAGE);
    db_close(&d);
}

TEST("the migration counts the file rows that exist before it")
{
    char dir[256], path[300];
    fg_reason r = {""};
    sqlite3 *raw = NULL;
    store_meta *m = NULL;
    int step = store_sqlite_schema_step_of("CREATE TABLE blob_refs");
    CHECK(step > 0);
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(path, sizeof path, "%s/meta.db", dir);
    CHECK(sqlite3_open(path, &raw) == SQLITE_OK);
    if (store_sqlite_migrate_to(raw, step - 1, &r))
        TAP_FAIL("migrate: %s", r.text);
    /* Two files share an original; one has a preview; one preview blob is
     * also another file's original. */
    CHECK(sqlite3_exec(raw,
                       "INSERT INTO orders(id, seller_id, buyer_id, created_at)"
                       " VALUES ('o','s','b','2026-11-22T10:00:00.000Z');"
                       "INSERT INTO deliveries(order_id, number, created_at)"
                       " VALUES ('o',1,'2026-11-22T10:00:00.000Z');"
                       "INSERT INTO files(id, order_id, delivery, name, size, sha256, mime,"
                       " kind, preview, preview_sha256, created_at) VALUES"
                       " ('f1','o',1,'a',1,'" A "','x','image','ready','" B "','t'),"
                       " ('f2','o',1,'b',1,'" A "','x','image','processing','','t'),"
                       " ('f3','o',1,'c',1,'" B "','x','image','processing','','t');",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(raw);
    if (store_meta_open_sqlite(path, &m, &r))
        TAP_FAIL("open: %s", r.text);
    CHECK_INT(refs_of(m, A, NULL), 2);
    CHECK_INT(refs_of(m, B, NULL), 2);
    bool known = true;
    CHECK_INT(refs_of(m, C, &known), 0);
    CHECK(!known);
    store_meta_free(m);
    tmp_dir_remove(dir);
}

/* ---- the collector ---- */

DB_TEST("the collector never removes a referenced blob, however old")
{
    struct both s;
    store_blob_gc_stats st;
    char hex[STORE_HEX_MAX], prev[STORE_HEX_MAX], id[STORE_FILE_ID_MAX];
    both_open(&s);
    mk_delivery(s.d.m);
    put_blob(&s, "an original", hex);
    put_blob(&s, "its preview", prev);
    add_file(s.d.m, hex, id);
    set_preview(s.d.m, id, prev);
    CHECK_INT(gc(&s, time(NULL) + 365 * 86400, 1, true, &st), FG_OK);
    CHECK_INT(st.removed, 0);
    CHECK(blob_there(&s, hex));
    CHECK(blob_there(&s, prev));
    both_close(&s);
}

DB_TEST("the collector removes an unreferenced blob older than the grace period")
{
    struct both s;
    store_blob_gc_stats st;
    char hex[STORE_HEX_MAX];
    bool known = true;
    both_open(&s);
    put_blob(&s, "a rejected upload", hex);
    CHECK(blob_there(&s, hex));
    CHECK_INT(gc(&s, time(NULL) + 7200, 3600, false, &st), FG_OK);
    CHECK_INT(st.removed, 1);
    CHECK_INT(st.bytes, 17);
    CHECK(!blob_there(&s, hex));
    CHECK_INT(refs_of(s.d.m, hex, &known), 0);
    CHECK(!known);
    both_close(&s);
}

DB_TEST("the collector keeps an unreferenced blob younger than the grace period")
{
    struct both s;
    store_blob_gc_stats st;
    char hex[STORE_HEX_MAX];
    bool known = false;
    both_open(&s);
    put_blob(&s, "an upload still being recorded", hex);
    CHECK_INT(gc(&s, time(NULL), 3600, true, &st), FG_OK);
    CHECK_INT(st.removed, 0);
    CHECK(blob_there(&s, hex));
    CHECK_INT(refs_of(s.d.m, hex, &known), 0);
    CHECK(known);
    both_close(&s);
}

DB_TEST("a blob whose last file row went is removed only after a new grace period")
{
    struct both s;
    store_blob_gc_stats st;
    char hex[STORE_HEX_MAX], id[STORE_FILE_ID_MAX], sql[200];
    both_open(&s);
    mk_delivery(s.d.m);
    put_blob(&s, "purged later", hex);
    add_file(s.d.m, hex, id);
    /* Registered long ago as far as the collector can tell... */
    db_exec(&s.d, "UPDATE blob_refs SET seen_at = 0");
    snprintf(sql, sizeof sql, "DELETE FROM files WHERE id = '%s'", id);
    db_exec(&s.d, sql);
    /* ...but unreferenced just now: kept for the grace period. */
    CHECK_INT(gc(&s, time(NULL), 3600, false, &st), FG_OK);
    CHECK_INT(st.removed, 0);
    CHECK(blob_there(&s, hex));
    CHECK_INT(gc(&s, time(NULL) + 3601, 3600, false, &st), FG_OK);
    CHECK_INT(st.removed, 1);
    CHECK(!blob_there(&s, hex));
    both_close(&s);
}

DB_TEST("the sweep removes an old stored blob that has no count, and only with sweep")
{
    struct both s;
    store_blob_gc_stats st;
    char hex[STORE_HEX_MAX], kept[STORE_HEX_MAX], id[STORE_FILE_ID_MAX];
    both_open(&s);
    mk_delivery(s.d.m);
    put_blob(&s, "stored before counting existed", hex);
    put_blob(&s, "referenced", kept);
    add_file(s.d.m, kept, id);
    db_exec(&s.d, "DELETE FROM blob_refs WHERE refs = 0");
    CHECK_INT(gc(&s, time(NULL) + 7200, 3600, false, &st), FG_OK);
    CHECK_INT(st.removed, 0);
    CHECK(blob_there(&s, hex));
    /* Young on disk: kept even by the sweep. */
    CHECK_INT(gc(&s, time(NULL), 3600, true, &st), FG_OK);
    CHECK_INT(st.removed, 0);
    CHECK_INT(gc(&s, time(NULL) + 7200, 3600, true, &st), FG_OK);
    CHECK_INT(st.removed, 1);
    CHECK(!blob_there(&s, hex));
    CHECK(blob_there(&s, kept));
    both_close(&s);
}

DB_TEST("a blob registered again is kept for another grace period")
{
    struct both s;
    store_blob_gc_stats st;
    fg_reason r;
    char hex[STORE_HEX_MAX];
    both_open(&s);
    put_blob(&s, "uploaded twice", hex);
    db_exec(&s.d, "UPDATE blob_refs SET seen_at = 0");
    /* A second upload of the same bytes registers it before storing. */
    CHECK_INT(store_blob_ref_touch(s.d.m, hex, &r), FG_OK);
    CHECK_INT(gc(&s, time(NULL), 3600, true, &st), FG_OK);
    CHECK_INT(st.removed, 0);
    CHECK(blob_there(&s, hex));
    both_close(&s);
}

DB_TEST("the collector refuses to run inside a transaction or with a negative grace")
{
    struct both s;
    store_blob_gc_stats st;
    fg_reason r;
    both_open(&s);
    CHECK_INT(gc(&s, time(NULL), -1, false, &st), FG_EUSAGE);
    CHECK_INT(store_meta_begin(s.d.m, &r), FG_OK);
    CHECK_INT(gc(&s, time(NULL), 1, false, &st), FG_EUSAGE);
    store_meta_rollback(s.d.m);
    both_close(&s);
}
