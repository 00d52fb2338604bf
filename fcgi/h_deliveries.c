/* POST /v1/orders/{order}/deliveries: a seller delivers a new version.
 *
 * nginx has already written the whole body to a file (REQUEST_BODY_FILE),
 * so nothing here holds an upload in memory: a multipart body is split
 * into temp files while each part is hashed, a raw body is renamed into
 * the blob store as it is. Then, in one transaction, the delivery, its
 * files, their audit rows and the Idempotency-Key's record (if the request
 * has one: fcgi/idempotency.h) are recorded; then each previewable file is
 * stamped in the sandbox before the 201. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/commit.h"
#include "fcgi/access.h"
#include "fcgi/body_file.h"
#include "fcgi/handlers.h"
#include "fcgi/idempotency.h"
#include "fcgi/log.h"
#include "fcgi/metrics.h"
#include "fcgi/multipart.h"
#include "fcgi/outbox.h"
#include "fcgi/previews.h"
#include "fcgi/views.h"
#include "storage/audit.h"
#include "storage/blob_refs.h"
#include "watermark/wm.h"

/* One delivered file on its way in. */
typedef struct incoming {
    char name[FG_MAX_FILE_NAME + 1];
    char sha256[STORE_HEX_MAX];
    char salt[STORE_HEX_MAX];       /* common/commit.h: shown to the */
    char commitment[STORE_HEX_MAX]; /* buyer instead of sha256 */
    int64_t size;
    wm_type type;
    char id[STORE_FILE_ID_MAX];
} incoming;

typedef struct upload {
    incoming *files;
    size_t n;
    char *message;
} upload;

static void upload_release(upload *u)
{
    free(u->files);
    free(u->message);
    memset(u, 0, sizeof *u);
}

/* Stores one temp file (consumed on success) as a blob and detects its type
 * from the stored content. A multipart part comes hashed, with its salt
 * and commitment (mp); a raw body is hashed here, the commitment under a
 * salt drawn here computed in the same pass. */
static fg_result store_one(fcgi_ctx *ctx, const char *path, const struct fcgi_upload_file *mp,
                           const char *name, incoming *in, fg_reason *r)
{
    char blob[4096], stored[STORE_HEX_MAX];
    unsigned char salt[FG_SALT_BYTES];
    fg_result rc = FG_OK;
    if (strlen(name) > FG_MAX_FILE_NAME)
        return fg_fail(r, FG_ELIMIT, "file name is longer than %d bytes", FG_MAX_FILE_NAME);
    /* A multipart part comes hashed; a raw body is hashed here, with its
     * commitment, in one read. Either way the blob is registered before
     * it is stored (storage/blob_refs.h): a blob whose delivery is then
     * refused is removed by the collector. */
    if (mp) {
        snprintf(in->sha256, sizeof in->sha256, "%s", mp->sha256);
        snprintf(in->salt, sizeof in->salt, "%s", mp->salt);
        snprintf(in->commitment, sizeof in->commitment, "%s", mp->commitment);
    } else if ((rc = fg_salt_new(salt, r)) == FG_OK &&
               (rc = store_blob_hash_file_committed(path, salt, in->sha256, in->commitment,
                                                    NULL, r)) == FG_OK) {
        fg_hex_encode(salt, sizeof salt, in->salt);
    }
    if (rc != FG_OK || (rc = store_blob_ref_touch(ctx->meta, in->sha256, r)) != FG_OK ||
        (rc = store_blob_put_file(ctx->blobs, path, in->sha256, stored, &in->size, r)) != FG_OK)
        return rc;
    if (in->size == 0)
        return fg_fail(r, FG_EUSAGE, "file \"%.80s\" is empty", name);
    if ((rc = store_blob_local_path(ctx->blobs, in->sha256, blob, sizeof blob, r)) != FG_OK ||
        (rc = wm_detect_file(blob, &in->type, r)) != FG_OK)
        return rc;
    snprintf(in->name, sizeof in->name, "%s", name);
    return FG_OK;
}

