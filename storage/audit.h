/* The audit trail: append-only, one hash chain per order, shared by every
 * backend.
 *
 * Chains. Every entry belongs to one chain, keyed by its order id; entries
 * about no order (a webhook for an unknown order, service events) form the
 * service chain, key "". Within a chain, seq runs 1, 2, 3, ... and each
 * entry's hash covers the previous entry's hash: changing, removing or
 * reordering an entry breaks every hash after it in its chain. Chains are
 * independent, so appends to two orders never wait on each other (no
 * global lock: DESIGN, Settled details "Chains").
 *
 * Heads. audit_heads holds each chain's last (seq, hash, at); it is
 * written in the append's transaction, and appending locks the chain's
 * row (storage/meta_impl.h), so two appends to one chain queue.
 *
 * Checkpoints. A chain alone cannot show that it was dropped whole, or
 * cut at its end. A periodic job (orders/checkpoint_job.h, every
 * FILIGRANE_CHECKPOINT_INTERVAL) writes a checkpoint: the heads changed
 * since the previous checkpoint, itself hash-chained to the previous
 * checkpoint. Verifying then checks that every (chain, seq, hash) a
 * checkpoint names is still there, so dropping an order's entries, or the
 * end of a chain, shows once a checkpoint has covered them. What was
 * appended after the last checkpoint is protected by its chain only; the
 * last checkpoint's hash, kept outside the database (the CLI prints it),
 * covers the checkpoints themselves.
 *
 * Exact strings hashed (what a client recomputes with openssl and jq; a
 * netstring is <decimal byte length> ":" <bytes> ",", lengths in bytes,
 * so any bytes in any field are unambiguous with no escaping rules):
 *
 *   entry:      "filigrane-audit-v2\n"
 *               ns(chain) ns(seq) ns(at) ns(actor) ns(action) ns(detail)
 *               ns(prev_hash)
 *   checkpoint: "filigrane-checkpoint-v1\n"
 *               ns(seq) ns(at) ns(heads) ns(legacy) ns(prev_hash)
 *
 *   hash = lowercase hex SHA-256 of that byte string. Numbers are decimal
 *   with no sign or leading zero. chain is the order id, "" for the
 *   service chain. at is RFC 3339 UTC, "2026-11-28T11:30:00.000Z".
 *   detail is the JSON text as stored (not re-serialised). The first
 *   entry of a chain has prev_hash STORE_AUDIT_GENESIS (64 "0").
 *
 *   heads is a JSON array, sorted by chain (bytewise), with no spaces:
 *     [["",3,"<hex>"],["o-1",5,"<hex>"]]
 *   one [chain, seq, hash of the entry at seq] per chain whose head moved
 *   since the previous checkpoint ("[]" never: no change, no checkpoint).
 *   Ids hold no character JSON escapes (common/id.h), so this text is the
 *   one way to write it.
 *   legacy is "" except in the checkpoint written by the migration from
 *   the single global chain (schema step 9):
 *     {"entries":N,"head":"<hex>","broken_at":K}
 *   N entries were moved, head is the old chain's last stored hash, and
 *   broken_at is the old seq of its first broken entry (0: it verified).
 *   That checkpoint's prev_hash is the same old head (genesis when the
 *   old chain was empty), so the new checkpoint chain continues the old
 *   global chain: a head kept from before the upgrade is still checked.
 *   The first checkpoint otherwise has prev_hash genesis; checkpoint seq
 *   runs 1, 2, 3, ...
 *
 * Version 1 (before step 9), one global chain, hashed
 *   "filigrane-audit-v1\n" ns(seq) ns(order_id) ns(at) ns(actor)
 *   ns(action) ns(detail) ns(prev_hash)
 * is only read, by the migration (store_audit_hash_v1).
 *
 * Backends only store and return rows (storage/meta_impl.h); the chain
 * logic lives in storage/audit.c and storage/audit_verify.c. SQLite also
 * refuses UPDATE and DELETE on the entries and checkpoints with triggers,
 * so they are not broken by accident. */
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
    int64_t seq;       /* storage order over all chains (column seq),
                          given by the backend on insert; not hashed,
                          not shown: chains are what is checked */
    int64_t chain_seq; /* position in its chain from 1 (column chain_seq):
                          hashed as "seq", the API's "seq" */
    char order_id[FG_MAX_ID + 1]; /* the chain (column chain); "" for the
                                     service chain */
    char at[STORE_TIME_MAX];
    char actor[FG_MAX_ACTOR + 1];   /* "seller:s-7", "order-system", ... */
    char action[FG_MAX_ACTION + 1]; /* "order.created", "file.uploaded", ... */
    char *detail;                   /* JSON text, heap, owned by the entry */
    char prev_hash[STORE_HEX_MAX];
    char hash[STORE_HEX_MAX];
} store_audit_entry;

