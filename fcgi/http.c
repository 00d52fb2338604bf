#include "fcgi/http.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "fcgi/disposition.h"
#include "fcgi/log.h"
#include "fcgi/metrics.h"

/* Percent-decodes src[0..n) into out; '+' stays '+' unless plus_space.
 * Returns false if out is too small, an escape is malformed, or a NUL
 * would be decoded (it would cut the value short silently). */
static bool pct_decode(const char *src, size_t n, char *out, size_t outlen,
                       bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            if (i + 2 >= n)
                return false;
            int h = fg_hex_nibble(src[i + 1]), l = fg_hex_nibble(src[i + 2]);
            if (h < 0 || l < 0)
                return false;
            c = h * 16 + l;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c == 0 || o + 1 >= outlen)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

fg_result fcgi_req_init(fcgi_req *req, FCGX_Request *fx, struct fcgi_ctx *ctx,
                        fg_reason *r)
{
    memset(req, 0, sizeof *req);
    req->fx = fx;
    req->ctx = ctx;
    /* nginx's $request_id (fastcgi_param REQUEST_ID, 32 lowercase hex
     * digits) when it sends one, so that its access log and ours name a
     * request alike; anything else is ignored. Without it: a random start
     * per thread, then a counter. Unique within a run and unguessable
     * enough for a log key, without asking the kernel or OpenSSL for
     * entropy on every request. */
    const char *nid = fcgi_param(req, "REQUEST_ID");
    if (nid && strlen(nid) == sizeof req->id - 1 &&
        strspn(nid, "0123456789abcdef") == sizeof req->id - 1) {
        memcpy(req->id, nid, sizeof req->id);
    } else {
        static __thread unsigned long long next_id;
        if (!next_id && RAND_bytes((unsigned char *)&next_id, sizeof next_id) != 1)
            next_id = (unsigned long long)(uintptr_t)&next_id ^ (unsigned long long)time(NULL);
        snprintf(req->id, sizeof req->id, "%016llx", next_id++);
    }

    req->method = fcgi_param(req, "REQUEST_METHOD");
    const char *uri = fcgi_param(req, "REQUEST_URI");
    if (!req->method || !*req->method || !uri || uri[0] != '/')
        return fg_fail(r, FG_EUSAGE, "request has no method or path");
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    req->query = q ? q + 1 : "";
    if (!pct_decode(uri, plen, req->path, sizeof req->path, false))
        return fg_fail(r, FG_EUSAGE, "request path is too long or malformed");
    return FG_OK;
}

fg_result fcgi_req_defer(fcgi_req *req, fcgi_cleanup_fn fn, void *arg)
{
    fcgi_cleanup *c = malloc(sizeof *c);
    if (!c) {
        fn(arg);
        return FG_EIO;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = req->cleanups;
    req->cleanups = c;
    return FG_OK;
}

void fcgi_req_release(fcgi_req *req)
{
    while (req->cleanups) {
        fcgi_cleanup *c = req->cleanups;
        req->cleanups = c->next;
        c->fn(c->arg);
        free(c);
    }
}

const char *fcgi_param(const fcgi_req *req, const char *name)
{
    return FCGX_GetParam(name, req->fx->envp);
}

bool fcgi_query(const fcgi_req *req, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    const char *p = req->query;
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=')
            return pct_decode(p + klen + 1, len - klen - 1, out, outlen, true);
        p = end ? end + 1 : NULL;
    }
    return false;
}

static void free_ptr(void *p) { free(p); }

fg_result fcgi_read_body(fcgi_req *req, size_t max, char **body, size_t *len,
                         fg_reason *r)
{
    *body = NULL;
    *len = 0;
    const char *cl = fcgi_param(req, "CONTENT_LENGTH");
    char *end = NULL;
    long long want = cl && *cl ? strtoll(cl, &end, 10) : 0;
    if (cl && *cl && (*end != '\0' || want < 0))
        return fg_fail(r, FG_EUSAGE, "content-length is not a number");
    if ((unsigned long long)want > max)
        return fg_fail(r, FG_ELIMIT, "request body is larger than %zu bytes", max);
    char *buf = malloc((size_t)want + 1);
    if (!buf || fcgi_req_defer(req, free_ptr, buf) != FG_OK)
        return fg_fail(r, FG_EIO, "out of memory reading the request body");
    int got = want ? FCGX_GetStr(buf, (int)want, req->fx->in) : 0;
    if (got != want)
        return fg_fail(r, FG_EUSAGE, "request body is shorter than its content-length");
    buf[want] = '\0';
    *body = buf;
    *len = (size_t)want;
    return FG_OK;
}

