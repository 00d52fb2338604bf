/* common/id.c: the one rule for identifiers (orders, users, files,
 * webhook ids, links), from a table. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include "common/id.h"
#include "fcgi/http.h"
#include "fcgi/jwt.h"
#include "fcgi/router.h"
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

/* Routes req for a raw REQUEST_URI as nginx passes it. Returns -1 when
 * the request line itself is refused (fcgi_req_init: a bad escape, a NUL). */
static int route(const char *method, const char *uri, char param0[FG_MAX_ID + 1],
                 char param1[FG_MAX_ID + 1])
{
    char m[64], u[1200];
    snprintf(m, sizeof m, "REQUEST_METHOD=%s", method);
    snprintf(u, sizeof u, "REQUEST_URI=%s", uri);
    char *env[] = {m, u, NULL};
    FCGX_Request fx;
    fcgi_req req;
    fg_reason r = {{0}};
    fcgi_handler h;
    char allow[FCGI_ALLOW_MAX];
    memset(&fx, 0, sizeof fx);
    fx.envp = env;
    param0[0] = param1[0] = '\0';
    if (fcgi_req_init(&req, &fx, NULL, &r) != FG_OK)
        return -1;
    fcgi_route_result res = fcgi_route_find(&req, &h, allow);
    if (res == FCGI_ROUTE_FOUND) {
        snprintf(param0, FG_MAX_ID + 1, "%s", req.params[0] ? req.params[0] : "");
        snprintf(param1, FG_MAX_ID + 1, "%s", req.params[1] ? req.params[1] : "");
    }
    fcgi_req_release(&req);
    return (int)res;
}

TEST("URLs: ids raw or percent-encoded reach the handler decoded; others are refused")
{
    static char u128[200], u129[200], want128[FG_MAX_ID + 1];
    snprintf(u128, sizeof u128, "/v1/files/%s/preview", as(FG_MAX_ID));
    memcpy(want128, as(FG_MAX_ID), FG_MAX_ID + 1);
    snprintf(u129, sizeof u129, "/v1/files/%s/preview", as(FG_MAX_ID + 1));
    const struct {
        const char *method, *uri;
        int want;
        const char *p0, *p1;
    } rows[] = {
        {"GET", "/v1/orders/ord:42", FCGI_ROUTE_FOUND, "ord:42", ""},
        {"GET", "/v1/orders/ord%3A42", FCGI_ROUTE_FOUND, "ord:42", ""},
        {"GET", "/v1/orders/ord%3a42", FCGI_ROUTE_FOUND, "ord:42", ""},
        {"GET", "/v1/orders/%6F%72%64%3A%34%32", FCGI_ROUTE_FOUND, "ord:42", ""},
        {"GET", "/v1/orders/o+1", FCGI_ROUTE_FOUND, "o+1", ""}, /* '+' is no space */
        {"GET", "/v1/orders/o%2B1", FCGI_ROUTE_FOUND, "o+1", ""},
        {"GET", "/v1/orders/a@b", FCGI_ROUTE_FOUND, "a@b", ""},
        {"GET", "/v1/orders/a%40b", FCGI_ROUTE_FOUND, "a@b", ""},
        {"GET", "/v1/orders/~x", FCGI_ROUTE_FOUND, "~x", ""},
        {"GET", "/v1/orders/%7Ex", FCGI_ROUTE_FOUND, "~x", ""},
        {"GET", "/v1/orders/-._~:@+", FCGI_ROUTE_FOUND, "-._~:@+", ""},
        {"GET", "/v1/orders/a.b/audit", FCGI_ROUTE_FOUND, "a.b", ""},
        {"GET", "/v1/orders/ord:42/deliveries/1/archive", FCGI_ROUTE_FOUND, "ord:42", "1"},
        {"POST", "/v1/orders/ord%3A42/deliveries", FCGI_ROUTE_FOUND, "ord:42", ""},
        {"POST", "/_auth/v1/orders/ord%3A42/deliveries?x=1", FCGI_ROUTE_FOUND, "ord:42", ""},
        {"GET", u128, FCGI_ROUTE_FOUND, want128, ""},
        {"GET", u129, FCGI_ROUTE_BAD_ID, "", ""},
        {"GET", "/v1/orders/.x", FCGI_ROUTE_BAD_ID, "", ""},
        {"GET", "/v1/orders/%2Ex", FCGI_ROUTE_BAD_ID, "", ""},
        {"GET", "/v1/orders/..", FCGI_ROUTE_BAD_ID, "", ""},
        {"GET", "/v1/orders/%2E%2E/audit", FCGI_ROUTE_BAD_ID, "", ""},
        {"GET", "/v1/files/./preview", FCGI_ROUTE_BAD_ID, "", ""},
        {"GET", "/v1/orders/a%20b", FCGI_ROUTE_BAD_ID, "", ""},
        {"GET", "/v1/orders/a%25b", FCGI_ROUTE_BAD_ID, "", ""}, /* "a%b": decoded once only */
        {"GET", "/v1/orders/a%253Ab", FCGI_ROUTE_BAD_ID, "", ""},
        {"GET", "/v1/orders/a%0Ab", FCGI_ROUTE_BAD_ID, "", ""},
        {"GET", "/v1/orders/caf%C3%A9", FCGI_ROUTE_BAD_ID, "", ""},
        /* %2F is a slash: a different path, no id holds one. */
        {"GET", "/v1/orders/a%2Fb", FCGI_ROUTE_NOT_FOUND, "", ""},
        {"GET", "/v1/orders/", FCGI_ROUTE_NOT_FOUND, "", ""},
        {"GET", "/v1/orders/ord:42/deliveries", FCGI_ROUTE_BAD_METHOD, "", ""},
        /* The request line itself is refused: a NUL, a broken escape. */
        {"GET", "/v1/orders/a%00b", -1, "", ""},
        {"GET", "/v1/orders/a%ZZ", -1, "", ""},
        {"GET", "/v1/orders/a%3", -1, "", ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char p0[FG_MAX_ID + 1], p1[FG_MAX_ID + 1];
        int got = route(rows[i].method, rows[i].uri, p0, p1);
        if (got != rows[i].want || strcmp(p0, rows[i].p0) != 0 || strcmp(p1, rows[i].p1) != 0)
            TAP_FAIL("row %zu (%s %.40s): got %d \"%s\" \"%s\", want %d \"%s\" \"%s\"", i,
                     rows[i].method, rows[i].uri, got, p0, p1, rows[i].want, rows[i].p0,
                     rows[i].p1);
    }
}
