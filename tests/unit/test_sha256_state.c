/* The SHA-256 whose state is put down between a tus upload's chunks
 * (common/sha256_state.c): the same data split at every boundary, hashed
 * piece by piece with the state saved and loaded in between, gives the
 * one-shot SHA-256 and the commitment (common/commit.h); a saved state
 * that is not one is refused, every truncated prefix included. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "common/commit.h"
#include "common/hex.h"
#include "common/sha256_state.h"

static void oneshot(const unsigned char *d, size_t n, char out[65])
{
    unsigned char md[32];
    SHA256(d, n, md);
    fg_hex_encode(md, sizeof md, out);
}

/* Hashes d in pieces cut at the given points, going through the text of
 * the state at each cut (as the upload's row does). */
static int pieces(const unsigned char *d, size_t n, const size_t *cuts, size_t ncuts,
                  const unsigned char *salt, char out[65])
{
    fg_sha256 h;
    fg_reason r = {""};
    char text[FG_SHA256_STATE_HEX_MAX];
    size_t at = 0;
    fg_sha256_init(&h);
    if (salt)
        fg_sha256_update(&h, salt, FG_SALT_BYTES);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        fg_sha256_update(&h, d + at, end - at);
        at = end;
        fg_sha256_save(&h, text);
        memset(&h, 0xa5, sizeof h); /* nothing survives but the text */
        if (fg_sha256_load(&h, text, &r) != FG_OK)
            return -1;
    }
    fg_sha256_peek_hex(&h, out);
    return 0;
}

TEST("data split at every boundary hashes to the one-shot SHA-256")
{
    static unsigned char d[300];
    char want[65], got[65];
    CHECK(RAND_bytes(d, sizeof d) == 1);
    for (size_t n = 0; n <= sizeof d; n += (n < 130 ? 1 : 17)) {
        oneshot(d, n, want);
        for (size_t k = 0; k <= n; k++) {
            size_t cut[1] = {k};
            if (pieces(d, n, cut, 1, NULL, got) != 0 || strcmp(got, want) != 0)
                TAP_FAIL("n=%zu cut at %zu: %s, want %s", n, k, got, want);
        }
    }
}

TEST("a large input in many pieces of random sizes hashes to the one-shot SHA-256")
{
    static unsigned char d[200000];
    size_t cuts[64];
    char want[65], got[65];
    CHECK(RAND_bytes(d, sizeof d) == 1);
    oneshot(d, sizeof d, want);
    for (int round = 0; round < 50; round++) {
        unsigned char rnd[64 * 4];
        size_t n = (size_t)(round % 63) + 1, at = 0;
        CHECK(RAND_bytes(rnd, sizeof rnd) == 1);
        for (size_t i = 0; i < n; i++) {
            size_t step = ((size_t)rnd[4 * i] << 8 | rnd[4 * i + 1]) % (sizeof d / n + 1);
            at = at + step > sizeof d ? sizeof d : at + step;
            cuts[i] = at;
        }
        if (pieces(d, sizeof d, cuts, n, NULL, got) != 0 || strcmp(got, want) != 0)
            TAP_FAIL("round %d: %s, want %s", round, got, want);
    }
}

TEST("with the salt fed first, pieces give the commitment SHA-256(salt || content)")
{
    static unsigned char d[5000];
    unsigned char salt[FG_SALT_BYTES];
    char want[FG_HEX32_MAX], got[65];
    fg_reason r = {""};
    CHECK(RAND_bytes(d, sizeof d) == 1);
    CHECK(fg_salt_new(salt, &r) == FG_OK);
    CHECK(fg_commit_buffer(salt, d, sizeof d, want, &r) == FG_OK);
    for (size_t k = 0; k <= sizeof d; k += 61) {
        size_t cuts[2] = {k / 2, k};
        if (pieces(d, sizeof d, cuts, 2, salt, got) != 0 || strcmp(got, want) != 0)
            TAP_FAIL("cuts %zu,%zu: %s, want %s", k / 2, k, got, want);
    }
}

TEST("peeking leaves the hash going on")
{
    fg_sha256 h;
    char a[65], b[65], want[65];
    fg_sha256_init(&h);
    fg_sha256_update(&h, "abc", 3);
    fg_sha256_peek_hex(&h, a);
    oneshot((const unsigned char *)"abc", 3, want);
    CHECK_STR(a, want);
    CHECK_STR(a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    fg_sha256_update(&h, "def", 3);
    fg_sha256_peek_hex(&h, b);
    oneshot((const unsigned char *)"abcdef", 6, want);
    CHECK_STR(b, want);
}

TEST("the saved text is fixed: the empty hash's state, and save(load(x)) is x")
{
    fg_sha256 h, g;
    fg_reason r = {""};
    char t[FG_SHA256_STATE_HEX_MAX], u[FG_SHA256_STATE_HEX_MAX];
    fg_sha256_init(&h);
    fg_sha256_save(&h, t);
    CHECK_INT((int)strlen(t), FG_SHA256_STATE_HEX_MAX - 1);
    /* SHA-256's initial words, big-endian, whatever the machine. */
    CHECK(strncmp(t, "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19", 64) == 0);
    fg_sha256_update(&h, "hello, world", 12);
    fg_sha256_save(&h, t);
    CHECK_INT(fg_sha256_load(&g, t, &r), FG_OK);
    fg_sha256_save(&g, u);
    CHECK_STR(u, t);
}

TEST("a saved state that is not one is refused, every truncated prefix included")
{
    fg_sha256 h;
    fg_reason r = {""};
    char t[FG_SHA256_STATE_HEX_MAX], bad[FG_SHA256_STATE_HEX_MAX + 2];
    fg_sha256_init(&h);
    fg_sha256_update(&h, "0123456789", 10);
    fg_sha256_save(&h, t);
    for (size_t n = 0; n < strlen(t); n++) {
        snprintf(bad, sizeof bad, "%.*s", (int)n, t);
        if (fg_sha256_load(&h, bad, &r) != FG_ECORRUPT)
            TAP_FAIL("prefix of %zu digits taken", n);
    }
    snprintf(bad, sizeof bad, "%s0", t);
    CHECK_INT(fg_sha256_load(&h, bad, &r), FG_ECORRUPT);
    CHECK_INT(fg_sha256_load(&h, NULL, &r), FG_ECORRUPT);
    snprintf(bad, sizeof bad, "%s", t);
    bad[3] = 'g';
    CHECK_INT(fg_sha256_load(&h, bad, &r), FG_ECORRUPT);
    snprintf(bad, sizeof bad, "%s", t);
    bad[0] = 'A'; /* uppercase: not what save writes */
    CHECK_INT(fg_sha256_load(&h, bad, &r), FG_ECORRUPT);
    /* The block position (num, after h, Nl, Nh and the block): past the
     * block, or not what the bit count says, would write out of the
     * buffer or hash wrongly. */
    size_t num_at = 2 * (4 * 10 + 64);
    snprintf(bad, sizeof bad, "%s", t);
    memcpy(bad + num_at, "00000040", 8); /* 64 */
    CHECK_INT(fg_sha256_load(&h, bad, &r), FG_ECORRUPT);
    memcpy(bad + num_at, "0000000b", 8); /* 11, but 10 bytes were fed */
    CHECK_INT(fg_sha256_load(&h, bad, &r), FG_ECORRUPT);
    snprintf(bad, sizeof bad, "%s", t);
    memcpy(bad + num_at + 8, "00000014", 8); /* md_len 20: SHA-1's */
    CHECK_INT(fg_sha256_load(&h, bad, &r), FG_ECORRUPT);
}
