/* The S3 client: settings, requests signed by libcurl, errors, and the
 * one-request operations (HEAD, GET, DELETE, presigned GET). Uploads are
 * in storage/s3_put.c, listings in storage/s3_list.c. */
#define _GNU_SOURCE
#include "storage/s3.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "storage/s3_impl.h"
#include "storage/s3_sign.h"
#include "storage/s3_xml.h"

/* A dead or stalled server fails a call instead of holding a worker
 * thread: connecting takes at most this long, and a transfer slower than
 * LOW_SPEED bytes a second for LOW_SPEED_TIME seconds is cut. */
#define CONNECT_TIMEOUT 10L
#define LOW_SPEED 1024L
#define LOW_SPEED_TIME 30L

/* Longest host, bucket, region, key id, secret accepted in settings. */
#define HOST_MAX 255
#define SECRET_MAX 256

/* ---- settings ---- */

static bool host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
}

/* Splits "http[s]://host[:port][/]" into scheme and host (with its port,
 * the scheme's default port left out: the Host header libcurl sends, and
 * so the one signed, has none). */
static fg_result parse_endpoint(const char *ep, char **scheme, char **host,
                                fg_reason *r)
{
    const char *rest;
    size_t n;
    if (!ep || !*ep)
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_ENDPOINT is not set");
    if (strncmp(ep, "http://", 7) == 0) {
        *scheme = strdup("http");
        rest = ep + 7;
    } else if (strncmp(ep, "https://", 8) == 0) {
        *scheme = strdup("https");
        rest = ep + 8;
    } else {
        return fg_fail(r, FG_EUSAGE,
                       "FILIGRANE_S3_ENDPOINT must start with http:// or https://");
    }
    if (!*scheme)
        return fg_fail(r, FG_EIO, "s3: out of memory");
    n = strlen(rest);
    if (n && rest[n - 1] == '/')
        n--;
    if (n == 0 || n > HOST_MAX)
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_ENDPOINT has no host");
    /* host: a name, an IPv4 address or [IPv6]; then :port. No path, user
     * info, query or fragment: the bucket and key make the path. */
    size_t i = 0, hostlen;
    if (rest[0] == '[') {
        while (i < n && rest[i] != ']')
            i++;
        if (i == n)
            return fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_ENDPOINT: unclosed [ in host");
        i++;
    } else {
        while (i < n && host_char(rest[i]))
            i++;
        if (i == 0)
            return fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_ENDPOINT has no host");
    }
    hostlen = i;
    if (i < n) {
        if (rest[i] != ':' || i + 1 == n || n - i - 1 > 5)
            return fg_fail(r, FG_EUSAGE,
                           "FILIGRANE_S3_ENDPOINT must be scheme://host[:port], "
                           "without a path, user or query");
        long port = 0;
        for (size_t k = i + 1; k < n; k++) {
            if (rest[k] < '0' || rest[k] > '9')
                return fg_fail(r, FG_EUSAGE,
                               "FILIGRANE_S3_ENDPOINT must be scheme://host[:port], "
                               "without a path, user or query");
            port = port * 10 + (rest[k] - '0');
        }
        if (port < 1 || port > 65535)
            return fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_ENDPOINT: port out of range");
        bool dflt = (port == 80 && strcmp(*scheme, "http") == 0) ||
                    (port == 443 && strcmp(*scheme, "https") == 0);
        if (!dflt)
            hostlen = n;
    }
    *host = strndup(rest, hostlen);
    if (!*host)
        return fg_fail(r, FG_EIO, "s3: out of memory");
    return FG_OK;
}

static bool bucket_valid(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63 || b[0] == '.' || b[0] == '-' || b[n - 1] == '.' ||
        b[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') ||
              b[i] == '.' || b[i] == '-'))
            return false;
    return true;
}

/* Printable ASCII without spaces, 1..max bytes. */
static bool token_valid(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    return true;
}

static bool region_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-'))
            return false;
    return true;
}

