/* tus uploads in the application layer (orders/uploads.c) on a real
 * SQLite file and a local blob store: a file sent in several chunks and
 * then taken for a delivery hashes to what it is, whatever the cut; a
 * chunk at the wrong offset, too long or with the wrong checksum changes
 * nothing; bytes a crash left past the recorded offset are cut before the
 * next chunk; and an upload is delivered once. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include "common/commit.h"
#include "common/hex.h"
#include "orders/uploads.h"
#include "storage/blob.h"
#include "storage/uploads.h"

#define CONTENT "0123456789"

struct env {
    struct db d;
    store_blob *b;
    store_upload u;
    int64_t now;
};

/* A store, a blob store and a new upload of CONTENT's length. */
static void env_open(struct env *e)
{
    fg_reason r = {""};
    memset(e, 0, sizeof *e);
    db_open(&e->d);
    CHECK_INT(store_blob_open_fs(e->d.dir, &e->b, &r), FG_OK);
    e->now = (int64_t)time(NULL);
    snprintf(e->u.order_id, sizeof e->u.order_id, "ord-1");
    snprintf(e->u.seller_id, sizeof e->u.seller_id, "s-1");
    snprintf(e->u.name, sizeof e->u.name, "photo.jpg");
    e->u.length = (int64_t)strlen(CONTENT);
    e->u.expires_at = e->now + 3600;
    if (orders_upload_create(e->d.m, e->b, &e->u, &r) != FG_OK)
        TAP_FAIL("create: %s", r.text);
}

static void env_close(struct env *e)
{
    store_blob_free(e->b);
    db_close(&e->d);
}

/* A chunk as nginx hands it over: a file holding its bytes, opened. */
static int chunk(struct env *e, const char *bytes)
{
    static int seq;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/chunk-%d", e->d.dir, seq++);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, bytes, strlen(bytes)) == (ssize_t)strlen(bytes));
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    return fd;
}

/* Sends bytes at offset with the row as it is now; *res gets the outcome. */
static fg_result send_at(struct env *e, int64_t offset, const char *bytes,
                         const unsigned char *want, orders_upload_outcome *res, fg_reason *r)
{
    store_upload u;
    CHECK_INT(store_upload_get(e->d.m, e->u.id, &u, r), FG_OK);
    int fd = chunk(e, bytes);
    fg_result rc = orders_upload_append(e->d.m, e->b, &u, offset, fd, (int64_t)strlen(bytes),
                                        want, e->now + 7200, res, r);
    close(fd);
    return rc;
}

static int64_t row_offset(struct env *e)
{
    store_upload u;
    fg_reason r = {""};
    CHECK_INT(store_upload_get(e->d.m, e->u.id, &u, &r), FG_OK);
    return u.offset;
}

/* The local backend's data file of the upload (storage/blob.h). */
static bool data_path(struct env *e, char *out, size_t cap)
{
    return (size_t)snprintf(out, cap, "%s/tmp/tus-%s", e->d.dir, e->u.id) < cap;
}

