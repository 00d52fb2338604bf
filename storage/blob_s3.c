/* The blob store in an S3 bucket (storage/blob.h says what; the client
 * is storage/s3.h).
 *
 * Keys: blobs at "sha256/<hex>", tus chunks at
 * "uploads/<id>/<offset, 20 digits>-<tag>" (store_blob_key, part_key).
 * Local files (copies on loan, chunks being received, assembled uploads)
 * live in the scratch directory under STORE_BLOB_SCRATCH_PREFIX, mode
 * 0600, so the worker's startup cleaning removes what a killed run left.
 *
 * A blob is written once: a HEAD first, and an object already there is
 * kept (content-addressed: same key, same bytes). S3's PUT is atomic, so
 * no half-written blob is ever visible to a HEAD or a GET. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/hex.h"
#include "storage/blob_impl.h"
#include "storage/s3.h"

/* Most chunks one upload may have: a 5 GB upload in 1 MiB PATCHes is
 * about 5000; far more means a client splitting bytes to exhaust us. */
#define CHUNKS_MAX 100000

typedef struct blob_s3 {
    store_blob base; /* first */
    s3_client *c;
    char *scratch;
    long presign_seconds;
} blob_s3;

static fg_result io_fail(fg_reason *r, const char *what, int e)
{
    return fg_fail(r, FG_EIO, "cannot %s: %s", what, strerrordesc_np(e));
}

/* A new empty file in the scratch directory: *fd open for writing, its
 * path in path. */
static fg_result scratch_file(const blob_s3 *b, int *fd, char *path, size_t cap,
                              fg_reason *r)
{
    if ((size_t)snprintf(path, cap, "%s/" STORE_BLOB_SCRATCH_PREFIX "XXXXXX", b->scratch) >=
        cap)
        return fg_fail(r, FG_ELIMIT, "local copy path does not fit the buffer");
    *fd = mkostemp(path, O_CLOEXEC);
    if (*fd < 0) {
        int e = errno;
        path[0] = '\0';
        return io_fail(r, "make a file in the scratch directory (FILIGRANE_SCRATCH)", e);
    }
    return FG_OK;
}

static fg_result s3b_check(store_blob *base, fg_reason *r)
{
    return s3_head_bucket(((blob_s3 *)base)->c, r);
}

static fg_result s3b_put_file(store_blob *base, const char *src, const char *sha256,
                              char hex[STORE_HEX_MAX], int64_t *size, fg_reason *r)
{
    blob_s3 *b = (blob_s3 *)base;
    char key[STORE_BLOB_KEY_MAX];
    struct stat st;
    bool exists = false;
    fg_result rc;

    if (lstat(src, &st) != 0)
        return io_fail(r, "read the file to store", errno);
    if (S_ISLNK(st.st_mode))
        return fg_fail(r, FG_EUSAGE, "file to store is a symlink");
    if (!S_ISREG(st.st_mode))
        return fg_fail(r, FG_EUSAGE, "file to store is not a regular file");
    if (sha256) {
        memcpy(hex, sha256, STORE_HEX_MAX);
        *size = (int64_t)st.st_size;
    } else if ((rc = store_blob_hash_file(src, hex, size, r)) != FG_OK) {
        return rc;
    }
    store_blob_key(hex, key);
    if ((rc = s3_head(b->c, key, &exists, NULL, r)) != FG_OK)
        return rc;
    /* The hash is signed as the body's (x-amz-content-sha256): S3 refuses
     * bytes that do not match it, so a wrong hash cannot name a blob. */
    if (!exists && (rc = s3_put_file(b->c, key, src, hex, r)) != FG_OK)
        return rc;
    unlink(src);
    return FG_OK;
}

static fg_result s3b_stat(store_blob *base, const char *hex, bool *exists, int64_t *size,
                          fg_reason *r)
{
    char key[STORE_BLOB_KEY_MAX];
    store_blob_key(hex, key);
    return s3_head(((blob_s3 *)base)->c, key, exists, size, r);
}

