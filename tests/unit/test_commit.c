/* common/commit.c: salts, commitments and entry salts, against values
 * computed independently (Python's hashlib and hmac). */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include "common/commit.h"

static const unsigned char SALT[FG_SALT_BYTES] = {
    0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

TEST("the commitment of a PIN file is SHA-256(salt || content), not its plain hash")
{
    char out[FG_HEX32_MAX];
    fg_reason r;
    CHECK_INT(fg_commit_buffer(SALT, "4821\n", 5, out, &r), FG_OK);
    CHECK_STR(out, "750eb9543f041175588ba0eef376f484e59d2385fe47c0881693f5154538f1c9");
    CHECK(strcmp(out, "ae4851baf68b3ccbccf5ec5155e96109cbb2d55a263308daf65ca0eb1bc0c5e4") != 0);
    /* Empty content: the hash of the salt alone. */
    CHECK_INT(fg_commit_buffer(SALT, "", 0, out, &r), FG_OK);
    CHECK_STR(out, "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd");
}

TEST("a streamed commitment equals the one-shot one")
{
    char one[FG_HEX32_MAX], two[FG_HEX32_MAX];
    unsigned char d[32];
    unsigned int dl = 0;
    fg_reason r;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CHECK_INT(fg_commit_start(md, SALT, &r), FG_OK);
    CHECK(EVP_DigestUpdate(md, "48", 2) == 1 && EVP_DigestUpdate(md, "21\n", 3) == 1);
    CHECK(EVP_DigestFinal_ex(md, d, &dl) == 1 && dl == 32);
    fg_hex_encode(d, 32, two);
    EVP_MD_CTX_free(md);
    CHECK_INT(fg_commit_buffer(SALT, "4821\n", 5, one, &r), FG_OK);
    CHECK_STR(one, two);
}

TEST("an entry salt is HMAC-SHA256(file salt, label || name) and differs per name")
{
    unsigned char es[FG_SALT_BYTES], es2[FG_SALT_BYTES];
    char hex[FG_HEX32_MAX];
    fg_reason r;
    CHECK_INT(fg_commit_entry_salt(SALT, "secrets/pin.txt", es, &r), FG_OK);
    fg_hex_encode(es, sizeof es, hex);
    CHECK_STR(hex, "6fce19953900a1f8f2174bd42e92d0aed6d186c2a98c7b748aa8f0cd633d44b4");
    CHECK_INT(fg_commit_entry_salt(SALT, "secrets/pin.txt ", es2, &r), FG_OK);
    CHECK(memcmp(es, es2, sizeof es) != 0);
    CHECK_INT(fg_commit_entry_salt(SALT, "", es2, &r), FG_OK);
    CHECK(memcmp(es, es2, sizeof es) != 0);
}

TEST("two drawn salts differ")
{
    unsigned char a[FG_SALT_BYTES], b[FG_SALT_BYTES];
    fg_reason r;
    CHECK_INT(fg_salt_new(a, &r), FG_OK);
    CHECK_INT(fg_salt_new(b, &r), FG_OK);
    CHECK(memcmp(a, b, sizeof a) != 0);
}

TEST("hex decoding takes exactly 2n hex digits, and no prefix of them")
{
    const char *good = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
    unsigned char out[FG_SALT_BYTES];
    char back[FG_HEX32_MAX], cut[FG_HEX32_MAX + 1];
    CHECK(fg_hex_decode(good, out, sizeof out));
    CHECK(memcmp(out, SALT, sizeof out) == 0);
    fg_hex_encode(out, sizeof out, back);
    CHECK_STR(back, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    for (size_t n = 0; n < 64; n++) {
        memcpy(cut, good, n);
        cut[n] = '\0';
        if (fg_hex_decode(cut, out, sizeof out))
            TAP_FAIL("a prefix of %zu digits was accepted", n);
    }
    snprintf(cut, sizeof cut, "%s0", good);
    CHECK(!fg_hex_decode(cut, out, sizeof out));
    const char *bad[] = {
        "g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "0 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1-",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!fg_hex_decode(bad[i], out, sizeof out));
    CHECK(!fg_hex_decode(NULL, out, sizeof out));
}
