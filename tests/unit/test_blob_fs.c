/* The local blob store on real files in a temp directory. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sys/stat.h>

#include "common/commit.h"
#include "storage/blob.h"

struct store {
    char dir[256];
    store_blob *b;
};

/* Opens blob hex for reading through a local copy on loan: *fd is the
 * caller's, the copy is given back at once (the open file outlives it). */
static fg_result open_read(store_blob *b, const char *hex, int *fd, fg_reason *r)
{
    char path[512];
    fg_result rc = store_blob_acquire_local(b, hex, path, sizeof path, r);
    *fd = -1;
    if (rc != FG_OK)
        return rc;
    *fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    store_blob_release_local(b, path);
    return *fd >= 0 ? FG_OK : fg_fail(r, FG_EIO, "cannot open a blob");
}

static void store_open(struct store *s)
{
    fg_reason r = {""};
    CHECK(tmp_dir_make(s->dir) == 0);
    if (store_blob_open_fs(s->dir, &s->b, &r))
        TAP_FAIL("open: %s", r.text);
}

static void store_close(struct store *s)
{
    store_blob_free(s->b);
    s->b = NULL;
    tmp_dir_remove(s->dir);
}

static void sha_hex(const void *buf, size_t len, char out[STORE_HEX_MAX])
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_Digest(buf, len, d, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(buf, 1, len, f) == len);
    fclose(f);
}

/* Reads the whole file at path into a heap buffer; *len its size. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static char *pattern(size_t len, unsigned seed)
{
    char *buf = malloc(len);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)((i * 131 + seed * 7 + (i >> 9)) & 0xff);
    return buf;
}

/* Stores len bytes as a blob the way an upload is stored: a file in the
 * store's tmp directory, then store_blob_put_file, which hashes it. */
static fg_result put_mem(struct store *s, const void *buf, size_t len,
                         char hex[STORE_HEX_MAX], fg_reason *r)
{
    static int seq;
    char src[512];
    snprintf(src, sizeof src, "%s/tmp/mem-%d", s->dir,
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    write_file(src, buf, len);
    return store_blob_put_file(s->b, src, NULL, hex, NULL, r);
}

TEST("opening makes blobs/sha256 and tmp with mode 0700 whatever the umask")
{
    struct store s;
    char p[512];
    struct stat st;
    mode_t old = umask(0);
    store_open(&s);
    umask(old);
    const char *sub[] = {"blobs", "blobs/sha256", "tmp"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", s.dir, sub[i]);
        CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
        CHECK_INT(st.st_mode & 0777, 0700);
    }
    CHECK_STR(store_blob_backend(s.b), "fs");
    store_blob_free(NULL); /* accepted */
    store_close(&s);
}

TEST("a stored blob lands at blobs/sha256/ab/cd/<hex>, 0600, byte for byte")
{
    struct store s;
    fg_reason r;
    char hex[STORE_HEX_MAX], want[STORE_HEX_MAX], target[STORE_BLOB_TARGET_MAX];
    char p[512], tmp[300];
    struct stat st;
    size_t len = 1000003, got_len = 0;
    char *data = pattern(len, 1);
    mode_t old = umask(0);
    store_open(&s);
    sha_hex(data, len, want);
    CHECK_INT(put_mem(&s, data, len, hex, &r), FG_OK);
    umask(old);
    CHECK_STR(hex, want);

    /* nginx's internal location serves <data>/blobs/ under /_blobs/. */
    CHECK_INT(store_blob_download_target(s.b, hex, "attachment", target, sizeof target, &r),
              FG_OK);
    char want_target[STORE_BLOB_TARGET_MAX];
    snprintf(want_target, sizeof want_target, "/_blobs/sha256/%c%c/%c%c/%s", hex[0], hex[1],
             hex[2], hex[3], hex);
    CHECK_STR(target, want_target);
    CHECK_INT(store_blob_download_target(s.b, hex, NULL, target, 20, &r), FG_ELIMIT);
    snprintf(p, sizeof p, "%s/blobs/%.200s", s.dir, want_target + strlen("/_blobs/"));
    CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode));
    CHECK_INT(st.st_mode & 0777, 0600);
    char *back = read_file(p, &got_len);
    CHECK(back != NULL);
    CHECK_INT(got_len, len);
    CHECK(memcmp(back, data, len) == 0);
    free(back);
    /* The new directories are 0700 too, and nothing is left in tmp. */
    snprintf(p, sizeof p, "%s/blobs/sha256/%.2s", s.dir, hex);
    CHECK(stat(p, &st) == 0);
    CHECK_INT(st.st_mode & 0777, 0700);
    snprintf(p, sizeof p, "%s/blobs/sha256/%.2s/%.2s", s.dir, hex, hex + 2);
    CHECK(stat(p, &st) == 0);
    CHECK_INT(st.st_mode & 0777, 0700);
    snprintf(tmp, sizeof tmp, "%s/tmp", s.dir);
    CHECK_INT(count_entries(tmp), 0);

    /* A local copy is the blob itself, and giving it back leaves it. */
    char local[512];
    CHECK_INT(store_blob_acquire_local(s.b, hex, local, sizeof local, &r), FG_OK);
    snprintf(p, sizeof p, "%s/blobs/%.200s", s.dir, want_target + strlen("/_blobs/"));
    CHECK_STR(local, p);
    store_blob_release_local(s.b, local);
    CHECK(access(p, R_OK) == 0);
    CHECK_INT(store_blob_acquire_local(s.b, hex, local, 10, &r), FG_ELIMIT);
    CHECK_STR(local, "");
    free(data);
    store_close(&s);
}

