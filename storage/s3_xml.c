/* Elements out of S3's small XML answers (storage/s3_xml.h says why not
 * libxml2). */
#include "storage/s3_xml.h"

#include <stdint.h>
#include <string.h>

#include "common/hex.h"

static const char *find(const char *p, const char *end, const char *s, size_t n)
{
    if (n == 0 || end < p)
        return NULL;
    for (; (size_t)(end - p) >= n; p++)
        if (*p == *s && memcmp(p, s, n) == 0)
            return p;
    return NULL;
}

bool s3_xml_next(const char **p, const char *end, const char *tag,
                 const char **inner, size_t *inner_len)
{
    size_t tl = strlen(tag);
    char open[72], close[72];
    if (tl == 0 || tl > 64)
        return false;
    open[0] = '<';
    memcpy(open + 1, tag, tl);
    close[0] = '<';
    close[1] = '/';
    memcpy(close + 2, tag, tl);
    close[2 + tl] = '>';

    const char *q = *p;
    for (;;) {
        const char *s = find(q, end, open, tl + 1);
        if (!s)
            return false;
        const char *after = s + 1 + tl;
        if (after >= end)
            return false;
        /* "<Key>" or "<Key attr...>", not "<KeyCount>". */
        if (*after == '>' || *after == ' ' || *after == '/') {
            const char *gt = memchr(after, '>', (size_t)(end - after));
            if (!gt)
                return false;
            if (gt[-1] == '/') { /* <Tag/>: empty */
                *inner = gt + 1;
                *inner_len = 0;
                *p = gt + 1;
                return true;
            }
            const char *c = find(gt + 1, end, close, tl + 3);
            if (!c)
                return false;
            *inner = gt + 1;
            *inner_len = (size_t)(c - (gt + 1));
            *p = c + tl + 3;
            return true;
        }
        q = after;
    }
}

/* Writes code point cp as UTF-8; false for one XML does not allow. */
static bool put_utf8(uint32_t cp, char *out, size_t cap, size_t *o)
{
    unsigned char b[4];
    size_t n;
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return false;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (*o + n >= cap)
        return false;
    memcpy(out + *o, b, n);
    *o += n;
    return true;
}

bool s3_xml_decode(const char *s, size_t len, char *out, size_t cap)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    size_t o = 0;
    if (cap == 0)
        return false;
    for (size_t i = 0; i < len;) {
        if (s[i] == '\0')
            return false;
        if (s[i] != '&') {
            if (o + 1 >= cap)
                return false;
            out[o++] = s[i++];
            continue;
        }
        const char *semi = memchr(s + i, ';', len - i);
        if (!semi || semi - (s + i) > 12)
            return false;
        const char *name = s + i + 1;
        size_t nl = (size_t)(semi - name);
        bool done = false;
        if (nl >= 2 && name[0] == '#') {
            uint32_t cp = 0;
            bool hexa = name[1] == 'x';
            size_t k = hexa ? 2 : 1;
            if (k >= nl)
                return false;
            for (; k < nl; k++) {
                int d = hexa ? fg_hex_nibble((unsigned char)name[k])
                             : (name[k] >= '0' && name[k] <= '9' ? name[k] - '0' : -1);
                if (d < 0 || cp > 0x10FFFF)
                    return false;
                cp = cp * (hexa ? 16 : 10) + (uint32_t)d;
            }
            if (!put_utf8(cp, out, cap, &o))
                return false;
            done = true;
        } else {
            for (size_t e = 0; e < sizeof ents / sizeof ents[0]; e++)
                if (strlen(ents[e].name) == nl && memcmp(name, ents[e].name, nl) == 0) {
                    if (o + 1 >= cap)
                        return false;
                    out[o++] = ents[e].c;
                    done = true;
                    break;
                }
        }
        if (!done)
            return false;
        i = (size_t)(semi - s) + 1;
    }
    out[o] = '\0';
    return true;
}

bool s3_xml_text(const char *xml, size_t len, const char *tag, char *out,
                 size_t cap)
{
    const char *p = xml, *inner;
    size_t n;
    if (!s3_xml_next(&p, xml + len, tag, &inner, &n))
        return false;
    return s3_xml_decode(inner, n, out, cap);
}
