#include "orders/retention.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/setting.h"
#include "orders/rules.h"
#include "storage/audit.h"
#include "storage/purge.h"

/* Orders examined per query: bounds memory whatever the backlog; the
 * loop runs until a batch comes back short. */
#define PURGE_BATCH 64

fg_result orders_retention_load(orders_retention *s, fg_reason *r)
{
    long long cancelled = ORDERS_RETENTION_DAYS_DEFAULT, accepted = -1;
    fg_result rc;
    if ((rc = fg_env_count("FILIGRANE_RETENTION_DAYS", false, 0, ORDERS_RETENTION_DAYS_MAX,
                           &cancelled, r)) ||
        (rc = fg_env_count("FILIGRANE_RETENTION_ACCEPTED_DAYS", false, 0,
                           ORDERS_RETENTION_DAYS_MAX, &accepted, r)))
        return rc;
    s->cancelled_days = cancelled;
    s->accepted_days = accepted;
    return FG_OK;
}

/* now - days, as the store writes times. */
static void cutoff_of(int64_t now, long long days, char out[STORE_TIME_MAX])
{
    time_t t = (time_t)(now - (int64_t)days * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, STORE_TIME_MAX, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* The order.purged entry: every file this purge removes. The buyer reads
 * the trail: the commitment always, the plain sha256 only once released
 * (as file.uploaded and file.released do). NULL if it cannot be built. */
static char *purge_detail(const store_order *o, const store_file_list *files)
{
    bool reveal = strcmp(o->state, STORE_STATE_ACCEPTED) == 0;
    json_t *list = json_array(), *d = NULL;
    char *text = NULL;
    if (!list)
        return NULL;
    for (size_t i = 0; i < files->n; i++) {
        const store_file *f = &files->items[i];
        if (f->purged_at[0])
            continue;
        json_t *e = json_pack("{s:s, s:s, s:I, s:i, s:s}", "file_id", f->id, "name", f->name,
                              "size", (json_int_t)f->size, "delivery", f->delivery,
                              "commitment", f->commitment);
        if (e && reveal && json_object_set_new(e, "sha256", json_string(f->sha256)) != 0) {
            json_decref(e);
            e = NULL;
        }
        if (!e || json_array_append_new(list, e) != 0)
            goto out;
    }
    d = json_pack("{s:s, s:s, s:O}", "reason", "retention", "state", o->state, "files", list);
    text = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
out:
    json_decref(d);
    json_decref(list);
    return text;
}

/* One order, one transaction: state checked again (only a final state is
 * purged: never a disputed or open order, whatever the list said), files
 * marked, the audit entry. */
static fg_result purge_one(store_meta *m, const char *order_id, const char *want_state,
                           bool keep_accepted, int64_t *nfiles, fg_reason *r)
{
    store_order o;
    store_file_list files = {0};
    char *detail = NULL;
    *nfiles = 0;
    fg_result rc = store_meta_begin(m, r);
    if (rc)
        return rc;
    if ((rc = store_order_get(m, order_id, &o, r)))
        goto out;
    /* Nothing to do if the order left that state since it was listed, or
     * if the rules (orders/rules.h: never open or disputed) say no. */
    if (strcmp(o.state, want_state) != 0 || !ord_may_purge(ord_state_parse(o.state), keep_accepted))
        goto out;
    if ((rc = store_file_list_order(m, order_id, &files, r)))
        goto out;
    if (!(detail = purge_detail(&o, &files))) {
        rc = fg_fail(r, FG_EIO, "cannot build the audit entry of order %s's purge", order_id);
        goto out;
    }
    if ((rc = store_purge_files(m, order_id, NULL, nfiles, r)) == FG_OK && *nfiles > 0)
        rc = store_audit_append(m, order_id, "filigrane", "order.purged", detail, NULL, NULL, r);
out:
    free(detail);
    store_file_list_release(&files);
    if (rc == FG_OK && *nfiles > 0)
        return store_meta_commit(m, r);
    store_meta_rollback(m);
    *nfiles = 0;
    return rc;
}

static fg_result purge_state(store_meta *m, const char *state, const char *cutoff,
                             bool keep_accepted, orders_purged_fn fn, void *ctx,
                             orders_purge_stats *st, fg_reason *r)
{
    char(*ids)[FG_MAX_ID + 1] = calloc(PURGE_BATCH, sizeof *ids);
    size_t n = 0;
    fg_result rc = FG_OK;
    if (!ids)
        return fg_fail(r, FG_EIO, "cannot purge: out of memory");
    do {
        int64_t progress = st->orders;
        if ((rc = store_purge_due(m, state, cutoff, PURGE_BATCH, ids, &n, r)))
            break;
        for (size_t i = 0; i < n && rc == FG_OK; i++) {
            int64_t files = 0;
            if ((rc = purge_one(m, ids[i], state, keep_accepted, &files, r)) == FG_OK && files > 0) {
                st->orders++;
                st->files += files;
                if (fn)
                    fn(ctx, ids[i], state, files);
            }
        }
        /* A full batch in which nothing could be purged would come back
         * the same: stop rather than spin. */
        if (st->orders == progress)
            break;
    } while (rc == FG_OK && n == PURGE_BATCH);
    free(ids);
    return rc;
}

fg_result orders_retention_purge(store_meta *m, const orders_retention *s, int64_t now,
                                 orders_purged_fn fn, void *ctx, orders_purge_stats *out,
                                 fg_reason *r)
{
    orders_purge_stats st = {0, 0};
    char cutoff[STORE_TIME_MAX];
    fg_result rc = FG_OK;
    if (store_meta_in_tx(m))
        return fg_fail(r, FG_EUSAGE, "a purge runs outside transactions");
    cutoff_of(now, s->cancelled_days, cutoff);
    bool keep_accepted = s->accepted_days < 0;
    rc = purge_state(m, STORE_STATE_CANCELLED, cutoff, keep_accepted, fn, ctx, &st, r);
    if (rc == FG_OK && s->accepted_days >= 0) {
        cutoff_of(now, s->accepted_days, cutoff);
        rc = purge_state(m, STORE_STATE_ACCEPTED, cutoff, keep_accepted, fn, ctx, &st, r);
    }
    if (out)
        *out = st;
    return rc;
}
