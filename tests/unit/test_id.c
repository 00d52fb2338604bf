/* common/id.c: the one rule for identifiers (orders, users, files,
 * webhook ids, links), from a table. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include "common/id.h"
#include "fcgi/jwt.h"
#include "fcgi/webhook_sig.h"
#include "storage/meta.h"

static char long_id[FG_MAX_ID + 2];

/* A string of n 'a's (n <= FG_MAX_ID + 1), in long_id. */
static const char *as(size_t n)
{
    memset(long_id, 'a', n);
    long_id[n] = '\0';
    return long_id;
}

static const struct id_row {
    const char *in;
    fg_id_fault want;
} rows[] = {
    {"", FG_ID_EMPTY},
    {"a", FG_ID_OK},
    {"0", FG_ID_OK},
    {"Z", FG_ID_OK},
    {"ord-42", FG_ID_OK},
    {"ord:42", FG_ID_OK},
    {"buyer@example.com", FG_ID_OK},
    {"ord+7", FG_ID_OK},
    {"~ord", FG_ID_OK},
    {"a_b", FG_ID_OK},
    {"urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", FG_ID_OK},
    /* Every allowed punctuation alone, and at the start. */
    {"-", FG_ID_OK},
    {"_", FG_ID_OK},
    {"~", FG_ID_OK},
    {":", FG_ID_OK},
    {"@", FG_ID_OK},
    {"+", FG_ID_OK},
    {"-._~:@+", FG_ID_OK},
    /* A dot anywhere but first. */
    {"a.", FG_ID_OK},
    {"a..b", FG_ID_OK},
    {".", FG_ID_LEADING_DOT},
    {"..", FG_ID_LEADING_DOT},
    {".hidden", FG_ID_LEADING_DOT},
    {"./a", FG_ID_LEADING_DOT},
    /* Path, URL and log breakers. */
    {"a/b", FG_ID_BAD_CHAR},
    {"/", FG_ID_BAD_CHAR},
    {"a\\b", FG_ID_BAD_CHAR},
    {"a b", FG_ID_BAD_CHAR},
    {"a\nb", FG_ID_BAD_CHAR},
    {"a\r", FG_ID_BAD_CHAR},
    {"a\tb", FG_ID_BAD_CHAR},
    {"\x7f", FG_ID_BAD_CHAR},
    {"ord%3A42", FG_ID_BAD_CHAR}, /* '%': ids are stored decoded */
    {"a?b", FG_ID_BAD_CHAR},
    {"a#b", FG_ID_BAD_CHAR},
    {"a&b", FG_ID_BAD_CHAR},
    {"a=b", FG_ID_BAD_CHAR},
    {"a;b", FG_ID_BAD_CHAR},
    {"a,b", FG_ID_BAD_CHAR},
    {"a\"b", FG_ID_BAD_CHAR},
    {"a'b", FG_ID_BAD_CHAR},
    {"a<b>", FG_ID_BAD_CHAR},
    {"a*", FG_ID_BAD_CHAR},
    {"a!", FG_ID_BAD_CHAR},
    {"$a", FG_ID_BAD_CHAR},
    {"(a)", FG_ID_BAD_CHAR},
    {"[a]", FG_ID_BAD_CHAR},
    {"{a}", FG_ID_BAD_CHAR},
    {"a|b", FG_ID_BAD_CHAR},
    {"a^b", FG_ID_BAD_CHAR},
    {"a`b", FG_ID_BAD_CHAR},
    {"caf\xc3\xa9", FG_ID_BAD_CHAR}, /* UTF-8: not ASCII */
    {"\xff", FG_ID_BAD_CHAR},
};

TEST("the id rule, edge by edge")
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fg_id_fault got = fg_id_check(rows[i].in, strlen(rows[i].in));
        if (got != rows[i].want)
            TAP_FAIL("row %zu (\"%s\"): got %d, want %d", i, rows[i].in, (int)got,
                     (int)rows[i].want);
        if (fg_id_valid(rows[i].in) != (rows[i].want == FG_ID_OK))
            TAP_FAIL("row %zu (\"%s\"): fg_id_valid disagrees", i, rows[i].in);
    }
}

TEST("0, 1, 128 and 129 bytes: empty, ok, ok, too long")
{
    CHECK_INT(fg_id_check(as(0), 0), FG_ID_EMPTY);
    CHECK_INT(fg_id_check(as(1), 1), FG_ID_OK);
    CHECK_INT(fg_id_check(as(FG_MAX_ID), FG_MAX_ID), FG_ID_OK);
    CHECK(fg_id_valid(as(FG_MAX_ID)));
    CHECK_INT(fg_id_check(as(FG_MAX_ID + 1), FG_MAX_ID + 1), FG_ID_TOO_LONG);
    CHECK(!fg_id_valid(as(FG_MAX_ID + 1)));
    CHECK_INT(FG_MAX_ID, 128);
    CHECK(!fg_id_valid(NULL));
    CHECK_INT(fg_id_check(NULL, 3), FG_ID_EMPTY);
}

