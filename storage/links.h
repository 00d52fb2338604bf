/* Scoped links and download limits (DESIGN, routes table: links;
 * order.created's max_downloads).
 *
 * A link is a credential: whoever holds its id may fetch one file for one
 * purpose until it expires, runs out of uses or is revoked. The store
 * never holds the id itself, only its SHA-256 (store_link_hash): a copy
 * of the database, a backup or a log of queries hands out no working
 * link, and a lookup by hash needs no constant-time comparison (the
 * index compares hashes of guesses, not the secret).
 *
 * Uses and downloads are counted by guarded UPDATEs (one statement each,
 * atomic on both engines): two requests racing for the last use both run
 * "uses < max_uses"; SQLite serialises them under its write lock,
 * PostgreSQL's second UPDATE waits for the first's row lock and re-checks
 * its WHERE on the new row (READ COMMITTED), so exactly one wins. */
#ifndef STORE_LINKS_H
#define STORE_LINKS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/result.h"
#include "storage/meta.h"

#define STORE_LINK_PREVIEW "preview"
#define STORE_LINK_ORIGINAL "original"

/* A link id: 32 random bytes as 64 lowercase hex, plus its NUL. */
#define STORE_LINK_ID_LEN 64
#define STORE_LINK_ID_MAX (STORE_LINK_ID_LEN + 1)
/* What the audit trail names a link by: the first 16 hex digits of its
 * hash (not of its id), plus the NUL. */
#define STORE_LINK_REF_MAX 17

typedef struct store_link {
    char hash[STORE_HEX_MAX];          /* SHA-256 of the id, hex */
    char file_id[STORE_FILE_ID_MAX];
    char order_id[FG_MAX_ID + 1];
    char purpose[STORE_WORD_MAX];      /* STORE_LINK_PREVIEW | _ORIGINAL */
    char minted_by[FG_MAX_ACTOR + 1];  /* "seller:s-7": the audit actor */
    char minted_role[STORE_WORD_MAX];  /* "seller" | "buyer" | "admin" */
    char created_at[STORE_TIME_MAX];
    int64_t expires_at;                /* unix seconds */
    int64_t max_uses;                  /* 1 .. FG_LINK_MAX_USES */
    int64_t uses;                      /* 0 .. max_uses */
    char revoked_at[STORE_TIME_MAX];   /* "" unless revoked */
} store_link;

/* Makes a new link id (OpenSSL RAND_bytes) into id and its hash into hash.
 * FG_EIO if the generator fails. */
FG_MUST_CHECK fg_result store_link_id_new(char id[STORE_LINK_ID_MAX] /* out */,
                                          char hash[STORE_HEX_MAX] /* out */,
                                          fg_reason *r);

/* The hash under which link id is stored (any string: a guess from a URL
 * is hashed the same way and simply not found). Can't fail. */
void store_link_hash(const char *id, char hash[STORE_HEX_MAX] /* out */);

/* The audit trail's name for a link: the first 16 hex of its hash. */
void store_link_ref(const char *hash, char ref[STORE_LINK_REF_MAX] /* out */);

/* Records l (uses and revoked_at ignored: 0 and ""; created_at "" for
 * now). Checks every field: FG_EUSAGE / FG_ELIMIT. FG_ESTATE if the hash
 * exists. Joins the caller's write transaction, if one is open. */
FG_MUST_CHECK fg_result store_link_add(store_meta *m, const store_link *l, fg_reason *r);

/* Fills *out with the link stored under hash; FG_ENOTFOUND if none. */
FG_MUST_CHECK fg_result store_link_get(store_meta *m, const char *hash,
                                       store_link *out /* out */, fg_reason *r);

/* Takes one use of the link under hash, if it is unrevoked, unexpired at
 * now (unix seconds: expires_at > now) and has uses left, in one guarded
 * statement. *taken says whether it did, *uses (may be NULL) the count
 * after. FG_OK with *taken false is the refusal; the caller reads the
 * link again to say why. */
FG_MUST_CHECK fg_result store_link_use(store_meta *m, const char *hash, int64_t now,
                                       bool *taken /* out */, int64_t *uses /* out */,
                                       fg_reason *r);

/* Revokes the link under hash at `at` (NULL: now). *revoked false when it
 * was revoked already (the first revocation's time stays). FG_ENOTFOUND
 * if there is no such link. */
FG_MUST_CHECK fg_result store_link_revoke(store_meta *m, const char *hash, const char *at,
                                          bool *revoked /* out */, fg_reason *r);

/* Sets order_id's per-file download limit for its buyer: n in
 * 1..FG_MAX_DOWNLOADS_LIMIT, or 0 for none. FG_ENOTFOUND if no such
 * order. */
FG_MUST_CHECK fg_result store_order_set_max_downloads(store_meta *m, const char *order_id,
                                                      int64_t n, fg_reason *r);

/* The limit of order_id into *n (0: none). FG_ENOTFOUND if no such
 * order. */
FG_MUST_CHECK fg_result store_order_max_downloads(store_meta *m, const char *order_id,
                                                  int64_t *n /* out */, fg_reason *r);

/* Adds one to file id's buyer download counter unless that would pass its
 * order's max_downloads, in one guarded statement. *taken false (and
 * nothing changed) when the limit is reached; *after the count after (or
 * the count that refused). FG_ENOTFOUND if no such file. */
FG_MUST_CHECK fg_result store_file_count_download(store_meta *m, const char *id,
                                                  bool *taken /* out */,
                                                  int64_t *after /* out */, fg_reason *r);

#endif
