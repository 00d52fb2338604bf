#include "fcgi/webhook_sig.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/id.h"

#define PREFIX "whsec_"
#define MAC_BYTES 32
#define B64_MAC_CHARS 44

/* Strict base64 (standard alphabet, padded, no whitespace) into out.
 * EVP_DecodeBlock alone skips surrounding whitespace and counts padding as
 * output bytes, so the shape is checked here and the padding subtracted. */
static int b64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
                      size_t *outlen)
{
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > cap)
        return 0;
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (c == '=' && i >= n - 2)
            pad++;
        else if (!alpha || pad)
            return 0;
    }
    int got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (got < 0 || (size_t)got < pad)
        return 0;
    *outlen = (size_t)got - pad;
    /* Canonical only: the unused low bits of the last character must be
     * zero, so one key or signature has exactly one spelling. */
    unsigned char back[4];
    size_t tail = *outlen % 3 ? *outlen % 3 : 3;
    if (*outlen == 0 ||
        EVP_EncodeBlock(back, out + *outlen - tail, (int)tail) != 4 ||
        memcmp(back, in + n - 4, 4) != 0)
        return 0;
    return 1;
}

fg_result fcgi_webhook_key_init(struct fcgi_webhook_key *k, const char *secret,
                                fg_reason *r)
{
    unsigned char buf[FG_WEBHOOK_MAX_KEY_BYTES + 3];
    size_t len = 0;

    memset(k, 0, sizeof *k);
    if (!secret || !*secret)
        return fg_fail(r, FG_EUSAGE, "webhook secret is empty");
    if (strncmp(secret, PREFIX, strlen(PREFIX)) == 0)
        secret += strlen(PREFIX);
    if (!b64_decode(secret, strlen(secret), buf, sizeof buf, &len)) {
        OPENSSL_cleanse(buf, sizeof buf);
        return fg_fail(r, FG_EUSAGE,
                       "webhook secret is not whsec_ followed by base64 of at "
                       "most %d bytes",
                       FG_WEBHOOK_MAX_KEY_BYTES);
    }
    if (len < FG_WEBHOOK_MIN_KEY_BYTES || len > FG_WEBHOOK_MAX_KEY_BYTES) {
        OPENSSL_cleanse(buf, sizeof buf);
        return fg_fail(r, FG_EUSAGE,
                       "webhook secret key is %zu bytes, want %d to %d", len,
                       FG_WEBHOOK_MIN_KEY_BYTES, FG_WEBHOOK_MAX_KEY_BYTES);
    }
    memcpy(k->key, buf, len);
    k->len = len;
    OPENSSL_cleanse(buf, sizeof buf);
    return FG_OK;
}

void fcgi_webhook_key_release(struct fcgi_webhook_key *k)
{
    if (k)
        OPENSSL_cleanse(k, sizeof *k);
}

/* HMAC-SHA256 of id "." ts "." body, streamed: the body is not copied. */
static int mac(const struct fcgi_webhook_key *k, const char *id,
               const char *ts, const void *body, size_t body_len,
               unsigned char out[MAC_BYTES])
{
    EVP_MAC *m = NULL;
    EVP_MAC_CTX *ctx = NULL;
    int ok = 0;
    size_t outl = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };

    m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!m)
        goto out;
    ctx = EVP_MAC_CTX_new(m);
    if (!ctx || !EVP_MAC_init(ctx, k->key, k->len, params))
        goto out;
    if (!EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
        !EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
        (body_len && !EVP_MAC_update(ctx, body, body_len)) ||
        !EVP_MAC_final(ctx, out, &outl, MAC_BYTES) || outl != MAC_BYTES)
        goto out;
    ok = 1;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    return ok;
}

/* A webhook id is an id (common/id.h): it is stored as the replay key and
 * written to logs and the audit trail. */
static int id_ok(const char *id)
{
    return fg_id_valid(id);
}

/* Unix seconds as sent: digits only, no sign, no spaces, no overflow. */
static int parse_ts(const char *s, long long *v)
{
    if (!*s || strlen(s) > 18)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    errno = 0;
    char *end = NULL;
    long long t = strtoll(s, &end, 10);
    if (errno || *end)
        return 0;
    *v = t;
    return 1;
}

static fg_result refuse(enum fcgi_webhook_why *why, enum fcgi_webhook_why w,
                        fg_reason *r, const char *text)
{
    if (why)
        *why = w;
    return fg_fail(r, FG_EAUTH, "webhook refused: %s", text);
}

