/* The blob store's S3 backend (storage/blob_s3.c) against s3rver, through
 * the store's own calls (storage/blob.h), as the worker and the CLI use
 * it. */
#define _GNU_SOURCE
#define TAP_MAIN
#define main tap_default_main /* this file has its own main, below */
#include "tests/unit/tap.h"
#undef main
#include "tests/unit/store_tmp.h"
#include "tests/unit/s3_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "storage/blob.h"
#include "storage/s3.h"

struct store {
    char dir[256];     /* data and scratch */
    char scratch[300];
    store_blob *b;
};

static fg_result open_with(struct store *s, const char *secret, const char *ep)
{
    fg_reason r = {""};
    CHECK(tmp_dir_make(s->dir) == 0);
    snprintf(s->scratch, sizeof s->scratch, "%s/scratch", s->dir);
    store_blob_settings set = {
        .data_dir = s->dir, .scratch = s->scratch, .s3_endpoint = ep,
        .s3_bucket = "filigrane", .s3_access_key_id = "S3RVER",
        .s3_secret_access_key = secret,
    };
    return store_blob_open(&set, &s->b, &r);
}

static void store_open(struct store *s)
{
    fg_reason r = {""};
    if (open_with(s, "S3RVER", endpoint) != FG_OK)
        TAP_FAIL("open");
    CHECK_STR(store_blob_backend(s->b), "s3");
    if (store_blob_check(s->b, &r) != FG_OK)
        TAP_FAIL("check: %s", r.text);
}

static void store_close(struct store *s)
{
    store_blob_free(s->b);
    tmp_dir_remove(s->dir);
}

