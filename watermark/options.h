/* Setting stamping options by name, from the environment or the CLI.
 *
 * One table maps each option name ("max-pixels") to its field, its range
 * and its environment variable (FILIGRANE_MAX_PIXELS), so the CLI, the
 * environment and the sandbox runner agree on spelling and bounds. Also
 * the mark's placement seed, which the worker computes and passes as
 * --seed. Pure C and OpenSSL, no decoder: safe to link into the worker. */
#ifndef WM_OPTIONS_H
#define WM_OPTIONS_H

#include "watermark/wm.h"

/* Parses value and stores it in the option called name (without the
 * leading "--"): max-edge, opacity, seed, quality, max-pixels, max-bytes,
 * max-frames, pdf-dpi, max-pages, excerpt-pages, text-max-line, max-seconds,
 * salt (64 hex digits). Returns FG_EUSAGE with a reason naming
 * the option if the name is unknown or the value malformed or out of
 * range; o is unchanged then. */
FG_MUST_CHECK fg_result wm_options_set(wm_options *o, const char *name,
                                       const char *value, fg_reason *r);

/* Adds a template variable from "name=value", splitting spec in place
 * (its '=' becomes the name's terminator) and borrowing both halves: spec
 * must outlive o. A name given twice keeps the last value. Returns
 * FG_EUSAGE if spec has no '=', an invalid name, or there are already
 * FG_MAX_TEMPLATE_VARS; o and spec are unchanged then. */
FG_MUST_CHECK fg_result wm_options_add_var(wm_options *o, char *spec,
                                           fg_reason *r);

/* ---- the mark's placement seed ---- */

/* The environment variable holding the key of the placement seed, and its
 * shortest accepted length. */
#define WM_MARK_KEY_ENV "FILIGRANE_MARK_KEY"
#define WM_MARK_KEY_MIN_BYTES 32

/* The placement seed of one preview: the first 64 bits of
 * HMAC-SHA256(key, "filigrane-mark-v1\n" N(sha256_hex) N(order) N(buyer)),
 * N(s) being the netstring "<len>:<s>,", so no two different triples
 * encode alike. Nothing a buyer sees (the file's hash, the order, the
 * buyer) is enough to compute it without the key; a second order or a
 * second buyer of the same file gets another placement. NULL strings
 * count as empty. Returns FG_EIO if OpenSSL fails (out of memory); *seed
 * is set on FG_OK only. */
FG_MUST_CHECK fg_result wm_mark_seed(const void *key, size_t key_len,
                                     const char *sha256_hex, const char *order,
                                     const char *buyer, uint64_t *seed /* out */,
                                     fg_reason *r);

/* wm_mark_seed over the SHA-256 of the regular file at path, streamed.
 * Returns FG_ECORRUPT if the file cannot be opened, is not a regular file
 * or cannot be read, FG_EIO as wm_mark_seed. */
FG_MUST_CHECK fg_result wm_mark_seed_file(const void *key, size_t key_len,
                                          const char *path, const char *order,
                                          const char *buyer,
                                          uint64_t *seed /* out */,
                                          fg_reason *r);

/* The key from FILIGRANE_MARK_KEY: *key is NULL (FG_OK) when the variable
 * is unset or empty, borrowed from the environment otherwise. Returns
 * FG_EUSAGE, naming the variable and never its value, when it is shorter
 * than WM_MARK_KEY_MIN_BYTES. Not thread-safe (getenv). */
FG_MUST_CHECK fg_result wm_mark_key_from_env(const char **key /* out */,
                                             fg_reason *r);

/* 64 fresh random bits from the kernel (getrandom), for a preview whose
 * placement nobody needs to reproduce. Returns FG_EIO if the kernel has
 * none to give. */
FG_MUST_CHECK fg_result wm_random_seed(uint64_t *seed /* out */, fg_reason *r);

#endif
