/* The local blob backend: content-addressed files under <root>/blobs.
 *
 * Durability order for every new blob: temp file written and fsynced, then
 * renamed into place without replacing (RENAME_NOREPLACE: a blob, once
 * there, is never rewritten, not even with the same bytes, so a reader or
 * nginx's sendfile never sees a file change under it), then the directory
 * fsynced so the name survives a power cut too. */
#define _GNU_SOURCE
#include "storage/blob_impl.h"
#include "common/hex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Owner only: nginx workers and the worker run as one user (README,
 * "Users"), and nothing else on the host has a reason to read an
 * original, nor a decoder running as another user. */
#define DIR_MODE 0700
#define FILE_MODE 0600
#define IO_CHUNK (128 * 1024)

/* A tus upload's data file in <root>/tmp. Deliberately not one of
 * storage/tmp_clean.h's prefixes: the worker's startup cleaning must leave
 * live uploads alone (they survive restarts); expired ones are removed by
 * their rows (orders/uploads.h). */
#define FS_TUS_PREFIX "tus-"

/* Room left in a PATH_MAX buffer for "/sha256/ab/cd/" + 64 hex or a temp
 * name after a store directory. */
#define DIR_MAX (PATH_MAX - 256)

typedef struct blob_fs {
    store_blob base; /* first */
    char root[DIR_MAX]; /* <root>/blobs */
    char tmp[DIR_MAX];  /* <root>/tmp */
    dev_t dev;            /* the file system of root: rename works within */
} blob_fs;

/* The reason for errno e, thread-safe (GNU strerror_r returns the text). */
static fg_result io_fail(fg_reason *r, const char *what, int e)
{
    char buf[128];
    return fg_fail(r, FG_EIO, "cannot %s: %s", what,
                   strerror_r(e, buf, sizeof buf));
}

static fg_result fsync_dir(const char *dir, fg_reason *r)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(r, "open a blob directory", errno);
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0)
        return io_fail(r, "sync a blob directory", e);
    return FG_OK;
}

/* Makes dir (one level) with mode 0700 whatever the umask; when it is new,
 * syncs its parent so the new entry is durable before a blob goes in. */
static fg_result ensure_dir(const char *dir, const char *parent, fg_reason *r)
{
    if (mkdir(dir, DIR_MODE) != 0) {
        if (errno == EEXIST)
            return FG_OK;
        return io_fail(r, "make a blob directory", errno);
    }
    if (chmod(dir, DIR_MODE) != 0)
        return io_fail(r, "set a blob directory's mode", errno);
    return parent ? fsync_dir(parent, r) : FG_OK;
}

/* The final path of hex, and its directory, under the blob root. */
static void blob_paths(const blob_fs *b, const char *hex, char dir[PATH_MAX],
                       char path[PATH_MAX])
{
    snprintf(dir, PATH_MAX, "%s/sha256/%.2s/%.2s", b->root, hex, hex + 2);
    snprintf(path, PATH_MAX, "%s/sha256/%.2s/%.2s/%s", b->root, hex, hex + 2,
             hex);
}

/* Moves the fsynced file at from into place as blob hex. If the blob is
 * there already, from is removed instead: same name, same content. */
static fg_result place(blob_fs *b, const char *from, const char *hex,
                       fg_reason *r)
{
    char top[PATH_MAX], dir[PATH_MAX], path[PATH_MAX], sha[PATH_MAX];
    fg_result rc;
    snprintf(sha, sizeof sha, "%s/sha256", b->root);
    snprintf(top, sizeof top, "%s/sha256/%.2s", b->root, hex);
    blob_paths(b, hex, dir, path);
    if ((rc = ensure_dir(top, sha, r)) || (rc = ensure_dir(dir, top, r)))
        return rc;
    if (renameat2(AT_FDCWD, from, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
        int e = errno;
        if (e == EINVAL || e == ENOSYS) {
            /* A file system without RENAME_NOREPLACE: link() refuses to
             * replace too. */
            if (link(from, path) != 0 && errno != EEXIST)
                return io_fail(r, "store a blob", errno);
        } else if (e != EEXIST) {
            return e == EXDEV ? fg_fail(r, FG_EIO, "cannot store a blob: "
                                                   "not on the blob file system")
                              : io_fail(r, "store a blob", e);
        }
        unlink(from);
    }
    return fsync_dir(dir, r);
}

/* Creates a temp file in <root>/tmp; *fd and path are the caller's. */
static fg_result tmp_open(blob_fs *b, int *fd, char path[PATH_MAX],
                          fg_reason *r)
{
    snprintf(path, PATH_MAX, "%s/blob-XXXXXX", b->tmp);
    *fd = mkostemp(path, O_CLOEXEC);
    if (*fd < 0)
        return io_fail(r, "make a temp file", errno);
    return FG_OK;
}

static fg_result write_all(int fd, const void *buf, size_t len, fg_reason *r)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return io_fail(r, "write a blob", errno);
        p += n;
        len -= (size_t)n;
    }
    return FG_OK;
}