/* Writes text to a new file in the store's directory; its path in path. */
static void put_text(struct store *s, const char *name, const char *text, char path[300])
{
    snprintf(path, 300, "%s/%s", s->dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

static int scratch_count(const struct store *s)
{
    int n = 0;
    DIR *d = opendir(s->scratch);
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void read_all(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    CHECK(n >= 0);
    buf[n] = '\0';
}

TEST("the startup check names S3's code for a wrong secret and the endpoint when unreachable")
{
    struct store s;
    fg_reason r = {""};
    CHECK(open_with(&s, "wrong-secret", endpoint) == FG_OK);
    CHECK(store_blob_check(s.b, &r) == FG_EAUTH);
    CHECK(strstr(r.text, "SignatureDoesNotMatch") != NULL);
    CHECK(strstr(r.text, "wrong-secret") == NULL);
    store_close(&s);
    CHECK(open_with(&s, "S3RVER", "http://127.0.0.1:9") == FG_OK);
    CHECK(store_blob_check(s.b, &r) == FG_EIO);
    CHECK(strstr(r.text, "127.0.0.1:9") != NULL);
    store_close(&s);
}

TEST("put consumes the file, a second copy of the same bytes too, and stat sees the blob")
{
    struct store s;
    char path[300], hex[STORE_HEX_MAX], hex2[STORE_HEX_MAX];
    int64_t size = 0;
    bool exists = false;
    fg_reason r = {""};
    store_open(&s);
    put_text(&s, "a", "an original", path);
    if (store_blob_put_file(s.b, path, NULL, hex, &size, &r) != FG_OK)
        TAP_FAIL("put: %s", r.text);
    CHECK(access(path, F_OK) != 0);
    CHECK_INT(size, 11);
    CHECK(store_blob_stat(s.b, hex, &exists, &size, &r) == FG_OK);
    CHECK(exists);
    CHECK_INT(size, 11);
    put_text(&s, "b", "an original", path);
    CHECK(store_blob_put_file(s.b, path, hex, hex2, NULL, &r) == FG_OK);
    CHECK_STR(hex2, hex);
    CHECK(access(path, F_OK) != 0);
    /* a symlink is refused and left alone */
    char link[300];
    put_text(&s, "c", "x", path);
    snprintf(link, sizeof link, "%s/link", s.dir);
    CHECK(symlink(path, link) == 0);
    CHECK(store_blob_put_file(s.b, link, NULL, hex, NULL, &r) == FG_EUSAGE);
    CHECK(access(link, F_OK) == 0);
    store_close(&s);
}

TEST("the download target is /_s3/ and a presigned path that serves the blob, and only it")
{
    struct store s;
    char path[300], hex[STORE_HEX_MAX], target[STORE_BLOB_TARGET_MAX];
    fg_reason r = {""};
    store_open(&s);
    put_text(&s, "a", "bytes to download", path);
    CHECK(store_blob_put_file(s.b, path, NULL, hex, NULL, &r) == FG_OK);
    CHECK(store_blob_download_target(s.b, hex, "attachment; filename=\"a.txt\"; "
                                               "filename*=UTF-8''a.txt",
                                     target, sizeof target, &r) == FG_OK);
    char want[200];
    snprintf(want, sizeof want, "/_s3/filigrane/sha256/%s?", hex);
    CHECK(strncmp(target, want, strlen(want)) == 0);
    CHECK(strstr(target, "X-Amz-Expires=300&") != NULL);
    /* the disposition's type is signed in, its file names are not */
    CHECK(strstr(target, "&response-content-disposition=attachment&") != NULL);
    CHECK(strstr(target, "filename") == NULL);
    /* what nginx does: the path and query, to the endpoint */
    char cmd[STORE_BLOB_TARGET_MAX + 600], body[64] = "";
    snprintf(cmd, sizeof cmd, "curl -s -o %s/got '%s%s'", s.dir, endpoint, target + 4);
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/got", s.dir);
    read_all(path, body, sizeof body);
    CHECK_STR(body, "bytes to download");
    /* the same signature for another blob's key is refused */
    char other[STORE_BLOB_TARGET_MAX];
    snprintf(other, sizeof other, "%s", target);
    char *h = strstr(other, hex);
    h[63] = h[63] == '0' ? '1' : '0';
    snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' '%s%s' | grep -qx 403",
             endpoint, other + 4);
    CHECK(system(cmd) == 0);
    /* nor may the signed disposition be changed */
    snprintf(other, sizeof other, "%s", target);
    char *d = strstr(other, "disposition=attachment") + 12;
    memcpy(d, "inline&", 7);
    memmove(d + 6, d + 10, strlen(d + 10) + 1);
    CHECK(strstr(other, "disposition=inline&X-Amz-Signature=") != NULL);
    snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' '%s%s' | grep -qx 403",
             endpoint, other + 4);
    CHECK(system(cmd) == 0);
    /* without a disposition none is signed */
    CHECK(store_blob_download_target(s.b, hex, NULL, other, sizeof other, &r) == FG_OK);
    CHECK(strstr(other, "response-content-disposition") == NULL);
    /* a short buffer fails cleanly */
    CHECK(store_blob_download_target(s.b, hex, NULL, target, 40, &r) == FG_ELIMIT);
    CHECK_STR(target, "");
    store_close(&s);
}

TEST("a local copy is downloaded into the scratch directory and removed on release")
{
    struct store s;
    char path[300], hex[STORE_HEX_MAX], local[4096], body[64];
    fg_reason r = {""};
    store_open(&s);
    put_text(&s, "a", "stamp me", path);
    CHECK(store_blob_put_file(s.b, path, NULL, hex, NULL, &r) == FG_OK);
    CHECK_INT(scratch_count(&s), 0);
    if (store_blob_acquire_local(s.b, hex, local, sizeof local, &r) != FG_OK)
        TAP_FAIL("acquire: %s", r.text);
    CHECK(strncmp(local, s.scratch, strlen(s.scratch)) == 0);
    CHECK(strstr(local, "/blob-") != NULL);
    struct stat st;
    CHECK(stat(local, &st) == 0 && (st.st_mode & 0777) == 0600);
    read_all(local, body, sizeof body);
    CHECK_STR(body, "stamp me");
    store_blob_release_local(s.b, local);
    CHECK(access(local, F_OK) != 0);
    CHECK_INT(scratch_count(&s), 0);
    /* a path that is not one of its copies is never removed */
    put_text(&s, "keep", "mine", path);
    store_blob_release_local(s.b, path);
    CHECK(access(path, F_OK) == 0);
    /* a missing blob: FG_ENOTFOUND, nothing left behind */
    char missing[STORE_HEX_MAX];
    memset(missing, 'e', 64);
    missing[64] = '\0';
    CHECK(store_blob_acquire_local(s.b, missing, local, sizeof local, &r) == FG_ENOTFOUND);
    CHECK_STR(local, "");
    CHECK_INT(scratch_count(&s), 0);
    store_close(&s);
}

struct seen {
    char hex[8][STORE_HEX_MAX];
    int n;
};

static bool on_blob(void *ctx, const char *hex, int64_t size, int64_t mtime)
{
    struct seen *s = ctx;
    (void)size;
    (void)mtime;
    if (s->n < 8)
        snprintf(s->hex[s->n], STORE_HEX_MAX, "%s", hex);
    s->n++;
    return true;
}

TEST("the walk reports stored blobs, not other keys; remove deletes one")
{
    struct store s;
    char path[300], hex[STORE_HEX_MAX];
    fg_reason r = {""};
    store_open(&s);
    /* keys in the bucket that are not blobs: a fanned-out path, a short name */
    s3_config cfg = {.endpoint = endpoint, .bucket = "filigrane", .access_key_id = "S3RVER",
                     .secret_access_key = "S3RVER"};
    s3_client *c = NULL;
    CHECK(s3_client_new(&cfg, &c, &r) == FG_OK);
    CHECK(s3_put_mem(c, "sha256/notablob", "x", 1, &r) == FG_OK);
    CHECK(s3_put_mem(c,
                     "sha256/00/00/1111111111111111111111111111111111111111111111111111111111111111",
                     "x", 1, &r) == FG_OK);
    put_text(&s, "a", "walk me", path);
    CHECK(store_blob_put_file(s.b, path, NULL, hex, NULL, &r) == FG_OK);
    struct seen seen = {0};
    CHECK(store_blob_each(s.b, on_blob, &seen, &r) == FG_OK);
    bool found = false;
    for (int i = 0; i < seen.n && i < 8; i++) {
        found |= strcmp(seen.hex[i], hex) == 0;
        CHECK(strcmp(seen.hex[i], "1111111111111111111111111111111111111111111111111111111111111111") != 0);
    }
    CHECK(found);
    CHECK(store_blob_remove(s.b, hex, &r) == FG_OK);
    bool exists = true;
    CHECK(store_blob_stat(s.b, hex, &exists, NULL, &r) == FG_OK);
    CHECK(!exists);
    CHECK(store_blob_remove(s.b, hex, &r) == FG_OK); /* again: fine */
    s3_client_free(c);
    store_close(&s);
}

/* Writes one tus chunk through the store: begin, seek, write, flush, end. */
static fg_result chunk(store_blob *b, const char *id, int64_t off, const char *text, bool keep,
                       fg_reason *r)
{
    store_blob_part *p = NULL;
    bool busy = false;
    fg_result rc = store_blob_part_begin(b, id, &p, &busy, r);
    if (rc)
        return rc;
    if (!(rc = store_blob_part_seek(p, off, r)) &&
        !(rc = store_blob_part_write(p, text, strlen(text), r)))
        rc = store_blob_part_flush(p, r);
    if (!store_blob_part_end(p, keep && rc == FG_OK) && rc == FG_OK)
        rc = FG_EIO;
    return rc;
}

#define UP1 "0123456789abcdef0123456789abcdef"
#define UP2 "fedcba9876543210fedcba9876543210"

struct ids {
    int n;
    bool found;
};

static bool on_upload(void *ctx, const char *id, int64_t mtime)
{
    struct ids *i = ctx;
    (void)mtime;
    i->n++;
    i->found |= strcmp(id, UP1) == 0;
    return true;
}

TEST("tus chunks are objects; they assemble in order, a refused one is cut, gaps are corrupt")
{
    struct store s;
    char path[4096], body[64];
    fg_reason r = {""};
    store_open(&s);
    CHECK(store_blob_parts_create(s.b, UP1, &r) == FG_OK);
    CHECK(chunk(s.b, UP1, 0, "hello ", true, &r) == FG_OK);
    /* a chunk refused (its offset not recorded) leaves nothing */
    CHECK(chunk(s.b, UP1, 6, "WRONG", false, &r) == FG_OK);
    CHECK(chunk(s.b, UP1, 6, "world", true, &r) == FG_OK);
    /* a chunk past the recorded length (a node died before recording) */
    CHECK(chunk(s.b, UP1, 11, "!!", true, &r) == FG_OK);
    CHECK_INT(scratch_count(&s), 0);

    if (store_blob_parts_assemble(s.b, UP1, 11, NULL, path, sizeof path, &r) != FG_OK)
        TAP_FAIL("assemble: %s", r.text);
    read_all(path, body, sizeof body);
    CHECK_STR(body, "hello world");
    /* it can go straight into the store, which consumes it */
    char hex[STORE_HEX_MAX];
    CHECK(store_blob_put_file(s.b, path, NULL, hex, NULL, &r) == FG_OK);
    CHECK(access(path, F_OK) != 0);
    /* the hash the upload's states give is checked */
    CHECK(store_blob_parts_assemble(s.b, UP1, 11, hex, path, sizeof path, &r) == FG_OK);
    unlink(path);
    char bad[STORE_HEX_MAX];
    memcpy(bad, hex, STORE_HEX_MAX);
    bad[0] = bad[0] == 'a' ? 'b' : 'a';
    CHECK(store_blob_parts_assemble(s.b, UP1, 11, bad, path, sizeof path, &r) ==
          FG_ECORRUPT);
    CHECK_STR(path, "");
    /* more bytes recorded than stored, and a gap */
    CHECK(store_blob_parts_assemble(s.b, UP1, 12, NULL, path, sizeof path, &r) ==
          FG_ECORRUPT);
    CHECK(chunk(s.b, UP1, 20, "later", true, &r) == FG_OK);
    CHECK(store_blob_parts_assemble(s.b, UP1, 25, NULL, path, sizeof path, &r) ==
          FG_ECORRUPT);
    CHECK(strstr(r.text, "missing at offset 13") != NULL);
    CHECK_INT(scratch_count(&s), 0);

    struct ids ids = {0};
    CHECK(store_blob_parts_each(s.b, on_upload, &ids, &r) == FG_OK);
    CHECK(ids.found);
    CHECK(store_blob_parts_remove(s.b, UP1, &r) == FG_OK);
    ids = (struct ids){0};
    CHECK(store_blob_parts_each(s.b, on_upload, &ids, &r) == FG_OK);
    CHECK(!ids.found);
    CHECK(store_blob_parts_assemble(s.b, UP1, 11, NULL, path, sizeof path, &r) ==
          FG_ECORRUPT);
    /* an empty upload assembles to an empty file */
    CHECK(store_blob_parts_assemble(s.b, UP2, 0, NULL, path, sizeof path, &r) == FG_OK);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 0);
    unlink(path);
    store_close(&s);
}

