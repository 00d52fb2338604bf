/* orders/rules.c: who may do what to an order in which state. The expected
 * matrix is written here again, by hand, from DESIGN.md's API table, and
 * every cell (role x state x action) is checked against the rules. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include "orders/rules.h"

/* The expected answer of one cell: "ok" or the API's error code. */
typedef const char *cell[ORD_STATE_COUNT];

static const struct {
    ord_action action;
    const char *name;
    cell by_party[ORD_PARTY_COUNT]; /* nobody, seller, buyer, admin */
} want[] = {
    /*                          open            disputed        accepted   cancelled       unknown */
    {ORD_VIEW_ORDER, "view order", {
        {"not_party", "not_party", "not_party", "not_party", "not_party"},
        {"ok", "ok", "ok", "ok", "wrong_state"},
        {"ok", "ok", "ok", "ok", "wrong_state"},
        {"ok", "ok", "ok", "ok", "wrong_state"}}},
    {ORD_VIEW_AUDIT, "view audit", {
        {"not_party", "not_party", "not_party", "not_party", "not_party"},
        {"ok", "ok", "ok", "ok", "wrong_state"},
        {"ok", "ok", "ok", "ok", "wrong_state"},
        {"ok", "ok", "ok", "ok", "wrong_state"}}},
    {ORD_PREVIEW, "preview", {
        {"not_party", "not_party", "not_party", "not_party", "not_party"},
        {"ok", "ok", "ok", "ok", "wrong_state"},
        {"ok", "ok", "ok", "revoked", "wrong_state"},
        {"ok", "ok", "ok", "ok", "wrong_state"}}},
    {ORD_ORIGINAL, "download original", {
        {"not_party", "not_party", "not_party", "not_party", "not_party"},
        {"ok", "ok", "ok", "ok", "wrong_state"},
        {"not_released", "not_released", "ok", "not_released", "wrong_state"},
        {"ok", "ok", "ok", "ok", "wrong_state"}}},
    {ORD_ARCHIVE, "download archive", {
        {"not_party", "not_party", "not_party", "not_party", "not_party"},
        {"ok", "ok", "ok", "ok", "wrong_state"},
        {"not_released", "not_released", "ok", "not_released", "wrong_state"},
        {"ok", "ok", "ok", "ok", "wrong_state"}}},
    {ORD_SEE_HASHES, "see plain hashes", {
        {"not_party", "not_party", "not_party", "not_party", "not_party"},
        {"ok", "ok", "ok", "ok", "wrong_state"},
        {"not_released", "not_released", "ok", "not_released", "wrong_state"},
        {"ok", "ok", "ok", "ok", "wrong_state"}}},
    {ORD_DELIVER, "deliver", {
        {"not_party", "not_party", "not_party", "not_party", "not_party"},
        {"ok", "ok", "wrong_state", "wrong_state", "wrong_state"},
        {"not_seller", "not_seller", "not_seller", "not_seller", "not_seller"},
        {"not_seller", "not_seller", "not_seller", "not_seller", "not_seller"}}},
};

static const char *const party_names[] = {"nobody", "seller", "buyer", "admin"};
static const char *const state_names[] = {"open", "disputed", "accepted", "cancelled", "bogus"};

TEST("role x state x action: every cell of the table")
{
    int cells = 0;
    bool seen[ORD_ACTION_COUNT] = {false};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        seen[want[i].action] = true;
        for (int p = 0; p < ORD_PARTY_COUNT; p++)
            for (int s = 0; s < ORD_STATE_COUNT; s++) {
                const char *w = want[i].by_party[p][s];
                ord_decision d = ord_may((ord_party)p, (ord_state)s, want[i].action);
                const char *got = d.rc == FG_OK ? "ok" : d.code;
                /* 403 for who you are, 409 for when you ask. */
                fg_result rc = strcmp(w, "ok") == 0            ? FG_OK
                               : strcmp(w, "wrong_state") == 0 ? FG_ESTATE
                                                               : FG_EFORBIDDEN;
                if (!got || strcmp(got, w) != 0 || d.rc != rc)
                    TAP_FAIL("%s may %s in %s: got %s (%d), want %s", party_names[p],
                             want[i].name, state_names[s], got ? got : "(null)", (int)d.rc, w);
                if (d.rc != FG_OK && (!d.message || !*d.message))
                    TAP_FAIL("%s may %s in %s: refusal without a message", party_names[p],
                             want[i].name, state_names[s]);
                cells++;
            }
    }
    for (int a = 0; a < ORD_ACTION_COUNT; a++)
        if (!seen[a])
            TAP_FAIL("action %d has no row in the expected table", a);
    CHECK_INT(cells, ORD_ACTION_COUNT * ORD_PARTY_COUNT * ORD_STATE_COUNT);
}

