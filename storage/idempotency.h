/* Idempotency-Key records (DESIGN, Settled details; IETF
 * draft-ietf-httpapi-idempotency-key-header).
 *
 * A key is scoped to the seller and the order: the same key sent by
 * another seller, or for another order, is another key. Its life:
 *
 *   claim     the first request with the key takes a row with no delivery
 *             yet ("in flight") and a random token, before it reads the
 *             body. A second request with the key sees the claim (409).
 *   complete  in the transaction that records the delivery, the claimer
 *             writes the delivery's number and the fingerprint of what was
 *             delivered into its own claim (checked by token). A later
 *             request with the key sees the delivery: same fingerprint,
 *             the same delivery is answered; another fingerprint is 422.
 *   release   a request that fails before recording drops its claim, so
 *             a retry is not refused for a failure that recorded nothing.
 *   expire    rows older than the lifetime are deleted (the maintenance
 *             loop). An expired key is a new key.
 *
 * A claim whose request died without releasing it (a crash) is stale once
 * older than `lease` seconds: the next request with the key takes it
 * over. */
#ifndef STORE_IDEMPOTENCY_H
#define STORE_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/result.h"
#include "storage/meta.h"

/* Longest key (common/limits.h), and the key's alphabet: visible ASCII
 * but the structured-field string's '"' and '\\' (draft: an sf-string). */
#define STORE_IDEM_KEY_MAX FG_MAX_IDEMPOTENCY_KEY
/* The claim's token: 32 lowercase hex plus its NUL. */
#define STORE_IDEM_TOKEN_MAX STORE_FILE_ID_MAX

/* True if key is 1..STORE_IDEM_KEY_MAX bytes of 0x21..0x7e other than
 * '"' and '\\'. This function can't fail. */
bool store_idem_key_valid(const char *key);

/* Writes the fingerprint of a delivery: SHA-256, as hex, of the message
 * and the ordered list of (name, sha256) of its files, each length-
 * prefixed so that no two lists share one. message NULL is "". This
 * function can't fail. */
void store_idem_fingerprint(const char *message, size_t n,
                            const char *const *names,
                            const char *const *sha256s,
                            char out[STORE_HEX_MAX] /* out */);

typedef enum store_idem_state {
    STORE_IDEM_CLAIMED,   /* the key was free: it is the caller's now */
    STORE_IDEM_IN_FLIGHT, /* another request holds it and is not done */
    STORE_IDEM_DONE,      /* a delivery was recorded under it */
} store_idem_state;

typedef struct store_idem_claim {
    store_idem_state state;
    char token[STORE_IDEM_TOKEN_MAX];        /* CLAIMED: the caller's token */
    char fingerprint[STORE_HEX_MAX];         /* DONE: what was delivered */
    int delivery;                            /* DONE: its number */
} store_idem_claim;

/* Looks up (seller_id, order_id, key) and claims it when free, in one
 * write transaction of its own. A row claimed at or before now - ttl is
 * expired and a row still in flight at or before now - lease is stale:
 * both count as free (and are replaced). FG_EUSAGE for a malformed key or
 * when called inside a transaction; FG_EIO if the store fails. */
FG_MUST_CHECK fg_result store_idem_claim_key(store_meta *m, const char *seller_id,
                                             const char *order_id, const char *key,
                                             int64_t now, int64_t ttl, int64_t lease,
                                             store_idem_claim *out /* out */,
                                             fg_reason *r);

/* Writes delivery and fingerprint into the caller's claim (token), inside
 * the caller's write transaction (FG_EUSAGE outside one). FG_ESTATE if the
 * claim is no longer the caller's (it went stale and was taken over): the
 * caller rolls back. */
FG_MUST_CHECK fg_result store_idem_complete(store_meta *m, const char *seller_id,
                                            const char *order_id, const char *key,
                                            const char *token, const char *fingerprint,
                                            int delivery, fg_reason *r);

/* Drops the caller's claim if it is still in flight and the caller's
 * (token); anything else is left alone. Atomic on its own. */
FG_MUST_CHECK fg_result store_idem_release(store_meta *m, const char *seller_id,
                                           const char *order_id, const char *key,
                                           const char *token, fg_reason *r);

/* Deletes every key claimed at or before `before` (unix seconds); *n (may
 * be NULL) gets how many. Outside a transaction only (FG_EUSAGE). */
FG_MUST_CHECK fg_result store_idem_expire(store_meta *m, int64_t before,
                                          int64_t *n /* out */, fg_reason *r);

#endif