static fg_result s3b_download_target(store_blob *base, const char *hex,
                                     const char *disposition, char *out, size_t cap,
                                     fg_reason *r)
{
    blob_s3 *b = (blob_s3 *)base;
    char key[STORE_BLOB_KEY_MAX], *url = NULL;
    fg_result rc;

    /* Signed into the URL is the disposition's type alone ("attachment",
     * "inline"), as response-content-disposition: a URL that escapes
     * (logs, a proxy) then downloads rather than renders, and cannot be
     * changed to. Not the file names: nginx sends the worker's whole
     * Content-Disposition anyway and hides S3's, and the RFC 5987 form
     * the worker writes (filename*=UTF-8''...) holds quotes and brackets
     * that S3-compatible servers do not canonicalise alike (s3rver keeps
     * ' ( ) * ! where AWS encodes them %27...): signing them would break
     * downloads on some servers. */
    char type[32] = "";
    s3_param param = {"response-content-disposition", type};
    size_t tn = 0;
    while (disposition && tn + 1 < sizeof type &&
           ((disposition[tn] >= 'a' && disposition[tn] <= 'z') || disposition[tn] == '-'))
        tn++;
    if (disposition && tn && (disposition[tn] == '\0' || disposition[tn] == ';')) {
        memcpy(type, disposition, tn);
        type[tn] = '\0';
    }
    store_blob_key(hex, key);
    url = malloc(S3_URL_MAX);
    if (!url)
        return fg_fail(r, FG_EIO, "out of memory");
    rc = s3_presign_get(b->c, key, b->presign_seconds, time(NULL), &param, type[0] ? 1 : 0,
                        url, S3_URL_MAX, r);
    if (rc == FG_OK) {
        /* scheme://host/path?query -> /_s3/path?query: nginx proxies it to
         * the one endpoint it was configured with. */
        const char *p = strstr(url, "://");
        p = p ? strchr(p + 3, '/') : NULL;
        if (!p)
            rc = fg_fail(r, FG_EIO, "presigned url without a path");
        else if ((size_t)snprintf(out, cap, "/_s3%s", p) >= cap)
            rc = fg_fail(r, FG_ELIMIT, "download target does not fit the buffer");
    }
    if (rc != FG_OK && cap)
        out[0] = '\0';
    free(url);
    return rc;
}

static fg_result s3b_acquire_local(store_blob *base, const char *hex, char *path,
                                   size_t cap, fg_reason *r)
{
    blob_s3 *b = (blob_s3 *)base;
    char key[STORE_BLOB_KEY_MAX];
    int fd = -1;
    fg_result rc = scratch_file(b, &fd, path, cap, r);
    if (rc != FG_OK)
        return rc;
    store_blob_key(hex, key);
    rc = s3_get_fd(b->c, key, fd, NULL, r);
    if (close(fd) != 0 && rc == FG_OK)
        rc = io_fail(r, "write a local copy", errno);
    if (rc != FG_OK) {
        unlink(path);
        path[0] = '\0';
    }
    return rc;
}

static void s3b_release_local(store_blob *base, const char *path)
{
    blob_s3 *b = (blob_s3 *)base;
    size_t n = strlen(b->scratch);
    /* Only a copy this store made: a path into the scratch directory
     * under our prefix, never anything a caller confused it with. */
    if (strncmp(path, b->scratch, n) == 0 && path[n] == '/' &&
        strncmp(path + n + 1, STORE_BLOB_SCRATCH_PREFIX,
                strlen(STORE_BLOB_SCRATCH_PREFIX)) == 0 &&
        !strchr(path + n + 1, '/'))
        unlink(path);
}

static fg_result s3b_remove(store_blob *base, const char *hex, fg_reason *r)
{
    char key[STORE_BLOB_KEY_MAX];
    store_blob_key(hex, key);
    return s3_delete(((blob_s3 *)base)->c, key, r);
}

typedef struct each_ctx {
    store_blob_each_fn fn;
    void *ctx;
} each_ctx;

static bool is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[64] == '\0';
}

static bool on_blob(void *ud, const char *key, int64_t size, int64_t mtime)
{
    each_ctx *e = ud;
    /* "sha256/<hex>": anything else in the bucket is not ours to report. */
    if (strlen(key) != 7 + 64 || strncmp(key, "sha256/", 7) != 0 || !is_hex64(key + 7))
        return true;
    return e->fn(e->ctx, key + 7, size, mtime);
}

