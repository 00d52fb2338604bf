/* fcgi_jwt_verify on any bytes, and fcgi_jwt_mint + verify round trips.
 *
 * Invariants:
 * - the whole input, as a NUL-terminated token, verifies (FG_OK) only if
 *   it is header.payload.signature with the signature exactly the
 *   base64url HMAC-SHA256 of header.payload under the secret (checked
 *   here with OpenSSL, independently of libjwt), a header naming HS256,
 *   and claims that obey the documented rules; otherwise it is FG_EAUTH;
 * - the input's lines pick sub (line 1) and ord (line 2; none for an
 *   admin) and a role and ttl: mint succeeds exactly when sub and ord obey
 *   the id rule (common/id.h) and
 *   are valid UTF-8 (JSON strings), and refuses a rule-breaking id with
 *   FG_EUSAGE; a minted token verifies with the same claims, and is
 *   refused under another secret and once expired. */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/id.h"
#include "common/utf8.h"
#include "fcgi/jwt.h"
#include "tests/fuzz/fuzz.h"

#define SECRET "fuzz-secret-0123456789abcdef-0123456789"
#define OTHER "fuzz-secret-0123456789abcdef-0123456788"
#define NOW 1700000000LL

/* The one id rule (common/id.h) the token check uses for sub and ord. */
static int id_rules(const char *s)
{
    return fg_id_valid(s);
}

/* base64url without padding of HMAC-SHA256(key, s[0..n)). */
static void expected_sig_key(const char *key, const char *s, size_t n, char out[64]);

static void expected_sig(const char *s, size_t n, char out[64])
{
    expected_sig_key(SECRET, s, n, out);
}

static void expected_sig_key(const char *key, const char *s, size_t n, char out[64])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    unsigned char b64[64];
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)s, n, mac, &ml);
    FUZZ_CHECK(ml == 32, "hmac length %u", ml);
    int bl = EVP_EncodeBlock(b64, mac, (int)ml);
    size_t o = 0;
    for (int i = 0; i < bl && b64[i] != '='; i++)
        out[o++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    out[o] = '\0';
}

static void check_claims(const struct fcgi_claims *c, long long now)
{
    FUZZ_CHECK(fcgi_role_name(c->role) != NULL, "role %d", (int)c->role);
    FUZZ_CHECK(id_rules(c->sub), "bad sub accepted");
    FUZZ_CHECK(c->role == FCGI_ROLE_ADMIN ? (c->ord[0] == '\0' || id_rules(c->ord))
                                          : id_rules(c->ord),
               "bad ord accepted");
    FUZZ_CHECK(c->exp >= now - FG_JWT_CLOCK_SKEW_SECONDS, "expired accepted");
    FUZZ_CHECK(c->iat <= now + FG_JWT_CLOCK_SKEW_SECONDS, "future iat accepted");
}

static void verify_any(const uint8_t *data, size_t size)
{
    char *tok = fuzz_strndup(data, size);
    struct fcgi_claims c;
    fg_reason r = {{0}};
    fg_result res = fcgi_jwt_verify(tok, SECRET, NOW, &c, &r);
    FUZZ_CHECK(res == FG_OK || res == FG_EAUTH, "result %s",
               fg_result_name(res));
    if (res == FG_OK) {
        const char *d1 = strchr(tok, '.');
        const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
        FUZZ_CHECK(d2 != NULL && strchr(d2 + 1, '.') == NULL,
                   "accepted a token without three segments");
        char want[64];
        expected_sig(tok, (size_t)(d2 - tok), want);
        FUZZ_CHECK(strcmp(d2 + 1, want) == 0,
                   "accepted a token whose signature is not ours");
        check_claims(&c, NOW);
    } else {
        FUZZ_CHECK(r.text[0] != '\0', "refused without a reason");
    }
    free(tok);
}

