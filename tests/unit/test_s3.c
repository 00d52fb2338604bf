/* The S3 client (storage/s3*.c) against a real S3-compatible server:
 * s3rver, started by scripts/s3-server.sh on a free loopback port, which
 * checks every request's SigV4 signature and presigned URLs' expiry.
 *
 * Without node the suite is one TAP skip, except on CI (CI set), where a
 * missing server is a failure: the checks must not vanish quietly. */
#define _GNU_SOURCE
#define TAP_MAIN
#define main tap_default_main /* this file has its own main, below */
#include "tests/unit/tap.h"
#undef main
#include "tests/unit/store_tmp.h"
#include "tests/unit/s3_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/evp.h>

#include "common/hex.h"
#include "storage/s3.h"
#include "storage/s3_sign.h"


static s3_client *client_with(const char *ep, const char *akid, const char *secret,
                              s3_addressing a, int64_t part_size)
{
    s3_config cfg = {.endpoint = ep, .bucket = "filigrane", .region = "us-east-1",
                     .access_key_id = akid, .secret_access_key = secret,
                     .addressing = a, .part_size = part_size};
    s3_client *c = NULL;
    fg_reason r = {""};
    if (s3_client_new(&cfg, &c, &r) != FG_OK)
        TAP_FAIL("client: %s", r.text);
    return c;
}

static s3_client *client(void)
{
    return client_with(endpoint, "S3RVER", "S3RVER", S3_ADDRESSING_PATH, 0);
}

/* Writes size pseudo-random bytes (seeded) to path in 1 MiB steps; hex
 * gets their SHA-256. */
static void make_file(const char *path, int64_t size, unsigned seed, char hex[65])
{
    enum { STEP = 1 << 20 };
    unsigned char *buf = malloc(STEP), dig[32];
    unsigned int dl;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && buf);
    uint32_t x = seed * 2654435761u + 1;
    for (int64_t done = 0; done < size;) {
        size_t n = size - done < STEP ? (size_t)(size - done) : STEP;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            buf[i] = (unsigned char)x;
        }
        CHECK(write(fd, buf, n) == (ssize_t)n);
        EVP_DigestUpdate(md, buf, n);
        done += (int64_t)n;
    }
    close(fd);
    EVP_DigestFinal_ex(md, dig, &dl);
    EVP_MD_CTX_free(md);
    fg_hex_encode(dig, 32, hex);
    free(buf);
}

static void file_sha(const char *path, char hex[65])
{
    unsigned char buf[65536], dig[32];
    unsigned int dl;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        EVP_DigestUpdate(md, buf, (size_t)n);
    close(fd);
    EVP_DigestFinal_ex(md, dig, &dl);
    EVP_MD_CTX_free(md);
    fg_hex_encode(dig, 32, hex);
}