/* Reads fd from offset 0 to its end, hashing, and copying to out_fd when
 * out_fd >= 0. */
static fg_result drain(int fd, int out_fd, char hex[STORE_HEX_MAX], int64_t *size,
                       fg_reason *r)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    char *buf = NULL;
    off_t off = 0;
    fg_result rc = FG_OK;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    buf = malloc(IO_CHUNK);
    if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        rc = fg_fail(r, FG_EIO, "cannot hash a blob: out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = pread(fd, buf, IO_CHUNK, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = io_fail(r, "read a file to store", errno);
            goto out;
        }
        if (n == 0)
            break;
        if (!EVP_DigestUpdate(md, buf, (size_t)n)) {
            rc = fg_fail(r, FG_EIO, "cannot hash a blob: openssl failed");
            goto out;
        }
        if (out_fd >= 0 && (rc = write_all(out_fd, buf, (size_t)n, r)))
            goto out;
        off += n;
    }
    if (!EVP_DigestFinal_ex(md, digest, &dlen) || dlen != 32) {
        rc = fg_fail(r, FG_EIO, "cannot hash a blob: openssl failed");
        goto out;
    }
    fg_hex_encode(digest, 32, hex);
    *size = (int64_t)off;
out:
    free(buf);
    EVP_MD_CTX_free(md);
    return rc;
}

/* The copy path of put_file: src on another file system, or not ours to
 * chmod. The copy is a new temp file in our tmp directory. */
static fg_result put_copy(blob_fs *b, int src_fd, const char *hex,
                          fg_reason *r)
{
    char tmp[PATH_MAX], got[STORE_HEX_MAX];
    int64_t size;
    int fd = -1;
    fg_result rc = tmp_open(b, &fd, tmp, r);
    if (rc)
        return rc;
    if ((rc = drain(src_fd, fd, got, &size, r)))
        goto out;
    /* Reading the bytes anyway, check the name the caller gave. */
    if (strcmp(got, hex) != 0) {
        rc = fg_fail(r, FG_EUSAGE, "file to store does not match its sha256");
        goto out;
    }
    if (fchmod(fd, FILE_MODE) != 0 || fsync(fd) != 0) {
        rc = io_fail(r, "sync a blob", errno);
        goto out;
    }
    close(fd);
    fd = -1;
    rc = place(b, tmp, hex, r);
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    return rc;
}

static fg_result fs_put_file(store_blob *base, const char *src,
                             const char *sha256, char hex[STORE_HEX_MAX],
                             int64_t *size, fg_reason *r)
{
    blob_fs *b = (blob_fs *)base;
    char dir[PATH_MAX], path[PATH_MAX];
    struct stat st;
    fg_result rc = FG_OK;
    int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            return fg_fail(r, FG_EUSAGE, "file to store is a symlink");
        return io_fail(r, "open the file to store", errno);
    }
    if (fstat(fd, &st) != 0) {
        rc = io_fail(r, "read the file to store", errno);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fg_fail(r, FG_EUSAGE, "file to store is not a regular file");
        goto out;
    }
    if (sha256) {
        memcpy(hex, sha256, STORE_HEX_MAX);
        *size = (int64_t)st.st_size;
    } else if ((rc = drain(fd, -1, hex, size, r))) {
        goto out;
    }
    blob_paths(b, hex, dir, path);
    if (access(path, F_OK) == 0) {
        unlink(src);
        goto out;
    }
    /* Move the file itself when it is on our file system and we may set
     * its mode; else copy (nginx's temp files are 0600 and ours: nginx's
     * workers run as the worker's user). */
    bool movable = st.st_dev == b->dev &&
                   ((st.st_mode & 07777) == FILE_MODE ||
                    fchmod(fd, FILE_MODE) == 0);
    if (movable) {
        if (fsync(fd) != 0) {
            rc = io_fail(r, "sync a blob", errno);
            goto out;
        }
        rc = place(b, src, hex, r);
        goto out;
    }
    if ((rc = put_copy(b, fd, hex, r)) == FG_OK)
        unlink(src);
