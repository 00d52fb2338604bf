/* ListObjectsV2, page by page. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/s3.h"
#include "storage/s3_impl.h"
#include "storage/s3_sign.h"
#include "storage/s3_xml.h"

/* Longest continuation token kept (AWS's are ~100 bytes). */
#define TOKEN_MAX 1024

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "2026-11-28T11:19:43.000Z" (fraction optional) to unix seconds. */
static bool parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, se;
    memset(&tm, 0, sizeof tm);
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':' || !digits(s, 4, &y) ||
        !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
        !digits(s + 17, 2, &se) || mo < 1 || mo > 12 || d < 1 || d > 31 ||
        h > 23 || mi > 59 || se > 60 || s[strlen(s) - 1] != 'Z')
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *out = (int64_t)timegm(&tm);
    return true;
}

static bool parse_size(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!*s || strlen(s) > 18)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return true;
}

/* Calls fn for each <Contents> of one page; *stop when fn said so. */
static fg_result each_entry(const s3_req *req, s3_list_fn fn, void *ctx,
                            bool *stop, fg_reason *r)
{
    const char *p = req->body, *end = req->body + req->body_len, *in;
    size_t n;
    char key[S3_KEY_MAX + 1], num[32], when[40];
    while (s3_xml_next(&p, end, "Contents", &in, &n)) {
        int64_t size, mtime;
        if (!s3_xml_text(in, n, "Key", key, sizeof key) ||
            !s3_xml_text(in, n, "Size", num, sizeof num) || !parse_size(num, &size) ||
            !s3_xml_text(in, n, "LastModified", when, sizeof when) ||
            !parse_time(when, &mtime))
            return fg_fail(r, FG_EIO, "s3 GET list: malformed <Contents> in the answer");
        if (!fn(ctx, key, size, mtime)) {
            *stop = true;
            break;
        }
    }
    return FG_OK;
}

fg_result s3_list(s3_client *c, const char *prefix, s3_list_fn fn, void *ctx,
                  fg_reason *r)
{
    fg_result res = FG_OK;
    CURL *h = NULL;
    char *query = NULL, *token = NULL, *prev = NULL;
    size_t qcap = 3 * (TOKEN_MAX + S3_KEY_MAX) + 64;
    bool stop = false;
    s3_req req;

    s3_req_init(&req, "GET", NULL, NULL);
    if (strlen(prefix) > S3_KEY_MAX)
        return fg_fail(r, FG_EUSAGE, "s3: a list prefix is at most %d bytes", S3_KEY_MAX);
    query = malloc(qcap);
    token = calloc(1, TOKEN_MAX);
    prev = calloc(1, TOKEN_MAX);
    if (!query || !token || !prev) {
        res = fg_fail(r, FG_EIO, "s3: out of memory");
        goto out;
    }
    if ((res = s3_handle_new(&h, r)) != FG_OK)
        goto out;
    for (;;) {
        /* Canonical order: continuation-token < list-type < prefix. */
        size_t len = 0;
        query[0] = '\0';
        if (token[0]) {
            len = (size_t)snprintf(query, qcap, "continuation-token=");
            if ((res = s3_uri_encode(token, false, query, qcap, &len, r)) != FG_OK)
                goto out;
            query[len++] = '&';
        }
        len += (size_t)snprintf(query + len, qcap - len, "list-type=2&prefix=");
        if ((res = s3_uri_encode(prefix, false, query, qcap, &len, r)) != FG_OK)
            goto out;

        s3_req_release(&req);
        s3_req_init(&req, "GET", NULL, query);
        if ((res = s3_perform(c, h, &req, r)) != FG_OK)
            goto out;
        if (!req.body) {
            res = fg_fail(r, FG_EIO, "s3 GET list: empty answer");
            goto out;
        }
        if ((res = each_entry(&req, fn, ctx, &stop, r)) != FG_OK || stop)
            goto out;
        char trunc[8] = "";
        if (!s3_xml_text(req.body, req.body_len, "IsTruncated", trunc, sizeof trunc) ||
            strcmp(trunc, "true") != 0)
            break;
        memcpy(prev, token, TOKEN_MAX);
        if (!s3_xml_text(req.body, req.body_len, "NextContinuationToken", token,
                         TOKEN_MAX) || !token[0] || strcmp(token, prev) == 0) {
            /* Without a new token the next page would be this one again:
             * a server that does this would have us loop forever. */
            res = fg_fail(r, FG_EIO, "s3 GET list: truncated page without a new "
                                     "continuation token");
            goto out;
        }
    }
out:
    s3_req_release(&req);
    if (h)
        curl_easy_cleanup(h);
    free(query);
    free(token);
    free(prev);
    return res;
}
