/* Blob references and the collector of unreferenced blobs.
 *
 * DESIGN, Settled details: blob references are counted in the metadata
 * store, in the transaction that adds or removes a file row; a blob is
 * deleted only when its count is zero, by a job. The counting itself is
 * done by the schema (triggers on the files table, storage/schema_sqlite.c):
 * every file row counts one reference to its original's blob and one to
 * its preview's, whoever writes the row.
 *
 * A blob is stored before the row that names it exists (an upload stores
 * its files, then records the delivery). So whoever stores a blob first
 * registers it (store_blob_ref_touch: a row with count 0, stamped now),
 * then stores it, then adds the row that references it. A blob whose row
 * never comes (a rejected upload, a crash in between) keeps count 0 and is
 * removed by the collector once its stamp is older than the grace period.
 *
 * Why registration comes before storing: the collector removes a blob
 * while it holds the store's write lock, after checking that its row is
 * still unused and old. A registration either commits before that check
 * (the row is young: the blob is kept) or waits for the collector's commit
 * (the blob is gone: the store writes it anew). Registering after storing
 * would leave a moment where an existing unused blob, about to be reused,
 * could be removed under the new upload. */
#ifndef STORE_BLOB_REFS_H
#define STORE_BLOB_REFS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/result.h"
#include "storage/blob.h"
#include "storage/meta.h"

/* Registers blob hex as about to be stored: a reference row with count 0
 * if it has none, and its stamp moved to now (which restarts the grace
 * period of an unused blob). Call it before store_blob_put_file. Joins
 * the caller's write transaction if one is open,
 * else commits on its own. FG_EUSAGE for a malformed hex or inside a read
 * transaction, FG_EIO if the store fails. */
FG_MUST_CHECK fg_result store_blob_ref_touch(store_meta *m, const char *hex,
                                             fg_reason *r);

/* The reference count of blob hex: *known is false (and *refs 0) when the
 * store has no row for it. FG_EUSAGE for a malformed hex. */
FG_MUST_CHECK fg_result store_blob_ref_count(store_meta *m, const char *hex,
                                             int64_t *refs /* out */,
                                             bool *known /* out */,
                                             fg_reason *r);

/* Called for each blob the collector removed. */
typedef void (*store_blob_gc_fn)(void *ctx, const char *hex, int64_t size);

typedef struct store_blob_gc_opts {
    int64_t now;          /* unix seconds: the clock, passed in for tests */
    int64_t grace;        /* seconds an unused blob is kept, >= 0 */
    bool sweep;           /* also walk the blob store for blobs with no row */
    store_blob_gc_fn fn;  /* may be NULL */
    void *ctx;
} store_blob_gc_opts;

typedef struct store_blob_gc_stats {
    int64_t removed;      /* blobs removed */
    int64_t bytes;        /* their bytes */
} store_blob_gc_stats;

/* The collector. Removes every blob whose count is 0 and whose stamp is at
 * least o->grace seconds before o->now; with o->sweep, also every stored
 * blob that has no reference row at all and was last modified at least
 * o->grace seconds before o->now (blobs stored before counting existed,
 * or whose registration was lost). Each removal is decided and done under
 * the store's write lock, one blob at a time, so uploads wait at most one
 * removal. A referenced blob is never removed. The sweep reads every
 * blob's name: run it from the CLI or rarely, not on every pass.
 * m must not be in a transaction (FG_EUSAGE). *out (may be NULL) counts
 * what was removed, also when the collector stops on an error (FG_EIO). */
FG_MUST_CHECK fg_result store_blob_gc(store_meta *m, store_blob *b,
                                      const store_blob_gc_opts *o,
                                      store_blob_gc_stats *out /* out */,
                                      fg_reason *r);

#endif
