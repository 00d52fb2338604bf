/* Idempotency-Key records (storage/idempotency.c) on a real SQLite file
 * and a fresh PostgreSQL database (DB_TEST, tests/unit/store_tmp.h):
 * the key's alphabet and length, the fingerprint, and the claim's life
 * (claim, in flight, done, stale, expired, taken over, released). */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include "storage/idempotency.h"
#include "storage/meta.h"

#define TTL 86400
#define LEASE 900
#define T0 1800000000LL

static const struct {
    const char *key;
    bool ok;
} keys[] = {
    {"a", true},
    {"8e03978e-40d5-43e8-bc93-6894a57f9324", true},
    {"!#$%&'()*+,-./:;<=>?@[]^_`{|}~", true},
    {"", false},
    {" ", false},
    {"a b", false},
    {"a\"b", false},
    {"a\\b", false},
    {"tab\there", false},
    {"new\nline", false},
    {"\x7f", false},
    {"caf\xc3\xa9", false},
};

TEST("a key is 1 to 255 visible ASCII characters but '\"' and '\\\\'")
{
    char k[STORE_IDEM_KEY_MAX + 2];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (store_idem_key_valid(keys[i].key) != keys[i].ok)
            TAP_FAIL("key %zu (\"%s\") valid is %d", i, keys[i].key, !keys[i].ok);
    memset(k, 'k', sizeof k);
    k[STORE_IDEM_KEY_MAX] = '\0';
    CHECK(store_idem_key_valid(k));
    k[STORE_IDEM_KEY_MAX] = 'k';
    k[STORE_IDEM_KEY_MAX + 1] = '\0';
    CHECK(!store_idem_key_valid(k));
    CHECK(!store_idem_key_valid(NULL));
}

static void fp(const char *msg, size_t n, const char *const *names, const char *const *shas,
               char out[STORE_HEX_MAX])
{
    store_idem_fingerprint(msg, n, names, shas, out);
}

#define S1 "1111111111111111111111111111111111111111111111111111111111111111"
#define S2 "2222222222222222222222222222222222222222222222222222222222222222"

TEST("the fingerprint changes with the message, a name, a hash, the order or the count")
{
    const char *names[] = {"a.png", "b.png"}, *shas[] = {S1, S2};
    const char *names_r[] = {"b.png", "a.png"}, *shas_r[] = {S2, S1};
    const char *names_x[] = {"a.pn", "gb.png"}; /* same bytes, cut elsewhere */
    const char *shas_x[] = {S1, S1};
    char base[STORE_HEX_MAX], again[STORE_HEX_MAX], other[6][STORE_HEX_MAX];
    fp("v1", 2, names, shas, base);
    fp("v1", 2, names, shas, again);
    CHECK_STR(base, again);
    CHECK_INT(strlen(base), 64);
    fp("v2", 2, names, shas, other[0]);
    fp("v1", 2, names_r, shas_r, other[1]);
    fp("v1", 2, names_x, shas, other[2]);
    fp("v1", 2, names, shas_x, other[3]);
    fp("v1", 1, names, shas, other[4]);
    fp("v1a.png", 1, names + 1, shas + 1, other[5]);
    for (int i = 0; i < 6; i++)
        if (strcmp(base, other[i]) == 0)
            TAP_FAIL("variant %d has the same fingerprint", i);
    fp(NULL, 2, names, shas, other[0]);
    fp("", 2, names, shas, other[1]);
    CHECK_STR(other[0], other[1]); /* no message is the empty message */
}

static store_idem_claim claim(store_meta *m, const char *seller, const char *order,
                              const char *key, int64_t now)
{
    fg_reason r = {""};
    store_idem_claim c;
    if (store_idem_claim_key(m, seller, order, key, now, TTL, LEASE, &c, &r))
        TAP_FAIL("claim: %s", r.text);
    return c;
}

