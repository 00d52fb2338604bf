/* Standard Webhooks signatures (https://www.standardwebhooks.com/), both
 * ways: verifying the order system's webhooks and signing our own events.
 *
 * Signed content is "<webhook-id>.<webhook-timestamp>.<body>"; a signature
 * is "v1,<base64 HMAC-SHA256>"; the webhook-signature header holds one or
 * more of them separated by spaces (several during a key rotation), and
 * one matching v1 entry is enough. Entries of other versions are ignored.
 *
 * Secrets: "whsec_<base64>", the key being the base64 decoding of the part
 * after the prefix. A secret without the prefix is taken as the base64 key
 * itself, as the reference libraries do, so an order system that stores
 * the bare key works too. The decoded key must be FG_WEBHOOK_MIN_KEY_BYTES
 * to FG_WEBHOOK_MAX_KEY_BYTES long. */
#ifndef FCGI_WEBHOOK_SIG_H
#define FCGI_WEBHOOK_SIG_H

#include <stddef.h>

#include "common/limits.h"
#include "common/result.h"

struct fcgi_webhook_key {
    unsigned char key[FG_WEBHOOK_MAX_KEY_BYTES];
    size_t len;
};

/* Decodes secret into k. FG_EUSAGE with a reason (never the secret) if it
 * is not valid base64 or the key is too short or too long. */
FG_MUST_CHECK fg_result fcgi_webhook_key_init(struct fcgi_webhook_key *k
                                              /* out */,
                                              const char *secret,
                                              fg_reason *r);

/* Wipes the key. Accepts NULL. Can't fail. */
void fcgi_webhook_key_release(struct fcgi_webhook_key *k);

/* Why a verification failed, for logs, metrics and tests. */
enum fcgi_webhook_why {
    FCGI_WEBHOOK_OK = 0,
    FCGI_WEBHOOK_MALFORMED,     /* a header missing, too long or unparsable */
    FCGI_WEBHOOK_STALE,         /* timestamp older than the tolerance */
    FCGI_WEBHOOK_FUTURE,        /* timestamp newer than the tolerance */
    FCGI_WEBHOOK_BAD_SIGNATURE, /* no v1 entry matches */
};

/* Verifies a webhook: id, timestamp and signature are the raw values of the
 * webhook-id, webhook-timestamp and webhook-signature headers (NULL if
 * absent); body is the raw request body; now is our clock, unix seconds.
 *
 * Every failure is FG_EAUTH, malformed headers included: nothing of an
 * unauthenticated request is trusted, so it gets the same 401 whatever is
 * wrong with it; *why (if not NULL) and the reason tell them apart. The
 * timestamp is checked first (FG_WEBHOOK_TOLERANCE_SECONDS either way),
 * then the signatures, compared in constant time. Thread-safe. */
FG_MUST_CHECK fg_result fcgi_webhook_verify(const struct fcgi_webhook_key *k,
                                            const char *id,
                                            const char *timestamp,
                                            const char *signature,
                                            const void *body, size_t body_len,
                                            long long now,
                                            enum fcgi_webhook_why *why
                                            /* out */,
                                            fg_reason *r);

/* Most keys accepted at once (FILIGRANE_WEBHOOK_SECRETS, with
 * FILIGRANE_WEBHOOK_SECRET): a rotation needs two, a few more cover a
 * botched one; each costs one HMAC per webhook. */
#define FCGI_WEBHOOK_KEYS_MAX 8

/* fcgi_webhook_verify with any of the n keys (1 to FCGI_WEBHOOK_KEYS_MAX):
 * accepted when one v1 entry matches one key. Every key is tried against
 * every entry, so the time taken does not say which key matched.
 * FG_EUSAGE for n outside that range; otherwise as fcgi_webhook_verify. */
FG_MUST_CHECK fg_result fcgi_webhook_verify_any(const struct fcgi_webhook_key *keys, size_t n,
                                                const char *id, const char *timestamp,
                                                const char *signature, const void *body,
                                                size_t body_len, long long now,
                                                enum fcgi_webhook_why *why /* out */,
                                                fg_reason *r);

/* "v1," + 44 base64 characters + NUL. */
#define FCGI_WEBHOOK_SIG_BYTES 48

/* Signs id.timestamp.body into out ("v1,<base64>"), the value of a
 * webhook-signature header. FG_EUSAGE for an id that is not an id
 * (common/id.h) or a negative timestamp; FG_EIO if OpenSSL fails. */
FG_MUST_CHECK fg_result fcgi_webhook_sign(const struct fcgi_webhook_key *k,
                                          const char *id, long long timestamp,
                                          const void *body, size_t body_len,
                                          char out[FCGI_WEBHOOK_SIG_BYTES],
                                          fg_reason *r);

#endif
