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

bool orders_upload_data_path(const store_blob *b, const char *id, char *out, size_t cap)
{
    const char *dir = store_blob_tmp_dir(b);
    if (!dir)
        return false;
    int n = snprintf(out, cap, "%s/" ORDERS_UPLOAD_DATA_PREFIX "%s", dir, id);
    return n > 0 && (size_t)n < cap;
}

fg_result orders_upload_create(store_meta *m, const store_blob *b, store_upload *u,
                               fg_reason *r)
{
    fg_sha256 sha, com;
    unsigned char salt[FG_SALT_BYTES];
    char path[PATH_MAX];
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

    /* The data file first: a row always has its file. */
    int fd = -1;
    if (!orders_upload_data_path(b, u->id, path, sizeof path) ||
        (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
        return fg_fail(r, FG_EIO, "cannot create the upload's file");
    close(fd);
    if ((rc = store_upload_insert(m, u, r)) != FG_OK)
        unlink(path);
    return rc;
}

/* Appends body (its next n bytes) to the data file at offset, feeding
 * both hashes and the chunk's own. */
static fg_result append(int body, int data, int64_t offset, int64_t n, fg_sha256 *sha,
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
        for (ssize_t w = 0; w < got;) {
            ssize_t k = pwrite(data, buf + w, (size_t)(got - w), offset + done + w);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                rc = fg_fail(r, FG_EIO, "cannot write the upload: disk full?");
                goto out;
            }
            w += k;
        }
        done += got;
    }
    /* On disk before the offset says so: a power cut must not leave a
     * recorded offset past the file's end. */
    if (fdatasync(data) != 0)
        rc = fg_fail(r, FG_EIO, "cannot write the upload: disk full?");
out:
    free(buf);
    return rc;
}

fg_result orders_upload_append(store_meta *m, const store_blob *b, const store_upload *given,
                               int64_t offset, int body, int64_t n, const unsigned char *want,
                               int64_t expires_at, orders_upload_outcome *res, fg_reason *r)
{
    store_upload cur;
    const store_upload *u = given;
    fg_sha256 sha, com, chunk;
    unsigned char got[32];
    char path[PATH_MAX], sha_state[FG_SHA256_STATE_HEX_MAX], com_state[FG_SHA256_STATE_HEX_MAX];
    struct stat st;
    int data = -1;
    bool cut = false; /* on failure, cut the data file back to the offset */
    fg_result rc;

    memset(res, 0, sizeof *res);
    res->offset = u->offset;
    if (offset != u->offset) {
        res->why = ORDERS_UPLOAD_WHY_OFFSET;
        return fg_fail(r, FG_ESTATE, "the chunk's offset is not the upload's offset");
    }
    if (!orders_upload_data_path(b, u->id, path, sizeof path) ||
        (data = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return fg_fail(r, FG_EIO, "the upload's file is missing");
    /* One chunk at a time per upload: a second append racing this one
     * would write over the same offset. */
    if (flock(data, LOCK_EX | LOCK_NB) != 0) {
        res->why = ORDERS_UPLOAD_WHY_BUSY;
        rc = fg_fail(r, FG_ESTATE, "another chunk of this upload is being written");
        goto out;
    }
    /* The row as it is now that the lock is ours: the caller read it
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
     * refused for its checksum. */
    if (fstat(data, &st) != 0 || st.st_size < u->offset ||
        (st.st_size > u->offset && ftruncate(data, u->offset) != 0)) {
        res->why = ORDERS_UPLOAD_WHY_DAMAGED;
        rc = fg_fail(r, FG_ECORRUPT,
                     "the upload's file is shorter than its offset; start it again");
        goto out;
    }
    cut = true;
    if (n && (rc = append(body, data, u->offset, n, &sha, &com, &chunk, r)) != FG_OK)
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
        /* Not recorded: the bytes past the offset are cut by the next
         * append (or now, while the lock is ours). */
        goto out;
    }
    res->offset = u->offset + n;
out:
    /* A failed cut is repaired by the next append, which cuts first. */
    if (rc != FG_OK && cut)
        res->uncut = ftruncate(data, u->offset) != 0;
    close(data); /* drops the lock */
    return rc;
}

fg_result orders_upload_take(store_meta *m, const store_blob *b, const char *id,
                             const char *seller_id, const char *order_id, int64_t now,
                             long long max_total, long long *total, orders_upload_taken *out,
                             fg_reason *r)
{
    store_upload t;
    fg_sha256 h;
    struct stat st;
    char data[PATH_MAX], tag[STORE_FILE_ID_MAX];
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
    /* The data file may hold more than the offset (a chunk that died
     * before its update): only a file of exactly the length is the
     * upload. */
    if (!orders_upload_data_path(b, t.id, data, sizeof data) || lstat(data, &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size != t.length)
        return fg_fail(r, FG_ECORRUPT, "upload %s is damaged; send it again", t.id);
    /* "upload-": a link left by a crash here is the startup cleaning's
     * (storage/tmp_clean.h). */
    if ((rc = store_file_id_new(tag, r)) != FG_OK)
        return rc;
    if (snprintf(out->link, sizeof out->link, "%s/upload-tus-%s", store_blob_tmp_dir(b), tag) >=
            (int)sizeof out->link ||
        link(data, out->link) != 0) {
        out->link[0] = '\0';
        return fg_fail(r, FG_EIO, "cannot store upload %s", t.id);
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

void orders_upload_discard(const store_blob *b, const char (*ids)[STORE_FILE_ID_MAX], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char data[PATH_MAX];
        if (orders_upload_data_path(b, ids[i], data, sizeof data))
            unlink(data);
    }
}

fg_result orders_upload_remove(store_meta *m, const store_blob *b, const char *id,
                               bool *removed, fg_reason *r)
{
    char path[PATH_MAX];
    fg_result rc = store_upload_delete(m, id, removed, r);
    if (rc == FG_OK && orders_upload_data_path(b, id, path, sizeof path))
        unlink(path);
    return rc;
}

/* Data files whose row is gone: a worker that died between a delivery's
 * commit (which removes the rows) and unlinking the files, or between
 * creating a file and its row. Only files older than FG_TUS_ORPHAN_GRACE
 * seconds, so a creation under way is never taken for one. */
static int64_t sweep_orphans(store_meta *m, const store_blob *b, int64_t now)
{
    const char *dir = store_blob_tmp_dir(b);
    const size_t plen = strlen(ORDERS_UPLOAD_DATA_PREFIX);
    int64_t count = 0;
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        store_upload u;
        struct stat st;
        fg_reason r = {{0}};
        const char *id = e->d_name + plen;
        if (strncmp(e->d_name, ORDERS_UPLOAD_DATA_PREFIX, plen) != 0 ||
            !store_file_id_valid(id) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            st.st_mtime > now - FG_TUS_ORPHAN_GRACE ||
            store_upload_get(m, id, &u, &r) != FG_ENOTFOUND)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            count++;
    }
    if (d)
        closedir(d);
    return count;
}

fg_result orders_upload_sweep(store_meta *m, const store_blob *b, int64_t now, int64_t *removed,
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