TEST("the empty blob has the SHA-256 of nothing")
{
    struct store s;
    fg_reason r;
    char hex[STORE_HEX_MAX];
    bool exists = false;
    int64_t size = -1;
    store_open(&s);
    CHECK_INT(put_mem(&s, "", 0, hex, &r), FG_OK);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_INT(store_blob_stat(s.b, hex, &exists, &size, &r), FG_OK);
    CHECK(exists);
    CHECK_INT(size, 0);
    store_close(&s);
}

TEST("the same content stored twice is one blob, never rewritten")
{
    struct store s;
    fg_reason r;
    char hex1[STORE_HEX_MAX], hex2[STORE_HEX_MAX], hex3[STORE_HEX_MAX];
    char p[512], src[512], tmp[300];
    struct stat st1, st2;
    store_open(&s);
    CHECK_INT(put_mem(&s, "same bytes", 10, hex1, &r), FG_OK);
    snprintf(p, sizeof p, "%s/blobs/sha256/%.2s/%.2s/%s", s.dir, hex1, hex1 + 2,
             hex1);
    CHECK(stat(p, &st1) == 0);

    CHECK_INT(put_mem(&s, "same bytes", 10, hex2, &r), FG_OK);
    CHECK_STR(hex2, hex1);

    snprintf(src, sizeof src, "%s/tmp/upload-1", s.dir);
    write_file(src, "same bytes", 10);
    CHECK_INT(store_blob_put_file(s.b, src, NULL, hex3, NULL, &r), FG_OK);
    CHECK_STR(hex3, hex1);
    CHECK(access(src, F_OK) != 0); /* consumed */

    CHECK(stat(p, &st2) == 0);
    CHECK_INT(st2.st_ino, st1.st_ino); /* the first file, untouched */
    snprintf(p, sizeof p, "%s/blobs/sha256/%.2s/%.2s", s.dir, hex1, hex1 + 2);
    CHECK_INT(count_entries(p), 1);
    snprintf(tmp, sizeof tmp, "%s/tmp", s.dir);
    CHECK_INT(count_entries(tmp), 0);
    store_close(&s);
}

TEST("a file in the store's file system is renamed into place, with or without its hash")
{
    struct store s;
    fg_reason r;
    char hex[STORE_HEX_MAX], want[STORE_HEX_MAX], src[512], p[512];
    struct stat before, after;
    int64_t size = 0;
    size_t len = 300000, got = 0;
    store_open(&s);
    for (int given = 0; given < 2; given++) {
        char *data = pattern(len, 10 + (unsigned)given);
        sha_hex(data, len, want);
        snprintf(src, sizeof src, "%s/tmp/body-%d", s.dir, given);
        write_file(src, data, len);
        CHECK(chmod(src, 0600) == 0); /* as nginx leaves its temp files */
        CHECK(stat(src, &before) == 0);
        CHECK_INT(store_blob_put_file(s.b, src, given ? want : NULL, hex, &size,
                                      &r),
                  FG_OK);
        CHECK_STR(hex, want);
        CHECK_INT(size, (long long)len);
        CHECK(access(src, F_OK) != 0);
        snprintf(p, sizeof p, "%s/blobs/sha256/%.2s/%.2s/%s", s.dir, hex,
                 hex + 2, hex);
        CHECK(stat(p, &after) == 0);
        CHECK_INT(after.st_ino, before.st_ino); /* moved, not copied */
        CHECK_INT(after.st_mode & 0777, 0600);
        char *back = read_file(p, &got);
        CHECK(back && got == len && memcmp(back, data, len) == 0);
        free(back);
        free(data);
    }
    store_close(&s);
}