/* An order with one delivery, recorded under c's claim. */
static fg_result deliver(store_meta *m, const char *order, const store_idem_claim *c,
                         const char *key, const char *print, fg_reason *r)
{
    int n = 0;
    fg_result rc = store_meta_begin(m, r);
    if (rc == FG_OK)
        rc = store_delivery_create(m, order, NULL, NULL, &n, r);
    if (rc == FG_OK)
        rc = store_idem_complete(m, "s-1", order, key, c->token, print, n, r);
    if (rc == FG_OK)
        return store_meta_commit(m, r);
    store_meta_rollback(m);
    return rc;
}

static void mk_order(store_meta *m, const char *id)
{
    fg_reason r = {""};
    bool created;
    if (store_order_create(m, id, "s-1", "b-1", NULL, NULL, NULL, &created, &r))
        TAP_FAIL("order: %s", r.text);
}

DB_TEST("a key is claimed once: in flight, then done with its delivery and fingerprint")
{
    struct db d;
    fg_reason r = {""};
    db_open(&d);
    mk_order(d.m, "ord-1");
    store_idem_claim a = claim(d.m, "s-1", "ord-1", "k", T0);
    CHECK_INT(a.state, STORE_IDEM_CLAIMED);
    CHECK_INT(strlen(a.token), 32);
    store_idem_claim b = claim(d.m, "s-1", "ord-1", "k", T0 + 1);
    CHECK_INT(b.state, STORE_IDEM_IN_FLIGHT);
    CHECK_STR(b.token, ""); /* another request's token is never handed out */
    CHECK_INT(deliver(d.m, "ord-1", &a, "k", S1, &r), FG_OK);
    store_idem_claim c = claim(d.m, "s-1", "ord-1", "k", T0 + 2);
    CHECK_INT(c.state, STORE_IDEM_DONE);
    CHECK_INT(c.delivery, 1);
    CHECK_STR(c.fingerprint, S1);
    /* Completing twice, or with a token not the claimer's, is refused. */
    CHECK_INT(deliver(d.m, "ord-1", &a, "k", S1, &r), FG_ESTATE);
    db_close(&d);
}

DB_TEST("keys are scoped to the seller and the order")
{
    struct db d;
    db_open(&d);
    CHECK_INT(claim(d.m, "s-1", "ord-1", "k", T0).state, STORE_IDEM_CLAIMED);
    CHECK_INT(claim(d.m, "s-2", "ord-1", "k", T0).state, STORE_IDEM_CLAIMED);
    CHECK_INT(claim(d.m, "s-1", "ord-2", "k", T0).state, STORE_IDEM_CLAIMED);
    CHECK_INT(claim(d.m, "s-1", "ord-1", "K", T0).state, STORE_IDEM_CLAIMED);
    CHECK_INT(claim(d.m, "s-1", "ord-1", "k", T0).state, STORE_IDEM_IN_FLIGHT);
    db_close(&d);
}

DB_TEST("a claim in flight goes stale after the lease, exactly; the old claimer cannot complete")
{
    struct db d;
    fg_reason r = {""};
    db_open(&d);
    mk_order(d.m, "ord-1");
    store_idem_claim a = claim(d.m, "s-1", "ord-1", "k", T0);
    CHECK_INT(claim(d.m, "s-1", "ord-1", "k", T0 + LEASE - 1).state, STORE_IDEM_IN_FLIGHT);
    store_idem_claim b = claim(d.m, "s-1", "ord-1", "k", T0 + LEASE);
    CHECK_INT(b.state, STORE_IDEM_CLAIMED);
    CHECK(strcmp(a.token, b.token) != 0);
    CHECK_INT(deliver(d.m, "ord-1", &a, "k", S1, &r), FG_ESTATE);
    CHECK_INT(deliver(d.m, "ord-1", &b, "k", S2, &r), FG_OK);
    db_close(&d);
}

