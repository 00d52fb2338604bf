/* GET /v1/orders/{order}/deliveries/{n}/archive: a zip of one delivery's
 * originals, streamed, for whoever may have the originals (the seller and
 * the admin always, the buyer once the order is accepted).
 *
 * The zip is written by libarchive (store method: deliverables are mostly
 * compressed already) straight into the FastCGI stream; nginx spools it to
 * a temp file (fastcgi_max_temp_file_size in nginx.conf covers the largest
 * delivery), so the thread is free at disk speed whatever the client's.
 * libarchive only writes here, from our own blobs: nothing untrusted is
 * decoded in the worker. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fcgi/access.h"
#include "fcgi/handlers.h"
#include "fcgi/log.h"
#include "fcgi/metrics.h"
#include "fcgi/outbox.h"
#include "fcgi/worker.h"
#include "storage/audit.h"
#include "storage/links.h"
#include "watermark/archive_name.h"

#define CHUNK (256 * 1024)

static la_ssize_t to_fcgi(struct archive *a, void *client, const void *buf, size_t len)
{
    (void)a;
    FCGX_Stream *out = client;
    /* A client gone (nginx closed the connection) ends the archive. */
    return FCGX_PutStr(buf, (int)len, out) == (int)len ? (la_ssize_t)len : -1;
}

/* The name a file gets in the zip: the seller's name made a harmless
 * relative path (the buyer extracts it: no "..", no absolute path), and
 * " (2)", " (3)"... before the extension when a delivery holds two files
 * of one name. */
static char *entry_name(const store_file *f, const store_file_list *files, size_t index)
{
    char *esc = wm_archive_name_escape(f->name, sizeof f->name);
    char *safe = esc ? wm_archive_name_safe(esc, (long)index) : NULL;
    free(esc);
    if (!safe)
        return NULL;
    int same = 0;
    for (size_t i = 0; i < index; i++)
        same += strcmp(files->items[i].name, f->name) == 0;
    if (!same)
        return safe;
    size_t n = strlen(safe) + 16;
    char *out = malloc(n);
    const char *dot = strrchr(safe, '.');
    if (out && dot && dot != safe && !strchr(dot, '/'))
        snprintf(out, n, "%.*s (%d)%s", (int)(dot - safe), safe, same + 1, dot);
    else if (out)
        snprintf(out, n, "%s (%d)", safe, same + 1);
    free(safe);
    return out;
}

/* Writes one blob as one entry. */
static fg_result add_file(struct archive *a, fcgi_ctx *ctx, const store_file *f,
                          const char *name, char *buf, fg_reason *r)
{
    char path[PATH_MAX];
    int fd = -1;
    /* A local file to read (S3: a copy in the scratch directory, given
     * back below). */
    fg_result rc = store_blob_acquire_local(ctx->blobs, f->sha256, path, sizeof path, r);
    if (rc != FG_OK)
        return rc;
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        store_blob_release_local(ctx->blobs, path);
        return fg_fail(r, FG_EIO, "cannot read a stored file");
    }
    struct archive_entry *e = archive_entry_new();
    if (!e) {
        close(fd);
        store_blob_release_local(ctx->blobs, path);
        return fg_fail(r, FG_EIO, "out of memory");
    }
    archive_entry_set_pathname_utf8(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, f->size);
    archive_entry_set_mtime(e, time(NULL), 0);
    rc = FG_OK;
    if (archive_write_header(a, e) != ARCHIVE_OK) {
        rc = fg_fail(r, FG_EIO, "cannot write the archive: %s", archive_error_string(a));
        goto out;
    }
    int64_t left = f->size;
    while (left > 0) {
        ssize_t n = read(fd, buf, left < CHUNK ? (size_t)left : CHUNK);
        if (n <= 0) {
            rc = fg_fail(r, FG_EIO, "cannot read a stored file");
            goto out;
        }
        if (archive_write_data(a, buf, (size_t)n) != n) {
            rc = fg_fail(r, FG_EIO, "cannot write the archive: %s", archive_error_string(a));
            goto out;
        }
        left -= n;
    }
out:
    archive_entry_free(e);
    close(fd);
    store_blob_release_local(ctx->blobs, path);
    return rc;
}

/* A buyer's archive download counts once for each file in it (DESIGN,
 * Settled details): each file's download counter, a file.downloaded audit
 * entry and a file.downloaded event per file, as a download of that file
 * alone would, plus one delivery.downloaded entry saying which delivery
 * the zip held; all in one transaction, before any byte is sent. Each
 * count is held to the order's max_downloads (storage/links.h): a zip
 * that would take one file past it is refused as a whole (403
 * download_limit, nothing counted), and a zip whose counts cannot be
 * recorded is not sent. False when the request was answered. */
