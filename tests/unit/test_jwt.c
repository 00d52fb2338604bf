#define TAP_MAIN
#include "tests/unit/tap.h"

#include "fcgi/jwt.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>

static const char *SECRET = "0123456789abcdef0123456789abcdef-test";
static const long long NOW = 1700000000;

/* base64url without padding, as JWT wants. */
static void b64url(const char *in, char *out, size_t cap)
{
    unsigned char tmp[2048];
    int n = EVP_EncodeBlock(tmp, (const unsigned char *)in, (int)strlen(in));
    size_t j = 0;
    for (int i = 0; i < n && j + 1 < cap; i++) {
        char c = (char)tmp[i];
        if (c == '=')
            break;
        out[j++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[j] = '\0';
}

/* A token with exactly these claims, signed by libjwt with alg and key. */
static char *make_token(jwt_alg_t alg, const char *key, const char *claims)
{
    jwt_t *jwt = NULL;
    CHECK(jwt_new(&jwt) == 0);
    CHECK(jwt_add_grants_json(jwt, claims) == 0);
    CHECK(jwt_set_alg(jwt, alg, (const unsigned char *)key,
                      key ? (int)strlen(key) : 0) == 0);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    CHECK(t != NULL);
    return t;
}

static fg_result verify(const char *token, struct fcgi_claims *c)
{
    fg_reason r = {{0}};
    return fcgi_jwt_verify(token, SECRET, NOW, c, &r);
}

static char *mint(enum fcgi_role role, const char *sub, const char *ord)
{
    char *t = NULL;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_jwt_mint(SECRET, role, sub, ord, 3600, NOW, &t, &r), FG_OK);
    return t;
}

TEST("a minted seller token verifies with its claims")
{
    char *t = mint(FCGI_ROLE_SELLER, "s-7", "ord-1");
    struct fcgi_claims c;
    CHECK_INT(verify(t, &c), FG_OK);
    CHECK_STR(c.sub, "s-7");
    CHECK_STR(c.ord, "ord-1");
    CHECK_INT(c.role, FCGI_ROLE_SELLER);
    CHECK_INT(c.exp, NOW + 3600);
    CHECK_INT(c.iat, NOW);
    free(t);
}

TEST("a minted admin token without ord verifies with an empty ord")
{
    char *t = mint(FCGI_ROLE_ADMIN, "ops", NULL);
    struct fcgi_claims c;
    CHECK_INT(verify(t, &c), FG_OK);
    CHECK_INT(c.role, FCGI_ROLE_ADMIN);
    CHECK_STR(c.ord, "");
    free(t);
}

TEST("an expired token is refused, within the skew it is accepted")
{
    char *t = mint(FCGI_ROLE_BUYER, "b-9", "ord-1");
    struct fcgi_claims c;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_jwt_verify(t, SECRET, NOW + 3600 + FG_JWT_CLOCK_SKEW_SECONDS,
                              &c, &r),
              FG_EAUTH);
    CHECK(strstr(r.text, "expired") != NULL);
    CHECK_INT(fcgi_jwt_verify(t, SECRET,
                              NOW + 3600 + FG_JWT_CLOCK_SKEW_SECONDS - 1, &c,
                              &r),
              FG_OK);
    free(t);
}

TEST("a token minted in the future (iat beyond the skew) is refused")
{
    struct fcgi_claims c;
    fg_reason r = {{0}};
    char *t = NULL;
    CHECK_INT(fcgi_jwt_mint(SECRET, FCGI_ROLE_BUYER, "b", "o", 60, NOW + 600,
                            &t, &r),
              FG_OK);
    CHECK_INT(verify(t, &c), FG_EAUTH);
    free(t);
}

TEST("a token with nbf in the future is refused")
{
    struct fcgi_claims c;
    char *t = make_token(JWT_ALG_HS256, SECRET,
                         "{\"sub\":\"b\",\"role\":\"buyer\",\"ord\":\"o\","
                         "\"exp\":1700003600,\"nbf\":1700000600}");
    CHECK_INT(verify(t, &c), FG_EAUTH);
    free(t);
}

