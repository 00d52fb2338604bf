/* The audit chains, the same for every backend: canonical serialisation,
 * hashing, appending at a chain's head, writing checkpoints. Verifying is
 * storage/audit_verify.c. */
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

/* SHA-256 of magic then the netstrings of the n fields, as hex. */
static fg_result hash_fields(const char *magic, const char *const *fields, size_t n,
                             char out[STORE_HEX_MAX], const char *what, fg_reason *r)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    fg_result rc = FG_OK;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
              EVP_DigestUpdate(md, magic, strlen(magic));
    for (size_t i = 0; ok && i < n; i++)
        ok = netstring(md, fields[i]);
    if (!ok || !EVP_DigestFinal_ex(md, digest, &dlen) || dlen != 32) {
        rc = fg_fail(r, FG_EIO, "cannot hash %s: openssl failed", what);
        goto out;
    }
    fg_hex_encode(digest, 32, out);
out:
    EVP_MD_CTX_free(md);
    return rc;
}

fg_result store_audit_hash(const store_audit_entry *e, char out[STORE_HEX_MAX],
                           fg_reason *r)
{
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRId64, e->chain_seq);
    const char *f[] = {e->order_id, seq, e->at, e->actor, e->action,
                       e->detail ? e->detail : "", e->prev_hash};
    return hash_fields("filigrane-audit-v2\n", f, 7, out, "audit entry", r);
}

fg_result store_audit_hash_v1(const store_audit_entry *e, char out[STORE_HEX_MAX],
                              fg_reason *r)
{
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRId64, e->seq);
    const char *f[] = {seq, e->order_id, e->at, e->actor, e->action,
                       e->detail ? e->detail : "", e->prev_hash};
    return hash_fields("filigrane-audit-v1\n", f, 7, out, "audit entry", r);
}

fg_result store_audit_checkpoint_hash(const store_audit_checkpoint *c,
                                      char out[STORE_HEX_MAX], fg_reason *r)
{
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRId64, c->seq);
    const char *f[] = {seq, c->at, c->heads ? c->heads : "", c->legacy, c->prev_hash};
    return hash_fields("filigrane-checkpoint-v1\n", f, 5, out, "audit checkpoint", r);
}

void store_audit_checkpoint_release(store_audit_checkpoint *c)
{
    if (!c)
        return;
    free(c->heads);
    c->heads = NULL;
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

    /* Reading the head and inserting after it must happen under the
     * chain's lock (audit_head takes it), or two appenders would both
     * chain onto the same head (audit_insert would then refuse one, but
     * only after the fact). */
    bool own = m->tx == STORE_TX_NONE;
    if (own && (rc = store_meta_begin(m, r)))
        return rc;
    if ((rc = m->ops->audit_head(m, e.order_id, &e.chain_seq, e.prev_hash, r)))
        goto out;
    e.chain_seq++;
    if ((rc = store_audit_hash(&e, e.hash, r)) ||
        (rc = m->ops->audit_insert(m, &e, r)))
        goto out;
    if (seq_out)
        *seq_out = e.chain_seq;
out:
    return store_tx_finish(m, own, rc, r);
}

fg_result store_audit_list_get(store_meta *m, const char *order_id,
                               int64_t after, size_t limit,
                               store_audit_list *out, fg_reason *r)
{
    out->items = NULL;
    out->n = 0;
    /* No such id can have a chain: nothing to list, not an error. */
    if (order_id && *order_id && store_check_id(order_id, "order id", NULL) != FG_OK)
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

/* ---- checkpoints ---- */

fg_result store_audit_heads_text(const store_audit_head *h, size_t n, char **out,
                                 fg_reason *r)
{
    /* Each item: ["<chain>",<seq>,"<64 hex>"] and a comma. */
    size_t cap = 2 + n * (FG_MAX_ID + 24 + STORE_HEX_MAX + 10) + 1, len = 0;
    char *t = malloc(cap);
    *out = NULL;
    if (!t)
        return fg_fail(r, FG_EIO, "cannot build an audit checkpoint: out of memory");
    t[len++] = '[';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(t + len, cap - len, "%s[\"%s\",%" PRId64 ",\"%s\"]",
                                i ? "," : "", h[i].chain, h[i].seq, h[i].hash);
    t[len++] = ']';
    t[len] = '\0';
    *out = t;
    return FG_OK;
}

fg_result store_audit_checkpoint_write(store_meta *m, const char *at,
                                 store_audit_checkpoint_stats *stats, fg_reason *r)
{
    store_audit_checkpoint_stats local;
    store_audit_head *heads = NULL;
    store_audit_checkpoint c = {0};
    size_t n = 0;
    fg_result rc;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    if (m->tx != STORE_TX_NONE)
        return fg_fail(r, FG_EUSAGE, "an audit checkpoint runs in its own transactions");
    if ((rc = store_check_time(at, c.at, "at", r)))
        return rc;
    heads = calloc(STORE_AUDIT_CHECKPOINT_HEADS, sizeof *heads);
    if (!heads)
        return fg_fail(r, FG_EIO, "cannot write an audit checkpoint: out of memory");
    do {
        if ((rc = store_meta_begin(m, r)))
            goto out;
        if ((rc = m->ops->audit_checkpoint_last(m, &c.seq, c.prev_hash, r)) ||
            (rc = m->ops->audit_heads_page(m, true, NULL, STORE_AUDIT_CHECKPOINT_HEADS,
                                           heads, &n, r))) {
            store_meta_rollback(m);
            goto out;
        }
        if (n == 0) {
            store_meta_rollback(m);
            break;
        }
        c.seq++;
        free(c.heads);
        if ((rc = store_audit_heads_text(heads, n, &c.heads, r)) ||
            (rc = store_audit_checkpoint_hash(&c, c.hash, r)) ||
            (rc = m->ops->audit_checkpoint_insert(m, &c, heads, n, r))) {
            store_meta_rollback(m);
            goto out;
        }
        if ((rc = store_meta_commit(m, r)))
            goto out;
        stats->checkpoints++;
        stats->heads += (int64_t)n;
        stats->last_seq = c.seq;
    } while (n == STORE_AUDIT_CHECKPOINT_HEADS);
out:
    free(c.heads);
    free(heads);
    return rc;
}

fg_result store_audit_heads_moved(store_meta *m, bool *moved, fg_reason *r)
{
    store_audit_head h;
    size_t n = 0;
    fg_result rc = m->ops->audit_heads_page(m, true, NULL, 1, &h, &n, r);
    *moved = rc == FG_OK && n > 0;
    return rc;
}

