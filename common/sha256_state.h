/* A SHA-256 whose state can be written down and taken up again: the hash
 * of a tus upload (fcgi/h_tus.c) is computed as its chunks arrive, one
 * PATCH request at a time, possibly across restarts or on another node,
 * so the state between two chunks lives in the metadata store.
 *
 * OpenSSL's EVP contexts cannot be exported, so this wraps its low-level
 * SHA256_CTX (common/sha256_state.c, the one file that includes the
 * deprecated API) and serialises it field by field in a fixed byte order,
 * never as the raw struct: the text is the same on every architecture. */
#ifndef FG_SHA256_STATE_H
#define FG_SHA256_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/result.h"

/* The state as lowercase hex: 8 + 2 words, 64 block bytes, 2 words:
 * 4 * 12 + 64 = 112 bytes, 224 hex digits, plus the NUL. */
#define FG_SHA256_STATE_HEX_MAX 225

/* Opaque enough: the bytes of OpenSSL's SHA256_CTX, aligned for it. */
typedef struct fg_sha256 {
    _Alignas(8) unsigned char opaque[128];
} fg_sha256;

/* Starts a hash. Can't fail. */
void fg_sha256_init(fg_sha256 *h /* out */);
/* Feeds len bytes. Can't fail. */
void fg_sha256_update(fg_sha256 *h, const void *data, size_t len);
/* The digest of what was fed so far, as 64 hex digits; h is left as it
 * was (a copy is finished), so feeding may go on. Can't fail. */
void fg_sha256_peek_hex(const fg_sha256 *h, char out[65] /* out */);
/* The same, as the 32 bytes of the digest. Can't fail. */
void fg_sha256_peek(const fg_sha256 *h, unsigned char out[32] /* out */);
/* Writes the state as hex. Can't fail. */
void fg_sha256_save(const fg_sha256 *h, char out[FG_SHA256_STATE_HEX_MAX] /* out */);
/* Reads a state written by fg_sha256_save. FG_ECORRUPT if text is not
 * one (length, digits, a block position out of range). */
FG_MUST_CHECK fg_result fg_sha256_load(fg_sha256 *h /* out */, const char *text, fg_reason *r);

#endif