TEST("a raw body's sha256 and salted commitment come from one pass over the file")
{
    struct store s;
    fg_reason r;
    char hex[STORE_HEX_MAX], want[STORE_HEX_MAX], commit[STORE_HEX_MAX];
    char want_commit[STORE_HEX_MAX], src[512];
    unsigned char salt[FG_SALT_BYTES];
    int64_t size = 0;
    size_t len = 300000;
    store_open(&s);
    char *data = pattern(len, 20);
    CHECK_INT(fg_salt_new(salt, &r), FG_OK);
    sha_hex(data, len, want);
    char *salted = malloc(sizeof salt + len);
    CHECK(salted != NULL);
    memcpy(salted, salt, sizeof salt);
    memcpy(salted + sizeof salt, data, len);
    sha_hex(salted, sizeof salt + len, want_commit);
    free(salted);
    snprintf(src, sizeof src, "%s/tmp/body-c", s.dir);
    write_file(src, data, len);
    CHECK_INT(store_blob_hash_file_committed(src, salt, hex, commit, &size, &r), FG_OK);
    CHECK_STR(hex, want);
    CHECK_STR(commit, want_commit);
    CHECK(strcmp(commit, hex) != 0);
    CHECK_INT(size, (long long)len);
    CHECK_INT(store_blob_hash_file_committed(src, NULL, hex, commit, &size, &r), FG_EUSAGE);
    free(data);
    store_close(&s);
}

TEST("a file on another file system is copied in, checked against its hash, and removed")
{
    struct store s;
    fg_reason r;
    char hex[STORE_HEX_MAX], want[STORE_HEX_MAX], src[256], p[512];
    struct stat src_st, blob_st, root_st;
    size_t len = 200000, got = 0;
    char *data = pattern(len, 3);
    store_open(&s);
    sha_hex(data, len, want);
    /* /dev/shm is a tmpfs on Linux machines; where it is the same file
     * system as the store, the move path runs and the contract still holds
     * (checked below either way). */
    const char *other = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(src, sizeof src, "%s/fg-blob-src-%d", other, (int)getpid());
    write_file(src, data, len);
    CHECK(stat(src, &src_st) == 0);
    snprintf(p, sizeof p, "%s/blobs", s.dir);
    CHECK(stat(p, &root_st) == 0);
    bool cross = src_st.st_dev != root_st.st_dev;

    /* A wrong hash is caught on the copy path, and the source is kept. */
    if (cross) {
        CHECK_INT(store_blob_put_file(s.b, src,
                                      "0000000000000000000000000000000000000000"
                                      "000000000000000000000000",
                                      hex, NULL, &r),
                  FG_EUSAGE);
        CHECK(access(src, F_OK) == 0);
        snprintf(p, sizeof p, "%s/tmp", s.dir);
        CHECK_INT(count_entries(p), 0);
    }
    CHECK_INT(store_blob_put_file(s.b, src, NULL, hex, NULL, &r), FG_OK);
    CHECK_STR(hex, want);
    CHECK(access(src, F_OK) != 0);
    snprintf(p, sizeof p, "%s/blobs/sha256/%.2s/%.2s/%s", s.dir, hex, hex + 2,
             hex);
    CHECK(stat(p, &blob_st) == 0);
    CHECK_INT(blob_st.st_mode & 0777, 0600);
    CHECK(blob_st.st_dev == root_st.st_dev);
    char *back = read_file(p, &got);
    CHECK(back && got == len && memcmp(back, data, len) == 0);
    free(back);
    free(data);
    store_close(&s);
}

