/* The audit chains, the same for every backend: canonical serialisation,
 * hashing, appending at a chain's head, checkpoints, verifying it all. */
#include "storage/audit.h"
#include "common/hex.h"
#include "common/id.h"
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

/* Reads the next ["<chain>",<seq>,"<hex>"] of a heads text at *p into h;
 * false when it is not exactly that. */
static bool heads_item(const char **p, store_audit_head *h)
{
    const char *s = *p;
    size_t n = 0;
    if (strncmp(s, "[\"", 2) != 0)
        return false;
    s += 2;
    while (s[n] && s[n] != '"' && n <= FG_MAX_ID)
        n++;
    if (s[n] != '"' || n > FG_MAX_ID)
        return false;
    memcpy(h->chain, s, n);
    h->chain[n] = '\0';
    if (n > 0 && !fg_id_valid(h->chain))
        return false;
    s += n + 1;
    if (*s++ != ',' || *s < '1' || *s > '9')
        return false;
    h->seq = 0;
    for (n = 0; *s >= '0' && *s <= '9'; s++, n++) {
        if (n >= 18)
            return false;
        h->seq = h->seq * 10 + (*s - '0');
    }
    if (strncmp(s, ",\"", 2) != 0)
        return false;
    s += 2;
    for (n = 0; n < STORE_HEX_MAX - 1; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    memcpy(h->hash, s, STORE_HEX_MAX - 1);
    h->hash[STORE_HEX_MAX - 1] = '\0';
    s += STORE_HEX_MAX - 1;
    if (strncmp(s, "\"]", 2) != 0)
        return false;
    *p = s + 2;
    return true;
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

/* ---- verification ---- */

static fg_result broken(store_audit_report *rep, const char *chain, int64_t seq,
                        bool in_checkpoints, const char *why, fg_reason *r)
{
    rep->first_bad = seq;
    rep->in_checkpoints = in_checkpoints;
    snprintf(rep->chain, sizeof rep->chain, "%s", chain);
    snprintf(rep->why, sizeof rep->why, "%s", why);
    if (in_checkpoints)
        return fg_fail(r, FG_ECORRUPT, "audit checkpoint %" PRId64 " is broken: %s", seq, why);
    return fg_fail(r, FG_ECORRUPT, "audit entry %" PRId64 " of chain '%s' is broken: %s", seq,
                   chain, why);
}

struct walk {
    store_audit_report *rep;
    bool started;
    char chain[FG_MAX_ID + 1];
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
    if (!w->started || strcmp(e->order_id, w->chain) != 0) {
        /* A new chain starts at 1 from genesis. */
        w->started = true;
        w->rep->chains++;
        snprintf(w->chain, sizeof w->chain, "%s", e->order_id);
        w->seq = 0;
        memcpy(w->prev, STORE_AUDIT_GENESIS, STORE_HEX_MAX);
    }
    if (e->chain_seq != w->seq + 1)
        why = "sequence number out of order (an entry was removed or added)";
    else if (strcmp(e->prev_hash, w->prev) != 0)
        why = "prev_hash is not the previous entry's hash";
    else if (strcmp(e->hash, want) != 0)
        why = "hash does not match the entry's content";
    w->rep->count++;
    if (why)
        return broken(w->rep, e->order_id, e->chain_seq, false, why, r);
    w->seq = e->chain_seq;
    memcpy(w->prev, e->hash, STORE_HEX_MAX);
    return FG_OK;
}

/* The hash of the entry at (chain, seq) into hash ("-" for a row that
 * cannot be read), *found false when there is none. */
static fg_result entry_at(store_meta *m, const char *chain, int64_t seq,
                          char hash[STORE_HEX_MAX], bool *found, fg_reason *r)
{
    store_audit_entry e = {0};
    fg_result rc = m->ops->audit_get(m, chain, seq, &e, found, r);
    free(e.detail);
    if (rc == FG_ECORRUPT) {
        *found = true;
        snprintf(hash, STORE_HEX_MAX, "-");
        return FG_OK;
    }
    if (rc == FG_OK && *found)
        memcpy(hash, e.hash, STORE_HEX_MAX);
    return rc;
}

static fg_result verify_heads(store_meta *m, store_audit_report *rep, fg_reason *r)
{
    enum { PAGE = 256 };
    store_audit_head *h = calloc(PAGE, sizeof *h);
    char after[FG_MAX_ID + 1] = "";
    char why[FG_REASON_MAX];
    int64_t heads = 0;
    size_t n = 0;
    bool first = true;
    fg_result rc = FG_OK;
    if (!h)
        return fg_fail(r, FG_EIO, "cannot verify the audit heads: out of memory");
    do {
        if ((rc = m->ops->audit_heads_page(m, false, first ? NULL : after, PAGE, h, &n, r)))
            goto out;
        first = false;
        for (size_t i = 0; i < n; i++) {
            char hash[STORE_HEX_MAX];
            bool found = false, past = false;
            heads++;
            if ((rc = entry_at(m, h[i].chain, h[i].seq, hash, &found, r)) ||
                (found && strcmp(hash, h[i].hash) == 0 &&
                 (rc = entry_at(m, h[i].chain, h[i].seq + 1, hash, &past, r))))
                goto out;
            if (past) {
                snprintf(why, sizeof why,
                         "the chain goes on past its head row (seq %" PRId64 ")", h[i].seq);
                rc = broken(rep, h[i].chain, h[i].seq + 1, false, why, r);
                goto out;
            }
            if (!found || strcmp(hash, h[i].hash) != 0) {
                snprintf(why, sizeof why,
                         "its head row names seq %" PRId64 ", whose entry %s", h[i].seq,
                         found ? "has another hash" : "is missing");
                rc = broken(rep, h[i].chain, h[i].seq, false, why, r);
                goto out;
            }
        }
        if (n > 0)
            snprintf(after, sizeof after, "%s", h[n - 1].chain);
    } while (n == PAGE);
    if (heads != rep->chains) {
        snprintf(why, sizeof why,
                 "%" PRId64 " chains have entries but %" PRId64
                 " have a head row (audit_heads was altered)",
                 rep->chains, heads);
        rc = broken(rep, "", 0, false, why, r);
    }
out:
    free(h);
    return rc;
}

/* Reads an integer field "name":N from a small JSON object of ours. */
static int64_t legacy_int(const char *legacy, const char *name)
{
    char key[32];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(legacy, key);
    int64_t v = 0;
    if (!p)
        return -1;
    for (p += strlen(key); *p >= '0' && *p <= '9' && v < INT64_MAX / 10; p++)
        v = v * 10 + (*p - '0');
    return v;
}

static fg_result verify_checkpoints(store_meta *m, store_audit_report *rep, fg_reason *r)
{
    store_audit_checkpoint c = {0};
    char prev[STORE_HEX_MAX] = STORE_AUDIT_GENESIS;
    char want[STORE_HEX_MAX];
    char why[FG_REASON_MAX];
    int64_t last = 0;
    fg_result rc = m->ops->audit_checkpoint_last(m, &last, want, r);
    if (rc == FG_ECORRUPT)
        return broken(rep, "", last, true, "the row holds an impossible value", r);
    /* Walked by seq up to the last: a checkpoint taken out of the middle
     * is a gap, not the end. */
    for (int64_t seq = 1; rc == FG_OK && seq <= last; seq++) {
        bool found = false;
        store_audit_checkpoint_release(&c);
        rc = m->ops->audit_checkpoint_get(m, seq, &c, &found, r);
        if (rc == FG_ECORRUPT) {
            rc = broken(rep, "", seq, true, "the row holds an impossible value", r);
            break;
        }
        if (rc)
            break;
        if (!found) {
            rc = broken(rep, "", seq, true, "it is missing (checkpoints were removed)", r);
            break;
        }
        rep->checkpoints++;
        if ((rc = store_audit_checkpoint_hash(&c, want, r)))
            break;
        if (c.legacy[0]) {
            /* Only the first checkpoint continues the global chain. */
            int64_t at = legacy_int(c.legacy, "broken_at");
            if (seq != 1 || at < 0 || legacy_int(c.legacy, "entries") < 0) {
                rc = broken(rep, "", seq, true, "its legacy field is malformed", r);
                break;
            }
            rep->legacy_entries = legacy_int(c.legacy, "entries");
            memcpy(prev, c.prev_hash, STORE_HEX_MAX); /* the old head, covered by the hash */
            memcpy(rep->legacy_head, c.prev_hash, STORE_HEX_MAX);
            if (at > 0) {
                snprintf(why, sizeof why,
                         "the global chain was already broken at its entry %" PRId64
                         " when schema step 9 moved it into per-order chains"
                         " (the rows are kept in audit_v1)",
                         at);
                rc = broken(rep, "", seq, true, why, r);
                break;
            }
        }
        if (strcmp(c.prev_hash, prev) != 0) {
            rc = broken(rep, "", seq, true, "prev_hash is not the previous checkpoint's hash", r);
            break;
        }
        if (strcmp(c.hash, want) != 0) {
            rc = broken(rep, "", seq, true, "hash does not match the checkpoint's content", r);
            break;
        }
        /* Every head it names must still be there, whole. */
        const char *p = c.heads;
        char last[FG_MAX_ID + 1] = "";
        bool any = false;
        if (*p++ != '[') {
            rc = broken(rep, "", seq, true, "its heads are malformed", r);
            break;
        }
        while (rc == FG_OK && *p != ']') {
            store_audit_head h;
            char hash[STORE_HEX_MAX];
            bool found = false;
            if ((any && *p++ != ',') || !heads_item(&p, &h) ||
                (any && strcmp(h.chain, last) <= 0)) {
                rc = broken(rep, "", seq, true, "its heads are malformed", r);
                break;
            }
            any = true;
            memcpy(last, h.chain, sizeof last);
            if ((rc = entry_at(m, h.chain, h.seq, hash, &found, r)))
                break;
            if (!found || strcmp(hash, h.hash) != 0) {
                snprintf(why, sizeof why,
                         "checkpoint %" PRId64 " names entry %" PRId64
                         " of this chain, which %s (entries were dropped or rewritten)",
                         seq, h.seq, found ? "has another hash" : "is missing");
                rc = broken(rep, h.chain, h.seq, false, why, r);
            }
        }
        if (rc)
            break;
        if (p[1] != '\0') {
            rc = broken(rep, "", seq, true, "its heads are malformed", r);
            break;
        }
        memcpy(prev, c.hash, STORE_HEX_MAX);
    }
    store_audit_checkpoint_release(&c);
    memcpy(rep->head, prev, STORE_HEX_MAX);
    return rc;
}

fg_result store_audit_verify(store_meta *m, store_audit_report *out,
                             fg_reason *r)
{
    struct walk w = {.rep = out};
    memset(out, 0, sizeof *out);
    memcpy(out->head, STORE_AUDIT_GENESIS, STORE_HEX_MAX);
    if (m->tx != STORE_TX_NONE)
        return fg_fail(r, FG_EUSAGE, "audit verify runs in its own transaction");
    /* One snapshot: appends going on meanwhile are not half seen. */
    fg_result rc = store_meta_begin_read(m, r);
    if (rc)
        return rc;
    if ((rc = m->ops->audit_each(m, walk_one, &w, r)) == FG_OK &&
        (rc = verify_heads(m, out, r)) == FG_OK)
        rc = verify_checkpoints(m, out, r);
    store_meta_rollback(m);
    return rc;
}