TEST("a token without exp, or with a string exp, is refused")
{
    struct fcgi_claims c;
    char *t = make_token(JWT_ALG_HS256, SECRET,
                         "{\"sub\":\"b\",\"role\":\"buyer\",\"ord\":\"o\"}");
    CHECK_INT(verify(t, &c), FG_EAUTH);
    free(t);
    t = make_token(JWT_ALG_HS256, SECRET,
                   "{\"sub\":\"b\",\"role\":\"buyer\",\"ord\":\"o\","
                   "\"exp\":\"1700003600\"}");
    CHECK_INT(verify(t, &c), FG_EAUTH);
    free(t);
}

TEST("a hand-built alg none token with an empty signature is refused")
{
    char h[256], p[512], tok[1024];
    b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}", h, sizeof h);
    b64url("{\"sub\":\"b-9\",\"role\":\"admin\",\"exp\":1700003600}", p,
           sizeof p);
    snprintf(tok, sizeof tok, "%s.%s.", h, p);
    struct fcgi_claims c;
    CHECK_INT(verify(tok, &c), FG_EAUTH);
    /* Nor without the final dot, nor with "None" spelled otherwise. */
    snprintf(tok, sizeof tok, "%s.%s", h, p);
    CHECK_INT(verify(tok, &c), FG_EAUTH);
    b64url("{\"alg\":\"NONE\",\"typ\":\"JWT\"}", h, sizeof h);
    snprintf(tok, sizeof tok, "%s.%s.", h, p);
    CHECK_INT(verify(tok, &c), FG_EAUTH);
}

TEST("a libjwt-made alg none token is refused")
{
    char *t = make_token(JWT_ALG_NONE, NULL,
                         "{\"sub\":\"x\",\"role\":\"admin\",\"exp\":1700003600}");
    struct fcgi_claims c;
    CHECK_INT(verify(t, &c), FG_EAUTH);
    free(t);
}

TEST("HS384 and HS512 tokens signed with the same secret are refused")
{
    const char *claims = "{\"sub\":\"b\",\"role\":\"buyer\",\"ord\":\"o\","
                         "\"exp\":1700003600}";
    struct fcgi_claims c;
    fg_reason r = {{0}};
    char *t = make_token(JWT_ALG_HS512, SECRET, claims);
    CHECK_INT(fcgi_jwt_verify(t, SECRET, NOW, &c, &r), FG_EAUTH);
    CHECK(strstr(r.text, "HS256") != NULL);
    free(t);
    t = make_token(JWT_ALG_HS384, SECRET, claims);
    CHECK_INT(verify(t, &c), FG_EAUTH);
    free(t);
    /* The same claims in HS256 pass: the refusal is the algorithm. */
    t = make_token(JWT_ALG_HS256, SECRET, claims);
    CHECK_INT(verify(t, &c), FG_OK);
    free(t);
}

TEST("a tampered payload is refused")
{
    char *t = mint(FCGI_ROLE_BUYER, "b-9", "ord-1");
    char *dot1 = strchr(t, '.'), *dot2 = strrchr(t, '.');
    char p[512], forged[2048];
    b64url("{\"sub\":\"b-9\",\"role\":\"admin\",\"exp\":1700003600}", p,
           sizeof p);
    snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(dot1 - t), t, p, dot2);
    struct fcgi_claims c;
    CHECK_INT(verify(forged, &c), FG_EAUTH);
    free(t);
}

TEST("a tampered signature is refused")
{
    char *t = mint(FCGI_ROLE_BUYER, "b-9", "ord-1");
    size_t n = strlen(t);
    struct fcgi_claims c;
    /* Change the first signature character: the last one may only carry
     * padding bits that base64url decoders ignore. */
    char *sig = strrchr(t, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    CHECK_INT(verify(t, &c), FG_EAUTH);
    /* A signature cut short, or dropped. */
    sig[0] = '\0';
    CHECK_INT(verify(t, &c), FG_EAUTH);
    (void)n;
    free(t);
}

TEST("a token signed with another secret is refused")
{
    char *t = NULL;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_jwt_mint("another-secret-another-secret-xx", FCGI_ROLE_ADMIN,
                            "ops", NULL, 60, NOW, &t, &r),
              FG_OK);
    struct fcgi_claims c;
    CHECK_INT(verify(t, &c), FG_EAUTH);
    free(t);
}

