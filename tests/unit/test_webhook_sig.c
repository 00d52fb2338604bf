#define TAP_MAIN
#include "tests/unit/tap.h"

#include "fcgi/webhook_sig.h"

/* The Standard Webhooks specification's own test vector. */
static const char *SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char *ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
static const char *TS = "1614265330";
static const long long NOW = 1614265330;
static const char *BODY = "{\"test\": 2432232314}";
static const char *SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

static struct fcgi_webhook_key key(const char *secret)
{
    struct fcgi_webhook_key k;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_webhook_key_init(&k, secret, &r), FG_OK);
    return k;
}

static fg_result verify(const char *id, const char *ts, const char *sig,
                        const char *body, long long now,
                        enum fcgi_webhook_why *why)
{
    struct fcgi_webhook_key k = key(SECRET);
    fg_reason r = {{0}};
    fg_result res = fcgi_webhook_verify(&k, id, ts, sig, body,
                                        body ? strlen(body) : 0, now, why, &r);
    fcgi_webhook_key_release(&k);
    return res;
}

TEST("the specification's test vector verifies")
{
    enum fcgi_webhook_why why = -1;
    CHECK_INT(verify(ID, TS, SIG, BODY, NOW, &why), FG_OK);
    CHECK_INT(why, FCGI_WEBHOOK_OK);
}

TEST("signing the test vector gives the specification's signature")
{
    struct fcgi_webhook_key k = key(SECRET);
    char out[FCGI_WEBHOOK_SIG_BYTES];
    fg_reason r = {{0}};
    CHECK_INT(fcgi_webhook_sign(&k, ID, NOW, BODY, strlen(BODY), out, &r),
              FG_OK);
    CHECK_STR(out, SIG);
}

TEST("a secret without the whsec_ prefix is the same key")
{
    struct fcgi_webhook_key a = key(SECRET), b = key(SECRET + 6);
    CHECK_INT(a.len, 24);
    CHECK_INT(b.len, a.len);
    CHECK(memcmp(a.key, b.key, a.len) == 0);
}

TEST("bad secrets are refused with a usage error that does not echo them")
{
    static const char *const bad[] = {
        "", "whsec_", "whsec_!!!!", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",
        "whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_AAAAAAAAAAAAAAAAAAAA", /* 15 bytes: too short */
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 69 bytes: too long */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa=w",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fcgi_webhook_key k;
        fg_reason r = {{0}};
        if (fcgi_webhook_key_init(&k, bad[i], &r) != FG_EUSAGE)
            TAP_FAIL("accepted secret %zu", i);
        if (bad[i][0] && strlen(bad[i]) > 8 && strstr(r.text, bad[i] + 6))
            TAP_FAIL("reason echoes the secret: %s", r.text);
    }
    struct fcgi_webhook_key k;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_webhook_key_init(&k, NULL, &r), FG_EUSAGE);
}

TEST("one matching v1 among several signatures is enough")
{
    char hdr[512];
    snprintf(hdr, sizeof hdr,
             "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v2,%s %s", SIG + 3,
             SIG);
    CHECK_INT(verify(ID, TS, hdr, BODY, NOW, NULL), FG_OK);
    snprintf(hdr, sizeof hdr, "%s v1,bm90IGEgc2lnbmF0dXJl", SIG);
    CHECK_INT(verify(ID, TS, hdr, BODY, NOW, NULL), FG_OK);
    snprintf(hdr, sizeof hdr, "  %s  ", SIG);
    CHECK_INT(verify(ID, TS, hdr, BODY, NOW, NULL), FG_OK);
}

TEST("only v1 entries count: the right mac under another version fails")
{
    char hdr[128];
    enum fcgi_webhook_why why;
    snprintf(hdr, sizeof hdr, "v2,%s", SIG + 3);
    CHECK_INT(verify(ID, TS, hdr, BODY, NOW, &why), FG_EAUTH);
    CHECK_INT(why, FCGI_WEBHOOK_BAD_SIGNATURE);
    snprintf(hdr, sizeof hdr, "%s", SIG + 3);
    CHECK_INT(verify(ID, TS, hdr, BODY, NOW, &why), FG_EAUTH);
}

