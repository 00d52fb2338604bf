/* The header values of multipart/form-data: the request's Content-Type
 * (its boundary) and each part's Content-Disposition and Content-Type.
 * Separate from the streaming parser so that each file reads in one
 * sitting. */
#define _GNU_SOURCE /* memmem */
#include "fcgi/multipart_headers.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hex.h"
#include "common/utf8.h"

/* ---- names: UTF-8 made valid, controls replaced ---- */

/* A heap copy of the n bytes at s with invalid UTF-8 replaced by U+FFFD
 * and control characters by '_'; NULL if out of memory, or (with *toolong
 * set) if the result would be longer than FG_UPLOAD_MAX_NAME_BYTES. */
static char *clean_name(const char *s, size_t n, int *toolong)
{
    char *out = malloc(n * 3 + 1);
    size_t o = 0;
    *toolong = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)s + i;
        size_t l = fg_utf8_seq(u, n - i);
        if (l == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else if (l == 1 && (u[0] < 0x20 || u[0] == 0x7f)) {
            out[o++] = '_';
            i++;
        } else {
            memcpy(out + o, u, l);
            o += l;
            i += l;
        }
    }
    out[o] = '\0';
    if (o > FG_UPLOAD_MAX_NAME_BYTES) {
        free(out);
        *toolong = 1;
        return NULL;
    }
    return out;
}

/* ---- headers ---- */

