/* What the S3 client puts on the wire, read by a recording server in this
 * process: the checks s3rver does not make.
 *
 * s3rver verifies signatures but never compares x-amz-content-sha256
 * with the body (AWS does, and refuses a mismatch), and cannot verify a
 * virtual-host request's signature (it signs /bucket/key where AWS signs
 * the path sent). Here every request libcurl signed is signed again by
 * storage/s3_sign.c, which matches AWS's published examples
 * (test_s3_sign), from the bytes that arrived, and every body is hashed
 * and compared with the hash that was signed. */
#define _GNU_SOURCE
#define TAP_MAIN
#include "tests/unit/tap.h"
#include "tests/unit/store_tmp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "common/hex.h"
#include "storage/blob.h"
#include "storage/s3.h"
#include "storage/s3_sign.h"

#define SECRET "wire-secret/with+chars"
#define MAX_REQS 32
#define MAX_HDRS 32

struct hdr {
    char name[64];
    char value[512];
};

struct req {
    char method[16];
    char target[2048];
    struct hdr h[MAX_HDRS];
    int nh;
    int64_t body_len;
    char body_sha[65];
};

static struct req reqs[MAX_REQS];
static int nreqs;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int listen_fd = -1, port;

static const char *hget(const struct req *q, const char *name)
{
    for (int i = 0; i < q->nh; i++)
        if (strcasecmp(q->h[i].name, name) == 0)
            return q->h[i].value;
    return NULL;
}

/* Reads one byte at a time up to the blank line: small requests only. */
static bool read_head(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (read(fd, buf + n, 1) != 1)
            return false;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) {
            buf[n] = '\0';
            return true;
        }
    }
    return false;
}

static void answer(int fd, const char *status, const char *extra, const char *body)
{
    char out[2048];
    int n = snprintf(out, sizeof out, "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n\r\n%s", status,
                     extra, strlen(body), body);
    if (write(fd, out, (size_t)n) != n)
        return;
}

/* How the recording server misbehaves, for the tests of a hostile or
 * broken S3 (set before the client's first request of a test). */
enum {
    NORMAL,
    HUGE_LIST,      /* a listing longer than the client keeps */
    SAME_TOKEN,     /* truncated pages that never advance */
    COMPLETE_ERROR, /* CompleteMultipartUpload: 200 with an <Error> body */
    NO_ETAG,        /* part PUTs answered without an ETag */
    EVIL_CODE,      /* an error whose <Code> is not a code */
    SHORT_BODY,     /* a GET that stops before its Content-Length */
    ODD_KEYS        /* a listing of keys outside the prefix asked for */
};
static volatile int mode = NORMAL;