int fcgi_status_for(fg_result code)
{
    switch (code) {
    case FG_OK: return 200;
    case FG_EUSAGE: return 400;
    case FG_EAUTH: return 401;
    case FG_EFORBIDDEN: return 403;
    case FG_ENOTFOUND: return 404;
    case FG_ESTATE: return 409;
    case FG_ELIMIT: return 413;
    case FG_EUNSUPPORTED: return 415;
    case FG_ECORRUPT: return 422;
    case FG_ETIMEOUT: return 503;
    case FG_EGONE: return 410;
    case FG_ECRASH:
    case FG_EIO:
    default: return 500;
    }
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 460: return "Checksum Mismatch"; /* tus 1.0, checksum extension */
    case 503: return "Service Unavailable";
    default: return status < 500 ? "Error" : "Internal Server Error";
    }
}

static void count_status(int status)
{
    fcgi_counter c = status < 300   ? FCGI_M_REQUESTS_2XX
                     : status < 400 ? FCGI_M_REQUESTS_3XX
                     : status < 500 ? FCGI_M_REQUESTS_4XX
                                    : FCGI_M_REQUESTS_5XX;
    fcgi_metric_inc(c);
}

/* libfcgi's own printf knows only part of printf (no %zu, no
 * %lld): format with the C library, then hand libfcgi the bytes. Headers
 * are short; a longer line is cut, never overrun. */
static void out_printf(fcgi_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void out_printf(fcgi_req *req, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = (int)sizeof buf - 1;
    FCGX_PutStr(buf, n, req->fx->out);
}

static void put_status(fcgi_req *req, int status)
{
    req->status = status;
    count_status(status);
    out_printf(req, "Status: %d %s\r\nX-Request-Id: %s\r\n%s", status,
                 reason_phrase(status), req->id, req->headers);
}

void fcgi_add_header(fcgi_req *req, const char *name, const char *value)
{
    size_t n = strlen(req->headers);
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return;
    int k = snprintf(req->headers + n, sizeof req->headers - n, "%s: %s\r\n", name, value);
    if (k < 0 || (size_t)k >= sizeof req->headers - n)
        req->headers[n] = '\0'; /* cut: never half a header */
}

void fcgi_send_text(fcgi_req *req, int status, const char *content_type,
                    const char *body, size_t len)
{
    if (req->status)
        return;
    put_status(req, status);
    out_printf(req, "Content-Type: %s\r\nContent-Length: %zu\r\n"
                 "Cache-Control: no-store\r\n\r\n", content_type, len);
    if (len)
        FCGX_PutStr(body, (int)len, req->fx->out);
}

void fcgi_send_json(fcgi_req *req, int status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        fcgi_send_text(req, 500, "application/json",
                       "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}", 56);
        return;
    }
    fcgi_send_text(req, status, "application/json", text, strlen(text));
    free(text);
}

/* A refusal for nginx's auth_request (see fcgi_send_error). The message
 * goes into a JSON string literal written by nginx, which escapes
 * nothing: only printable ASCII other than '"' and '\\' is kept. */
static void send_auth_refusal(fcgi_req *req, int status, const char *code, const char *message)
{
    char safe[256];
    size_t o = 0;
    for (const char *p = message; *p && o < sizeof safe - 1; p++)
        safe[o++] = *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' ? *p : '_';
    safe[o] = '\0';
    put_status(req, status == 401 ? 401 : 403);
    out_printf(req, "X-Filigrane-Status: %d\r\nX-Filigrane-Error: %s\r\n"
               "X-Filigrane-Message: %s\r\nContent-Length: 0\r\n"
               "Cache-Control: no-store\r\n\r\n", status, code, safe);
}

const char *fcgi_req_log_path(const fcgi_req *req)
{
    if (strncmp(req->path, "/l/", 3) == 0)
        return "/l/-";
    if (strncmp(req->path, "/v1/links/", 10) == 0)
        return "/v1/links/-";
    return req->path;
}

