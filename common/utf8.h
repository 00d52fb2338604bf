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

/* True if the well-formed sequence of len bytes at s (as measured by
 * fg_utf8_seq) is a bidirectional formatting character: U+061C, U+200E,
 * U+200F, U+202A..U+202E (embeddings, overrides) and U+2066..U+2069
 * (isolates). Shown in a name, they reorder what follows, so that
 * "invoice\u202Egpj.exe" reads as "invoiceexe.jpg". Every name we show
 * (Content-Disposition, zip entries, manifests) replaces them.
 * This function can't fail. */
bool fg_utf8_is_bidi_control(const unsigned char *s, size_t len);

#endif
