/* AWS Signature Version 4: canonical requests, signing keys, presigned
 * URLs (storage/s3_sign.h says what and why). */
#include "storage/s3_sign.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/hex.h"

/* A canonical request holds a presigned URL's path and query (each at most
 * S3_URL_MAX) and a few short headers. */
#define CANONICAL_MAX (3 * S3_URL_MAX)

void s3_sha256_hex(const void *buf, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    /* Fails only when OpenSSL itself is broken (no SHA-256 provider): no
     * input can cause it, and going on would sign garbage. */
    if (!EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) || n != 32)
        abort();
    fg_hex_encode(md, 32, out);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

fg_result s3_uri_encode(const char *src, bool keep_slash, char *out,
                        size_t cap, size_t *len, fg_reason *r)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = *len;
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            if (o + 2 > cap)
                goto toobig;
            out[o++] = (char)*p;
        } else {
            if (o + 4 > cap)
                goto toobig;
            out[o++] = '%';
            out[o++] = digits[*p >> 4];
            out[o++] = digits[*p & 15];
        }
    }
    if (o + 1 > cap)
        goto toobig;
    out[o] = '\0';
    *len = o;
    return FG_OK;
toobig:
    if (cap > *len)
        out[*len] = '\0';
    return fg_fail(r, FG_ELIMIT, "s3: encoded url longer than %zu bytes", cap);
}

fg_result s3_amz_date(time_t t, char out[S3_AMZ_DATE_MAX], fg_reason *r)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year < 70 || tm.tm_year > 8099 ||
        strftime(out, S3_AMZ_DATE_MAX, "%Y%m%dT%H%M%SZ", &tm) != 16)
        return fg_fail(r, FG_EUSAGE, "s3: time %lld cannot be signed",
                       (long long)t);
    return FG_OK;
}

static bool hmac(const void *key, size_t klen, const char *msg,
                 unsigned char out[32])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
                strlen(msg), out, &n) != NULL &&
           n == 32;
}

/* Appends printf-style text to buf at *o; false when it does not fit. */
__attribute__((format(printf, 4, 5))) static bool append(char *buf, size_t cap,
                                                         size_t *o,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *o, cap - *o, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *o)
        return false;
    *o += (size_t)n;
    return true;
}

fg_result s3_sign(const s3_sign_input *in, char out[65], fg_reason *r)
{
    fg_result res = FG_OK;
    char *cr = NULL;
    size_t o = 0;
    unsigned char k[32], k2[32];
    char date[9];
    char sts[256];
    char crhash[65];

    if (strlen(in->amz_date) != 16)
        return fg_fail(r, FG_EUSAGE, "s3: bad signing date");
    memcpy(date, in->amz_date, 8);
    date[8] = '\0';

    cr = malloc(CANONICAL_MAX);
    if (!cr) {
        res = fg_fail(r, FG_EIO, "s3: out of memory");
        goto out;
    }
    if (!append(cr, CANONICAL_MAX, &o, "%s\n%s\n%s\n", in->method, in->path,
                in->query))
        goto toobig;
    for (size_t i = 0; i < in->nheaders; i++)
        if (!append(cr, CANONICAL_MAX, &o, "%s:%s\n", in->headers[i].name,
                    in->headers[i].value))
            goto toobig;
    if (!append(cr, CANONICAL_MAX, &o, "\n"))
        goto toobig;
    for (size_t i = 0; i < in->nheaders; i++)
        if (!append(cr, CANONICAL_MAX, &o, "%s%s", i ? ";" : "",
                    in->headers[i].name))
            goto toobig;
    if (!append(cr, CANONICAL_MAX, &o, "\n%s", in->payload))
        goto toobig;
    s3_sha256_hex(cr, o, crhash);

    int n = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
                     in->amz_date, date, in->region, in->service, crhash);
    if (n < 0 || (size_t)n >= sizeof sts)
        goto toobig;

    /* The signing key chain; the first key is "AWS4" + secret. */
    {
        char first[4 + 256 + 1];
        n = snprintf(first, sizeof first, "AWS4%s", in->secret);
        if (n < 0 || (size_t)n >= sizeof first) {
            OPENSSL_cleanse(first, sizeof first);
            res = fg_fail(r, FG_EUSAGE, "s3: secret key too long");
            goto out;
        }
        bool ok = hmac(first, (size_t)n, date, k);
        OPENSSL_cleanse(first, sizeof first);
        if (!ok || !hmac(k, 32, in->region, k2) || !hmac(k2, 32, in->service, k) ||
            !hmac(k, 32, "aws4_request", k2) || !hmac(k2, 32, sts, k)) {
            res = fg_fail(r, FG_EIO, "s3: hmac-sha256 failed");
            goto out;
        }
    }
    fg_hex_encode(k, 32, out);
    goto out;
