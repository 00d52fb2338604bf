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
static bool json_lines;

void fcgi_log_set_level(fcgi_log_level level) { max_level = level; }
void fcgi_log_set_json(bool json) { json_lines = json; }

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

/* ---- FILIGRANE_LOG_FORMAT=json ----
 *
 * The message is first written as logfmt (log_format: every value
 * escaped, so a client's text cannot add a key or a line), then read back
 * into JSON: key=value pairs become fields, req= the request_id, the other
 * words the msg. The JSON line is built in a buffer large enough for the
 * worst escaping of a whole logfmt line, less a reserve for the closing
 * "}}\n", so it is always one whole object. */

typedef struct jline {
    char buf[sizeof(((line *)0)->buf) * 6 + 256];
    size_t n;
} jline;
#define JRESERVE 8

static void jput(jline *j, const char *s, size_t len)
{
    size_t room = sizeof j->buf - JRESERVE - j->n;
    if (len > room)
        len = room;
    memcpy(j->buf + j->n, s, len);
    j->n += len;
}

/* Writes s[0..len) as the inside of a JSON string: quotes, backslashes
 * and controls escaped, bytes that are not well-formed UTF-8 (a line cut
 * inside a character) as U+FFFD. Stops at a character that would not fit
 * whole, so the string still closes. */
static void jput_str(jline *j, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        char esc[8];
        size_t k = 1;
        const char *out = esc;
        size_t olen;
        if (u[i] >= 0x80) {
            k = fg_utf8_seq(u + i, len - i);
            if (k == 0) {
                k = 1;
                out = "\\ufffd";
                olen = 6;
            } else {
                out = s + i;
                olen = k;
            }
        } else if (u[i] == '"' || u[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char)u[i];
            olen = 2;
        } else if (u[i] < 0x20 || u[i] == 0x7f) {
            olen = (size_t)snprintf(esc, sizeof esc, "\\u%04x", u[i]);
        } else {
            out = s + i;
            olen = 1;
        }
        if (olen > sizeof j->buf - JRESERVE - 1 - j->n)
            return; /* one byte kept for the closing quote */
        jput(j, out, olen);
        i += k;
    }
}

static void jput_qstr(jline *j, const char *s, size_t len)
{
    jput(j, "\"", 1);
    jput_str(j, s, len);
    j->n = j->n < sizeof j->buf - JRESERVE ? j->n : sizeof j->buf - JRESERVE - 1;
    j->buf[j->n++] = '"';
}

/* Undoes put_value's \" \\ \n \r \t inside a quoted value; \xNN (a
 * byte that was not text) stays as those four characters. Returns the
 * length written into out (at most len). */
static size_t unquote(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len && strchr("\"\\nrt", s[i + 1])) {
            char c = s[++i];
            out[o++] = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

/* One logfmt token at p (the key starts there): its end, and for
 * key=value the key's length and the value's bounds (quotes excluded). */
static const char *token(const char *p, const char *end, size_t *klen, const char **v,
                         size_t *vlen, bool *quoted)
{
    const char *k = p;
    *klen = 0;
    while (p < end && (*p == '_' || *p == '.' || (*p >= 'a' && *p <= 'z') ||
                       (*p >= 'A' && *p <= 'Z') || (p > k && *p >= '0' && *p <= '9')))
        p++;
    if (p > k && p < end && *p == '=') {
        *klen = (size_t)(p - k);
        p++;
    } else {
        p = k;
    }
    *quoted = p < end && *p == '"';
    if (*quoted) {
        const char *q = ++p;
        while (q < end && *q != '"')
            q += *q == '\\' && q + 1 < end ? 2 : 1;
        *v = p;
        *vlen = (size_t)((q < end ? q : end) - p);
        p = q < end ? q + 1 : end;
        const char *close = p;
        while (p < end && *p != ' ')
            p++; /* text glued after a closing quote stays in the token */
        if (*klen == 0 && p != close) { /* kept whole, quotes included */
            *v = k;
            *vlen = (size_t)(p - k);
            *quoted = false;
        }
        return p;
    }
    *v = p;
    while (p < end && *p != ' ')
        p++;
    *vlen = (size_t)(p - *v);
    return p;
}

static void write_json(const char *time, fcgi_log_level level, const line *msg)
{
    static __thread jline j;
    char tmp[sizeof msg->buf];
    const char *end = msg->buf + msg->n;
    j.n = 0;
    jput(&j, "{\"time\":", 8);
    jput_qstr(&j, time, strlen(time));
    jput(&j, ",\"level\":", 9);
    jput_qstr(&j, fcgi_log_level_name(level), strlen(fcgi_log_level_name(level)));
    /* msg: the words that are not key=value, in order. */
    jput(&j, ",\"msg\":\"", 8);
    bool first = true;
    for (const char *p = msg->buf; p < end;) {
        size_t klen, vlen;
        const char *v;
        bool q;
        const char *next = token(p, end, &klen, &v, &vlen, &q);
        if (klen == 0 && (vlen > 0 || q)) {
            if (!first)
                jput_str(&j, " ", 1);
            jput_str(&j, q ? tmp : v, q ? unquote(v, vlen, tmp) : vlen);
            first = false;
        }
        p = next < end ? next + 1 : end;
    }
    j.n = j.n < sizeof j.buf - JRESERVE ? j.n : sizeof j.buf - JRESERVE - 1;
    j.buf[j.n++] = '"';
    /* request_id, then every other key=value as a string. */
    bool fields = false;
    for (int pass = 0; pass < 2; pass++) {
        for (const char *p = msg->buf; p < end;) {
            size_t klen, vlen;
            const char *v;
            bool q;
            const char *key = p;
            const char *next = token(p, end, &klen, &v, &vlen, &q);
            p = next < end ? next + 1 : end;
            if (klen == 0)
                continue;
            bool req = klen == 3 && memcmp(key, "req", 3) == 0;
            if (req != (pass == 0))
                continue;
            size_t n = q ? unquote(v, vlen, tmp) : vlen;
            const char *val = q ? tmp : v;
            if (pass == 0) {
                jput(&j, ",\"request_id\":", 14);
            } else {
                jput(&j, fields ? "," : ",\"fields\":{", fields ? 1 : 11);
                fields = true;
                jput_qstr(&j, key, klen);
                jput(&j, ":", 1);
            }
            jput_qstr(&j, val, n);
        }
    }
    /* The reserve holds these whatever came before. */
    if (fields)
        j.buf[j.n++] = '}';
    j.buf[j.n++] = '}';
    j.buf[j.n++] = '\n';
    if (write(STDERR_FILENO, j.buf, j.n) < 0) {
        /* Nowhere left to report a failing log. */
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
    if (json_lines) {
        size_t n = strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(head + n, sizeof head - n, ".%03ldZ", ts.tv_nsec / 1000000);
        va_list ap;
        va_start(ap, fmt);
        log_format(&l, fmt, ap);
        va_end(ap);
        write_json(head, level, &l);
        return;
    }
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