TEST("a wrong signature is refused as a bad signature")
{
    enum fcgi_webhook_why why;
    CHECK_INT(verify(ID, TS, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=",
                     BODY, NOW, &why),
              FG_EAUTH);
    CHECK_INT(why, FCGI_WEBHOOK_BAD_SIGNATURE);
    CHECK_INT(verify(ID, TS, "v1,h0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                     BODY, NOW, &why),
              FG_EAUTH);
    /* Signed with another key. */
    struct fcgi_webhook_key other = key("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    char sig[FCGI_WEBHOOK_SIG_BYTES];
    fg_reason r = {{0}};
    CHECK_INT(fcgi_webhook_sign(&other, ID, NOW, BODY, strlen(BODY), sig, &r),
              FG_OK);
    CHECK_INT(verify(ID, TS, sig, BODY, NOW, &why), FG_EAUTH);
    CHECK_INT(why, FCGI_WEBHOOK_BAD_SIGNATURE);
}

TEST("a tampered body, id or timestamp is refused")
{
    enum fcgi_webhook_why why;
    CHECK_INT(verify(ID, TS, SIG, "{\"test\": 2432232315}", NOW, &why), FG_EAUTH);
    CHECK_INT(why, FCGI_WEBHOOK_BAD_SIGNATURE);
    CHECK_INT(verify(ID, TS, SIG, "{\"test\": 2432232314} ", NOW, &why),
              FG_EAUTH);
    CHECK_INT(verify(ID, TS, SIG, "", NOW, &why), FG_EAUTH);
    CHECK_INT(verify("msg_p5jXN8AQM9LWM0D4loKWxJeK", TS, SIG, BODY, NOW, &why),
              FG_EAUTH);
    CHECK_INT(why, FCGI_WEBHOOK_BAD_SIGNATURE);
    CHECK_INT(verify(ID, "1614265331", SIG, BODY, NOW, &why), FG_EAUTH);
    CHECK_INT(why, FCGI_WEBHOOK_BAD_SIGNATURE);
}

TEST("a stale timestamp is refused as stale, at the tolerance accepted")
{
    enum fcgi_webhook_why why;
    fg_reason r = {{0}};
    struct fcgi_webhook_key k = key(SECRET);
    CHECK_INT(fcgi_webhook_verify(&k, ID, TS, SIG, BODY, strlen(BODY),
                                  NOW + FG_WEBHOOK_TOLERANCE_SECONDS + 1, &why,
                                  &r),
              FG_EAUTH);
    CHECK_INT(why, FCGI_WEBHOOK_STALE);
    CHECK(strstr(r.text, "old") != NULL);
    CHECK_INT(verify(ID, TS, SIG, BODY, NOW + FG_WEBHOOK_TOLERANCE_SECONDS, &why),
              FG_OK);
}

TEST("a future timestamp is refused as future, at the tolerance accepted")
{
    enum fcgi_webhook_why why;
    CHECK_INT(verify(ID, TS, SIG, BODY, NOW - FG_WEBHOOK_TOLERANCE_SECONDS - 1,
                     &why),
              FG_EAUTH);
    CHECK_INT(why, FCGI_WEBHOOK_FUTURE);
    CHECK_INT(verify(ID, TS, SIG, BODY, NOW - FG_WEBHOOK_TOLERANCE_SECONDS, &why),
              FG_OK);
}

TEST("malformed headers are refused as malformed")
{
    static const struct {
        const char *id, *ts, *sig;
    } rows[] = {
        {NULL, "1614265330", "v1,x"},
        {"msg_p5jXN8AQM9LWM0D4loKWxJek", NULL, "v1,x"},
        {"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", NULL},
        {"", "1614265330", "v1,x"},
        {"msg\r\nx", "1614265330", "v1,x"},
        {"msg_p5jXN8AQM9LWM0D4loKWxJek", "", "v1,x"},
        {"msg_p5jXN8AQM9LWM0D4loKWxJek", "-1614265330", "v1,x"},
        {"msg_p5jXN8AQM9LWM0D4loKWxJek", "+1614265330", "v1,x"},
        {"msg_p5jXN8AQM9LWM0D4loKWxJek", " 1614265330", "v1,x"},
        {"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330.5", "v1,x"},
        {"msg_p5jXN8AQM9LWM0D4loKWxJek", "0x60378a32", "v1,x"},
        {"msg_p5jXN8AQM9LWM0D4loKWxJek", "99999999999999999999999", "v1,x"},
        {"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        enum fcgi_webhook_why why = FCGI_WEBHOOK_OK;
        fg_result got = verify(rows[i].id, rows[i].ts, rows[i].sig, BODY, NOW,
                               &why);
        if (got != FG_EAUTH || why != FCGI_WEBHOOK_MALFORMED)
            TAP_FAIL("row %zu: result %d why %d", i, got, why);
    }
}

TEST("an over-long id or signature header is refused as malformed")
{
    char big[FG_WEBHOOK_MAX_SIG_HEADER_BYTES + 64];
    enum fcgi_webhook_why why;
    size_t n = 0;
    while (n + 50 < sizeof big - 1) {
        memcpy(big + n, SIG, strlen(SIG));
        n += strlen(SIG);
        big[n++] = ' ';
    }
    big[n] = '\0';
    CHECK(strlen(big) > FG_WEBHOOK_MAX_SIG_HEADER_BYTES);
    CHECK_INT(verify(ID, TS, big, BODY, NOW, &why), FG_EAUTH);
    CHECK_INT(why, FCGI_WEBHOOK_MALFORMED);
    char id[FG_WEBHOOK_MAX_ID_BYTES + 2];
    memset(id, 'i', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    CHECK_INT(verify(id, TS, SIG, BODY, NOW, &why), FG_EAUTH);
    CHECK_INT(why, FCGI_WEBHOOK_MALFORMED);
}

TEST("garbage signature entries are refused without a crash")
{
    static const char *const bad[] = {
        "v1,", "v1", ",", "v1,====", "v1,!!!!", " ", "v1,g0hM9SsE",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE==",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=x",
        "V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1 ,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (verify(ID, TS, bad[i], BODY, NOW, NULL) != FG_EAUTH)
            TAP_FAIL("accepted \"%s\"", bad[i]);
    /* Every prefix of the right signature but the whole. */
    char buf[64];
    for (size_t i = 0; i < strlen(SIG); i++) {
        memcpy(buf, SIG, i);
        buf[i] = '\0';
        if (verify(ID, TS, buf, BODY, NOW, NULL) != FG_EAUTH)
            TAP_FAIL("accepted prefix of %zu", i);
    }
}

TEST("sign and verify round-trip over a binary body with NUL bytes")
{
    struct fcgi_webhook_key k = key(SECRET);
    static const char body[] = {'a', 0, 'b', '\n', (char)0xff};
    char sig[FCGI_WEBHOOK_SIG_BYTES];
    fg_reason r = {{0}};
    CHECK_INT(fcgi_webhook_sign(&k, "evt_1", 1700000000, body, sizeof body, sig,
                                &r),
              FG_OK);
    CHECK_INT(fcgi_webhook_verify(&k, "evt_1", "1700000000", sig, body,
                                  sizeof body, 1700000000, NULL, &r),
              FG_OK);
    /* The byte after the NUL counts. */
    static const char body2[] = {'a', 0, 'c', '\n', (char)0xff};
    CHECK_INT(fcgi_webhook_verify(&k, "evt_1", "1700000000", sig, body2,
                                  sizeof body2, 1700000000, NULL, &r),
              FG_EAUTH);
    CHECK_INT(fcgi_webhook_sign(&k, "", 1, body, 1, sig, &r), FG_EUSAGE);
    CHECK_INT(fcgi_webhook_sign(&k, "a b", 1, body, 1, sig, &r), FG_EUSAGE);
    CHECK_INT(fcgi_webhook_sign(&k, "a", -1, body, 1, sig, &r), FG_EUSAGE);
}

TEST("release wipes the key")
{
    struct fcgi_webhook_key k = key(SECRET);
    fcgi_webhook_key_release(&k);
    CHECK_INT(k.len, 0);
    for (size_t i = 0; i < sizeof k.key; i++)
        CHECK_INT(k.key[i], 0);
    fcgi_webhook_key_release(NULL);
}

TEST("with several keys, a signature by any of them verifies, by none is refused")
{
    /* Two keys of a rotation: the specification's, and another. */
    struct fcgi_webhook_key keys[2] = {key("whsec_c2VjcmV0LWtleS1vZi10aGUtbmV3LW9uZS0xMjM0"),
                                       key(SECRET)};
    enum fcgi_webhook_why why = FCGI_WEBHOOK_OK;
    fg_reason r = {{0}};
    char sig_new[FCGI_WEBHOOK_SIG_BYTES];
    CHECK_INT(fcgi_webhook_verify_any(keys, 2, ID, TS, SIG, BODY, strlen(BODY), NOW, &why, &r),
              FG_OK);
    CHECK_INT(fcgi_webhook_sign(&keys[0], ID, NOW, BODY, strlen(BODY), sig_new, &r), FG_OK);
    CHECK_INT(fcgi_webhook_verify_any(keys, 2, ID, TS, sig_new, BODY, strlen(BODY), NOW, &why,
                                      &r),
              FG_OK);
    /* Only the new key left: the old signature is refused. */
    CHECK_INT(fcgi_webhook_verify_any(keys, 1, ID, TS, SIG, BODY, strlen(BODY), NOW, &why, &r),
              FG_EAUTH);
    CHECK_INT(why, FCGI_WEBHOOK_BAD_SIGNATURE);
    /* 0 keys or more than the limit: a usage error, never a pass. */
    CHECK_INT(fcgi_webhook_verify_any(keys, 0, ID, TS, SIG, BODY, strlen(BODY), NOW, &why, &r),
              FG_EUSAGE);
    struct fcgi_webhook_key many[FCGI_WEBHOOK_KEYS_MAX + 1];
    for (int i = 0; i <= FCGI_WEBHOOK_KEYS_MAX; i++)
        many[i] = keys[1];
    CHECK_INT(fcgi_webhook_verify_any(many, FCGI_WEBHOOK_KEYS_MAX, ID, TS, SIG, BODY,
                                      strlen(BODY), NOW, &why, &r),
              FG_OK);
    CHECK_INT(fcgi_webhook_verify_any(many, FCGI_WEBHOOK_KEYS_MAX + 1, ID, TS, SIG, BODY,
                                      strlen(BODY), NOW, &why, &r),
              FG_EUSAGE);
}
