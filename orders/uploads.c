#include "orders/uploads.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/commit.h"
#include "common/hex.h"
#include "common/limits.h"
#include "common/sha256_state.h"

/* Removes upload id's bytes. What cannot be removed now is left to the
 * sweep of orphans (bytes without a row), so a failure here is nobody's
 * to handle. */
static void drop_bytes(store_blob *b, const char *id)
{
    fg_reason ignored = {{0}};
    if (store_blob_parts_remove(b, id, &ignored) != FG_OK)
        return;
}

fg_result orders_upload_create(store_meta *m, store_blob *b, store_upload *u,
                               fg_reason *r)
{
    fg_sha256 sha, com;
    unsigned char salt[FG_SALT_BYTES];
    fg_result rc;
    /* The commitment's salt is drawn now and fed first: the content then
     * feeds both hashes alike, chunk after chunk. */
    if ((rc = fg_salt_new(salt, r)) != FG_OK || (rc = store_file_id_new(u->id, r)) != FG_OK)
        return rc;
    fg_sha256_init(&sha);
    fg_sha256_init(&com);
    fg_sha256_update(&com, salt, sizeof salt);
    fg_sha256_save(&sha, u->sha_state);
    fg_sha256_save(&com, u->commit_state);
    fg_hex_encode(salt, sizeof salt, u->salt);
    OPENSSL_cleanse(salt, sizeof salt);
    u->offset = 0;

    /* The bytes' place first: a row always has its bytes. */
    if ((rc = store_blob_parts_create(b, u->id, r)) != FG_OK)
        return rc;
    if ((rc = store_upload_insert(m, u, r)) != FG_OK)
        drop_bytes(b, u->id);
    return rc;
}

/* Appends body (its next n bytes) to the upload's chunk, feeding both
 * hashes and the chunk's own. */
static fg_result append(int body, store_blob_part *part, int64_t n, fg_sha256 *sha,
                        fg_sha256 *com, fg_sha256 *chunk, fg_reason *r)
{
    unsigned char *buf = malloc(FG_TUS_BUFFER_BYTES);
    fg_result rc = FG_OK;
    int64_t done = 0;
    if (!buf)
        return fg_fail(r, FG_EIO, "out of memory");
    while (done < n) {
        ssize_t got = read(body, buf, FG_TUS_BUFFER_BYTES);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = fg_fail(r, FG_EIO, "cannot read the chunk");
            goto out;
        }
        if (got > n - done)
            got = (ssize_t)(n - done); /* the file grew: only what fstat saw */
        fg_sha256_update(sha, buf, (size_t)got);
        fg_sha256_update(com, buf, (size_t)got);
        fg_sha256_update(chunk, buf, (size_t)got);
        if ((rc = store_blob_part_write(part, buf, (size_t)got, r)) != FG_OK)
            goto out;
        done += got;
    }
    /* Stored before the offset says so: a power cut must not leave a
     * recorded offset past the bytes kept. */
    rc = store_blob_part_flush(part, r);
out:
    free(buf);
    return rc;
}