out:
    close(fd);
    return rc;
}

static fg_result fs_stat(store_blob *base, const char *hex, bool *exists,
                         int64_t *size, fg_reason *r)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct stat st;
    blob_paths((blob_fs *)base, hex, dir, path);
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return FG_OK;
        return io_fail(r, "look up a blob", errno);
    }
    *exists = S_ISREG(st.st_mode);
    *size = (int64_t)st.st_size;
    return FG_OK;
}

static fg_result fs_download_target(store_blob *base, const char *hex,
                                    const char *disposition, char *out, size_t cap,
                                    fg_reason *r)
{
    (void)base;
    (void)disposition; /* the worker's header passes through the redirect */
    if ((size_t)snprintf(out, cap, "/_blobs/sha256/%.2s/%.2s/%s", hex, hex + 2, hex) >= cap)
        return fg_fail(r, FG_ELIMIT, "download target does not fit the buffer");
    return FG_OK;
}

/* The blob itself: nothing to copy, nothing to release. */
static fg_result fs_acquire_local(store_blob *base, const char *hex, char *out,
                                  size_t cap, fg_reason *r)
{
    char dir[PATH_MAX], path[PATH_MAX];
    blob_paths((blob_fs *)base, hex, dir, path);
    if (access(path, R_OK) != 0)
        return errno == ENOENT || errno == ENOTDIR
                   ? fg_fail(r, FG_ENOTFOUND, "no such blob")
                   : io_fail(r, "look up a blob", errno);
    if ((size_t)snprintf(out, cap, "%s", path) >= cap)
        return fg_fail(r, FG_ELIMIT, "blob path does not fit the buffer");
    return FG_OK;
}

static fg_result fs_check(store_blob *base, fg_reason *r)
{
    blob_fs *b = (blob_fs *)base;
    char sha[PATH_MAX];
    snprintf(sha, sizeof sha, "%s/sha256", b->root);
    if (access(sha, W_OK | X_OK) != 0 || access(b->tmp, W_OK | X_OK) != 0)
        return io_fail(r, "write to the blob store", errno);
    return FG_OK;
}

/* ---- tus data files: <root>/tmp/tus-<id>, appended to in place ---- */

typedef struct fs_part {
    store_blob_part base; /* first */
    int fd;               /* the data file, flock'ed */
    int64_t offset;       /* where the chunk starts; -1 before the seek */
    int64_t written;
} fs_part;

static bool tus_path(const blob_fs *b, const char *id, char path[PATH_MAX])
{
    int n = snprintf(path, PATH_MAX, "%s/" FS_TUS_PREFIX "%s", b->tmp, id);
    return n > 0 && n < PATH_MAX;
}

static fg_result fs_parts_create(store_blob *base, const char *id, fg_reason *r)
{
    char path[PATH_MAX];
    int fd = -1;
    if (!tus_path((blob_fs *)base, id, path) ||
        (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, FILE_MODE)) < 0)
        return fg_fail(r, FG_EIO, "cannot create the upload's file");
    close(fd);
    return FG_OK;
}