static void serve_conn(int fd)
{
    static char head[16384];
    for (;;) {
        struct req q;
        memset(&q, 0, sizeof q);
        if (!read_head(fd, head, sizeof head))
            return;
        char *line = head, *eol = strstr(line, "\r\n");
        *eol = '\0';
        char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp1 || !sp2)
            return;
        snprintf(q.method, sizeof q.method, "%.*s", (int)(sp1 - line), line);
        snprintf(q.target, sizeof q.target, "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
        for (line = eol + 2; (eol = strstr(line, "\r\n")) && eol != line; line = eol + 2) {
            *eol = '\0';
            char *colon = strchr(line, ':');
            if (!colon || q.nh == MAX_HDRS)
                continue;
            char *v = colon + 1;
            while (*v == ' ')
                v++;
            snprintf(q.h[q.nh].name, sizeof q.h[q.nh].name, "%.*s", (int)(colon - line), line);
            snprintf(q.h[q.nh].value, sizeof q.h[q.nh].value, "%s", v);
            q.nh++;
        }
        const char *cl = hget(&q, "content-length");
        int64_t len = cl ? strtoll(cl, NULL, 10) : 0;
        const char *ex = hget(&q, "expect");
        if (ex && strcasecmp(ex, "100-continue") == 0 &&
            write(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 25)
            return;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        char buf[65536];
        for (int64_t got = 0; got < len;) {
            ssize_t k = read(fd, buf, len - got < (int64_t)sizeof buf ? (size_t)(len - got)
                                                                      : sizeof buf);
            if (k <= 0) {
                EVP_MD_CTX_free(md);
                return;
            }
            EVP_DigestUpdate(md, buf, (size_t)k);
            got += k;
        }
        unsigned char dig[32];
        unsigned int dl;
        EVP_DigestFinal_ex(md, dig, &dl);
        EVP_MD_CTX_free(md);
        fg_hex_encode(dig, 32, q.body_sha);
        q.body_len = len;
        pthread_mutex_lock(&lock);
        int idx = nreqs < MAX_REQS ? nreqs++ : -1;
        if (idx >= 0)
            reqs[idx] = q;
        pthread_mutex_unlock(&lock);

        if (mode == HUGE_LIST && strstr(q.target, "list-type=2")) {
            /* 5 MiB of <Contents>: more than the 4 MiB an answer may be */
            const char *item = "<Contents><Key>k</Key><Size>1</Size>"
                               "<LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>";
            size_t il = strlen(item), count = (5u << 20) / il + 1;
            char hdr[128];
            int hn = snprintf(hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                              il * count);
            if (write(fd, hdr, (size_t)hn) != hn)
                return;
            for (size_t i = 0; i < count; i++)
                if (write(fd, item, il) != (ssize_t)il)
                    return;
            continue;
        }
        if (mode == SAME_TOKEN && strstr(q.target, "list-type=2")) {
            answer(fd, "200 OK", "",
                   "<ListBucketResult><IsTruncated>true</IsTruncated>"
                   "<NextContinuationToken>again</NextContinuationToken></ListBucketResult>");
            continue;
        }
        if (mode == COMPLETE_ERROR && strcmp(q.method, "POST") == 0 &&
            strstr(q.target, "?uploadId=")) {
            answer(fd, "200 OK", "", "<Error><Code>InternalError</Code></Error>");
            continue;
        }
        if (mode == NO_ETAG && strcmp(q.method, "PUT") == 0) {
            answer(fd, "200 OK", "", "");
            continue;
        }
        if (mode == EVIL_CODE) {
            answer(fd, "403 Forbidden", "",
                   "<Error><Code>Bad&#10;level=error msg=forged</Code></Error>");
            continue;
        }
        if (mode == SHORT_BODY && strcmp(q.method, "GET") == 0) {
            const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part";
            if (write(fd, cut, strlen(cut)) < 0)
                return;
            return; /* the connection closes 91 bytes short */
        }
        if (mode == ODD_KEYS && strstr(q.target, "list-type=2")) {
            answer(fd, "200 OK", "",
                   "<ListBucketResult><IsTruncated>false</IsTruncated>"
                   "<Contents><Key>u</Key><Size>1</Size>"
                   "<LastModified>2026-01-01T00:00:00Z</LastModified></Contents>"
                   "<Contents><Key>uploads</Key><Size>1</Size>"
                   "<LastModified>2026-01-01T00:00:00Z</LastModified></Contents>"
                   "<Contents><Key>sha256/ab</Key><Size>1</Size>"
                   "<LastModified>2026-01-01T00:00:00Z</LastModified></Contents>"
                   "</ListBucketResult>");
            continue;
        }
        if (strcmp(q.method, "POST") == 0 && strstr(q.target, "?uploads="))
            answer(fd, "200 OK", "",
                   "<InitiateMultipartUploadResult><UploadId>up/1+x</UploadId>"
                   "</InitiateMultipartUploadResult>");
        else if (strcmp(q.method, "PUT") == 0)
            answer(fd, "200 OK", "ETag: \"etag-of-part\"\r\n", "");
        else if (strcmp(q.method, "POST") == 0)
            answer(fd, "200 OK", "", "<CompleteMultipartUploadResult/>");
        else if (strcmp(q.method, "GET") == 0 && strstr(q.target, "list-type=2"))
            answer(fd, "200 OK", "",
                   "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
        else
            answer(fd, "200 OK", "", "");
    }
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        serve_conn(fd);
        close(fd);
    }
}

static void server_start(void)
{
    if (listen_fd >= 0)
        return;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(listen_fd >= 0);
    CHECK(bind(listen_fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(listen_fd, 8) == 0);
    CHECK(getsockname(listen_fd, (struct sockaddr *)&a, &len) == 0);
    port = ntohs(a.sin_port);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, serve, NULL) == 0);
    pthread_detach(t);
}