fg_result orders_upload_append(store_meta *m, store_blob *b, const store_upload *given,
                               int64_t offset, int body, int64_t n, const unsigned char *want,
                               int64_t expires_at, orders_upload_outcome *res, fg_reason *r)
{
    store_upload cur;
    const store_upload *u = given;
    fg_sha256 sha, com, chunk;
    unsigned char got[32];
    char sha_state[FG_SHA256_STATE_HEX_MAX], com_state[FG_SHA256_STATE_HEX_MAX];
    store_blob_part *part = NULL;
    bool busy = false, kept = false;
    fg_result rc;

    memset(res, 0, sizeof *res);
    res->offset = u->offset;
    if (offset != u->offset) {
        res->why = ORDERS_UPLOAD_WHY_OFFSET;
        return fg_fail(r, FG_ESTATE, "the chunk's offset is not the upload's offset");
    }
    /* One chunk at a time per upload: a second append racing this one
     * would write over the same offset. */
    if ((rc = store_blob_part_begin(b, u->id, &part, &busy, r)) != FG_OK) {
        if (busy)
            res->why = ORDERS_UPLOAD_WHY_BUSY;
        return rc;
    }
    /* The row as it is now that the upload is held: the caller read it
     * before, and a chunk that went through meanwhile (a client retrying
     * one it thought lost) moved the offset. Cutting back to the stale
     * offset would throw that chunk away under its recorded row. */
    if ((rc = store_upload_get(m, given->id, &cur, r)) != FG_OK)
        goto out;
    u = &cur;
    res->offset = u->offset;
    if (offset != u->offset) {
        res->why = ORDERS_UPLOAD_WHY_OFFSET;
        rc = fg_fail(r, FG_ESTATE, "the chunk's offset is not the upload's offset");
        goto out;
    }
    if ((rc = fg_sha256_load(&sha, u->sha_state, r)) != FG_OK ||
        (rc = fg_sha256_load(&com, u->commit_state, r)) != FG_OK)
        goto out;
    fg_sha256_init(&chunk);
    if (n < 0 || n > u->length - u->offset) {
        res->why = ORDERS_UPLOAD_WHY_TOO_LONG;
        rc = fg_fail(r, FG_ELIMIT, "the chunk is longer than the %lld bytes left",
                     (long long)(u->length - u->offset));
        goto out;
    }
    /* The recorded offset is the truth: bytes past it were written by a
     * request that died before its update committed, or were a chunk
     * refused for its checksum. The seek cuts them. */
    if ((rc = store_blob_part_seek(part, u->offset, r)) != FG_OK) {
        if (rc == FG_ECORRUPT)
            res->why = ORDERS_UPLOAD_WHY_DAMAGED;
        goto out;
    }
    if (n && (rc = append(body, part, n, &sha, &com, &chunk, r)) != FG_OK)
        goto out;
    if (want) {
        fg_sha256_peek(&chunk, got);
        if (CRYPTO_memcmp(got, want, 32) != 0) {
            res->why = ORDERS_UPLOAD_WHY_CHECKSUM;
            rc = fg_fail(r, FG_ECORRUPT,
                         "the chunk does not match its checksum; it was discarded");
            goto out;
        }
    }
    fg_sha256_save(&sha, sha_state);
    fg_sha256_save(&com, com_state);
    if ((rc = store_upload_advance(m, u->id, u->offset, u->offset + n, sha_state, com_state,
                                   expires_at, r)) != FG_OK) {
        if (rc == FG_ESTATE)
            res->why = ORDERS_UPLOAD_WHY_OFFSET;
        /* Not recorded: the bytes past the offset are cut by the end
         * below (or by the next append). */
        goto out;
    }
    kept = true;
    res->offset = u->offset + n;
out:
    /* A failed cut is repaired by the next append, which cuts first. */
    res->uncut = !store_blob_part_end(part, kept); /* releases the upload */
    return rc;
}

fg_result orders_upload_take(store_meta *m, store_blob *b, const char *id,
                             const char *seller_id, const char *order_id, int64_t now,
                             long long max_total, long long *total, orders_upload_taken *out,
                             fg_reason *r)
{
    store_upload t;
    fg_sha256 h;
    fg_result rc = store_upload_get(m, id, &t, r);
    memset(out, 0, sizeof *out);
    if (rc == FG_OK && (strcmp(t.seller_id, seller_id) != 0 || strcmp(t.order_id, order_id) != 0))
        rc = fg_fail(r, FG_ENOTFOUND, "no such upload: %s", id);
    else if (rc == FG_ENOTFOUND)
        rc = fg_fail(r, FG_ENOTFOUND, "no such upload: %s (delivered already, deleted or "
                                      "expired?)", id);
    if (rc != FG_OK)
        return rc;
    if (t.expires_at <= now)
        return fg_fail(r, FG_EGONE, "upload %s expired (FILIGRANE_UPLOAD_EXPIRY)", t.id);
    if (t.offset != t.length)
        return fg_fail(r, FG_ESTATE, "upload %s is not complete: %lld of %lld bytes", t.id,
                       (long long)t.offset, (long long)t.length);
    /* The limit of a multipart delivery's body, on its files here. */
    if ((*total += t.length) > max_total)
        return fg_fail(r, FG_ELIMIT, "the files add up to more than %lld bytes "
                       "(FILIGRANE_MAX_DELIVERY_BYTES)", max_total);
    if ((rc = fg_sha256_load(&h, t.sha_state, r)) != FG_OK)
        return rc;
    fg_sha256_peek_hex(&h, out->sha256);
    if ((rc = fg_sha256_load(&h, t.commit_state, r)) != FG_OK)
        return rc;
    fg_sha256_peek_hex(&h, out->commitment);
    snprintf(out->salt, sizeof out->salt, "%s", t.salt);
    snprintf(out->name, sizeof out->name, "%s", t.name);
    /* The bytes as one local file to store (local: a new link to the
     * data file, so the upload stays whole until the delivery is
     * recorded; S3: the chunks downloaded in order and checked against
     * the hash the row's states give). */
    if ((rc = store_blob_parts_assemble(b, t.id, t.length, out->sha256, out->link,
                                        sizeof out->link, r)) != FG_OK) {
        out->link[0] = '\0';
        return rc;
    }
    return FG_OK;
}