fg_result fcgi_webhook_verify(const struct fcgi_webhook_key *k, const char *id,
                              const char *timestamp, const char *signature,
                              const void *body, size_t body_len, long long now,
                              enum fcgi_webhook_why *why, fg_reason *r)
{
    return fcgi_webhook_verify_any(k, 1, id, timestamp, signature, body, body_len, now, why, r);
}

fg_result fcgi_webhook_verify_any(const struct fcgi_webhook_key *keys, size_t nkeys,
                                  const char *id, const char *timestamp, const char *signature,
                                  const void *body, size_t body_len, long long now,
                                  enum fcgi_webhook_why *why, fg_reason *r)
{
    unsigned char want[FCGI_WEBHOOK_KEYS_MAX][MAC_BYTES], got[MAC_BYTES + 3];
    long long ts = 0;
    fg_result res;

    if (why)
        *why = FCGI_WEBHOOK_OK;
    if (!keys || nkeys < 1 || nkeys > FCGI_WEBHOOK_KEYS_MAX)
        return fg_fail(r, FG_EUSAGE, "webhook check: 1 to %d keys, not %zu",
                       FCGI_WEBHOOK_KEYS_MAX, nkeys);
    if (!id || !timestamp || !signature)
        return refuse(why, FCGI_WEBHOOK_MALFORMED, r,
                      "webhook-id, webhook-timestamp or webhook-signature "
                      "header missing");
    if (!id_ok(id))
        return refuse(why, FCGI_WEBHOOK_MALFORMED, r, "bad webhook-id header");
    if (!parse_ts(timestamp, &ts))
        return refuse(why, FCGI_WEBHOOK_MALFORMED, r,
                      "webhook-timestamp is not unix seconds");
    size_t sig_len = strnlen(signature, FG_WEBHOOK_MAX_SIG_HEADER_BYTES + 1);
    if (sig_len == 0 || sig_len > FG_WEBHOOK_MAX_SIG_HEADER_BYTES)
        return refuse(why, FCGI_WEBHOOK_MALFORMED, r,
                      "webhook-signature header empty or too long");
    if (ts < now - FG_WEBHOOK_TOLERANCE_SECONDS)
        return refuse(why, FCGI_WEBHOOK_STALE, r,
                      "timestamp too old (replay window exceeded)");
    if (ts > now + FG_WEBHOOK_TOLERANCE_SECONDS)
        return refuse(why, FCGI_WEBHOOK_FUTURE, r, "timestamp in the future");

    for (size_t i = 0; i < nkeys; i++)
        if (!mac(&keys[i], id, timestamp, body, body_len, want[i])) {
            OPENSSL_cleanse(want, sizeof want);
            if (why)
                *why = FCGI_WEBHOOK_BAD_SIGNATURE;
            return fg_fail(r, FG_EIO, "webhook check failed: hmac unavailable");
        }

    /* Walk "v1,AAA v1,BBB v2,CCC": every v1 entry is compared, whether or
     * not an earlier one matched, so the time taken does not say which. */
    int match = 0;
    const char *p = signature;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        size_t n = (size_t)(e - p);
        size_t glen = 0;
        if (n > 3 && memcmp(p, "v1,", 3) == 0 && n - 3 == B64_MAC_CHARS &&
            b64_decode(p + 3, n - 3, got, sizeof got, &glen) &&
            glen == MAC_BYTES)
            for (size_t i = 0; i < nkeys; i++)
                match |= CRYPTO_memcmp(got, want[i], MAC_BYTES) == 0;
        p = e;
    }
    if (match) {
        res = FG_OK;
    } else {
        res = refuse(why, FCGI_WEBHOOK_BAD_SIGNATURE, r,
                     "no matching v1 signature");
    }
    OPENSSL_cleanse(want, sizeof want);
    return res;
}

fg_result fcgi_webhook_sign(const struct fcgi_webhook_key *k, const char *id,
                            long long timestamp, const void *body,
                            size_t body_len, char out[FCGI_WEBHOOK_SIG_BYTES],
                            fg_reason *r)
{
    unsigned char m[MAC_BYTES];
    char ts[24];

    out[0] = '\0';
    if (!id || !id_ok(id))
        return fg_fail(r, FG_EUSAGE, "cannot sign webhook: bad id");
    if (timestamp < 0)
        return fg_fail(r, FG_EUSAGE, "cannot sign webhook: negative timestamp");
    snprintf(ts, sizeof ts, "%lld", timestamp);
    if (!mac(k, id, ts, body, body_len, m))
        return fg_fail(r, FG_EIO, "cannot sign webhook: hmac unavailable");
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, m, MAC_BYTES);
    OPENSSL_cleanse(m, sizeof m);
    return FG_OK;
}
