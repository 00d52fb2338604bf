#include "fcgi/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/utf8.h"
#include "fcgi/config.h"

static fcgi_log_level max_level = FCGI_LOG_INFO;

void fcgi_log_set_level(fcgi_log_level level) { max_level = level; }

/* The line being built; bytes past its end are dropped, so a long line is
 * cut, never split across writes. One byte is kept for the newline. */
typedef struct line {
    char buf[2048];
    size_t n;
} line;

static void put(line *l, const char *s, size_t len)
{
    size_t room = sizeof l->buf - 1 - l->n;
    if (len > room)
        len = room;
    memcpy(l->buf + l->n, s, len);
    l->n += len;
}

/* A byte a value must not carry as it is: controls (a CR or LF would end
 * the line and let a client forge the next one), quotes and backslashes
 * (they would end or fake a quoted value). */
static bool special(unsigned char c) { return c < 0x20 || c == 0x7f || c == '"' || c == '\\'; }

/* Writes s escaped: \" \\ \n \r \t, and \xNN for every other control
 * byte and every byte that is not well-formed UTF-8 (C1 controls
 * included). Outside a quoted part of the format, a value that is empty
 * or holds a space, '=' or anything escaped is put in quotes, so it stays
 * one logfmt value and cannot add a key. */
static void put_value(line *l, const char *s, size_t max, bool in_quotes)
{
    size_t len = strnlen(s, max);
    const unsigned char *u = (const unsigned char *)s;
    bool quote = false;
    if (!in_quotes) {
        quote = len == 0;
        for (size_t i = 0; i < len && !quote; i++)
            quote = special(u[i]) || u[i] == ' ' || u[i] == '=' || u[i] >= 0x80;
    }
    if (quote)
        put(l, "\"", 1);
    for (size_t i = 0; i < len;) {
        size_t k = u[i] < 0x80 ? 1 : fg_utf8_seq(u + i, len - i);
        if (k == 2 && u[i] == 0xc2 && u[i + 1] <= 0x9f)
            k = 0; /* C1 control */
        if (k > 1) {
            put(l, s + i, k);
            i += k;
            continue;
        }
        char esc[5];
        unsigned char c = u[i++];
        if (k == 1 && !special(c)) {
            put(l, (const char *)&c, 1);
            continue;
        }
        switch (c) {
        case '"': put(l, "\\\"", 2); break;
        case '\\': put(l, "\\\\", 2); break;
        case '\n': put(l, "\\n", 2); break;
        case '\r': put(l, "\\r", 2); break;
        case '\t': put(l, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\x%02x", c);
            put(l, esc, 4);
        }
    }
    if (quote)
        put(l, "\"", 1);
}

/* printf for the log: every %s argument goes through put_value; numbers
 * and the rest are formatted by the C library, one conversion at a time.
 * The format itself is ours (a literal in the code) and is copied. */
static void log_format(line *l, const char *fmt, va_list ap)
{
    bool in_quotes = false;
    for (const char *p = fmt; *p;) {
        if (*p != '%') {
            if (*p == '"')
                in_quotes = !in_quotes;
            put(l, p++, 1);
            continue;
        }
        const char *start = p++;
        char spec[32];
        size_t sl = 0;
        int prec = -1;
        spec[sl++] = '%';
        /* The spec is rebuilt with any '*' replaced by its value, so the C
         * library gets one argument per call. */
        while (*p && strchr("-+ #0", *p) && sl < 8)
            spec[sl++] = *p++;
        if (*p == '*') {
            sl += (size_t)snprintf(spec + sl, 12, "%d", va_arg(ap, int));
            p++;
        }
        while (*p >= '0' && *p <= '9' && sl < 20)
            spec[sl++] = *p++;
        if (*p == '.') {
            p++;
            prec = 0;
            if (*p == '*') {
                prec = va_arg(ap, int);
                p++;
            }
            while (*p >= '0' && *p <= '9' && prec < 100000)
                prec = prec * 10 + (*p++ - '0');
            if (prec < 0)
                prec = -1;
            else
                sl += (size_t)snprintf(spec + sl, 8, ".%d", prec < 999 ? prec : 999);
        }
        char len1 = 0, len2 = 0;
        if (*p && strchr("hlzjtL", *p)) {
            spec[sl++] = len1 = *p++;
            if ((len1 == 'h' || len1 == 'l') && *p == len1)
                spec[sl++] = len2 = *p++;
        }
        char conv = *p ? *p++ : '\0';
        if (conv == '\0') {
            put(l, start, (size_t)(p - start));
            continue;
        }
        spec[sl++] = conv;
        spec[sl] = '\0';
        char out[128];
        int w = 0;
        switch (conv) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            put_value(l, s ? s : "(null)", prec >= 0 ? (size_t)prec : SIZE_MAX, in_quotes);
            continue;
        }
        case '%':
            put(l, "%", 1);
            continue;
        case 'c':
            w = snprintf(out, sizeof out, spec, va_arg(ap, int));
            break;
        case 'p':
            w = snprintf(out, sizeof out, spec, va_arg(ap, void *));
            break;
        case 'f': case 'F': case 'g': case 'G': case 'e': case 'E':
            w = len1 == 'L' ? snprintf(out, sizeof out, spec, va_arg(ap, long double))
                            : snprintf(out, sizeof out, spec, va_arg(ap, double));
            break;
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o':
            if (len1 == 'l' && len2 == 'l')
                w = snprintf(out, sizeof out, spec, va_arg(ap, long long));
            else if (len1 == 'l')
                w = snprintf(out, sizeof out, spec, va_arg(ap, long));
            else if (len1 == 'z')
                w = snprintf(out, sizeof out, spec, va_arg(ap, size_t));
            else if (len1 == 'j')
                w = snprintf(out, sizeof out, spec, va_arg(ap, intmax_t));
            else if (len1 == 't')
                w = snprintf(out, sizeof out, spec, va_arg(ap, ptrdiff_t));
            else
                w = snprintf(out, sizeof out, spec, va_arg(ap, int));
            break;
        default:
            /* %n and the like: never in a log line. */
            put(l, "?", 1);
            continue;
        }
        if (w > 0)
            put(l, out, (size_t)w < sizeof out ? (size_t)w : sizeof out - 1);
    }
}

void fcgi_log(fcgi_log_level level, const char *fmt, ...)
{
    if (level > max_level)
        return;
    line l = {.n = 0};
    struct timespec ts;
    struct tm tm;
    char head[64];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(head, sizeof head, "ts=%Y-%m-%dT%H:%M:%S", &tm);
    put(&l, head, n);
    n = (size_t)snprintf(head, sizeof head, ".%03ldZ level=%s ", ts.tv_nsec / 1000000,
                         fcgi_log_level_name(level));
    put(&l, head, n);
    va_list ap;
    va_start(ap, fmt);
    log_format(&l, fmt, ap);
    va_end(ap);
    l.buf[l.n++] = '\n';
    if (write(STDERR_FILENO, l.buf, l.n) < 0) {
        /* Nowhere left to report a failing log. */
    }
}
