/* Bearer tokens: JWT HS256, verified and minted with libjwt.
 *
 * Only HS256 is accepted. libjwt 1.10 verifies whatever algorithm the
 * token's header names (HS512 with our secret verifies, and "none" may be
 * parsed unsigned), so the algorithm is checked here as well, from the
 * header, before any claim is trusted. */
#ifndef FCGI_JWT_H
#define FCGI_JWT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/limits.h"
#include "common/result.h"

enum fcgi_role {
    FCGI_ROLE_SELLER = 1,
    FCGI_ROLE_BUYER,
    FCGI_ROLE_ADMIN,
};

/* The claims of a verified token. ord is "" for an admin token without
 * one; iat is 0 when the token has none. */
struct fcgi_claims {
    char sub[FG_JWT_MAX_ID_BYTES + 1];
    enum fcgi_role role;
    char ord[FG_JWT_MAX_ID_BYTES + 1];
    long long exp;
    long long iat;
};

/* "seller", "buyer" or "admin"; NULL for anything else. Can't fail. */
const char *fcgi_role_name(enum fcgi_role role);

/* Parses a role name (exact, lowercase). Returns 0 for anything else.
 * Can't fail. */
enum fcgi_role fcgi_role_parse(const char *name);

/* Verifies token (a NUL-terminated string as sent, without "Bearer ")
 * with the shared secret at time now (unix seconds) and fills *out.
 *
 * Refused with FG_EAUTH and a reason: a token longer than
 * FG_JWT_MAX_TOKEN_BYTES, not a JWT, a bad signature, an alg other than
 * HS256, a header or payload that repeats a JSON key, no or a
 * non-integer `exp`, `exp` in the past (beyond FG_JWT_CLOCK_SKEW_SECONDS),
 * `nbf` or `iat` in the future (same skew), a lifetime over
 * FG_JWT_MAX_TTL_SECONDS (see fcgi_jwt_verify_ttl),
 * no or an unknown `role`, no `sub`, no `ord` for a seller or buyer, a
 * `sub` or `ord` that is not an id (common/id.h: 1 to FG_MAX_ID bytes of
 * [A-Za-z0-9._~:@+-], not starting with '.'). FG_EUSAGE if secret is empty, FG_EIO if memory ran
 * out. *out is only meaningful on FG_OK. Thread-safe. */
FG_MUST_CHECK fg_result fcgi_jwt_verify(const char *token, const char *secret,
                                        long long now,
                                        struct fcgi_claims *out /* out */,
                                        fg_reason *r);

/* fcgi_jwt_verify with the longest accepted lifetime max_ttl (seconds,
 * FILIGRANE_JWT_MAX_TTL; fcgi_jwt_verify uses FG_JWT_MAX_TTL_SECONDS):
 * a token whose exp - iat exceeds it is refused, or, without iat, whose
 * exp - now exceeds it by more than FG_JWT_CLOCK_SKEW_SECONDS. */
FG_MUST_CHECK fg_result fcgi_jwt_verify_ttl(const char *token, const char *secret,
                                            long long now, long long max_ttl,
                                            struct fcgi_claims *out /* out */,
                                            fg_reason *r);

/* A key of FILIGRANE_JWT_SECRETS: a token whose header names kid is
 * checked with this secret only. */
#define FCGI_JWT_KID_MAX 64  /* bytes of a kid */
#define FCGI_JWT_KEYS_MAX 16 /* kids in FILIGRANE_JWT_SECRETS */
#define FCGI_JWT_AUDIENCE_MAX 256
struct fcgi_jwt_key {
    char kid[FCGI_JWT_KID_MAX + 1];
    const char *secret;
};

/* True for a kid we accept: 1 to FCGI_JWT_KID_MAX bytes of
 * [A-Za-z0-9._-]. It is logged and named in errors, so nothing else.
 * Can't fail. */
bool fcgi_jwt_kid_valid(const char *kid);

/* What a token is checked against (the worker's current keys). */
struct fcgi_jwt_policy {
    const char *secret;              /* tokens without kid; NULL: refused */
    const struct fcgi_jwt_key *keys; /* tokens with a kid: its key only */
    size_t n_keys;
    long long max_ttl;               /* FILIGRANE_JWT_MAX_TTL */
    const char *audience;            /* FILIGRANE_JWT_AUDIENCE; NULL: aud
                                        not checked */
};

/* fcgi_jwt_verify_ttl with the secret the token's header chooses: its
 * kid's (a kid not in p->keys is refused, never tried with another
 * secret), or p->secret for a token without kid. With p->audience set,
 * the token's aud (a string, or an array of strings) must hold it.
 * Refusals are FG_EAUTH; *code (if not NULL) is then "unknown_kid",
 * "bad_audience" or NULL for the other reasons of fcgi_jwt_verify.
 * Thread-safe. */
FG_MUST_CHECK fg_result fcgi_jwt_verify_policy(const char *token,
                                               const struct fcgi_jwt_policy *p,
                                               long long now,
                                               struct fcgi_claims *out /* out */,
                                               const char **code /* out */,
                                               fg_reason *r);

/* fcgi_jwt_mint with a kid in the header and an aud claim, each left out
 * when NULL. FG_EUSAGE also for a kid that fcgi_jwt_kid_valid refuses or
 * an audience that is empty or longer than FCGI_JWT_AUDIENCE_MAX. */
FG_MUST_CHECK fg_result fcgi_jwt_mint_ex(const char *secret, const char *kid,
                                         const char *audience, enum fcgi_role role,
                                         const char *sub, const char *ord,
                                         long long ttl, long long now,
                                         char **token /* out */, fg_reason *r);

/* Mints an HS256 token for role and sub (and ord, which may be NULL only
 * for an admin) with iat = now and exp = now + ttl. On FG_OK *token is a
 * heap string the caller frees with free(). FG_EUSAGE for an empty secret,
 * an unknown role, a bad sub or ord (the rules of fcgi_jwt_verify), a
 * missing ord for seller or buyer, or ttl outside 1..FG_JWT_MAX_TTL_SECONDS;
 * FG_EIO if libjwt fails. */
FG_MUST_CHECK fg_result fcgi_jwt_mint(const char *secret, enum fcgi_role role,
                                      const char *sub, const char *ord,
                                      long long ttl, long long now,
                                      char **token /* out */, fg_reason *r);

#endif
