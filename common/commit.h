/* Salted commitments: what a buyer is shown of a file's content before
 * release.
 *
 * A plain SHA-256 of a short secret (a PIN, a licence key) is as good as
 * the secret: anyone can hash every candidate and compare. So before
 * release the buyer sees a commitment instead,
 *
 *   commitment = SHA-256(salt || content)
 *
 * with a salt of FG_SALT_BYTES random bytes chosen per file at upload. At
 * release the salt (and the plain SHA-256) are revealed, and the buyer
 * checks that what was released is what was committed to.
 *
 * An archive's entries get salts derived from their file's salt,
 *
 *   entry_salt = HMAC-SHA256(key = file salt, "filigrane-entry-v1" || name)
 *
 * name being the entry's name exactly as the manifest shows it, so that
 * the one revealed file salt lets the buyer check every entry.
 *
 * Everything here is pure computation on the caller's bytes (OpenSSL
 * only): safe to link into the worker, the CLI and the fuzz targets. */
#ifndef FG_COMMIT_H
#define FG_COMMIT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "common/hex.h"
#include "common/result.h"

#define FG_SALT_BYTES 32
/* Hex of a salt or of a SHA-256 (both 32 bytes), plus its NUL. */
#define FG_HEX32_MAX 65
#define FG_ENTRY_SALT_LABEL "filigrane-entry-v1"

/* Fills salt with FG_SALT_BYTES from OpenSSL's RAND_bytes. FG_EIO if the
 * generator fails. */
FG_MUST_CHECK fg_result fg_salt_new(unsigned char salt[FG_SALT_BYTES] /* out */,
                                    fg_reason *r);

/* Starts a commitment: md is initialised for SHA-256 and fed the salt;
 * the caller feeds the content and finishes it with EVP_DigestFinal_ex.
 * FG_EIO if OpenSSL fails. */
FG_MUST_CHECK fg_result fg_commit_start(EVP_MD_CTX *md,
                                        const unsigned char salt[FG_SALT_BYTES],
                                        fg_reason *r);

/* The commitment to len bytes at data, as hex. FG_EIO if OpenSSL fails. */
FG_MUST_CHECK fg_result fg_commit_buffer(const unsigned char salt[FG_SALT_BYTES],
                                         const void *data, size_t len,
                                         char out[FG_HEX32_MAX] /* out */,
                                         fg_reason *r);

/* The salt of the archive entry called name (the manifest's spelling),
 * derived from its file's salt (above). FG_EIO if OpenSSL fails. */
FG_MUST_CHECK fg_result fg_commit_entry_salt(const unsigned char file_salt[FG_SALT_BYTES],
                                             const char *name,
                                             unsigned char out[FG_SALT_BYTES] /* out */,
                                             fg_reason *r);

#endif