fg_result s3_client_new(const s3_config *cfg, s3_client **out, fg_reason *r)
{
    fg_result res = FG_OK;
    s3_client *c = NULL;
    const char *region = cfg->region && *cfg->region ? cfg->region : "us-east-1";

    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return fg_fail(r, FG_EIO, "s3: libcurl cannot start");
    c = calloc(1, sizeof *c);
    if (!c)
        return fg_fail(r, FG_EIO, "s3: out of memory");
    res = parse_endpoint(cfg->endpoint, &c->scheme, &c->host, r);
    if (res != FG_OK)
        goto out;
    if (!cfg->bucket || !bucket_valid(cfg->bucket)) {
        res = fg_fail(r, FG_EUSAGE,
                      "FILIGRANE_S3_BUCKET must be 3 to 63 of a-z 0-9 . - "
                      "(S3's bucket names)");
        goto out;
    }
    if (!region_valid(region)) {
        res = fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_REGION must be 1 to 32 of a-z 0-9 -");
        goto out;
    }
    if (!token_valid(cfg->access_key_id, 128)) {
        res = fg_fail(r, FG_EUSAGE,
                      "FILIGRANE_S3_ACCESS_KEY_ID must be 1 to 128 printable "
                      "characters without spaces");
        goto out;
    }
    /* The reason never quotes the secret, not even a part of it. */
    if (!token_valid(cfg->secret_access_key, SECRET_MAX)) {
        res = fg_fail(r, FG_EUSAGE,
                      "FILIGRANE_S3_SECRET_ACCESS_KEY must be 1 to %d printable "
                      "characters without spaces", SECRET_MAX);
        goto out;
    }
    if (cfg->addressing != S3_ADDRESSING_PATH &&
        cfg->addressing != S3_ADDRESSING_VIRTUAL) {
        res = fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_ADDRESSING must be path or virtual");
        goto out;
    }
    if (cfg->addressing == S3_ADDRESSING_VIRTUAL && c->host[0] == '[') {
        res = fg_fail(r, FG_EUSAGE,
                      "FILIGRANE_S3_ADDRESSING=virtual needs a host name, not an "
                      "IPv6 address, in FILIGRANE_S3_ENDPOINT");
        goto out;
    }
    c->part_size = cfg->part_size ? cfg->part_size : S3_PART_SIZE_DEFAULT;
    if (c->part_size < S3_PART_SIZE_MIN || c->part_size > S3_PART_SIZE_MAX) {
        res = fg_fail(r, FG_EUSAGE,
                      "FILIGRANE_S3_PART_SIZE must be between %lld (5 MiB) and "
                      "%lld (5 GiB) bytes",
                      (long long)S3_PART_SIZE_MIN, (long long)S3_PART_SIZE_MAX);
        goto out;
    }
    c->addressing = cfg->addressing;
    c->bucket = strdup(cfg->bucket);
    c->region = strdup(region);
    c->access_key_id = strdup(cfg->access_key_id);
    c->secret = strdup(cfg->secret_access_key);
    if (asprintf(&c->sigv4, "aws:amz:%s:s3", region) < 0)
        c->sigv4 = NULL;
    if (!c->bucket || !c->region || !c->access_key_id || !c->secret || !c->sigv4) {
        res = fg_fail(r, FG_EIO, "s3: out of memory");
        goto out;
    }
    *out = c;
    c = NULL;
out:
    s3_client_free(c);
    return res;
}

void s3_client_free(s3_client *c)
{
    if (!c)
        return;
    if (c->secret) {
        OPENSSL_cleanse(c->secret, strlen(c->secret));
        free(c->secret);
    }
    free(c->scheme);
    free(c->host);
    free(c->bucket);
    free(c->region);
    free(c->access_key_id);
    free(c->sigv4);
    free(c);
}

int64_t s3_client_part_size(const s3_client *c)
{
    return c->part_size;
}