static long long data_size(struct env *e)
{
    char path[PATH_MAX];
    struct stat st;
    CHECK(data_path(e, path, sizeof path));
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void sha256_of(const char *s, unsigned char out[32])
{
    fg_sha256 h;
    fg_sha256_init(&h);
    fg_sha256_update(&h, s, strlen(s));
    fg_sha256_peek(&h, out);
}

TEST("a file sent in three chunks, one with its checksum, is taken whole with its hashes")
{
    struct env e;
    orders_upload_outcome res;
    orders_upload_taken t;
    unsigned char want[32], salt[FG_SALT_BYTES];
    char hex[65], commitment[FG_HEX32_MAX], back[32] = "";
    long long total = 0;
    fg_reason r = {""};
    env_open(&e);
    CHECK(data_size(&e) == 0 && row_offset(&e) == 0);
    CHECK_INT(send_at(&e, 0, "0123", NULL, &res, &r), FG_OK);
    CHECK(res.offset == 4 && row_offset(&e) == 4 && data_size(&e) == 4);
    sha256_of("456", want);
    CHECK_INT(send_at(&e, 4, "456", want, &res, &r), FG_OK);
    CHECK(res.offset == 7 && row_offset(&e) == 7);
    /* Not complete yet: no delivery takes it. */
    CHECK_INT(orders_upload_take(e.d.m, e.b, e.u.id, "s-1", "ord-1", e.now, 1000, &total, &t, &r),
              FG_ESTATE);
    CHECK_INT(send_at(&e, 7, "789", NULL, &res, &r), FG_OK);
    CHECK(res.offset == 10 && row_offset(&e) == 10 && data_size(&e) == 10);

    total = 0;
    CHECK_INT(orders_upload_take(e.d.m, e.b, e.u.id, "s-1", "ord-1", e.now, 1000, &total, &t, &r),
              FG_OK);
    CHECK(total == 10);
    CHECK_STR(t.name, "photo.jpg");
    sha256_of(CONTENT, want);
    fg_hex_encode(want, 32, hex);
    CHECK_STR(t.sha256, hex);
    CHECK(fg_hex_decode(t.salt, salt, sizeof salt));
    CHECK_INT(fg_commit_buffer(salt, CONTENT, strlen(CONTENT), commitment, &r), FG_OK);
    CHECK_STR(t.commitment, commitment);
    int fd = open(t.link, O_RDONLY);
    CHECK(fd >= 0 && read(fd, back, sizeof back - 1) == 10);
    close(fd);
    CHECK_STR(back, CONTENT);
    CHECK(unlink(t.link) == 0);
    env_close(&e);
}

TEST("a chunk at the wrong offset, too long or with the wrong checksum changes nothing")
{
    struct env e;
    orders_upload_outcome res;
    unsigned char want[32];
    fg_reason r = {""};
    env_open(&e);
    CHECK_INT(send_at(&e, 0, "0123", NULL, &res, &r), FG_OK);
    /* A client that thinks its last chunk was lost, or one that skips. */
    CHECK_INT(send_at(&e, 0, "0123", NULL, &res, &r), FG_ESTATE);
    CHECK_INT(res.why, ORDERS_UPLOAD_WHY_OFFSET);
    CHECK(res.offset == 4);
    CHECK_INT(send_at(&e, 6, "67", NULL, &res, &r), FG_ESTATE);
    CHECK_INT(res.why, ORDERS_UPLOAD_WHY_OFFSET);
    CHECK(row_offset(&e) == 4 && data_size(&e) == 4);
    /* Past the announced length. */
    CHECK_INT(send_at(&e, 4, "4567890", NULL, &res, &r), FG_ELIMIT);
    CHECK_INT(res.why, ORDERS_UPLOAD_WHY_TOO_LONG);
    CHECK(row_offset(&e) == 4 && data_size(&e) == 4);
    /* Bytes damaged on the way: written, then cut back, never recorded. */
    sha256_of("456", want);
    CHECK_INT(send_at(&e, 4, "4X6", want, &res, &r), FG_ECORRUPT);
    CHECK_INT(res.why, ORDERS_UPLOAD_WHY_CHECKSUM);
    CHECK(!res.uncut && row_offset(&e) == 4 && data_size(&e) == 4);
    CHECK_INT(send_at(&e, 4, "456789", NULL, &res, &r), FG_OK);
    CHECK(row_offset(&e) == 10);
    env_close(&e);
}

TEST("bytes a crash left past the recorded offset are cut before the next chunk")
{
    struct env e;
    orders_upload_outcome res;
    orders_upload_taken t;
    unsigned char want[32];
    char hex[65], path[PATH_MAX];
    long long total = 0;
    fg_reason r = {""};
    env_open(&e);
    CHECK_INT(send_at(&e, 0, "0123", NULL, &res, &r), FG_OK);
    /* A worker died after writing its chunk, before its update. */
    CHECK(data_path(&e, path, sizeof path));
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "JUNKJU", 6) == 6);
    close(fd);
    CHECK(data_size(&e) == 10 && row_offset(&e) == 4);
    /* Full length on disk, but not the upload: no delivery takes it. */
    total = 0;
    CHECK_INT(orders_upload_take(e.d.m, e.b, e.u.id, "s-1", "ord-1", e.now, 1000, &total, &t, &r),
              FG_ESTATE);
    CHECK_INT(send_at(&e, 4, "456789", NULL, &res, &r), FG_OK);
    CHECK(data_size(&e) == 10 && row_offset(&e) == 10);
    total = 0;
    CHECK_INT(orders_upload_take(e.d.m, e.b, e.u.id, "s-1", "ord-1", e.now, 1000, &total, &t, &r),
              FG_OK);
    sha256_of(CONTENT, want);
    fg_hex_encode(want, 32, hex);
    CHECK_STR(t.sha256, hex); /* the junk is in neither the file nor the hash */
    unlink(t.link);
    env_close(&e);
}