static fg_result fs_part_begin(store_blob *base, const char *id, store_blob_part **out,
                               bool *busy, fg_reason *r)
{
    char path[PATH_MAX];
    fs_part *p = NULL;
    int fd = -1;
    if (!tus_path((blob_fs *)base, id, path) ||
        (fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return fg_fail(r, FG_EIO, "the upload's file is missing");
    /* One chunk at a time per upload: a second append racing this one
     * would write over the same offset. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        *busy = true;
        return fg_fail(r, FG_ESTATE, "another chunk of this upload is being written");
    }
    if (!(p = calloc(1, sizeof *p))) {
        close(fd);
        return fg_fail(r, FG_EIO, "out of memory");
    }
    p->base.b = base;
    p->fd = fd;
    p->offset = -1;
    *out = &p->base;
    return FG_OK;
}

static fg_result fs_part_seek(store_blob_part *base, int64_t offset, fg_reason *r)
{
    fs_part *p = (fs_part *)base;
    struct stat st;
    /* Bytes past the recorded offset were written by a request that died
     * before its update committed, or were a chunk refused for its
     * checksum. */
    if (fstat(p->fd, &st) != 0 || st.st_size < offset ||
        (st.st_size > offset && ftruncate(p->fd, offset) != 0))
        return fg_fail(r, FG_ECORRUPT,
                       "the upload's file is shorter than its offset; start it again");
    p->offset = offset;
    p->written = 0;
    return FG_OK;
}

static fg_result fs_part_write(store_blob_part *base, const void *buf, size_t n, fg_reason *r)
{
    fs_part *p = (fs_part *)base;
    const char *c = buf;
    if (p->offset < 0)
        return fg_fail(r, FG_EUSAGE, "an upload chunk written before its offset");
    for (size_t w = 0; w < n;) {
        ssize_t k = pwrite(p->fd, c + w, n - w, p->offset + p->written + (int64_t)w);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return fg_fail(r, FG_EIO, "cannot write the upload: disk full?");
        w += (size_t)k;
    }
    p->written += (int64_t)n;
    return FG_OK;
}

static fg_result fs_part_flush(store_blob_part *base, fg_reason *r)
{
    /* On disk before the offset says so: a power cut must not leave a
     * recorded offset past the file's end. */
    if (fdatasync(((fs_part *)base)->fd) != 0)
        return fg_fail(r, FG_EIO, "cannot write the upload: disk full?");
    return FG_OK;
}

static bool fs_part_end(store_blob_part *base, bool keep)
{
    fs_part *p = (fs_part *)base;
    bool cut = true;
    /* A failed cut is repaired by the next seek, which cuts first. */
    if (!keep && p->offset >= 0)
        cut = ftruncate(p->fd, p->offset) == 0;
    close(p->fd); /* drops the lock */
    free(p);
    return cut;
}

static fg_result fs_parts_assemble(store_blob *base, const char *id, int64_t length,
                                   const char *sha256, char *out, size_t cap, fg_reason *r)
{
    blob_fs *b = (blob_fs *)base;
    char data[PATH_MAX], tag[STORE_FILE_ID_MAX];
    struct stat st;
    fg_result rc;
    (void)sha256; /* the row's states hashed these very bytes as they came */
    /* Only a file of exactly the length is the upload: it may hold more
     * (a chunk that died before its update). */
    if (!tus_path(b, id, data) || lstat(data, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size != length)
        return fg_fail(r, FG_ECORRUPT, "upload %s is damaged; send it again", id);
    /* A new link, so the upload stays whole until the delivery is
     * recorded. "upload-": a link left by a crash here is the startup
     * cleaning's (storage/tmp_clean.h). */
    if ((rc = store_file_id_new(tag, r)) != FG_OK)
        return rc;
    if ((size_t)snprintf(out, cap, "%s/upload-tus-%s", b->tmp, tag) >= cap)
        return fg_fail(r, FG_ELIMIT, "upload path does not fit the buffer");
    if (link(data, out) != 0)
        return fg_fail(r, FG_EIO, "cannot store upload %s", id);
    return FG_OK;
}

static fg_result fs_parts_remove(store_blob *base, const char *id, fg_reason *r)
{
    char path[PATH_MAX];
    if (!tus_path((blob_fs *)base, id, path))
        return fg_fail(r, FG_EIO, "upload path is too long");
    if (unlink(path) != 0 && errno != ENOENT)
        return io_fail(r, "remove an upload's file", errno);
    return FG_OK;
}

static fg_result fs_parts_each(store_blob *base, store_blob_parts_each_fn fn, void *ctx,
                               fg_reason *r)
{
    blob_fs *b = (blob_fs *)base;
    const size_t plen = strlen(FS_TUS_PREFIX);
    struct dirent *e;
    struct stat st;
    DIR *d = opendir(b->tmp);
    if (!d)
        return io_fail(r, "list the upload files", errno);
    while ((e = readdir(d))) {
        const char *id = e->d_name + plen;
        if (strncmp(e->d_name, FS_TUS_PREFIX, plen) != 0 || !store_file_id_valid(id) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (!fn(ctx, id, (int64_t)st.st_mtime))
            break;
    }
    closedir(d);
    return FG_OK;
}

static fg_result fs_remove(store_blob *base, const char *hex, fg_reason *r)
{
    char dir[PATH_MAX], path[PATH_MAX];
    blob_paths((blob_fs *)base, hex, dir, path);
    if (unlink(path) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return FG_OK;
        return io_fail(r, "remove a blob", errno);
    }
    /* The removal is durable before the collector forgets the blob. */
    return fsync_dir(dir, r);
}

static bool hex2(const char *s)
{
    return strlen(s) == 2 && strspn(s, "0123456789abcdef") == 2;
}

/* Walks <root>/sha256/ab/cd/<hex>: two levels of two-hex directories,
 * then blobs whose name agrees with their directories. Anything else
 * (a temp file someone left, a stray name) is not a blob and is skipped. */
static fg_result fs_each(store_blob *base, store_blob_each_fn fn, void *ctx,
                         fg_reason *r)
{
    blob_fs *b = (blob_fs *)base;
    char path[PATH_MAX];
    DIR *top = NULL, *mid = NULL, *leaf = NULL;
    struct dirent *e1, *e2, *e3;
    struct stat st;
    fg_result rc = FG_OK;
    bool more = true;
    snprintf(path, sizeof path, "%s/sha256", b->root);
    if (!(top = opendir(path)))
        return io_fail(r, "list the blob store", errno);
    while (more && (e1 = readdir(top))) {
        if (!hex2(e1->d_name))
            continue;
        snprintf(path, sizeof path, "%s/sha256/%.2s", b->root, e1->d_name);
        if (!(mid = opendir(path)))
            continue;
        while (more && (e2 = readdir(mid))) {
            if (!hex2(e2->d_name))
                continue;
            snprintf(path, sizeof path, "%s/sha256/%.2s/%.2s", b->root, e1->d_name,
                     e2->d_name);
            if (!(leaf = opendir(path)))
                continue;
            while (more && (e3 = readdir(leaf))) {
                const char *h = e3->d_name;
                if (!store_hex_valid(h) || strncmp(h, e1->d_name, 2) != 0 ||
                    strncmp(h + 2, e2->d_name, 2) != 0)
                    continue;
                if (fstatat(dirfd(leaf), h, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                    !S_ISREG(st.st_mode))
                    continue;
                more = fn(ctx, h, (int64_t)st.st_size, (int64_t)st.st_mtime);
            }
            closedir(leaf);
            leaf = NULL;
        }
        closedir(mid);
        mid = NULL;
    }
    closedir(top);
    return rc;
}

static void fs_free(store_blob *base)
{
    free(base);
}

static const store_blob_ops fs_ops = {
    .name = "fs",
    .free = fs_free,
    .check = fs_check,
    .put_file = fs_put_file,
    .stat = fs_stat,
    .download_target = fs_download_target,
    .acquire_local = fs_acquire_local,
    .remove = fs_remove,
    .each = fs_each,
    .parts_create = fs_parts_create,
    .part_begin = fs_part_begin,
    .part_seek = fs_part_seek,
    .part_write = fs_part_write,
    .part_flush = fs_part_flush,
    .part_end = fs_part_end,
    .parts_assemble = fs_parts_assemble,
    .parts_remove = fs_parts_remove,
    .parts_each = fs_parts_each,
};

fg_result store_blob_open_fs(const char *root, store_blob **out, fg_reason *r)
{
    char sha[PATH_MAX];
    blob_fs *b = NULL;
    fg_result rc;
    *out = NULL;
    /* Room for "/blobs/sha256/ab/cd/" + 64 hex under root. */
    if (!root || !*root)
        return fg_fail(r, FG_EUSAGE, "no data directory given");
    if (strlen(root) > DIR_MAX - 16)
        return fg_fail(r, FG_ELIMIT, "data directory path is too long");
    b = calloc(1, sizeof *b);
    if (!b)
        return fg_fail(r, FG_EIO, "cannot open the blob store: out of memory");
    b->base.ops = &fs_ops;
    snprintf(b->root, sizeof b->root, "%s/blobs", root);
    snprintf(b->tmp, sizeof b->tmp, "%s/tmp", root);
    snprintf(sha, sizeof sha, "%s/sha256", b->root);
    if ((rc = ensure_dir(root, NULL, r)) || (rc = ensure_dir(b->root, root, r)) ||
        (rc = ensure_dir(sha, b->root, r)) || (rc = ensure_dir(b->tmp, root, r)))
        goto out;
    struct stat st;
    if (stat(sha, &st) != 0) {
        rc = io_fail(r, "open the blob store", errno);
        goto out;
    }
    b->dev = st.st_dev;
    *out = &b->base;
    b = NULL;
out:
    free(b);
    return rc;
}
