/* The only user of OpenSSL's deprecated low-level SHA-256 API: EVP keeps
 * its digest state private (no export, no import), and an upload hashed
 * across many requests must put its state down between them. The struct
 * is public in <openssl/sha.h> (h, Nl, Nh, data, num, md_len) and has not
 * changed since OpenSSL 0.9.8. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "common/sha256_state.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/hex.h"

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((fg_sha256 *)0)->opaque),
               "fg_sha256 too small for SHA256_CTX");

#define STATE_BYTES (4 * 12 + SHA_CBLOCK)

static SHA256_CTX *ctx(fg_sha256 *h) { return (SHA256_CTX *)(void *)h->opaque; }
static const SHA256_CTX *cctx(const fg_sha256 *h)
{
    return (const SHA256_CTX *)(const void *)h->opaque;
}

void fg_sha256_init(fg_sha256 *h)
{
    memset(h, 0, sizeof *h);
    SHA256_Init(ctx(h));
}

void fg_sha256_update(fg_sha256 *h, const void *data, size_t len)
{
    if (len)
        SHA256_Update(ctx(h), data, len);
}

void fg_sha256_peek(const fg_sha256 *h, unsigned char out[32])
{
    SHA256_CTX copy = *cctx(h);
    SHA256_Final(out, &copy);
    OPENSSL_cleanse(&copy, sizeof copy);
}

void fg_sha256_peek_hex(const fg_sha256 *h, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    fg_sha256_peek(h, md);
    fg_hex_encode(md, sizeof md, out);
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The block buffer (data) holds bytes, stored in SHA_LONG words by
 * memcpy: it is written as the bytes it holds, not as words. */
void fg_sha256_save(const fg_sha256 *h, char out[FG_SHA256_STATE_HEX_MAX])
{
    const SHA256_CTX *c = cctx(h);
    unsigned char b[STATE_BYTES], *p = b;
    for (int i = 0; i < 8; i++, p += 4)
        put32(p, c->h[i]);
    put32(p, c->Nl);
    put32(p + 4, c->Nh);
    p += 8;
    memcpy(p, c->data, SHA_CBLOCK);
    p += SHA_CBLOCK;
    put32(p, c->num);
    put32(p + 4, c->md_len);
    fg_hex_encode(b, sizeof b, out);
}

static int digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

fg_result fg_sha256_load(fg_sha256 *h, const char *text, fg_reason *r)
{
    unsigned char b[STATE_BYTES];
    const unsigned char *p = b;
    if (!text || strlen(text) != 2 * STATE_BYTES)
        return fg_fail(r, FG_ECORRUPT, "a saved hash state has the wrong length");
    for (size_t i = 0; i < STATE_BYTES; i++) {
        int hi = digit(text[2 * i]), lo = digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fg_fail(r, FG_ECORRUPT, "a saved hash state is not hex");
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    fg_sha256_init(h);
    SHA256_CTX *c = ctx(h);
    for (int i = 0; i < 8; i++, p += 4)
        c->h[i] = get32(p);
    c->Nl = get32(p);
    c->Nh = get32(p + 4);
    p += 8;
    memcpy(c->data, p, SHA_CBLOCK);
    p += SHA_CBLOCK;
    c->num = get32(p);
    c->md_len = get32(p + 4);
    /* num is the count of bytes waiting in the block: past it, the next
     * update would write out of the buffer. */
    if (c->num >= SHA_CBLOCK || ((c->Nl >> 3) & (SHA_CBLOCK - 1)) != c->num ||
        c->md_len != SHA256_DIGEST_LENGTH)
        return fg_fail(r, FG_ECORRUPT, "a saved hash state is impossible");
    return FG_OK;
}