fg_result s3_key_check(const char *key, fg_reason *r)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > S3_KEY_MAX)
        return fg_fail(r, FG_EUSAGE, "s3: an object key is 1 to %d bytes", S3_KEY_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
            return fg_fail(r, FG_EUSAGE, "s3: control character in an object key");
    return FG_OK;
}

/* ---- URLs ---- */

/* The host requests go to: the endpoint's, or bucket.endpoint's. */
static fg_result request_host(const s3_client *c, char *out, size_t cap,
                              fg_reason *r)
{
    int n = c->addressing == S3_ADDRESSING_VIRTUAL
                ? snprintf(out, cap, "%s.%s", c->bucket, c->host)
                : snprintf(out, cap, "%s", c->host);
    if (n < 0 || (size_t)n >= cap)
        return fg_fail(r, FG_ELIMIT, "s3: host name too long");
    return FG_OK;
}

/* The URI-encoded path of key (NULL: the bucket). Path style:
 * /bucket/key; virtual: /key. */
static fg_result request_path(const s3_client *c, const char *key, char *out,
                              size_t cap, fg_reason *r)
{
    size_t len = 0;
    fg_result res = FG_OK;
    out[0] = '\0';
    if (c->addressing == S3_ADDRESSING_PATH) {
        int n = snprintf(out, cap, "/%s%s", c->bucket, key ? "/" : "");
        if (n < 0 || (size_t)n >= cap)
            return fg_fail(r, FG_ELIMIT, "s3: url too long");
        len = (size_t)n;
    } else {
        out[0] = '/';
        out[1] = '\0';
        len = 1;
    }
    if (key)
        res = s3_uri_encode(key, true, out, cap, &len, r);
    return res;
}

/* ---- requests ---- */

void s3_req_init(s3_req *req, const char *method, const char *key,
                 const char *query)
{
    memset(req, 0, sizeof *req);
    req->method = method;
    req->key = key;
    req->query = query;
    req->in_fd = -1;
    req->out_fd = -1;
    req->content_length = -1;
}

void s3_req_release(s3_req *req)
{
    free(req->body);
    req->body = NULL;
    req->body_len = req->body_cap = 0;
}

fg_result s3_handle_new(CURL **h, fg_reason *r)
{
    *h = curl_easy_init();
    if (!*h)
        return fg_fail(r, FG_EIO, "s3: libcurl cannot make a handle");
    return FG_OK;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    s3_req *req = ud;
    size_t want = size * nmemb;
    int64_t left = req->in_len - req->in_pos;
    if ((int64_t)want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    if (req->in_fd < 0) {
        memcpy(buf, (const char *)req->in_mem + req->in_pos, want);
        req->in_pos += (int64_t)want;
        return want;
    }
    ssize_t n;
    do
        n = pread(req->in_fd, buf, want, req->in_off + req->in_pos);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        /* A file that shrank under us must not be sent short. */
        req->local_errno = n < 0 ? errno : 0;
        req->local_what = "read the file to upload";
        return CURL_READFUNC_ABORT;
    }
    req->in_pos += n;
    return (size_t)n;
}

/* libcurl rewinds a body it must send again (a redirect or an auth
 * round: neither happens with SigV4, but honour it rather than send a
 * short body). */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    s3_req *req = ud;
    if (origin != SEEK_SET || offset < 0 || offset > req->in_len)
        return CURL_SEEKFUNC_FAIL;
    req->in_pos = offset;
    return CURL_SEEKFUNC_OK;
}

