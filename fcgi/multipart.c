/* A streaming multipart/form-data parser. Written here rather than taken
 * from a library because the libraries Debian ships either buffer whole
 * bodies or parse only headers; what the worker needs (bounded memory,
 * hashing on the way to disk, limits checked before each byte is kept) is a
 * few hundred lines. */
#define _GNU_SOURCE /* memmem */
#include "fcgi/multipart.h"
#include "fcgi/multipart_headers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void fcgi_upload_limits_init(struct fcgi_upload_limits *l)
{
    l->max_file_bytes = FG_UPLOAD_MAX_FILE_BYTES_DEFAULT;
    l->max_files = FG_UPLOAD_MAX_FILES_DEFAULT;
    l->max_delivery_bytes = FG_UPLOAD_MAX_DELIVERY_BYTES_DEFAULT;
    l->max_part_header_bytes = FG_UPLOAD_MAX_PART_HEADER_BYTES;
    l->max_parts = FG_UPLOAD_MAX_PARTS_DEFAULT;
    l->max_field_bytes = FG_UPLOAD_MAX_FIELD_BYTES_DEFAULT;
    l->read_chunk = 0;
}

/* ---- the body reader: a fixed buffer, refilled by at most one chunk ---- */

struct rd {
    struct fcgi_body *body;
    unsigned char *buf;
    size_t cap, chunk, pos, len;
    int eof;
    long long total, max_total;
    const char *limit_name; /* the setting that bounds total */
};

static fg_result rd_init(struct rd *rd, struct fcgi_body *body,
                         size_t chunk, size_t keep, fg_reason *r)
{
    memset(rd, 0, sizeof *rd);
    rd->body = body;
    rd->chunk = chunk ? chunk : FG_UPLOAD_BUFFER_BYTES;
    /* keep: the most bytes left unconsumed between two fills (a partial
     * delimiter), so a fill always has room for a whole chunk. */
    rd->cap = rd->chunk + keep;
    rd->buf = malloc(rd->cap);
    if (!rd->buf)
        return fg_fail(r, FG_EIO, "cannot read upload: out of memory");
    return FG_OK;
}