TEST("claims rules: role, sub and ord are checked")
{
    static const struct {
        const char *claims;
        fg_result want;
    } rows[] = {
        {"{\"sub\":\"b\",\"ord\":\"o\",\"exp\":1700003600}", FG_EAUTH},
        {"{\"sub\":\"b\",\"role\":\"root\",\"ord\":\"o\",\"exp\":1700003600}",
         FG_EAUTH},
        {"{\"sub\":\"b\",\"role\":\"Buyer\",\"ord\":\"o\",\"exp\":1700003600}",
         FG_EAUTH},
        {"{\"sub\":\"b\",\"role\":1,\"ord\":\"o\",\"exp\":1700003600}", FG_EAUTH},
        {"{\"role\":\"buyer\",\"ord\":\"o\",\"exp\":1700003600}", FG_EAUTH},
        {"{\"sub\":\"\",\"role\":\"buyer\",\"ord\":\"o\",\"exp\":1700003600}",
         FG_EAUTH},
        {"{\"sub\":\"a\\nb\",\"role\":\"buyer\",\"ord\":\"o\",\"exp\":1700003600}",
         FG_EAUTH},
        {"{\"sub\":42,\"role\":\"buyer\",\"ord\":\"o\",\"exp\":1700003600}",
         FG_EAUTH},
        {"{\"sub\":\"b\",\"role\":\"buyer\",\"exp\":1700003600}", FG_EAUTH},
        {"{\"sub\":\"s\",\"role\":\"seller\",\"exp\":1700003600}", FG_EAUTH},
        {"{\"sub\":\"s\",\"role\":\"seller\",\"ord\":\"\",\"exp\":1700003600}",
         FG_EAUTH},
        {"{\"sub\":\"a\",\"role\":\"admin\",\"exp\":1700003600}", FG_OK},
        {"{\"sub\":\"a\",\"role\":\"admin\",\"ord\":\"o\",\"exp\":1700003600}",
         FG_OK},
        /* exp = 2^63 - 1: a key for ever, refused (lifetime over the cap). */
        {"{\"sub\":\"a\",\"role\":\"admin\",\"exp\":9223372036854775807}",
         FG_EAUTH},
        {"{\"sub\":\"a\",\"role\":\"admin\",\"exp\":-9223372036854775807}",
         FG_EAUTH},
        {"{\"sub\":\"a\",\"role\":\"admin\",\"exp\":1700003600.5}",
         FG_EAUTH},
        /* sub and ord follow the one id rule (common/id.h): a user id
         * of the order system is ASCII, never a display name. */
        {"{\"sub\":\"Zoë\",\"role\":\"buyer\",\"ord\":\"o\",\"exp\":1700003600}",
         FG_EAUTH},
        {"{\"sub\":\"b@x.example\",\"role\":\"buyer\",\"ord\":\"ord:42\",\"exp\":1700003600}",
         FG_OK},
        {"{\"sub\":\"b+1~x_y\",\"role\":\"buyer\",\"ord\":\"o-1.2\",\"exp\":1700003600}",
         FG_OK},
        {"{\"sub\":\".b\",\"role\":\"buyer\",\"ord\":\"o\",\"exp\":1700003600}",
         FG_EAUTH},
        {"{\"sub\":\"b\",\"role\":\"buyer\",\"ord\":\"o/1\",\"exp\":1700003600}",
         FG_EAUTH},
        {"{\"sub\":\"b c\",\"role\":\"buyer\",\"ord\":\"o\",\"exp\":1700003600}",
         FG_EAUTH},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *t = make_token(JWT_ALG_HS256, SECRET, rows[i].claims);
        struct fcgi_claims c;
        fg_result got = verify(t, &c);
        free(t);
        if (got != rows[i].want)
            TAP_FAIL("row %zu (%s): got %d want %d", i, rows[i].claims, got,
                     rows[i].want);
    }
}