TEST("malformed hex is refused before any path is built from it")
{
    const char *bad[] = {
        "",
        "abc",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0",   /* 63 */
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a088", /* 65 */
        "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",  /* upper */
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0g",
        "../../../../../../../../../../../../../../../../../etc/passwd....",
        "9f86d081884c7d659a2feaa0c55ad015/3bf4f1b2b0b822cd15d6c15b0f00a08",
        NULL,
    };
    struct store s;
    char src[512];
    store_open(&s);
    snprintf(src, sizeof src, "%s/tmp/upload", s.dir);
    write_file(src, "some upload", 11);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fg_reason r;
        char target[STORE_BLOB_TARGET_MAX], local[512];
        bool exists = true;
        CHECK(!store_hex_valid(bad[i]));
        CHECK_INT(store_blob_download_target(s.b, bad[i], NULL, target, sizeof target, &r),
                  FG_EUSAGE);
        CHECK_STR(target, "");
        CHECK_INT(store_blob_stat(s.b, bad[i], &exists, NULL, &r), FG_EUSAGE);
        CHECK(!exists);
        CHECK_INT(store_blob_acquire_local(s.b, bad[i], local, sizeof local, &r),
                  FG_EUSAGE);
        CHECK_STR(local, "");
        if (bad[i]) {
            CHECK_INT(store_blob_put_file(s.b, src, bad[i], NULL, NULL, &r),
                      FG_EUSAGE);
            CHECK(access(src, F_OK) == 0); /* left untouched */
        }
    }
    char blobs[300];
    snprintf(blobs, sizeof blobs, "%s/blobs/sha256", s.dir);
    CHECK_INT(count_entries(blobs), 0);
    store_close(&s);
}

TEST("unknown blobs are not found; symlinks and directories are not stored")
{
    struct store s;
    fg_reason r;
    char link_path[512], dir_path[512], hex[STORE_HEX_MAX];
    const char *none =
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    bool exists = true;
    store_open(&s);
    CHECK_INT(store_blob_stat(s.b, none, &exists, NULL, &r), FG_OK);
    CHECK(!exists);
    char local[512];
    CHECK_INT(store_blob_acquire_local(s.b, none, local, sizeof local, &r),
              FG_ENOTFOUND);
    snprintf(link_path, sizeof link_path, "%s/tmp/link", s.dir);
    CHECK(symlink("/etc/passwd", link_path) == 0);
    CHECK_INT(store_blob_put_file(s.b, link_path, NULL, hex, NULL, &r),
              FG_EUSAGE);
    CHECK(access("/etc/passwd", F_OK) == 0);
    snprintf(dir_path, sizeof dir_path, "%s/tmp/dir", s.dir);
    CHECK(mkdir(dir_path, 0755) == 0);
    CHECK_INT(store_blob_put_file(s.b, dir_path, NULL, hex, NULL, &r),
              FG_EUSAGE);
    CHECK_INT(store_blob_put_file(s.b, "", NULL, hex, NULL, &r), FG_EUSAGE);
    snprintf(dir_path, sizeof dir_path, "%s/tmp/missing", s.dir);
    CHECK_INT(store_blob_put_file(s.b, dir_path, NULL, hex, NULL, &r), FG_EIO);
    CHECK(strstr(r.text, s.dir) == NULL); /* no server path in a reason */
    store_close(&s);
}

TEST("a stored blob opens for reading and reads back whole")
{
    struct store s;
    fg_reason r;
    char hex[STORE_HEX_MAX], buf[64];
    int fd = -1;
    store_open(&s);
    CHECK_INT(put_mem(&s, "original bytes", 14, hex, &r), FG_OK);
    CHECK_INT(open_read(s.b, hex, &fd, &r), FG_OK);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    CHECK_INT(n, 14);
    CHECK(memcmp(buf, "original bytes", 14) == 0);
    store_close(&s);
}

struct blob_reader {
    store_blob *b;
    const char *hex;
    const char *want;
    size_t len;
    volatile int *stop;
    int reads;
    int failed;
};

static void *read_loop(void *arg)
{
    struct blob_reader *x = arg;
    char *buf = malloc(x->len + 1);
    while (!__atomic_load_n(x->stop, __ATOMIC_ACQUIRE) || x->reads < 10) {
        fg_reason r;
        int fd = -1;
        if (open_read(x->b, x->hex, &fd, &r) != FG_OK) {
            x->failed++;
            break;
        }
        size_t got = 0;
        ssize_t n;
        while ((n = read(fd, buf + got, x->len + 1 - got)) > 0)
            got += (size_t)n;
        close(fd);
        if (got != x->len || memcmp(buf, x->want, x->len) != 0)
            x->failed++;
        x->reads++;
    }
    free(buf);
    return NULL;
}

