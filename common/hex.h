/* Hexadecimal, for hashes, salts and percent-encoded bytes: one set of
 * helpers for every module. Pure C, safe everywhere. */
#ifndef FG_HEX_H
#define FG_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* The value of one hex digit (either case), or -1 for any other
 * character. Can't fail. */
int fg_hex_nibble(int c);

/* Writes n bytes as 2n lowercase hex digits and a NUL. Can't fail. */
void fg_hex_encode(const unsigned char *d, size_t n, char *out /* out */);

/* Reads exactly 2n hex digits (either case) into n bytes; false for any
 * other length or character (out is then unspecified). Can't fail. */
bool fg_hex_decode(const char *hex, unsigned char *out /* out */, size_t n);

#endif
