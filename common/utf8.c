#include "common/utf8.h"

size_t fg_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0; /* a continuation byte, 0xc0/0xc1 (always overlong), 0xf5+ */
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

bool fg_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t k = fg_utf8_seq(u + i, len - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

bool fg_utf8_is_bidi_control(const unsigned char *s, size_t len)
{
    if (len == 2)
        return s[0] == 0xd8 && s[1] == 0x9c; /* U+061C ARABIC LETTER MARK */
    if (len != 3 || s[0] != 0xe2)
        return false;
    unsigned cp = (unsigned)(s[1] & 0x3f) << 6 | (s[2] & 0x3f); /* low 12 bits */
    cp |= 0x2000;
    return cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}
