/* Who may do what: the rules of DESIGN.md's API table, in one place.
 *
 * A caller is authenticated from "Authorization: Bearer <JWT>" or, for
 * links and <img src>, "?token=<JWT>". A seller or buyer token is bound to
 * one order (claim ord) and must also name that order's party (claim sub);
 * an admin token (the order system's) may see every order. */
#ifndef FCGI_ACCESS_H
#define FCGI_ACCESS_H

#include <stdbool.h>

#include "fcgi/http.h"
#include "fcgi/jwt.h"
#include "storage/meta.h"

/* Verifies the request's token into *who. On failure answers 401 itself
 * and returns false; the handler just returns. */
bool fcgi_authenticate(fcgi_req *req, struct fcgi_claims *who /* out */);

/* What a caller wants from an order. */
typedef enum fcgi_want {
    FCGI_WANT_READ,     /* order JSON, audit trail */
    FCGI_WANT_PREVIEW,  /* a watermarked preview */
    FCGI_WANT_ORIGINAL, /* an original, byte for byte */
    FCGI_WANT_DELIVER,  /* upload a new delivery */
} fcgi_want;

/* Checks that the token may reach order_id at all (before the order is
 * read, so a token for another order learns nothing of this one). On
 * failure answers 403 and returns false. */
bool fcgi_may_name_order(fcgi_req *req, const struct fcgi_claims *who,
                         const char *order_id);

/* Decides want on order o for who, from the order's parties and state.
 * On refusal answers (403 not_party / not_released / revoked, 409
 * wrong_state) and returns false. The release rule lives here: a buyer
 * gets an original only when the order is accepted, which is recorded only
 * by a verified acceptance webhook. */
bool fcgi_may(fcgi_req *req, const struct fcgi_claims *who, const store_order *o,
              fcgi_want want);

/* The usual start of an order handler: authenticates, checks the token
 * may name order_id, reads the order into *o and decides want. On any
 * refusal answers itself and returns false; the handler just returns. */
bool fcgi_load_order(fcgi_req *req, const char *order_id, fcgi_want want,
                     struct fcgi_claims *who /* out */, store_order *o /* out */);

/* "seller:s-7", "buyer:b-9", "admin:ops": the audit trail's actor.
 * This function can't fail. */
void fcgi_actor(const struct fcgi_claims *who, char *out, size_t len);

#endif
