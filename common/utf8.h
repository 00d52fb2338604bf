/* UTF-8, as RFC 3629 defines it: one decoder for file names, header
 * values, watermark text and archive entry names alike.
 *
 * Written here rather than taken from glib: the worker links no glib, and
 * the rules are short. */
#ifndef FG_UTF8_H
#define FG_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1 to 4) of the well-formed UTF-8 sequence at s, which has n > 0
 * bytes left, or 0 if there is none: overlong forms, UTF-16 surrogates,
 * code points past U+10FFFF and cut sequences are not well-formed.
 * This function can't fail. */
size_t fg_utf8_seq(const unsigned char *s, size_t n);

/* True if the len bytes at s are all well-formed UTF-8 (an embedded NUL is
 * U+0000, which is). This function can't fail. */
bool fg_utf8_valid(const char *s, size_t len);

#endif