TEST("a sub longer than the limit is refused, at the limit accepted")
{
    char claims[1024], sub[FG_JWT_MAX_ID_BYTES + 2];
    struct fcgi_claims c;
    memset(sub, 'u', sizeof sub - 1);
    sub[sizeof sub - 1] = '\0';
    snprintf(claims, sizeof claims,
             "{\"sub\":\"%s\",\"role\":\"admin\",\"exp\":1700003600}", sub);
    char *t = make_token(JWT_ALG_HS256, SECRET, claims);
    CHECK_INT(verify(t, &c), FG_EAUTH);
    free(t);
    sub[FG_JWT_MAX_ID_BYTES] = '\0';
    snprintf(claims, sizeof claims,
             "{\"sub\":\"%s\",\"role\":\"admin\",\"exp\":1700003600}", sub);
    t = make_token(JWT_ALG_HS256, SECRET, claims);
    CHECK_INT(verify(t, &c), FG_OK);
    CHECK_INT(strlen(c.sub), FG_JWT_MAX_ID_BYTES);
    free(t);
}

TEST("a token over the length limit is refused before decoding")
{
    char claims[FG_JWT_MAX_TOKEN_BYTES + 256];
    char pad[FG_JWT_MAX_TOKEN_BYTES];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    snprintf(claims, sizeof claims,
             "{\"sub\":\"a\",\"role\":\"admin\",\"exp\":1700003600,"
             "\"pad\":\"%s\"}",
             pad);
    char *t = make_token(JWT_ALG_HS256, SECRET, claims);
    struct fcgi_claims c;
    fg_reason r = {{0}};
    CHECK(strlen(t) > FG_JWT_MAX_TOKEN_BYTES);
    CHECK_INT(fcgi_jwt_verify(t, SECRET, NOW, &c, &r), FG_EAUTH);
    CHECK(strstr(r.text, "longer") != NULL);
    free(t);
}

TEST("garbage strings are refused")
{
    static const char *const bad[] = {
        "", ".", "..", "...", "a.b.c", "a.b", "abc", "Bearer x.y.z",
        "eyJhbGciOiJIUzI1NiJ9..", "eyJ.eyJ.eyJ", "!!!.###.$$$",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.",
        "e30.e30.e30", "W10.W10.W10", "bnVsbA.bnVsbA.bnVsbA",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fcgi_claims c;
        if (verify(bad[i], &c) != FG_EAUTH)
            TAP_FAIL("accepted \"%s\"", bad[i]);
    }
    struct fcgi_claims c;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_jwt_verify(NULL, SECRET, NOW, &c, &r), FG_EAUTH);
}

TEST("every truncated prefix of a valid token is refused without a crash")
{
    char *t = mint(FCGI_ROLE_SELLER, "s-7", "ord-1");
    size_t n = strlen(t);
    char *buf = malloc(n + 1);
    CHECK(buf != NULL);
    for (size_t i = 0; i < n; i++) {
        memcpy(buf, t, i);
        buf[i] = '\0';
        struct fcgi_claims c;
        fg_result got = verify(buf, &c);
        /* Dropping the last base64url character may leave the same bytes
         * (it can carry only padding bits); anything shorter must fail. */
        if (got == FG_OK && i + 1 < n)
            TAP_FAIL("prefix of %zu bytes accepted", i);
    }
    free(buf);
    free(t);
}

TEST("verify without a secret is a usage error, not a pass")
{
    char *t = mint(FCGI_ROLE_ADMIN, "ops", NULL);
    struct fcgi_claims c;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_jwt_verify(t, "", NOW, &c, &r), FG_EUSAGE);
    CHECK_INT(fcgi_jwt_verify(t, NULL, NOW, &c, &r), FG_EUSAGE);
    free(t);
}

