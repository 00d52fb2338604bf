/* tus 1.0 resumable uploads: core, creation, termination, expiration and
 * checksum (sha256). README, "Resumable uploads (tus)".
 *
 *   OPTIONS /v1/uploads, /v1/orders/{order}/uploads   what we speak
 *   POST    /v1/orders/{order}/uploads                creation
 *   HEAD    /v1/uploads/{id}                          the offset
 *   PATCH   /v1/uploads/{id}                          a chunk
 *   DELETE  /v1/uploads/{id}                          termination
 *
 * A chunk reaches the worker as a file nginx wrote (REQUEST_BODY_FILE,
 * fcgi/body_file.h) and is appended to the upload's data file through one
 * small buffer, so memory stays flat whatever the size. The SHA-256 of
 * the file and its commitment (common/commit.h) are computed as the bytes
 * arrive; their states are put down in the upload's row in the same
 * update that moves the offset (storage/uploads.h), so nothing is read
 * twice and the upload can be taken up after a restart or on another
 * node. Finished uploads become a delivery through the JSON body of
 * POST /v1/orders/{order}/deliveries (fcgi/h_deliveries.c). */
#include "fcgi/h_tus.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/commit.h"
#include "common/hex.h"
#include "common/sha256_state.h"
#include "common/utf8.h"
#include "fcgi/access.h"
#include "fcgi/body_file.h"
#include "fcgi/handlers.h"
#include "fcgi/log.h"
#include "fcgi/worker.h"

#define TUS_VERSION "1.0.0"
#define TUS_EXTENSIONS "creation,termination,expiration,checksum"

bool fcgi_tus_data_path(const store_blob *b, const char *id, char *out, size_t cap)
{
    const char *dir = store_blob_tmp_dir(b);
    if (!dir)
        return false;
    int n = snprintf(out, cap, "%s/" FCGI_TUS_DATA_PREFIX "%s", dir, id);
    return n > 0 && (size_t)n < cap;
}

bool fcgi_tus_version_ok(fcgi_req *req)
{
    const char *v = fcgi_param(req, "HTTP_TUS_RESUMABLE");
    if (v && strcmp(v, TUS_VERSION) == 0)
        return true;
    fcgi_add_header(req, "Tus-Version", TUS_VERSION);
    fcgi_send_text(req, 412, "application/json",
                   "{\"error\":{\"code\":\"tus_version\",\"message\":"
                   "\"send Tus-Resumable: 1.0.0\"}}",
                   strlen("{\"error\":{\"code\":\"tus_version\",\"message\":"
                          "\"send Tus-Resumable: 1.0.0\"}}"));
    return false;
}

/* RFC 9110 IMF-fixdate, from the C locale's names (the worker never
 * calls setlocale). */
static void http_date(int64_t t, char out[40])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm))
        snprintf(out, 40, "Thu, 01 Jan 1970 00:00:00 GMT");
}

static void add_int_header(fcgi_req *req, const char *name, long long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    fcgi_add_header(req, name, buf);
}

static void add_expires(fcgi_req *req, int64_t at)
{
    char date[40];
    http_date(at, date);
    fcgi_add_header(req, "Upload-Expires", date);
}

/* Removes an upload: its row first (from then on nobody can reach the
 * file), then its data file. */
