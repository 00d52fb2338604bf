/* The audit trail: append-only and hash-chained, shared by every backend.
 *
 * One global chain (seq 1, 2, 3, ...) holds every event of every order, so
 * one walk verifies everything. Each entry's hash is SHA-256 over its
 * canonical serialisation (below), which includes the previous entry's
 * hash: changing, removing or reordering any entry breaks every hash after
 * it. Backends only store and return rows (storage/meta_impl.h); the chain
 * logic lives in storage/audit.c. SQLite also refuses UPDATE and DELETE on
 * the table with triggers, so the chain is not broken by accident.
 *
 * Canonical serialisation (what a client recomputes to check a row):
 *
 *   "filigrane-audit-v1\n" then, for each of seq (decimal), order_id ("" for
 *   a global event), at, actor, action, detail, prev_hash, in that order,
 *   a netstring: <decimal byte length> ":" <bytes> ","
 *
 *   hash = lowercase hex SHA-256 of that byte string.
 *
 * The first entry's prev_hash is 64 "0". Netstrings make the encoding
 * unambiguous for any bytes in any field, with no escaping rules to agree
 * on. */
#ifndef STORE_AUDIT_H
#define STORE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/result.h"
#include "storage/meta.h"

#define STORE_AUDIT_GENESIS                                                  \
    "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct store_audit_entry {
    int64_t seq;
    char order_id[FG_MAX_ID + 1]; /* "" for a global event */
    char at[STORE_TIME_MAX];
    char actor[FG_MAX_ACTOR + 1];   /* "seller:s-7", "order-system", ... */
    char action[FG_MAX_ACTION + 1]; /* "order.created", "file.uploaded", ... */
    char *detail;                   /* JSON text, heap, owned by the entry */
    char prev_hash[STORE_HEX_MAX];
    char hash[STORE_HEX_MAX];
} store_audit_entry;

typedef struct store_audit_list {
    store_audit_entry *items; /* heap, owned by the list */
    size_t n;
} store_audit_list;

/* Appends one entry: seq and prev_hash follow the current head, hash is
 * computed here. order_id NULL or "" for a global event; detail_json NULL
 * for "{}" (stored as given: the caller made it with a JSON library); at
 * NULL for now. Inside the caller's write transaction (store_meta_begin)
 * the entry commits with the caller's other changes; outside any, it runs
 * in its own write transaction. Inside a read transaction: FG_EUSAGE.
 * actor 1..FG_MAX_ACTOR and action 1..FG_MAX_ACTION bytes, detail up to
 * FG_MAX_AUDIT_DETAIL (FG_ELIMIT / FG_EUSAGE otherwise). seq_out (may be
 * NULL) receives the new entry's seq. */
FG_MUST_CHECK fg_result store_audit_append(store_meta *m, const char *order_id,
                                           const char *actor,
                                           const char *action,
                                           const char *detail_json,
                                           const char *at,
                                           int64_t *seq_out /* out */,
                                           fg_reason *r);

/* Lists the entries of one order by seq (order_id NULL: every entry, for
 * the CLI), starting after seq `after` (0 from the start), at most `limit`
 * rows (0 or more than FG_MAX_LIST_ROWS: FG_MAX_LIST_ROWS). Each entry has
 * its hash and prev_hash, so a client can recompute its slice. On success
 * the caller owns *out (store_audit_list_release); on failure *out is
 * empty. */
FG_MUST_CHECK fg_result store_audit_list_get(store_meta *m,
                                             const char *order_id,
                                             int64_t after, size_t limit,
                                             store_audit_list *out /* out */,
                                             fg_reason *r);

/* One page of an order's trail for the API: at most limit entries
 * (1..FG_AUDIT_PAGE_MAX, else FG_EUSAGE) after seq `after`, in seq order;
 * *more is set when entries remain past the page (one extra row is read
 * to know, and dropped). Memory is bounded by the page, whatever the
 * trail's length. On success the caller owns *out; on failure *out is
 * empty. */
FG_MUST_CHECK fg_result store_audit_page_get(store_meta *m, const char *order_id,
                                             int64_t after, size_t limit,
                                             store_audit_list *out /* out */,
                                             bool *more /* out */, fg_reason *r);

/* Frees the entries and empties the list. Accepts NULL and empty lists. */
void store_audit_list_release(store_audit_list *l);

typedef struct store_audit_report {
    int64_t count;      /* entries walked */
    int64_t first_bad;  /* seq of the first broken entry; 0 if intact */
    char head[STORE_HEX_MAX]; /* when intact: hash of the last entry
                                 (genesis if none). Kept outside the
                                 database, it also proves that no entry was
                                 cut off the end, which the chain alone
                                 cannot show. When broken: the last good
                                 hash. */
    char why[FG_REASON_MAX];  /* what is wrong with first_bad, "" if intact */
} store_audit_report;

/* Walks the whole chain in seq order and checks each entry: seq is the
 * previous seq + 1 (starting at 1), prev_hash is the previous hash, hash
 * is the recomputed one. Returns FG_OK with first_bad 0 if the chain is
 * intact, FG_ECORRUPT with first_bad and why set at the first broken
 * entry, FG_EIO if it cannot be read. Memory use is one entry at a time. */
FG_MUST_CHECK fg_result store_audit_verify(store_meta *m,
                                           store_audit_report *out /* out */,
                                           fg_reason *r);

/* Computes the hash of e from its fields (seq, order_id, at, actor, action,
 * detail, prev_hash; e->hash is not read) into out. Exposed for clients of
 * the API and for tests. FG_EIO only if OpenSSL fails. */
FG_MUST_CHECK fg_result store_audit_hash(const store_audit_entry *e,
                                         char out[STORE_HEX_MAX] /* out */,
                                         fg_reason *r);

#endif
