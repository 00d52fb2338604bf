#include "orders/delivery.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orders/rules.h"
#include "storage/audit.h"
#include "storage/jobs.h"

/* An audit entry whose detail cannot be built fails the write: evidence
 * of "{}" would say nothing about what happened. d is stolen. */
static fg_result audit(store_meta *m, const char *order_id, const char *actor,
                       const char *action, json_t *d, fg_reason *r)
{
    char *detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    fg_result rc = detail ? store_audit_append(m, order_id, actor, action, detail, NULL, NULL, r)
                          : fg_fail(r, FG_EUSAGE, "cannot write the %s entry (a name is not "
                                                  "valid UTF-8)", action);
    free(detail);
    return rc;
}

/* The outgoing event's envelope, as fcgi/outbox.c writes it:
 * {"type", "timestamp", "data"}. data is stolen. */
static fg_result event(store_meta *m, const char *type, const char *order_id, json_t *data,
                       fg_reason *r)
{
    char now[STORE_TIME_MAX];
    store_time_now(now);
    json_t *doc = data ? json_pack("{s:s, s:s, s:o}", "type", type, "timestamp", now, "data",
                                   data)
                       : NULL;
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    fg_result rc = body ? store_outbox_add(m, type, order_id, body, NULL, r)
                        : fg_fail(r, FG_EIO, "cannot make the %s event", type);
    free(body);
    return rc;
}

fg_result orders_delivery_record(store_meta *m, const char *order_id, const char *actor,
                                 const char *message, orders_file_in *files, size_t n,
                                 orders_delivery_hook hook, void *hook_ctx, int *number,
                                 size_t *jobs, fg_reason *r)
{
    store_order o;
    size_t queued = 0;
    fg_result rc = store_meta_begin(m, r);
    if (rc != FG_OK)
        return rc;
    /* Re-checked inside the transaction: an acceptance that landed while
     * the body was being stored closes the order to this delivery. The
     * caller checked that it is the order's seller; only the state can
     * have changed since. */
    if ((rc = store_order_get(m, order_id, &o, r)) != FG_OK)
        goto fail;
    ord_decision may = ord_may(ORD_SELLER, ord_state_parse(o.state), ORD_DELIVER);
    if (may.rc != FG_OK) {
        rc = fg_fail(r, may.rc, "%s", may.message);
        goto fail;
    }
    if ((rc = store_delivery_create(m, order_id, message, NULL, number, r)) != FG_OK ||
        (hook && (rc = hook(m, *number, hook_ctx, r)) != FG_OK) ||
        (rc = audit(m, order_id, actor, "delivery.created",
                    /* The message as the buyer was shown it: what was promised
                     * with the files is part of a dispute's evidence. */
                    json_pack("{s:i, s:I, s:s}", "number", *number, "files", (json_int_t)n,
                              "message", message ? message : ""),
                    r)) !=
            FG_OK)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        orders_file_in *in = &files[i];
        bool withheld = strcmp(in->kind, "other") == 0;
        store_file f;
        memset(&f, 0, sizeof f);
        snprintf(f.order_id, sizeof f.order_id, "%s", order_id);
        f.delivery = *number;
        snprintf(f.name, sizeof f.name, "%s", in->name);
        f.size = in->size;
        snprintf(f.sha256, sizeof f.sha256, "%s", in->sha256);
        snprintf(f.salt, sizeof f.salt, "%s", in->salt);
        snprintf(f.commitment, sizeof f.commitment, "%s", in->commitment);
        snprintf(f.mime, sizeof f.mime, "%s", in->mime);
        snprintf(f.kind, sizeof f.kind, "%s", in->kind);
        snprintf(f.preview, sizeof f.preview, "%s",
                 withheld ? STORE_PREVIEW_WITHHELD : STORE_PREVIEW_PROCESSING);
        if (withheld)
            snprintf(f.reason, sizeof f.reason, "no preview for type %s", in->mime);
        if ((rc = store_file_add(m, &f, in->id, r)) != FG_OK)
            goto fail;
        /* The buyer reads this trail: the commitment, never the plain
         * sha256, until release reveals both. */
        if ((rc = audit(m, order_id, actor, "file.uploaded",
                        json_pack("{s:s, s:s, s:I, s:s, s:s}", "file_id", in->id, "name",
                                  in->name, "size", (json_int_t)in->size, "commitment",
                                  in->commitment, "type", in->mime),
                        r)) != FG_OK)
            goto fail;
        /* The job commits with its file: no file is left processing
         * without a job that will finish it, whatever crashes next. */
        if (!withheld) {
            if ((rc = store_job_add(m, STORE_JOB_PREVIEW, in->id, order_id, 0, NULL, NULL, r)) !=
                FG_OK)
                goto fail;
            queued++;
        }
    }
    if (queued == 0 &&
        (rc = orders_delivery_announce_if_done(m, order_id, *number, NULL, r)) != FG_OK)
        goto fail;
    if ((rc = store_meta_commit(m, r)) != FG_OK)
        return rc;
    if (jobs)
        *jobs = queued;
    return FG_OK;
fail:
    store_meta_rollback(m);
    return rc;
}

const char *orders_delivery_state(const store_file_list *files, const char *order_id, int number)
{
    bool failed = false;
    for (size_t i = 0; i < files->n; i++) {
        const store_file *f = &files->items[i];
        if (f->delivery != number || strcmp(f->order_id, order_id) != 0)
            continue;
        if (strcmp(f->preview, STORE_PREVIEW_PROCESSING) == 0)
            return ORDERS_DELIVERY_PROCESSING;
        failed = failed || strcmp(f->preview, STORE_PREVIEW_FAILED) == 0;
    }
    return failed ? ORDERS_DELIVERY_FAILED : ORDERS_DELIVERY_READY;
}

fg_result orders_delivery_announce_if_done(store_meta *m, const char *order_id, int number,
                                           bool *announced, fg_reason *r)
{
    store_file_list files = {0};
    json_t *list = NULL;
    if (announced)
        *announced = false;
    fg_result rc = store_file_list_delivery(m, order_id, number, &files, r);
    if (rc != FG_OK)
        return rc;
    const char *state = orders_delivery_state(&files, order_id, number);
    if (strcmp(state, ORDERS_DELIVERY_PROCESSING) == 0)
        goto out;
    if (!(list = json_array())) {
        rc = fg_fail(r, FG_EIO, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < files.n; i++) {
        const store_file *f = &files.items[i];
        if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", f->id,
                                                  "name", f->name, "sha256", f->sha256,
                                                  "preview", f->preview, "reason",
                                                  f->reason)) != 0) {
            rc = fg_fail(r, FG_EIO, "cannot make the delivery event (a name is not valid "
                                    "UTF-8)");
            goto out;
        }
    }
    bool failed = strcmp(state, ORDERS_DELIVERY_FAILED) == 0;
    rc = event(m, failed ? "delivery.failed" : "delivery.ready", order_id,
               json_pack("{s:s, s:i, s:O}", "order_id", order_id, "number", number, "files",
                         list),
               r);
    if (rc == FG_OK && announced)
        *announced = true;
out:
    json_decref(list);
    store_file_list_release(&files);
    return rc;
}