static fg_result rd_fill(struct rd *rd, fg_reason *r)
{
    if (rd->eof)
        return FG_OK;
    if (rd->pos > 0) {
        memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
        rd->len -= rd->pos;
        rd->pos = 0;
    }
    size_t want = rd->cap - rd->len;
    if (want > rd->chunk)
        want = rd->chunk;
    long long n;
    do {
        if (rd->body->read)
            n = rd->body->read(rd->body->ctx, rd->buf + rd->len, want);
        else
            n = read(rd->body->fd, rd->buf + rd->len, want);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return fg_fail(r, FG_EIO, "cannot read upload: read failed");
    if (n == 0) {
        rd->eof = 1;
        return FG_OK;
    }
    rd->len += (size_t)n;
    rd->total += n;
    if (rd->total > rd->max_total)
        return fg_fail(r, FG_ELIMIT,
                       "upload too large: more than %lld bytes (%s)",
                       rd->max_total, rd->limit_name);
    return FG_OK;
}

/* Makes at least n bytes available unless the body ends first. */
static fg_result rd_need(struct rd *rd, size_t n, fg_reason *r)
{
    while (rd->len - rd->pos < n && !rd->eof) {
        fg_result res = rd_fill(rd, r);
        if (res != FG_OK)
            return res;
    }
    return FG_OK;
}

/* ---- the sink: a temp file with a running SHA-256 ---- */

struct sink {
    int fd;
    char *path;
    EVP_MD_CTX *md;
    /* The commitment, SHA-256(salt || content), for the buyer's view before
     * release (common/commit.h; done here with OpenSSL directly, so that
     * the fuzz target links this file alone). */
    EVP_MD_CTX *cm;
    unsigned char salt[32];
    long long size, max;
};

static void hex32(const unsigned char *d, char out[65])
{
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static fg_result sink_open(struct sink *s, const char *tmpdir, long long max,
                           fg_reason *r)
{
    char tmpl[PATH_MAX];
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->max = max;
    int n = snprintf(tmpl, sizeof tmpl, "%s/upload-XXXXXX", tmpdir);
    if (n < 0 || (size_t)n >= sizeof tmpl)
        return fg_fail(r, FG_EIO, "cannot store upload: temp dir path too long");
    s->md = EVP_MD_CTX_new();
    if (!s->md || !EVP_DigestInit_ex(s->md, EVP_sha256(), NULL))
        return fg_fail(r, FG_EIO, "cannot store upload: sha256 unavailable");
    s->cm = EVP_MD_CTX_new();
    if (RAND_bytes(s->salt, sizeof s->salt) != 1)
        return fg_fail(r, FG_EIO, "cannot store upload: random generator failed");
    if (!s->cm || !EVP_DigestInit_ex(s->cm, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(s->cm, s->salt, sizeof s->salt))
        return fg_fail(r, FG_EIO, "cannot store upload: sha256 unavailable");
    s->fd = mkostemp(tmpl, O_CLOEXEC); /* mode 0600 */
    if (s->fd < 0)
        return fg_fail(r, FG_EIO, "cannot store upload: cannot create temp file");
    s->path = strdup(tmpl);
    if (!s->path)
        return fg_fail(r, FG_EIO, "cannot store upload: out of memory");
    return FG_OK;
}

static fg_result sink_write(struct sink *s, const unsigned char *p, size_t n,
                            fg_reason *r)
{
    if (n == 0)
        return FG_OK;
    if (s->size + (long long)n > s->max)
        return fg_fail(r, FG_ELIMIT,
                       "file too large: more than %lld bytes "
                       "(FILIGRANE_MAX_FILE_BYTES)",
                       s->max);
    s->size += (long long)n;
    if (!EVP_DigestUpdate(s->md, p, n) || !EVP_DigestUpdate(s->cm, p, n))
        return fg_fail(r, FG_EIO, "cannot store upload: sha256 failed");
    while (n > 0) {
        ssize_t w = write(s->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return fg_fail(r, FG_EIO, "cannot store upload: %s",
                           errno == ENOSPC || errno == EDQUOT ? "disk full"
                                                              : "write failed");
        p += w;
        n -= (size_t)w;
    }
    return FG_OK;
}

/* Closes the file and hands its path and digest to f. */
static fg_result sink_finish(struct sink *s, struct fcgi_upload_file *f,
                             fg_reason *r)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    if (!EVP_DigestFinal_ex(s->md, d, &dl) || dl != 32)
        return fg_fail(r, FG_EIO, "cannot store upload: sha256 failed");
    hex32(d, f->sha256);
    if (!EVP_DigestFinal_ex(s->cm, d, &dl) || dl != 32)
        return fg_fail(r, FG_EIO, "cannot store upload: sha256 failed");
    hex32(d, f->commitment);
    hex32(s->salt, f->salt);
    int rc = close(s->fd);
    s->fd = -1;
    if (rc != 0)
        return fg_fail(r, FG_EIO, "cannot store upload: close failed");
    f->size = s->size;
    f->path = s->path;
    s->path = NULL;
    return FG_OK;
}

/* Removes whatever the sink still holds. Safe on a zeroed sink. */
static void sink_abort(struct sink *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (s->path)
        unlink(s->path);
    free(s->path);
    s->path = NULL;
    EVP_MD_CTX_free(s->md);
    s->md = NULL;
    EVP_MD_CTX_free(s->cm);
    s->cm = NULL;
    OPENSSL_cleanse(s->salt, sizeof s->salt);
}

/* ---- the parser ---- */

/* Room kept between fills: a partial delimiter ("\r\n--" + boundary) and
 * the transport padding after it. */
#define KEEP (4 + FG_UPLOAD_MAX_BOUNDARY_BYTES + 64)
#define MAX_PADDING 64

void fcgi_upload_file_release(struct fcgi_upload_file *f)
{
    if (!f)
        return;
    if (f->path)
        unlink(f->path);
    free(f->path);
    free(f->field);
    free(f->filename);
    free(f->content_type);
    memset(f, 0, sizeof *f);
}

char *fcgi_upload_file_take_path(struct fcgi_upload_file *f)
{
    char *p = f->path;
    f->path = NULL;
    return p;
}

void fcgi_multipart_release(struct fcgi_multipart *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfiles; i++)
        fcgi_upload_file_release(&m->files[i]);
    for (size_t i = 0; i < m->nfields; i++) {
        free(m->fields[i].name);
        free(m->fields[i].value);
    }
    free(m->files);
    free(m->fields);
    memset(m, 0, sizeof *m);
}

struct mp {
    struct rd rd;
    const struct fcgi_upload_limits *l;
    const char *tmpdir;
    char delim[KEEP];
    size_t dlen;
    char *hbuf;
    size_t hcap;
    struct fcgi_part_headers part;
    struct sink sink;
    char *field; /* value of the current field part */
    size_t flen, fcap;
    struct fcgi_multipart *out;
    int nparts;
};

/* Where a part's bytes go: the current temp file, the current field, or
 * nowhere (the preamble). */
enum dest { TO_NOWHERE, TO_FILE, TO_FIELD };

static fg_result emit(struct mp *m, enum dest d, const unsigned char *p,
                      size_t n, fg_reason *r)
{
    if (d == TO_FILE)
        return sink_write(&m->sink, p, n, r);
    if (d != TO_FIELD || n == 0)
        return FG_OK;
    if (m->flen + n > m->l->max_field_bytes)
        return fg_fail(r, FG_ELIMIT, "form field \"%s\" longer than %zu bytes",
                       m->part.name, m->l->max_field_bytes);
    if (m->flen + n + 1 > m->fcap) {
        size_t cap = m->fcap ? m->fcap : 256;
        while (cap < m->flen + n + 1)
            cap *= 2;
        char *f = realloc(m->field, cap);
        if (!f)
            return fg_fail(r, FG_EIO, "cannot parse upload: out of memory");
        m->field = f;
        m->fcap = cap;
    }
    memcpy(m->field + m->flen, p, n);
    m->flen += n;
    return FG_OK;
}

/* memmem, but faster on file contents: glibc's two-way search ran at a
 * third of the speed of the disk copy; memchr for the leading CR is
 * vectorised and a delimiter candidate is rare in real data. */
static const unsigned char *find_delim(const unsigned char *s, size_t n,
                                       const char *d, size_t dlen)
{
    const unsigned char *e = s + n;
    while ((size_t)(e - s) >= dlen) {
        const unsigned char *c = memchr(s, '\r', (size_t)(e - s) - dlen + 1);
        if (!c)
            return NULL;
        if (memcmp(c, d, dlen) == 0)
            return c;
        s = c + 1;
    }
    return NULL;
}

/* Sends bytes to d up to the next delimiter and consumes the delimiter.
 * A partial delimiter at the end of the buffer is kept for the next read,
 * so one split across two reads is still found. "\r\n--boundary" followed
 * by anything but '-', blank or CR is content, not a delimiter: RFC 2046
 * forbids it in content, but senders do not all check. */
static fg_result until_delim(struct mp *m, enum dest d, fg_reason *r)
{
    struct rd *rd = &m->rd;
    for (;;) {
        size_t avail = rd->len - rd->pos;
        const unsigned char *s = rd->buf + rd->pos;
        const unsigned char *hit = find_delim(s, avail, m->delim, m->dlen);
        fg_result res;
        if (hit) {
            size_t off = (size_t)(hit - s);
            size_t cut = off; /* bytes that are content */
            int more = 0;
            if (off + m->dlen == avail && !rd->eof)
                more = 1; /* the byte after it decides: read it first */
            else if (off + m->dlen < avail &&
                     !memchr("- \t\r", hit[m->dlen], 4))
                cut = off + 1; /* "--XyZnot": content, as in Go's parser */
            res = emit(m, d, s, cut, r);
            if (res != FG_OK)
                return res;
            rd->pos += cut;
            if (!more && cut == off) {
                rd->pos += m->dlen;
                return FG_OK;
            }
            if (more && (res = rd_fill(rd, r)) != FG_OK)
                return res;
            continue;
        }
        if (avail >= m->dlen) {
            size_t n = avail - (m->dlen - 1);
            res = emit(m, d, s, n, r);
            if (res != FG_OK)
                return res;
            rd->pos += n;
        }
        if (rd->eof)
            return MALFORMED("no closing boundary (truncated?)");
        res = rd_fill(rd, r);
        if (res != FG_OK)
            return res;
    }
}

/* After a delimiter: "--" closes the body; otherwise optional padding and
 * CRLF start a part. Returns FG_OK with *closed set accordingly. */
static fg_result after_delim(struct mp *m, int *closed, fg_reason *r)
{
    struct rd *rd = &m->rd;
    fg_result res = rd_need(rd, 2, r);
    if (res != FG_OK)
        return res;
    if (rd->len - rd->pos >= 2 && memcmp(rd->buf + rd->pos, "--", 2) == 0) {
        rd->pos += 2;
        *closed = 1;
        return FG_OK;
    }
    *closed = 0;
    for (int i = 0;; i++) {
        res = rd_need(rd, 2, r);
        if (res != FG_OK)
            return res;
        if (rd->len - rd->pos < 2)
            return MALFORMED("truncated after a boundary");
        const unsigned char *s = rd->buf + rd->pos;
        if (s[0] == '\r' && s[1] == '\n') {
            rd->pos += 2;
            return FG_OK;
        }
        if ((s[0] != ' ' && s[0] != '\t') || i >= MAX_PADDING)
            return MALFORMED("bad boundary line");
        rd->pos++;
    }
}

/* Reads the part's header block up to and including the blank line. The
 * block is collected after a virtual CRLF so that an empty block is the
 * same search. */
static fg_result read_headers(struct mp *m, size_t *hlen_out, fg_reason *r)
{
    struct rd *rd = &m->rd;
    size_t hlen = 2;
    memcpy(m->hbuf, "\r\n", 2);
    for (;;) {
        size_t avail = rd->len - rd->pos, room = m->hcap - hlen;
        size_t take = avail < room ? avail : room;
        memcpy(m->hbuf + hlen, rd->buf + rd->pos, take);
        size_t from = hlen >= 3 ? hlen - 3 : 0;
        const char *hit = memmem(m->hbuf + from, hlen + take - from, "\r\n\r\n", 4);
        if (hit) {
            size_t idx = (size_t)(hit - m->hbuf);
            rd->pos += idx + 4 - hlen;
            *hlen_out = idx >= 2 ? idx - 2 : 0; /* without the virtual CRLF */
            return FG_OK;
        }
        hlen += take;
        rd->pos += take;
        if (hlen == m->hcap)
            return MALFORMED("part headers longer than %zu bytes",
                             m->l->max_part_header_bytes);
        if (rd->eof)
            return MALFORMED("truncated in part headers");
        fg_result res = rd_fill(rd, r);
        if (res != FG_OK)
            return res;
    }
}

static fg_result grow(void **arr, size_t n, size_t size, fg_reason *r)
{
    void *a = realloc(*arr, (n + 1) * size);
    if (!a)
        return fg_fail(r, FG_EIO, "cannot parse upload: out of memory");
    *arr = a;
    memset((char *)a + n * size, 0, size);
    return FG_OK;
}

/* One part, its headers already parsed into m->part. */
static fg_result one_part(struct mp *m, fg_reason *r)
{
    struct fcgi_multipart *o = m->out;
    fg_result res;
    if (!m->part.has_filename) {
        m->flen = 0;
        res = until_delim(m, TO_FIELD, r);
        if (res != FG_OK)
            return res;
        res = grow((void **)&o->fields, o->nfields, sizeof *o->fields, r);
        if (res != FG_OK)
            return res;
        struct fcgi_upload_field *f = &o->fields[o->nfields];
        f->value = malloc(m->flen + 1);
        if (!f->value)
            return fg_fail(r, FG_EIO, "cannot parse upload: out of memory");
        if (m->flen)
            memcpy(f->value, m->field, m->flen);
        f->value[m->flen] = '\0';
        f->len = m->flen;
        f->name = m->part.name;
        m->part.name = NULL;
        o->nfields++;
        return FG_OK;
    }

    if (o->nfiles >= (size_t)m->l->max_files)
        return fg_fail(r, FG_ELIMIT, "too many files: more than %d "
                       "(FILIGRANE_MAX_FILES)", m->l->max_files);
    res = grow((void **)&o->files, o->nfiles, sizeof *o->files, r);
    if (res != FG_OK)
        return res;
    res = sink_open(&m->sink, m->tmpdir, m->l->max_file_bytes, r);
    if (res != FG_OK)
        return res;
    res = until_delim(m, TO_FILE, r);
    if (res != FG_OK)
        return res;
    struct fcgi_upload_file *f = &o->files[o->nfiles];
    res = sink_finish(&m->sink, f, r);
    sink_abort(&m->sink); /* frees the digest; the file is f's now */
    if (res != FG_OK)
        return res;
    o->nfiles++;
    if (f->size == 0 && m->part.filename[0] == '\0') {
        /* An HTML form's file input left empty. */
        fcgi_upload_file_release(f);
        o->nfiles--;
        return FG_OK;
    }
    f->field = m->part.name;
    f->filename = m->part.filename;
    f->content_type = m->part.content_type;
    memset(&m->part, 0, sizeof m->part);
    return FG_OK;
}

fg_result fcgi_multipart_parse(struct fcgi_body *body, const char *content_type,
                               const char *tmpdir,
                               const struct fcgi_upload_limits *l,
                               struct fcgi_multipart *out, fg_reason *r)
{
    struct mp m;
    char boundary[FG_UPLOAD_MAX_BOUNDARY_BYTES + 1];
    fg_result res;

    memset(out, 0, sizeof *out);
    memset(&m, 0, sizeof m);
    m.sink.fd = -1;
    m.l = l;
    m.tmpdir = tmpdir;
    m.out = out;
    res = fcgi_multipart_boundary(content_type, boundary, r);
    if (res != FG_OK)
        return res;
    m.dlen = (size_t)snprintf(m.delim, sizeof m.delim, "\r\n--%s", boundary);
    res = rd_init(&m.rd, body, l->read_chunk, KEEP, r);
    if (res != FG_OK)
        goto out;
    m.rd.max_total = l->max_delivery_bytes;
    m.rd.limit_name = "FILIGRANE_MAX_DELIVERY_BYTES";
    m.hcap = 2 + l->max_part_header_bytes + 4;
    m.hbuf = malloc(m.hcap);
    if (!m.hbuf) {
        res = fg_fail(r, FG_EIO, "cannot parse upload: out of memory");
        goto out;
    }

    /* The first delimiter may open the body, without a CRLF before it:
     * start with a virtual one. It is not counted against the limits. */
    memcpy(m.rd.buf, "\r\n", 2);
    m.rd.len = 2;
    res = until_delim(&m, TO_NOWHERE, r);
    if (res != FG_OK)
        goto out;
    for (;;) {
        int closed = 0;
        size_t hlen = 0;
        res = after_delim(&m, &closed, r);
        if (res != FG_OK || closed)
            break;
        if (m.nparts++ >= l->max_parts) {
            res = fg_fail(r, FG_ELIMIT, "too many parts: more than %d",
                          l->max_parts);
            break;
        }
        res = read_headers(&m, &hlen, r);
        if (res != FG_OK)
            break;
        res = fcgi_part_headers_parse(m.hbuf + 2, hlen, &m.part, r);
        if (res != FG_OK)
            break;
        res = one_part(&m, r);
        if (res != FG_OK)
            break;
        fcgi_part_headers_release(&m.part);
    }
    /* The epilogue after the closing delimiter is ignored, unread. */
out:
    sink_abort(&m.sink);
    fcgi_part_headers_release(&m.part);
    free(m.field);
    free(m.hbuf);
    free(m.rd.buf);
    if (res != FG_OK)
        fcgi_multipart_release(out);
    return res;
}