static fg_result read_multipart(fcgi_req *req, int fd, const char *ctype,
                                const struct fcgi_upload_limits *lim, upload *u, fg_reason *r)
{
    struct fcgi_multipart mp = {0};
    struct fcgi_body body = {.read = NULL, .ctx = NULL, .fd = fd};
    fcgi_ctx *ctx = req->ctx;
    fg_result rc = fcgi_multipart_parse(&body, ctype, store_blob_tmp_dir(ctx->blobs), lim, &mp, r);
    if (rc != FG_OK)
        return rc;
    if (mp.nfiles == 0) {
        rc = fg_fail(r, FG_EUSAGE, "the delivery has no file part");
        goto out;
    }
    for (size_t i = 0; i < mp.nfields; i++)
        if (strcmp(mp.fields[i].name, "message") == 0 && !u->message &&
            !(u->message = strdup(mp.fields[i].value))) {
            rc = fg_fail(r, FG_EIO, "out of memory");
            goto out;
        }
    if (!(u->files = calloc(mp.nfiles, sizeof *u->files))) {
        rc = fg_fail(r, FG_EIO, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < mp.nfiles; i++, u->n++) {
        struct fcgi_upload_file *f = &mp.files[i];
        const char *name = f->filename && *f->filename ? f->filename : "unnamed";
        if ((rc = store_one(ctx, f->path, f, name, &u->files[i], r)) != FG_OK)
            goto out;
        free(fcgi_upload_file_take_path(f)); /* consumed by the store */
    }
out:
    fcgi_multipart_release(&mp); /* removes the temp files not taken */
    return rc;
}

static fg_result read_raw(fcgi_req *req, const char *body_file, int fd,
                          const struct fcgi_upload_limits *lim, upload *u, fg_reason *r)
{
    char name[FG_MAX_FILE_NAME + 1];
    struct stat st;
    if (!fcgi_query(req, "filename", name, sizeof name) || !*name)
        return fg_fail(r, FG_EUSAGE,
                       "a raw upload needs ?filename= (or send multipart/form-data)");
    if (fstat(fd, &st) != 0)
        return fg_fail(r, FG_EIO, "cannot read the upload");
    if (st.st_size > lim->max_file_bytes)
        return fg_fail(r, FG_ELIMIT, "file is larger than the limit of %lld bytes",
                       lim->max_file_bytes);
    if (!(u->files = calloc(1, sizeof *u->files)))
        return fg_fail(r, FG_EIO, "out of memory");
    u->n = 1;
    /* nginx wrote the body in the data directory's file system: the store
     * renames it into place, hashing it on the way (no second copy). */
    return store_one(req->ctx, body_file, NULL, name, &u->files[0], r);
}

/* Idempotency-Key: what this request delivers, as its fingerprint (the
 * message and the ordered (name, sha256) of the files: a retried
 * multipart body has a new boundary, so not the raw body). */
static fg_result idem_fingerprint(const upload *u, char out[STORE_HEX_MAX], fg_reason *r)
{
    const char **names = calloc(u->n ? u->n : 1, sizeof *names);
    const char **shas = calloc(u->n ? u->n : 1, sizeof *shas);
    fg_result rc = FG_OK;
    if (!names || !shas) {
        rc = fg_fail(r, FG_EIO, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < u->n; i++) {
        names[i] = u->files[i].name;
        shas[i] = u->files[i].sha256;
    }
    store_idem_fingerprint(u->message, u->n, names, shas, out);
out:
    free(names);
    free(shas);
    return rc;
}

/* Idempotency-Key, before recording: a key that names an earlier delivery
 * is answered here (that delivery, or 422 for other content), and the
 * request records nothing. True when answered. */
static bool idem_answered(fcgi_req *req, const fcgi_idem *ik, const upload *u,
                          char fp[STORE_HEX_MAX])
{
    fg_reason r = {{0}};
    fg_result rc;
    if (!ik->on)
        return false;
    if ((rc = idem_fingerprint(u, fp, &r)) != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return true;
    }
    if (!fcgi_idem_done(ik))
        return false;
    fcgi_idem_answer(req, ik, fp);
    return true;
}

/* The transaction: order still open, next delivery number, file rows,
 * audit rows, and the Idempotency-Key's record (ik, fingerprint fp).
 * *number receives the delivery's number. */
static fg_result record(fcgi_req *req, const struct fcgi_claims *who, const char *order_id,
                        upload *u, const fcgi_idem *ik, const char *fp, int *number,
                        fg_reason *r)
{
    store_meta *m = req->ctx->meta;
    store_order o;
    char actor[FG_MAX_ACTOR + 1];
    fcgi_actor(who, actor, sizeof actor);
    fg_result rc = store_meta_begin(m, r);
    if (rc != FG_OK)
        return rc;
    /* Re-checked inside the transaction: an acceptance that landed while
     * the body was being stored closes the order to this delivery. */
    if ((rc = store_order_get(m, order_id, &o, r)) != FG_OK)
        goto fail;
    ord_decision may = ord_may(ord_party_of(fcgi_ord_role(who), who->sub, who->ord, &o),
                               ord_state_parse(o.state), ORD_DELIVER);
    if (may.rc != FG_OK) {
        rc = fg_fail(r, may.rc, "%s", may.message);
        goto fail;
    }
    if ((rc = store_delivery_create(m, order_id, u->message, NULL, number, r)) != FG_OK ||
        (rc = fcgi_idem_record(m, ik, fp, *number, r)) != FG_OK)
        goto fail;
    json_t *d = json_pack("{s:i, s:I}", "number", *number, "files", (json_int_t)u->n);
    char *detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    /* No detail, no entry: the store would record "{}" for NULL, and an
     * audit entry that says nothing is not evidence. */
    rc = detail ? store_audit_append(m, order_id, actor, "delivery.created", detail, NULL, NULL, r)
                : fg_fail(r, FG_EIO, "cannot build the audit entry: out of memory");
    free(detail);
    if (rc != FG_OK)
        goto fail;
    for (size_t i = 0; i < u->n; i++) {
        incoming *in = &u->files[i];
        store_file f;
        memset(&f, 0, sizeof f);
        snprintf(f.order_id, sizeof f.order_id, "%s", order_id);
        f.delivery = *number;
        snprintf(f.name, sizeof f.name, "%s", in->name);
        f.size = in->size;
        snprintf(f.sha256, sizeof f.sha256, "%s", in->sha256);
        snprintf(f.salt, sizeof f.salt, "%s", in->salt);
        snprintf(f.commitment, sizeof f.commitment, "%s", in->commitment);
        snprintf(f.mime, sizeof f.mime, "%s", in->type.mime);
        snprintf(f.kind, sizeof f.kind, "%s", wm_kind_name(in->type.kind));
        snprintf(f.preview, sizeof f.preview, "%s",
                 in->type.kind == WM_KIND_OTHER ? STORE_PREVIEW_WITHHELD
                                                : STORE_PREVIEW_PROCESSING);
        if (in->type.kind == WM_KIND_OTHER)
            snprintf(f.reason, sizeof f.reason, "no preview for type %s", in->type.mime);
        if ((rc = store_file_add(m, &f, in->id, r)) != FG_OK)
            goto fail;
        /* The buyer reads this trail: the commitment, never the plain
         * sha256, until release reveals both (fcgi/h_hooks.c). */
        d = json_pack("{s:s, s:s, s:I, s:s, s:s}", "file_id", in->id, "name", in->name, "size",
                      (json_int_t)in->size, "commitment", in->commitment, "type",
                      in->type.mime);
        detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(d);
        rc = detail ? store_audit_append(m, order_id, actor, "file.uploaded", detail, NULL, NULL, r)
                    : fg_fail(r, FG_EUSAGE, "file name is not valid UTF-8");
        free(detail);
        if (rc != FG_OK)
            goto fail;
    }
    return store_meta_commit(m, r);
fail:
    store_meta_rollback(m);
    return rc;
}

/* Once the previews are made: delivery.ready for the order system, or
 * delivery.failed if a preview failed (or was left unrecorded), with
 * every file's preview state. Logged, not fatal: the delivery stands. */
static void announce(fcgi_req *req, const char *order_id, int number)
{
    fg_reason r = {{0}};
    store_meta *m = req->ctx->meta;
    store_file_list files = {0};
    bool failed = false;
    json_t *list = json_array();
    fg_result rc = store_meta_begin(m, &r);
    if (rc == FG_OK)
        rc = store_file_list_delivery(m, order_id, number, &files, &r);
    for (size_t i = 0; rc == FG_OK && i < files.n; i++) {
        const store_file *f = &files.items[i];
        failed = failed || strcmp(f->preview, STORE_PREVIEW_FAILED) == 0 ||
                 strcmp(f->preview, STORE_PREVIEW_PROCESSING) == 0;
        if (!list || json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id",
                                                           f->id, "name", f->name, "sha256",
                                                           f->sha256, "preview", f->preview,
                                                           "reason", f->reason)) != 0)
            rc = fg_fail(&r, FG_EIO, "out of memory");
    }
    if (rc == FG_OK)
        rc = fcgi_event_enqueue(m, failed ? "delivery.failed" : "delivery.ready", order_id,
                                json_pack("{s:s, s:i, s:O}", "order_id", order_id, "number",
                                          number, "files", list),
                                &r);
    if (rc == FG_OK)
        rc = store_meta_commit(m, &r);
    if (rc != FG_OK) {
        store_meta_rollback(m);
        fcgi_log(FCGI_LOG_ERROR, "req=%s order=%s delivery=%d error=\"cannot record event: %s\"",
                 req->id, order_id, number, r.text);
    }
    json_decref(list);
    store_file_list_release(&files);
}

