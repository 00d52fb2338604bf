/* The rules of scoped links (DESIGN, routes table: links), knowing
 * nothing of HTTP (fcgi/h_links.c answers with them).
 *
 * A link stands for its minter: it may fetch what the minter may fetch,
 * for one file and one purpose, and no more. So a buyer mints an
 * original link only once the order is released (and release is final,
 * so such a link never needs taking back by the order), a preview link
 * while previews are theirs (not once cancelled); the seller and the
 * admin mint either, any time. Every preview link stops working when the
 * order is cancelled, whoever minted it: a cancellation revokes the
 * previews, and a link is the way they travel furthest. */
#ifndef ORDERS_LINKS_H
#define ORDERS_LINKS_H

#include <stdbool.h>
#include <stdint.h>

#include "orders/rules.h"

typedef enum ord_link_purpose {
    ORD_LINK_PREVIEW = 0,
    ORD_LINK_ORIGINAL,
    ORD_LINK_BAD,
} ord_link_purpose;

/* "preview" / "original"; ORD_LINK_BAD for anything else, NULL included.
 * This function can't fail. */
ord_link_purpose ord_link_purpose_parse(const char *s);

/* The party a link's minter role ("seller", "buyer", "admin") stands for
 * when the link is used: the minter's party (a link row is only made for
 * a party of its order). ORD_NOBODY for anything else. Can't fail. */
ord_party ord_link_party(const char *minted_role);

/* May party mint a link for purpose on an order in state? The same
 * decision as fetching it now (orders/rules.h: not_released, revoked,
 * not_party), and a preview link of a cancelled order is refused to
 * everyone ("revoked": it would never work). Can't fail. */
ord_decision ord_link_may_mint(ord_party party, ord_state state, ord_link_purpose purpose);

/* Does a link minted by party for purpose still open on an order in
 * state? As ord_link_may_mint: the minter's rights, now. Can't fail. */
ord_decision ord_link_may_use(ord_party party, ord_state state, ord_link_purpose purpose);

/* Why a link row no longer opens at now (unix seconds), in the order a
 * holder should hear it: revoked first (an act), then expired, then used
 * up. ORD_LINK_OPEN when it still opens. */
typedef enum ord_link_status {
    ORD_LINK_OPEN = 0,
    ORD_LINK_REVOKED,
    ORD_LINK_EXPIRED,
    ORD_LINK_USED_UP,
} ord_link_status;

ord_link_status ord_link_status_of(bool revoked, int64_t expires_at, int64_t uses,
                                   int64_t max_uses, int64_t now);

/* The API's error code for a status ("link_revoked", "link_expired",
 * "link_used_up"), NULL for ORD_LINK_OPEN. Can't fail. */
const char *ord_link_status_code(ord_link_status s);

#endif
