/* POST /v1/orders/{order}/deliveries: a seller delivers a new version.
 *
 * nginx has already written the whole body to a file (REQUEST_BODY_FILE),
 * so nothing here holds an upload in memory: a multipart body is split
 * into temp files while each part is hashed, a raw body is renamed into
 * the blob store as it is. Then, in one transaction, the delivery, its
 * files, their audit rows, their preview jobs (orders/delivery.h) and the
 * Idempotency-Key's record (if the request has one: fcgi/idempotency.h)
 * are recorded, and the 201 goes at once: previews are made by the job
 * runners, never inside the request, so a delivery of any size holds a
 * request thread only while its bytes are stored. */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
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
#include "fcgi/views.h"
#include "fcgi/worker.h"
#include "jobs/runner.h"
#include "orders/delivery.h"
#include "orders/uploads.h"
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
    char (*tus)[STORE_FILE_ID_MAX]; /* the JSON body's tus uploads, n of them */
} upload;

static void upload_release(upload *u)
{
    free(u->files);
    free(u->message);
    free(u->tus);
    memset(u, 0, sizeof *u);
}

/* Stores one temp file (consumed on success) as a blob and detects its type
 * from the stored content. A multipart part comes hashed, with its salt
 * and commitment (mp); a raw body is hashed here, the commitment under a
 * salt drawn here computed in the same pass. */
