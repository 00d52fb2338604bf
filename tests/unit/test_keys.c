/* fcgi/keys.c: the rotating keys. Where they come from (variables fixed at
 * start, files read again), what a set holds, the limits at their edges,
 * a reload that picks up a rewritten file, the retired signing keys'
 * directory and its rules, and the keyring's swap under readers. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "fcgi/keys.h"

static const char *JWT = "jwt-default-0123456789abcdefghijklmnop";
static const char *WH1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char *WH2 = "whsec_c2VjcmV0LWtleS1vZi10aGUtbmV3LW9uZS0xMjM0";

static const char *const VARS[] = {
    "FILIGRANE_JWT_SECRET", "FILIGRANE_JWT_SECRETS", "FILIGRANE_WEBHOOK_SECRET",
    "FILIGRANE_WEBHOOK_SECRETS", "FILIGRANE_EVENTS_SECRET",
};

static void reset(void)
{
    char v[64];
    for (size_t i = 0; i < sizeof VARS / sizeof VARS[0]; i++) {
        unsetenv(VARS[i]);
        snprintf(v, sizeof v, "%s_FILE", VARS[i]);
        unsetenv(v);
    }
    unsetenv("FILIGRANE_SIGNING_KEY_FILE");
    unsetenv("FILIGRANE_SIGNING_KEYS_RETIRED_DIR");
}

/* Builds the secrets part from the environment now: FG_OK and *out, or
 * the failure with its reason in r. */
static fg_result build(fcgi_keys **out, fg_reason *r)
{
    struct fcgi_key_sources s;
    *out = NULL;
    fg_result rc = fcgi_key_sources_capture(&s, r);
    if (rc == FG_OK) {
        rc = fcgi_keys_build(&s, NULL, FCGI_KEYS_SECRETS | FCGI_KEYS_SIGNING, out, r);
        fcgi_key_sources_release(&s);
    }
    return rc;
}

static void refused(const char *want_in_reason)
{
    fcgi_keys *k = NULL;
    fg_reason r = {{0}};
    if (build(&k, &r) != FG_EUSAGE)
        TAP_FAIL("accepted, want a refusal naming %s", want_in_reason);
    else if (!strstr(r.text, want_in_reason))
        TAP_FAIL("reason \"%s\" does not name %s", r.text, want_in_reason);
    fcgi_keys_put(k);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    CHECK(fchmod(fd, mode) == 0);
    close(fd);
    CHECK(rename(tmp, path) == 0);
}

TEST("the default secrets alone: one JWT secret, one webhook key, events signed with it")
{
    reset();
    setenv("FILIGRANE_JWT_SECRET", JWT, 1);
    setenv("FILIGRANE_WEBHOOK_SECRET", WH1, 1);
    fcgi_keys *k = NULL;
    fg_reason r = {{0}};
    CHECK_INT(build(&k, &r), FG_OK);
    CHECK_STR(k->jwt_secret, JWT);
    CHECK_INT(k->n_jwt, 0);
    CHECK_INT(k->n_hooks, 1);
    CHECK(k->events_is_webhook);
    CHECK(memcmp(k->events.key, k->hooks[0].key, k->hooks[0].len) == 0);
    CHECK(k->sign_key == NULL);
    fcgi_keys_put(k);
}

