/* Watermark text templates: "{name}" placeholders filled from variables.
 *
 * Written by hand rather than with a template library: the language is
 * one construct, and this file must stay free of glib and libvips because
 * the worker links it. Values come from the order system (a buyer's name),
 * so the output is made valid single-line UTF-8 here; markup escaping is
 * the renderer's job. */
#include "watermark/wm.h"

#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static int buf_put(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* What is left dangling around a placeholder that expands to nothing. */
static const char *const separators[] = {
    " ", "\t", "\xc2\xb7" /* · */, "\xe2\x80\xa2" /* • */,
    "\xe2\x80\x93" /* – */, "\xe2\x80\x94" /* — */, "-", "|", ",", ":", "/",
};
#define NSEP (sizeof separators / sizeof separators[0])

static size_t sep_at(const char *s)
{
    for (size_t i = 0; i < NSEP; i++) {
        size_t n = strlen(separators[i]);
        if (strncmp(s, separators[i], n) == 0)
            return n;
    }
    return 0;
}

static void strip_trailing_separators(buf *b)
{
    for (;;) {
        size_t i, n = 0;
        for (i = 0; i < NSEP; i++) {
            n = strlen(separators[i]);
            if (b->len >= n && memcmp(b->p + b->len - n, separators[i], n) == 0)
                break;
        }
        if (i == NSEP)
            return;
        b->len -= n;
        b->p[b->len] = '\0';
    }
}

/* Appends s as valid single-line UTF-8: an invalid byte becomes U+FFFD,
 * a control character a space. */
static int put_clean(buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = fg_utf8_seq(u + i, n - i);
        int rc;
        if (k == 0) {
            rc = buf_put(b, "\xef\xbf\xbd", 3);
            k = 1;
        } else if (k == 1 && (u[i] < 0x20 || u[i] == 0x7f)) {
            rc = buf_put(b, " ", 1);
        } else {
            rc = buf_put(b, s + i, k);
        }
        if (rc != 0)
            return -1;
        i += k;
    }
    return 0;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* Length of a valid placeholder name starting at s and closed by '}',
 * or 0 if s does not start one. */
static size_t name_len(const char *s)
{
    size_t n = 0;
    while (n <= FG_MAX_VAR_NAME && is_name_char(s[n]))
        n++;
    return (n > 0 && n <= FG_MAX_VAR_NAME && s[n] == '}') ? n : 0;
}

static const char *lookup(const char *name, size_t n, const wm_var *vars,
                          int nvars)
{
    const char *v = NULL;
    for (int i = 0; i < nvars; i++)
        if (vars[i].name && strlen(vars[i].name) == n &&
            memcmp(vars[i].name, name, n) == 0)
            v = vars[i].value; /* the last one given wins */
    return v;
}

char *wm_template_expand(const char *tmpl, const wm_var *vars, int nvars)
{
    buf b = {0};
    const char *p = tmpl ? tmpl : WM_DEFAULT_TEMPLATE;
    int skip_sep = 0; /* after an empty placeholder at the start */
    if (buf_put(&b, "", 0) != 0)
        goto fail;
    while (*p) {
        size_t n;
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            if (buf_put(&b, p, 1) != 0)
                goto fail;
            p += 2;
            skip_sep = 0;
        } else if (p[0] == '{' && (n = name_len(p + 1)) > 0) {
            const char *v = lookup(p + 1, n, vars, nvars);
            p += n + 2;
            if (v && *v) {
                if (put_clean(&b, v, strlen(v)) != 0)
                    goto fail;
                skip_sep = 0;
            } else if (b.len > 0) {
                strip_trailing_separators(&b);
            } else {
                skip_sep = 1;
            }
        } else if (skip_sep && (n = sep_at(p)) > 0) {
            p += n;
        } else {
            n = fg_utf8_seq((const unsigned char *)p, strlen(p));
            if (put_clean(&b, p, n ? n : 1) != 0)
                goto fail;
            p += n ? n : 1;
            skip_sep = 0;
        }
    }
    if (b.len > FG_MAX_MARK_TEXT) {
        b.len = FG_MAX_MARK_TEXT;
        while (b.len > 0 && ((unsigned char)b.p[b.len] & 0xc0) == 0x80)
            b.len--;
        b.p[b.len] = '\0';
    }
    while (b.len > 0 && b.p[b.len - 1] == ' ')
        b.p[--b.len] = '\0';
    size_t lead = 0;
    while (lead < b.len && b.p[lead] == ' ')
        lead++;
    memmove(b.p, b.p + lead, b.len - lead + 1);
    return b.p;
fail:
    free(b.p);
    return NULL;
}