static fg_result s3b_each(store_blob *base, store_blob_each_fn fn, void *ctx, fg_reason *r)
{
    each_ctx e = {fn, ctx};
    return s3_list(((blob_s3 *)base)->c, "sha256/", on_blob, &e, r);
}

/* ---- tus chunks: one object each, "uploads/<id>/<offset>-<tag>" ----
 *
 * The tag is 8 random bytes drawn per attempt. Two PATCHes of one upload
 * at the same offset on two nodes are not locked against each other (the
 * row's guarded offset update decides which one counts); with one key per
 * offset, the loser's cleanup would delete the winner's object. With a key
 * per attempt the loser removes only its own. A chunk left by a node that
 * died between its PUT and its update stays beside the winner's; the
 * assembly chooses between them (chunk_pick) and the upload's sha-256
 * decides. */

#define TAG_HEX 16

typedef struct s3_part {
    store_blob_part base; /* first */
    char id[STORE_BLOB_KEY_MAX];
    int64_t offset;       /* -1 before the seek */
    int fd;               /* the chunk as it arrives, in the scratch dir */
    char path[4096];
    EVP_MD_CTX *md;       /* its SHA-256, as it arrives */
    int64_t written;
    bool put;             /* its object was put */
    char tag[TAG_HEX + 1];
} s3_part;

/* "uploads/<id>/<offset, 20 digits>-<tag>". */
static void part_key(const char *id, int64_t offset, const char *tag,
                     char out[STORE_BLOB_KEY_MAX])
{
    /* id is 32 hex (checked by storage/blob.c), tag TAG_HEX: 78 bytes. */
    snprintf(out, STORE_BLOB_KEY_MAX, "uploads/%.32s/%020lld-%.16s", id, (long long)offset, tag);
}

static fg_result s3b_parts_create(store_blob *base, const char *id, fg_reason *r)
{
    (void)base;
    (void)id;
    (void)r;
    return FG_OK; /* nothing to make: each chunk is its own object */
}

static fg_result s3b_part_begin(store_blob *base, const char *id, store_blob_part **out,
                                bool *busy, fg_reason *r)
{
    blob_s3 *b = (blob_s3 *)base;
    (void)busy; /* nothing held: the row's guarded offset update decides */
    s3_part *p = calloc(1, sizeof *p);
    if (!p)
        return fg_fail(r, FG_EIO, "out of memory");
    p->base.b = base;
    p->offset = -1;
    p->fd = -1;
    snprintf(p->id, sizeof p->id, "%s", id);
    unsigned char tag[TAG_HEX / 2];
    fg_result rc = RAND_bytes(tag, sizeof tag) == 1
                       ? FG_OK
                       : fg_fail(r, FG_EIO, "cannot draw an upload chunk's tag");
    fg_hex_encode(tag, sizeof tag, p->tag);
    if (rc == FG_OK)
        rc = scratch_file(b, &p->fd, p->path, sizeof p->path, r);
    if (rc == FG_OK && (!(p->md = EVP_MD_CTX_new()) ||
                        !EVP_DigestInit_ex(p->md, EVP_sha256(), NULL)))
        rc = fg_fail(r, FG_EIO, "cannot start sha-256");
    if (rc != FG_OK) {
        if (p->fd >= 0) {
            close(p->fd);
            unlink(p->path);
        }
        EVP_MD_CTX_free(p->md);
        free(p);
        return rc;
    }
    *out = &p->base;
    return FG_OK;
}

static fg_result s3b_part_seek(store_blob_part *base, int64_t offset, fg_reason *r)
{
    s3_part *p = (s3_part *)base;
    (void)r;
    /* A chunk stored earlier at this offset whose offset was never
     * recorded stays under its own tag; the assembly chooses between
     * them, and bytes past the recorded length are ignored. */
    p->offset = offset;
    return FG_OK;
}