TEST("mint refuses bad arguments")
{
    char *t = NULL;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_jwt_mint(SECRET, FCGI_ROLE_BUYER, "b", NULL, 60, NOW, &t, &r),
              FG_EUSAGE);
    CHECK_INT(fcgi_jwt_mint(SECRET, FCGI_ROLE_SELLER, "s", NULL, 60, NOW, &t, &r),
              FG_EUSAGE);
    CHECK_INT(fcgi_jwt_mint(SECRET, 0, "s", "o", 60, NOW, &t, &r), FG_EUSAGE);
    CHECK_INT(fcgi_jwt_mint(SECRET, FCGI_ROLE_ADMIN, "", NULL, 60, NOW, &t, &r),
              FG_EUSAGE);
    CHECK_INT(fcgi_jwt_mint(SECRET, FCGI_ROLE_ADMIN, "a", NULL, 0, NOW, &t, &r),
              FG_EUSAGE);
    CHECK_INT(fcgi_jwt_mint(SECRET, FCGI_ROLE_ADMIN, "a", NULL,
                            FG_JWT_MAX_TTL_SECONDS + 1, NOW, &t, &r),
              FG_EUSAGE);
    CHECK_INT(fcgi_jwt_mint("", FCGI_ROLE_ADMIN, "a", NULL, 60, NOW, &t, &r),
              FG_EUSAGE);
    CHECK(t == NULL);
}

/* A token built by hand (header and payload as given, not re-encoded by
 * libjwt), signed HS256 with SECRET. */
static void hand_token(const char *header, const char *payload, char *out, size_t cap)
{
    char h[1024], p[2048], sig64[128];
    unsigned char mac[32];
    unsigned int maclen = 0;
    b64url(header, h, sizeof h);
    b64url(payload, p, sizeof p);
    char signing[3200];
    snprintf(signing, sizeof signing, "%s.%s", h, p);
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)signing,
         strlen(signing), mac, &maclen);
    unsigned char tmp[64];
    int n = EVP_EncodeBlock(tmp, mac, (int)maclen);
    size_t j = 0;
    for (int i = 0; i < n && tmp[i] != '='; i++)
        sig64[j++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : (char)tmp[i];
    sig64[j] = '\0';
    snprintf(out, cap, "%s.%s", signing, sig64);
}

static fg_result verify_claims(const char *payload, long long max_ttl, fg_reason *r)
{
    char tok[4096];
    struct fcgi_claims c;
    hand_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, tok, sizeof tok);
    return fcgi_jwt_verify_ttl(tok, SECRET, NOW, max_ttl, &c, r);
}

TEST("a lifetime (exp - iat) of exactly the cap is accepted, one second more refused")
{
    static const long long caps[] = {FG_JWT_MAX_TTL_SECONDS, 3600, 1};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        char p[256];
        fg_reason r = {{0}};
        long long iat = NOW - 10;
        snprintf(p, sizeof p, "{\"sub\":\"a\",\"role\":\"admin\",\"iat\":%lld,\"exp\":%lld}",
                 iat, iat + caps[i]);
        CHECK_INT(verify_claims(p, caps[i], &r), FG_OK);
        snprintf(p, sizeof p, "{\"sub\":\"a\",\"role\":\"admin\",\"iat\":%lld,\"exp\":%lld}",
                 iat, iat + caps[i] + 1);
        CHECK_INT(verify_claims(p, caps[i], &r), FG_EAUTH);
        CHECK(strstr(r.text, "FILIGRANE_JWT_MAX_TTL") != NULL);
    }
    /* fcgi_jwt_verify uses the default cap, 30 days. */
    char *t = NULL;
    fg_reason r = {{0}};
    struct fcgi_claims c;
    CHECK_INT(fcgi_jwt_mint(SECRET, FCGI_ROLE_BUYER, "b", "o", FG_JWT_MAX_TTL_SECONDS, NOW, &t,
                            &r), FG_OK);
    CHECK_INT(fcgi_jwt_verify(t, SECRET, NOW, &c, &r), FG_OK);
    free(t);
}

