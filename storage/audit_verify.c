/* Verifying the audit trail, the same for every backend: every chain,
 * the heads, the checkpoints (storage/audit.h, store_audit_verify). Reads
 * through the backend's ops one entry and one checkpoint at a time. */
#include "storage/audit.h"
#include "common/id.h"
#include "storage/meta_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Walks the heads text of checkpoint seq: with lookup false, checks only
 * its form ("[" items sorted by chain, no duplicate, "]", nothing else, at
 * least one item); with lookup, also that each (chain, seq, hash) is
 * still in its chain. */
static fg_result walk_heads(store_meta *m, store_audit_report *rep, int64_t seq,
                            const char *heads, bool lookup, fg_reason *r)
{
    const char *p = heads;
    char last[FG_MAX_ID + 1] = "";
    char why[FG_REASON_MAX];
    bool any = false;
    if (*p++ != '[' || *p == ']')
        return broken(rep, "", seq, true, "its heads are malformed", r);
    while (*p != ']') {
        store_audit_head h;
        char hash[STORE_HEX_MAX];
        bool found = false;
        if ((any && *p++ != ',') || !heads_item(&p, &h) || (any && strcmp(h.chain, last) <= 0))
            return broken(rep, "", seq, true, "its heads are malformed", r);
        any = true;
        memcpy(last, h.chain, sizeof last);
        if (!lookup)
            continue;
        fg_result rc = entry_at(m, h.chain, h.seq, hash, &found, r);
        if (rc)
            return rc;
        if (!found || strcmp(hash, h.hash) != 0) {
            snprintf(why, sizeof why,
                     "checkpoint %" PRId64 " names entry %" PRId64
                     " of this chain, which %s (entries were dropped or rewritten)",
                     seq, h.seq, found ? "has another hash" : "is missing");
            return broken(rep, h.chain, h.seq, false, why, r);
        }
    }
    if (p[1] != '\0')
        return broken(rep, "", seq, true, "its heads are malformed", r);
    return FG_OK;
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
        /* Its form first (the one way to write it, or a second spelling
         * could hide a chain from some parser), then every head it names
         * must still be there, whole. */
        if ((rc = walk_heads(m, rep, seq, c.heads, false, r)) ||
            (rc = walk_heads(m, rep, seq, c.heads, true, r)))
            break;
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
