/* tus uploads: checks, then the backend's ops. */
#include "storage/uploads.h"

#include <string.h>

#include "storage/blob.h"
#include "storage/meta_impl.h"
#include "storage/uploads_impl.h"

static fg_result check_state(const char *s, const char *what, fg_reason *r)
{
    fg_sha256 h;
    fg_result rc = fg_sha256_load(&h, s, r);
    if (rc != FG_OK)
        return fg_fail(r, FG_EUSAGE, "malformed %s", what);
    return FG_OK;
}

fg_result store_upload_insert(store_meta *m, const store_upload *u, fg_reason *r)
{
    fg_result rc;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (!store_file_id_valid(u->id))
        return fg_fail(r, FG_EUSAGE, "malformed upload id");
    if ((rc = store_check_id(u->order_id, "order id", r)) ||
        (rc = store_check_id(u->seller_id, "seller id", r)) ||
        (rc = store_check_text(u->name, FG_MAX_FILE_NAME, false, "file name", r)) ||
        (rc = check_state(u->sha_state, "hash state", r)) ||
        (rc = check_state(u->commit_state, "commitment state", r)))
        return rc;
    if (u->length <= 0 || u->offset != 0 || !store_hex_valid(u->salt))
        return fg_fail(r, FG_EUSAGE, "malformed upload");
    return m->ops->uploads->insert(m, u, r);
}

fg_result store_upload_get(store_meta *m, const char *id, store_upload *out, fg_reason *r)
{
    bool found = false;
    memset(out, 0, sizeof *out);
    if (!store_file_id_valid(id))
        return fg_fail(r, FG_ENOTFOUND, "no such upload");
    fg_result rc = m->ops->uploads->get(m, id, out, &found, r);
    if (rc == FG_OK && !found)
        rc = fg_fail(r, FG_ENOTFOUND, "no such upload");
    return rc;
}

fg_result store_upload_advance(store_meta *m, const char *id, int64_t from, int64_t to,
                               const char *sha_state, const char *commit_state,
                               int64_t expires_at, fg_reason *r)
{
    bool updated = false;
    fg_result rc;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (!store_file_id_valid(id) || from < 0 || to < from)
        return fg_fail(r, FG_EUSAGE, "malformed upload advance");
    if ((rc = check_state(sha_state, "hash state", r)) ||
        (rc = check_state(commit_state, "commitment state", r)))
        return rc;
    rc = m->ops->uploads->advance(m, id, from, to, sha_state, commit_state, expires_at,
                                  &updated, r);
    if (rc == FG_OK && !updated)
        rc = fg_fail(r, FG_ESTATE, "the upload moved on or is gone");
    return rc;
}

fg_result store_upload_delete(store_meta *m, const char *id, bool *removed, fg_reason *r)
{
    bool gone = false;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    fg_result rc = store_file_id_valid(id) ? m->ops->uploads->remove(m, id, &gone, r) : FG_OK;
    if (removed)
        *removed = gone;
    return rc;
}

fg_result store_upload_count(store_meta *m, const char *order_id, int64_t *n, fg_reason *r)
{
    fg_result rc = store_check_id(order_id, "order id", r);
    *n = 0;
    return rc ? rc : m->ops->uploads->count(m, order_id, n, r);
}

fg_result store_upload_expired(store_meta *m, int64_t now, char (*ids)[STORE_FILE_ID_MAX],
                               size_t cap, size_t *n, fg_reason *r)
{
    *n = 0;
    return cap ? m->ops->uploads->expired(m, now, ids, cap, n, r) : FG_OK;
}