TEST("the release rule: a buyer gets no original, archive or plain hash before acceptance")
{
    static const ord_action releasing[] = {ORD_ORIGINAL, ORD_ARCHIVE, ORD_SEE_HASHES};
    for (size_t a = 0; a < sizeof releasing / sizeof releasing[0]; a++)
        for (int s = 0; s < ORD_STATE_COUNT; s++) {
            bool allowed = ord_may(ORD_BUYER, (ord_state)s, releasing[a]).rc == FG_OK;
            if (allowed != (s == ORD_ACCEPTED))
                TAP_FAIL("action %d in %s: %s", (int)releasing[a], state_names[s],
                         allowed ? "released" : "refused");
        }
}

TEST("a dispute freezes: no release, no purge, but the seller still delivers")
{
    CHECK_STR(ord_may(ORD_BUYER, ORD_DISPUTED, ORD_ORIGINAL).code, "not_released");
    CHECK_STR(ord_may(ORD_BUYER, ORD_DISPUTED, ORD_ARCHIVE).code, "not_released");
    CHECK(!ord_may_purge(ORD_DISPUTED, false));
    CHECK(!ord_may_purge(ORD_DISPUTED, true));
    CHECK_INT(ord_may(ORD_SELLER, ORD_DISPUTED, ORD_DELIVER).rc, FG_OK);
    /* The buyer still sees the previews the dispute is about. */
    CHECK_INT(ord_may(ORD_BUYER, ORD_DISPUTED, ORD_PREVIEW).rc, FG_OK);
}

