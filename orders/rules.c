#include "orders/rules.h"

#include <string.h>

/* The refusals, as the API names them. */
typedef enum verdict {
    OK = 0,
    NP, /* not a party */
    RV, /* previews revoked: cancelled */
    NR, /* not released: not accepted yet */
    NC, /* not released: cancelled, never will be */
    NS, /* only the seller delivers */
    CL, /* closed: accepted or cancelled */
    UK, /* a state none of the four: fail closed */
} verdict;

static const ord_decision verdicts[] = {
    [OK] = {FG_OK, NULL, NULL},
    [NP] = {FG_EFORBIDDEN, "not_party", "this token is not a party to the order"},
    [RV] = {FG_EFORBIDDEN, "revoked", "the order was cancelled"},
    [NR] = {FG_EFORBIDDEN, "not_released", "originals are released when the order is accepted"},
    [NC] = {FG_EFORBIDDEN, "not_released", "the order was cancelled"},
    [NS] = {FG_EFORBIDDEN, "not_seller", "only the order's seller delivers"},
    [CL] = {FG_ESTATE, "wrong_state", "the order is closed"},
    [UK] = {FG_ESTATE, "wrong_state", "the order is in an unknown state"},
};

/* rules[action][party][state]. Every cell is written out, so that a
 * reader (and tests/unit/test_rules.c) checks the whole matrix, not a
 * chain of ifs. Columns: open, disputed, accepted, cancelled, unknown.
 *
 * - A buyer's originals (file, archive, plain hashes) open only in
 *   accepted: not while open, not while disputed (the freeze), never
 *   once cancelled.
 * - A cancelled order revokes the buyer's previews; the seller keeps
 *   seeing what they delivered.
 * - The seller delivers while open or disputed: a new version is how a
 *   seller answers a dispute. Accepted and cancelled are final. */
static const unsigned char rules[ORD_ACTION_COUNT][ORD_PARTY_COUNT][ORD_STATE_COUNT] = {
    [ORD_VIEW_ORDER] = {
        [ORD_NOBODY] = {NP, NP, NP, NP, NP},
        [ORD_SELLER] = {OK, OK, OK, OK, UK},
        [ORD_BUYER] = {OK, OK, OK, OK, UK},
        [ORD_ADMIN] = {OK, OK, OK, OK, UK},
    },
    [ORD_VIEW_AUDIT] = {
        [ORD_NOBODY] = {NP, NP, NP, NP, NP},
        [ORD_SELLER] = {OK, OK, OK, OK, UK},
        [ORD_BUYER] = {OK, OK, OK, OK, UK},
        [ORD_ADMIN] = {OK, OK, OK, OK, UK},
    },
    [ORD_PREVIEW] = {
        [ORD_NOBODY] = {NP, NP, NP, NP, NP},
        [ORD_SELLER] = {OK, OK, OK, OK, UK},
        [ORD_BUYER] = {OK, OK, OK, RV, UK},
        [ORD_ADMIN] = {OK, OK, OK, OK, UK},
    },
    [ORD_ORIGINAL] = {
        [ORD_NOBODY] = {NP, NP, NP, NP, NP},
        [ORD_SELLER] = {OK, OK, OK, OK, UK},
        [ORD_BUYER] = {NR, NR, OK, NC, UK},
        [ORD_ADMIN] = {OK, OK, OK, OK, UK},
    },
    [ORD_ARCHIVE] = {
        [ORD_NOBODY] = {NP, NP, NP, NP, NP},
        [ORD_SELLER] = {OK, OK, OK, OK, UK},
        [ORD_BUYER] = {NR, NR, OK, NC, UK},
        [ORD_ADMIN] = {OK, OK, OK, OK, UK},
    },
    [ORD_SEE_HASHES] = {
        [ORD_NOBODY] = {NP, NP, NP, NP, NP},
        [ORD_SELLER] = {OK, OK, OK, OK, UK},
        [ORD_BUYER] = {NR, NR, OK, NC, UK},
        [ORD_ADMIN] = {OK, OK, OK, OK, UK},
    },
    [ORD_DELIVER] = {
        [ORD_NOBODY] = {NP, NP, NP, NP, NP},
        [ORD_SELLER] = {OK, OK, CL, CL, UK},
        [ORD_BUYER] = {NS, NS, NS, NS, NS},
        [ORD_ADMIN] = {NS, NS, NS, NS, NS},
    },
};

static const char *const state_names[] = {
    [ORD_OPEN] = STORE_STATE_OPEN,
    [ORD_DISPUTED] = STORE_STATE_DISPUTED,
    [ORD_ACCEPTED] = STORE_STATE_ACCEPTED,
    [ORD_CANCELLED] = STORE_STATE_CANCELLED,
};

ord_state ord_state_parse(const char *s)
{
    for (int i = ORD_OPEN; s && i < ORD_STATE_UNKNOWN; i++)
        if (strcmp(s, state_names[i]) == 0)
            return (ord_state)i;
    return ORD_STATE_UNKNOWN;
}

const char *ord_state_name(ord_state s)
{
    return s >= ORD_OPEN && s < ORD_STATE_UNKNOWN ? state_names[s] : NULL;
}

ord_party ord_party_of(ord_role role, const char *sub, const char *token_order,
                       const store_order *o)
{
    if (role == ORD_ROLE_ADMIN)
        return ORD_ADMIN;
    /* A party's token is bound to its order (claim ord) and names the
     * party (claim sub): a buyer of order A holding a token of order B
     * where they are also the buyer is still no party to A. */
    if (!sub || !token_order || !o || strcmp(token_order, o->id) != 0)
        return ORD_NOBODY;
    if (role == ORD_ROLE_SELLER && strcmp(sub, o->seller_id) == 0)
        return ORD_SELLER;
    if (role == ORD_ROLE_BUYER && strcmp(sub, o->buyer_id) == 0)
        return ORD_BUYER;
    return ORD_NOBODY;
}

ord_decision ord_may_name(ord_role role, const char *token_order, const char *order_id)
{
    static const ord_decision wrong = {FG_EFORBIDDEN, "wrong_order",
                                       "this token is for another order"};
    if (role == ORD_ROLE_ADMIN)
        return verdicts[OK];
    if ((role == ORD_ROLE_SELLER || role == ORD_ROLE_BUYER) && token_order && order_id &&
        strcmp(token_order, order_id) == 0)
        return verdicts[OK];
    return wrong;
}

ord_decision ord_may(ord_party party, ord_state state, ord_action action)
{
    /* Out-of-range values come only from a bug: refuse, never index. */
    if ((unsigned)action >= ORD_ACTION_COUNT || (unsigned)party >= ORD_PARTY_COUNT)
        return verdicts[NP];
    if ((unsigned)state >= ORD_STATE_COUNT)
        state = ORD_STATE_UNKNOWN;
    return verdicts[rules[action][party][state]];
}

bool ord_may_purge(ord_state state, bool keep_accepted)
{
    switch (state) {
    case ORD_CANCELLED:
        return true;
    case ORD_ACCEPTED:
        return !keep_accepted;
    case ORD_OPEN:     /* the work is still going on */
    case ORD_DISPUTED: /* the freeze: the mediation may need every byte */
    case ORD_STATE_UNKNOWN:
    case ORD_STATE_COUNT:
        break;
    }
    return false;
}