TEST("readers of one blob see it whole while another blob is being written")
{
    struct store s;
    fg_reason r;
    char hex_a[STORE_HEX_MAX], hex_b[STORE_HEX_MAX], want_b[STORE_HEX_MAX];
    size_t len_a = 500000, len_b = 4 << 20;
    char *a = pattern(len_a, 5), *b = pattern(len_b, 6);
    volatile int stop = 0;
    store_open(&s);
    CHECK_INT(put_mem(&s, a, len_a, hex_a, &r), FG_OK);
    sha_hex(b, len_b, want_b);

    struct blob_reader x[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        x[i] = (struct blob_reader){s.b, hex_a, a, len_a, &stop, 0, 0};
        CHECK(pthread_create(&t[i], NULL, read_loop, &x[i]) == 0);
    }
    char src_b[512];
    snprintf(src_b, sizeof src_b, "%s/tmp/big-b", s.dir);
    write_file(src_b, b, len_b);
    {
        bool exists = true;
        /* Not visible under its name until stored. */
        CHECK_INT(store_blob_stat(s.b, want_b, &exists, NULL, &r), FG_OK);
        CHECK(!exists);
    }
    CHECK_INT(store_blob_put_file(s.b, src_b, NULL, hex_b, NULL, &r), FG_OK);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_STR(hex_b, want_b);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(x[i].failed, 0);
        CHECK(x[i].reads >= 10);
    }
    bool exists = false;
    int64_t size = 0;
    CHECK_INT(store_blob_stat(s.b, hex_b, &exists, &size, &r), FG_OK);
    CHECK(exists);
    CHECK_INT(size, (long long)len_b);
    free(a);
    free(b);
    store_close(&s);
}

/* ---- tus bytes (store_blob_part_*, store_blob_parts_*) ---- */

#define UPLOAD_ID "0123456789abcdef0123456789abcdef"

