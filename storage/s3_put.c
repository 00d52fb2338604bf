/* Uploads: one PUT below the part size, a multipart upload at or above
 * it, streamed from the file so memory does not grow with its size. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/hex.h"
#include "storage/s3.h"
#include "storage/s3_impl.h"
#include "storage/s3_sign.h"
#include "storage/s3_xml.h"

/* Read buffer for hashing a part: big enough for the kernel's readahead
 * to work, small enough to stay off any memory graph. */
#define HASH_BUF (256 * 1024)

static bool hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* SHA-256 of len bytes of fd from off, as hex. */
static fg_result hash_range(int fd, int64_t off, int64_t len, char out[65],
                            const char *key, fg_reason *r)
{
    fg_result res = FG_OK;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *buf = malloc(HASH_BUF), dig[32];
    unsigned int dl = 0;
    if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        res = fg_fail(r, FG_EIO, "s3 PUT %.80s: cannot start sha-256", key);
        goto out;
    }
    while (len > 0) {
        size_t want = len < HASH_BUF ? (size_t)len : HASH_BUF;
        ssize_t n = pread(fd, buf, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            res = fg_fail(r, FG_EIO, "s3 PUT %.80s: cannot read the file: %s", key,
                          n < 0 ? strerrordesc_np(errno) : "it shrank");
            goto out;
        }
        EVP_DigestUpdate(md, buf, (size_t)n);
        off += n;
        len -= n;
    }
    if (!EVP_DigestFinal_ex(md, dig, &dl) || dl != 32) {
        res = fg_fail(r, FG_EIO, "s3 PUT %.80s: sha-256 failed", key);
        goto out;
    }
    fg_hex_encode(dig, 32, out);
out:
    EVP_MD_CTX_free(md);
    free(buf);
    return res;
}

/* The query of a part upload or of the whole upload's end, canonical:
 * names sorted, the upload id encoded. */
static fg_result upload_query(const char *upload_id, int part, char *out,
                              size_t cap, fg_reason *r)
{
    int n = part > 0 ? snprintf(out, cap, "partNumber=%d&uploadId=", part)
                     : snprintf(out, cap, "uploadId=");
    if (n < 0 || (size_t)n >= cap)
        return fg_fail(r, FG_ELIMIT, "s3: upload id too long");
    size_t len = (size_t)n;
    return s3_uri_encode(upload_id, false, out, cap, &len, r);
}

/* Escapes an ETag for the CompleteMultipartUpload body. */
static bool xml_escape(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s; s++) {
        const char *rep = *s == '&' ? "&amp;" : *s == '<' ? "&lt;"
                        : *s == '>' ? "&gt;"  : *s == '"' ? "&quot;" : NULL;
        size_t k = rep ? strlen(rep) : 1;
        if (o + k >= cap)
            return false;
        if (rep)
            memcpy(out + o, rep, k);
        else
            out[o] = *s;
        o += k;
    }
    out[o] = '\0';
    return true;
}

static fg_result put_single(s3_client *c, CURL *h, const char *key, int fd,
                            int64_t size, const char *sha, fg_reason *r)
{
    s3_req req;
    s3_req_init(&req, "PUT", key, NULL);
    req.payload_sha256 = sha;
    req.content_type = "application/octet-stream";
    req.in_fd = fd;
    req.in_off = 0;
    req.in_len = size;
    fg_result res = s3_perform(c, h, &req, r);
    s3_req_release(&req);
    return res;
}