TEST("a data file shorter than the recorded offset is refused as damaged")
{
    struct env e;
    orders_upload_outcome res;
    char path[PATH_MAX];
    fg_reason r = {""};
    env_open(&e);
    CHECK_INT(send_at(&e, 0, "0123", NULL, &res, &r), FG_OK);
    CHECK(data_path(&e, path, sizeof path));
    CHECK(truncate(path, 2) == 0);
    CHECK_INT(send_at(&e, 4, "456", NULL, &res, &r), FG_ECORRUPT);
    CHECK_INT(res.why, ORDERS_UPLOAD_WHY_DAMAGED);
    CHECK(row_offset(&e) == 4 && data_size(&e) == 2);
    env_close(&e);
}

TEST("only the upload's seller and order take it, within the delivery's limit, once")
{
    struct env e;
    orders_upload_outcome res;
    orders_upload_taken t;
    long long total = 0;
    fg_reason r = {""};
    env_open(&e);
    CHECK_INT(send_at(&e, 0, CONTENT, NULL, &res, &r), FG_OK);
    CHECK_INT(orders_upload_take(e.d.m, e.b, e.u.id, "s-2", "ord-1", e.now, 1000, &total, &t, &r),
              FG_ENOTFOUND);
    CHECK_INT(orders_upload_take(e.d.m, e.b, e.u.id, "s-1", "ord-2", e.now, 1000, &total, &t, &r),
              FG_ENOTFOUND);
    total = 0;
    CHECK_INT(orders_upload_take(e.d.m, e.b, e.u.id, "s-1", "ord-1", e.now, 9, &total, &t, &r),
              FG_ELIMIT);
    total = 0;
    CHECK_INT(orders_upload_take(e.d.m, e.b, e.u.id, "s-1", "ord-1", e.now + 7200, 1000, &total,
                                 &t, &r),
              FG_EGONE);
    total = 0;
    CHECK_INT(orders_upload_take(e.d.m, e.b, e.u.id, "s-1", "ord-1", e.now, 1000, &total, &t, &r),
              FG_OK);
    unlink(t.link);
    /* The delivery's transaction removes the row; a racing second one
     * finds it gone and rolls back. */
    const char(*ids)[STORE_FILE_ID_MAX] = (const char(*)[STORE_FILE_ID_MAX])e.u.id;
    CHECK_INT(orders_upload_consume(e.d.m, ids, 1, &r), FG_OK);
    CHECK_INT(orders_upload_consume(e.d.m, ids, 1, &r), FG_ESTATE);
    CHECK(data_size(&e) == 10);
    orders_upload_discard(e.b, ids, 1);
    CHECK(data_size(&e) == -1);
    CHECK_INT(orders_upload_take(e.d.m, e.b, e.u.id, "s-1", "ord-1", e.now, 1000, &total, &t, &r),
              FG_ENOTFOUND);
    env_close(&e);
}

TEST("a chunk sent again with the row read before the first one landed is refused, not written over it")
{
    struct env e;
    fg_reason r = {""};
    orders_upload_outcome res;
    store_upload stale, now;
    env_open(&e);
    /* Both requests read the row at offset 0; the first one lands. */
    CHECK_INT(store_upload_get(e.d.m, e.u.id, &stale, &r), FG_OK);
    int fd = chunk(&e, "0123");
    CHECK_INT(orders_upload_append(e.d.m, e.b, &stale, 0, fd, 4, NULL, e.now + 7200, &res, &r),
              FG_OK);
    close(fd);
    fd = chunk(&e, "0123");
    CHECK_INT(orders_upload_append(e.d.m, e.b, &stale, 0, fd, 4, NULL, e.now + 7200, &res, &r),
              FG_ESTATE);
    close(fd);
    CHECK_INT(res.why, ORDERS_UPLOAD_WHY_OFFSET);
    CHECK_INT(res.offset, 4);
    /* The first chunk is intact: the upload goes on from 4. */
    CHECK_INT(store_upload_get(e.d.m, e.u.id, &now, &r), FG_OK);
    CHECK_INT(now.offset, 4);
    CHECK_INT(send_at(&e, 4, "456789", NULL, &res, &r), FG_OK);
    CHECK_INT(res.offset, 10);
    char path[PATH_MAX];
    struct stat st;
    CHECK(data_path(&e, path, sizeof path));
    CHECK(stat(path, &st) == 0 && st.st_size == 10);
    env_close(&e);
}