toobig:
    res = fg_fail(r, FG_ELIMIT, "s3: canonical request longer than %d bytes",
                  CANONICAL_MAX);
out:
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(k2, sizeof k2);
    free(cr);
    return res;
}

/* One query parameter, encoded, for sorting. */
typedef struct qparam {
    char *text; /* "name=value", both encoded */
} qparam;

static int qparam_cmp(const void *a, const void *b)
{
    /* Sorted by encoded name, then value: comparing "name=value" whole
     * would put "a-b=..." after "a=..." wrongly, since '-' < '='. */
    const char *x = ((const qparam *)a)->text, *y = ((const qparam *)b)->text;
    size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
    int c = memcmp(x, y, nx < ny ? nx : ny);
    if (c)
        return c;
    if (nx != ny)
        return nx < ny ? -1 : 1;
    return strcmp(x + nx, y + ny);
}

fg_result s3_presign(const s3_presign_input *in, char *out, size_t cap,
                     fg_reason *r)
{
    enum { NBASE = 5 };
    fg_result res = FG_OK;
    qparam q[NBASE + S3_PRESIGN_PARAMS_MAX];
    size_t nq = 0;
    char amz[S3_AMZ_DATE_MAX], sig[65], cred[512], expires[24];
    char *query = NULL;
    size_t qlen = 0;

    memset(q, 0, sizeof q);
    if (in->expires < 1 || in->expires > 604800)
        return fg_fail(r, FG_EUSAGE,
                       "s3: a presigned url lives 1 to 604800 seconds, not %ld",
                       in->expires);
    if (in->nparams > S3_PRESIGN_PARAMS_MAX)
        return fg_fail(r, FG_EUSAGE, "s3: more than %d signed parameters",
                       S3_PRESIGN_PARAMS_MAX);
    res = s3_amz_date(in->now, amz, r);
    if (res != FG_OK)
        return res;
    int n = snprintf(cred, sizeof cred, "%s/%.8s/%s/s3/aws4_request",
                     in->access_key_id, amz, in->region);
    if (n < 0 || (size_t)n >= sizeof cred)
        return fg_fail(r, FG_EUSAGE, "s3: access key id too long");
    snprintf(expires, sizeof expires, "%ld", in->expires);

    const char *names[NBASE] = {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
                                "X-Amz-Expires", "X-Amz-SignedHeaders"};
    const char *values[NBASE] = {"AWS4-HMAC-SHA256", cred, amz, expires, "host"};
    for (size_t i = 0; i < NBASE + in->nparams; i++) {
        const char *name = i < NBASE ? names[i] : in->params[i - NBASE].name;
        const char *value = i < NBASE ? values[i] : in->params[i - NBASE].value;
        size_t len = 0, pcap = 3 * (strlen(name) + strlen(value)) + 2;
        q[nq].text = malloc(pcap);
        if (!q[nq].text) {
            res = fg_fail(r, FG_EIO, "s3: out of memory");
            goto out;
        }
        nq++;
        res = s3_uri_encode(name, false, q[nq - 1].text, pcap, &len, r);
        if (res == FG_OK) {
            q[nq - 1].text[len++] = '=';
            q[nq - 1].text[len] = '\0';
            res = s3_uri_encode(value, false, q[nq - 1].text, pcap, &len, r);
        }
        if (res != FG_OK)
            goto out;
    }
    qsort(q, nq, sizeof q[0], qparam_cmp);

    query = malloc(S3_URL_MAX);
    if (!query) {
        res = fg_fail(r, FG_EIO, "s3: out of memory");
        goto out;
    }
    for (size_t i = 0; i < nq; i++)
        if (!append(query, S3_URL_MAX, &qlen, "%s%s", i ? "&" : "", q[i].text)) {
            res = fg_fail(r, FG_ELIMIT, "s3: presigned url longer than %d bytes",
                          S3_URL_MAX);
            goto out;
        }
    if (qlen == 0)
        query[0] = '\0';

    s3_header host = {"host", in->host};
    s3_sign_input si = {
        .method = "GET", .path = in->path, .query = query,
        .headers = &host, .nheaders = 1, .payload = "UNSIGNED-PAYLOAD",
        .amz_date = amz, .region = in->region, .service = "s3",
        .secret = in->secret,
    };
    res = s3_sign(&si, sig, r);
    if (res != FG_OK)
        goto out;
    n = snprintf(out, cap, "%s://%s%s?%s&X-Amz-Signature=%s", in->scheme,
                 in->host, in->path, query, sig);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        res = fg_fail(r, FG_ELIMIT, "s3: presigned url longer than %zu bytes", cap);
    }
out:
    for (size_t i = 0; i < nq; i++)
        free(q[i].text);
    free(query);
    return res;
}
