/* The audit chain, the same for every backend: canonical serialisation,
 * hashing, appending at the head, verifying the whole chain. */
#include "storage/audit.h"
#include "common/hex.h"
#include "storage/meta_impl.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int netstring(EVP_MD_CTX *md, const char *s)
{
    char len[24];
    size_t n = strlen(s);
    int k = snprintf(len, sizeof len, "%zu:", n);
    return EVP_DigestUpdate(md, len, (size_t)k) &&
           EVP_DigestUpdate(md, s, n) && EVP_DigestUpdate(md, ",", 1);
}

fg_result store_audit_hash(const store_audit_entry *e, char out[STORE_HEX_MAX],
                           fg_reason *r)
{
    static const char magic[] = "filigrane-audit-v1\n";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    char seq[24];
    fg_result rc = FG_OK;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    snprintf(seq, sizeof seq, "%" PRId64, e->seq);
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(md, magic, sizeof magic - 1) || !netstring(md, seq) ||
        !netstring(md, e->order_id) || !netstring(md, e->at) ||
        !netstring(md, e->actor) || !netstring(md, e->action) ||
        !netstring(md, e->detail ? e->detail : "") ||
        !netstring(md, e->prev_hash) || !EVP_DigestFinal_ex(md, digest, &dlen) ||
        dlen != 32) {
        rc = fg_fail(r, FG_EIO, "cannot hash audit entry: openssl failed");
        goto out;
    }
    fg_hex_encode(digest, 32, out);
out:
    EVP_MD_CTX_free(md);
    return rc;
}

static fg_result check_action(const char *s, fg_reason *r)
{
    if (!s || !*s)
        return fg_fail(r, FG_EUSAGE, "audit action is missing");
    size_t len = strnlen(s, FG_MAX_ACTION + 1);
    if (len > FG_MAX_ACTION)
        return fg_fail(r, FG_ELIMIT, "audit action is longer than %d bytes",
                       FG_MAX_ACTION);
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return fg_fail(r, FG_EUSAGE, "audit action may only hold a-z 0-9 ._-");
    return FG_OK;
}

static fg_result check_actor(const char *s, fg_reason *r)
{
    if (!s || !*s)
        return fg_fail(r, FG_EUSAGE, "audit actor is missing");
    size_t len = strnlen(s, FG_MAX_ACTOR + 1);
    if (len > FG_MAX_ACTOR)
        return fg_fail(r, FG_ELIMIT, "audit actor is longer than %d bytes",
                       FG_MAX_ACTOR);
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return fg_fail(r, FG_EUSAGE, "audit actor is not printable ASCII");
    return FG_OK;
}

fg_result store_audit_append(store_meta *m, const char *order_id,
                             const char *actor, const char *action,
                             const char *detail_json, const char *at,
                             int64_t *seq_out, fg_reason *r)
{
    store_audit_entry e = {0};
    const char *detail = detail_json ? detail_json : "{}";
    fg_result rc;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if ((order_id && *order_id &&
         (rc = store_check_id(order_id, "order id", r))) ||
        (rc = check_actor(actor, r)) || (rc = check_action(action, r)) ||
        (rc = store_check_text(detail, FG_MAX_AUDIT_DETAIL, false,
                               "audit detail", r)) ||
        (rc = store_check_time(at, e.at, "at", r)))
        return rc;
    snprintf(e.order_id, sizeof e.order_id, "%s", order_id ? order_id : "");
    snprintf(e.actor, sizeof e.actor, "%s", actor);
    snprintf(e.action, sizeof e.action, "%s", action);
    e.detail = (char *)detail; /* read only below */

    /* Reading the head and inserting after it must happen under the write
     * lock, or two appenders would both chain onto the same head (the
     * primary key on seq would then refuse one, but only after the fact). */
    bool own = m->tx == STORE_TX_NONE;
    if (own && (rc = store_meta_begin(m, r)))
        return rc;
    if ((rc = m->ops->audit_head(m, &e.seq, e.prev_hash, r)))
        goto out;
    e.seq++;
    if ((rc = store_audit_hash(&e, e.hash, r)) ||
        (rc = m->ops->audit_insert(m, &e, r)))
        goto out;
    if (seq_out)
        *seq_out = e.seq;
out:
    return store_tx_finish(m, own, rc, r);
}

fg_result store_audit_list_get(store_meta *m, const char *order_id,
                               int64_t after, size_t limit,
                               store_audit_list *out, fg_reason *r)
{
    out->items = NULL;
    out->n = 0;
    if (order_id && store_check_id(order_id, "order id", NULL) != FG_OK)
        return FG_OK;
    if (limit == 0 || limit > FG_MAX_LIST_ROWS)
        limit = FG_MAX_LIST_ROWS;
    return m->ops->audit_list(m, order_id, after < 0 ? 0 : after, limit, out,
                              r);
}

fg_result store_audit_page_get(store_meta *m, const char *order_id, int64_t after,
                               size_t limit, store_audit_list *out, bool *more, fg_reason *r)
{
    out->items = NULL;
    out->n = 0;
    *more = false;
    if (!order_id || limit < 1 || limit > FG_AUDIT_PAGE_MAX)
        return fg_fail(r, FG_EUSAGE, "audit page limit must be 1 to %d", FG_AUDIT_PAGE_MAX);
    fg_result rc = store_audit_list_get(m, order_id, after, limit + 1, out, r);
    if (rc != FG_OK || out->n <= limit)
        return rc;
    *more = true;
    while (out->n > limit)
        free(out->items[--out->n].detail);
    return FG_OK;
}

void store_audit_list_release(store_audit_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].detail);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

struct walk {
    store_audit_report *rep;
    int64_t seq;
    char prev[STORE_HEX_MAX];
};

static fg_result walk_one(void *ctx, const store_audit_entry *e, fg_reason *r)
{
    struct walk *w = ctx;
    char want[STORE_HEX_MAX];
    const char *why = NULL;
    fg_result rc = store_audit_hash(e, want, r);
    if (rc)
        return rc;
    if (e->seq != w->seq + 1)
        why = "sequence number out of order (an entry was removed or added)";
    else if (strcmp(e->prev_hash, w->prev) != 0)
        why = "prev_hash is not the previous entry's hash";
    else if (strcmp(e->hash, want) != 0)
        why = "hash does not match the entry's content";
    w->rep->count++;
    if (why) {
        w->rep->first_bad = e->seq;
        snprintf(w->rep->why, sizeof w->rep->why, "%s", why);
        return fg_fail(r, FG_ECORRUPT, "audit entry %" PRId64 " is broken: %s",
                       e->seq, why);
    }
    w->seq = e->seq;
    snprintf(w->prev, sizeof w->prev, "%s", e->hash);
    return FG_OK;
}

fg_result store_audit_verify(store_meta *m, store_audit_report *out,
                             fg_reason *r)
{
    struct walk w = {.rep = out, .seq = 0, .prev = STORE_AUDIT_GENESIS};
    memset(out, 0, sizeof *out);
    fg_result rc = m->ops->audit_each(m, walk_one, &w, r);
    snprintf(out->head, sizeof out->head, "%s", w.prev);
    return rc;
}