/* Signs q again from what arrived and compares with its Authorization. */
static void check_signature(const struct req *q)
{
    const char *auth = hget(q, "authorization");
    CHECK(auth != NULL);
    const char *cred = strstr(auth, "Credential="), *sh = strstr(auth, "SignedHeaders="),
               *sig = strstr(auth, "Signature=");
    CHECK(cred && sh && sig);
    char scope[256], signed_list[512];
    snprintf(scope, sizeof scope, "%.*s", (int)strcspn(cred + 11, ","), cred + 11);
    snprintf(signed_list, sizeof signed_list, "%.*s", (int)strcspn(sh + 14, ","), sh + 14);
    /* AK/date/region/s3/aws4_request */
    CHECK(strncmp(scope, "AKWIRE/", 7) == 0);
    CHECK(strstr(scope, "/eu-west-3/s3/aws4_request") != NULL);
    /* what must be signed is */
    CHECK(strstr(signed_list, "host") && strstr(signed_list, "x-amz-content-sha256") &&
          strstr(signed_list, "x-amz-date"));

    s3_header hs[MAX_HDRS];
    size_t nh = 0;
    char names[MAX_HDRS][64];
    for (char *p = signed_list; *p && nh < MAX_HDRS;) {
        size_t n = strcspn(p, ";");
        snprintf(names[nh], sizeof names[nh], "%.*s", (int)n, p);
        const char *v = hget(q, names[nh]);
        if (!v)
            TAP_FAIL("signed header %s was not sent", names[nh]);
        hs[nh] = (s3_header){names[nh], v};
        nh++;
        p += n + (p[n] == ';');
    }
    char path[2048], query[2048] = "";
    const char *qm = strchr(q->target, '?');
    snprintf(path, sizeof path, "%.*s", (int)(qm ? qm - q->target : (long)strlen(q->target)),
             q->target);
    if (qm)
        snprintf(query, sizeof query, "%s", qm + 1);
    s3_sign_input in = {.method = q->method, .path = path, .query = query, .headers = hs,
                        .nheaders = nh, .payload = hget(q, "x-amz-content-sha256"),
                        .amz_date = hget(q, "x-amz-date"), .region = "eu-west-3",
                        .service = "s3", .secret = SECRET};
    char want[65];
    CHECK(in.payload && in.amz_date);
    CHECK(s3_sign(&in, want, NULL) == FG_OK);
    if (strcmp(sig + 10, want) != 0)
        TAP_FAIL("%s %s: libcurl signed %s, AWS's rules give %s", q->method, q->target,
                 sig + 10, want);
    /* and the signed payload hash is the body's */
    CHECK_STR(hget(q, "x-amz-content-sha256"), q->body_sha);
}

static s3_client *wire_client(s3_addressing a, int64_t part)
{
    char ep[64];
    server_start();
    /* *.localhost resolves to loopback in libcurl: the virtual host
     * bucket.s3.localhost reaches this server. */
    snprintf(ep, sizeof ep, "http://s3.localhost:%d", port);
    s3_config cfg = {.endpoint = ep, .bucket = "wire-bucket", .region = "eu-west-3",
                     .access_key_id = "AKWIRE", .secret_access_key = SECRET,
                     .addressing = a, .part_size = part};
    s3_client *c = NULL;
    fg_reason r = {""};
    if (s3_client_new(&cfg, &c, &r) != FG_OK)
        TAP_FAIL("client: %s", r.text);
    pthread_mutex_lock(&lock);
    nreqs = 0;
    pthread_mutex_unlock(&lock);
    return c;
}

static void write_file(const char *path, int64_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char buf[65536];
    CHECK(fd >= 0);
    for (int64_t done = 0; done < size;) {
        size_t n = size - done < (int64_t)sizeof buf ? (size_t)(size - done) : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)((done + (int64_t)i) * 7 % 251);
        CHECK(write(fd, buf, n) == (ssize_t)n);
        done += (int64_t)n;
    }
    close(fd);
}

static bool no_key(void *ctx, const char *key, int64_t size, int64_t mtime)
{
    (void)ctx, (void)key, (void)size, (void)mtime;
    return true;
}