TEST("without iat, exp - now over the cap (beyond the clock skew) is refused")
{
    char p[256];
    fg_reason r = {{0}};
    snprintf(p, sizeof p, "{\"sub\":\"a\",\"role\":\"admin\",\"exp\":%lld}",
             NOW + 3600 + FG_JWT_CLOCK_SKEW_SECONDS);
    CHECK_INT(verify_claims(p, 3600, &r), FG_OK);
    snprintf(p, sizeof p, "{\"sub\":\"a\",\"role\":\"admin\",\"exp\":%lld}",
             NOW + 3600 + FG_JWT_CLOCK_SKEW_SECONDS + 1);
    CHECK_INT(verify_claims(p, 3600, &r), FG_EAUTH);
}

TEST("exp = 2^63 - 1, with or without iat, and an iat of -2^63 are refused")
{
    fg_reason r = {{0}};
    CHECK_INT(verify_claims("{\"sub\":\"a\",\"role\":\"admin\",\"exp\":9223372036854775807}",
                            FG_JWT_MAX_TTL_SECONDS, &r), FG_EAUTH);
    CHECK_INT(verify_claims("{\"sub\":\"a\",\"role\":\"admin\",\"iat\":1700000000,"
                            "\"exp\":9223372036854775807}", FG_JWT_MAX_TTL_SECONDS, &r),
              FG_EAUTH);
    CHECK_INT(verify_claims("{\"sub\":\"a\",\"role\":\"admin\",\"iat\":-9223372036854775807,"
                            "\"exp\":1700003600}", FG_JWT_MAX_TTL_SECONDS, &r), FG_EAUTH);
}

TEST("an iat in the future is refused past the skew, accepted at its edge")
{
    char p[256];
    fg_reason r = {{0}};
    long long iat = NOW + FG_JWT_CLOCK_SKEW_SECONDS;
    snprintf(p, sizeof p, "{\"sub\":\"a\",\"role\":\"admin\",\"iat\":%lld,\"exp\":%lld}", iat,
             iat + 60);
    CHECK_INT(verify_claims(p, 3600, &r), FG_OK);
    snprintf(p, sizeof p, "{\"sub\":\"a\",\"role\":\"admin\",\"iat\":%lld,\"exp\":%lld}",
             iat + 1, iat + 61);
    CHECK_INT(verify_claims(p, 3600, &r), FG_EAUTH);
    CHECK(strstr(r.text, "future") != NULL);
}

TEST("a payload or header that repeats a JSON key is refused, even correctly signed")
{
    fg_reason r = {{0}};
    char tok[4096];
    struct fcgi_claims c;
    /* The same claims without the repeat verify: only the repeat is wrong. */
    CHECK_INT(verify_claims("{\"sub\":\"b\",\"role\":\"buyer\",\"ord\":\"o\","
                            "\"exp\":1700003600}", 3600, &r), FG_OK);
    CHECK_INT(verify_claims("{\"sub\":\"b\",\"role\":\"buyer\",\"role\":\"admin\","
                            "\"ord\":\"o\",\"exp\":1700003600}", 3600, &r), FG_EAUTH);
    CHECK(strstr(r.text, "repeated") != NULL);
    CHECK_INT(verify_claims("{\"sub\":\"b\",\"sub\":\"b\",\"role\":\"buyer\",\"ord\":\"o\","
                            "\"exp\":1700003600}", 3600, &r), FG_EAUTH);
    CHECK_INT(verify_claims("{\"sub\":\"b\",\"role\":\"buyer\",\"ord\":\"o\","
                            "\"exp\":1700003600,\"x\":{\"k\":1,\"k\":2}}", 3600, &r), FG_EAUTH);
    hand_token("{\"alg\":\"HS256\",\"alg\":\"HS256\",\"typ\":\"JWT\"}",
               "{\"sub\":\"a\",\"role\":\"admin\",\"exp\":1700003600}", tok, sizeof tok);
    CHECK_INT(fcgi_jwt_verify(tok, SECRET, NOW, &c, &r), FG_EAUTH);
}

