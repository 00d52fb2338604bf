#include "fcgi/download_count.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fcgi/http.h"
#include "fcgi/worker.h"
#include "storage/blob.h"

typedef enum { WHOLE, FROM_ZERO, LATER, REFUSED } range_answer;

static const char *spaces(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* Reads digits into *v; false on none or on overflow (nginx refuses
 * both). */
static bool number(const char **pp, int64_t *v)
{
    const char *p = *pp;
    int64_t n = 0;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9') {
        if (n > (INT64_MAX - (*p - '0')) / 10)
            return false;
        n = n * 10 + (*p++ - '0');
    }
    *v = n;
    *pp = p;
    return true;
}

/* nginx's answer to "bytes=" + spec on a file of size bytes, as its range
 * filter (ngx_http_range_parse) decides it. */
static range_answer answer(const char *spec, int64_t size)
{
    const char *p = spec;
    int64_t total = 0;
    bool any = false, zero = false;
    for (;;) {
        int64_t start = 0, end = 0;
        p = spaces(p);
        if (*p != '-') {
            if (!number(&p, &start))
                return REFUSED;
            p = spaces(p);
            if (*p++ != '-')
                return REFUSED;
            p = spaces(p);
            if (*p == ',' || *p == '\0') {
                end = size;
                goto found;
            }
            if (!number(&p, &end))
                return REFUSED;
            end = end >= size ? size : end + 1;
        } else {
            int64_t suffix = 0;
            p++;
            if (!number(&p, &suffix))
                return REFUSED;
            start = suffix < size ? size - suffix : 0;
            end = size;
        }
        p = spaces(p);
        if (*p != ',' && *p != '\0')
            return REFUSED;
    found:
        if (start < end) {
            any = true;
            zero = zero || start == 0;
            if (total > INT64_MAX - (end - start))
                return REFUSED;
            total += end - start;
        } else if (start == 0) {
            return WHOLE;
        }
        if (*p++ != ',')
            break;
    }
    if (!any)
        return REFUSED;
    if (total > size)
        return WHOLE;
    return zero ? FROM_ZERO : LATER;
}

bool fcgi_download_counts(const fcgi_download_req *q, const char *sha256, int64_t size)
{
    char etag[80];
    if (!q->method || strcmp(q->method, "GET") != 0)
        return false;
    if (fcgi_etag_matches(q->if_none_match, sha256))
        return false;
    const char *range = q->range;
    if (!range || strlen(range) < 7 || strncasecmp(range, "bytes=", 6) != 0)
        return true;
    if (q->if_range) {
        snprintf(etag, sizeof etag, "\"%s\"", sha256);
        if (strcmp(q->if_range, etag) != 0)
            return true;
    }
    range_answer a = answer(range + 6, size);
    return a == WHOLE || a == FROM_ZERO;
}

bool fcgi_download_counts_req(fcgi_req *req, const char *sha256, int64_t size)
{
    fcgi_download_req q = {
        .method = req->method,
        .if_none_match = fcgi_param(req, "HTTP_IF_NONE_MATCH"),
        .range = fcgi_param(req, "HTTP_RANGE"),
        .if_range = fcgi_param(req, "HTTP_IF_RANGE"),
    };
    if (q.range && size < 0) {
        fg_reason r = {{0}};
        bool exists = false;
        if (store_blob_stat(req->ctx->blobs, sha256, &exists, &size, &r) != FG_OK || !exists)
            size = 0;
    }
    return fcgi_download_counts(&q, sha256, size);
}
