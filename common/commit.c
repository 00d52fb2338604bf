#include "common/commit.h"

#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

fg_result fg_salt_new(unsigned char salt[FG_SALT_BYTES], fg_reason *r)
{
    if (RAND_bytes(salt, FG_SALT_BYTES) != 1)
        return fg_fail(r, FG_EIO, "cannot draw a salt: random generator failed");
    return FG_OK;
}

fg_result fg_commit_start(EVP_MD_CTX *md, const unsigned char salt[FG_SALT_BYTES],
                          fg_reason *r)
{
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, salt, FG_SALT_BYTES) != 1)
        return fg_fail(r, FG_EIO, "cannot compute a commitment: sha256 unavailable");
    return FG_OK;
}

fg_result fg_commit_buffer(const unsigned char salt[FG_SALT_BYTES], const void *data,
                           size_t len, char out[FG_HEX32_MAX], fg_reason *r)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    fg_result rc = fg_commit_start(md, salt, r);
    if (rc == FG_OK && (EVP_DigestUpdate(md, data, len) != 1 ||
                        EVP_DigestFinal_ex(md, d, &dl) != 1 || dl != 32))
        rc = fg_fail(r, FG_EIO, "cannot compute a commitment: sha256 failed");
    if (rc == FG_OK)
        fg_hex_encode(d, 32, out);
    EVP_MD_CTX_free(md);
    return rc;
}

fg_result fg_commit_entry_salt(const unsigned char file_salt[FG_SALT_BYTES], const char *name,
                               unsigned char out[FG_SALT_BYTES], fg_reason *r)
{
    /* The label first, then the name, with no separator: the label has a
     * fixed length, so the message is unambiguous. */
    unsigned int len = 0;
    fg_result rc = FG_OK;
    size_t nlen = strlen(name);
    unsigned char *msg = malloc(sizeof FG_ENTRY_SALT_LABEL - 1 + nlen);
    if (!msg)
        return fg_fail(r, FG_EIO, "cannot derive an entry salt: out of memory");
    memcpy(msg, FG_ENTRY_SALT_LABEL, sizeof FG_ENTRY_SALT_LABEL - 1);
    memcpy(msg + sizeof FG_ENTRY_SALT_LABEL - 1, name, nlen);
    if (!HMAC(EVP_sha256(), file_salt, FG_SALT_BYTES, msg,
              sizeof FG_ENTRY_SALT_LABEL - 1 + nlen, out, &len) ||
        len != FG_SALT_BYTES)
        rc = fg_fail(r, FG_EIO, "cannot derive an entry salt: hmac failed");
    free(msg);
    return rc;
}