DB_TEST("a done key answers for the lifetime, exactly, then is a new key")
{
    struct db d;
    fg_reason r = {""};
    db_open(&d);
    mk_order(d.m, "ord-1");
    store_idem_claim a = claim(d.m, "s-1", "ord-1", "k", T0);
    CHECK_INT(deliver(d.m, "ord-1", &a, "k", S1, &r), FG_OK);
    CHECK_INT(claim(d.m, "s-1", "ord-1", "k", T0 + TTL - 1).state, STORE_IDEM_DONE);
    CHECK_INT(claim(d.m, "s-1", "ord-1", "k", T0 + TTL).state, STORE_IDEM_CLAIMED);
    db_close(&d);
}

DB_TEST("a released claim frees the key; release touches only the caller's claim in flight")
{
    struct db d;
    fg_reason r = {""};
    db_open(&d);
    mk_order(d.m, "ord-1");
    store_idem_claim a = claim(d.m, "s-1", "ord-1", "k", T0);
    CHECK_INT(store_idem_release(d.m, "s-1", "ord-1", "k", "ffffffffffffffffffffffffffffffff",
                                 &r), FG_OK);
    CHECK_INT(claim(d.m, "s-1", "ord-1", "k", T0).state, STORE_IDEM_IN_FLIGHT);
    CHECK_INT(store_idem_release(d.m, "s-1", "ord-1", "k", a.token, &r), FG_OK);
    store_idem_claim b = claim(d.m, "s-1", "ord-1", "k", T0);
    CHECK_INT(b.state, STORE_IDEM_CLAIMED);
    CHECK_INT(deliver(d.m, "ord-1", &b, "k", S1, &r), FG_OK);
    CHECK_INT(store_idem_release(d.m, "s-1", "ord-1", "k", b.token, &r), FG_OK);
    CHECK_INT(claim(d.m, "s-1", "ord-1", "k", T0).state, STORE_IDEM_DONE); /* kept */
    db_close(&d);
}

DB_TEST("expiry deletes the keys claimed at or before the cutoff, and only those")
{
    struct db d;
    fg_reason r = {""};
    int64_t n = -1;
    db_open(&d);
    claim(d.m, "s-1", "ord-1", "old", T0);
    claim(d.m, "s-1", "ord-1", "edge", T0 + 10);
    claim(d.m, "s-1", "ord-1", "young", T0 + 11);
    CHECK_INT(store_idem_expire(d.m, T0 + 10, &n, &r), FG_OK);
    CHECK_INT(n, 2);
    CHECK_INT(claim(d.m, "s-1", "ord-1", "young", T0 + 12).state, STORE_IDEM_IN_FLIGHT);
    CHECK_INT(claim(d.m, "s-1", "ord-1", "edge", T0 + 12).state, STORE_IDEM_CLAIMED);
    db_close(&d);
}

DB_TEST("malformed input and misuse of transactions are refused")
{
    struct db d;
    fg_reason r = {""};
    store_idem_claim c;
    db_open(&d);
    CHECK_INT(store_idem_claim_key(d.m, "s-1", "ord-1", "a b", T0, TTL, LEASE, &c, &r),
              FG_EUSAGE);
    CHECK_INT(store_idem_claim_key(d.m, "s 1", "ord-1", "k", T0, TTL, LEASE, &c, &r),
              FG_EUSAGE);
    CHECK_INT(store_meta_begin(d.m, &r), FG_OK);
    CHECK_INT(store_idem_claim_key(d.m, "s-1", "ord-1", "k", T0, TTL, LEASE, &c, &r),
              FG_EUSAGE);
    CHECK_INT(store_idem_expire(d.m, T0, NULL, &r), FG_EUSAGE);
    CHECK_INT(store_idem_complete(d.m, "s-1", "ord-1", "k", "t", "not hex", 1, &r), FG_EUSAGE);
    store_meta_rollback(d.m);
    CHECK_INT(store_idem_complete(d.m, "s-1", "ord-1", "k", "t", S1, 1, &r), FG_EUSAGE);
    db_close(&d);
}