fg_result orders_upload_consume(store_meta *m, const char (*ids)[STORE_FILE_ID_MAX], size_t n,
                                fg_reason *r)
{
    fg_result rc = FG_OK;
    for (size_t i = 0; rc == FG_OK && i < n; i++) {
        bool removed = false;
        if ((rc = store_upload_delete(m, ids[i], &removed, r)) == FG_OK && !removed)
            rc = fg_fail(r, FG_ESTATE, "upload %s was delivered by another request", ids[i]);
    }
    return rc;
}

void orders_upload_discard(store_blob *b, const char (*ids)[STORE_FILE_ID_MAX], size_t n)
{
    for (size_t i = 0; i < n; i++)
        drop_bytes(b, ids[i]);
}

fg_result orders_upload_remove(store_meta *m, store_blob *b, const char *id, bool *removed,
                               fg_reason *r)
{
    fg_result rc = store_upload_delete(m, id, removed, r);
    if (rc == FG_OK)
        drop_bytes(b, id);
    return rc;
}

/* Bytes whose row is gone: a worker that died between a delivery's
 * commit (which removes the rows) and removing the bytes, or between
 * creating them and the row. Only bytes older than FG_TUS_ORPHAN_GRACE
 * seconds, so a creation under way is never taken for one. */
typedef struct orphan_walk {
    store_meta *m;
    int64_t now;
    char ids[256][STORE_FILE_ID_MAX]; /* at most this many a pass */
    size_t n;
} orphan_walk;

static bool orphan_seen(void *ctx, const char *id, int64_t mtime)
{
    orphan_walk *w = ctx;
    store_upload u;
    fg_reason r = {{0}};
    if (mtime > w->now - FG_TUS_ORPHAN_GRACE)
        return true;
    /* S3 reports an id once per chunk. */
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->ids[i], id) == 0)
            return true;
    if (store_upload_get(w->m, id, &u, &r) != FG_ENOTFOUND)
        return true;
    snprintf(w->ids[w->n++], STORE_FILE_ID_MAX, "%s", id);
    return w->n < sizeof w->ids / sizeof w->ids[0];
}

static int64_t sweep_orphans(store_meta *m, store_blob *b, int64_t now)
{
    orphan_walk *w = calloc(1, sizeof *w);
    fg_reason r = {{0}};
    int64_t count = 0;
    if (!w)
        return 0;
    w->m = m;
    w->now = now;
    /* A listing that fails halfway still removes what it found. */
    if (store_blob_parts_each(b, orphan_seen, w, &r) != FG_OK)
        r.text[0] = '\0';
    for (size_t i = 0; i < w->n; i++)
        if (store_blob_parts_remove(b, w->ids[i], &r) == FG_OK)
            count++;
    free(w);
    return count;
}

fg_result orders_upload_sweep(store_meta *m, store_blob *b, int64_t now, int64_t *removed,
                              fg_reason *r)
{
    char ids[256][STORE_FILE_ID_MAX];
    size_t n = 0;
    int64_t count = 0;
    fg_result rc = store_upload_expired(m, now, ids, 256, &n, r);
    for (size_t i = 0; rc == FG_OK && i < n; i++) {
        bool gone = false;
        if ((rc = orders_upload_remove(m, b, ids[i], &gone, r)) == FG_OK && gone)
            count++;
    }
    if (rc == FG_OK)
        count += sweep_orphans(m, b, now);
    if (removed)
        *removed = count;
    return rc;
}
