/* fcgi/token_cache.c: a verified token is remembered per thread, with its
 * claims, until it expires; nothing else ever hits. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <pthread.h>

#include "fcgi/token_cache.h"

static struct fcgi_claims claims(long long exp)
{
    struct fcgi_claims c;
    memset(&c, 0, sizeof c);
    snprintf(c.sub, sizeof c.sub, "b-9");
    snprintf(c.ord, sizeof c.ord, "ord-1");
    c.role = FCGI_ROLE_BUYER;
    c.exp = exp;
    return c;
}

TEST("a remembered token hits with its claims until it expires")
{
    struct fcgi_claims c = claims(1000), got;
    fcgi_token_cache_put("aaa.bbb.ccc", 1, &c);
    CHECK(fcgi_token_cache_get("aaa.bbb.ccc", 900, 1, &got));
    CHECK_STR(got.sub, "b-9");
    CHECK_STR(got.ord, "ord-1");
    CHECK_INT(got.role, FCGI_ROLE_BUYER);
    /* The same expiry rule as fcgi_jwt_verify, skew included. */
    CHECK(fcgi_token_cache_get("aaa.bbb.ccc", 1000 + FG_JWT_CLOCK_SKEW_SECONDS - 1, 1, &got));
    CHECK(!fcgi_token_cache_get("aaa.bbb.ccc", 1000 + FG_JWT_CLOCK_SKEW_SECONDS, 1, &got));
    /* An expired entry is dropped, not revived by an earlier clock. */
    CHECK(!fcgi_token_cache_get("aaa.bbb.ccc", 900, 1, &got));
}

TEST("a token differing in one byte, or a prefix, never hits")
{
    struct fcgi_claims c = claims(5000), got;
    fcgi_token_cache_put("xxx.yyy.zz1", 1, &c);
    CHECK(!fcgi_token_cache_get("xxx.yyy.zz2", 100, 1, &got));
    CHECK(!fcgi_token_cache_get("xxx.yyy.zz", 100, 1, &got));
    CHECK(!fcgi_token_cache_get("xxx.yyy.zz11", 100, 1, &got));
    CHECK(!fcgi_token_cache_get("", 100, 1, &got));
    CHECK(fcgi_token_cache_get("xxx.yyy.zz1", 100, 1, &got));
}

TEST("a token remembered under one generation of keys misses under the next")
{
    struct fcgi_claims c = claims(5000), got;
    fcgi_token_cache_put("gen.old.key", 1, &c);
    CHECK(fcgi_token_cache_get("gen.old.key", 100, 1, &got));
    /* A SIGHUP swapped the keys: verified again, and dropped meanwhile. */
    CHECK(!fcgi_token_cache_get("gen.old.key", 100, 2, &got));
    CHECK(!fcgi_token_cache_get("gen.old.key", 100, 1, &got));
}

TEST("a token too long for a slot is not kept")
{
    static char big[2000];
    memset(big, 'a', sizeof big - 1);
    struct fcgi_claims c = claims(5000), got;
    fcgi_token_cache_put(big, 1, &c);
    CHECK(!fcgi_token_cache_get(big, 100, 1, &got));
}

TEST("old entries make room for new ones")
{
    struct fcgi_claims c = claims(5000), got;
    char tok[32];
    for (int i = 0; i < 20; i++) {
        snprintf(tok, sizeof tok, "tok-%02d", i);
        fcgi_token_cache_put(tok, 1, &c);
    }
    CHECK(fcgi_token_cache_get("tok-19", 100, 1, &got));
    CHECK(!fcgi_token_cache_get("tok-00", 100, 1, &got));
}

static void *other_thread(void *arg)
{
    struct fcgi_claims got;
    *(int *)arg = fcgi_token_cache_get("mine.only.here", 100, 1, &got);
    return NULL;
}

TEST("each thread has its own memory")
{
    struct fcgi_claims c = claims(5000);
    fcgi_token_cache_put("mine.only.here", 1, &c);
    int hit = -1;
    pthread_t t;
    CHECK_INT(pthread_create(&t, NULL, other_thread, &hit), 0);
    pthread_join(t, NULL);
    CHECK_INT(hit, 0);
}
