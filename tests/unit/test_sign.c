/* common/sign.c and common/evidence.c: the Ed25519 key, its kid and JWK x,
 * base64url, and the evidence bundle's signed bytes, against RFC 8032's
 * first test vector and values computed independently (Python). */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "common/evidence.h"
#include "common/hex.h"
#include "common/sign.h"

/* RFC 8032, 7.1, TEST 1: the empty message. */
static const char SK[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char X[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
static const char KID[] = "21fe31dfa154a261";
static const char SIG[] =
    "5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc-bRr0lv18FlbviRlUUFDjnoQCw";

static EVP_PKEY *rfc_key(void)
{
    unsigned char sk[32];
    CHECK(fg_hex_decode(SK, sk, sizeof sk));
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, sizeof sk);
}

TEST("the RFC 8032 key gives its public x and the kid sha256(x)[:16]; it signs as the RFC says")
{
    fg_reason r;
    char x[FG_SIGN_B64_MAX], kid[FG_SIGN_KID_MAX], sig[FG_SIGN_B64_MAX];
    EVP_PKEY *k = rfc_key();
    CHECK(k);
    CHECK_INT(fg_sign_key_public(k, x, kid, &r), FG_OK);
    CHECK_STR(x, X);
    CHECK_STR(kid, KID);
    CHECK_INT(fg_sign(k, "", 0, sig, &r), FG_OK);
    CHECK_STR(sig, SIG);
    CHECK_INT(fg_sign_verify(X, "", 0, SIG, &r), FG_OK);
    EVP_PKEY_free(k);
}

TEST("a signature fails for another message, a flipped bit, every cut of it, and another key")
{
    fg_reason r;
    char bad[sizeof SIG];
    CHECK_INT(fg_sign_verify(X, "x", 1, SIG, &r), FG_ECORRUPT);
    memcpy(bad, SIG, sizeof SIG);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    CHECK_INT(fg_sign_verify(X, "", 0, bad, &r), FG_ECORRUPT);
    for (size_t n = 0; n < sizeof SIG - 1; n++) {
        memcpy(bad, SIG, n);
        bad[n] = '\0';
        CHECK_INT(fg_sign_verify(X, "", 0, bad, &r), FG_ECORRUPT);
    }
    CHECK_INT(fg_sign_verify("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", 0, SIG, &r),
              FG_ECORRUPT);
    CHECK_INT(fg_sign_verify("not base64url!", "", 0, SIG, &r), FG_ECORRUPT);
}

TEST("base64url round-trips every length, and refuses padding, + / and stray low bits")
{
    unsigned char in[40], out[41];
    char text[64];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 37 + 201);
    for (size_t n = 0; n <= sizeof in; n++) {
        fg_b64url_encode(in, n, text);
        CHECK(strchr(text, '=') == NULL);
        CHECK_INT(fg_b64url_decode(text, out, sizeof out), (long)n);
        CHECK(memcmp(in, out, n) == 0);
    }
    CHECK_INT(fg_b64url_decode("AA==", out, sizeof out), -1);
    CHECK_INT(fg_b64url_decode("a+/b", out, sizeof out), -1);
    CHECK_INT(fg_b64url_decode("A", out, sizeof out), -1);
    CHECK_INT(fg_b64url_decode("AB", out, sizeof out), -1); /* low bits set: not canonical */
    CHECK_INT(fg_b64url_decode("AAAA", out, 2), -1);        /* more than cap */
    CHECK_INT(fg_b64url_decode("AA", out, sizeof out), 1);
}

TEST("the signed bytes are the format line then netstrings, byte lengths (UTF-8)")
{
    char out[FG_EVIDENCE_SIGNED_MAX];
    size_t n = fg_evidence_signed("ord-é", 7, "ab", "2026-11-28T12:00:00.000Z", out, sizeof out);
    const char want[] = "filigrane-evidence-v1\n6:ord-\xc3\xa9,1:7,2:ab,24:2026-11-28T12:00:00.000Z,";
    CHECK_INT(n, sizeof want - 1);
    CHECK(memcmp(out, want, n) == 0);
    /* Every buffer too small by one byte or more is refused, never cut. */
    for (size_t cap = 0; cap <= sizeof want - 1; cap++)
        CHECK_INT(fg_evidence_signed("ord-é", 7, "ab", "2026-11-28T12:00:00.000Z", out, cap), 0);
}

static char *key_file(mode_t mode)
{
    static char path[] = "/tmp/filigrane-sign-XXXXXX";
    memcpy(path + sizeof path - 7, "XXXXXX", 6);
    int fd = mkstemp(path);
    EVP_PKEY *k = rfc_key();
    FILE *f = fdopen(fd, "w");
    CHECK(f && k && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
    EVP_PKEY_free(k);
    chmod(path, mode);
    return path;
}

TEST("a 0600 key file of the effective user loads; 0640, 0604 and a non-key are refused by name")
{
    fg_reason r;
    EVP_PKEY *k = NULL;
    char x[FG_SIGN_B64_MAX], kid[FG_SIGN_KID_MAX];
    char *p = key_file(0600);
    CHECK_INT(fg_sign_key_load("FILIGRANE_SIGNING_KEY_FILE", p, &k, &r), FG_OK);
    CHECK_INT(fg_sign_key_public(k, x, kid, &r), FG_OK);
    CHECK_STR(kid, KID);
    EVP_PKEY_free(k);
    const mode_t modes[] = {0640, 0604, 0660, 0606};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        chmod(p, modes[i]);
        CHECK_INT(fg_sign_key_load("FILIGRANE_SIGNING_KEY_FILE", p, &k, &r), FG_EUSAGE);
        CHECK(k == NULL);
        CHECK(strstr(r.text, "FILIGRANE_SIGNING_KEY_FILE") != NULL);
    }
    FILE *f = fopen(p, "w");
    fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", f);
    fclose(f);
    chmod(p, 0600);
    CHECK_INT(fg_sign_key_load("FILIGRANE_SIGNING_KEY_FILE", p, &k, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "Ed25519") != NULL);
    unlink(p);
    CHECK_INT(fg_sign_key_load("FILIGRANE_SIGNING_KEY_FILE", p, &k, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_SIGNING_KEY_FILE") != NULL);
}
