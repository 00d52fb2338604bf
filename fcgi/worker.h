/* What every worker thread holds: its own metadata handle (SQLite handles
 * are per thread), the shared blob store, and the process-wide settings. */
#ifndef FCGI_WORKER_H
#define FCGI_WORKER_H

#include "common/sign.h"
#include "fcgi/config.h"
#include "fcgi/webhook_sig.h"
#include "storage/blob.h"
#include "storage/meta.h"
#include "watermark/sandbox.h"

typedef struct fcgi_ctx {
    const struct fcgi_config *cfg;       /* shared, read-only */
    const wm_sandbox_limits *sandbox;    /* shared, read-only */
    store_blob *blobs;                   /* shared: no mutable state */
    store_meta *meta;                    /* this thread's own */
} fcgi_ctx;

#endif