static void round_trip(const uint8_t *data, size_t size)
{
    char *f[3];
    size_t nf = fuzz_split(data, size, '\n', f, NULL, 3);
    enum fcgi_role role = (enum fcgi_role)(1 + size % 3);
    long long ttl = 1 + (long long)(size * 7919) % FG_JWT_MAX_TTL_SECONDS;
    const char *sub = f[0];
    const char *ord = nf > 1 ? f[1] : NULL;
    if (role == FCGI_ROLE_ADMIN && ord && !*ord)
        ord = NULL;
    int rules = id_rules(sub) && (ord ? id_rules(ord) : role == FCGI_ROLE_ADMIN);
    int json = fg_utf8_valid(sub, strlen(sub)) &&
               (!ord || fg_utf8_valid(ord, strlen(ord)));

    char *tok = NULL;
    fg_reason r = {{0}};
    fg_result res = fcgi_jwt_mint(SECRET, role, sub, ord, ttl, NOW, &tok, &r);
    if (!rules) {
        FUZZ_CHECK(res == FG_EUSAGE, "rule-breaking id minted or %s",
                   fg_result_name(res));
        goto out;
    }
    if (!json) {
        FUZZ_CHECK(res != FG_OK, "minted a token with invalid UTF-8");
        goto out;
    }
    FUZZ_CHECK(res == FG_OK, "mint refused a good id: %s", r.text);

    struct fcgi_claims c;
    res = fcgi_jwt_verify(tok, SECRET, NOW, &c, &r);
    FUZZ_CHECK(res == FG_OK, "minted token refused: %s", r.text);
    FUZZ_CHECK(strcmp(c.sub, sub) == 0, "sub changed");
    FUZZ_CHECK(strcmp(c.ord, ord ? ord : "") == 0, "ord changed");
    FUZZ_CHECK(c.role == role, "role changed");
    FUZZ_CHECK(c.exp == NOW + ttl && c.iat == NOW, "times changed");
    FUZZ_CHECK(fcgi_jwt_verify(tok, OTHER, NOW, &c, &r) == FG_EAUTH,
               "verified under another secret");
    FUZZ_CHECK(fcgi_jwt_verify(tok, SECRET,
                               NOW + ttl + FG_JWT_CLOCK_SKEW_SECONDS + 1, &c,
                               &r) == FG_EAUTH,
               "verified once expired");
    /* The round trip must also satisfy the independent signature check. */
    verify_any((const uint8_t *)tok, strlen(tok));
out:
    free(tok);
    fuzz_free_fields(f, nf);
}

/* The same bytes under a key set (FILIGRANE_JWT_SECRETS) and an audience:
 * accepted only when signed with one of the set's secrets. */
static void verify_policy_any(const uint8_t *data, size_t size)
{
    char *tok = fuzz_strndup(data, size);
    struct fcgi_jwt_key keys[2] = {{.kid = "k1", .secret = SECRET}, {.kid = "k2", .secret = OTHER}};
    struct fcgi_jwt_policy p = {.secret = SECRET, .keys = keys, .n_keys = 2,
                                .max_ttl = FG_JWT_MAX_TTL_SECONDS, .audience = "fuzz"};
    struct fcgi_claims c;
    fg_reason r = {{0}};
    const char *code = NULL;
    fg_result res = fcgi_jwt_verify_policy(tok, &p, NOW, &c, &code, &r);
    FUZZ_CHECK(res == FG_OK || res == FG_EAUTH, "policy result %s", fg_result_name(res));
    if (res == FG_OK) {
        const char *d1 = strchr(tok, '.');
        const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
        FUZZ_CHECK(d2 != NULL, "accepted a token without three segments");
        char a[64], b[64];
        expected_sig_key(SECRET, tok, (size_t)(d2 - tok), a);
        expected_sig_key(OTHER, tok, (size_t)(d2 - tok), b);
        FUZZ_CHECK(strcmp(d2 + 1, a) == 0 || strcmp(d2 + 1, b) == 0,
                   "accepted a token signed with no secret of the set");
        check_claims(&c, NOW);
    } else {
        FUZZ_CHECK(r.text[0] != '\0', "refused without a reason");
    }
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    verify_any(data, size);
    verify_policy_any(data, size);
    round_trip(data, size);
    return 0;
}
