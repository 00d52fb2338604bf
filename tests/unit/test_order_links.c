/* The rules of scoped links (orders/links.c), the whole matrix: who may
 * mint which link in which state, and whether it still opens. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include "orders/links.h"

enum { P = ORD_LINK_PREVIEW, O = ORD_LINK_ORIGINAL };

/* {party, state, purpose, want code (NULL: allowed)}. */
static const struct {
    ord_party party;
    ord_state state;
    int purpose;
    const char *code;
} rows[] = {
    {ORD_BUYER, ORD_OPEN, O, "not_released"},
    {ORD_BUYER, ORD_DISPUTED, O, "not_released"},
    {ORD_BUYER, ORD_ACCEPTED, O, NULL},
    {ORD_BUYER, ORD_CANCELLED, O, "not_released"},
    {ORD_BUYER, ORD_OPEN, P, NULL},
    {ORD_BUYER, ORD_DISPUTED, P, NULL},
    {ORD_BUYER, ORD_ACCEPTED, P, NULL},
    {ORD_BUYER, ORD_CANCELLED, P, "revoked"},
    {ORD_SELLER, ORD_OPEN, O, NULL},
    {ORD_SELLER, ORD_DISPUTED, O, NULL},
    {ORD_SELLER, ORD_ACCEPTED, O, NULL},
    {ORD_SELLER, ORD_CANCELLED, O, NULL},
    {ORD_SELLER, ORD_OPEN, P, NULL},
    {ORD_SELLER, ORD_CANCELLED, P, "revoked"},
    {ORD_ADMIN, ORD_OPEN, O, NULL},
    {ORD_ADMIN, ORD_CANCELLED, P, "revoked"},
    {ORD_ADMIN, ORD_CANCELLED, O, NULL},
    {ORD_NOBODY, ORD_ACCEPTED, O, "not_party"},
    {ORD_NOBODY, ORD_OPEN, P, "not_party"},
    {ORD_SELLER, ORD_STATE_UNKNOWN, O, "wrong_state"},
    {ORD_BUYER, ORD_STATE_UNKNOWN, P, "wrong_state"},
    {ORD_SELLER, ORD_OPEN, ORD_LINK_BAD, "bad_purpose"},
};

TEST("mint and use follow one matrix: the minter's rights now, previews end at cancellation")
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ord_decision m = ord_link_may_mint(rows[i].party, rows[i].state,
                                           (ord_link_purpose)rows[i].purpose);
        ord_decision u = ord_link_may_use(rows[i].party, rows[i].state,
                                          (ord_link_purpose)rows[i].purpose);
        if (rows[i].code) {
            if (!(m.rc != FG_OK && m.code && strcmp(m.code, rows[i].code) == 0))
                TAP_FAIL("row %zu: mint gave %s, want %s", i, m.code ? m.code : "ok",
                         rows[i].code);
            CHECK(u.rc != FG_OK && u.code && strcmp(u.code, rows[i].code) == 0);
        } else {
            if (m.rc != FG_OK)
                TAP_FAIL("row %zu: mint refused (%s)", i, m.code);
            CHECK(u.rc == FG_OK);
        }
    }
}

TEST("purposes and minter roles parse exactly")
{
    CHECK(ord_link_purpose_parse("preview") == ORD_LINK_PREVIEW);
    CHECK(ord_link_purpose_parse("original") == ORD_LINK_ORIGINAL);
    CHECK(ord_link_purpose_parse("Original") == ORD_LINK_BAD);
    CHECK(ord_link_purpose_parse("") == ORD_LINK_BAD);
    CHECK(ord_link_purpose_parse(NULL) == ORD_LINK_BAD);
    CHECK(ord_link_party("seller") == ORD_SELLER);
    CHECK(ord_link_party("buyer") == ORD_BUYER);
    CHECK(ord_link_party("admin") == ORD_ADMIN);
    CHECK(ord_link_party("buyer ") == ORD_NOBODY);
    CHECK(ord_link_party(NULL) == ORD_NOBODY);
}

TEST("a link's status: revoked before expired before used up, each at its edge")
{
    static const struct {
        bool revoked;
        int64_t expires, uses, max, now;
        ord_link_status want;
    } s[] = {
        {false, 100, 0, 1, 99, ORD_LINK_OPEN},
        {false, 100, 0, 1, 100, ORD_LINK_EXPIRED},
        {false, 100, 1, 1, 99, ORD_LINK_USED_UP},
        {false, 100, 1, 2, 99, ORD_LINK_OPEN},
        {true, 100, 0, 1, 99, ORD_LINK_REVOKED},
        {true, 100, 5, 1, 200, ORD_LINK_REVOKED},
        {false, 100, 5, 1, 200, ORD_LINK_EXPIRED},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        CHECK_INT(ord_link_status_of(s[i].revoked, s[i].expires, s[i].uses, s[i].max, s[i].now),
                  s[i].want);
    CHECK_STR(ord_link_status_code(ORD_LINK_REVOKED), "link_revoked");
    CHECK_STR(ord_link_status_code(ORD_LINK_EXPIRED), "link_expired");
    CHECK_STR(ord_link_status_code(ORD_LINK_USED_UP), "link_used_up");
    CHECK(ord_link_status_code(ORD_LINK_OPEN) == NULL);
}
