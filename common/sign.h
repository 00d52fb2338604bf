/* The service's Ed25519 signing key, and what a verifier needs of it.
 *
 * The key signs evidence bundles (fcgi/h_evidence.c); its public half is
 * published as a JWK (GET /v1/keys, RFC 8037: kty OKP, crv Ed25519, x the
 * raw 32-byte public key in base64url without padding).
 *
 * kid: the first 16 lowercase hex digits of SHA-256 of the raw 32-byte
 * public key. It names the key, so a verifier with several published keys
 * picks the right one, and a verifier can recompute it from x: a JWK
 * whose kid does not match its x is refused.
 *
 * Pure OpenSSL: linked into the worker and the CLI alike. */
#ifndef FG_SIGN_H
#define FG_SIGN_H

#include <stddef.h>

#include <openssl/evp.h>

#include "common/result.h"

#define FG_SIGN_PUB_BYTES 32
#define FG_SIGN_SIG_BYTES 64
#define FG_SIGN_KID_MAX 17 /* 16 hex + NUL */
/* base64url without padding of 64 bytes is 86 characters. */
#define FG_SIGN_B64_MAX 96
/* A PEM private key file longer than this is not one. */
#define FG_SIGN_KEY_FILE_MAX 4096

/* Loads the Ed25519 private key from the PEM file at path. The file must
 * be a regular file owned by the effective user with no access for group
 * or others (0600 or 0400): otherwise FG_EUSAGE naming `var` (the setting
 * that gave the path). FG_EUSAGE too if it is not an Ed25519 private key.
 * On success the caller owns *out (EVP_PKEY_free). */
FG_MUST_CHECK fg_result fg_sign_key_load(const char *var, const char *path,
                                         EVP_PKEY **out /* out */, fg_reason *r);

/* Loads the public half of the Ed25519 key in the PEM file at path: a
 * public key ("PUBLIC KEY") or a private one, as kept after a rotation.
 * The file must be a regular file (not a link) owned by the effective
 * user that its group and others cannot write (a key someone else can
 * swap would make the service vouch for his bundles); a private key,
 * besides, must be 0600 or 0400 as in fg_sign_key_load. FG_EUSAGE naming
 * var otherwise, or when it holds no Ed25519 key. Fills x and kid as
 * fg_sign_key_public. */
FG_MUST_CHECK fg_result fg_sign_public_load(const char *var, const char *path,
                                            char x[FG_SIGN_B64_MAX] /* out */,
                                            char kid[FG_SIGN_KID_MAX] /* out */,
                                            fg_reason *r);

/* The raw public key, its base64url text and its kid (above).
 * FG_EIO if OpenSSL fails. */
FG_MUST_CHECK fg_result fg_sign_key_public(EVP_PKEY *key,
                                           char x[FG_SIGN_B64_MAX] /* out */,
                                           char kid[FG_SIGN_KID_MAX] /* out */,
                                           fg_reason *r);

/* The kid of a raw public key. This function can't fail. */
void fg_sign_kid(const unsigned char pub[FG_SIGN_PUB_BYTES],
                 char kid[FG_SIGN_KID_MAX] /* out */);

/* Signs len bytes at msg (pure Ed25519, no pre-hash) into sig, as
 * base64url. FG_EIO if OpenSSL fails. Thread-safe: key is only read. */
FG_MUST_CHECK fg_result fg_sign(EVP_PKEY *key, const void *msg, size_t len,
                                char sig[FG_SIGN_B64_MAX] /* out */, fg_reason *r);

/* Checks the base64url signature sig of msg against the public key whose
 * base64url is x. FG_OK if it verifies, FG_ECORRUPT if it does not or if
 * x or sig are malformed (named in the reason), FG_EIO if OpenSSL fails. */
FG_MUST_CHECK fg_result fg_sign_verify(const char *x, const void *msg, size_t len,
                                       const char *sig, fg_reason *r);

/* base64url without padding of n bytes; out holds 4*ceil(n/3)+1. This
 * function can't fail. */
void fg_b64url_encode(const unsigned char *in, size_t n, char *out /* out */);

/* Decodes base64url (no padding, no other character) of at most cap
 * bytes; returns the length, or -1 if malformed or too long. */
long fg_b64url_decode(const char *in, unsigned char *out /* out */, size_t cap);

#endif