void fcgi_h_delivery_create(fcgi_req *req)
{
    struct fcgi_claims who;
    store_order o;
    fg_reason r = {{0}};
    upload u = {0};
    fcgi_idem ik;
    char fp[STORE_HEX_MAX] = "";
    int fd = -1, number = 0;
    fcgi_ctx *ctx = req->ctx;
    const char *order_id = req->params[0];
    fg_result rc;

    if (!fcgi_load_order(req, order_id, ORD_DELIVER, &who, &o))
        return;

    const char *body_file = fcgi_param(req, "REQUEST_BODY_FILE");
    const char *ctype = fcgi_param(req, "CONTENT_TYPE");
    if (!body_file || !*body_file) {
        /* nginx makes no body file for an empty body. */
        fcgi_send_error(req, FG_EUSAGE, "empty_upload", "the upload is empty");
        return;
    }
    /* Only a file nginx wrote in its body directory (fcgi/body_file.h):
     * the path is the client's word when the client is not nginx. */
    if ((rc = fcgi_body_file_open(body_file, &fd, &r)) != FG_OK) {
        fcgi_send_error(req, rc, rc == FG_EFORBIDDEN ? "bad_body_file" : NULL, r.text);
        return;
    }
    if (!fcgi_idem_begin(req, who.sub, order_id, &ik)) {
        close(fd);
        return;
    }
    struct fcgi_upload_limits lim = ctx->cfg->upload;
    if (ctype && strncasecmp(ctype, "multipart/form-data", 19) == 0)
        rc = read_multipart(req, fd, ctype, &lim, &u, &r);
    else
        rc = read_raw(req, body_file, fd, &lim, &u, &r);
    close(fd);
    if (rc == FG_OK && idem_answered(req, &ik, &u, fp)) {
        fcgi_idem_abandon(req, &ik); /* a claim of ours only: not a DONE key */
        goto out;
    }
    if (rc == FG_OK)
        rc = record(req, &who, order_id, &u, &ik, fp, &number, &r);
    if (rc != FG_OK) {
        fcgi_idem_abandon(req, &ik);
        fcgi_send_error(req, rc, NULL, r.text);
        goto out;
    }
    for (size_t i = 0; i < u.n; i++) {
        fcgi_metric_inc(FCGI_M_UPLOAD_FILES);
        fcgi_metric_add(FCGI_M_UPLOAD_BYTES, (unsigned long long)u.files[i].size);
    }
    fcgi_log(FCGI_LOG_INFO, "req=%s order=%s delivery=%d files=%zu", req->id, order_id, number,
             u.n);

    /* Previews, one sandboxed child at a time, before the answer. */
    for (size_t i = 0; i < u.n; i++) {
        store_file f;
        if (u.files[i].type.kind == WM_KIND_OTHER)
            continue;
        if (store_file_get(ctx->meta, u.files[i].id, &f, &r) == FG_OK)
            fcgi_preview_make(ctx, &o, &f, req->id);
        else /* the file stays "processing": say why */
            fcgi_log(FCGI_LOG_ERROR,
                     "req=%s order=%s file=%s error=\"preview skipped, cannot read the file: %s\"",
                     req->id, order_id, u.files[i].id, r.text);
    }
    announce(req, order_id, number);

    store_delivery dl;
    store_file_list files = {0};
    if ((rc = store_delivery_get(ctx->meta, order_id, number, &dl, &r)) == FG_OK &&
        (rc = store_file_list_delivery(ctx->meta, order_id, number, &files, &r)) == FG_OK)
        fcgi_send_json(req, 201, fcgi_view_delivery(&dl, &files, true)); /* the seller */
    else
        fcgi_send_error(req, rc, NULL, r.text);
    store_file_list_release(&files);
out:
    upload_release(&u);
}
