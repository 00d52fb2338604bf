/* The blob interface: hex checks and the layout shared by every backend,
 * then the backend's ops. */
#include "storage/blob_impl.h"

#include "common/commit.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool store_hex_valid(const char *s)
{
    if (!s || strnlen(s, 65) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static fg_result check_hex(const char *hex, fg_reason *r)
{
    if (!store_hex_valid(hex))
        return fg_fail(r, FG_EUSAGE, "blob name is not 64 lowercase hex");
    return FG_OK;
}

fg_result store_blob_relpath(const char *hex, char out[STORE_BLOB_REL_MAX],
                             fg_reason *r)
{
    fg_result rc = check_hex(hex, r);
    if (rc)
        return rc;
    snprintf(out, STORE_BLOB_REL_MAX, "sha256/%.2s/%.2s/%s", hex, hex + 2, hex);
    return FG_OK;
}

void store_blob_free(store_blob *b)
{
    if (b)
        b->ops->free(b);
}

const char *store_blob_tmp_dir(const store_blob *b)
{
    return b->ops->tmp_dir ? b->ops->tmp_dir(b) : NULL;
}

fg_result store_blob_put_file(store_blob *b, const char *src_path,
                              const char *sha256, char hex_out[STORE_HEX_MAX],
                              int64_t *size_out, fg_reason *r)
{
    fg_result rc;
    if (!src_path || !*src_path)
        return fg_fail(r, FG_EUSAGE, "no file to store");
    if (sha256 && (rc = check_hex(sha256, r)))
        return rc;
    char hex[STORE_HEX_MAX];
    int64_t size = 0;
    if ((rc = b->ops->put_file(b, src_path, sha256, hex, &size, r)))
        return rc;
    if (hex_out)
        memcpy(hex_out, hex, STORE_HEX_MAX);
    if (size_out)
        *size_out = size;
    return FG_OK;
}

fg_result store_blob_stat(store_blob *b, const char *hex, bool *exists,
                          int64_t *size, fg_reason *r)
{
    int64_t ignored;
    fg_result rc = check_hex(hex, r);
    *exists = false;
    if (rc)
        return rc;
    return b->ops->stat(b, hex, exists, size ? size : &ignored, r);
}

fg_result store_blob_open_read(store_blob *b, const char *hex, int *fd,
                               fg_reason *r)
{
    fg_result rc = check_hex(hex, r);
    *fd = -1;
    if (rc)
        return rc;
    return b->ops->open_read(b, hex, fd, r);
}

fg_result store_blob_local_path(store_blob *b, const char *hex, char *out,
                                size_t cap, fg_reason *r)
{
    fg_result rc = check_hex(hex, r);
    if (rc)
        return rc;
    return b->ops->local_path(b, hex, out, cap, r);
}

fg_result store_blob_remove(store_blob *b, const char *hex, fg_reason *r)
{
    fg_result rc = check_hex(hex, r);
    if (rc)
        return rc;
    if (!b->ops->remove)
        return fg_fail(r, FG_EUSAGE, "this blob store cannot remove blobs");
    return b->ops->remove(b, hex, r);
}

fg_result store_blob_each(store_blob *b, store_blob_each_fn fn, void *ctx,
                          fg_reason *r)
{
    if (!b->ops->each)
        return fg_fail(r, FG_EUSAGE, "this blob store cannot list blobs");
    return b->ops->each(b, fn, ctx, r);
}

/* SHA-256 of the file at path and, with a salt, its commitment
 * SHA-256(salt || content) in the same pass: the file is read once. */
static fg_result hash_file(const char *path, const unsigned char *salt,
                           char hex_out[STORE_HEX_MAX], char commit_out[STORE_HEX_MAX],
                           int64_t *size_out, fg_reason *r)
{
    enum { CHUNK = 128 * 1024 };
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    struct stat st;
    int64_t total = 0;
    fg_result rc = FG_OK;
    char *buf = NULL;
    EVP_MD_CTX *md = NULL, *cm = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fg_fail(r, errno == ELOOP ? FG_EUSAGE : FG_EIO,
                       "cannot open the file to hash");
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fg_fail(r, FG_EUSAGE, "file to hash is not a regular file");
        goto out;
    }
    if (!(buf = malloc(CHUNK)) || !(md = EVP_MD_CTX_new()) ||
        !EVP_DigestInit_ex(md, EVP_sha256(), NULL) || (salt && !(cm = EVP_MD_CTX_new()))) {
        rc = fg_fail(r, FG_EIO, "cannot hash a file: out of memory");
        goto out;
    }
    if (salt && (rc = fg_commit_start(cm, salt, r)) != FG_OK)
        goto out;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fg_fail(r, FG_EIO, "cannot read the file to hash");
            goto out;
        }
        if (n == 0)
            break;
        if (!EVP_DigestUpdate(md, buf, (size_t)n) ||
            (cm && !EVP_DigestUpdate(cm, buf, (size_t)n))) {
            rc = fg_fail(r, FG_EIO, "cannot hash a file: openssl failed");
            goto out;
        }
        total += n;
    }
    if (!EVP_DigestFinal_ex(md, digest, &dlen) || dlen != 32) {
        rc = fg_fail(r, FG_EIO, "cannot hash a file: openssl failed");
        goto out;
    }
    fg_hex_encode(digest, 32, hex_out);
    if (cm) {
        if (!EVP_DigestFinal_ex(cm, digest, &dlen) || dlen != 32) {
            rc = fg_fail(r, FG_EIO, "cannot hash a file: openssl failed");
            goto out;
        }
        fg_hex_encode(digest, 32, commit_out);
    }
    if (size_out)
        *size_out = total;
out:
    EVP_MD_CTX_free(cm);
    EVP_MD_CTX_free(md);
    free(buf);
    close(fd);
    return rc;
}

fg_result store_blob_hash_file(const char *path, char hex_out[STORE_HEX_MAX],
                               int64_t *size_out, fg_reason *r)
{
    return hash_file(path, NULL, hex_out, NULL, size_out, r);
}

fg_result store_blob_hash_file_committed(const char *path, const unsigned char *salt,
                                         char hex_out[STORE_HEX_MAX],
                                         char commit_out[STORE_HEX_MAX],
                                         int64_t *size_out, fg_reason *r)
{
    if (!salt)
        return fg_fail(r, FG_EUSAGE, "no salt for the commitment");
    return hash_file(path, salt, hex_out, commit_out, size_out, r);
}