static int is_tchar(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

static const char *skip_ows(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* A parameter value: a token or a quoted-string. Inside quotes a backslash
 * escapes only '"' and '\\', as browsers send Windows paths with plain
 * backslashes. Writes the value to a heap string; returns the position
 * after it, or NULL if malformed or out of memory (*oom set). */
static const char *param_value(const char *p, const char *e, char **val,
                               size_t *vlen, int *oom)
{
    char *out = malloc((size_t)(e - p) + 1);
    size_t o = 0;
    *oom = !out;
    if (!out)
        return NULL;
    if (p < e && *p == '"') {
        p++;
        while (p < e && *p != '"') {
            if (*p == '\\' && p + 1 < e && (p[1] == '"' || p[1] == '\\'))
                p++;
            out[o++] = *p++;
        }
        if (p == e) {
            free(out);
            return NULL;
        }
        p++;
    } else {
        while (p < e && *p != ';' && *p != ' ' && *p != '\t')
            out[o++] = *p++;
    }
    out[o] = '\0';
    *val = out;
    *vlen = o;
    return p;
}

/* RFC 5987 ext-value (charset'lang'pct-encoded) decoded in place to UTF-8.
 * Returns 1 if decoded, 0 for a charset we do not know (then filename= is
 * used), -1 if malformed. ISO-8859-1 is widened to UTF-8. In place is
 * safe: every input unit (one ASCII byte, or "%XX") yields at most as many
 * bytes as it takes, so the write position never passes the read one. */
static int ext_value(char *v, size_t *vlen)
{
    char *q1 = strchr(v, '\'');
    char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
    if (!q2)
        return -1;
    int latin1;
    *q1 = '\0';
    if (strcasecmp(v, "utf-8") == 0)
        latin1 = 0;
    else if (strcasecmp(v, "iso-8859-1") == 0)
        latin1 = 1;
    else
        return 0;
    size_t o = 0;
    for (const char *p = q2 + 1; *p; p++) {
        unsigned c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f)
            return -1; /* ext-value is ASCII: anything else is %-encoded */
        if (c == '%') {
            int h = fg_hex_nibble(p[1]), l = h < 0 ? -1 : fg_hex_nibble(p[2]);
            if (l < 0)
                return -1;
            c = (unsigned)(h * 16 + l);
            p += 2;
        }
        if (c == 0)
            return -1;
        if (latin1 && c >= 0x80) {
            v[o++] = (char)(0xc0 | c >> 6);
            v[o++] = (char)(0x80 | (c & 0x3f));
        } else {
            v[o++] = (char)c;
        }
    }
    v[o] = '\0';
    *vlen = o;
    return 1;
}

void fcgi_part_headers_release(struct fcgi_part_headers *p)
{
    free(p->name);
    free(p->filename);
    free(p->content_type);
    memset(p, 0, sizeof *p);
}

/* Content-Disposition: form-data; name="x"; filename="y"; filename*=... */
static fg_result parse_disposition(const char *p, const char *e,
                                   struct fcgi_part_headers *pt, fg_reason *r)
{
    char *fname = NULL, *fstar = NULL, *name = NULL;
    size_t fname_len = 0, fstar_len = 0, name_len = 0;
    int toolong = 0;
    fg_result res;

    const char *t = p;
    while (p < e && *p != ';' && *p != ' ' && *p != '\t')
        p++;
    if ((size_t)(p - t) != 9 || strncasecmp(t, "form-data", 9) != 0) {
        res = MALFORMED("part disposition is not form-data");
        goto out;
    }
    for (;;) {
        p = skip_ows(p, e);
        if (p == e)
            break;
        if (*p != ';') {
            res = MALFORMED("bad content-disposition parameters");
            goto out;
        }
        p = skip_ows(p + 1, e);
        if (p == e)
            break;
        const char *k = p;
        while (p < e && (is_tchar((unsigned char)*p) || *p == '*') && *p != '=')
            p++;
        size_t klen = (size_t)(p - k);
        p = skip_ows(p, e);
        if (klen == 0 || p == e || *p != '=') {
            res = MALFORMED("bad content-disposition parameters");
            goto out;
        }
        p = skip_ows(p + 1, e);
        char *v = NULL;
        size_t vlen = 0;
        int oom = 0;
        p = param_value(p, e, &v, &vlen, &oom);
        if (!p) {
            res = oom ? fg_fail(r, FG_EIO, "cannot parse upload: out of memory")
                      : MALFORMED("unterminated quoted parameter");
            goto out;
        }
        char **slot = NULL;
        size_t *slen = NULL;
        if (klen == 4 && strncasecmp(k, "name", 4) == 0)
            slot = &name, slen = &name_len;
        else if (klen == 8 && strncasecmp(k, "filename", 8) == 0)
            slot = &fname, slen = &fname_len;
        else if (klen == 9 && strncasecmp(k, "filename*", 9) == 0)
            slot = &fstar, slen = &fstar_len;
        if (!slot) {
            free(v);
            continue;
        }
        if (*slot) {
            free(v);
            res = MALFORMED("repeated content-disposition parameter");
            goto out;
        }
        *slot = v;
        *slen = vlen;
    }
    if (!name) {
        res = MALFORMED("part without a name");
        goto out;
    }
    if (fstar) {
        int d = ext_value(fstar, &fstar_len);
        if (d < 0) {
            res = MALFORMED("bad filename* parameter");
            goto out;
        }
        if (d > 0) {
            free(fname);
            fname = fstar;
            fname_len = fstar_len;
            fstar = NULL;
        }
    }
    pt->name = clean_name(name, name_len, &toolong);
    if (!pt->name) {
        res = toolong ? fg_fail(r, FG_ELIMIT,
                                "part name longer than %d bytes",
                                FG_UPLOAD_MAX_NAME_BYTES)
                      : fg_fail(r, FG_EIO, "cannot parse upload: out of memory");
        goto out;
    }
    if (fname) {
        pt->has_filename = 1;
        pt->filename = clean_name(fname, fname_len, &toolong);
        if (!pt->filename) {
            res = toolong ? fg_fail(r, FG_ELIMIT, "filename longer than %d bytes",
                                    FG_UPLOAD_MAX_NAME_BYTES)
                          : fg_fail(r, FG_EIO,
                                    "cannot parse upload: out of memory");
            goto out;
        }
    }
    res = FG_OK;
out:
    free(fname);
    free(fstar);
    free(name);
    return res;
}

/* The header block of one part, h[0..n), lines separated by CRLF. */
fg_result fcgi_part_headers_parse(const char *h, size_t n,
                                  struct fcgi_part_headers *pt, fg_reason *r)
{
    const char *p = h, *e = h + n;
    int seen_cd = 0;
    if (memchr(h, '\0', n))
        return MALFORMED("NUL byte in part headers");
    while (p < e) {
        const char *eol = memmem(p, (size_t)(e - p), "\r\n", 2);
        if (!eol)
            eol = e;
        if (memchr(p, '\r', (size_t)(eol - p)) || memchr(p, '\n', (size_t)(eol - p)))
            return MALFORMED("bare CR or LF in part headers");
        if (*p == ' ' || *p == '\t')
            return MALFORMED("folded part header");
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p)
            return MALFORMED("part header without a name");
        for (const char *q = p; q < colon; q++)
            if (!is_tchar((unsigned char)*q))
                return MALFORMED("bad part header name");
        size_t nlen = (size_t)(colon - p);
        const char *v = skip_ows(colon + 1, eol), *ve = eol;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (nlen == 19 && strncasecmp(p, "content-disposition", 19) == 0) {
            if (seen_cd++)
                return MALFORMED("repeated content-disposition");
            fg_result res = parse_disposition(v, ve, pt, r);
            if (res != FG_OK)
                return res;
        } else if (nlen == 12 && strncasecmp(p, "content-type", 12) == 0) {
            if (pt->content_type)
                return MALFORMED("repeated content-type");
            int toolong = 0;
            pt->content_type = clean_name(v, (size_t)(ve - v), &toolong);
            if (!pt->content_type)
                return toolong ? MALFORMED("part content-type too long")
                               : fg_fail(r, FG_EIO,
                                         "cannot parse upload: out of memory");
        }
        p = eol + 2;
    }
    if (!seen_cd)
        return MALFORMED("part without content-disposition");
    return FG_OK;
}

