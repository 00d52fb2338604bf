/* Authentication, and the order rules (orders/rules.h) turned into
 * answers: the rules decide, this file only maps a decision to a status.
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
#include "orders/rules.h"
#include "storage/meta.h"

/* Verifies the request's token into *who. On failure answers 401 itself
 * and returns false; the handler just returns. */
bool fcgi_authenticate(fcgi_req *req, struct fcgi_claims *who /* out */);

/* The caller's role for the order rules (orders/rules.h). Can't fail. */
ord_role fcgi_ord_role(const struct fcgi_claims *who);

/* Checks that the token may reach order_id at all (before the order is
 * read, so a token for another order learns nothing of this one). On
 * failure answers 403 and returns false. */
bool fcgi_may_name_order(fcgi_req *req, const struct fcgi_claims *who,
                         const char *order_id);

/* Asks the order rules (orders/rules.h) whether who may do action on
 * order o. On refusal answers (403 not_party / not_released / revoked /
 * not_seller, 409 wrong_state) and returns false. */
bool fcgi_may(fcgi_req *req, const struct fcgi_claims *who, const store_order *o,
              ord_action action);

/* The usual start of an order handler: authenticates, checks the token
 * may name order_id, reads the order into *o and decides action. On any
 * refusal answers itself and returns false; the handler just returns. */
bool fcgi_load_order(fcgi_req *req, const char *order_id, ord_action action,
                     struct fcgi_claims *who /* out */, store_order *o /* out */);

/* "seller:s-7", "buyer:b-9", "admin:ops": the audit trail's actor.
 * This function can't fail. */
void fcgi_actor(const struct fcgi_claims *who, char *out, size_t len);

#endif