TEST("purges: cancelled always, accepted only when not kept, never open or disputed")
{
    static const struct {
        ord_state s;
        bool keep_accepted, want;
    } rows[] = {
        {ORD_OPEN, false, false},      {ORD_OPEN, true, false},
        {ORD_DISPUTED, false, false},  {ORD_DISPUTED, true, false},
        {ORD_ACCEPTED, false, true},   {ORD_ACCEPTED, true, false},
        {ORD_CANCELLED, false, true},  {ORD_CANCELLED, true, true},
        {ORD_STATE_UNKNOWN, false, false}, {ORD_STATE_UNKNOWN, true, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (ord_may_purge(rows[i].s, rows[i].keep_accepted) != rows[i].want)
            TAP_FAIL("row %zu: %s, keep_accepted %d", i, state_names[rows[i].s],
                     rows[i].keep_accepted);
}

static store_order order(const char *id, const char *seller, const char *buyer)
{
    store_order o;
    memset(&o, 0, sizeof o);
    snprintf(o.id, sizeof o.id, "%s", id);
    snprintf(o.seller_id, sizeof o.seller_id, "%s", seller);
    snprintf(o.buyer_id, sizeof o.buyer_id, "%s", buyer);
    snprintf(o.state, sizeof o.state, "%s", STORE_STATE_OPEN);
    return o;
}

TEST("a party is the order's own seller or buyer with a token bound to that order")
{
    store_order o = order("ord:42", "s-7", "b-9");
    static const struct {
        ord_role role;
        const char *sub, *ord;
        ord_party want;
    } rows[] = {
        {ORD_ROLE_SELLER, "s-7", "ord:42", ORD_SELLER},
        {ORD_ROLE_BUYER, "b-9", "ord:42", ORD_BUYER},
        {ORD_ROLE_ADMIN, "ops", "", ORD_ADMIN},
        {ORD_ROLE_ADMIN, "ops", "ord-other", ORD_ADMIN},
        /* The right person, a token of another order. */
        {ORD_ROLE_BUYER, "b-9", "ord:43", ORD_NOBODY},
        {ORD_ROLE_SELLER, "s-7", "ord-42", ORD_NOBODY},
        /* The right order, the wrong person. */
        {ORD_ROLE_BUYER, "b-8", "ord:42", ORD_NOBODY},
        /* A role that is not the party's: the buyer claiming to be seller. */
        {ORD_ROLE_SELLER, "b-9", "ord:42", ORD_NOBODY},
        {ORD_ROLE_BUYER, "s-7", "ord:42", ORD_NOBODY},
        /* Prefixes are not matches. */
        {ORD_ROLE_BUYER, "b-", "ord:42", ORD_NOBODY},
        {ORD_ROLE_BUYER, "b-9", "ord:4", ORD_NOBODY},
        {ORD_ROLE_BUYER, "b-9", "", ORD_NOBODY},
        {(ord_role)0, "b-9", "ord:42", ORD_NOBODY},
        {(ord_role)99, "s-7", "ord:42", ORD_NOBODY},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ord_party got = ord_party_of(rows[i].role, rows[i].sub, rows[i].ord, &o);
        if (got != rows[i].want)
            TAP_FAIL("row %zu: got %s, want %s", i, party_names[got], party_names[rows[i].want]);
    }
    CHECK_INT(ord_party_of(ORD_ROLE_BUYER, NULL, "ord:42", &o), ORD_NOBODY);
    CHECK_INT(ord_party_of(ORD_ROLE_BUYER, "b-9", NULL, &o), ORD_NOBODY);
    CHECK_INT(ord_party_of(ORD_ROLE_BUYER, "b-9", "ord:42", NULL), ORD_NOBODY);
}

TEST("a token names only its own order; an admin token any")
{
    CHECK_INT(ord_may_name(ORD_ROLE_SELLER, "ord:42", "ord:42").rc, FG_OK);
    CHECK_INT(ord_may_name(ORD_ROLE_BUYER, "ord:42", "ord:42").rc, FG_OK);
    CHECK_INT(ord_may_name(ORD_ROLE_ADMIN, "", "ord:42").rc, FG_OK);
    ord_decision d = ord_may_name(ORD_ROLE_BUYER, "ord:42", "ord:43");
    CHECK_INT(d.rc, FG_EFORBIDDEN);
    CHECK_STR(d.code, "wrong_order");
    CHECK_INT(ord_may_name(ORD_ROLE_SELLER, "", "ord:42").rc, FG_EFORBIDDEN);
    CHECK_INT(ord_may_name((ord_role)0, "ord:42", "ord:42").rc, FG_EFORBIDDEN);
    CHECK_INT(ord_may_name(ORD_ROLE_BUYER, NULL, "ord:42").rc, FG_EFORBIDDEN);
}

TEST("states parse from the store's words only; anything else is refused everywhere")
{
    CHECK_INT(ord_state_parse("open"), ORD_OPEN);
    CHECK_INT(ord_state_parse("disputed"), ORD_DISPUTED);
    CHECK_INT(ord_state_parse("accepted"), ORD_ACCEPTED);
    CHECK_INT(ord_state_parse("cancelled"), ORD_CANCELLED);
    static const char *const bad[] = {"", "Accepted", "accepted ", "accept", "released", "closed"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ord_state_parse(bad[i]) != ORD_STATE_UNKNOWN)
            TAP_FAIL("\"%s\" parsed as a state", bad[i]);
    CHECK_INT(ord_state_parse(NULL), ORD_STATE_UNKNOWN);
    for (int s = ORD_OPEN; s < ORD_STATE_UNKNOWN; s++)
        CHECK_INT(ord_state_parse(ord_state_name((ord_state)s)), s);
    CHECK(ord_state_name(ORD_STATE_UNKNOWN) == NULL);
}

TEST("out-of-range values are refused, never looked up")
{
    CHECK_INT(ord_may((ord_party)ORD_PARTY_COUNT, ORD_ACCEPTED, ORD_ORIGINAL).rc, FG_EFORBIDDEN);
    CHECK_INT(ord_may((ord_party)-1, ORD_ACCEPTED, ORD_ORIGINAL).rc, FG_EFORBIDDEN);
    CHECK_INT(ord_may(ORD_BUYER, ORD_ACCEPTED, (ord_action)ORD_ACTION_COUNT).rc, FG_EFORBIDDEN);
    CHECK_INT(ord_may(ORD_BUYER, (ord_state)99, ORD_ORIGINAL).rc, FG_ESTATE);
    CHECK_INT(ord_may(ORD_SELLER, (ord_state)-5, ORD_DELIVER).rc, FG_ESTATE);
}