TEST("put, head, get and delete a small object, byte for byte")
{
    s3_client *c = client();
    char dir[256], src[300], dst[300], sha[65], got[65];
    fg_reason r = {""};
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(dst, sizeof dst, "%s/dst", dir);
    make_file(src, 100000, 1, sha);

    char key[80];
    snprintf(key, sizeof key, "sha256/%s", sha);
    bool exists = true;
    int64_t size = -1;
    CHECK(s3_head(c, key, &exists, &size, &r) == FG_OK);
    CHECK(!exists);
    if (s3_put_file(c, key, src, sha, &r) != FG_OK)
        TAP_FAIL("put: %s", r.text);
    CHECK(access(src, F_OK) == 0); /* the client never removes its source */
    CHECK(s3_head(c, key, &exists, &size, &r) == FG_OK);
    CHECK(exists);
    CHECK_INT(size, 100000);
    if (s3_get_file(c, key, dst, &r) != FG_OK)
        TAP_FAIL("get: %s", r.text);
    file_sha(dst, got);
    CHECK_STR(got, sha);
    struct stat st;
    CHECK(stat(dst, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* the local copy is never overwritten */
    CHECK(s3_get_file(c, key, dst, &r) == FG_EIO);
    CHECK(s3_delete(c, key, &r) == FG_OK);
    CHECK(s3_head(c, key, &exists, &size, &r) == FG_OK);
    CHECK(!exists);
    CHECK(s3_delete(c, key, &r) == FG_OK); /* already gone: still fine */
    tmp_dir_remove(dir);
    s3_client_free(c);
}

TEST("a missing object is FG_ENOTFOUND with S3's NoSuchKey, and no local file is left")
{
    s3_client *c = client();
    char dir[256], dst[300];
    fg_reason r = {""};
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(dst, sizeof dst, "%s/dst", dir);
    CHECK(s3_get_file(c, "sha256/missing", dst, &r) == FG_ENOTFOUND);
    CHECK(strstr(r.text, "404 NoSuchKey") != NULL);
    CHECK(access(dst, F_OK) != 0);
    tmp_dir_remove(dir);
    s3_client_free(c);
}

TEST("put_mem and get_fd append to a descriptor, empty objects included")
{
    s3_client *c = client();
    fg_reason r = {""};
    CHECK(s3_put_mem(c, "uploads/u-1/00000000000000000000", "hello ", 6, &r) == FG_OK);
    CHECK(s3_put_mem(c, "uploads/u-1/00000000000000000006", "world", 5, &r) == FG_OK);
    CHECK(s3_put_mem(c, "uploads/u-1/00000000000000000011", "", 0, &r) == FG_OK);
    char dir[256], path[300], buf[32] = "";
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(path, sizeof path, "%s/joined", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    int64_t n = -1;
    CHECK(s3_get_fd(c, "uploads/u-1/00000000000000000000", fd, &n, &r) == FG_OK);
    CHECK_INT(n, 6);
    CHECK(s3_get_fd(c, "uploads/u-1/00000000000000000006", fd, &n, &r) == FG_OK);
    CHECK(s3_get_fd(c, "uploads/u-1/00000000000000000011", fd, &n, &r) == FG_OK);
    CHECK_INT(n, 0);
    CHECK(pread(fd, buf, sizeof buf - 1, 0) == 11);
    CHECK_STR(buf, "hello world");
    close(fd);
    tmp_dir_remove(dir);
    s3_client_free(c);
}

struct listed {
    int n;
    int64_t total;
    char first[S3_KEY_MAX + 1], last[S3_KEY_MAX + 1];
    int stop_after;
};

static bool on_key(void *ctx, const char *key, int64_t size, int64_t mtime)
{
    struct listed *l = ctx;
    if (l->n == 0)
        snprintf(l->first, sizeof l->first, "%s", key);
    snprintf(l->last, sizeof l->last, "%s", key);
    l->n++;
    l->total += size;
    /* mtime is now, give or take the test's run time */
    if (mtime < time(NULL) - 3600 || mtime > time(NULL) + 3600)
        l->total = -1000000;
    return l->stop_after == 0 || l->n < l->stop_after;
}

TEST("list follows continuation tokens past one page of 1000 keys, within the prefix only")
{
    s3_client *c = client();
    fg_reason r = {""};
    char key[80];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 1003; i++) {
        snprintf(key, sizeof key, "list/p/%04d", i);
        if (s3_put_mem(c, key, "ab", 2, &r) != FG_OK)
            TAP_FAIL("put %s: %s", key, r.text);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("# 1003 small PUTs on one kept connection: %.2f ms per PUT\n",
           ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / 1003);
    CHECK(s3_put_mem(c, "list/q/0", "x", 1, &r) == FG_OK);
    CHECK(s3_put_mem(c, "list/pp", "x", 1, &r) == FG_OK);
    struct listed l = {0};
    if (s3_list(c, "list/p/", on_key, &l, &r) != FG_OK)
        TAP_FAIL("list: %s", r.text);
    CHECK_INT(l.n, 1003);
    CHECK_INT(l.total, 2006);
    CHECK_STR(l.first, "list/p/0000");
    CHECK_STR(l.last, "list/p/1002");
    /* the callback can stop the walk */
    struct listed s = {.stop_after = 5};
    CHECK(s3_list(c, "list/p/", on_key, &s, &r) == FG_OK);
    CHECK_INT(s.n, 5);
    /* a prefix with characters that must be encoded in the query (an
     * '&' is left out: s3rver escapes it twice in listings) */
    CHECK(s3_put_mem(c, "list/a b+c=d:e@f~", "x", 1, &r) == FG_OK);
    struct listed e = {0};
    if (s3_list(c, "list/a b+c=", on_key, &e, &r) != FG_OK)
        TAP_FAIL("list: %s", r.text);
    CHECK_INT(e.n, 1);
    CHECK_STR(e.first, "list/a b+c=d:e@f~");
    s3_client_free(c);
}

/* A field of /proc/self/status, in KiB ("VmRSS", "VmHWM"). */
static long status_kib(const char *field)
{
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Resets the peak (VmHWM) to the current RSS (Linux 4.0+), then returns
 * the current RSS: what an operation's peak is measured from. */
static long rss_mark(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    CHECK(f != NULL);
    fputs("5", f);
    fclose(f);
    return status_kib("VmRSS");
}

/* How far the peak rose above the mark. */
static long rss_grew(long mark)
{
    return status_kib("VmHWM") - mark;
}

TEST("a 20 MB file goes up in 5 MiB parts with flat memory and comes back byte for byte")
{
    s3_client *c = client_with(endpoint, "S3RVER", "S3RVER", S3_ADDRESSING_PATH,
                               S3_PART_SIZE_MIN);
    char dir[256], src[300], dst[300], sha[65], got[65], key[80];
    fg_reason r = {""};
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(dst, sizeof dst, "%s/dst", dir);
    make_file(src, 20 * 1000 * 1000, 2, sha);
    snprintf(key, sizeof key, "sha256/%s", sha);
    long mark = rss_mark();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (s3_put_file(c, key, src, sha, &r) != FG_OK)
        TAP_FAIL("multipart put: %s", r.text);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long grew = rss_grew(mark);
    printf("# multipart put of 20 MB in 5 MiB parts: %.0f ms, peak RSS grew by %ld KiB\n",
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, grew);
    /* a client that held a part in memory would grow by 5 MiB (5120 KiB)
     * or more; the margin below is for the sanitizer build, whose
     * quarantine keeps freed buffers (1.8 MiB measured there, 0 without) */
    CHECK(grew < 4096);
    bool exists = false;
    int64_t size = 0;
    CHECK(s3_head(c, key, &exists, &size, &r) == FG_OK);
    CHECK(exists);
    CHECK_INT(size, 20 * 1000 * 1000);
    mark = rss_mark();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(s3_get_file(c, key, dst, &r) == FG_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    grew = rss_grew(mark);
    printf("# get of 20 MB: %.0f ms, peak RSS grew by %ld KiB\n",
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, grew);
    CHECK(grew < 4096);
    file_sha(dst, got);
    CHECK_STR(got, sha);
    /* it went up in parts: the server's log shows part 4 and no part 5 */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "grep -q '%.20s[^ ]*?partNumber=4&uploadId=[^ ]* 200' %s/s3rver.log",
             sha, server_dir);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "grep -q '%.20s[^ ]*?partNumber=5&' %s/s3rver.log", sha,
             server_dir);
    CHECK(system(cmd) != 0);
    tmp_dir_remove(dir);
    s3_client_free(c);
}

struct shrink {
    char path[300];
    char uploads[300];
};

/* Truncates the source once the server holds a first part. */
static void *shrink_when_started(void *arg)
{
    struct shrink *s = arg;
    for (int i = 0; i < 5000; i++) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "test -n \"$(find %s -name 1 2>/dev/null)\"", s->uploads);
        if (system(cmd) == 0)
            break;
        usleep(1000);
    }
    if (truncate(s->path, S3_PART_SIZE_MIN + 1) != 0)
        return (void *)1;
    return NULL;
}

TEST("a multipart upload whose file shrinks midway fails and is aborted")
{
    s3_client *c = client_with(endpoint, "S3RVER", "S3RVER", S3_ADDRESSING_PATH,
                               S3_PART_SIZE_MIN);
    char dir[256], sha[65];
    struct shrink s;
    fg_reason r = {""};
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(s.path, sizeof s.path, "%s/src", dir);
    snprintf(s.uploads, sizeof s.uploads, "%s/data", server_dir);
    make_file(s.path, 12 * S3_PART_SIZE_MIN, 3, sha);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, shrink_when_started, &s) == 0);
    fg_result res = s3_put_file(c, "shrinking", s.path, NULL, &r);
    void *tr;
    pthread_join(t, &tr);
    CHECK(tr == NULL);
    CHECK_INT(res, FG_EIO);
    CHECK(strstr(r.text, "shrank") || strstr(r.text, "file changed size"));
    bool exists = true;
    CHECK(s3_head(c, "shrinking", &exists, NULL, &r) == FG_OK);
    CHECK(!exists);
    /* the abort was sent: s3rver has no AbortMultipartUpload and answers
     * it 405 MethodNotAllowed, so the request in its log is what is
     * checked here (the only 405 on that key) */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "grep -q 'shrinking?uploadId=[^ ]* 405' %s/s3rver.log",
             server_dir);
    CHECK(system(cmd) == 0);
    tmp_dir_remove(dir);
    s3_client_free(c);
}