TEST("kids, several webhook keys and an events key of its own")
{
    reset();
    char kids[256];
    snprintf(kids, sizeof kids, "old:%s\n\tnew:%s ", "old-secret-0123456789abcdefghijklmno",
             "new-secret-zyxwvutsrqponmlkjihgfedcb");
    setenv("FILIGRANE_JWT_SECRETS", kids, 1);
    char hooks[256];
    snprintf(hooks, sizeof hooks, "%s %s", WH1, WH2);
    setenv("FILIGRANE_WEBHOOK_SECRETS", hooks, 1);
    setenv("FILIGRANE_EVENTS_SECRET", "whsec_ZXZlbnRzLWtleS1vZi1maWxpZ3JhbmUtMTIzNA==", 1);
    fcgi_keys *k = NULL;
    fg_reason r = {{0}};
    CHECK_INT(build(&k, &r), FG_OK);
    CHECK(k->jwt_secret == NULL); /* tokens without kid are refused */
    CHECK_INT(k->n_jwt, 2);
    CHECK_STR(k->jwt[0].kid, "old");
    CHECK_STR(k->jwt[1].secret, "new-secret-zyxwvutsrqponmlkjihgfedcb");
    CHECK_INT(k->n_hooks, 2);
    CHECK(!k->events_is_webhook);
    CHECK(k->events.len == 28 && memcmp(k->events.key, "events-key-of-filigrane-1234", 28) == 0);
    struct fcgi_jwt_policy p;
    fcgi_keys_jwt_policy(k, 60, "aud", &p);
    CHECK(p.secret == NULL && p.n_keys == 2 && p.keys == k->jwt && p.max_ttl == 60);
    fcgi_keys_put(k);
}

