/* The Idempotency-Key header on POST /v1/orders/{order}/deliveries
 * (IETF draft-ietf-httpapi-idempotency-key-header; the records are
 * storage/idempotency.h).
 *
 * A request with a key first claims it (before its body is read), so a
 * second request with the same key while the first is in flight is
 * answered 409 at once. The claimer records the delivery and, in the same
 * transaction, the delivery's number and fingerprint under the key. A
 * later request with the key is answered the delivery recorded under it
 * (201, the delivery as it is now) when it delivers the same thing, and
 * 422 when it does not; either way it records nothing. */
#ifndef FCGI_IDEMPOTENCY_H
#define FCGI_IDEMPOTENCY_H

#include <stdbool.h>

#include "fcgi/handlers.h"
#include "storage/idempotency.h"

typedef struct fcgi_idem {
    bool on; /* the request carried a key */
    char key[STORE_IDEM_KEY_MAX + 1];
    char seller_id[FG_MAX_ID + 1];
    char order_id[FG_MAX_ID + 1];
    store_idem_claim claim;
} fcgi_idem;

/* Reads Idempotency-Key (an sf-string, "..." , or the bare key) and
 * claims it for (seller_id, order_id) with the configured lifetime
 * (FILIGRANE_IDEMPOTENCY_TTL). Returns true to go on (no key: ik->on is
 * false); false when the request has been answered: 400
 * bad_idempotency_key, 409 idempotency_key_in_use, or 500. */
bool fcgi_idem_begin(fcgi_req *req, const char *seller_id, const char *order_id,
                     fcgi_idem *ik /* out */);

/* Whether the key names a delivery recorded earlier (the request must not
 * record one). */
bool fcgi_idem_done(const fcgi_idem *ik);

/* For a key that names an earlier delivery: answers 422
 * idempotency_key_reused when fingerprint differs from the one recorded,
 * else 201 with that delivery as it is now (the seller's view). */
void fcgi_idem_answer(fcgi_req *req, const fcgi_idem *ik, const char *fingerprint);

/* Inside the transaction that records delivery `number`: writes it and
 * fingerprint under the request's claim. Nothing to do without a key.
 * FG_ESTATE if the claim was taken over (the caller rolls back). */
FG_MUST_CHECK fg_result fcgi_idem_record(store_meta *m, const fcgi_idem *ik,
                                         const char *fingerprint, int number, fg_reason *r);

/* After a failure before the delivery was recorded: drops the request's
 * claim, so that a retry is not refused. Logged, not fatal. */
void fcgi_idem_abandon(fcgi_req *req, fcgi_idem *ik);

#endif
