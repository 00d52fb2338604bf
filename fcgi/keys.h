/* The worker's rotating keys: everything a rotation changes without a
 * restart (README "Rotating keys").
 *
 *   FILIGRANE_JWT_SECRET       the secret of tokens without kid
 *   FILIGRANE_JWT_SECRETS      "kid:secret kid:secret": a token whose header
 *                              has kid is checked with that kid's secret only
 *   FILIGRANE_WEBHOOK_SECRET   a whsec_ key of incoming webhooks
 *   FILIGRANE_WEBHOOK_SECRETS  more of them, space-separated: all accepted
 *   FILIGRANE_EVENTS_SECRET    the whsec_ key outgoing events are signed
 *                              with; unset: the first webhook key (warned)
 *   FILIGRANE_METRICS_TOKEN    the bearer token of /metrics (16 to 256
 *                              visible ASCII bytes); unset: /metrics 403
 *   FILIGRANE_SIGNING_KEY_FILE the Ed25519 key evidence is signed with
 *   FILIGRANE_SIGNING_KEYS_RETIRED_DIR  *.pem files (public or private
 *                              Ed25519 keys) still published by /v1/keys
 *
 * Each of the first six may come from NAME_FILE instead (config.h's
 * rule). The variables are read once, at start (fcgi_key_sources); what a
 * reload reads again is the files they name. A set of keys (fcgi_keys) is
 * immutable once built and reference-counted: a request takes the current
 * one (fcgi_keyring_get), uses it, and puts it back, so a reload that swaps
 * in a new set never frees one a request is still reading. */
#ifndef FCGI_KEYS_H
#define FCGI_KEYS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "common/result.h"
#include "common/sign.h"
#include "fcgi/jwt.h"
#include "fcgi/webhook_sig.h"

#define FCGI_METRICS_TOKEN_MIN 16
#define FCGI_METRICS_TOKEN_MAX 256

/* Retired signing keys published at most: a key a year for decades. */
#define FCGI_SIGN_RETIRED_MAX 32

enum fcgi_key_source {
    FCGI_KS_JWT_SECRET,
    FCGI_KS_JWT_SECRETS,
    FCGI_KS_WEBHOOK_SECRET,
    FCGI_KS_WEBHOOK_SECRETS,
    FCGI_KS_EVENTS_SECRET,
    FCGI_KS_METRICS_TOKEN,
    FCGI_KS_COUNT,
};

/* Where each key comes from, as the environment said at start. */
struct fcgi_key_sources {
    char *value[FCGI_KS_COUNT]; /* the variable's value (heap, wiped) or NULL */
    char *file[FCGI_KS_COUNT];  /* its _FILE's path (heap) or NULL */
    char *signing_file;         /* FILIGRANE_SIGNING_KEY_FILE or NULL */
    char *retired_dir;          /* FILIGRANE_SIGNING_KEYS_RETIRED_DIR or NULL */
};

/* A published signing key: its JWK's x and kid (common/sign.h). */
struct fcgi_sign_pub {
    char x[FG_SIGN_B64_MAX];
    char kid[FG_SIGN_KID_MAX];
};

typedef struct fcgi_keys {
    unsigned long long generation; /* 1, 2, ... as installed; tokens cached
                                      under another are verified again */
    char *jwt_secret;              /* heap, wiped; NULL: tokens need a kid */
    struct fcgi_jwt_key jwt[FCGI_JWT_KEYS_MAX]; /* secrets heap, wiped */
    size_t n_jwt;
    struct fcgi_webhook_key hooks[FCGI_WEBHOOK_KEYS_MAX];
    size_t n_hooks; /* >= 1 */
    struct fcgi_webhook_key events;
    bool events_is_webhook; /* FILIGRANE_EVENTS_SECRET unset */
    char *metrics_token;    /* heap, wiped; NULL: /metrics is refused */
    EVP_PKEY *sign_key;     /* NULL: evidence is refused */
    struct fcgi_sign_pub sign;
    struct fcgi_sign_pub retired[FCGI_SIGN_RETIRED_MAX];
    size_t n_retired;
    atomic_uint refs; /* private to keys.c */
} fcgi_keys;

/* Reads the six variables and their _FILE twins, and the signing
 * settings, into s. FG_EUSAGE naming the variable for a setting given both
 * ways; FG_EIO out of memory. Not thread-safe (getenv): call at start. On
 * FG_OK release s with fcgi_key_sources_release; on failure it holds
 * nothing. */
FG_MUST_CHECK fg_result fcgi_key_sources_capture(struct fcgi_key_sources *s /* out */,
                                                 fg_reason *r);

/* Wipes and frees. Accepts NULL. Can't fail. */
void fcgi_key_sources_release(struct fcgi_key_sources *s);

/* What fcgi_keys_build reads anew; the rest is copied from prev. */
#define FCGI_KEYS_SECRETS 1u /* the six secrets (reads their files) */
#define FCGI_KEYS_SIGNING 2u /* the signing key and the retired ones */

/* Builds a set of keys from s. The parts not in `what` are copied from
 * prev (NULL: left empty). Every secret is checked as at start: length,
 * weakness, whsec_ form, at most FCGI_JWT_KEYS_MAX kids (each once) and
 * FCGI_WEBHOOK_KEYS_MAX webhook keys, at least one webhook key and one
 * JWT secret. FG_EUSAGE with a reason naming the variable (never a
 * secret), FG_EIO out of memory or OpenSSL failing. On FG_OK *out has
 * one reference (fcgi_keys_put). */
FG_MUST_CHECK fg_result fcgi_keys_build(const struct fcgi_key_sources *s,
                                        const fcgi_keys *prev, unsigned what,
                                        fcgi_keys **out /* out */, fg_reason *r);

/* The policy a token is checked with, borrowing k's secrets (keep k). */
void fcgi_keys_jwt_policy(const fcgi_keys *k, long long max_ttl, const char *audience,
                          struct fcgi_jwt_policy *p /* out */);

/* Drops a reference; the last one wipes and frees. Accepts NULL. */
void fcgi_keys_put(fcgi_keys *k);

/* The holder of the current set, shared by every thread. */
typedef struct fcgi_keyring fcgi_keyring;

/* A keyring holding initial (its reference moves in; generation 1).
 * NULL when memory ran out (initial is then put). */
fcgi_keyring *fcgi_keyring_new(fcgi_keys *initial);

/* The current set with a reference for the caller (fcgi_keys_put).
 * Thread-safe. Can't fail. */
fcgi_keys *fcgi_keyring_get(fcgi_keyring *ring);

/* Makes next (its reference moves in) the current set, with the next
 * generation; the old one is freed when its last user puts it.
 * Thread-safe. Can't fail. */
void fcgi_keyring_swap(fcgi_keyring *ring, fcgi_keys *next);

/* Frees the ring and puts its set. Accepts NULL. */
void fcgi_keyring_free(fcgi_keyring *ring);

/* The JWT secret to mint with, for the CLI: with kid NULL,
 * FILIGRANE_JWT_SECRET (or its _FILE); else that kid's secret in
 * FILIGRANE_JWT_SECRETS (or its _FILE), checked as the worker checks it.
 * FG_EUSAGE naming the variable (unset, malformed, weak, no such kid);
 * FG_EIO out of memory. *secret is a heap string the caller wipes and
 * frees. Not thread-safe (getenv). */
FG_MUST_CHECK fg_result fcgi_keys_mint_secret(const char *kid, char **secret /* out */,
                                              fg_reason *r);

/* The variable's name for source i ("FILIGRANE_JWT_SECRETS"). */
const char *fcgi_key_source_name(enum fcgi_key_source i);

#endif
