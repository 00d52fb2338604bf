#include "fcgi/jwt.h"

#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <jwt.h>
#include <stdlib.h>
#include <string.h>

#include "common/id.h"

const char *fcgi_role_name(enum fcgi_role role)
{
    switch (role) {
    case FCGI_ROLE_SELLER:
        return "seller";
    case FCGI_ROLE_BUYER:
        return "buyer";
    case FCGI_ROLE_ADMIN:
        return "admin";
    }
    return NULL;
}

enum fcgi_role fcgi_role_parse(const char *name)
{
    if (!name)
        return 0;
    if (strcmp(name, "seller") == 0)
        return FCGI_ROLE_SELLER;
    if (strcmp(name, "buyer") == 0)
        return FCGI_ROLE_BUYER;
    if (strcmp(name, "admin") == 0)
        return FCGI_ROLE_ADMIN;
    return 0;
}

/* sub and ord are compared with path segments and the store's ids and
 * written to logs and the audit trail: the one id rule (common/id.h), so
 * a token can name every order the store can hold and nothing else (no
 * CR/LF can ride along into a log line). */
static int id_ok(const char *s)
{
    return fg_id_valid(s);
}

/* libjwt reports a missing or non-integer grant through errno only. */
static int grant_int(jwt_t *jwt, const char *name, long long *v)
{
    errno = 0;
    long got = jwt_get_grant_int(jwt, name);
    if (errno != 0)
        return 0;
    *v = got;
    return 1;
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* Decodes n base64url characters (no padding) into out, which has room
 * for 3 * n / 4 bytes. Returns the length, or -1 if the text is not
 * base64url. */
static long b64url_decode(const char *s, size_t n, unsigned char *out)
{
    unsigned acc = 0;
    int bits = 0;
    long o = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o;
}

/* True when the segment (header or payload) is one JSON object in which
 * no object repeats a key. libjwt parses with jansson's defaults, which
 * keep the last of two equal keys: {"role":"buyer","role":"admin"} would
 * read as admin here and perhaps as buyer in the order system's own
 * parser. A token that two parsers may read differently is refused. */
static int segment_unambiguous(const char *s, size_t n)
{
    unsigned char buf[FG_JWT_MAX_TOKEN_BYTES];
    long len = n <= FG_JWT_MAX_TOKEN_BYTES ? b64url_decode(s, n, buf) : -1;
    if (len < 0)
        return 0;
    json_error_t err;
    json_t *doc = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, &err);
    int ok = json_is_object(doc);
    json_decref(doc);
    return ok;
}

/* Both JSON segments of the token (before the first and second dots). */
static int token_unambiguous(const char *token)
{
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    return d2 && segment_unambiguous(token, (size_t)(d1 - token)) &&
           segment_unambiguous(d1 + 1, (size_t)(d2 - d1 - 1));
}

fg_result fcgi_jwt_verify(const char *token, const char *secret, long long now,
                          struct fcgi_claims *out, fg_reason *r)
{
    return fcgi_jwt_verify_ttl(token, secret, now, FG_JWT_MAX_TTL_SECONDS, out, r);
}

/* The JSON object of one segment of the token (0: header, 1: payload),
 * or NULL if it is not one. The caller decrefs. */
