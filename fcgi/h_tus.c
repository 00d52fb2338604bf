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
 * fcgi/body_file.h) and is appended to the upload by orders/uploads.h,
 * which keeps its bytes (in the blob store), its offset and its hash
 * states together;
 * this file parses, calls it and answers. Finished uploads become a delivery through the JSON body of
 * POST /v1/orders/{order}/deliveries (fcgi/h_deliveries.c). */
#include "fcgi/h_tus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/utf8.h"
#include "fcgi/access.h"
#include "fcgi/body_file.h"
#include "fcgi/handlers.h"
#include "fcgi/log.h"
#include "fcgi/worker.h"
#include "orders/uploads.h"

#define TUS_VERSION "1.0.0"
#define TUS_EXTENSIONS "creation,termination,expiration,checksum"

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

fg_result fcgi_tus_sweep(store_meta *m, store_blob *b, int64_t now, int64_t *removed,
                         fg_reason *r)
{
    return orders_upload_sweep(m, b, now, removed, r);
}

void fcgi_tus_maintain(store_meta *m, store_blob *b, int64_t now)
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
        if (orders_upload_remove(req->ctx->meta, req->ctx->blobs, u->id, &gone, &r) != FG_OK)
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
    char location[64];
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
    snprintf(u.order_id, sizeof u.order_id, "%s", order_id);
    snprintf(u.seller_id, sizeof u.seller_id, "%s", who.sub);
    u.length = length;
    u.expires_at = (int64_t)time(NULL) + ctx->cfg->upload_expiry;
    if ((rc = orders_upload_create(ctx->meta, ctx->blobs, &u, &r)) != FG_OK) {
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

void fcgi_h_tus_patch(fcgi_req *req)
{
    struct fcgi_claims who;
    store_upload u;
    fg_reason r = {{0}};
    orders_upload_outcome res;
    unsigned char want[32];
    long long offset = 0;
    int body = -1;
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
    /* Before the checksum and the body are looked at (orders_upload_append
     * refuses it too). */
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
    int64_t expires = (int64_t)time(NULL) + ctx->cfg->upload_expiry;
    rc = orders_upload_append(ctx->meta, ctx->blobs, &u, offset, body, n, check ? want : NULL,
                              expires, &res, &r);
    if (res.uncut)
        fcgi_log(FCGI_LOG_WARN, "req=%s cannot cut upload %s back", req->id, u.id);
    switch (rc == FG_OK ? ORDERS_UPLOAD_WHY_NONE : res.why) {
    case ORDERS_UPLOAD_WHY_NONE:
        if (rc != FG_OK) {
            fcgi_send_error(req, rc, NULL, r.text);
            break;
        }
        add_int_header(req, "Upload-Offset", res.offset);
        add_expires(req, expires);
        fcgi_send_text(req, 204, "text/plain", "", 0);
        break;
    case ORDERS_UPLOAD_WHY_OFFSET:
        fcgi_send_error(req, rc, "offset_mismatch", r.text);
        break;
    case ORDERS_UPLOAD_WHY_TOO_LONG:
        fcgi_send_error(req, rc, "chunk_too_large", r.text);
        break;
    case ORDERS_UPLOAD_WHY_BUSY:
        fcgi_send_error(req, rc, "upload_busy", r.text);
        break;
    case ORDERS_UPLOAD_WHY_DAMAGED:
        fcgi_send_error(req, rc, "upload_damaged", r.text);
        break;
    case ORDERS_UPLOAD_WHY_CHECKSUM:
        add_int_header(req, "Upload-Offset", u.offset);
        fcgi_send_text(req, 460, "application/json",
                       "{\"error\":{\"code\":\"checksum_mismatch\",\"message\":\"the "
                       "chunk does not match Upload-Checksum; it was discarded\"}}",
                       strlen("{\"error\":{\"code\":\"checksum_mismatch\",\"message\":"
                              "\"the chunk does not match Upload-Checksum; it was "
                              "discarded\"}}"));
        break;
    }
out:
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
    fg_result rc = orders_upload_remove(req->ctx->meta, req->ctx->blobs, u.id, &gone, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    fcgi_log(FCGI_LOG_INFO, "req=%s upload=%s terminated", req->id, u.id);
    fcgi_send_text(req, 204, "text/plain", "", 0);
}