#define UP3 "00000000000000000000000000000003"

/* Two nodes take a PATCH at one offset at once: both put their chunk,
 * the row's guarded update lets one count, and the other ends without
 * keeping. Its cleanup must remove its own object, never the winner's. */
TEST("two attempts at one offset: the loser's cleanup leaves the winner's chunk")
{
    struct store s;
    char path[4096], body[64];
    fg_reason r = {""};
    store_open(&s);
    CHECK(store_blob_parts_create(s.b, UP3, &r) == FG_OK);
    store_blob_part *win = NULL, *lose = NULL;
    bool busy = false;
    CHECK(store_blob_part_begin(s.b, UP3, &win, &busy, &r) == FG_OK);
    CHECK(store_blob_part_begin(s.b, UP3, &lose, &busy, &r) == FG_OK);
    CHECK(store_blob_part_seek(win, 0, &r) == FG_OK && store_blob_part_seek(lose, 0, &r) == FG_OK);
    CHECK(store_blob_part_write(win, "winner", 6, &r) == FG_OK);
    CHECK(store_blob_part_write(lose, "loser!", 6, &r) == FG_OK);
    CHECK(store_blob_part_flush(win, &r) == FG_OK);
    CHECK(store_blob_part_flush(lose, &r) == FG_OK);
    CHECK(store_blob_part_end(win, true));
    CHECK(store_blob_part_end(lose, false));
    if (store_blob_parts_assemble(s.b, UP3, 6, NULL, path, sizeof path, &r) != FG_OK)
        TAP_FAIL("assemble after the race: %s", r.text);
    read_all(path, body, sizeof body);
    CHECK_STR(body, "winner");
    unlink(path);

    /* A node that died after its PUT leaves a chunk beside the one that
     * counted; the one whose end leads on to the next chunk is taken. */
    CHECK(chunk(s.b, UP3, 6, "+dead attempt", true, &r) == FG_OK);
    CHECK(chunk(s.b, UP3, 6, "+ok", true, &r) == FG_OK);
    CHECK(chunk(s.b, UP3, 9, "!", true, &r) == FG_OK);
    if (store_blob_parts_assemble(s.b, UP3, 10, NULL, path, sizeof path, &r) != FG_OK)
        TAP_FAIL("assemble past a dead attempt: %s", r.text);
    read_all(path, body, sizeof body);
    CHECK_STR(body, "winner+ok!");
    unlink(path);
    /* two candidates that both lead on: the choice is not guessed */
    CHECK(chunk(s.b, UP3, 10, "ab", true, &r) == FG_OK);
    CHECK(chunk(s.b, UP3, 10, "cd", true, &r) == FG_OK);
    CHECK(store_blob_parts_assemble(s.b, UP3, 12, NULL, path, sizeof path, &r) == FG_ECORRUPT);
    CHECK(store_blob_parts_remove(s.b, UP3, &r) == FG_OK);
    store_close(&s);
}

int main(void)
{
    return s3_server_main();
}