struct worker {
    s3_client *c;
    int n;
    int ok;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    fg_reason r = {""};
    char key[64], body[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "threads/%d/%d", w->n, i);
        snprintf(body, sizeof body, "thread %d item %d", w->n, i);
        bool exists = false;
        int64_t size = -1;
        if (s3_put_mem(w->c, key, body, strlen(body), &r) == FG_OK &&
            s3_head(w->c, key, &exists, &size, &r) == FG_OK && exists &&
            size == (int64_t)strlen(body))
            w->ok++;
    }
    return NULL;
}

TEST("one client serves eight threads at once, its idle connections shared under a lock")
{
    s3_client *c = client();
    struct worker w[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){c, i, 0};
        CHECK(pthread_create(&t[i], NULL, hammer, &w[i]) == 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++)
        CHECK_INT(w[i].ok, 20);
    struct listed l = {0};
    fg_reason r = {""};
    CHECK(s3_list(c, "threads/", on_key, &l, &r) == FG_OK);
    CHECK_INT(l.n, 160);
    s3_client_free(c);
}

TEST("a wrong secret is refused with SignatureDoesNotMatch, a wrong key id with InvalidAccessKeyId")
{
    fg_reason r = {""};
    s3_client *c = client_with(endpoint, "S3RVER", "not-the-secret", S3_ADDRESSING_PATH, 0);
    bool exists;
    CHECK(s3_head_bucket(c, &r) == FG_EAUTH);
    CHECK(strstr(r.text, "SignatureDoesNotMatch") != NULL);
    CHECK(strstr(r.text, "not-the-secret") == NULL);
    CHECK(s3_put_mem(c, "nope", "x", 1, &r) == FG_EAUTH);
    CHECK(strstr(r.text, "403 SignatureDoesNotMatch") != NULL);
    CHECK(s3_head(c, "nope", &exists, NULL, &r) == FG_EAUTH);
    s3_client_free(c);
    c = client_with(endpoint, "NOBODY", "S3RVER", S3_ADDRESSING_PATH, 0);
    CHECK(s3_head_bucket(c, &r) == FG_EAUTH);
    CHECK(strstr(r.text, "InvalidAccessKeyId") != NULL);
    s3_client_free(c);
    c = client();
    CHECK(s3_head(c, "nope", &exists, NULL, &r) == FG_OK);
    CHECK(!exists);
    s3_client_free(c);
}