static void every_operation(s3_addressing a, const char *host_prefix, const char *path_prefix)
{
    s3_client *c = wire_client(a, S3_PART_SIZE_MIN);
    fg_reason r = {""};
    char dir[256], src[300], big[300];
    bool exists;
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(src, sizeof src, "%s/small", dir);
    snprintf(big, sizeof big, "%s/big", dir);
    write_file(src, 1000);
    write_file(big, 2 * S3_PART_SIZE_MIN + 3);

    CHECK(s3_head_bucket(c, &r) == FG_OK);
    CHECK(s3_head(c, "sha256/ab:c@d+e", &exists, NULL, &r) == FG_OK);
    CHECK(s3_put_file(c, "sha256/small", src, NULL, &r) == FG_OK);
    CHECK(s3_put_mem(c, "uploads/x/00000000000000000000", "chunk", 5, &r) == FG_OK);
    CHECK(s3_delete(c, "sha256/small", &r) == FG_OK);
    CHECK(s3_list(c, "uploads/a b/", no_key, NULL, &r) == FG_OK);
    if (s3_put_file(c, "sha256/big", big, NULL, &r) != FG_OK)
        TAP_FAIL("multipart: %s", r.text);

    pthread_mutex_lock(&lock);
    int n = nreqs;
    pthread_mutex_unlock(&lock);
    /* head bucket, head, put, put, delete, list, then initiate, 3 parts,
     * complete */
    CHECK_INT(n, 11);
    char host[128];
    snprintf(host, sizeof host, "%ss3.localhost:%d", host_prefix, port);
    for (int i = 0; i < n; i++) {
        CHECK_STR(hget(&reqs[i], "host"), host);
        CHECK(strncmp(reqs[i].target, path_prefix, strlen(path_prefix)) == 0);
        check_signature(&reqs[i]);
        /* the secret never travels */
        for (int h = 0; h < reqs[i].nh; h++)
            CHECK(strstr(reqs[i].h[h].value, SECRET) == NULL);
    }
    /* the key is encoded once, '/' kept */
    CHECK(strstr(reqs[1].target, "sha256/ab%3Ac%40d%2Be") != NULL);
    /* the parts: 5 MiB, 5 MiB, 3 bytes, in order, each with its own hash */
    CHECK(strstr(reqs[7].target, "?partNumber=1&uploadId=up%2F1%2Bx") != NULL);
    CHECK_INT(reqs[7].body_len, S3_PART_SIZE_MIN);
    CHECK_INT(reqs[8].body_len, S3_PART_SIZE_MIN);
    CHECK(strstr(reqs[9].target, "?partNumber=3&") != NULL);
    CHECK_INT(reqs[9].body_len, 3);
    CHECK(strcmp(reqs[7].body_sha, reqs[8].body_sha) != 0);
    CHECK(strstr(reqs[10].target, "?uploadId=up%2F1%2Bx") != NULL);
    CHECK_STR(reqs[10].method, "POST");
    tmp_dir_remove(dir);
    s3_client_free(c);
}

TEST("path-style requests are signed as AWS signs them and their bodies match the signed hash")
{
    every_operation(S3_ADDRESSING_PATH, "", "/wire-bucket");
}

TEST("virtual-host requests are signed as AWS signs them (host bucket.endpoint, path /key)")
{
    every_operation(S3_ADDRESSING_VIRTUAL, "wire-bucket.", "/");
}

TEST("a given sha-256 is the one signed, so S3 can refuse bytes that do not match it")
{
    s3_client *c = wire_client(S3_ADDRESSING_PATH, 0);
    fg_reason r = {""};
    char dir[256], src[300];
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(src, sizeof src, "%s/f", dir);
    write_file(src, 100);
    const char *claimed = "1111111111111111111111111111111111111111111111111111111111111111";
    CHECK(s3_put_file(c, "k", src, claimed, &r) == FG_OK); /* this server checks nothing */
    CHECK_INT(nreqs, 1);
    CHECK_STR(hget(&reqs[0], "x-amz-content-sha256"), claimed);
    CHECK(strcmp(reqs[0].body_sha, claimed) != 0);
    /* a malformed hash never goes out */
    CHECK(s3_put_file(c, "k", src, "not-a-hash", &r) == FG_EUSAGE);
    CHECK_INT(nreqs, 1);
    tmp_dir_remove(dir);
    s3_client_free(c);
}

/* ---- a hostile or broken server ---- */

static int count_method(const char *method, const char *in_target)
{
    int n = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nreqs; i++)
        n += strcmp(reqs[i].method, method) == 0 && strstr(reqs[i].target, in_target);
    pthread_mutex_unlock(&lock);
    return n;
}

TEST("a listing answer over 4 MiB is refused, not kept")
{
    s3_client *c = wire_client(S3_ADDRESSING_PATH, 0);
    fg_reason r = {""};
    mode = HUGE_LIST;
    CHECK(s3_list(c, "", no_key, NULL, &r) == FG_EIO);
    mode = NORMAL;
    CHECK(strstr(r.text, "answer longer than 4194304 bytes") != NULL);
    s3_client_free(c);
}