void fcgi_send_error(fcgi_req *req, fg_result code, const char *api_code,
                     const char *message)
{
    int status = fcgi_status_for(code);
    if (status >= 500)
        fcgi_log(FCGI_LOG_ERROR, "req=%s method=%s path=\"%s\" status=%d error=\"%s\"",
                 req->id, req->method ? req->method : "-", fcgi_req_log_path(req), status,
                 message ? message : "");
    fcgi_send_error_status(req, status, api_code ? api_code : fg_result_name(code),
                           message && *message ? message : fg_result_name(code));
}

void fcgi_send_error_status(fcgi_req *req, int status, const char *api_code,
                            const char *message)
{
    if (req->auth_check && status >= 400 && status < 500) {
        if (!req->status)
            send_auth_refusal(req, status, api_code, message);
        return;
    }
    json_t *doc = json_pack("{s:{s:s, s:s, s:s}}", "error", "code", api_code, "message",
                            message, "request_id", req->id);
    fcgi_send_json(req, status, doc);
}

fg_result fcgi_send_json_stream_head(fcgi_req *req, int status)
{
    if (req->status)
        return FG_EIO;
    put_status(req, status);
    out_printf(req, "Content-Type: application/json\r\nCache-Control: no-store\r\n\r\n");
    return FCGX_GetError(req->fx->out) == 0 ? FG_OK : FG_EIO;
}

void fcgi_send_method_not_allowed(fcgi_req *req, const char *allow)
{
    if (req->status)
        return;
    if (req->auth_check) {
        send_auth_refusal(req, 405, "method_not_allowed", "method not allowed on this path");
        return;
    }
    static const char body[] =
        "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"method not allowed on this path\"}}";
    put_status(req, 405);
    out_printf(req, "Allow: %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%s", allow, sizeof body - 1, body);
}

/* If-None-Match is a list of entity tags or "*"; weak tags compare equal
 * for GET (RFC 9110 13.1.2). */
bool fcgi_etag_matches(const char *header, const char *sha)
{
    if (!header)
        return false;
    size_t slen = strlen(sha);
    for (const char *p = header; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p == '"' && strncmp(p + 1, sha, slen) == 0 && p[1 + slen] == '"')
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

void fcgi_send_file(fcgi_req *req, const fcgi_file_reply *f)
{
    if (req->status)
        return;
    if (fcgi_etag_matches(fcgi_param(req, "HTTP_IF_NONE_MATCH"), f->sha256)) {
        put_status(req, 304);
        out_printf(req, "ETag: \"%s\"\r\nCache-Control: %s\r\n\r\n",
                     f->sha256, f->cache_control);
        return;
    }
    /* nginx takes over from here: the internal location (/_blobs/ for
     * local files, /_s3/ proxied to S3) adds the ETag from the blob's
     * name and serves ranges; Content-Type, Content-Disposition and
     * Cache-Control pass through the redirect, and the /_s3/ location
     * hides S3's own. The target is the store's, never a client's. */
    put_status(req, 200);
    out_printf(req,
                 "X-Accel-Redirect: %s\r\nContent-Type: %s\r\n"
                 "Content-Disposition: %s\r\nCache-Control: %s\r\n"
                 "X-Content-Type-Options: nosniff\r\n\r\n",
                 f->target, f->content_type, f->disposition, f->cache_control);
}

fg_result fcgi_send_stream_head(fcgi_req *req, const fcgi_file_reply *f, const char *name)
{
    char disp[FCGI_DISPOSITION_BYTES];
    if (req->status)
        return FG_EIO;
    fcgi_disposition(FCGI_DISPOSITION_ATTACHMENT, name, disp);
    put_status(req, 200);
    /* A zip is never a PDF: sandboxed like every stored file (nginx.conf). */
    out_printf(req, "Content-Type: %s\r\nContent-Disposition: %s\r\nCache-Control: %s\r\n"
               "X-Content-Type-Options: nosniff\r\nContent-Security-Policy: sandbox\r\n\r\n",
               f->content_type, disp, f->cache_control);
    return FCGX_GetError(req->fx->out) == 0 ? FG_OK : FG_EIO;
}
