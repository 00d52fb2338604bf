/* Who may do what to an order, in which state: the rules of DESIGN.md's
 * API table in one table, knowing nothing of HTTP (fcgi/access.c turns a
 * decision into an answer).
 *
 * The release rule lives here: a buyer gets an original (a file, an
 * archive, the plain hashes) only once the order is accepted, which only
 * a verified acceptance webhook records (orders/state.h). A dispute
 * freezes the order: nothing is released and nothing is purged until the
 * mediation ends it, accepted or cancelled; the seller may still deliver
 * new versions, which is how a seller answers a dispute. */
#ifndef ORDERS_RULES_H
#define ORDERS_RULES_H

#include <stdbool.h>

#include "common/result.h"
#include "storage/meta.h"

/* An order's state. ORD_STATE_UNKNOWN stands for anything the store
 * holds that is none of the four: every rule refuses it. */
typedef enum ord_state {
    ORD_OPEN = 0,
    ORD_DISPUTED,
    ORD_ACCEPTED,
    ORD_CANCELLED,
    ORD_STATE_UNKNOWN,
    ORD_STATE_COUNT
} ord_state;

/* The role a caller claims (a token's role claim). */
typedef enum ord_role {
    ORD_ROLE_SELLER = 1,
    ORD_ROLE_BUYER,
    ORD_ROLE_ADMIN, /* the order system: every order, every state */
} ord_role;

/* What a caller is to one order, once the claim is matched with the
 * order's parties. */
typedef enum ord_party {
    ORD_NOBODY = 0, /* a seller or buyer token that is not this order's */
    ORD_SELLER,
    ORD_BUYER,
    ORD_ADMIN,
    ORD_PARTY_COUNT
} ord_party;

/* What a caller wants from an order. */
typedef enum ord_action {
    ORD_VIEW_ORDER = 0, /* the order document */
    ORD_VIEW_AUDIT,     /* the evidence trail */
    ORD_PREVIEW,        /* a watermarked preview */
    ORD_ORIGINAL,       /* an original, byte for byte */
    ORD_ARCHIVE,        /* a zip of a delivery's originals */
    ORD_SEE_HASHES,     /* plain sha256 and salt in the order document */
    ORD_DELIVER,        /* upload a new delivery (version) */
    ORD_ACTION_COUNT
} ord_action;

/* A decision: rc FG_OK, or the refusal (FG_EFORBIDDEN, FG_ESTATE) with
 * the API's stable error code ("not_released", ...) and a message for
 * the caller. code and message are static strings. */
typedef struct ord_decision {
    fg_result rc;
    const char *code;    /* NULL when allowed */
    const char *message; /* NULL when allowed */
} ord_decision;

/* The state named by a store string ("open", ...); ORD_STATE_UNKNOWN for
 * anything else, NULL included. This function can't fail. */
ord_state ord_state_parse(const char *s);

/* The store string of a state; NULL for ORD_STATE_UNKNOWN. This function
 * can't fail. */
const char *ord_state_name(ord_state s);

/* What the caller (role, sub and ord claims; token_order "" when the token
 * names none) is to order o: the seller or buyer only if the token is
 * bound to this order AND names that party, the admin always.
 * This function can't fail. */
ord_party ord_party_of(ord_role role, const char *sub, const char *token_order,
                       const store_order *o);

/* Whether a token may name order_id at all, before the order is read (so
 * a token for another order learns nothing of this one): admins always,
 * others only their token's order. Refusal: FG_EFORBIDDEN "wrong_order".
 * This function can't fail. */
ord_decision ord_may_name(ord_role role, const char *token_order, const char *order_id);

/* The rule: may party do action on an order in state? This function can't
 * fail; refusals are in the decision. */
ord_decision ord_may(ord_party party, ord_state state, ord_action action);

/* Whether an order's originals and previews may be purged in state:
 * a cancelled order's, and an accepted order's only when keep_accepted is
 * false (FILIGRANE_RETENTION_ACCEPTED_DAYS set); never an open or a
 * disputed order's. Timing (how many days) is the caller's. This function
 * can't fail. */
bool ord_may_purge(ord_state state, bool keep_accepted);

#endif