static long long tus_size(struct store *s)
{
    char p[400];
    struct stat st;
    snprintf(p, sizeof p, "%s/tmp/tus-%s", s->dir, UPLOAD_ID);
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* Writes bytes at offset as one chunk; keep says whether its offset was
 * "recorded". Returns what begin/seek/write/flush gave. */
static fg_result chunk_at(struct store *s, int64_t offset, const char *bytes, bool keep)
{
    store_blob_part *p = NULL;
    fg_reason r;
    fg_result rc = store_blob_part_begin(s->b, UPLOAD_ID, &p, NULL, &r);
    if (rc != FG_OK)
        return rc;
    if ((rc = store_blob_part_seek(p, offset, &r)) == FG_OK &&
        (rc = store_blob_part_write(p, bytes, strlen(bytes), &r)) == FG_OK)
        rc = store_blob_part_flush(p, &r);
    CHECK(store_blob_part_end(p, keep && rc == FG_OK));
    return rc;
}

TEST("tus bytes: chunks land at their offsets, an unkept chunk is cut, the whole is assembled as a new file")
{
    struct store s;
    fg_reason r;
    char path[600], hex[STORE_HEX_MAX], want[STORE_HEX_MAX];
    size_t len = 0;
    store_open(&s);
    CHECK_INT(store_blob_parts_create(s.b, UPLOAD_ID, &r), FG_OK);
    CHECK_INT(tus_size(&s), 0);
    /* A second create of the same upload does not wipe the first. */
    CHECK_INT(store_blob_parts_create(s.b, UPLOAD_ID, &r), FG_EIO);
    CHECK_INT(chunk_at(&s, 0, "hello ", true), FG_OK);
    CHECK_INT(tus_size(&s), 6);
    /* Refused (a bad checksum, a lost race): its bytes go. */
    CHECK_INT(chunk_at(&s, 6, "garbage!", false), FG_OK);
    CHECK_INT(tus_size(&s), 6);
    /* Bytes past the recorded offset (a request that died) are cut by
     * the next seek. */
    CHECK_INT(chunk_at(&s, 6, "world, and more", true), FG_OK);
    CHECK_INT(chunk_at(&s, 6, "world", true), FG_OK);
    CHECK_INT(tus_size(&s), 11);
    /* Only exactly the length is the upload. */
    CHECK_INT(store_blob_parts_assemble(s.b, UPLOAD_ID, 12, NULL, path, sizeof path, &r),
              FG_ECORRUPT);
    CHECK_STR(path, "");
    sha_hex("hello world", 11, want);
    CHECK_INT(store_blob_parts_assemble(s.b, UPLOAD_ID, 11, want, path, sizeof path, &r),
              FG_OK);
    char *back = read_file(path, &len);
    CHECK(back && len == 11 && memcmp(back, "hello world", 11) == 0);
    free(back);
    /* The assembled file is the caller's to store; the upload stays
     * whole until it is removed. */
    CHECK_INT(store_blob_put_file(s.b, path, want, hex, NULL, &r), FG_OK);
    CHECK_STR(hex, want);
    CHECK(access(path, F_OK) != 0);
    CHECK_INT(tus_size(&s), 11);
    CHECK_INT(store_blob_parts_remove(s.b, UPLOAD_ID, &r), FG_OK);
    CHECK_INT(tus_size(&s), -1);
    CHECK_INT(store_blob_parts_remove(s.b, UPLOAD_ID, &r), FG_OK); /* nothing: fine */
    store_close(&s);
}

TEST("tus bytes: a second writer of one upload is refused as busy until the first ends")
{
    struct store s;
    fg_reason r;
    store_blob_part *first = NULL, *second = NULL;
    bool busy = false;
    store_open(&s);
    CHECK_INT(store_blob_parts_create(s.b, UPLOAD_ID, &r), FG_OK);
    CHECK_INT(store_blob_part_begin(s.b, UPLOAD_ID, &first, &busy, &r), FG_OK);
    CHECK(!busy);
    CHECK_INT(store_blob_part_seek(first, 0, &r), FG_OK);
    CHECK_INT(store_blob_part_write(first, "abc", 3, &r), FG_OK);
    CHECK_INT(store_blob_part_begin(s.b, UPLOAD_ID, &second, &busy, &r), FG_ESTATE);
    CHECK(busy);
    CHECK(second == NULL);
    /* The first's bytes were not cut by the refused second. */
    CHECK_INT(store_blob_part_flush(first, &r), FG_OK);
    CHECK_INT(tus_size(&s), 3);
    CHECK(store_blob_part_end(first, true));
    busy = true;
    CHECK_INT(store_blob_part_begin(s.b, UPLOAD_ID, &second, &busy, &r), FG_OK);
    CHECK(!busy);
    CHECK(store_blob_part_end(second, false)); /* never sought: nothing cut */
    CHECK_INT(tus_size(&s), 3);
    store_close(&s);
}

TEST("tus bytes: a seek past the stored bytes is damage; a missing upload is refused")
{
    struct store s;
    fg_reason r;
    store_blob_part *p = NULL;
    store_open(&s);
    CHECK_INT(store_blob_part_begin(s.b, UPLOAD_ID, &p, NULL, &r), FG_EIO);
    CHECK(p == NULL);
    CHECK_INT(store_blob_parts_create(s.b, UPLOAD_ID, &r), FG_OK);
    CHECK_INT(chunk_at(&s, 0, "12345", true), FG_OK);
    CHECK_INT(chunk_at(&s, 9, "6789", true), FG_ECORRUPT);
    CHECK_INT(tus_size(&s), 5); /* nothing cut or written */
    CHECK_INT(store_blob_part_begin(s.b, UPLOAD_ID, &p, NULL, &r), FG_OK);
    CHECK_INT(store_blob_part_seek(p, -1, &r), FG_EUSAGE);
    CHECK(store_blob_part_end(p, false));
    CHECK(store_blob_part_end(NULL, false));
    store_close(&s);
}

struct seen_ids {
    int n;
    char id[4][STORE_FILE_ID_MAX];
};

static bool note_id(void *ctx, const char *id, int64_t mtime)
{
    struct seen_ids *w = ctx;
    CHECK(mtime > 0);
    if (w->n < 4)
        snprintf(w->id[w->n], STORE_FILE_ID_MAX, "%s", id);
    w->n++;
    return true;
}

TEST("tus bytes: the walk names uploads with bytes and nothing else in the temp directory")
{
    struct store s;
    fg_reason r;
    char p[400];
    struct seen_ids w = {0};
    store_open(&s);
    CHECK_INT(store_blob_parts_create(s.b, UPLOAD_ID, &r), FG_OK);
    /* Not uploads: other temp files, a malformed id, a symlink. */
    snprintf(p, sizeof p, "%s/tmp/tus-notes.txt", s.dir);
    write_file(p, "x", 1);
    snprintf(p, sizeof p, "%s/tmp/blob-123456", s.dir);
    write_file(p, "x", 1);
    snprintf(p, sizeof p, "%s/tmp/tus-fedcba9876543210fedcba9876543210", s.dir);
    CHECK(symlink("/etc/passwd", p) == 0);
    CHECK_INT(store_blob_parts_each(s.b, note_id, &w, &r), FG_OK);
    CHECK_INT(w.n, 1);
    CHECK_STR(w.id[0], UPLOAD_ID);
    store_close(&s);
}

TEST("tus bytes: an upload id that is not 32 lowercase hex never becomes a path")
{
    static const char *const bad[] = {
        "../../../../../../../../etc/passw", "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0", "", NULL,
    };
    struct store s;
    char path[600];
    store_open(&s);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fg_reason r;
        store_blob_part *p = NULL;
        CHECK_INT(store_blob_parts_create(s.b, bad[i], &r), FG_EUSAGE);
        CHECK_INT(store_blob_part_begin(s.b, bad[i], &p, NULL, &r), FG_EUSAGE);
        CHECK_INT(store_blob_parts_assemble(s.b, bad[i], 1, NULL, path, sizeof path, &r),
                  FG_EUSAGE);
        CHECK_INT(store_blob_parts_remove(s.b, bad[i], &r), FG_EUSAGE);
    }
    snprintf(path, sizeof path, "%s/tmp", s.dir);
    CHECK_INT(count_entries(path), 0);
    store_close(&s);
}