static fg_result put_multipart(s3_client *c, CURL *h, const char *key, int fd,
                               int64_t size, fg_reason *r)
{
    fg_result res = FG_OK;
    int64_t psize = c->part_size;
    int64_t nparts = (size + psize - 1) / psize;
    char (*etags)[S3_ETAG_MAX] = NULL;
    char *upload_id = NULL, *query = NULL, *xml = NULL;
    size_t xml_len = 0, xml_cap;
    bool started = false;
    s3_req req;
    char sha[65];

    s3_req_init(&req, "POST", key, "uploads=");
    if (nparts > S3_PARTS_MAX)
        return fg_fail(r, FG_ELIMIT,
                       "s3 PUT %.80s: %lld bytes need more than %d parts of "
                       "FILIGRANE_S3_PART_SIZE=%lld",
                       key, (long long)size, S3_PARTS_MAX, (long long)psize);
    etags = calloc((size_t)nparts, sizeof *etags);
    upload_id = malloc(S3_UPLOAD_ID_MAX);
    query = malloc(3 * S3_UPLOAD_ID_MAX + 64);
    if (!etags || !upload_id || !query) {
        res = fg_fail(r, FG_EIO, "s3: out of memory");
        goto out;
    }

    /* 1. Start the upload and learn its id. */
    req.content_type = "application/octet-stream";
    res = s3_perform(c, h, &req, r);
    if (res != FG_OK)
        goto out;
    if (!req.body || !s3_xml_text(req.body, req.body_len, "UploadId", upload_id,
                                  S3_UPLOAD_ID_MAX) || !upload_id[0]) {
        res = fg_fail(r, FG_EIO, "s3 POST %.80s: no UploadId in the answer", key);
        goto out;
    }
    started = true;

    /* 2. The parts, in order, each hashed then streamed from the file. */
    for (int64_t i = 0; i < nparts; i++) {
        int64_t off = i * psize;
        int64_t len = size - off < psize ? size - off : psize;
        res = hash_range(fd, off, len, sha, key, r);
        if (res == FG_OK)
            res = upload_query(upload_id, (int)(i + 1), query,
                               3 * S3_UPLOAD_ID_MAX + 64, r);
        if (res != FG_OK)
            goto out;
        s3_req_release(&req);
        s3_req_init(&req, "PUT", key, query);
        req.payload_sha256 = sha;
        req.in_fd = fd;
        req.in_off = off;
        req.in_len = len;
        res = s3_perform(c, h, &req, r);
        if (res != FG_OK)
            goto out;
        if (!req.etag[0]) {
            res = fg_fail(r, FG_EIO, "s3 PUT %.80s: part %lld answered without an ETag",
                          key, (long long)(i + 1));
            goto out;
        }
        memcpy(etags[i], req.etag, sizeof etags[i]);
    }

    /* 3. Put them together. */
    xml_cap = 128 + (size_t)nparts * (64 + 6 * S3_ETAG_MAX);
    xml = malloc(xml_cap);
    if (!xml) {
        res = fg_fail(r, FG_EIO, "s3: out of memory");
        goto out;
    }
    xml_len = (size_t)snprintf(xml, xml_cap, "<CompleteMultipartUpload>");
    for (int64_t i = 0; i < nparts; i++) {
        char esc[6 * S3_ETAG_MAX];
        if (!xml_escape(etags[i], esc, sizeof esc)) {
            res = fg_fail(r, FG_EIO, "s3 PUT %.80s: ETag too long", key);
            goto out;
        }
        xml_len += (size_t)snprintf(xml + xml_len, xml_cap - xml_len,
                                    "<Part><PartNumber>%lld</PartNumber><ETag>%s</ETag></Part>",
                                    (long long)(i + 1), esc);
    }
    xml_len += (size_t)snprintf(xml + xml_len, xml_cap - xml_len,
                                "</CompleteMultipartUpload>");
    s3_sha256_hex(xml, xml_len, sha);
    res = upload_query(upload_id, 0, query, 3 * S3_UPLOAD_ID_MAX + 64, r);
    if (res != FG_OK)
        goto out;
    s3_req_release(&req);
    s3_req_init(&req, "POST", key, query);
    req.payload_sha256 = sha;
    req.content_type = "application/xml";
    req.in_mem = xml;
    req.in_mem_len = xml_len;
    res = s3_perform(c, h, &req, r);
    if (res != FG_OK)
        goto out;
    /* S3 may answer 200 and still fail: the error is then in the body. */
    if (req.body && strstr(req.body, "<Error>")) {
        char code[64] = "";
        if (!s3_xml_text(req.body, req.body_len, "Code", code, sizeof code))
            code[0] = '\0';
        for (char *p = code; *p; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9')))
                *p = '?';
        res = fg_fail(r, FG_EIO, "s3 POST %.80s: 200 %s", key, code);
        goto out;
    }
    started = false; /* completed: nothing to abort */
out:
    if (started) {
        /* Abort, so the parts sent are not kept (and billed) forever; its
         * own failure is not reported over the first one. */
        fg_reason ignore;
        if (upload_query(upload_id, 0, query, 3 * S3_UPLOAD_ID_MAX + 64, &ignore) == FG_OK) {
            s3_req_release(&req);
            s3_req_init(&req, "DELETE", key, query);
            if (s3_perform(c, h, &req, &ignore) != FG_OK) {
                /* The bucket's lifecycle rule for incomplete uploads is
                 * the last line (README). */
            }
        }
    }
    s3_req_release(&req);
    free(etags);
    free(upload_id);
    free(query);
    free(xml);
    return res;
}

fg_result s3_put_file(s3_client *c, const char *key, const char *path,
                      const char *sha256_hex, fg_reason *r)
{
    fg_result res;
    CURL *h = NULL;
    int fd = -1;
    struct stat st;
    char sha[65];

    if ((res = s3_key_check(key, r)) != FG_OK)
        return res;
    if (sha256_hex && !hex64(sha256_hex))
        return fg_fail(r, FG_EUSAGE, "s3 PUT %.80s: the sha-256 given is not 64 hex", key);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        res = fg_fail(r, errno == ELOOP ? FG_EUSAGE : FG_EIO,
                      "s3 PUT %.80s: cannot open the file: %s", key,
                      strerrordesc_np(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        res = fg_fail(r, FG_EUSAGE, "s3 PUT %.80s: not a regular file", key);
        goto out;
    }
    if ((res = s3_handle_new(&h, r)) != FG_OK)
        goto out;
    if (st.st_size < c->part_size) {
        if (!sha256_hex) {
            res = hash_range(fd, 0, st.st_size, sha, key, r);
            if (res != FG_OK)
                goto out;
            sha256_hex = sha;
        }
        res = put_single(c, h, key, fd, st.st_size, sha256_hex, r);
    } else {
        /* Each part is signed with its own hash; the whole file's hash
         * (sha256_hex) names the object and is not sent. */
        res = put_multipart(c, h, key, fd, st.st_size, r);
    }
out:
    if (h)
        curl_easy_cleanup(h);
    if (fd >= 0)
        close(fd);
    return res;
}

fg_result s3_put_mem(s3_client *c, const char *key, const void *buf, size_t len,
                     fg_reason *r)
{
    fg_result res;
    CURL *h = NULL;
    s3_req req;
    char sha[65];

    if ((res = s3_key_check(key, r)) != FG_OK || (res = s3_handle_new(&h, r)) != FG_OK)
        return res;
    s3_sha256_hex(buf, len, sha);
    s3_req_init(&req, "PUT", key, NULL);
    req.payload_sha256 = sha;
    req.content_type = "application/octet-stream";
    req.in_mem = buf;
    req.in_mem_len = len;
    res = s3_perform(c, h, &req, r);
    s3_req_release(&req);
    curl_easy_cleanup(h);
    return res;
}