static fg_result s3b_part_write(store_blob_part *base, const void *buf, size_t n,
                                fg_reason *r)
{
    s3_part *p = (s3_part *)base;
    const char *c = buf;
    if (p->offset < 0)
        return fg_fail(r, FG_EUSAGE, "upload chunk written before its offset was set");
    EVP_DigestUpdate(p->md, buf, n);
    while (n > 0) {
        ssize_t k = write(p->fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return io_fail(r, "keep an upload chunk in the scratch directory",
                           k < 0 ? errno : ENOSPC);
        c += k;
        n -= (size_t)k;
        p->written += k;
    }
    return FG_OK;
}

static fg_result s3b_part_flush(store_blob_part *base, fg_reason *r)
{
    s3_part *p = (s3_part *)base;
    blob_s3 *b = (blob_s3 *)p->base.b;
    char key[STORE_BLOB_KEY_MAX], hex[65];
    unsigned char dig[32];
    unsigned int dl = 0;
    if (p->offset < 0)
        return fg_fail(r, FG_EUSAGE, "upload chunk flushed before its offset was set");
    if (p->written == 0)
        return FG_OK; /* an empty chunk stores nothing */
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    if (!copy || !EVP_MD_CTX_copy_ex(copy, p->md) || !EVP_DigestFinal_ex(copy, dig, &dl)) {
        EVP_MD_CTX_free(copy);
        return fg_fail(r, FG_EIO, "sha-256 failed");
    }
    EVP_MD_CTX_free(copy);
    fg_hex_encode(dig, 32, hex);
    part_key(p->id, p->offset, p->tag, key);
    fg_result rc = s3_put_file(b->c, key, p->path, hex, r);
    if (rc == FG_OK)
        p->put = true;
    return rc;
}

static bool s3b_part_end(store_blob_part *base, bool keep)
{
    s3_part *p = (s3_part *)base;
    blob_s3 *b = (blob_s3 *)p->base.b;
    bool ok = true;
    if (!keep && p->put) {
        char key[STORE_BLOB_KEY_MAX];
        fg_reason ignore;
        part_key(p->id, p->offset, p->tag, key);
        ok = s3_delete(b->c, key, &ignore) == FG_OK;
    }
    close(p->fd);
    unlink(p->path);
    EVP_MD_CTX_free(p->md);
    free(p);
    return ok;
}

/* One chunk of an upload, from its key. */
typedef struct chunk {
    int64_t offset, size;
    char tag[TAG_HEX + 1];
} chunk;

typedef struct chunks {
    const char *prefix; /* "uploads/<id>/" */
    size_t plen;
    chunk *v;
    size_t n, cap;
    bool toomany, nomem;
} chunks;

/* The offset of "<20 digits>-<tag>" (the end of a chunk's key), or -1. */
static int64_t key_offset(const char *rest)
{
    int64_t v = 0;
    if (strlen(rest) != 20 + 1 + TAG_HEX || rest[20] != '-')
        return -1;
    for (int i = 21; i < 21 + TAG_HEX; i++)
        if (!((rest[i] >= '0' && rest[i] <= '9') || (rest[i] >= 'a' && rest[i] <= 'f')))
            return -1;
    for (int i = 0; i < 20; i++) {
        if (rest[i] < '0' || rest[i] > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (rest[i] - '0');
    }
    return v;
}

static bool on_chunk(void *ud, const char *key, int64_t size, int64_t mtime)
{
    chunks *c = ud;
    (void)mtime;
    /* A listing holds only keys under the prefix asked for; a server that
     * answers otherwise is not followed past the end of a short key. */
    if (strncmp(key, c->prefix, c->plen) != 0)
        return true;
    int64_t off = key_offset(key + c->plen);
    if (off < 0)
        return true;
    if (c->n == CHUNKS_MAX) {
        c->toomany = true;
        return false;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        chunk *v = realloc(c->v, cap * sizeof *v);
        if (!v) {
            c->nomem = true;
            return false;
        }
        c->v = v;
        c->cap = cap;
    }
    chunk *k = &c->v[c->n++];
    k->offset = off;
    k->size = size;
    memcpy(k->tag, key + c->plen + 21, TAG_HEX + 1);
    return true;
}

/* The chunk to take at offset `at` among v[i..n) (sorted by key, so the
 * candidates at one offset are together): the only one, or, when a dead
 * attempt left another beside it, the one whose end is where the next
 * chunk starts or where the upload ends. -1 when none starts at `at` or
 * the choice stays open (then the upload is damaged and sent again). */
static ssize_t chunk_pick(const chunks *c, size_t i, int64_t at, int64_t length)
{
    size_t j = i;
    while (j < c->n && c->v[j].offset == at)
        j++;
    if (j == i)
        return -1;
    if (j == i + 1)
        return (ssize_t)i;
    ssize_t pick = -1;
    for (size_t k = i; k < j; k++) {
        int64_t end = c->v[k].offset + c->v[k].size;
        bool leads = end == length;
        for (size_t m = j; m < c->n && !leads && c->v[m].offset <= end; m++)
            leads = c->v[m].offset == end;
        if (leads) {
            if (pick >= 0)
                return -1;
            pick = (ssize_t)k;
        }
    }
    return pick;
}

static fg_result s3b_parts_assemble(store_blob *base, const char *id, int64_t length,
                                    const char *sha256, char *path, size_t cap,
                                    fg_reason *r)
{
    blob_s3 *b = (blob_s3 *)base;
    char prefix[STORE_BLOB_KEY_MAX], key[STORE_BLOB_KEY_MAX];
    chunks c = {0};
    int fd = -1;
    fg_result rc;

    snprintf(prefix, sizeof prefix, "uploads/%s/", id);
    c.prefix = prefix;
    c.plen = strlen(prefix);
    /* Listed in key order, which is offset order: 20 digits, zero-padded. */
    if ((rc = s3_list(b->c, prefix, on_chunk, &c, r)) != FG_OK)
        goto out;
    if (c.nomem || c.toomany) {
        rc = c.nomem ? fg_fail(r, FG_EIO, "out of memory")
                     : fg_fail(r, FG_ELIMIT, "upload in more than %d chunks", CHUNKS_MAX);
        goto out;
    }
    if ((rc = scratch_file(b, &fd, path, cap, r)) != FG_OK)
        goto out;
    int64_t at = 0;
    for (size_t i = 0; i < c.n && at < length;) {
        /* Chunks start where the recorded offsets were; past the length
         * are leftovers of chunks never recorded, ignored. */
        while (i < c.n && c.v[i].offset < at)
            i++; /* a dead attempt's chunk that the chosen one passed over */
        ssize_t k = chunk_pick(&c, i, at, length);
        if (k < 0) {
            rc = fg_fail(r, FG_ECORRUPT, "upload bytes missing at offset %lld",
                         (long long)at);
            goto out;
        }
        while (i < c.n && c.v[i].offset == at)
            i++;
        part_key(id, at, c.v[k].tag, key);
        int64_t got = 0;
        if ((rc = s3_get_fd(b->c, key, fd, &got, r)) != FG_OK) {
            if (rc == FG_ENOTFOUND) /* removed since the listing */
                rc = fg_fail(r, FG_ECORRUPT, "upload chunk at %lld is gone", (long long)at);
            goto out;
        }
        at += got;
    }
    if (at != length) {
        rc = fg_fail(r, FG_ECORRUPT, "upload holds %lld bytes, %lld recorded", (long long)at,
                     (long long)length);
        goto out;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        rc = io_fail(r, "write the assembled upload", errno);
        goto out;
    }
    fd = -1;
    if (sha256) {
        char hex[STORE_HEX_MAX];
        if ((rc = store_blob_hash_file(path, hex, NULL, r)) != FG_OK)
            goto out;
        if (strcmp(hex, sha256) != 0) {
            rc = fg_fail(r, FG_ECORRUPT, "assembled upload does not match its sha-256");
            goto out;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc != FG_OK && cap && path[0]) {
        unlink(path);
        path[0] = '\0';
    }
    free(c.v);
    return rc;
}

typedef struct remove_ctx {
    s3_client *c;
    fg_result rc;
    fg_reason *r;
} remove_ctx;

static bool on_remove(void *ud, const char *key, int64_t size, int64_t mtime)
{
    remove_ctx *x = ud;
    fg_reason why;
    (void)size;
    (void)mtime;
    /* Best effort: a chunk that cannot go now is swept later. */
    if (s3_delete(x->c, key, &why) != FG_OK && x->rc == FG_OK) {
        x->rc = FG_EIO;
        if (x->r)
            *x->r = why;
    }
    return true;
}

static fg_result s3b_parts_remove(store_blob *base, const char *id, fg_reason *r)
{
    char prefix[STORE_BLOB_KEY_MAX];
    remove_ctx x = {((blob_s3 *)base)->c, FG_OK, r};
    snprintf(prefix, sizeof prefix, "uploads/%s/", id);
    fg_result rc = s3_list(x.c, prefix, on_remove, &x, r);
    return rc != FG_OK ? rc : x.rc;
}

typedef struct parts_each_ctx {
    store_blob_parts_each_fn fn;
    void *ctx;
} parts_each_ctx;

static bool on_upload(void *ud, const char *key, int64_t size, int64_t mtime)
{
    parts_each_ctx *e = ud;
    char id[STORE_BLOB_KEY_MAX];
    (void)size;
    if (strncmp(key, "uploads/", 8) != 0)
        return true;
    const char *s = key + 8, *slash = strchr(s, '/');
    if (!slash || slash == s || (size_t)(slash - s) >= sizeof id || key_offset(slash + 1) < 0)
        return true;
    memcpy(id, s, (size_t)(slash - s));
    id[slash - s] = '\0';
    return e->fn(e->ctx, id, mtime);
}

static fg_result s3b_parts_each(store_blob *base, store_blob_parts_each_fn fn, void *ctx,
                                fg_reason *r)
{
    parts_each_ctx e = {fn, ctx};
    return s3_list(((blob_s3 *)base)->c, "uploads/", on_upload, &e, r);
}

static void s3b_free(store_blob *base)
{
    blob_s3 *b = (blob_s3 *)base;
    s3_client_free(b->c);
    free(b->scratch);
    free(b);
}

static const store_blob_ops s3_ops = {
    .name = "s3",
    .free = s3b_free,
    .check = s3b_check,
    .put_file = s3b_put_file,
    .stat = s3b_stat,
    .download_target = s3b_download_target,
    .acquire_local = s3b_acquire_local,
    .release_local = s3b_release_local,
    .remove = s3b_remove,
    .each = s3b_each,
    .parts_create = s3b_parts_create,
    .part_begin = s3b_part_begin,
    .part_seek = s3b_part_seek,
    .part_write = s3b_part_write,
    .part_flush = s3b_part_flush,
    .part_end = s3b_part_end,
    .parts_assemble = s3b_parts_assemble,
    .parts_remove = s3b_parts_remove,
    .parts_each = s3b_parts_each,
};

fg_result store_blob_open_s3(const store_blob_settings *s, store_blob **out, fg_reason *r)
{
    fg_result rc;
    blob_s3 *b = NULL;
    s3_config cfg = {
        .endpoint = s->s3_endpoint,
        .bucket = s->s3_bucket,
        .region = s->s3_region,
        .access_key_id = s->s3_access_key_id,
        .secret_access_key = s->s3_secret_access_key,
        .addressing = s->s3_virtual ? S3_ADDRESSING_VIRTUAL : S3_ADDRESSING_PATH,
        .part_size = s->s3_part_size,
    };
    *out = NULL;
    if (s->s3_presign_seconds < STORE_BLOB_PRESIGN_MIN ||
        s->s3_presign_seconds > STORE_BLOB_PRESIGN_MAX)
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_PRESIGN_SECONDS must be %d to %d",
                       STORE_BLOB_PRESIGN_MIN, STORE_BLOB_PRESIGN_MAX);
    b = calloc(1, sizeof *b);
    if (!b)
        return fg_fail(r, FG_EIO, "out of memory");
    b->base.ops = &s3_ops;
    b->presign_seconds = (long)s->s3_presign_seconds;
    if ((rc = s3_client_new(&cfg, &b->c, r)) != FG_OK)
        goto fail;
    if (!(b->scratch = strdup(s->scratch))) {
        rc = fg_fail(r, FG_EIO, "out of memory");
        goto fail;
    }
    *out = &b->base;
    return FG_OK;
fail:
    s3_client_free(b->c);
    free(b);
    return rc;
}
