#include "orders/links.h"

#include <string.h>

ord_link_purpose ord_link_purpose_parse(const char *s)
{
    if (s && strcmp(s, "preview") == 0)
        return ORD_LINK_PREVIEW;
    if (s && strcmp(s, "original") == 0)
        return ORD_LINK_ORIGINAL;
    return ORD_LINK_BAD;
}

ord_party ord_link_party(const char *minted_role)
{
    if (!minted_role)
        return ORD_NOBODY;
    if (strcmp(minted_role, "seller") == 0)
        return ORD_SELLER;
    if (strcmp(minted_role, "buyer") == 0)
        return ORD_BUYER;
    if (strcmp(minted_role, "admin") == 0)
        return ORD_ADMIN;
    return ORD_NOBODY;
}

static ord_decision decide(ord_party party, ord_state state, ord_link_purpose purpose)
{
    static const ord_decision cancelled = {FG_EFORBIDDEN, "revoked",
                                           "the order was cancelled: its previews are revoked"};
    static const ord_decision bad = {FG_EUSAGE, "bad_purpose",
                                     "purpose must be \"preview\" or \"original\""};
    if (purpose == ORD_LINK_BAD)
        return bad;
    ord_decision d = ord_may(party, state, purpose == ORD_LINK_ORIGINAL ? ORD_ORIGINAL
                                                                        : ORD_PREVIEW);
    if (d.rc == FG_OK && purpose == ORD_LINK_PREVIEW && state == ORD_CANCELLED)
        return cancelled;
    return d;
}

ord_decision ord_link_may_mint(ord_party party, ord_state state, ord_link_purpose purpose)
{
    return decide(party, state, purpose);
}

ord_decision ord_link_may_use(ord_party party, ord_state state, ord_link_purpose purpose)
{
    return decide(party, state, purpose);
}

ord_link_status ord_link_status_of(bool revoked, int64_t expires_at, int64_t uses,
                                   int64_t max_uses, int64_t now)
{
    if (revoked)
        return ORD_LINK_REVOKED;
    if (expires_at <= now)
        return ORD_LINK_EXPIRED;
    if (uses >= max_uses)
        return ORD_LINK_USED_UP;
    return ORD_LINK_OPEN;
}

const char *ord_link_status_code(ord_link_status s)
{
    switch (s) {
    case ORD_LINK_REVOKED:
        return "link_revoked";
    case ORD_LINK_EXPIRED:
        return "link_expired";
    case ORD_LINK_USED_UP:
        return "link_used_up";
    case ORD_LINK_OPEN:
        break;
    }
    return NULL;
}