static fg_result remove_upload(store_meta *m, const store_blob *b, const char *id,
                               bool *removed, fg_reason *r)
{
    char path[PATH_MAX];
    fg_result rc = store_upload_delete(m, id, removed, r);
    if (rc == FG_OK && fcgi_tus_data_path(b, id, path, sizeof path))
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
    const size_t plen = strlen(FCGI_TUS_DATA_PREFIX);
    int64_t count = 0;
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        store_upload u;
        struct stat st;
        fg_reason r = {{0}};
        const char *id = e->d_name + plen;
        if (strncmp(e->d_name, FCGI_TUS_DATA_PREFIX, plen) != 0 || !store_file_id_valid(id) ||
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

fg_result fcgi_tus_sweep(store_meta *m, const store_blob *b, int64_t now, int64_t *removed,
                         fg_reason *r)
{
    char ids[256][STORE_FILE_ID_MAX];
    size_t n = 0;
    int64_t count = 0;
    fg_result rc = store_upload_expired(m, now, ids, 256, &n, r);
    for (size_t i = 0; rc == FG_OK && i < n; i++) {
        bool gone = false;
        if ((rc = remove_upload(m, b, ids[i], &gone, r)) == FG_OK && gone)
            count++;
    }
    if (rc == FG_OK)
        count += sweep_orphans(m, b, now);
    if (removed)
        *removed = count;
    return rc;
}

void fcgi_tus_maintain(store_meta *m, const store_blob *b, int64_t now)
{
    fg_reason r = {{0}};
    int64_t n = 0;
    if (fcgi_tus_sweep(m, b, now, &n, &r) != FG_OK)
        fcgi_log(FCGI_LOG_ERROR, "tus_uploads error=\"%s\"", r.text);
    else if (n)
        fcgi_log(FCGI_LOG_INFO, "tus_uploads expired=%lld", (long long)n);
}

bool fcgi_tus_load(fcgi_req *req, const char *id, struct fcgi_claims *who, store_upload *u)
{
    struct fcgi_claims again;
    store_order o;
    fg_reason r = {{0}};
    if (!fcgi_authenticate(req, who))
        return false;
    fg_result rc = store_upload_get(req->ctx->meta, id, u, &r);
    if (rc == FG_OK && (who->role != FCGI_ROLE_SELLER || strcmp(who->sub, u->seller_id) != 0 ||
                        strcmp(who->ord, u->order_id) != 0))
        rc = fg_fail(&r, FG_ENOTFOUND, "no such upload");
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, rc == FG_ENOTFOUND ? "no_such_upload" : NULL, r.text);
        return false;
    }
    if (u->expires_at <= (int64_t)time(NULL)) {
        bool gone = false;
        if (remove_upload(req->ctx->meta, req->ctx->blobs, u->id, &gone, &r) != FG_OK)
            fcgi_log(FCGI_LOG_WARN, "req=%s cannot remove an expired upload: %s", req->id,
                     r.text);
        fcgi_send_error(req, FG_EGONE, "upload_expired",
                        "the upload expired (FILIGRANE_UPLOAD_EXPIRY); start it again");
        return false;
    }
    /* The order's own rules (a closed order takes no more chunks). */
    return fcgi_load_order(req, u->order_id, ORD_DELIVER, &again, &o);
}

void fcgi_h_tus_options(fcgi_req *req)
{
    char max[32];
    snprintf(max, sizeof max, "%lld", req->ctx->cfg->upload.max_file_bytes);
    fcgi_add_header(req, "Tus-Version", TUS_VERSION);
    fcgi_add_header(req, "Tus-Extension", TUS_EXTENSIONS);
    fcgi_add_header(req, "Tus-Max-Size", max);
    fcgi_add_header(req, "Tus-Checksum-Algorithm", "sha256");
    fcgi_send_text(req, 204, "text/plain", "", 0);
}

/* ---- creation ---- */

/* A whole non-negative decimal number, no sign, no spaces. */
static bool parse_size(const char *s, long long *out)
{
    long long v = 0;
    if (!s || !*s || strlen(s) > 18)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return true;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with its padding, n bytes at s, into out (cap bytes,
 * NUL added). False on anything else or when it does not fit. */
static bool b64_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    if (n % 4)
        return false;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_value((unsigned char)s[i + k])) < 0) {
                return false;
            }
        }
        unsigned long w = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 |
                          (unsigned long)v[2] << 6 | (unsigned long)v[3];
        for (int k = 0; k < 3 - pad; k++) {
            if (o + 1 >= cap)
                return false;
            out[o++] = (unsigned char)(w >> (16 - 8 * k));
        }
    }
    out[o] = '\0';
    *len = o;
    return true;
}

/* The filename of Upload-Metadata ("key b64,key b64,..."), checked as a
 * delivered file's name: 1 to FG_MAX_FILE_NAME bytes of valid UTF-8, no
 * control or bidirectional formatting character, no slash. */
