/* Recording a delivery, and what follows from its files' outcomes: the
 * application layer between the upload handler (fcgi/h_deliveries.c) and
 * the store. Knows nothing of HTTP.
 *
 * A delivery is recorded with its files and one preview job per file that
 * can have a preview, in one transaction, and the upload is answered at
 * once: previews are made afterwards by the job runners
 * (orders/preview_job.h). Its state is derived from its files':
 * processing while one is, failed if one failed, ready otherwise. The
 * transaction that records the last file's outcome also enqueues
 * delivery.ready or delivery.failed in the outbox. */
#ifndef ORDERS_DELIVERY_H
#define ORDERS_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/result.h"
#include "storage/meta.h"

#define ORDERS_DELIVERY_PROCESSING "processing"
#define ORDERS_DELIVERY_READY "ready"
#define ORDERS_DELIVERY_FAILED "failed"

/* One delivered file, stored as a blob already. */
typedef struct orders_file_in {
    char name[FG_MAX_FILE_NAME + 1];
    char sha256[STORE_HEX_MAX];
    char salt[STORE_HEX_MAX];       /* "" for none */
    char commitment[STORE_HEX_MAX]; /* "" exactly when salt is */
    int64_t size;
    char mime[FG_MAX_MIME + 1];     /* detected from the content */
    char kind[STORE_WORD_MAX];      /* image|pdf|archive|other */
    char id[STORE_FILE_ID_MAX];     /* out: the file's id */
} orders_file_in;

/* Called inside orders_delivery_record's transaction once the delivery's
 * number is known, for what the caller must record atomically with it
 * (an Idempotency-Key's record). A failure rolls everything back. */
typedef fg_result (*orders_delivery_hook)(store_meta *m, int number, void *ctx, fg_reason *r);

/* In one write transaction: checks that order_id still takes deliveries
 * from its seller (orders/rules.h: FG_ESTATE once accepted or cancelled),
 * creates its next delivery (*number), calls hook (may be NULL) with it,
 * a file row per file (preview "processing", or "withheld" for kind
 * "other"), their audit entries (actor), and a preview job per file that
 * is processing. A delivery with nothing to preview is ready at once, and
 * its delivery.ready is enqueued in the same transaction. *jobs (may be
 * NULL) receives the number of jobs added, to wake the runners. Nothing
 * is recorded on failure. */
FG_MUST_CHECK fg_result orders_delivery_record(store_meta *m, const char *order_id,
                                               const char *actor, const char *message,
                                               orders_file_in *files, size_t n,
                                               orders_delivery_hook hook, void *hook_ctx,
                                               int *number /* out */, size_t *jobs /* out */,
                                               fg_reason *r);

/* The state of delivery `number` from the files of the list that belong
 * to it (other files are skipped): ORDERS_DELIVERY_*. Can't fail. */
const char *orders_delivery_state(const store_file_list *files, const char *order_id,
                                  int number);

/* Inside the caller's write transaction: if no file of the delivery is
 * still processing, enqueues delivery.ready (or delivery.failed when a
 * file failed) with every file's preview state; *announced (may be NULL)
 * says whether it did. Call it in the transaction that records a file's
 * move out of "processing", so that exactly one outcome, the last,
 * announces the delivery. */
FG_MUST_CHECK fg_result orders_delivery_announce_if_done(store_meta *m, const char *order_id,
                                                         int number, bool *announced /* out */,
                                                         fg_reason *r);

#endif
