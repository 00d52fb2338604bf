/* A per-thread memory of tokens already verified.
 *
 * The same token comes back again and again (a buyer's page of previews is
 * one token in many <img src>), and verifying it (base64, JSON, HMAC
 * through OpenSSL's provider lookups) cost more than the rest of a
 * download request. A token string that verified once verifies again with
 * the same claims as long as the keys are the same (their generation,
 * fcgi/keys.h: a SIGHUP that swaps them empties the cache in effect);
 * only the expiry depends on the time, and it is checked on every hit. */
#ifndef FCGI_TOKEN_CACHE_H
#define FCGI_TOKEN_CACHE_H

#include <stdbool.h>

#include "fcgi/jwt.h"

/* Finds token among this thread's verified tokens. On a hit that has not
 * expired at now, copies its claims into *out and returns true. The
 * comparison is constant-time for tokens of equal length, so probing the
 * cache teaches nothing about a valid signature. This function can't
 * fail. */
bool fcgi_token_cache_get(const char *token, long long now, unsigned long long generation,
                          struct fcgi_claims *out /* out */);

/* Remembers a token that fcgi_jwt_verify accepted under the keys of that
 * generation (a hit needs the same one), with its claims,
 * replacing this thread's oldest entry. Tokens longer than the cache's
 * slot are not kept. This function can't fail. */
void fcgi_token_cache_put(const char *token, unsigned long long generation,
                          const struct fcgi_claims *claims);

#endif