TEST("malformed, weak, repeated or too many keys are refused, naming the variable")
{
    char big[4096];
    reset();
    refused("FILIGRANE_JWT_SECRET");
    setenv("FILIGRANE_JWT_SECRET", JWT, 1);
    refused("FILIGRANE_WEBHOOK_SECRET");
    setenv("FILIGRANE_WEBHOOK_SECRET", WH1, 1);

    setenv("FILIGRANE_JWT_SECRETS", "nocolon", 1);
    refused("FILIGRANE_JWT_SECRETS");
    setenv("FILIGRANE_JWT_SECRETS", "bad/kid:old-secret-0123456789abcdefghijklmno", 1);
    refused("FILIGRANE_JWT_SECRETS");
    setenv("FILIGRANE_JWT_SECRETS", "k:short", 1);
    refused("FILIGRANE_JWT_SECRETS");
    setenv("FILIGRANE_JWT_SECRETS", "k:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1);
    refused("FILIGRANE_JWT_SECRETS");
    setenv("FILIGRANE_JWT_SECRETS",
           "k:old-secret-0123456789abcdefghijklmno k:new-secret-zyxwvutsrqponmlkjihgfedcb", 1);
    refused("FILIGRANE_JWT_SECRETS");
    unsetenv("FILIGRANE_JWT_SECRETS");

    setenv("FILIGRANE_WEBHOOK_SECRETS", "whsec_not-base64!", 1);
    refused("FILIGRANE_WEBHOOK_SECRETS");
    setenv("FILIGRANE_WEBHOOK_SECRETS", "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1);
    refused("FILIGRANE_WEBHOOK_SECRETS");
    unsetenv("FILIGRANE_WEBHOOK_SECRETS");
    setenv("FILIGRANE_EVENTS_SECRET", "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1);
    refused("FILIGRANE_EVENTS_SECRET");
    unsetenv("FILIGRANE_EVENTS_SECRET");

    /* FCGI_JWT_KEYS_MAX kids accepted, one more refused. */
    size_t n = 0;
    for (int i = 0; i <= FCGI_JWT_KEYS_MAX; i++) {
        if (i == FCGI_JWT_KEYS_MAX) {
            setenv("FILIGRANE_JWT_SECRETS", big, 1);
            fcgi_keys *k = NULL;
            fg_reason r = {{0}};
            CHECK_INT(build(&k, &r), FG_OK);
            CHECK_INT(k ? k->n_jwt : 0, FCGI_JWT_KEYS_MAX);
            fcgi_keys_put(k);
        }
        n += (size_t)snprintf(big + n, sizeof big - n, "k%d:secret-%02d-0123456789abcdefghijklm ",
                              i, i);
    }
    setenv("FILIGRANE_JWT_SECRETS", big, 1);
    refused("more than 16 keys");
    unsetenv("FILIGRANE_JWT_SECRETS");

    /* FCGI_WEBHOOK_KEYS_MAX keys in all (with FILIGRANE_WEBHOOK_SECRET),
     * one more refused. */
    n = 0;
    big[0] = '\0';
    for (int i = 1; i < FCGI_WEBHOOK_KEYS_MAX; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s ", WH2);
    setenv("FILIGRANE_WEBHOOK_SECRETS", big, 1);
    fcgi_keys *k = NULL;
    fg_reason r = {{0}};
    CHECK_INT(build(&k, &r), FG_OK);
    CHECK_INT(k ? k->n_hooks : 0, FCGI_WEBHOOK_KEYS_MAX);
    fcgi_keys_put(k);
    snprintf(big + n, sizeof big - n, "%s", WH2);
    setenv("FILIGRANE_WEBHOOK_SECRETS", big, 1);
    refused("more than 8 keys");
    reset();
}

TEST("a secret given both ways is refused; a reason never holds a secret")
{
    reset();
    setenv("FILIGRANE_JWT_SECRET", JWT, 1);
    setenv("FILIGRANE_WEBHOOK_SECRET", WH1, 1);
    setenv("FILIGRANE_JWT_SECRETS", "k:x-secret-0123456789abcdefghijklmno", 1);
    setenv("FILIGRANE_JWT_SECRETS_FILE", "/nonexistent", 1);
    refused("not both");
    unsetenv("FILIGRANE_JWT_SECRETS_FILE");
    setenv("FILIGRANE_JWT_SECRETS", "k:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1);
    fcgi_keys *k = NULL;
    fg_reason r = {{0}};
    CHECK_INT(build(&k, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "aaaaaaaa") == NULL);
    reset();
}

TEST("a reload reads the _FILE again: the new secret in, the removed one out")
{
    reset();
    char dir[] = "/tmp/fg-keys-XXXXXX", jwt[128], hooks[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(jwt, sizeof jwt, "%s/jwt", dir);
    snprintf(hooks, sizeof hooks, "%s/hooks", dir);
    write_file(jwt, "old:old-secret-0123456789abcdefghijklmno\n", 0600);
    write_file(hooks, WH1, 0400);
    setenv("FILIGRANE_JWT_SECRETS_FILE", jwt, 1);
    setenv("FILIGRANE_WEBHOOK_SECRETS_FILE", hooks, 1);
    struct fcgi_key_sources s;
    fg_reason r = {{0}};
    fcgi_keys *a = NULL, *b = NULL, *c = NULL;
    CHECK_INT(fcgi_key_sources_capture(&s, &r), FG_OK);
    /* The variables are read once: unsetting them changes nothing. */
    reset();
    CHECK_INT(fcgi_keys_build(&s, NULL, FCGI_KEYS_SECRETS, &a, &r), FG_OK);
    CHECK_INT(a->n_jwt, 1);
    write_file(jwt, "new:new-secret-zyxwvutsrqponmlkjihgfedcb", 0600);
    CHECK_INT(fcgi_keys_build(&s, a, FCGI_KEYS_SECRETS, &b, &r), FG_OK);
    CHECK_INT(b->n_jwt, 1);
    CHECK_STR(b->jwt[0].kid, "new");
    /* A rewritten file that does not load leaves nothing built: the
     * caller keeps the set it has. */
    write_file(jwt, "new:short", 0600);
    CHECK_INT(fcgi_keys_build(&s, b, FCGI_KEYS_SECRETS, &c, &r), FG_EUSAGE);
    CHECK(c == NULL);
    CHECK(strstr(r.text, "FILIGRANE_JWT_SECRETS") != NULL);
    write_file(jwt, "new:new-secret-zyxwvutsrqponmlkjihgfedcb", 0644);
    CHECK_INT(fcgi_keys_build(&s, b, FCGI_KEYS_SECRETS, &c, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_JWT_SECRETS_FILE") != NULL);
    /* Only the signing part read anew: the secrets are copied. */
    CHECK_INT(fcgi_keys_build(&s, b, FCGI_KEYS_SIGNING, &c, &r), FG_OK);
    CHECK_STR(c->jwt[0].kid, "new");
    CHECK(c->jwt[0].secret != b->jwt[0].secret);
    CHECK_STR(c->jwt[0].secret, b->jwt[0].secret);
    CHECK_INT(c->n_hooks, 1);
    fcgi_keys_put(a);
    fcgi_keys_put(b);
    fcgi_keys_put(c);
    fcgi_key_sources_release(&s);
    unlink(jwt);
    unlink(hooks);
    rmdir(dir);
}

/* An Ed25519 key written as PEM, private or public, with mode. */
static void pem_key(const char *path, EVP_PKEY *k, bool private, mode_t mode)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK(private ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)
                  : PEM_write_PUBKEY(f, k));
    fclose(f);
    CHECK(chmod(path, mode) == 0);
}

static EVP_PKEY *new_key(void)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    CHECK(c && EVP_PKEY_keygen_init(c) == 1 && EVP_PKEY_keygen(c, &k) == 1);
    EVP_PKEY_CTX_free(c);
    return k;
}

TEST("retired signing keys: public and private files published by kid, once; others' writes refused")
{
    reset();
    setenv("FILIGRANE_JWT_SECRET", JWT, 1);
    setenv("FILIGRANE_WEBHOOK_SECRET", WH1, 1);
    char dir[] = "/tmp/fg-keys-XXXXXX", cur[128], ret[128], p[192];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cur, sizeof cur, "%s/current.pem", dir);
    snprintf(ret, sizeof ret, "%s/retired", dir);
    CHECK(mkdir(ret, 0700) == 0);
    EVP_PKEY *k0 = new_key(), *k1 = new_key(), *k2 = new_key();
    char x[FG_SIGN_B64_MAX], kid0[FG_SIGN_KID_MAX], kid1[FG_SIGN_KID_MAX], kid2[FG_SIGN_KID_MAX];
    fg_reason r = {{0}};
    CHECK_INT(fg_sign_key_public(k0, x, kid0, &r), FG_OK);
    CHECK_INT(fg_sign_key_public(k1, x, kid1, &r), FG_OK);
    CHECK_INT(fg_sign_key_public(k2, x, kid2, &r), FG_OK);
    pem_key(cur, k0, true, 0600);
    snprintf(p, sizeof p, "%s/a-2025.pem", ret);
    pem_key(p, k1, false, 0644); /* a public key may be world-readable */
    snprintf(p, sizeof p, "%s/b-2026.pem", ret);
    pem_key(p, k2, true, 0600);
    snprintf(p, sizeof p, "%s/c-current-again.pem", ret);
    pem_key(p, k0, false, 0644); /* the current key: not listed twice */
    snprintf(p, sizeof p, "%s/notes.txt", ret);
    write_file(p, "not a key", 0644); /* not *.pem: ignored */
    setenv("FILIGRANE_SIGNING_KEY_FILE", cur, 1);
    setenv("FILIGRANE_SIGNING_KEYS_RETIRED_DIR", ret, 1);
    fcgi_keys *k = NULL;
    CHECK_INT(build(&k, &r), FG_OK);
    if (k) {
        CHECK(k->sign_key != NULL);
        CHECK_STR(k->sign.kid, kid0);
        CHECK_INT(k->n_retired, 2);
        CHECK_STR(k->retired[0].kid, kid1);
        CHECK_STR(k->retired[1].kid, kid2);
    }
    fcgi_keys_put(k);

    /* A private key others may read; a file others may write; a
     * directory others may write: each refused, naming the setting. */
    CHECK(chmod(p, 0600) == 0);
    snprintf(p, sizeof p, "%s/b-2026.pem", ret);
    CHECK(chmod(p, 0640) == 0);
    refused("FILIGRANE_SIGNING_KEYS_RETIRED_DIR");
    CHECK(chmod(p, 0600) == 0);
    snprintf(p, sizeof p, "%s/a-2025.pem", ret);
    CHECK(chmod(p, 0664) == 0);
    refused("FILIGRANE_SIGNING_KEYS_RETIRED_DIR");
    CHECK(chmod(p, 0644) == 0);
    CHECK(chmod(ret, 0777) == 0);
    refused("FILIGRANE_SIGNING_KEYS_RETIRED_DIR");
    CHECK(chmod(ret, 0755) == 0);
    /* Not a key at all. */
    snprintf(p, sizeof p, "%s/d-junk.pem", ret);
    write_file(p, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", 0644);
    refused("d-junk.pem");
    unlink(p);
    /* FCGI_SIGN_RETIRED_MAX files at most: three are there already. */
    for (int i = 3; i < FCGI_SIGN_RETIRED_MAX; i++) {
        snprintf(p, sizeof p, "%s/z%02d.pem", ret, i);
        pem_key(p, k1, false, 0644);
    }
    CHECK_INT(build(&k, &r), FG_OK);
    CHECK_INT(k ? k->n_retired : 0, 2); /* the same key, published once */
    fcgi_keys_put(k);
    snprintf(p, sizeof p, "%s/z%02d.pem", ret, FCGI_SIGN_RETIRED_MAX);
    pem_key(p, k1, false, 0644);
    refused("more than 32");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    EVP_PKEY_free(k0);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    reset();
}

/* ---- the keyring under readers ---- */

struct reader {
    fcgi_keyring *ring;
    int stop;
    long reads, bad;
};

static void *read_loop(void *p)
{
    struct reader *rd = p;
    while (!__atomic_load_n(&rd->stop, __ATOMIC_RELAXED)) {
        fcgi_keys *k = fcgi_keyring_get(rd->ring);
        /* Every set installed holds one webhook key of len 24 or 30: a
         * freed or half-built set would show something else. */
        if (k->n_hooks != 1 || (k->hooks[0].len != 24 && k->hooks[0].len != 30))
            __atomic_fetch_add(&rd->bad, 1, __ATOMIC_RELAXED);
        fcgi_keys_put(k);
        __atomic_fetch_add(&rd->reads, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

TEST("readers of the keyring never see a freed or torn set while it is swapped 2000 times")
{
    reset();
    setenv("FILIGRANE_JWT_SECRET", JWT, 1);
    setenv("FILIGRANE_WEBHOOK_SECRET", WH1, 1);
    fcgi_keys *k = NULL;
    fg_reason r = {{0}};
    CHECK_INT(build(&k, &r), FG_OK);
    struct reader rd = {.ring = fcgi_keyring_new(k)};
    CHECK(rd.ring != NULL);
    CHECK_INT(k->generation, 1);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&t[i], NULL, read_loop, &rd) == 0);
    unsigned long long last = 1;
    /* The readers are running before the swaps begin. */
    while (__atomic_load_n(&rd.reads, __ATOMIC_RELAXED) < 100)
        usleep(1000);
    for (int i = 0; i < 2000; i++) {
        setenv("FILIGRANE_WEBHOOK_SECRET", i % 2 ? WH1 : WH2, 1);
        fcgi_keys *next = NULL;
        CHECK_INT(build(&next, &r), FG_OK);
        fcgi_keyring_swap(rd.ring, next);
        CHECK(next->generation == last + 1);
        last = next->generation;
    }
    __atomic_store_n(&rd.stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(rd.bad, 0);
    CHECK(rd.reads > 0);
    fcgi_keyring_free(rd.ring);
    reset();
}

TEST("the CLI's secret: the default, a kid's, an unknown kid refused")
{
    reset();
    char *s = NULL;
    fg_reason r = {{0}};
    CHECK_INT(fcgi_keys_mint_secret(NULL, &s, &r), FG_EUSAGE);
    setenv("FILIGRANE_JWT_SECRET", JWT, 1);
    setenv("FILIGRANE_JWT_SECRETS", "a:old-secret-0123456789abcdefghijklmno "
                                    "b:new-secret-zyxwvutsrqponmlkjihgfedcb", 1);
    CHECK_INT(fcgi_keys_mint_secret(NULL, &s, &r), FG_OK);
    CHECK_STR(s, JWT);
    free(s);
    CHECK_INT(fcgi_keys_mint_secret("b", &s, &r), FG_OK);
    CHECK_STR(s, "new-secret-zyxwvutsrqponmlkjihgfedcb");
    free(s);
    s = NULL;
    CHECK_INT(fcgi_keys_mint_secret("c", &s, &r), FG_EUSAGE);
    CHECK(s == NULL && strstr(r.text, "kid c") != NULL);
    reset();
}