static bool record_buyer(fcgi_req *req, const struct fcgi_claims *who, const store_order *o,
                         int number, const store_file_list *files)
{
    if (who->role != FCGI_ROLE_BUYER)
        return true;
    char actor[FG_MAX_ACTOR + 1], detail[96];
    fg_reason r = {{0}};
    store_meta *m = req->ctx->meta;
    bool taken = true;
    int64_t *n = calloc(files->n ? files->n : 1, sizeof *n);
    fcgi_actor(who, actor, sizeof actor);
    snprintf(detail, sizeof detail, "{\"files\":%zu,\"number\":%d}", files->n, number);
    /* Every counter first, then the order's audit chain: the lock order
     * of a single download too (file row, then the chain's head), so two
     * PostgreSQL transactions never wait on each other in a cycle. */
    fg_result rc = n ? store_meta_begin(m, &r) : fg_fail(&r, FG_EIO, "out of memory");
    for (size_t i = 0; rc == FG_OK && taken && i < files->n; i++)
        rc = store_file_count_download(m, files->items[i].id, &taken, &n[i], &r);
    if (rc == FG_OK && !taken) {
        store_meta_rollback(m);
        free(n);
        fcgi_send_error(req, FG_EFORBIDDEN, "download_limit",
                        "the buyer has downloaded a file of this delivery as often as the "
                        "order allows");
        return false;
    }
    if (rc == FG_OK)
        rc = store_audit_append(m, o->id, actor, "delivery.downloaded", detail, NULL, NULL, &r);
    for (size_t i = 0; rc == FG_OK && i < files->n; i++) {
        const store_file *f = &files->items[i];
        json_t *d = json_pack("{s:s, s:s, s:I, s:i}", "file_id", f->id, "sha256", f->sha256,
                              "count", (json_int_t)n[i], "archive", number);
        char *text = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(d);
        rc = text ? store_audit_append(m, o->id, actor, "file.downloaded", text, NULL, NULL, &r)
                  : fg_fail(&r, FG_EIO, "out of memory");
        free(text);
        if (rc == FG_OK)
            rc = fcgi_event_enqueue(m, "file.downloaded", o->id,
                                    json_pack("{s:s, s:s, s:I}", "order_id", o->id, "file_id",
                                              f->id, "count", (json_int_t)n[i]),
                                    &r);
    }
    free(n);
    if (rc == FG_OK)
        rc = store_meta_commit(m, &r);
    if (rc != FG_OK) {
        store_meta_rollback(m);
        fcgi_log(FCGI_LOG_ERROR, "req=%s error=\"cannot record download: %s\"", req->id, r.text);
        fcgi_send_error(req, FG_EIO, NULL, "cannot record the download");
        return false;
    }
    return true;
}

void fcgi_h_delivery_archive(fcgi_req *req)
{
    struct fcgi_claims who;
    store_order o;
    store_delivery d;
    store_file_list files = {0};
    struct archive *a = NULL;
    char *buf = NULL;
    fg_reason r = {{0}};
    fcgi_ctx *ctx = req->ctx;
    char *end = NULL;
    long number = strtol(req->params[1], &end, 10);
    if (!fcgi_load_order(req, req->params[0], ORD_ARCHIVE, &who, &o))
        return;
    if (*end || number < 1 || number > 1000000) {
        fcgi_send_error(req, FG_EUSAGE, "bad_id", "the delivery number must be a positive integer");
        return;
    }
    fg_result rc = store_meta_begin_read(ctx->meta, &r);
    if (rc == FG_OK)
        rc = store_delivery_get(ctx->meta, o.id, (int)number, &d, &r);
    if (rc == FG_OK)
        rc = store_file_list_delivery(ctx->meta, o.id, (int)number, &files, &r);
    store_meta_rollback(ctx->meta);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, rc == FG_ENOTFOUND ? "no such delivery" : r.text);
        goto out;
    }
    /* Retention purged its files (orders/retention.h): their bytes are
     * gone or about to be, so no zip, before any status is sent. */
    for (size_t i = 0; i < files.n; i++)
        if (files.items[i].purged_at[0]) {
            fcgi_send_error(req, FG_EGONE, "purged", "the delivery's files were purged");
            goto out;
        }
    if (!(buf = malloc(CHUNK)) || !(a = archive_write_new()) ||
        archive_write_set_format_zip(a) != ARCHIVE_OK ||
        archive_write_set_options(a, "zip:compression=store") != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
        fcgi_send_error(req, FG_EIO, NULL, "cannot start the archive");
        goto out;
    }

    char name[FG_MAX_ID + 48];
    snprintf(name, sizeof name, "%s delivery %ld.zip", o.id, number);
    fcgi_file_reply head = {.content_type = "application/zip", .cache_control = "private, no-store"};
    /* A GET is counted (and may be refused) before the status goes out. */
    if (strcmp(req->method, "HEAD") != 0 && !record_buyer(req, &who, &o, (int)number, &files))
        goto out;
    if (fcgi_send_stream_head(req, &head, name) != FG_OK)
        goto out; /* the client is gone: nothing to answer */
    /* HEAD: the headers are the whole answer; no zip is made, and nothing
     * is downloaded, so nothing is counted. */
    if (strcmp(req->method, "HEAD") == 0)
        goto out;
    if (archive_write_open2(a, req->fx->out, NULL, to_fcgi, NULL, NULL) != ARCHIVE_OK)
        goto out;
    for (size_t i = 0; i < files.n; i++) {
        char *ename = entry_name(&files.items[i], &files, i);
        rc = ename ? add_file(a, ctx, &files.items[i], ename, buf, &r)
                   : fg_fail(&r, FG_EIO, "out of memory");
        free(ename);
        if (rc != FG_OK) {
            /* The status is sent: a cut archive is what the client gets,
             * and the log says why. */
            fcgi_log(FCGI_LOG_ERROR, "req=%s order=%s delivery=%ld error=\"%s\"", req->id, o.id,
                     number, r.text);
            goto out;
        }
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        fcgi_log(FCGI_LOG_ERROR, "req=%s error=\"cannot finish the archive: %s\"", req->id,
                 archive_error_string(a));
    fcgi_metric_inc(FCGI_M_DOWNLOADS_ORIGINAL);
out:
    if (a)
        archive_write_free(a);
    free(buf);
    store_file_list_release(&files);
}