TEST("head bucket: ok for ours, NoSuchBucket for another, unreachable named")
{
    fg_reason r = {""};
    s3_client *c = client();
    if (s3_head_bucket(c, &r) != FG_OK)
        TAP_FAIL("head bucket: %s", r.text);
    s3_client_free(c);
    s3_config cfg = {.endpoint = endpoint, .bucket = "no-such-bucket",
                     .access_key_id = "S3RVER", .secret_access_key = "S3RVER"};
    CHECK(s3_client_new(&cfg, &c, &r) == FG_OK);
    CHECK(s3_head_bucket(c, &r) == FG_ENOTFOUND);
    CHECK(strstr(r.text, "NoSuchBucket") != NULL);
    s3_client_free(c);
    /* a port nobody listens on (ours, plus one, is not guaranteed free:
     * port 9 on loopback, discard, is never served here) */
    c = client_with("http://127.0.0.1:9", "S3RVER", "S3RVER", S3_ADDRESSING_PATH, 0);
    CHECK(s3_head_bucket(c, &r) == FG_EIO);
    CHECK(strstr(r.text, "cannot reach http://127.0.0.1:9") != NULL);
    s3_client_free(c);
}

/* Fetches url with libcurl, no credentials: the status, or -1. */
static long fetch(const char *url, char *body, size_t cap)
{
    char cmd[S3_URL_MAX + 200];
    snprintf(cmd, sizeof cmd, "curl -s -o %s -w '%%{http_code}' '%s'", body ? "-" : "/dev/null",
             url);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char out[8192] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    pclose(p);
    if (n < 3)
        return -1;
    long status = strtol(out + n - 3, NULL, 10);
    if (body) {
        out[n - 3] = '\0';
        snprintf(body, cap, "%s", out);
    }
    return status;
}