static fg_result metadata_name(const char *md, char out[FG_MAX_FILE_NAME + 1], fg_reason *r)
{
    size_t len = 0;
    const char *p = md;
    bool found = false;
    while (p && *p && !found) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && *p == ' ')
            p++, n--;
        if (n >= 9 && strncmp(p, "filename ", 9) == 0) {
            if (!b64_decode(p + 9, n - 9, (unsigned char *)out, FG_MAX_FILE_NAME + 1, &len))
                return fg_fail(r, FG_EUSAGE,
                               "the filename in Upload-Metadata is not base64 or is longer "
                               "than %d bytes",
                               FG_MAX_FILE_NAME);
            found = true;
        }
        p = end ? end + 1 : NULL;
    }
    if (!found || len == 0)
        return fg_fail(r, FG_EUSAGE, "Upload-Metadata must carry \"filename <base64>\"");
    if (strlen(out) != len || !fg_utf8_valid(out, len))
        return fg_fail(r, FG_EUSAGE, "the file name is not valid UTF-8");
    for (size_t i = 0; i < len;) {
        const unsigned char *u = (const unsigned char *)out + i;
        size_t l = fg_utf8_seq(u, len - i);
        if (l == 0 || *u < 0x20 || *u == 0x7f || *u == '/' || *u == '\\' ||
            fg_utf8_is_bidi_control(u, l))
            return fg_fail(r, FG_EUSAGE,
                           "the file name holds a control character, a slash or a "
                           "direction override");
        i += l;
    }
    return FG_OK;
}