/* A chain's head (table audit_heads). */
typedef struct store_audit_head {
    char chain[FG_MAX_ID + 1]; /* order id, "" for the service chain */
    int64_t seq;               /* chain_seq of the last entry (0: a row
                                  made by a lock whose append rolled back
                                  never commits, so 0 is not stored) */
    char hash[STORE_HEX_MAX];  /* that entry's hash */
    char at[STORE_TIME_MAX];   /* that entry's at */
    int64_t checkpointed;      /* the seq the latest checkpoint naming this
                                  chain recorded (0: none yet) */
} store_audit_head;

/* At most this many heads in one checkpoint; more changed chains go in
 * the next one, which the job writes at once. A checkpoint row stays
 * under 1 MB (each head is at most 140 + 20 + 64 bytes of text). */
#define STORE_AUDIT_CHECKPOINT_HEADS 4000

/* The legacy field's capacity (see above; at most ~110 bytes). */
#define STORE_AUDIT_LEGACY_MAX 192

typedef struct store_audit_checkpoint {
    int64_t seq;                 /* 1, 2, 3, ... */
    char at[STORE_TIME_MAX];
    char *heads;                 /* JSON text (above), heap, owned */
    char legacy[STORE_AUDIT_LEGACY_MAX]; /* "" but for the migration's */
    char prev_hash[STORE_HEX_MAX];
    char hash[STORE_HEX_MAX];
} store_audit_checkpoint;

typedef struct store_audit_list {
    store_audit_entry *items; /* heap, owned by the list */
    size_t n;
} store_audit_list;

/* Appends one entry to the chain of order_id (NULL or "": the service
 * chain): chain_seq and prev_hash follow the chain's head, which this
 * locks (storage/meta_impl.h, audit_head), hash is computed here, and the
 * head moves in the same transaction. detail_json NULL for "{}" (stored as
 * given: the caller made it with a JSON library); at NULL for now. Inside
 * the caller's write transaction (store_meta_begin) the entry commits with
 * the caller's other changes; outside any, it runs in its own write
 * transaction. Inside a read transaction: FG_EUSAGE. actor
 * 1..FG_MAX_ACTOR and action 1..FG_MAX_ACTION bytes, detail up to
 * FG_MAX_AUDIT_DETAIL (FG_ELIMIT / FG_EUSAGE otherwise). A transaction
 * that appends to several chains must append in chain order (bytewise),
 * so that two such never deadlock under PostgreSQL. seq_out (may be NULL)
 * receives the new entry's chain_seq. */
FG_MUST_CHECK fg_result store_audit_append(store_meta *m, const char *order_id,
                                           const char *actor,
                                           const char *action,
                                           const char *detail_json,
                                           const char *at,
                                           int64_t *seq_out /* out */,
                                           fg_reason *r);

/* Lists the entries of one order's chain by chain_seq, after chain_seq
 * `after` (0 from the start); order_id "" is the service chain; order_id
 * NULL lists every entry of every chain in storage order (seq), after seq
 * `after`, for the CLI. At most `limit` rows (0 or more than
 * FG_MAX_LIST_ROWS: FG_MAX_LIST_ROWS). Each entry has its hash and
 * prev_hash, so a client can recompute its slice. On success the caller
 * owns *out (store_audit_list_release); on failure *out is empty. */
FG_MUST_CHECK fg_result store_audit_list_get(store_meta *m,
                                             const char *order_id,
                                             int64_t after, size_t limit,
                                             store_audit_list *out /* out */,
                                             fg_reason *r);

/* One page of an order's chain for the API: at most limit entries
 * (1..FG_AUDIT_PAGE_MAX, else FG_EUSAGE) after chain_seq `after`, in
 * chain_seq order; *more is set when entries remain past the page (one
 * extra row is read to know, and dropped). Memory is bounded by the page,
 * whatever the trail's length. On success the caller owns *out; on
 * failure *out is empty. */
FG_MUST_CHECK fg_result store_audit_page_get(store_meta *m, const char *order_id,
                                             int64_t after, size_t limit,
                                             store_audit_list *out /* out */,
                                             bool *more /* out */, fg_reason *r);

/* Frees the entries and empties the list. Accepts NULL and empty lists. */
void store_audit_list_release(store_audit_list *l);

