/* The blob interface: hex checks and the layout shared by every backend,
 * then the backend's ops. */
#define _GNU_SOURCE
#include "storage/blob_impl.h"

#include "common/commit.h"

#include <errno.h>
#include <limits.h>
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

static fg_result check_id(const char *id, fg_reason *r)
{
    if (!store_file_id_valid(id))
        return fg_fail(r, FG_EUSAGE, "upload id is not 32 lowercase hex");
    return FG_OK;
}

static fg_result cannot(fg_reason *r, const char *what)
{
    return fg_fail(r, FG_EUSAGE, "this blob store cannot %s", what);
}

void store_blob_key(const char *hex, char out[STORE_BLOB_KEY_MAX])
{
    snprintf(out, STORE_BLOB_KEY_MAX, "sha256/%s", hex);
}

/* Makes dir with mode 0700 whatever the umask, its parents too (the
 * scratch directory may be anywhere). An existing directory is kept as
 * it is: an operator may have made it shared with other tools. */
static fg_result make_scratch(const char *dir, fg_reason *r)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path)
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_SCRATCH is empty or too long");
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            char buf[128];
            return fg_fail(r, FG_EIO, "cannot make the scratch directory "
                           "(FILIGRANE_SCRATCH) %s: %s", dir,
                           strerror_r(errno, buf, sizeof buf));
        }
        path[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_SCRATCH is not a directory: %s", dir);
    /* Ours alone: a directory others may write to (/tmp) would let a
     * local user plant a symlink where a stamp or a copy of an original
     * is about to go, and its cleaning at startup would remove their
     * files. */
    if ((st.st_uid != geteuid() && geteuid() != 0) || (st.st_mode & 022))
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_SCRATCH must be a directory of this user's "
                       "own, not group or world writable: %s", dir);
    if (access(dir, R_OK | W_OK | X_OK) != 0)
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_SCRATCH is not writable: %s", dir);
    return FG_OK;
}

fg_result store_blob_open(const store_blob_settings *s, store_blob **out, fg_reason *r)
{
    char scratch[PATH_MAX];
    fg_result rc;
    *out = NULL;
    if (!s || !s->data_dir || !*s->data_dir)
        return fg_fail(r, FG_EUSAGE, "no data directory given (FILIGRANE_DATA)");
    if (s->scratch && *s->scratch) {
        if (s->scratch[0] != '/')
            return fg_fail(r, FG_EUSAGE, "FILIGRANE_SCRATCH must be an absolute path");
        if (snprintf(scratch, sizeof scratch, "%s", s->scratch) >= (int)sizeof scratch)
            return fg_fail(r, FG_EUSAGE, "FILIGRANE_SCRATCH is too long");
    } else if (snprintf(scratch, sizeof scratch, "%s/tmp", s->data_dir) >=
               (int)sizeof scratch) {
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_DATA is too long");
    }
    if (!s->s3_endpoint || !*s->s3_endpoint) {
        /* The default scratch is the local store's own temp directory,
         * which it makes. */
        if ((rc = store_blob_open_fs(s->data_dir, out, r)) != FG_OK)
            return rc;
        if ((rc = make_scratch(scratch, r)) != FG_OK) {
            store_blob_free(*out);
            *out = NULL;
        }
        return rc;
    }
    if ((rc = make_scratch(scratch, r)) != FG_OK)
        return rc;
    store_blob_settings resolved = *s;
    resolved.scratch = scratch;
    if (resolved.s3_presign_seconds == 0)
        resolved.s3_presign_seconds = STORE_BLOB_PRESIGN_DEFAULT;
    if (resolved.s3_presign_seconds < STORE_BLOB_PRESIGN_MIN ||
        resolved.s3_presign_seconds > STORE_BLOB_PRESIGN_MAX)
        return fg_fail(r, FG_EUSAGE, "FILIGRANE_S3_PRESIGN_SECONDS must be %d to %d",
                       STORE_BLOB_PRESIGN_MIN, STORE_BLOB_PRESIGN_MAX);
    return store_blob_open_s3(&resolved, out, r);
}

void store_blob_free(store_blob *b)
{
    if (b)
        b->ops->free(b);
}

const char *store_blob_backend(const store_blob *b)
{
    return b->ops->name;
}