void fcgi_h_tus_create(fcgi_req *req)
{
    struct fcgi_claims who;
    store_order o;
    store_upload u;
    fg_reason r = {{0}};
    fg_sha256 sha, com;
    unsigned char salt[FG_SALT_BYTES];
    char path[PATH_MAX], location[64];
    long long length = 0;
    int64_t live = 0;
    fcgi_ctx *ctx = req->ctx;
    const char *order_id = req->params[0];
    fg_result rc;

    if (!fcgi_tus_version_ok(req) || !fcgi_load_order(req, order_id, ORD_DELIVER, &who, &o))
        return;
    if (who.role != FCGI_ROLE_SELLER) {
        fcgi_send_error(req, FG_EFORBIDDEN, "not_seller", "only the order's seller uploads");
        return;
    }
    memset(&u, 0, sizeof u);
    if (fcgi_param(req, "HTTP_UPLOAD_DEFER_LENGTH")) {
        fcgi_send_error(req, FG_EUSAGE, "defer_length",
                        "Upload-Defer-Length is not supported: send Upload-Length");
        return;
    }
    if (!parse_size(fcgi_param(req, "HTTP_UPLOAD_LENGTH"), &length) || length == 0) {
        fcgi_send_error(req, FG_EUSAGE, "bad_upload_length",
                        "Upload-Length must be a whole number of bytes, at least 1");
        return;
    }
    if (length > ctx->cfg->upload.max_file_bytes) {
        char msg[128];
        snprintf(msg, sizeof msg, "file is larger than the limit of %lld bytes "
                 "(FILIGRANE_MAX_FILE_BYTES)", ctx->cfg->upload.max_file_bytes);
        fcgi_send_error(req, FG_ELIMIT, "too_large", msg);
        return;
    }
    if ((rc = metadata_name(fcgi_param(req, "HTTP_UPLOAD_METADATA"), u.name, &r)) != FG_OK) {
        fcgi_send_error(req, rc, "bad_metadata", r.text);
        return;
    }
    if ((rc = store_upload_count(ctx->meta, order_id, &live, &r)) != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    if (live >= ctx->cfg->upload.max_files) {
        char msg[160];
        snprintf(msg, sizeof msg, "the order already holds %d unfinished uploads "
                 "(FILIGRANE_MAX_FILES): finish or delete some", ctx->cfg->upload.max_files);
        fcgi_send_error(req, FG_ELIMIT, "too_many_uploads", msg);
        return;
    }
    /* The commitment's salt is drawn now and fed first: the content then
     * feeds both hashes alike, chunk after chunk. */
    if ((rc = fg_salt_new(salt, &r)) != FG_OK || (rc = store_file_id_new(u.id, &r)) != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    fg_sha256_init(&sha);
    fg_sha256_init(&com);
    fg_sha256_update(&com, salt, sizeof salt);
    fg_sha256_save(&sha, u.sha_state);
    fg_sha256_save(&com, u.commit_state);
    fg_hex_encode(salt, sizeof salt, u.salt);
    OPENSSL_cleanse(salt, sizeof salt);
    snprintf(u.order_id, sizeof u.order_id, "%s", order_id);
    snprintf(u.seller_id, sizeof u.seller_id, "%s", who.sub);
    u.length = length;
    u.expires_at = (int64_t)time(NULL) + ctx->cfg->upload_expiry;

    /* The data file first: a row always has its file. */
    int fd = -1;
    if (!fcgi_tus_data_path(ctx->blobs, u.id, path, sizeof path) ||
        (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        fcgi_send_error(req, FG_EIO, NULL, "cannot create the upload's file");
        return;
    }
    close(fd);
    if ((rc = store_upload_insert(ctx->meta, &u, &r)) != FG_OK) {
        unlink(path);
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    fcgi_log(FCGI_LOG_INFO, "req=%s order=%s upload=%s length=%lld", req->id, order_id, u.id,
             length);
    snprintf(location, sizeof location, "/v1/uploads/%s", u.id);
    fcgi_add_header(req, "Location", location);
    add_expires(req, u.expires_at);
    fcgi_send_text(req, 201, "text/plain", "", 0);
}

/* ---- core ---- */

void fcgi_h_tus_head(fcgi_req *req)
{
    struct fcgi_claims who;
    store_upload u;
    if (!fcgi_tus_version_ok(req) || !fcgi_tus_load(req, req->params[0], &who, &u))
        return;
    add_int_header(req, "Upload-Offset", u.offset);
    add_int_header(req, "Upload-Length", u.length);
    add_expires(req, u.expires_at);
    fcgi_send_text(req, 200, "text/plain", "", 0);
}

/* Upload-Checksum: "sha256 <base64 of 32 bytes>" (the checksum
 * extension); other algorithms are refused 400. */
static fg_result parse_checksum(const char *h, unsigned char want[32], fg_reason *r)
{
    size_t len = 0;
    unsigned char buf[40];
    if (strncmp(h, "sha256 ", 7) != 0)
        return fg_fail(r, FG_EUSAGE, "Upload-Checksum: only sha256 is supported");
    if (!b64_decode(h + 7, strlen(h + 7), buf, sizeof buf, &len) || len != 32)
        return fg_fail(r, FG_EUSAGE, "Upload-Checksum: not the base64 of a SHA-256");
    memcpy(want, buf, 32);
    return FG_OK;
}

/* Appends body (its whole content, n bytes) to the data file at offset,
 * feeding both hashes and the chunk's own. */
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

void fcgi_h_tus_patch(fcgi_req *req)
{
    struct fcgi_claims who;
    store_upload u;
    fg_reason r = {{0}};
    fg_sha256 sha, com, chunk;
    unsigned char want[32], got[32];
    char path[PATH_MAX], sha_state[FG_SHA256_STATE_HEX_MAX], com_state[FG_SHA256_STATE_HEX_MAX];
    long long offset = 0;
    int body = -1, data = -1;
    struct stat st;
    fcgi_ctx *ctx = req->ctx;
    fg_result rc;
    bool check = false;

    if (!fcgi_tus_version_ok(req) || !fcgi_tus_load(req, req->params[0], &who, &u))
        return;
    const char *ctype = fcgi_param(req, "CONTENT_TYPE");
    if (!ctype || strcasecmp(ctype, "application/offset+octet-stream") != 0) {
        fcgi_send_error(req, FG_EUNSUPPORTED, "bad_content_type",
                        "a chunk is sent as application/offset+octet-stream");
        return;
    }
    if (!parse_size(fcgi_param(req, "HTTP_UPLOAD_OFFSET"), &offset)) {
        fcgi_send_error(req, FG_EUSAGE, "bad_upload_offset",
                        "Upload-Offset must be a whole number of bytes");
        return;
    }
    if (offset != u.offset) {
        add_int_header(req, "Upload-Offset", u.offset);
        fcgi_send_error(req, FG_ESTATE, "offset_mismatch",
                        "Upload-Offset is not the upload's offset: ask HEAD");
        return;
    }
    const char *ck = fcgi_param(req, "HTTP_UPLOAD_CHECKSUM");
    if (ck && *ck) {
        if ((rc = parse_checksum(ck, want, &r)) != FG_OK) {
            fcgi_send_error(req, rc, "bad_checksum", r.text);
            return;
        }
        check = true;
    }
    if ((rc = fg_sha256_load(&sha, u.sha_state, &r)) != FG_OK ||
        (rc = fg_sha256_load(&com, u.commit_state, &r)) != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    fg_sha256_init(&chunk);

    /* nginx makes no body file for an empty body: a chunk of 0 bytes. */
    const char *body_file = fcgi_param(req, "REQUEST_BODY_FILE");
    int64_t n = 0;
    if (body_file && *body_file) {
        if ((rc = fcgi_body_file_open(body_file, &body, &r)) != FG_OK) {
            fcgi_send_error(req, rc, rc == FG_EFORBIDDEN ? "bad_body_file" : NULL, r.text);
            return;
        }
        if (fstat(body, &st) != 0) {
            fcgi_send_error(req, FG_EIO, NULL, "cannot read the chunk");
            goto out;
        }
        n = st.st_size;
    }
    if (n > u.length - u.offset) {
        char msg[128];
        snprintf(msg, sizeof msg, "the chunk is longer than the %lld bytes left",
                 (long long)(u.length - u.offset));
        fcgi_send_error(req, FG_ELIMIT, "chunk_too_large", msg);
        goto out;
    }
    if (!fcgi_tus_data_path(ctx->blobs, u.id, path, sizeof path) ||
        (data = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        fcgi_send_error(req, FG_EIO, NULL, "the upload's file is missing");
        goto out;
    }
    /* One chunk at a time per upload: a second PATCH racing this one
     * would write over the same offset. */
    if (flock(data, LOCK_EX | LOCK_NB) != 0) {
        fcgi_send_error(req, FG_ESTATE, "upload_busy",
                        "another chunk of this upload is being written");
        goto out;
    }
    /* The recorded offset is the truth: bytes past it were written by a
     * request that died before its update committed, or were a chunk
     * refused for its checksum. */
    if (fstat(data, &st) != 0 || st.st_size < u.offset ||
        (st.st_size > u.offset && ftruncate(data, u.offset) != 0)) {
        fcgi_send_error(req, FG_ECORRUPT, "upload_damaged",
                        "the upload's file is shorter than its offset; start it again");
        goto out;
    }
    if (n && (rc = append(body, data, u.offset, n, &sha, &com, &chunk, &r)) != FG_OK) {
        if (ftruncate(data, u.offset) != 0)
            fcgi_log(FCGI_LOG_WARN, "req=%s cannot cut upload %s back", req->id, u.id);
        fcgi_send_error(req, rc, NULL, r.text);
        goto out;
    }
    if (check) {
        fg_sha256_peek(&chunk, got);
        if (CRYPTO_memcmp(got, want, 32) != 0) {
            if (ftruncate(data, u.offset) != 0)
                fcgi_log(FCGI_LOG_WARN, "req=%s cannot cut upload %s back", req->id, u.id);
            add_int_header(req, "Upload-Offset", u.offset);
            fcgi_send_text(req, 460, "application/json",
                           "{\"error\":{\"code\":\"checksum_mismatch\",\"message\":\"the "
                           "chunk does not match Upload-Checksum; it was discarded\"}}",
                           strlen("{\"error\":{\"code\":\"checksum_mismatch\",\"message\":"
                                  "\"the chunk does not match Upload-Checksum; it was "
                                  "discarded\"}}"));
            goto out;
        }
    }
    fg_sha256_save(&sha, sha_state);
    fg_sha256_save(&com, com_state);
    int64_t expires = (int64_t)time(NULL) + ctx->cfg->upload_expiry;
    if ((rc = store_upload_advance(ctx->meta, u.id, u.offset, u.offset + n, sha_state,
                                   com_state, expires, &r)) != FG_OK) {
        /* Not recorded: the bytes past the offset are cut by the next
         * PATCH (or now, while the lock is ours). */
        if (ftruncate(data, u.offset) != 0)
            fcgi_log(FCGI_LOG_WARN, "req=%s cannot cut upload %s back", req->id, u.id);
        fcgi_send_error(req, rc, rc == FG_ESTATE ? "offset_mismatch" : NULL, r.text);
        goto out;
    }
    add_int_header(req, "Upload-Offset", u.offset + n);
    add_expires(req, expires);
    fcgi_send_text(req, 204, "text/plain", "", 0);
out:
    if (data >= 0)
        close(data); /* drops the lock */
    if (body >= 0)
        close(body);
}

void fcgi_h_tus_delete(fcgi_req *req)
{
    struct fcgi_claims who;
    store_upload u;
    fg_reason r = {{0}};
    bool gone = false;
    if (!fcgi_tus_version_ok(req) || !fcgi_tus_load(req, req->params[0], &who, &u))
        return;
    fg_result rc = remove_upload(req->ctx->meta, req->ctx->blobs, u.id, &gone, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    fcgi_log(FCGI_LOG_INFO, "req=%s upload=%s terminated", req->id, u.id);
    fcgi_send_text(req, 204, "text/plain", "", 0);
}