/* ---- the boundary ---- */

static int is_bchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || strchr("'()+_,-./:=? ", c);
}

fg_result fcgi_multipart_boundary(const char *ct,
                                  char out[FG_UPLOAD_MAX_BOUNDARY_BYTES + 1],
                                  fg_reason *r)
{
    out[0] = '\0';
    if (!ct)
        return fg_fail(r, FG_EUSAGE, "upload needs a content-type");
    const char *e = ct + strlen(ct), *p = skip_ows(ct, e);
    if ((size_t)(e - p) < 19 || strncasecmp(p, "multipart/form-data", 19) != 0 ||
        (p[19] != ';' && p[19] != ' ' && p[19] != '\t' && p[19] != '\0'))
        return fg_fail(r, FG_EUSAGE,
                       "upload content-type is not multipart/form-data");
    p += 19;
    for (;;) {
        p = skip_ows(p, e);
        if (p == e)
            break;
        if (*p != ';')
            return fg_fail(r, FG_EUSAGE, "bad content-type parameters");
        p = skip_ows(p + 1, e);
        const char *k = p;
        while (p < e && is_tchar((unsigned char)*p))
            p++;
        size_t klen = (size_t)(p - k);
        if (p == e || *p != '=')
            return fg_fail(r, FG_EUSAGE, "bad content-type parameters");
        p++;
        char *v = NULL;
        size_t vlen = 0;
        int oom = 0;
        const char *next = param_value(p, e, &v, &vlen, &oom);
        if (!next)
            return oom ? fg_fail(r, FG_EIO, "cannot parse upload: out of memory")
                       : fg_fail(r, FG_EUSAGE, "bad content-type parameters");
        p = next;
        if (klen == 8 && strncasecmp(k, "boundary", 8) == 0) {
            int ok = out[0] == '\0' && vlen >= 1 &&
                     vlen <= FG_UPLOAD_MAX_BOUNDARY_BYTES && v[vlen - 1] != ' ';
            for (size_t i = 0; ok && i < vlen; i++)
                ok = is_bchar((unsigned char)v[i]);
            if (ok)
                memcpy(out, v, vlen + 1);
            free(v);
            if (!ok)
                return fg_fail(r, FG_EUSAGE,
                               "bad multipart boundary (1 to %d of the "
                               "characters RFC 2046 allows, given once)",
                               FG_UPLOAD_MAX_BOUNDARY_BYTES);
        } else {
            free(v);
        }
    }
    if (!out[0])
        return fg_fail(r, FG_EUSAGE, "multipart content-type without boundary");
    return FG_OK;
}