TEST("a presigned GET is served; tampered, expired or foreign-signed ones are refused")
{
    s3_client *c = client();
    fg_reason r = {""};
    char url[S3_URL_MAX], body[8192];
    CHECK(s3_put_mem(c, "presign/a", "original bytes", 14, &r) == FG_OK);
    CHECK(s3_put_mem(c, "presign/b", "other bytes", 11, &r) == FG_OK);
    CHECK(s3_presign_get(c, "presign/a", 300, time(NULL), NULL, 0, url, sizeof url, &r) ==
          FG_OK);
    CHECK_INT(fetch(url, body, sizeof body), 200);
    CHECK_STR(body, "original bytes");

    /* another key under the same signature */
    char *k = strstr(url, "presign/a");
    k[8] = 'b';
    CHECK_INT(fetch(url, body, sizeof body), 403);
    CHECK(strstr(body, "SignatureDoesNotMatch") != NULL);
    k[8] = 'a';
    /* a longer life under the same signature */
    char *e = strstr(url, "X-Amz-Expires=300");
    e[14] = '9';
    CHECK_INT(fetch(url, body, sizeof body), 403);
    e[14] = '3';
    /* one flipped digit of the signature */
    char *s = strstr(url, "X-Amz-Signature=") + 16;
    s[0] = s[0] == '0' ? '1' : '0';
    CHECK_INT(fetch(url, body, sizeof body), 403);

    /* expired: signed 400 s ago for 300 s */
    CHECK(s3_presign_get(c, "presign/a", 300, time(NULL) - 400, NULL, 0, url, sizeof url,
                         &r) == FG_OK);
    CHECK_INT(fetch(url, body, sizeof body), 403);
    CHECK(strstr(body, "expired") != NULL);

    /* signed with a secret that is not the server's */
    s3_client *w = client_with(endpoint, "S3RVER", "guess", S3_ADDRESSING_PATH, 0);
    CHECK(s3_presign_get(w, "presign/a", 300, time(NULL), NULL, 0, url, sizeof url, &r) ==
          FG_OK);
    CHECK_INT(fetch(url, body, sizeof body), 403);
    s3_client_free(w);
    s3_client_free(c);
}

TEST("a presigned GET carries a signed response-content-disposition")
{
    s3_client *c = client();
    fg_reason r = {""};
    char url[S3_URL_MAX], cmd[S3_URL_MAX + 300];
    CHECK(s3_put_mem(c, "presign/d", "doc", 3, &r) == FG_OK);
    /* s3rver re-encodes query values with JavaScript's encodeURIComponent,
     * which keeps ' ( ) * ! that AWS encodes: a value with those would not
     * verify on s3rver though it does on AWS. This one has none. */
    s3_param p = {"response-content-disposition", "attachment; filename=\"report v2.pdf\""};
    CHECK(s3_presign_get(c, "presign/d", 300, time(NULL), &p, 1, url, sizeof url, &r) ==
          FG_OK);
    snprintf(cmd, sizeof cmd, "curl -s -D - -o /dev/null '%s' | tr -d '\\r' | "
                              "grep -qi '^content-disposition: attachment; filename=\"report v2.pdf\"$'",
             url);
    CHECK(system(cmd) == 0);
    /* the disposition is signed: changing it breaks the URL */
    char *d = strstr(url, "report%20v2");
    CHECK(d != NULL);
    d[7] = '3';
    CHECK_INT(fetch(url, NULL, 0), 403);
    s3_client_free(c);
}

TEST("virtual-host addressing reaches the bucket by name (bucket.s3.localhost)")
{
    char vep[80];
    fg_reason r = {""};
    snprintf(vep, sizeof vep, "http://s3.localhost:%d", server_port);
    s3_client *v = client_with(vep, "S3RVER", "S3RVER", S3_ADDRESSING_VIRTUAL, 0);
    char url[S3_URL_MAX];
    /* s3rver computes a virtual-host request's canonical URI as
     * /bucket/key where AWS uses /key (the path sent): it cannot verify a
     * correct virtual-host signature, so the signed requests are checked
     * here against filigrane's own signer (held to AWS's examples in
     * test_s3_sign), and the routing against s3rver by the presigned GET
     * of an object put path-style, read through the bucket's host name. */
    s3_client *p = client();
    CHECK(s3_put_mem(p, "vhost/x", "by name", 7, &r) == FG_OK);
    CHECK(s3_presign_get(v, "vhost/x", 300, time(NULL), NULL, 0, url, sizeof url, &r) ==
          FG_OK);
    char want[120];
    snprintf(want, sizeof want, "http://filigrane.s3.localhost:%d/vhost/x?", server_port);
    CHECK(strncmp(url, want, strlen(want)) == 0);
    char body[8192];
    long st = fetch(url, body, sizeof body);
    /* s3rver's vhost presign check has the same canonical URI flaw; the
     * object is reached by name either way: 200 or SignatureDoesNotMatch,
     * never NoSuchBucket / NoSuchKey */
    CHECK(st == 200 || (st == 403 && strstr(body, "SignatureDoesNotMatch")));
    if (st == 200)
        CHECK_STR(body, "by name");
    s3_client_free(v);
    s3_client_free(p);
}

int main(void)
{
    return s3_server_main();
}
