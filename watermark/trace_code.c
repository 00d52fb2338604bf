/* The traceable mark's keyed pattern, payload and report (see
 * watermark/trace_code.h). */
#include "watermark/trace_code.h"

#include <inttypes.h>
#include <math.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char pattern_label[] = "filigrane-trace-pattern-v1";
static const char payload_label[] = "filigrane-trace-v1\n";
static const char report_magic[] = "filigrane-trace-v1";

/* n bytes of the ChaCha20 keystream of key (a zero nonce: one key, one
 * pattern). */
static fg_result keystream(const unsigned char key[WM_TRACE_KEY_BYTES], unsigned char *out,
                           size_t n, fg_reason *r)
{
    unsigned char iv[16] = {0};
    int len = 0;
    fg_result rc = FG_OK;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    memset(out, 0, n);
    if (!c || !EVP_EncryptInit_ex(c, EVP_chacha20(), NULL, key, iv) ||
        !EVP_EncryptUpdate(c, out, &len, out, (int)n) || (size_t)len != n)
        rc = fg_fail(r, FG_EIO, "cannot compute the trace pattern");
    EVP_CIPHER_CTX_free(c);
    return rc;
}

fg_result wm_trace_pattern_init(wm_trace_pattern *p, const unsigned char key[WM_TRACE_KEY_BYTES],
                                fg_reason *r)
{
    /* One byte of sign per cell, then four bytes per Fisher-Yates step. */
    enum { SIGNS = WM_TRACE_NCELLS, STEPS = 4 * WM_TRACE_NCELLS };
    unsigned char *ks = malloc(SIGNS + STEPS);
    short order[WM_TRACE_NCELLS];
    if (!ks)
        return fg_fail(r, FG_EIO, "out of memory");
    fg_result rc = keystream(key, ks, SIGNS + STEPS, r);
    if (rc != FG_OK)
        goto out;
    for (int i = 0; i < WM_TRACE_NCELLS; i++) {
        p->pn[i] = (ks[i] & 1) ? 1 : -1;
        order[i] = (short)i;
    }
    for (int i = WM_TRACE_NCELLS - 1; i > 0; i--) {
        const unsigned char *b = ks + SIGNS + 4 * i;
        uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        int j = (int)(v % (uint32_t)(i + 1));
        short t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    /* The first WM_TRACE_SYNC cells of the shuffle are sync; the others
     * carry the bits in turn, so each bit has (1024 - 256) / 64 = 12 cells
     * spread over the tile. */
    for (int i = 0; i < WM_TRACE_NCELLS; i++)
        p->role[order[i]] =
            i < WM_TRACE_SYNC ? -1 : (short)((i - WM_TRACE_SYNC) % WM_TRACE_BITS);
out:
    OPENSSL_cleanse(ks, SIGNS + STEPS);
    free(ks);
    return rc;
}

int wm_trace_chip(const wm_trace_pattern *p, uint64_t payload, int cx, int cy)
{
    int cell = cy * WM_TRACE_CELLS + cx;
    int role = p->role[cell];
    if (role < 0)
        return p->pn[cell];
    int bit = (int)((payload >> (WM_TRACE_BITS - 1 - role)) & 1);
    return bit ? p->pn[cell] : -p->pn[cell];
}

static int mac_netstring(EVP_MAC_CTX *c, const char *s)
{
    char head[32];
    size_t n = s ? strlen(s) : 0;
    int k = snprintf(head, sizeof head, "%zu:", n);
    return EVP_MAC_update(c, (const unsigned char *)head, (size_t)k) &&
           (!n || EVP_MAC_update(c, (const unsigned char *)s, n)) &&
           EVP_MAC_update(c, (const unsigned char *)",", 1);
}

/* HMAC-SHA256(key, label || netstrings of the n strings) into md. */
static fg_result hmac(const void *key, size_t len, const char *label, const char *const *s,
                      int n, unsigned char md[32], fg_reason *r)
{
    unsigned char full[EVP_MAX_MD_SIZE];
    size_t got = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    fg_result rc = FG_OK;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    int ok = c && EVP_MAC_init(c, key, len, params) &&
             EVP_MAC_update(c, (const unsigned char *)label, strlen(label));
    for (int i = 0; ok && i < n; i++)
        ok = mac_netstring(c, s[i]);
    if (!ok || !EVP_MAC_final(c, full, &got, sizeof full) || got < 32)
        rc = fg_fail(r, FG_EIO, "cannot compute the trace payload");
    else
        memcpy(md, full, 32);
    OPENSSL_cleanse(full, sizeof full);
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    return rc;
}

fg_result wm_trace_pattern_key(const void *mark_key, size_t len,
                               unsigned char out[WM_TRACE_KEY_BYTES], fg_reason *r)
{
    return hmac(mark_key, len, pattern_label, NULL, 0, out, r);
}

fg_result wm_trace_payload(const void *mark_key, size_t len, const char *order, const char *buyer,
                           const char *file, uint64_t *out, fg_reason *r)
{
    unsigned char md[32];
    const char *s[] = {order, buyer, file};
    fg_result rc = hmac(mark_key, len, payload_label, s, 3, md, r);
    if (rc != FG_OK)
        return rc;
    *out = 0;
    for (int i = 0; i < 8; i++)
        *out = (*out << 8) | md[i];
    OPENSSL_cleanse(md, sizeof md);
    return FG_OK;
}

size_t wm_trace_report_format(const wm_trace_report *rep, char *buf, size_t cap)
{
    size_t n = 0;
    int k = snprintf(buf, cap, "%s\n", report_magic);
    if (k < 0 || (size_t)k >= cap)
        return 0;
    n = (size_t)k;
    for (int i = 0; i < rep->n; i++) {
        const wm_trace_candidate *c = &rep->c[i];
        k = snprintf(buf + n, cap - n, "candidate %.3f %.5f %016" PRIx64, c->z, c->scale,
                     c->bits);
        if (k < 0 || (size_t)k >= cap - n)
            return 0;
        n += (size_t)k;
        for (int j = 0; j < WM_TRACE_WEAK; j++) {
            k = snprintf(buf + n, cap - n, "%s%u", j ? "," : " ", c->weak[j]);
            if (k < 0 || (size_t)k >= cap - n)
                return 0;
            n += (size_t)k;
        }
        if (n + 1 >= cap)
            return 0;
        buf[n++] = '\n';
        buf[n] = '\0';
    }
    return n;
}

/* A decimal number in [lo, hi] at *s, up to a space or comma; advances
 * *s. */
static bool parse_num(const char **s, const char *end, double lo, double hi, double *out)
{
    char tmp[32];
    size_t n = 0;
    while (*s + n < end && (*s)[n] != ' ' && (*s)[n] != ',' && n < sizeof tmp - 1) {
        char ch = (*s)[n];
        if (!((ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
            return false;
        tmp[n] = ch;
        n++;
    }
    if (n == 0 || n >= sizeof tmp - 1)
        return false;
    tmp[n] = '\0';
    char *e = NULL;
    double v = strtod(tmp, &e);
    if (*e || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    *s += n;
    return true;
}

static bool parse_line(const char *s, const char *end, wm_trace_candidate *c)
{
    static const char head[] = "candidate ";
    if ((size_t)(end - s) < sizeof head - 1 || memcmp(s, head, sizeof head - 1) != 0)
        return false;
    s += sizeof head - 1;
    if (!parse_num(&s, end, 0, 1e6, &c->z) || s >= end || *s++ != ' ' ||
        !parse_num(&s, end, 0.01, 100, &c->scale) || s >= end || *s++ != ' ')
        return false;
    if (end - s < 16)
        return false;
    c->bits = 0;
    for (int i = 0; i < 16; i++) {
        char ch = s[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (v < 0)
            return false;
        c->bits = (c->bits << 4) | (uint64_t)v;
    }
    s += 16;
    for (int j = 0; j < WM_TRACE_WEAK; j++) {
        double v = 0;
        if (s >= end || *s++ != (j ? ',' : ' ') || !parse_num(&s, end, 0, WM_TRACE_BITS - 1, &v) ||
            v != floor(v))
            return false;
        c->weak[j] = (unsigned char)v;
    }
    return s == end;
}

fg_result wm_trace_report_parse(const char *buf, size_t len, wm_trace_report *rep, fg_reason *r)
{
    wm_trace_report tmp;
    const char *s = buf, *end = buf + len;
    memset(&tmp, 0, sizeof tmp);
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl || (size_t)(nl - s) != sizeof report_magic - 1 ||
        memcmp(s, report_magic, sizeof report_magic - 1) != 0)
        return fg_fail(r, FG_ECORRUPT, "the decoder's report is malformed");
    s = nl + 1;
    while (s < end) {
        nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl || tmp.n == WM_TRACE_MAX_CANDIDATES || !parse_line(s, nl, &tmp.c[tmp.n]))
            return fg_fail(r, FG_ECORRUPT, "the decoder's report is malformed");
        tmp.n++;
        s = nl + 1;
    }
    *rep = tmp;
    return FG_OK;
}

uint64_t wm_trace_try(const wm_trace_candidate *c, int i, int *flipped)
{
    int seen = 0;
    for (int k = 0; k <= WM_TRACE_WEAK; k++)
        for (int mask = 0; mask < (1 << WM_TRACE_WEAK); mask++) {
            if (__builtin_popcount((unsigned)mask) != k || seen++ != i)
                continue;
            uint64_t b = c->bits;
            for (int j = 0; j < WM_TRACE_WEAK; j++)
                if (mask & (1 << j))
                    b ^= (uint64_t)1 << (WM_TRACE_BITS - 1 - c->weak[j]);
            *flipped = k;
            return b;
        }
    *flipped = 0;
    return c->bits;
}