/* What a checkpoint pass did. */
typedef struct store_audit_checkpoint_stats {
    int64_t checkpoints; /* rows written (0: no head moved) */
    int64_t heads;       /* heads they name */
    int64_t last_seq;    /* seq of the last checkpoint written, 0 if none */
} store_audit_checkpoint_stats;

/* Writes checkpoints until every head that moved since it was last
 * checkpointed is named by one: each of at most
 * STORE_AUDIT_CHECKPOINT_HEADS heads, chained to the previous checkpoint,
 * in its own write transaction (outside any transaction: FG_EUSAGE
 * otherwise). at NULL for now. Nothing moved: nothing is written. Two
 * passes at once (two nodes): one of them gets FG_ESTATE on the
 * checkpoint's seq and stops; the other covers the heads. FG_EIO if the
 * store fails. stats may be NULL. */
FG_MUST_CHECK fg_result
store_audit_checkpoint_write(store_meta *m, const char *at,
                             store_audit_checkpoint_stats *stats /* out */, fg_reason *r);

/* *moved: whether some chain's head moved since the last checkpoint
 * naming it (one indexed row read). FG_EIO if the store fails. */
FG_MUST_CHECK fg_result store_audit_heads_moved(store_meta *m, bool *moved /* out */,
                                                fg_reason *r);

typedef struct store_audit_report {
    int64_t count;       /* entries walked */
    int64_t chains;      /* chains walked */
    int64_t checkpoints; /* checkpoints walked */
    /* Where it broke: first_bad is the chain_seq (or, with
     * in_checkpoints, the checkpoint seq) of the first broken entry, 0 if
     * intact; chain its chain ("" the service chain). */
    int64_t first_bad;
    bool in_checkpoints;
    char chain[FG_MAX_ID + 1];
    char head[STORE_HEX_MAX]; /* when intact: hash of the last checkpoint
                                 (genesis if none). Kept outside the
                                 database, it also proves that no
                                 checkpoint was cut off the end, which the
                                 checkpoints alone cannot show. */
    int64_t legacy_entries; /* entries moved from the global chain by
                               step 9 (0: none, or a database made after) */
    char legacy_head[STORE_HEX_MAX]; /* that chain's last hash, as `audit
                                        verify` printed it before the
                                        upgrade ("" if none) */
    char why[FG_REASON_MAX]; /* what is wrong, "" if intact */
} store_audit_report;

/* Checks everything, inside one read transaction (one snapshot): every
 * chain entry by entry (chain_seq is the previous + 1 from 1, prev_hash
 * is the previous hash, hash is the recomputed one), every chain's head
 * row (the last entry's seq and hash; no chain without one, no head
 * without its chain), and every checkpoint (seq from 1, prev_hash, hash,
 * its heads text well formed, and each (chain, seq, hash) it names still
 * in the chains). A migrated database whose global chain was already
 * broken fails too, naming the old seq (the entries were moved, but
 * nothing vouches for them). Returns FG_OK with first_bad 0 if intact,
 * FG_ECORRUPT with chain, first_bad and why set at the first problem
 * found, FG_EIO if it cannot be read. Memory: one entry and one
 * checkpoint at a time. */
FG_MUST_CHECK fg_result store_audit_verify(store_meta *m,
                                           store_audit_report *out /* out */,
                                           fg_reason *r);

/* Computes the hash of e from its fields (order_id as chain, chain_seq,
 * at, actor, action, detail, prev_hash; seq and e->hash are not read)
 * into out. Exposed for clients of the API and for tests. FG_EIO only if
 * OpenSSL fails. */
FG_MUST_CHECK fg_result store_audit_hash(const store_audit_entry *e,
                                         char out[STORE_HEX_MAX] /* out */,
                                         fg_reason *r);

/* The version 1 hash (global chain: seq, order_id, ... above), for the
 * migration and its tests. */
FG_MUST_CHECK fg_result store_audit_hash_v1(const store_audit_entry *e,
                                            char out[STORE_HEX_MAX] /* out */,
                                            fg_reason *r);

/* The hash of checkpoint c (seq, at, heads, legacy, prev_hash; c->hash is
 * not read). FG_EIO only if OpenSSL fails. */
FG_MUST_CHECK fg_result store_audit_checkpoint_hash(const store_audit_checkpoint *c,
                                                    char out[STORE_HEX_MAX] /* out */,
                                                    fg_reason *r);

/* Frees c->heads. Accepts NULL. */
void store_audit_checkpoint_release(store_audit_checkpoint *c);

#endif
