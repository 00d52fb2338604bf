#include "fcgi/disposition.h"

#include <stdio.h>
#include <string.h>

#include "common/utf8.h"

/* C1 controls (U+0080..U+009F) are two bytes, C2 80..C2 9F. */
static int is_control(const unsigned char *u, size_t l)
{
    return (l == 1 && (u[0] < 0x20 || u[0] == 0x7f)) ||
           (l == 2 && u[0] == 0xc2 && u[1] <= 0x9f);
}

/* The safe name: valid UTF-8, no controls, at most the limit. */
static size_t clean(const char *name, char *out)
{
    size_t n = strlen(name), o = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)name + i;
        size_t l = fg_utf8_seq(u, n - i);
        const unsigned char *src = u;
        size_t step = l ? l : 1;
        /* Invalid bytes and bidi controls (which would make
         * "invoice\u202Egpj.exe" read as "invoiceexe.jpg") become U+FFFD. */
        if (l == 0 || fg_utf8_is_bidi_control(u, l)) {
            src = (const unsigned char *)"\xef\xbf\xbd";
            l = 3;
        }
        i += step;
        if (is_control(src, l))
            continue;
        if (o + l > FG_DISPOSITION_MAX_NAME_BYTES)
            break;
        memcpy(out + o, src, l);
        o += l;
    }
    out[o] = '\0';
    return o;
}

static int attr_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$&+-.^_`|~", c));
}

void fcgi_disposition(enum fcgi_disposition kind, const char *name,
                      char out[FCGI_DISPOSITION_BYTES])
{
    const char *type =
        kind == FCGI_DISPOSITION_INLINE ? "inline" : "attachment";
    char safe[FG_DISPOSITION_MAX_NAME_BYTES + 1];
    size_t n = name ? clean(name, safe) : 0;
    size_t o = (size_t)snprintf(out, FCGI_DISPOSITION_BYTES, "%s", type);
    if (n == 0)
        return;

    /* Worst case: 12 + n fallback + 19 + 3n + 1 < 64 + 4 * max. */
    memcpy(out + o, "; filename=\"", 12);
    o += 12;
    size_t start = o;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)safe + i;
        size_t l = fg_utf8_seq(u, n - i);
        i += l;
        if (l > 1 || *u == '/' || *u == '%')
            out[o++] = '_';
        else if (*u != '"' && *u != '\\')
            out[o++] = (char)*u;
    }
    if (o == start)
        out[o++] = '_';
    memcpy(out + o, "\"; filename*=UTF-8''", 20);
    o += 20;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)safe[i];
        if (attr_char(c)) {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, 4, "%%%02X", c);
            o += 3;
        }
    }
    out[o] = '\0';
}