static bool keep_body(s3_req *req, const char *data, size_t n)
{
    if (req->body_toobig)
        return true;
    if (req->body_len + n > S3_BODY_MAX) {
        req->body_toobig = true;
        return true;
    }
    if (req->body_len + n + 1 > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 4096;
        while (cap < req->body_len + n + 1)
            cap *= 2;
        char *b = realloc(req->body, cap);
        if (!b)
            return false;
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return true;
}

typedef struct write_ctx {
    s3_req *req;
    CURL *h;
} write_ctx;

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    write_ctx *w = ud;
    s3_req *req = w->req;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
    if (req->out_fd >= 0 && status >= 200 && status < 300) {
        size_t done = 0;
        while (done < n) {
            ssize_t k = write(req->out_fd, data + done, n - done);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                req->local_errno = k < 0 ? errno : ENOSPC;
                req->local_what = "write the download";
                return CURL_WRITEFUNC_ERROR;
            }
            done += (size_t)k;
        }
        req->out_written += (int64_t)n;
        return n;
    }
    if (!keep_body(req, data, n)) {
        req->local_errno = ENOMEM;
        req->local_what = "keep the answer";
        return CURL_WRITEFUNC_ERROR;
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    s3_req *req = ud;
    size_t n = size * nmemb;
    /* A new status line (after a 100 Continue) starts the headers over. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        req->etag[0] = '\0';
    if (n > 5 && strncasecmp(data, "etag:", 5) == 0) {
        const char *v = data + 5, *e = data + n;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
            e--;
        if ((size_t)(e - v) < sizeof req->etag) {
            memcpy(req->etag, v, (size_t)(e - v));
            req->etag[e - v] = '\0';
        }
    }
    return n;
}

/* S3's <Code>, when the body is an error document: letters and digits
 * only, so a hostile server cannot put anything else into our logs. */
static void error_code(const s3_req *req, char *code, size_t cap)
{
    code[0] = '\0';
    if (req->body && s3_xml_text(req->body, req->body_len, "Code", code, cap)) {
        for (char *p = code; *p; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9'))) {
                code[0] = '\0';
                break;
            }
    }
    if (code[0])
        return;
    /* HEAD answers carry no body: name the status as S3 would. */
    const char *name = req->status == 404   ? "NotFound"
                       : req->status == 403 ? "Forbidden"
                       : req->status == 400 ? "BadRequest"
                       : req->status == 301 ? "PermanentRedirect"
                                            : "";
    snprintf(code, cap, "%s", name);
}

static fg_result fail_status(const s3_req *req, fg_reason *r)
{
    char code[64];
    error_code(req, code, sizeof code);
    fg_result kind = req->status == 404                          ? FG_ENOTFOUND
                     : (req->status == 401 || req->status == 403) ? FG_EAUTH
                                                                 : FG_EIO;
    if (strcmp(code, "NoSuchKey") == 0 || strcmp(code, "NoSuchBucket") == 0 ||
        strcmp(code, "NoSuchUpload") == 0)
        kind = FG_ENOTFOUND;
    return fg_fail(r, kind, "s3 %s %.80s: %ld %s", req->method,
                   req->key ? req->key : "bucket", req->status, code);
}

fg_result s3_perform(s3_client *c, CURL *h, s3_req *req, fg_reason *r)
{
    fg_result res = FG_OK;
    struct curl_slist *hdrs = NULL, *t;
    char *url = NULL, host[HOST_MAX + 80], *path = NULL;
    char line[128], errbuf[CURL_ERROR_SIZE] = "";
    write_ctx w = {req, h};
    CURLcode rc;

    s3_req_release(req);
    req->status = 0;
    req->out_written = 0;
    req->in_pos = 0;
    req->etag[0] = '\0';
    req->content_length = -1;
    req->body_toobig = false;
    req->local_errno = 0;
    req->local_what = NULL;

    url = malloc(S3_URL_MAX);
    path = malloc(S3_URL_MAX);
    if (!url || !path) {
        res = fg_fail(r, FG_EIO, "s3: out of memory");
        goto out;
    }
    res = request_host(c, host, sizeof host, r);
    if (res == FG_OK)
        res = request_path(c, req->key, path, S3_URL_MAX, r);
    if (res != FG_OK)
        goto out;
    int n = snprintf(url, S3_URL_MAX, "%s://%s%s%s%s", c->scheme, host, path,
                     req->query && *req->query ? "?" : "",
                     req->query ? req->query : "");
    if (n < 0 || n >= S3_URL_MAX) {
        res = fg_fail(r, FG_ELIMIT, "s3: url longer than %d bytes", S3_URL_MAX);
        goto out;
    }

    /* The payload hash is signed (libcurl puts x-amz-* headers in
     * SignedHeaders and takes this one as the payload hash instead of
     * hashing the body itself, which it cannot do for a streamed file). */
    snprintf(line, sizeof line, "x-amz-content-sha256: %s",
             req->payload_sha256 ? req->payload_sha256 : S3_EMPTY_SHA256);
    if (!(t = curl_slist_append(hdrs, line)))
        goto nomem;
    hdrs = t;
    /* No "Expect: 100-continue" round trip before a body: S3 answers
     * errors at once anyway, and the wait costs a second on servers that
     * ignore it. */
    if (!(t = curl_slist_append(hdrs, "Expect:")))
        goto nomem;
    hdrs = t;
    if (req->content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", req->content_type);
        if (!(t = curl_slist_append(hdrs, line)))
            goto nomem;
        hdrs = t;
    }

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, c->access_key_id);
    curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, req);

    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "PUT") == 0) {
        req->in_len = req->in_fd >= 0 ? req->in_len : (int64_t)req->in_mem_len;
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, req);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, req);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->in_len);
    } else if (strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->in_mem ? req->in_mem : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->in_mem_len);
    } else if (strcmp(req->method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }

    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &req->status);
    curl_off_t cl = -1;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK)
        req->content_length = cl;
    if (rc != CURLE_OK) {
        if (req->local_what)
            res = fg_fail(r, FG_EIO, "s3 %s %.80s: cannot %s: %s", req->method,
                          req->key ? req->key : "bucket", req->local_what,
                          req->local_errno ? strerrordesc_np(req->local_errno)
                                           : "file changed size");
        else
            /* libcurl's message names the host and the failure, never the
             * credentials (they are not in the URL). */
            res = fg_fail(r, FG_EIO, "s3 %s %.80s: cannot reach %s://%s: %s",
                          req->method, req->key ? req->key : "bucket", c->scheme,
                          c->host, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        goto out;
    }
    if (req->status < 200 || req->status > 299) {
        res = fail_status(req, r);
        goto out;
    }
    if (req->body_toobig) {
        res = fg_fail(r, FG_EIO, "s3 %s %.80s: answer longer than %d bytes",
                      req->method, req->key ? req->key : "bucket", S3_BODY_MAX);
        goto out;
    }
    goto out;
nomem:
    res = fg_fail(r, FG_EIO, "s3: out of memory");
out:
    /* The handle keeps pointers to our headers and buffers: drop them. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    free(url);
    free(path);
    return res;
}

/* ---- one-request operations ---- */

fg_result s3_head(s3_client *c, const char *key, bool *exists, int64_t *size,
                  fg_reason *r)
{
    fg_result res;
    CURL *h = NULL;
    s3_req req;

    *exists = false;
    if ((res = s3_key_check(key, r)) != FG_OK || (res = s3_handle_new(&h, r)) != FG_OK)
        return res;
    s3_req_init(&req, "HEAD", key, NULL);
    res = s3_perform(c, h, &req, r);
    if (res == FG_OK) {
        *exists = true;
        if (size)
            *size = req.content_length;
    } else if (res == FG_ENOTFOUND) {
        res = FG_OK;
        if (r)
            r->text[0] = '\0';
    }
    s3_req_release(&req);
    curl_easy_cleanup(h);
    return res;
}

fg_result s3_head_bucket(s3_client *c, fg_reason *r)
{
    fg_result res;
    CURL *h = NULL;
    s3_req req;

    if ((res = s3_handle_new(&h, r)) != FG_OK)
        return res;
    s3_req_init(&req, "HEAD", NULL, NULL);
    res = s3_perform(c, h, &req, r);
    if (res != FG_OK && req.status != 0) {
        /* A HEAD answer has no body, so no <Code>: ask again with a GET
         * (a one-key listing) to learn why, InvalidAccessKeyId,
         * SignatureDoesNotMatch or NoSuchBucket. */
        fg_reason why = {""};
        s3_req_init(&req, "GET", NULL, "list-type=2&max-keys=1");
        if (s3_perform(c, h, &req, &why) != FG_OK && req.status != 0) {
            fg_result kind = res;
            res = fg_fail(r, kind, "s3 HEAD bucket %s: %s", c->bucket,
                          strchr(why.text, ':') ? strchr(why.text, ':') + 2 : why.text);
        }
    }
    s3_req_release(&req);
    curl_easy_cleanup(h);
    return res;
}

fg_result s3_get_fd(s3_client *c, const char *key, int fd, int64_t *size,
                    fg_reason *r)
{
    fg_result res;
    CURL *h = NULL;
    s3_req req;

    if (size)
        *size = 0;
    if ((res = s3_key_check(key, r)) != FG_OK || (res = s3_handle_new(&h, r)) != FG_OK)
        return res;
    s3_req_init(&req, "GET", key, NULL);
    req.out_fd = fd;
    res = s3_perform(c, h, &req, r);
    if (res == FG_OK && req.content_length >= 0 && req.out_written != req.content_length)
        res = fg_fail(r, FG_EIO, "s3 GET %.80s: %lld of %lld bytes arrived", key,
                      (long long)req.out_written, (long long)req.content_length);
    if (size)
        *size = req.out_written;
    s3_req_release(&req);
    curl_easy_cleanup(h);
    return res;
}

fg_result s3_get_file(s3_client *c, const char *key, const char *path,
                      fg_reason *r)
{
    fg_result res;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return fg_fail(r, FG_EIO, "s3 GET %.80s: cannot create the local copy: %s",
                       key, strerrordesc_np(errno));
    res = s3_get_fd(c, key, fd, NULL, r);
    if (res == FG_OK && fsync(fd) != 0)
        res = fg_fail(r, FG_EIO, "s3 GET %.80s: cannot sync the local copy: %s", key,
                      strerrordesc_np(errno));
    if (close(fd) != 0 && res == FG_OK)
        res = fg_fail(r, FG_EIO, "s3 GET %.80s: cannot close the local copy: %s",
                      key, strerrordesc_np(errno));
    if (res != FG_OK)
        unlink(path);
    return res;
}

fg_result s3_delete(s3_client *c, const char *key, fg_reason *r)
{
    fg_result res;
    CURL *h = NULL;
    s3_req req;

    if ((res = s3_key_check(key, r)) != FG_OK || (res = s3_handle_new(&h, r)) != FG_OK)
        return res;
    s3_req_init(&req, "DELETE", key, NULL);
    res = s3_perform(c, h, &req, r);
    /* Some servers answer 404 for a key already gone: the same outcome. */
    if (res == FG_ENOTFOUND && req.status == 404) {
        res = FG_OK;
        if (r)
            r->text[0] = '\0';
    }
    s3_req_release(&req);
    curl_easy_cleanup(h);
    return res;
}

fg_result s3_presign_get(const s3_client *c, const char *key, long expires,
                         time_t now, const s3_param *params, size_t n,
                         char *out, size_t cap, fg_reason *r)
{
    fg_result res;
    char host[HOST_MAX + 80];
    char *path = NULL;

    if (cap)
        out[0] = '\0';
    if ((res = s3_key_check(key, r)) != FG_OK)
        return res;
    path = malloc(S3_URL_MAX);
    if (!path)
        return fg_fail(r, FG_EIO, "s3: out of memory");
    res = request_host(c, host, sizeof host, r);
    if (res == FG_OK)
        res = request_path(c, key, path, S3_URL_MAX, r);
    if (res == FG_OK) {
        s3_presign_input in = {
            .scheme = c->scheme, .host = host, .path = path,
            .region = c->region, .access_key_id = c->access_key_id,
            .secret = c->secret, .now = now, .expires = expires,
            .params = params, .nparams = n,
        };
        res = s3_presign(&in, out, cap, r);
    }
    free(path);
    return res;
}