static fg_result store_one(fcgi_ctx *ctx, const char *path, const struct fcgi_upload_file *mp,
                           const char *name, incoming *in, fg_reason *r)
{
    char stored[STORE_HEX_MAX];
    struct stat st;
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
    if (rc != FG_OK)
        return rc;
    /* The type from the file in hand, before the store takes it: the
     * stored blob is these very bytes (named by their hash), and a remote
     * store would otherwise be asked at once for what was just sent. */
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return fg_fail(r, FG_EIO, "cannot read the uploaded file");
    if (st.st_size == 0)
        return fg_fail(r, FG_EUSAGE, "file \"%.80s\" is empty", name);
    if ((rc = wm_detect_file(path, &in->type, r)) != FG_OK ||
        (rc = store_blob_ref_touch(ctx->meta, in->sha256, r)) != FG_OK ||
        (rc = store_blob_put_file(ctx->blobs, path, in->sha256, stored, &in->size, r)) != FG_OK)
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
    fg_result rc = fcgi_multipart_parse(&body, ctype, ctx->cfg->blob.scratch, lim, &mp, r);
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

/* ---- the JSON body: finished tus uploads (fcgi/h_tus.c) ----
 *
 * {"uploads":["<id>",...],"message":"..."}: each upload must be complete
 * and the caller's, for this order. Their hashes were computed as the
 * bytes arrived; each data file is linked under a temp name and that link
 * stored as the blob (the upload keeps its own name until the delivery is
 * recorded, so a refused delivery leaves the uploads whole), and the
 * uploads' rows go in the delivery's transaction (idem_hook): an upload
 * is delivered once, whatever races. */
static fg_result read_json(int fd, const struct fcgi_upload_limits *lim, upload *u,
                           fg_reason *r)
{
    struct stat st;
    json_error_t jerr;
    json_t *doc = NULL, *ids, *msg;
    char *buf = NULL;
    fg_result rc = FG_OK;
    if (fstat(fd, &st) != 0)
        return fg_fail(r, FG_EIO, "cannot read the request");
    if (st.st_size > FG_MAX_TUS_FINISH_BODY)
        return fg_fail(r, FG_ELIMIT, "the JSON body is longer than %d bytes",
                       FG_MAX_TUS_FINISH_BODY);
    if (!(buf = malloc((size_t)st.st_size + 1)))
        return fg_fail(r, FG_EIO, "out of memory");
    if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
        rc = fg_fail(r, FG_EIO, "cannot read the request");
        goto out;
    }
    doc = json_loadb(buf, (size_t)st.st_size, JSON_REJECT_DUPLICATES, &jerr);
    ids = doc ? json_object_get(doc, "uploads") : NULL;
    msg = doc ? json_object_get(doc, "message") : NULL;
    if (!json_is_array(ids) || json_array_size(ids) == 0 || (msg && !json_is_string(msg))) {
        rc = fg_fail(r, FG_EUSAGE, "the body must be {\"uploads\":[\"<id>\",...],"
                                   "\"message\":\"...\"} with at least one upload");
        goto out;
    }
    if (json_array_size(ids) > (size_t)lim->max_files) {
        rc = fg_fail(r, FG_ELIMIT, "a delivery holds at most %d files (FILIGRANE_MAX_FILES)",
                     lim->max_files);
        goto out;
    }
    u->n = json_array_size(ids);
    if (!(u->tus = calloc(u->n, sizeof *u->tus)) || !(u->files = calloc(u->n, sizeof *u->files)) ||
        (msg && !(u->message = strdup(json_string_value(msg))))) {
        rc = fg_fail(r, FG_EIO, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < u->n; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        if (!id || !store_file_id_valid(id)) {
            rc = fg_fail(r, FG_EUSAGE, "an upload id is malformed");
            goto out;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(u->tus[k], id) == 0) {
                rc = fg_fail(r, FG_EUSAGE, "upload %s is listed twice", id);
                goto out;
            }
        snprintf(u->tus[i], sizeof u->tus[i], "%s", id);
    }
out:
    json_decref(doc);
    free(buf);
    return rc;
}

/* The fingerprint of a JSON delivery: its message and upload ids (an id
 * is random and names one content), so a retry after the uploads are
 * gone is still recognised. */
static void tus_fingerprint(const upload *u, const char **names, char out[STORE_HEX_MAX])
{
    const char **ids = names + u->n;
    for (size_t i = 0; i < u->n; i++) {
        names[i] = "tus";
        ids[i] = u->tus[i];
    }
    store_idem_fingerprint(u->message, u->n, names, ids, out);
}

/* Stores each finished upload of u->tus as a blob into u->files
 * (orders/uploads.h takes it: its checks, its hashes, a link to store). */
static fg_result store_uploads(fcgi_req *req, const struct fcgi_claims *who,
                               const char *order_id, const struct fcgi_upload_limits *lim,
                               upload *u, fg_reason *r)
{
    fcgi_ctx *ctx = req->ctx;
    long long total = 0;
    for (size_t i = 0; i < u->n; i++) {
        orders_upload_taken t;
        struct fcgi_upload_file mp = {0};
        fg_result rc = orders_upload_take(ctx->meta, ctx->blobs, u->tus[i], who->sub, order_id,
                                          (int64_t)time(NULL), lim->max_delivery_bytes, &total,
                                          &t, r);
        if (rc != FG_OK)
            return rc;
        snprintf(mp.sha256, sizeof mp.sha256, "%s", t.sha256);
        snprintf(mp.commitment, sizeof mp.commitment, "%s", t.commitment);
        snprintf(mp.salt, sizeof mp.salt, "%s", t.salt);
        if ((rc = store_one(ctx, t.link, &mp, t.name, &u->files[i], r)) != FG_OK) {
            unlink(t.link);
            return rc;
        }
    }
    return FG_OK;
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

/* Records the Idempotency-Key with the delivery, in its transaction. */
struct idem_hook {
    const fcgi_idem *ik;
    const char *fp;
    const upload *u;
};

/* With it, the tus uploads delivered lose their rows: one that is gone
 * already was delivered by a request racing this one, which rolls back. */
static fg_result idem_hook(store_meta *m, int number, void *ctx, fg_reason *r)
{
    const struct idem_hook *h = ctx;
    fg_result rc = fcgi_idem_record(m, h->ik, h->fp, number, r);
    if (rc == FG_OK && h->u->tus)
        rc = orders_upload_consume(m, (const char(*)[STORE_FILE_ID_MAX])h->u->tus, h->u->n, r);
    return rc;
}

/* The delivery, its files, their preview jobs and the Idempotency-Key's
 * record (ik, fingerprint fp), in one transaction (orders/delivery.h);
 * the runners are woken once it committed. */
static fg_result record(fcgi_req *req, const struct fcgi_claims *who, const char *order_id,
                        upload *u, const fcgi_idem *ik, const char *fp, int *number,
                        fg_reason *r)
{
    char actor[FG_MAX_ACTOR + 1];
    size_t jobs = 0;
    orders_file_in *in = calloc(u->n ? u->n : 1, sizeof *in);
    if (!in)
        return fg_fail(r, FG_EIO, "out of memory");
    fcgi_actor(who, actor, sizeof actor);
    for (size_t i = 0; i < u->n; i++) {
        const incoming *f = &u->files[i];
        snprintf(in[i].name, sizeof in[i].name, "%s", f->name);
        snprintf(in[i].sha256, sizeof in[i].sha256, "%s", f->sha256);
        snprintf(in[i].salt, sizeof in[i].salt, "%s", f->salt);
        snprintf(in[i].commitment, sizeof in[i].commitment, "%s", f->commitment);
        in[i].size = f->size;
        snprintf(in[i].mime, sizeof in[i].mime, "%s", f->type.mime);
        snprintf(in[i].kind, sizeof in[i].kind, "%s", wm_kind_name(f->type.kind));
    }
    struct idem_hook hook = {.ik = ik, .fp = fp, .u = u};
    fg_result rc = orders_delivery_record(req->ctx->meta, order_id, actor, u->message, in, u->n,
                                          idem_hook, &hook, number, &jobs, r);
    for (size_t i = 0; rc == FG_OK && i < u->n; i++)
        snprintf(u->files[i].id, sizeof u->files[i].id, "%s", in[i].id);
    free(in);
    if (rc == FG_OK && jobs)
        jobs_wake();
    return rc;
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
    bool json = ctype && strncasecmp(ctype, "application/json", 16) == 0;
    if (json && (rc = read_json(fd, &lim, &u, &r)) == FG_OK && ik.on) {
        /* Answered before the uploads are looked at: they are gone once
         * delivered, and a retry must still get its delivery. */
        const char **names = calloc(2 * u.n, sizeof *names); /* names, then ids */
        if (!names) {
            rc = fg_fail(&r, FG_EIO, "out of memory");
        } else {
            tus_fingerprint(&u, names, fp);
            free(names);
            if (fcgi_idem_done(&ik)) {
                close(fd);
                fcgi_idem_answer(req, &ik, fp);
                fcgi_idem_abandon(req, &ik);
                goto out;
            }
        }
    }
    if (json && rc == FG_OK)
        rc = store_uploads(req, &who, order_id, &lim, &u, &r);
    else if (!json && ctype && strncasecmp(ctype, "multipart/form-data", 19) == 0)
        rc = read_multipart(req, fd, ctype, &lim, &u, &r);
    else if (!json)
        rc = read_raw(req, body_file, fd, &lim, &u, &r);
    close(fd);
    if (rc == FG_OK && !json && idem_answered(req, &ik, &u, fp)) {
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
    /* Delivered: the uploads' rows went with the delivery's transaction,
     * their data files go now (the blobs hold the bytes). */
    if (u.tus)
        orders_upload_discard(ctx->blobs, (const char(*)[STORE_FILE_ID_MAX])u.tus, u.n);
    for (size_t i = 0; i < u.n; i++) {
        fcgi_metric_inc(FCGI_M_UPLOAD_FILES);
        fcgi_metric_add(FCGI_M_UPLOAD_BYTES, (unsigned long long)u.files[i].size);
    }
    fcgi_log(FCGI_LOG_INFO, "req=%s order=%s delivery=%d files=%zu", req->id, order_id, number,
             u.n);

    /* Answered now: the previews are the job runners' (orders/preview_job.h). */
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