/* ---- opening from the settings ---- */

TEST("store_blob_open: local by default, its scratch made 0700, a shared scratch refused")
{
    char dir[256], scratch[400];
    fg_reason r;
    store_blob *b = NULL;
    struct stat st;
    CHECK(tmp_dir_make(dir) == 0);
    store_blob_settings set = {.data_dir = dir};
    CHECK_INT(store_blob_open(&set, &b, &r), FG_OK);
    CHECK_STR(store_blob_backend(b), "fs");
    CHECK_INT(store_blob_check(b, &r), FG_OK);
    store_blob_free(b);

    /* A scratch of its own, made with its parents, owner only. */
    snprintf(scratch, sizeof scratch, "%s/fast/scratch", dir);
    set.scratch = scratch;
    mode_t old = umask(0);
    CHECK_INT(store_blob_open(&set, &b, &r), FG_OK);
    umask(old);
    CHECK(stat(scratch, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_INT(st.st_mode & 0777, 0700);
    store_blob_free(b);

    /* Writable by others (/tmp, a shared mount): a local user could plant
     * a symlink where a copy of an original goes. */
    CHECK(chmod(scratch, 01777) == 0);
    CHECK_INT(store_blob_open(&set, &b, &r), FG_EUSAGE);
    CHECK(b == NULL);
    CHECK(strstr(r.text, "FILIGRANE_SCRATCH") != NULL);
    CHECK(chmod(scratch, 0700) == 0);
    set.scratch = "relative/scratch";
    CHECK_INT(store_blob_open(&set, &b, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_SCRATCH") != NULL);

    /* The data directory missing altogether. */
    store_blob_settings none = {.data_dir = NULL};
    CHECK_INT(store_blob_open(&none, &b, &r), FG_EUSAGE);
    CHECK(strstr(r.text, "FILIGRANE_DATA") != NULL);
    tmp_dir_remove(dir);
}

TEST("store_blob_check: a blob directory the worker cannot write to stops it at start")
{
    struct store s;
    fg_reason r;
    char p[400];
    store_open(&s);
    CHECK_INT(store_blob_check(s.b, &r), FG_OK);
    snprintf(p, sizeof p, "%s/blobs/sha256", s.dir);
    tmp_dir_remove(p);
    CHECK_INT(store_blob_check(s.b, &r), FG_EIO);
    store_close(&s);
}
