/* The metadata interface: checks, defaults and transaction state, then the
 * backend's ops. Rules that must hold for every backend live here. */
#include "storage/meta_impl.h"
#include "common/hex.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static const char *const order_states[] = {
    STORE_STATE_OPEN, STORE_STATE_DISPUTED, STORE_STATE_ACCEPTED,
    STORE_STATE_CANCELLED, NULL};
static const char *const preview_states[] = {
    STORE_PREVIEW_PROCESSING, STORE_PREVIEW_READY, STORE_PREVIEW_WITHHELD,
    STORE_PREVIEW_FAILED, NULL};
static const char *const kinds[] = {"image", "pdf",   "archive", "video", "audio",
                                    "document", "text", "other",   NULL};

static bool in_set(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static fg_result writable(store_meta *m, fg_reason *r)
{
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    return FG_OK;
}

/* Copies s into a fixed field whose size the caller checked already. */
static void put(char *dst, size_t cap, const char *s)
{
    size_t n = s ? strnlen(s, cap - 1) : 0;
    memcpy(dst, s ? s : "", n);
    dst[n] = '\0';
}

bool store_meta_in_tx(const store_meta *m)
{
    return m && m->tx != STORE_TX_NONE;
}

void store_meta_free(store_meta *m)
{
    if (!m)
        return;
    if (m->tx != STORE_TX_NONE)
        m->ops->rollback(m);
    m->ops->free(m);
}

fg_result store_meta_schema_version(store_meta *m, int *version, fg_reason *r)
{
    return m->ops->schema_version(m, version, r);
}

static fg_result begin(store_meta *m, bool write, fg_reason *r)
{
    if (m->tx != STORE_TX_NONE)
        return fg_fail(r, FG_EUSAGE, "a transaction is open already");
    fg_result rc = m->ops->begin(m, write, r);
    if (rc == FG_OK)
        m->tx = write ? STORE_TX_WRITE : STORE_TX_READ;
    return rc;
}

fg_result store_meta_begin(store_meta *m, fg_reason *r)
{
    return begin(m, true, r);
}

fg_result store_meta_begin_read(store_meta *m, fg_reason *r)
{
    return begin(m, false, r);
}

fg_result store_meta_commit(store_meta *m, fg_reason *r)
{
    if (m->tx == STORE_TX_NONE)
        return fg_fail(r, FG_EUSAGE, "no transaction to commit");
    fg_result rc = m->ops->commit(m, r);
    if (rc != FG_OK)
        m->ops->rollback(m);
    m->tx = STORE_TX_NONE;
    return rc;
}

void store_meta_rollback(store_meta *m)
{
    if (!m || m->tx == STORE_TX_NONE)
        return;
    m->ops->rollback(m);
    m->tx = STORE_TX_NONE;
}

/* ---- orders ---- */

fg_result store_order_create(store_meta *m, const char *id,
                             const char *seller_id, const char *buyer_id,
                             const char *buyer_name, const char *labels_json,
                             const char *created_at, bool *created,
                             fg_reason *r)
{
    store_order o = {0}, have;
    bool inserted = false;
    fg_result rc;
    if (created)
        *created = false;
    if ((rc = writable(m, r)) || (rc = store_check_id(id, "order id", r)) ||
        (rc = store_check_id(seller_id, "seller id", r)) ||
        (rc = store_check_id(buyer_id, "buyer id", r)) ||
        (rc = store_check_text(buyer_name ? buyer_name : "", FG_MAX_BUYER_NAME,
                               true, "buyer name", r)) ||
        (rc = store_check_text(labels_json ? labels_json : "{}",
                               FG_MAX_LABELS_JSON, false, "labels", r)) ||
        (rc = store_check_time(created_at, o.created_at, "created_at", r)))
        return rc;
    put(o.id, sizeof o.id, id);
    put(o.state, sizeof o.state, STORE_STATE_OPEN);
    put(o.seller_id, sizeof o.seller_id, seller_id);
    put(o.buyer_id, sizeof o.buyer_id, buyer_id);
    put(o.buyer_name, sizeof o.buyer_name, buyer_name);
    put(o.labels, sizeof o.labels, labels_json ? labels_json : "{}");
    if ((rc = m->ops->order_insert(m, &o, &inserted, r)))
        return rc;
    if (inserted) {
        if (created)
            *created = true;
        return FG_OK;
    }
    /* Parties never change after creation, so this read needs no lock to
     * agree with the row that made the insert a no-op. */
    if ((rc = m->ops->order_get(m, id, &have, r)))
        return rc;
    if (strcmp(have.seller_id, seller_id) || strcmp(have.buyer_id, buyer_id))
        return fg_fail(r, FG_ESTATE,
                       "order exists already with another seller or buyer");
    return FG_OK;
}

fg_result store_order_set_preview_pages(store_meta *m, const char *id, int pages,
                                       fg_reason *r)
{
    fg_result rc;
    if ((rc = writable(m, r)))
        return rc;
    if (pages < 0 || pages > FG_MAX_PREVIEW_PAGES)
        return fg_fail(r, FG_EUSAGE, "preview_pages must be 0 to %d", FG_MAX_PREVIEW_PAGES);
    if (store_check_id(id, "order id", NULL) != FG_OK)
        return fg_fail(r, FG_ENOTFOUND, "no such order");
    return m->ops->order_set_preview_pages(m, id, pages, r);
}

fg_result store_order_get(store_meta *m, const char *id, store_order *out,
                          fg_reason *r)
{
    fg_reason ignored;
    if (store_check_id(id, "order id", &ignored) != FG_OK)
        return fg_fail(r, FG_ENOTFOUND, "no such order");
    return m->ops->order_get(m, id, out, r);
}

fg_result store_order_set_state(store_meta *m, const char *id, const char *to,
                                const char *const *allowed_from,
                                const char *at, char prev[STORE_WORD_MAX],
                                fg_reason *r)
{
    char when[STORE_TIME_MAX];
    fg_result rc;
    if ((rc = writable(m, r)))
        return rc;
    if (!in_set(to, order_states))
        return fg_fail(r, FG_EUSAGE, "unknown order state");
    if (!allowed_from)
        return fg_fail(r, FG_EUSAGE, "no allowed previous state given");
    for (const char *const *f = allowed_from; *f; f++)
        if (!in_set(*f, order_states))
            return fg_fail(r, FG_EUSAGE, "unknown order state");
    if ((rc = store_check_time(at, when, "at", r)))
        return rc;
    if (store_check_id(id, "order id", NULL) != FG_OK)
        return fg_fail(r, FG_ENOTFOUND, "no such order");

    bool own = m->tx == STORE_TX_NONE;
    if (own && (rc = store_meta_begin(m, r)))
        return rc;
    /* Read, decide, then compare-and-set on the state read: even a backend
     * whose write transaction does not lock the row cannot let two callers
     * both leave the same state. A lost race is a refusal, reported with
     * the state that won. */
    store_order o;
    bool updated = false;
    for (int attempt = 0; attempt < 3 && !updated; attempt++) {
        if ((rc = m->ops->order_get(m, id, &o, r)))
            goto out;
        if (prev)
            put(prev, STORE_WORD_MAX, o.state);
        if (!in_set(o.state, allowed_from)) {
            rc = fg_fail(r, FG_ESTATE, "order is %s", o.state);
            goto out;
        }
        bool release = strcmp(to, STORE_STATE_ACCEPTED) == 0;
        if ((rc = m->ops->order_cas_state(m, id, o.state, to,
                                          release ? when : NULL, &updated, r)))
            goto out;
    }
    if (!updated)
        rc = fg_fail(r, FG_ESTATE, "order state changed concurrently");
out:
    return store_tx_finish(m, own, rc, r);
}

/* ---- deliveries ---- */

fg_result store_delivery_create(store_meta *m, const char *order_id,
                                const char *message, const char *created_at,
                                int *number, fg_reason *r)
{
    char when[STORE_TIME_MAX];
    fg_result rc;
    if ((rc = writable(m, r)) ||
        (rc = store_check_text(message ? message : "", FG_MAX_MESSAGE, true,
                               "message", r)) ||
        (rc = store_check_time(created_at, when, "created_at", r)))
        return rc;
    if (store_check_id(order_id, "order id", NULL) != FG_OK)
        return fg_fail(r, FG_ENOTFOUND, "no such order");
    return m->ops->delivery_insert(m, order_id, message ? message : "", when,
                                   number, r);
}

fg_result store_delivery_get(store_meta *m, const char *order_id, int number,
                             store_delivery *out, fg_reason *r)
{
    if (store_check_id(order_id, "order id", NULL) != FG_OK || number < 1)
        return fg_fail(r, FG_ENOTFOUND, "no such delivery");
    return m->ops->delivery_get(m, order_id, number, out, r);
}

fg_result store_delivery_list_get(store_meta *m, const char *order_id,
                                  store_delivery_list *out, fg_reason *r)
{
    out->items = NULL;
    out->n = 0;
    if (store_check_id(order_id, "order id", NULL) != FG_OK)
        return FG_OK;
    return m->ops->delivery_list(m, order_id, out, r);
}

void store_delivery_list_release(store_delivery_list *l)
{
    if (!l)
        return;
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* ---- files ---- */

fg_result store_file_id_new(char out[STORE_FILE_ID_MAX], fg_reason *r)
{
    unsigned char raw[STORE_FILE_ID_LEN / 2];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return fg_fail(r, FG_EIO, "cannot make a file id: no randomness");
    fg_hex_encode(raw, sizeof raw, out);
    return FG_OK;
}

static bool hex_of(const char *s, size_t len)
{
    if (!s || strnlen(s, len + 1) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool store_file_id_valid(const char *s)
{
    return hex_of(s, STORE_FILE_ID_LEN);
}

static fg_result check_mime(const char *s, bool allow_empty, const char *what,
                            fg_reason *r)
{
    if (!s || (!*s && !allow_empty))
        return fg_fail(r, FG_EUSAGE, "%s is missing", what);
    size_t len = strnlen(s, FG_MAX_MIME + 1);
    if (len > FG_MAX_MIME)
        return fg_fail(r, FG_ELIMIT, "%s is longer than %d bytes", what,
                       FG_MAX_MIME);
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            if (s[i] != ' ') /* "text/plain; charset=us-ascii" */
                return fg_fail(r, FG_EUSAGE, "%s is not a MIME type", what);
    return FG_OK;
}

static fg_result check_preview(const char *preview, const char *reason,
                               const char *psha, const char *pmime,
                               fg_reason *r)
{
    fg_result rc;
    if (!in_set(preview, preview_states))
        return fg_fail(r, FG_EUSAGE, "unknown preview state");
    if ((rc = store_check_text(reason ? reason : "", FG_REASON_MAX - 1, true,
                               "preview reason", r)))
        return rc;
    if (psha && *psha && !hex_of(psha, 64))
        return fg_fail(r, FG_EUSAGE, "preview sha256 is not 64 hex digits");
    if ((rc = check_mime(pmime ? pmime : "", true, "preview type", r)))
        return rc;
    bool has = psha && *psha && pmime && *pmime;
    if (strcmp(preview, STORE_PREVIEW_READY) == 0 && !has)
        return fg_fail(r, FG_EUSAGE, "a ready preview needs its sha256 and type");
    return FG_OK;
}

fg_result store_file_add(store_meta *m, const store_file *in,
                         char id_out[STORE_FILE_ID_MAX], fg_reason *r)
{
    store_file f;
    fg_result rc;
    if ((rc = writable(m, r)) ||
        (rc = store_check_id(in->order_id, "order id", r)) ||
        (rc = store_check_text(in->name, FG_MAX_FILE_NAME, false, "file name",
                               r)) ||
        (rc = check_mime(in->mime, false, "file type", r)) ||
        (rc = check_preview(in->preview, in->reason, in->preview_sha256,
                            in->preview_mime, r)) ||
        (rc = store_check_time(in->created_at, f.created_at, "created_at", r)))
        return rc;
    if (in->delivery < 1)
        return fg_fail(r, FG_EUSAGE, "delivery number must be 1 or more");
    if (in->size < 0)
        return fg_fail(r, FG_EUSAGE, "file size is negative");
    if (!hex_of(in->sha256, 64))
        return fg_fail(r, FG_EUSAGE, "file sha256 is not 64 lowercase hex");
    if ((in->salt[0] || in->commitment[0]) &&
        (!hex_of(in->salt, 64) || !hex_of(in->commitment, 64)))
        return fg_fail(r, FG_EUSAGE,
                       "file salt and commitment are not both 64 lowercase hex");
    if (!in_set(in->kind, kinds))
        return fg_fail(r, FG_EUSAGE, "unknown file kind");
    if (in->id[0]) {
        if (!store_file_id_valid(in->id))
            return fg_fail(r, FG_EUSAGE, "file id is not 32 lowercase hex");
        put(f.id, sizeof f.id, in->id);
    } else if ((rc = store_file_id_new(f.id, r))) {
        return rc;
    }
    put(f.order_id, sizeof f.order_id, in->order_id);
    f.delivery = in->delivery;
    put(f.name, sizeof f.name, in->name);
    f.size = in->size;
    put(f.sha256, sizeof f.sha256, in->sha256);
    put(f.salt, sizeof f.salt, in->salt);
    put(f.commitment, sizeof f.commitment, in->commitment);
    put(f.mime, sizeof f.mime, in->mime);
    put(f.kind, sizeof f.kind, in->kind);
    put(f.preview, sizeof f.preview, in->preview);
    put(f.reason, sizeof f.reason, in->reason);
    put(f.preview_sha256, sizeof f.preview_sha256, in->preview_sha256);
    put(f.preview_mime, sizeof f.preview_mime, in->preview_mime);
    f.buyer_views = 0;
    f.buyer_downloads = 0;
    if ((rc = m->ops->file_insert(m, &f, r)))
        return rc;
    if (id_out)
        put(id_out, STORE_FILE_ID_MAX, f.id);
    return FG_OK;
}

fg_result store_file_set_preview(store_meta *m, const char *id,
                                 const char *preview, const char *reason,
                                 const char *preview_sha256,
                                 const char *preview_mime, fg_reason *r)
{
    fg_result rc;
    if ((rc = writable(m, r)) ||
        (rc = check_preview(preview, reason, preview_sha256, preview_mime, r)))
        return rc;
    if (!store_file_id_valid(id))
        return fg_fail(r, FG_ENOTFOUND, "no such file");
    return m->ops->file_set_preview(m, id, preview, reason ? reason : "",
                                    preview_sha256 ? preview_sha256 : "",
                                    preview_mime ? preview_mime : "", r);
}

fg_result store_file_set_poster(store_meta *m, const char *id, const char *poster_sha256,
                                const char *poster_mime, fg_reason *r)
{
    fg_result rc;
    const char *sha = poster_sha256 ? poster_sha256 : "";
    const char *mime = poster_mime ? poster_mime : "";
    if ((rc = writable(m, r)) || (rc = check_mime(mime, true, "poster type", r)))
        return rc;
    if (*sha && !hex_of(sha, 64))
        return fg_fail(r, FG_EUSAGE, "poster sha256 is not 64 lowercase hex");
    if (!*sha != !*mime)
        return fg_fail(r, FG_EUSAGE, "a poster needs both its sha256 and its type");
    if (!store_file_id_valid(id))
        return fg_fail(r, FG_ENOTFOUND, "no such file");
    return m->ops->file_set_poster(m, id, sha, mime, r);
}

fg_result store_file_get(store_meta *m, const char *id, store_file *out,
                         fg_reason *r)
{
    if (!store_file_id_valid(id))
        return fg_fail(r, FG_ENOTFOUND, "no such file");
    return m->ops->file_get(m, id, out, r);
}

fg_result store_file_list_delivery(store_meta *m, const char *order_id,
                                   int delivery, store_file_list *out,
                                   fg_reason *r)
{
    out->items = NULL;
    out->n = 0;
    if (store_check_id(order_id, "order id", NULL) != FG_OK || delivery < 1)
        return FG_OK;
    return m->ops->file_list(m, order_id, delivery, out, r);
}

fg_result store_file_list_order(store_meta *m, const char *order_id,
                                store_file_list *out, fg_reason *r)
{
    out->items = NULL;
    out->n = 0;
    if (store_check_id(order_id, "order id", NULL) != FG_OK)
        return FG_OK;
    return m->ops->file_list(m, order_id, 0, out, r);
}

void store_file_list_release(store_file_list *l)
{
    if (!l)
        return;
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

fg_result store_file_count(store_meta *m, const char *id, store_counter which,
                           int64_t *after, fg_reason *r)
{
    fg_result rc;
    if ((rc = writable(m, r)))
        return rc;
    if (which != STORE_COUNT_BUYER_VIEW && which != STORE_COUNT_BUYER_DOWNLOAD)
        return fg_fail(r, FG_EUSAGE, "unknown file counter");
    if (!store_file_id_valid(id))
        return fg_fail(r, FG_ENOTFOUND, "no such file");
    int64_t ignored;
    return m->ops->file_count(m, id, which, after ? after : &ignored, r);
}

/* ---- webhooks ---- */

fg_result store_webhook_record(store_meta *m, const char *webhook_id,
                               const char *at, bool *seen, fg_reason *r)
{
    char when[STORE_TIME_MAX];
    fg_result rc;
    if ((rc = writable(m, r)) || (rc = store_check_time(at, when, "at", r)))
        return rc;
    if ((rc = store_check_id(webhook_id, "webhook id", r)))
        return rc;
    return m->ops->webhook_insert(m, webhook_id, when, seen, r);
}