TEST("role names round-trip")
{
    CHECK_STR(fcgi_role_name(FCGI_ROLE_SELLER), "seller");
    CHECK_STR(fcgi_role_name(FCGI_ROLE_BUYER), "buyer");
    CHECK_STR(fcgi_role_name(FCGI_ROLE_ADMIN), "admin");
    CHECK(fcgi_role_name(0) == NULL);
    CHECK_INT(fcgi_role_parse("admin"), FCGI_ROLE_ADMIN);
    CHECK_INT(fcgi_role_parse("ADMIN"), 0);
    CHECK_INT(fcgi_role_parse(NULL), 0);
}

/* ---- kids and audience (FILIGRANE_JWT_SECRETS, FILIGRANE_JWT_AUDIENCE) ---- */

static const char *K1 = "k1-secret-0123456789abcdefghijklmnop";
static const char *K2 = "k2-secret-zyxwvutsrqponmlkjihgfedcba";

static struct fcgi_jwt_policy policy(const struct fcgi_jwt_key *keys, size_t n,
                                     const char *def, const char *aud)
{
    return (struct fcgi_jwt_policy){.secret = def, .keys = keys, .n_keys = n,
                                    .max_ttl = FG_JWT_MAX_TTL_SECONDS, .audience = aud};
}

/* A token with these claims and this header kid (libjwt, HS256). */
static char *token_kid(const char *key, const char *kid, const char *claims)
{
    jwt_t *jwt = NULL;
    CHECK(jwt_new(&jwt) == 0);
    CHECK(jwt_add_grants_json(jwt, claims) == 0);
    if (kid)
        CHECK(jwt_add_header(jwt, "kid", kid) == 0);
    CHECK(jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)key, (int)strlen(key)) == 0);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    CHECK(t != NULL);
    return t;
}

#define CLAIMS "{\"sub\":\"b-9\",\"role\":\"buyer\",\"ord\":\"ord-1\",\"iat\":1700000000,\"exp\":1700003600"