fg_result store_blob_check(store_blob *b, fg_reason *r)
{
    return b->ops->check ? b->ops->check(b, r) : FG_OK;
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

fg_result store_blob_download_target(store_blob *b, const char *hex, const char *disposition,
                                     char *out, size_t cap, fg_reason *r)
{
    fg_result rc = check_hex(hex, r);
    if (cap)
        out[0] = '\0';
    if (rc)
        return rc;
    if (!b->ops->download_target)
        return cannot(r, "name a download target");
    return b->ops->download_target(b, hex, disposition, out, cap, r);
}

fg_result store_blob_acquire_local(store_blob *b, const char *hex, char *path, size_t cap,
                                   fg_reason *r)
{
    fg_result rc = check_hex(hex, r);
    if (cap)
        path[0] = '\0';
    if (rc)
        return rc;
    if (!b->ops->acquire_local)
        return cannot(r, "make a local copy");
    if ((rc = b->ops->acquire_local(b, hex, path, cap, r)) != FG_OK && cap)
        path[0] = '\0';
    return rc;
}

void store_blob_release_local(store_blob *b, const char *path)
{
    if (b && path && *path && b->ops->release_local)
        b->ops->release_local(b, path);
}

fg_result store_blob_remove(store_blob *b, const char *hex, fg_reason *r)
{
    fg_result rc = check_hex(hex, r);
    if (rc)
        return rc;
    if (!b->ops->remove)
        return cannot(r, "remove blobs");
    return b->ops->remove(b, hex, r);
}

fg_result store_blob_each(store_blob *b, store_blob_each_fn fn, void *ctx,
                          fg_reason *r)
{
    if (!b->ops->each)
        return cannot(r, "list blobs");
    return b->ops->each(b, fn, ctx, r);
}

fg_result store_blob_parts_create(store_blob *b, const char *id, fg_reason *r)
{
    fg_result rc = check_id(id, r);
    if (rc)
        return rc;
    return b->ops->parts_create ? b->ops->parts_create(b, id, r) : cannot(r, "keep uploads");
}

fg_result store_blob_part_begin(store_blob *b, const char *id, store_blob_part **out,
                                bool *busy, fg_reason *r)
{
    bool ignored = false;
    fg_result rc = check_id(id, r);
    *out = NULL;
    if (busy)
        *busy = false;
    if (rc)
        return rc;
    if (!b->ops->part_begin)
        return cannot(r, "keep uploads");
    return b->ops->part_begin(b, id, out, busy ? busy : &ignored, r);
}

fg_result store_blob_part_seek(store_blob_part *p, int64_t offset, fg_reason *r)
{
    if (offset < 0)
        return fg_fail(r, FG_EUSAGE, "negative upload offset");
    return p->b->ops->part_seek(p, offset, r);
}

fg_result store_blob_part_write(store_blob_part *p, const void *buf, size_t n, fg_reason *r)
{
    return n ? p->b->ops->part_write(p, buf, n, r) : FG_OK;
}

fg_result store_blob_part_flush(store_blob_part *p, fg_reason *r)
{
    return p->b->ops->part_flush(p, r);
}

bool store_blob_part_end(store_blob_part *p, bool keep)
{
    return p ? p->b->ops->part_end(p, keep) : true;
}

fg_result store_blob_parts_assemble(store_blob *b, const char *id, int64_t length,
                                    const char *sha256, char *path, size_t cap, fg_reason *r)
{
    fg_result rc = check_id(id, r);
    if (cap)
        path[0] = '\0';
    if (rc || (sha256 && (rc = check_hex(sha256, r))))
        return rc;
    if (length < 0)
        return fg_fail(r, FG_EUSAGE, "negative upload length");
    if (!b->ops->parts_assemble)
        return cannot(r, "keep uploads");
    if ((rc = b->ops->parts_assemble(b, id, length, sha256, path, cap, r)) != FG_OK && cap)
        path[0] = '\0';
    return rc;
}

fg_result store_blob_parts_remove(store_blob *b, const char *id, fg_reason *r)
{
    fg_result rc = check_id(id, r);
    if (rc)
        return rc;
    return b->ops->parts_remove ? b->ops->parts_remove(b, id, r) : cannot(r, "keep uploads");
}

fg_result store_blob_parts_each(store_blob *b, store_blob_parts_each_fn fn, void *ctx,
                                fg_reason *r)
{
    return b->ops->parts_each ? b->ops->parts_each(b, fn, ctx, r) : cannot(r, "keep uploads");
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
