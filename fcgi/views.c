#include "fcgi/views.h"

#include <string.h>

#include "fcgi/access.h"
#include "orders/delivery.h"

/* null for an empty string: DESIGN shows absent values as null. */
static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

bool fcgi_view_reveals(const struct fcgi_claims *who, const store_order *o)
{
    /* The release rule (orders/rules.h): a buyer sees plain hashes only
     * once accepted; a caller who is no party sees none. */
    ord_party p = ord_party_of(fcgi_ord_role(who), who->sub, who->ord, o);
    return ord_may(p, ord_state_parse(o->state), ORD_SEE_HASHES).rc == FG_OK;
}

json_t *fcgi_view_file(const store_file *f, bool reveal)
{
    /* json_string refuses invalid UTF-8; names were checked on the way in,
     * and the _or_null fallback keeps one bad row from breaking a whole
     * order document. */
    json_t *v = json_pack("{s:s, s:o, s:I, s:o, s:o, s:s, s:s, s:s, s:o, s:s}",
                          "id", f->id,
                          "name", str_or_null(f->name),
                          "size", (json_int_t)f->size,
                          "sha256", reveal ? json_string(f->sha256) : json_null(),
                          "commitment", str_or_null(f->commitment),
                          "type", f->mime,
                          "kind", f->kind,
                          "preview", f->preview,
                          "reason", str_or_null(f->reason),
                          "created_at", f->created_at);
    /* The salt opens the commitment: shown only with the plain hash. A
     * file stored before commitments existed has neither. */
    if (v && reveal && f->salt[0] &&
        json_object_set_new(v, "salt", json_string(f->salt)) != 0) {
        json_decref(v);
        return NULL;
    }
    /* A ready preview says whether it has a companion image (a video's
     * poster frame, an audio file's waveform) at .../poster. */
    if (v && strcmp(f->preview, STORE_PREVIEW_READY) == 0 &&
        json_object_set_new(v, "poster", json_boolean(f->poster_sha256[0] != '\0')) != 0) {
        json_decref(v);
        return NULL;
    }
    /* Retention purged it (orders/retention.h): the row says what was
     * delivered; the bytes are gone. */
    if (v && f->purged_at[0] &&
        json_object_set_new(v, "purged_at", json_string(f->purged_at)) != 0) {
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *fcgi_view_delivery(const store_delivery *d, const store_file_list *files, bool reveal)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < files->n; i++) {
        if (files->items[i].delivery != d->number ||
            strcmp(files->items[i].order_id, d->order_id) != 0)
            continue;
        if (json_array_append_new(arr, fcgi_view_file(&files->items[i], reveal)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    if (!arr)
        return NULL;
    /* Derived from its files (orders/delivery.h), so it can never
     * disagree with them. */
    return json_pack("{s:s, s:i, s:s, s:o, s:s, s:o}", "order_id", d->order_id, "number",
                     d->number, "created_at", d->created_at, "message",
                     str_or_null(d->message), "state",
                     orders_delivery_state(files, d->order_id, d->number), "files", arr);
}

fg_result fcgi_view_order(store_meta *m, const store_order *o, bool reveal, json_t **doc,
                          fg_reason *r)
{
    store_delivery_list dl = {0};
    store_file_list fl = {0};
    json_t *deliveries = NULL;
    fg_result rc;
    *doc = NULL;
    if ((rc = store_delivery_list_get(m, o->id, &dl, r)) != FG_OK)
        goto out;
    if ((rc = store_file_list_order(m, o->id, &fl, r)) != FG_OK)
        goto out;
    rc = fg_fail(r, FG_EIO, "out of memory building the order");
    if (!(deliveries = json_array()))
        goto out;
    for (size_t i = 0; i < dl.n; i++)
        if (json_array_append_new(deliveries, fcgi_view_delivery(&dl.items[i], &fl, reveal)) != 0)
            goto out;
    *doc = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:O}", "id", o->id, "state",
                     o->state, "seller_id", o->seller_id, "buyer_id", o->buyer_id,
                     "buyer_name", str_or_null(o->buyer_name), "created_at",
                     o->created_at, "released_at", str_or_null(o->released_at),
                     "deliveries", deliveries);
    if (*doc)
        rc = FG_OK;
out:
    json_decref(deliveries);
    store_file_list_release(&fl);
    store_delivery_list_release(&dl);
    return rc;
}

json_t *fcgi_view_audit_entry(const store_audit_entry *e)
{
    /* detail stays the exact JSON text that was hashed: a client
     * recomputing the chain (storage/audit.h) needs its bytes, not a
     * re-serialisation. seq is the place in the order's chain, the one
     * hashed (the storage order across chains is no one's business). */
    return json_pack("{s:I, s:o, s:s, s:s, s:s, s:s, s:s, s:s}", "seq", (json_int_t)e->chain_seq,
                     "order_id", str_or_null(e->order_id), "at", e->at, "actor",
                     e->actor, "action", e->action, "detail", e->detail ? e->detail : "{}",
                     "prev_hash", e->prev_hash, "hash", e->hash);
}