TEST("a token's kid chooses its secret; an unknown kid or the wrong kid's secret is refused")
{
    struct fcgi_jwt_key keys[2] = {{.kid = "k1", .secret = K1}, {.kid = "k2", .secret = K2}};
    struct fcgi_jwt_policy p = policy(keys, 2, SECRET, NULL);
    struct fcgi_claims c;
    fg_reason r = {{0}};
    const char *code = "x";
    const struct {
        const char *key, *kid;
        fg_result want;
        const char *code;
    } rows[] = {
        {K1, "k1", FG_OK, NULL},
        {K2, "k2", FG_OK, NULL},
        {SECRET, NULL, FG_OK, NULL},           /* no kid: FILIGRANE_JWT_SECRET */
        {K2, "k1", FG_EAUTH, NULL},            /* k2's secret under kid k1 */
        {SECRET, "k1", FG_EAUTH, NULL},        /* a kid never falls back */
        {K1, NULL, FG_EAUTH, NULL},            /* a kid's secret without the kid */
        {K1, "k3", FG_EAUTH, "unknown_kid"},   /* not in the set */
        {K1, "k1\n", FG_EAUTH, NULL},          /* not a kid */
        {K1, "", FG_EAUTH, NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *t = token_kid(rows[i].key, rows[i].kid, CLAIMS "}");
        fg_result got = fcgi_jwt_verify_policy(t, &p, NOW, &c, &code, &r);
        if (got != rows[i].want)
            TAP_FAIL("row %zu: %d, want %d (%s)", i, got, rows[i].want, r.text);
        if (rows[i].code && (!code || strcmp(code, rows[i].code) != 0))
            TAP_FAIL("row %zu: code %s, want %s", i, code ? code : "NULL", rows[i].code);
        if (got == FG_OK)
            CHECK_STR(c.sub, "b-9");
        free(t);
    }
}

TEST("without FILIGRANE_JWT_SECRET a token without kid is refused as unknown_kid")
{
    struct fcgi_jwt_key keys[1] = {{.kid = "k1", .secret = K1}};
    struct fcgi_jwt_policy p = policy(keys, 1, NULL, NULL);
    struct fcgi_claims c;
    fg_reason r = {{0}};
    const char *code = NULL;
    char *t = token_kid(K1, NULL, CLAIMS "}");
    CHECK_INT(fcgi_jwt_verify_policy(t, &p, NOW, &c, &code, &r), FG_EAUTH);
    CHECK(code && strcmp(code, "unknown_kid") == 0);
    free(t);
}

TEST("with an audience set, aud must hold it: a string or an array; absent or other refused")
{
    struct fcgi_jwt_policy p = policy(NULL, 0, SECRET, "filigrane");
    struct fcgi_claims c;
    fg_reason r = {{0}};
    const struct {
        const char *aud;
        fg_result want;
    } rows[] = {
        {",\"aud\":\"filigrane\"", FG_OK},
        {",\"aud\":[\"other\",\"filigrane\"]", FG_OK},
        {"", FG_EAUTH},
        {",\"aud\":\"other\"", FG_EAUTH},
        {",\"aud\":\"filigrane2\"", FG_EAUTH},
        {",\"aud\":\"filigran\"", FG_EAUTH},
        {",\"aud\":[\"other\"]", FG_EAUTH},
        {",\"aud\":[]", FG_EAUTH},
        {",\"aud\":[1,{\"a\":\"filigrane\"}]", FG_EAUTH},
        {",\"aud\":null", FG_EAUTH},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char claims[512];
        const char *code = NULL;
        snprintf(claims, sizeof claims, CLAIMS "%s}", rows[i].aud);
        char *t = token_kid(SECRET, NULL, claims);
        fg_result got = fcgi_jwt_verify_policy(t, &p, NOW, &c, &code, &r);
        if (got != rows[i].want)
            TAP_FAIL("aud row %zu: %d, want %d (%s)", i, got, rows[i].want, r.text);
        if (got != FG_OK && (!code || strcmp(code, "bad_audience") != 0))
            TAP_FAIL("aud row %zu: code %s, want bad_audience", i, code ? code : "NULL");
        free(t);
    }
    /* Unset: aud is not looked at. */
    p.audience = NULL;
    char *t = token_kid(SECRET, NULL, CLAIMS ",\"aud\":\"other\"}");
    CHECK_INT(fcgi_jwt_verify_policy(t, &p, NOW, &c, NULL, &r), FG_OK);
    free(t);
}

TEST("mint_ex puts the kid in the header and aud in the claims, and they verify")
{
    struct fcgi_jwt_key keys[1] = {{.kid = "k-2026.11", .secret = K1}};
    struct fcgi_jwt_policy p = policy(keys, 1, NULL, "api");
    struct fcgi_claims c;
    fg_reason r = {{0}};
    char *t = NULL;
    CHECK_INT(fcgi_jwt_mint_ex(K1, "k-2026.11", "api", FCGI_ROLE_ADMIN, "op", NULL, 60, NOW, &t,
                               &r),
              FG_OK);
    CHECK_INT(fcgi_jwt_verify_policy(t, &p, NOW, &c, NULL, &r), FG_OK);
    CHECK_INT(c.role, FCGI_ROLE_ADMIN);
    free(t);
    t = NULL;
    CHECK_INT(fcgi_jwt_mint_ex(K1, "bad kid", NULL, FCGI_ROLE_ADMIN, "op", NULL, 60, NOW, &t, &r),
              FG_EUSAGE);
    CHECK_INT(fcgi_jwt_mint_ex(K1, NULL, "", FCGI_ROLE_ADMIN, "op", NULL, 60, NOW, &t, &r),
              FG_EUSAGE);
    CHECK(t == NULL);
}

TEST("kid length: the limit accepted, one byte more refused")
{
    char kid[FCGI_JWT_KID_MAX + 2];
    memset(kid, 'a', sizeof kid);
    kid[FCGI_JWT_KID_MAX] = '\0';
    kid[1] = 'b';
    CHECK(fcgi_jwt_kid_valid(kid));
    kid[FCGI_JWT_KID_MAX] = 'c';
    kid[FCGI_JWT_KID_MAX + 1] = '\0';
    CHECK(!fcgi_jwt_kid_valid(kid));
    CHECK(!fcgi_jwt_kid_valid(""));
    CHECK(!fcgi_jwt_kid_valid("a b"));
    CHECK(!fcgi_jwt_kid_valid("a:b"));
}