TEST("every prefix of a 128-byte id with every allowed byte is an id")
{
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~:@+-";
    char id[FG_MAX_ID + 1];
    for (size_t i = 0; i < FG_MAX_ID; i++)
        id[i] = alphabet[i % (sizeof alphabet - 1)];
    id[FG_MAX_ID] = '\0';
    for (size_t n = 1; n <= FG_MAX_ID; n++)
        if (fg_id_check(id, n) != FG_ID_OK)
            TAP_FAIL("prefix of %zu bytes refused", n);
}

TEST("every byte value: allowed exactly when it is one of [A-Za-z0-9._~:@+-]")
{
    for (int c = 0; c < 256; c++) {
        char s[2] = {'a', (char)c};
        bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || (c && strchr("._~:@+-", c));
        bool got = fg_id_check(s, 2) == FG_ID_OK;
        if (got != want)
            TAP_FAIL("byte 0x%02x: got %d, want %d", c, got, want);
    }
}

TEST("a NUL inside the counted bytes is a bad character, not an end")
{
    CHECK_INT(fg_id_check("ord\0evil", 8), FG_ID_BAD_CHAR);
    CHECK_INT(fg_id_check("ord\0evil", 3), FG_ID_OK);
}

TEST("only the counted bytes are read")
{
    /* No terminator after the 3 bytes the router hands over. */
    char seg[3] = {'o', 'r', 'd'};
    CHECK_INT(fg_id_check(seg, sizeof seg), FG_ID_OK);
    CHECK_INT(fg_id_check("ord/deliveries", 3), FG_ID_OK);
}

TEST("each fault has its own message")
{
    CHECK_STR(fg_id_fault_text(FG_ID_EMPTY), "is missing");
    CHECK_STR(fg_id_fault_text(FG_ID_TOO_LONG), "is longer than 128 bytes");
    CHECK_STR(fg_id_fault_text(FG_ID_LEADING_DOT), "may not start with a dot");
    CHECK_STR(fg_id_fault_text(FG_ID_BAD_CHAR), "may only hold letters, digits and ._~:@+-");
}

TEST("the store, tokens and webhooks take exactly the ids the rule takes")
{
    static const char *JWT_SECRET = "0123456789abcdef0123456789abcdef-test";
    static const char *HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const long long now = 1800000000;
    struct db d;
    struct fcgi_webhook_key k;
    fg_reason r = {{0}};
    db_open(&d);
    CHECK_INT(fcgi_webhook_key_init(&k, HOOK_SECRET, &r), FG_OK);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *id = rows[i].in;
        bool want = rows[i].want == FG_ID_OK, created = false;
        bool stored = store_order_create(d.m, id, "s-1", "b-1", NULL, NULL, NULL, &created,
                                         &r) == FG_OK;
        if (stored != want)
            TAP_FAIL("row %zu (\"%s\"): store %s it", i, id, stored ? "took" : "refused");

        /* A token naming the id as user and as order. */
        char *t = NULL;
        struct fcgi_claims c;
        bool token = fcgi_jwt_mint(JWT_SECRET, FCGI_ROLE_BUYER, id, id, 60, now, &t, &r) == FG_OK &&
                     fcgi_jwt_verify(t, JWT_SECRET, now, &c, &r) == FG_OK;
        free(t);
        if (token != want)
            TAP_FAIL("row %zu (\"%s\"): token check %s it", i, id, token ? "took" : "refused");

        /* A webhook with the id as its webhook-id. */
        char sig[FCGI_WEBHOOK_SIG_BYTES];
        bool hook = fcgi_webhook_sign(&k, id, now, "{}", 2, sig, &r) == FG_OK &&
                    fcgi_webhook_verify(&k, id, "1800000000", sig, "{}", 2, now, NULL, &r) == FG_OK;
        if (hook != want)
            TAP_FAIL("row %zu (\"%s\"): webhook check %s it", i, id, hook ? "took" : "refused");
    }
    /* The 128-byte edge, and one past it, everywhere. */
    for (size_t n = FG_MAX_ID; n <= FG_MAX_ID + 1; n++) {
        bool created = false;
        char *t = NULL;
        char sig[FCGI_WEBHOOK_SIG_BYTES];
        const char *id = as(n);
        bool want = n == FG_MAX_ID;
        CHECK(want == (store_order_create(d.m, id, "s-1", "b-1", NULL, NULL, NULL, &created, &r) ==
                       FG_OK));
        CHECK(want == (fcgi_jwt_mint(JWT_SECRET, FCGI_ROLE_SELLER, id, id, 60, now, &t, &r) == FG_OK));
        free(t);
        CHECK(want == (fcgi_webhook_sign(&k, id, now, "{}", 2, sig, &r) == FG_OK));
    }
    fcgi_webhook_key_release(&k);
    db_close(&d);
}