static json_t *segment_json(const char *token, int which)
{
    unsigned char buf[FG_JWT_MAX_TOKEN_BYTES];
    const char *s = token, *d = strchr(token, '.');
    if (which == 1 && d) {
        s = d + 1;
        d = strchr(s, '.');
    }
    if (!d || (size_t)(d - s) > FG_JWT_MAX_TOKEN_BYTES)
        return NULL;
    long len = b64url_decode(s, (size_t)(d - s), buf);
    if (len < 0)
        return NULL;
    json_t *doc = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* A JSON string equal to want, byte for byte: "filigrane\u0000x" is not
 * "filigrane" (C's strcmp would stop at the NUL). */
static bool json_str_is(const json_t *v, const char *want)
{
    return json_is_string(v) && json_string_length(v) == strlen(want) &&
           memcmp(json_string_value(v), want, strlen(want)) == 0;
}

/* aud is a string equal to want, or an array holding it (RFC 7519 4.1.3). */
static bool audience_ok(const char *token, const char *want)
{
    json_t *p = segment_json(token, 1);
    json_t *aud = p ? json_object_get(p, "aud") : NULL;
    bool ok = false;
    if (json_is_string(aud)) {
        ok = json_str_is(aud, want);
    } else if (json_is_array(aud)) {
        size_t i;
        json_t *v;
        json_array_foreach(aud, i, v) ok = ok || json_str_is(v, want);
    }
    json_decref(p);
    return ok;
}

static fg_result verify(const char *token, const char *secret, long long now,
                        long long max_ttl, const char *audience, struct fcgi_claims *out,
                        const char **code, fg_reason *r);

fg_result fcgi_jwt_verify_ttl(const char *token, const char *secret, long long now,
                              long long max_ttl, struct fcgi_claims *out, fg_reason *r)
{
    return verify(token, secret, now, max_ttl, NULL, out, NULL, r);
}

bool fcgi_jwt_kid_valid(const char *kid)
{
    size_t n = kid ? strnlen(kid, FCGI_JWT_KID_MAX + 1) : 0;
    return n >= 1 && n <= FCGI_JWT_KID_MAX &&
           strspn(kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

fg_result fcgi_jwt_verify_policy(const char *token, const struct fcgi_jwt_policy *p,
                                 long long now, struct fcgi_claims *out, const char **code,
                                 fg_reason *r)
{
    const char *secret = p->secret;
    if (code)
        *code = NULL;
    memset(out, 0, sizeof *out);
    if (!token || !*token)
        return fg_fail(r, FG_EAUTH, "invalid token: empty");
    if (strnlen(token, FG_JWT_MAX_TOKEN_BYTES + 1) > FG_JWT_MAX_TOKEN_BYTES)
        return fg_fail(r, FG_EAUTH, "invalid token: longer than %d bytes",
                       FG_JWT_MAX_TOKEN_BYTES);
    /* The header is read before the signature is checked, to choose the
     * secret; nothing else of it is trusted yet. */
    json_t *h = segment_json(token, 0);
    if (!h)
        return fg_fail(r, FG_EAUTH, "invalid token: malformed header");
    json_t *kid = json_object_get(h, "kid");
    if (kid) {
        const char *k = json_string_value(kid);
        if (!fcgi_jwt_kid_valid(k) || strlen(k) != json_string_length(kid)) {
            json_decref(h);
            return fg_fail(r, FG_EAUTH, "invalid token: kid must be 1 to %d of A-Z a-z 0-9 . _ -",
                           FCGI_JWT_KID_MAX);
        }
        secret = NULL;
        for (size_t i = 0; i < p->n_keys && !secret; i++)
            if (strcmp(p->keys[i].kid, k) == 0)
                secret = p->keys[i].secret;
        if (!secret) {
            if (code)
                *code = "unknown_kid";
            fg_result rc = fg_fail(r, FG_EAUTH,
                                   "invalid token: kid \"%s\" is not in FILIGRANE_JWT_SECRETS", k);
            json_decref(h);
            return rc;
        }
    }
    json_decref(h);
    if (!secret) {
        if (code)
            *code = "unknown_kid";
        return fg_fail(r, FG_EAUTH, "invalid token: no kid, and FILIGRANE_JWT_SECRET is not set");
    }
    return verify(token, secret, now, p->max_ttl, p->audience, out, code, r);
}

static fg_result verify(const char *token, const char *secret, long long now,
                        long long max_ttl, const char *audience, struct fcgi_claims *out,
                        const char **code, fg_reason *r)
{
    jwt_t *jwt = NULL;
    fg_result res;
    long long v;

    memset(out, 0, sizeof *out);
    if (!secret || !*secret)
        return fg_fail(r, FG_EUSAGE, "cannot verify token: no secret");
    if (!token || !*token)
        return fg_fail(r, FG_EAUTH, "invalid token: empty");
    if (strnlen(token, FG_JWT_MAX_TOKEN_BYTES + 1) > FG_JWT_MAX_TOKEN_BYTES)
        return fg_fail(r, FG_EAUTH, "invalid token: longer than %d bytes",
                       FG_JWT_MAX_TOKEN_BYTES);

    /* Always with the key: without one libjwt parses unsigned tokens. */
    int rc = jwt_decode(&jwt, token, (const unsigned char *)secret,
                        (int)strlen(secret));
    if (rc == ENOMEM) {
        res = fg_fail(r, FG_EIO, "cannot verify token: out of memory");
        goto out;
    }
    if (rc != 0 || !jwt) {
        res = fg_fail(r, FG_EAUTH, "invalid token: malformed or bad signature");
        goto out;
    }
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        res = fg_fail(r, FG_EAUTH, "invalid token: algorithm is not HS256");
        goto out;
    }
    if (!token_unambiguous(token)) {
        res = fg_fail(r, FG_EAUTH, "invalid token: a JSON key is repeated");
        goto out;
    }

    if (!grant_int(jwt, "exp", &out->exp)) {
        res = fg_fail(r, FG_EAUTH, "invalid token: no integer exp claim");
        goto out;
    }
    if (now - FG_JWT_CLOCK_SKEW_SECONDS >= out->exp) { /* no overflow */
        res = fg_fail(r, FG_EAUTH, "invalid token: expired");
        goto out;
    }
    if (grant_int(jwt, "nbf", &v) && v > now + FG_JWT_CLOCK_SKEW_SECONDS) {
        res = fg_fail(r, FG_EAUTH, "invalid token: not valid yet (nbf)");
        goto out;
    }
    if (grant_int(jwt, "iat", &v)) {
        if (v > now + FG_JWT_CLOCK_SKEW_SECONDS) {
            res = fg_fail(r, FG_EAUTH, "invalid token: issued in the future");
            goto out;
        }
        out->iat = v;
    }
    /* A token lives at most max_ttl (FILIGRANE_JWT_MAX_TTL): from its iat,
     * or from now when it has none (with the skew for the minter's clock).
     * exp = 2^63 - 1 would otherwise be a key for ever. */
    long long life;
    bool too_long = grant_int(jwt, "iat", &v)
                        ? __builtin_sub_overflow(out->exp, v, &life) || life > max_ttl
                        : __builtin_sub_overflow(out->exp, now, &life) ||
                              life > max_ttl + FG_JWT_CLOCK_SKEW_SECONDS;
    if (too_long) {
        res = fg_fail(r, FG_EAUTH, "invalid token: lives longer than FILIGRANE_JWT_MAX_TTL (%lld s)",
                      max_ttl);
        goto out;
    }

    /* A token minted for another service sharing the secret (or the
     * order system's other audiences) is not ours. */
    if (audience && !audience_ok(token, audience)) {
        if (code)
            *code = "bad_audience";
        res = fg_fail(r, FG_EAUTH, "invalid token: aud does not hold FILIGRANE_JWT_AUDIENCE");
        goto out;
    }

    out->role = fcgi_role_parse(jwt_get_grant(jwt, "role"));
    if (!out->role) {
        res = fg_fail(r, FG_EAUTH,
                      "invalid token: role must be seller, buyer or admin");
        goto out;
    }
    const char *sub = jwt_get_grant(jwt, "sub");
    if (!sub || !id_ok(sub)) {
        res = fg_fail(r, FG_EAUTH, "invalid token: missing or bad sub claim");
        goto out;
    }
    memcpy(out->sub, sub, strlen(sub) + 1);

    const char *ord = jwt_get_grant(jwt, "ord");
    if (!ord && out->role != FCGI_ROLE_ADMIN) {
        res = fg_fail(r, FG_EAUTH, "invalid token: %s token without ord claim",
                      fcgi_role_name(out->role));
        goto out;
    }
    if (ord) {
        if (!id_ok(ord)) {
            res = fg_fail(r, FG_EAUTH, "invalid token: bad ord claim");
            goto out;
        }
        memcpy(out->ord, ord, strlen(ord) + 1);
    }
    res = FG_OK;
out:
    jwt_free(jwt);
    if (res != FG_OK)
        memset(out, 0, sizeof *out);
    return res;
}

fg_result fcgi_jwt_mint(const char *secret, enum fcgi_role role,
                        const char *sub, const char *ord, long long ttl,
                        long long now, char **token, fg_reason *r)
{
    return fcgi_jwt_mint_ex(secret, NULL, NULL, role, sub, ord, ttl, now, token, r);
}

fg_result fcgi_jwt_mint_ex(const char *secret, const char *kid, const char *audience,
                           enum fcgi_role role, const char *sub, const char *ord,
                           long long ttl, long long now, char **token, fg_reason *r)
{
    jwt_t *jwt = NULL;
    fg_result res;

    *token = NULL;
    if (kid && !fcgi_jwt_kid_valid(kid))
        return fg_fail(r, FG_EUSAGE, "cannot mint token: kid must be 1 to %d of A-Z a-z 0-9 . _ -",
                       FCGI_JWT_KID_MAX);
    if (audience && (!*audience || strlen(audience) > FCGI_JWT_AUDIENCE_MAX))
        return fg_fail(r, FG_EUSAGE, "cannot mint token: audience must be 1 to %d bytes",
                       FCGI_JWT_AUDIENCE_MAX);
    if (!secret || !*secret)
        return fg_fail(r, FG_EUSAGE, "cannot mint token: no secret");
    if (!fcgi_role_name(role))
        return fg_fail(r, FG_EUSAGE, "cannot mint token: unknown role");
    if (!sub || !id_ok(sub))
        return fg_fail(r, FG_EUSAGE,
                       "cannot mint token: sub must be 1 to %d printable bytes",
                       FG_JWT_MAX_ID_BYTES);
    if (!ord && role != FCGI_ROLE_ADMIN)
        return fg_fail(r, FG_EUSAGE, "cannot mint token: a %s token needs ord",
                       fcgi_role_name(role));
    if (ord && !id_ok(ord))
        return fg_fail(r, FG_EUSAGE,
                       "cannot mint token: ord must be 1 to %d printable bytes",
                       FG_JWT_MAX_ID_BYTES);
    if (ttl < 1 || ttl > FG_JWT_MAX_TTL_SECONDS)
        return fg_fail(r, FG_EUSAGE,
                       "cannot mint token: ttl must be 1 to %lld seconds",
                       FG_JWT_MAX_TTL_SECONDS);

    if (jwt_new(&jwt) != 0) {
        res = fg_fail(r, FG_EIO, "cannot mint token: out of memory");
        goto out;
    }
    if (jwt_add_grant(jwt, "sub", sub) != 0 ||
        jwt_add_grant(jwt, "role", fcgi_role_name(role)) != 0 ||
        (ord && jwt_add_grant(jwt, "ord", ord) != 0) ||
        (audience && jwt_add_grant(jwt, "aud", audience) != 0) ||
        (kid && jwt_add_header(jwt, "kid", kid) != 0) ||
        jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)(now + ttl)) != 0 ||
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret,
                    (int)strlen(secret)) != 0) {
        res = fg_fail(r, FG_EIO, "cannot mint token: libjwt refused a claim");
        goto out;
    }
    *token = jwt_encode_str(jwt);
    if (!*token) {
        res = fg_fail(r, FG_EIO, "cannot mint token: encoding failed");
        goto out;
    }
    res = FG_OK;
out:
    jwt_free(jwt);
    return res;
}
