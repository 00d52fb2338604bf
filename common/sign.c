/* Ed25519 signing key (common/sign.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "common/hex.h"
#include "common/sign.h"

static const char B64URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void fg_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = B64URL[(v >> 18) & 63];
        out[o++] = B64URL[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = B64URL[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = B64URL[v & 63];
    }
    out[o] = '\0';
}

static int b64url_value(int c)
{
    const char *p = c ? strchr(B64URL, c) : NULL;
    return p ? (int)(p - B64URL) : -1;
}

long fg_b64url_decode(const char *in, unsigned char *out, size_t cap)
{
    size_t n = strlen(in), o = 0;
    unsigned acc = 0;
    int bits = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* The unused low bits must be zero: one text per byte string. */
    if (acc != 0)
        return -1;
    return (long)o;
}

void fg_sign_kid(const unsigned char pub[FG_SIGN_PUB_BYTES], char kid[FG_SIGN_KID_MAX])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(pub, FG_SIGN_PUB_BYTES, d);
    fg_hex_encode(d, 8, kid);
    kid[16] = '\0';
}

fg_result fg_sign_key_load(const char *var, const char *path, EVP_PKEY **out, fg_reason *r)
{
    fg_result rc = FG_EUSAGE;
    char buf[FG_SIGN_KEY_FILE_MAX + 1];
    ssize_t n = 0;
    struct stat st;
    BIO *bio = NULL;
    *out = NULL;
    /* O_NOFOLLOW: the checks below are about the file read, not a link. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = fg_fail(r, FG_EUSAGE, "%s cannot be opened (errno %d)", var, errno);
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fg_fail(r, FG_EUSAGE, "%s is not a regular file", var);
        goto out;
    }
    /* A key others can read is a key others may have copied. */
    if (st.st_uid != geteuid()) {
        rc = fg_fail(r, FG_EUSAGE, "%s must be owned by the service user (uid %d), not uid %d",
                     var, (int)geteuid(), (int)st.st_uid);
        goto out;
    }
    if (st.st_mode & 077) {
        rc = fg_fail(r, FG_EUSAGE, "%s must be mode 0600, not %04o", var,
                     (unsigned)(st.st_mode & 07777));
        goto out;
    }
    for (ssize_t k; (k = read(fd, buf + n, sizeof buf - (size_t)n)) != 0; n += k) {
        if (k < 0) {
            rc = fg_fail(r, FG_EUSAGE, "%s cannot be read (errno %d)", var, errno);
            goto out;
        }
        if ((size_t)(n + k) >= sizeof buf) {
            rc = fg_fail(r, FG_EUSAGE, "%s is longer than %d bytes", var, FG_SIGN_KEY_FILE_MAX);
            goto out;
        }
    }
    if (!(bio = BIO_new_mem_buf(buf, (int)n))) {
        rc = fg_fail(r, FG_EIO, "out of memory");
        goto out;
    }
    *out = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (!*out || EVP_PKEY_get_id(*out) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(*out);
        *out = NULL;
        rc = fg_fail(r, FG_EUSAGE, "%s is not an Ed25519 private key in PEM", var);
        goto out;
    }
    rc = FG_OK;
out:
    BIO_free(bio);
    OPENSSL_cleanse(buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

fg_result fg_sign_public_load(const char *var, const char *path, char x[FG_SIGN_B64_MAX],
                              char kid[FG_SIGN_KID_MAX], fg_reason *r)
{
    fg_result rc = FG_EUSAGE;
    char buf[FG_SIGN_KEY_FILE_MAX + 1];
    ssize_t n = 0;
    struct stat st;
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = fg_fail(r, FG_EUSAGE, "%s cannot be opened (errno %d)", var, errno);
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fg_fail(r, FG_EUSAGE, "%s is not a regular file", var);
        goto out;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 022)) {
        rc = fg_fail(r, FG_EUSAGE,
                     "%s must be owned by the service user (uid %d) and not writable by "
                     "others (mode %04o)",
                     var, (int)geteuid(), (unsigned)(st.st_mode & 07777));
        goto out;
    }
    for (ssize_t k; (k = read(fd, buf + n, sizeof buf - (size_t)n)) != 0; n += k) {
        if (k < 0) {
            rc = fg_fail(r, FG_EUSAGE, "%s cannot be read (errno %d)", var, errno);
            goto out;
        }
        if ((size_t)(n + k) >= sizeof buf) {
            rc = fg_fail(r, FG_EUSAGE, "%s is longer than %d bytes", var, FG_SIGN_KEY_FILE_MAX);
            goto out;
        }
    }
    buf[n] = '\0';
    if (strstr(buf, "PRIVATE KEY")) {
        /* The same rules as the current key's. */
        close(fd);
        fd = -1;
        OPENSSL_cleanse(buf, sizeof buf);
        if ((rc = fg_sign_key_load(var, path, &key, r)) != FG_OK)
            goto out;
    } else {
        if (!(bio = BIO_new_mem_buf(buf, (int)n))) {
            rc = fg_fail(r, FG_EIO, "out of memory");
            goto out;
        }
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        rc = fg_fail(r, FG_EUSAGE, "%s is not an Ed25519 key in PEM", var);
        goto out;
    }
    rc = fg_sign_key_public(key, x, kid, r);
out:
    EVP_PKEY_free(key);
    BIO_free(bio);
    OPENSSL_cleanse(buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

fg_result fg_sign_key_public(EVP_PKEY *key, char x[FG_SIGN_B64_MAX], char kid[FG_SIGN_KID_MAX],
                             fg_reason *r)
{
    unsigned char pub[FG_SIGN_PUB_BYTES];
    size_t len = sizeof pub;
    if (EVP_PKEY_get_raw_public_key(key, pub, &len) != 1 || len != sizeof pub)
        return fg_fail(r, FG_EIO, "cannot read the signing key's public half");
    fg_b64url_encode(pub, len, x);
    fg_sign_kid(pub, kid);
    return FG_OK;
}

fg_result fg_sign(EVP_PKEY *key, const void *msg, size_t len, char sig[FG_SIGN_B64_MAX],
                  fg_reason *r)
{
    unsigned char s[FG_SIGN_SIG_BYTES];
    size_t slen = sizeof s;
    fg_result rc = FG_OK;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(md, s, &slen, msg, len) != 1 || slen != sizeof s)
        rc = fg_fail(r, FG_EIO, "cannot sign the evidence");
    else
        fg_b64url_encode(s, slen, sig);
    EVP_MD_CTX_free(md);
    return rc;
}

fg_result fg_sign_verify(const char *x, const void *msg, size_t len, const char *sig,
                         fg_reason *r)
{
    unsigned char pub[FG_SIGN_PUB_BYTES + 1], s[FG_SIGN_SIG_BYTES + 1];
    fg_result rc = FG_OK;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    if (fg_b64url_decode(x, pub, sizeof pub) != FG_SIGN_PUB_BYTES)
        return fg_fail(r, FG_ECORRUPT, "the key's x is not 32 bytes of base64url");
    if (fg_b64url_decode(sig, s, sizeof s) != FG_SIGN_SIG_BYTES)
        return fg_fail(r, FG_ECORRUPT, "the signature is not 64 bytes of base64url");
    if (!(key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, FG_SIGN_PUB_BYTES))) {
        rc = fg_fail(r, FG_ECORRUPT, "the key's x is not an Ed25519 public key");
        goto out;
    }
    if (!(md = EVP_MD_CTX_new()) || EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) != 1) {
        rc = fg_fail(r, FG_EIO, "cannot start verifying");
        goto out;
    }
    if (EVP_DigestVerify(md, s, FG_SIGN_SIG_BYTES, msg, len) != 1)
        rc = fg_fail(r, FG_ECORRUPT, "the signature does not verify with this key");
out:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    return rc;
}
