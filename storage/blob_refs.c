/* Blob references: checks, then the backend's ops; the collector on top
 * of the metadata store and the blob store. */
#include "storage/blob_refs.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/meta_impl.h"

/* Unused blobs examined per query: bounds the collector's memory whatever
 * the backlog; it loops until a batch comes back short. */
#define GC_BATCH 256

fg_result store_blob_ref_touch(store_meta *m, const char *hex, fg_reason *r)
{
    if (!store_hex_valid(hex))
        return fg_fail(r, FG_EUSAGE, "blob name is not 64 lowercase hex");
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    /* One statement: atomic on its own, part of the caller's transaction
     * when one is open. */
    return m->ops->blob_ref_touch(m, hex, (int64_t)time(NULL), r);
}

fg_result store_blob_ref_count(store_meta *m, const char *hex, int64_t *refs,
                               bool *known, fg_reason *r)
{
    int64_t seen = 0;
    *refs = 0;
    *known = false;
    if (!store_hex_valid(hex))
        return fg_fail(r, FG_EUSAGE, "blob name is not 64 lowercase hex");
    return m->ops->blob_ref_get(m, hex, refs, &seen, known, r);
}

/* Removes blob hex if the decision still holds under the write lock:
 * with a row, drop it only if unused and old; without one (sweep), only
 * if there is still none. The blob is removed before the commit, so no
 * registration can slip between the decision and the removal. */
static fg_result collect_one(store_meta *m, store_blob *b, const char *hex,
                             int64_t cutoff, bool has_row,
                             const store_blob_gc_opts *o,
                             store_blob_gc_stats *st, fg_reason *r)
{
    bool gone = false, known = false, exists = false;
    int64_t refs = 0, seen = 0, size = 0;
    fg_result rc = store_meta_begin(m, r);
    if (rc)
        return rc;
    if (has_row) {
        rc = m->ops->blob_ref_drop(m, hex, cutoff, &gone, r);
    } else {
        rc = m->ops->blob_ref_get(m, hex, &refs, &seen, &known, r);
        gone = !known;
    }
    if (rc == FG_OK && gone && (rc = store_blob_stat(b, hex, &exists, &size, r)) == FG_OK)
        rc = store_blob_remove(b, hex, r);
    if (rc) {
        store_meta_rollback(m);
        return rc;
    }
    if ((rc = store_meta_commit(m, r)))
        return rc;
    if (gone && exists) {
        st->removed++;
        st->bytes += size;
        if (o->fn)
            o->fn(o->ctx, hex, size);
    }
    return FG_OK;
}

typedef struct sweep_ctx {
    char (*hexes)[STORE_HEX_MAX];
    size_t n, cap;
    int64_t cutoff;
    bool oom;
} sweep_ctx;

static bool sweep_note(void *p, const char *hex, int64_t size, int64_t mtime)
{
    sweep_ctx *s = p;
    (void)size;
    if (mtime > s->cutoff)
        return true;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        void *q = realloc(s->hexes, ncap * sizeof *s->hexes);
        if (!q) {
            s->oom = true;
            return false;
        }
        s->hexes = q;
        s->cap = ncap;
    }
    memcpy(s->hexes[s->n++], hex, STORE_HEX_MAX);
    return true;
}

fg_result store_blob_gc(store_meta *m, store_blob *b, const store_blob_gc_opts *o,
                        store_blob_gc_stats *out, fg_reason *r)
{
    store_blob_gc_stats st = {0, 0};
    char (*batch)[STORE_HEX_MAX] = NULL;
    sweep_ctx sw = {0};
    size_t n = 0;
    fg_result rc = FG_OK;
    if (m->tx != STORE_TX_NONE)
        return fg_fail(r, FG_EUSAGE, "the collector runs outside transactions");
    if (o->grace < 0)
        return fg_fail(r, FG_EUSAGE, "the grace period is negative");
    int64_t cutoff = o->now - o->grace;
    if (!(batch = calloc(GC_BATCH, sizeof *batch))) {
        rc = fg_fail(r, FG_EIO, "cannot collect blobs: out of memory");
        goto out;
    }
    /* A blob that cannot be removed stays in the next batch: stop on the
     * first error rather than spin on it. */
    do {
        if ((rc = m->ops->blob_ref_unused(m, cutoff, GC_BATCH, batch, &n, r)))
            goto out;
        for (size_t i = 0; i < n; i++)
            if ((rc = collect_one(m, b, batch[i], cutoff, true, o, &st, r)))
                goto out;
    } while (n == GC_BATCH);
    if (!o->sweep)
        goto out;
    sw.cutoff = cutoff;
    if ((rc = store_blob_each(b, sweep_note, &sw, r)))
        goto out;
    if (sw.oom) {
        rc = fg_fail(r, FG_EIO, "cannot sweep blobs: out of memory");
        goto out;
    }
    for (size_t i = 0; i < sw.n; i++)
        if ((rc = collect_one(m, b, sw.hexes[i], cutoff, false, o, &st, r)))
            goto out;
out:
    free(batch);
    free(sw.hexes);
    if (out)
        *out = st;
    return rc;
}
