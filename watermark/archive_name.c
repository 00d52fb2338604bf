#include "watermark/archive_name.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0.
 * C1 controls (U+0080..U+009F) and bidi controls (U+202E and the like)
 * count as not well-formed here: their bytes are escaped like C0 ones. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = fg_utf8_seq(s, n);
    if (len == 2 && s[0] == 0xc2 && s[1] <= 0x9f)
        return 0;
    /* Bidi controls are escaped too: shown, they reorder the name. */
    if (fg_utf8_is_bidi_control(s, len))
        return 0;
    return len;
}

char *wm_archive_name_escape(const char *raw, size_t max)
{
    if (!raw)
        raw = "";
    size_t n = strnlen(raw, max);
    /* Worst case: every byte becomes "\xNN". */
    char *out = malloc(n * 4 + 1);
    if (!out)
        return NULL;
    const unsigned char *s = (const unsigned char *)raw;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(s + i, n - i);
        bool plain = len > 0 && !(len == 1 && (s[i] < 0x20 || s[i] == 0x7f ||
                                               s[i] == '\\'));
        if (plain) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            snprintf(out + o, 5, "\\x%02x", s[i]);
            o += 4;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

char *wm_archive_name_safe(const char *escaped, long index)
{
    size_t n = strlen(escaped);
    char *out = malloc(n + 32);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = escaped;
    /* "C:" at the start is a drive, not a folder. */
    if (((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z') && p[1] == ':')
        p += 2;
    while (*p) {
        size_t len = strcspn(p, "/");
        bool skip = len == 0 || (len == 1 && p[0] == '.') ||
                    (len == 2 && p[0] == '.' && p[1] == '.');
        if (!skip) {
            if (o)
                out[o++] = '/';
            /* Windows extractors split on '\\' (which the escapes hold)
             * and give ':' and the like a meaning: none survive. */
            for (size_t k = 0; k < len; k++)
                out[o++] = strchr("\\:*?\"<>|", p[k]) ? '_' : p[k];
        }
        p += len;
        if (*p == '/')
            p++;
    }
    out[o] = '\0';
    if (o == 0)
        snprintf(out, n + 32, "entry-%ld", index);
    return out;
}