TEST("truncated listing pages that never advance are an error, not an endless loop")
{
    s3_client *c = wire_client(S3_ADDRESSING_PATH, 0);
    fg_reason r = {""};
    mode = SAME_TOKEN;
    CHECK(s3_list(c, "p/", no_key, NULL, &r) == FG_EIO);
    mode = NORMAL;
    CHECK(strstr(r.text, "continuation token") != NULL);
    CHECK_INT(nreqs, 2);
    s3_client_free(c);
}

static void multipart_fails_and_aborts(int how, const char *want)
{
    s3_client *c = wire_client(S3_ADDRESSING_PATH, S3_PART_SIZE_MIN);
    fg_reason r = {""};
    char dir[256], big[300];
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(big, sizeof big, "%s/big", dir);
    write_file(big, S3_PART_SIZE_MIN + 10);
    mode = how;
    fg_result rc = s3_put_file(c, "sha256/big", big, NULL, &r);
    mode = NORMAL;
    CHECK_INT(rc, FG_EIO);
    if (!strstr(r.text, want))
        TAP_FAIL("reason \"%s\" lacks \"%s\"", r.text, want);
    /* the upload was aborted, once */
    CHECK_INT(count_method("DELETE", "/wire-bucket/sha256/big?uploadId=up%2F1%2Bx"), 1);
    tmp_dir_remove(dir);
    s3_client_free(c);
}

TEST("a multipart completion answered 200 with an <Error> fails and is aborted")
{
    multipart_fails_and_aborts(COMPLETE_ERROR, "200 InternalError");
}

TEST("a part answered without an ETag fails the upload, which is aborted")
{
    multipart_fails_and_aborts(NO_ETAG, "without an ETag");
}

TEST("an error <Code> that is not letters and digits never reaches the reason")
{
    s3_client *c = wire_client(S3_ADDRESSING_PATH, 0);
    fg_reason r = {""};
    bool exists;
    mode = EVIL_CODE;
    CHECK(s3_head(c, "k", &exists, NULL, &r) == FG_EAUTH);
    CHECK(s3_delete(c, "k", &r) == FG_EAUTH);
    mode = NORMAL;
    CHECK(strstr(r.text, "403 Forbidden") != NULL);
    CHECK(strstr(r.text, "forged") == NULL && strchr(r.text, '\n') == NULL);
    s3_client_free(c);
}

TEST("a download cut short fails and leaves no local file")
{
    s3_client *c = wire_client(S3_ADDRESSING_PATH, 0);
    fg_reason r = {""};
    char dir[256], path[300];
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(path, sizeof path, "%s/got", dir);
    mode = SHORT_BODY;
    CHECK(s3_get_file(c, "k", path, &r) == FG_EIO);
    mode = NORMAL;
    CHECK(access(path, F_OK) != 0);
    tmp_dir_remove(dir);
    s3_client_free(c);
}

static bool count_upload(void *ctx, const char *id, int64_t mtime)
{
    (void)id, (void)mtime;
    (*(int *)ctx)++;
    return true;
}

static bool count_blob(void *ctx, const char *hex, int64_t size, int64_t mtime)
{
    (void)hex, (void)size, (void)mtime;
    (*(int *)ctx)++;
    return true;
}

TEST("the S3 blob store skips listed keys outside its prefixes (short ones included)")
{
    char dir[256], ep[64], path[4096];
    fg_reason r = {""};
    store_blob *b = NULL;
    server_start();
    CHECK(tmp_dir_make(dir) == 0);
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
    store_blob_settings set = {.data_dir = dir, .s3_endpoint = ep, .s3_bucket = "wire-bucket",
                               .s3_access_key_id = "AKWIRE", .s3_secret_access_key = SECRET};
    if (store_blob_open(&set, &b, &r) != FG_OK)
        TAP_FAIL("open: %s", r.text);
    mode = ODD_KEYS;
    int uploads = 0, blobs = 0;
    CHECK(store_blob_parts_each(b, count_upload, &uploads, &r) == FG_OK);
    CHECK(store_blob_each(b, count_blob, &blobs, &r) == FG_OK);
    CHECK(store_blob_parts_assemble(b, "0123456789abcdef0123456789abcdef", 1, NULL, path,
                                    sizeof path, &r) == FG_ECORRUPT);
    mode = NORMAL;
    CHECK_INT(uploads, 0);
    CHECK_INT(blobs, 0);
    store_blob_free(b);
    tmp_dir_remove(dir);
}
