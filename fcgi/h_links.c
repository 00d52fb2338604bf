/* Scoped links: POST /v1/files/{file}/links, DELETE /v1/links/{id}, and
 * GET/HEAD /l/{id}, which needs no token: the link is the credential.
 *
 * The id is 256 random bits (storage/links.h); the store keeps only its
 * SHA-256, and a request's id is hashed and looked up, so no comparison
 * of secrets happens here at all. The audit trail names a link by the
 * first 16 hex of that hash, never by its id: the evidence bundle is
 * handed to both parties, and must not hand out working links.
 *
 * A link fetches what its minter may fetch (orders/links.h), one file, one
 * purpose, through the same X-Accel-Redirect path as the token routes
 * (nginx serves Range and the ETag; the worker answers 304). A use counts
 * by the rule of fcgi/download_count.h, in one guarded UPDATE with its
 * audit row: two requests for the last use, one wins. Answers carry
 * Cache-Control "private, no-store": a link may be revoked at any moment,
 * and no cache between us and the holder may answer for it afterwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi/access.h"
#include "fcgi/disposition.h"
#include "fcgi/download_count.h"
#include "fcgi/handlers.h"
#include "fcgi/log.h"
#include "fcgi/outbox.h"
#include "fcgi/worker.h"
#include "orders/links.h"
#include "storage/audit.h"
#include "storage/links.h"

/* The default life and uses of a link whose body names none. */
#define DEFAULT_TTL (24LL * 3600)
#define DEFAULT_USES 1

static void unix_to_rfc3339(int64_t t, char out[STORE_TIME_MAX])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || !strftime(out, STORE_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, STORE_TIME_MAX, "%s", "");
}

/* One audit entry of the order, detail d stolen. */
static fg_result audit(store_meta *m, const char *order_id, const char *actor,
                       const char *action, json_t *d, fg_reason *r)
{
    char *text = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    fg_result rc = text ? store_audit_append(m, order_id, actor, action, text, NULL, NULL, r)
                        : fg_fail(r, FG_EIO, "cannot build the audit entry");
    free(text);
    return rc;
}

static fg_result read_file_order(store_meta *m, const char *id, store_file *f,
                                 store_order *o, fg_reason *r)
{
    fg_result rc = store_meta_begin_read(m, r);
    if (rc == FG_OK && (rc = store_file_get(m, id, f, r)) == FG_OK)
        rc = store_order_get(m, f->order_id, o, r);
    store_meta_rollback(m);
    return rc;
}

static void send_decision(fcgi_req *req, ord_decision d)
{
    fcgi_send_error(req, d.rc, d.code, d.message);
}

/* Reads {"purpose", "ttl", "max_uses"}; answers itself on a bad body. */
static bool read_body(fcgi_req *req, ord_link_purpose *purpose, long long *ttl,
                      long long *uses)
{
    fg_reason r = {{0}};
    char *body = NULL, msg[160];
    size_t len = 0;
    json_error_t jerr;
    fg_result rc = fcgi_read_body(req, FG_MAX_LINK_BODY, &body, &len, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, r.text);
        return false;
    }
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *p = doc ? json_object_get(doc, "purpose") : NULL;
    json_t *t = doc ? json_object_get(doc, "ttl") : NULL;
    json_t *u = doc ? json_object_get(doc, "max_uses") : NULL;
    bool ok = false;
    *purpose = ord_link_purpose_parse(json_is_string(p) ? json_string_value(p) : NULL);
    *ttl = t ? (json_is_integer(t) ? (long long)json_integer_value(t) : -1)
             : (req->ctx->cfg->link_max_ttl < DEFAULT_TTL ? req->ctx->cfg->link_max_ttl
                                                          : DEFAULT_TTL);
    *uses = u ? (json_is_integer(u) ? (long long)json_integer_value(u) : -1) : DEFAULT_USES;
    if (!json_is_object(doc)) {
        fcgi_send_error(req, FG_EUSAGE, NULL, "the body must be a JSON object");
    } else if (*purpose == ORD_LINK_BAD) {
        fcgi_send_error(req, FG_EUSAGE, "bad_purpose", "purpose must be \"preview\" or \"original\"");
    } else if (*ttl < 1 || *ttl > req->ctx->cfg->link_max_ttl) {
        snprintf(msg, sizeof msg, "ttl must be 1..%lld seconds (FILIGRANE_LINK_MAX_TTL)",
                 req->ctx->cfg->link_max_ttl);
        fcgi_send_error(req, FG_EUSAGE, "bad_ttl", msg);
    } else if (*uses < 1 || *uses > FG_LINK_MAX_USES) {
        snprintf(msg, sizeof msg, "max_uses must be 1..%d", FG_LINK_MAX_USES);
        fcgi_send_error(req, FG_EUSAGE, "bad_max_uses", msg);
    } else {
        ok = true;
    }
    json_decref(doc);
    return ok;
}

void fcgi_h_link_create(fcgi_req *req)
{
    struct fcgi_claims who;
    store_order o;
    store_file f;
    store_link l;
    fg_reason r = {{0}};
    char id[STORE_LINK_ID_MAX], ref[STORE_LINK_REF_MAX], url[STORE_LINK_ID_MAX + 8];
    char expires[STORE_TIME_MAX];
    ord_link_purpose purpose;
    long long ttl = 0, uses = 0;
    store_meta *m = req->ctx->meta;
    if (!fcgi_authenticate(req, &who))
        return;
    fg_result rc = read_file_order(m, req->params[0], &f, &o, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, rc == FG_ENOTFOUND ? "no such file" : r.text);
        return;
    }
    if (!fcgi_may_name_order(req, &who, f.order_id) || !read_body(req, &purpose, &ttl, &uses))
        return;
    ord_party party = ord_party_of(fcgi_ord_role(&who), who.sub, who.ord, &o);
    ord_decision d = ord_link_may_mint(party, ord_state_parse(o.state), purpose);
    if (d.rc != FG_OK) {
        send_decision(req, d);
        return;
    }
    if (f.purged_at[0]) {
        fcgi_send_error(req, FG_EGONE, "purged", "the file was purged after the retention period");
        return;
    }
    memset(&l, 0, sizeof l);
    if (store_link_id_new(id, l.hash, &r) != FG_OK) {
        fcgi_send_error(req, FG_EIO, NULL, r.text);
        return;
    }
    snprintf(l.file_id, sizeof l.file_id, "%s", f.id);
    snprintf(l.order_id, sizeof l.order_id, "%s", o.id);
    snprintf(l.purpose, sizeof l.purpose, "%s", purpose == ORD_LINK_ORIGINAL ? "original" : "preview");
    fcgi_actor(&who, l.minted_by, sizeof l.minted_by);
    snprintf(l.minted_role, sizeof l.minted_role, "%s", fcgi_role_name(who.role));
    l.expires_at = (int64_t)time(NULL) + ttl;
    l.max_uses = uses;
    store_link_ref(l.hash, ref);
    unix_to_rfc3339(l.expires_at, expires);
    if ((rc = store_meta_begin(m, &r)) != FG_OK || (rc = store_link_add(m, &l, &r)) != FG_OK ||
        (rc = audit(m, o.id, l.minted_by, "link.minted",
                    json_pack("{s:s, s:s, s:s, s:s, s:I}", "link", ref, "file_id", f.id,
                              "purpose", l.purpose, "expires_at", expires, "max_uses",
                              (json_int_t)uses),
                    &r)) != FG_OK ||
        (rc = store_meta_commit(m, &r)) != FG_OK) {
        store_meta_rollback(m);
        fcgi_log(FCGI_LOG_ERROR, "req=%s error=\"cannot mint a link: %s\"", req->id, r.text);
        fcgi_send_error(req, rc, NULL, "cannot record the link");
        return;
    }
    fcgi_log(FCGI_LOG_INFO, "req=%s link=%s order=%s file=%s purpose=%s minted", req->id, ref,
             o.id, f.id, l.purpose);
    snprintf(url, sizeof url, "/l/%s", id);
    fcgi_send_json(req, 201,
                   json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i}", "id", id, "url", url,
                             "file_id", f.id, "expires_at", expires, "purpose", l.purpose,
                             "max_uses", (json_int_t)uses, "uses", 0));
}

void fcgi_h_link_delete(fcgi_req *req)
{
    struct fcgi_claims who;
    store_link l;
    fg_reason r = {{0}};
    char hash[STORE_HEX_MAX], ref[STORE_LINK_REF_MAX], actor[FG_MAX_ACTOR + 1];
    bool revoked = false;
    store_meta *m = req->ctx->meta;
    if (!fcgi_authenticate(req, &who))
        return;
    store_link_hash(req->params[0], hash);
    store_link_ref(hash, ref);
    fcgi_actor(&who, actor, sizeof actor);
    fg_result rc = store_meta_begin(m, &r);
    if (rc == FG_OK)
        rc = store_link_get(m, hash, &l, &r);
    if (rc != FG_OK) {
        store_meta_rollback(m);
        fcgi_send_error(req, rc, NULL, rc == FG_ENOTFOUND ? "no such link" : r.text);
        return;
    }
    /* The minter (the same party of the same order) or the admin. */
    if (who.role != FCGI_ROLE_ADMIN &&
        (strcmp(actor, l.minted_by) != 0 || strcmp(who.ord, l.order_id) != 0)) {
        store_meta_rollback(m);
        fcgi_send_error(req, FG_EFORBIDDEN, "not_minter",
                        "only who minted a link, or the admin, revokes it");
        return;
    }
    if ((rc = store_link_revoke(m, hash, NULL, &revoked, &r)) != FG_OK ||
        (revoked && (rc = audit(m, l.order_id, actor, "link.revoked",
                                json_pack("{s:s, s:s, s:s}", "link", ref, "file_id", l.file_id,
                                          "purpose", l.purpose),
                                &r)) != FG_OK) ||
        (rc = store_meta_commit(m, &r)) != FG_OK) {
        store_meta_rollback(m);
        fcgi_log(FCGI_LOG_ERROR, "req=%s error=\"cannot revoke a link: %s\"", req->id, r.text);
        fcgi_send_error(req, rc, NULL, "cannot revoke the link");
        return;
    }
    fcgi_log(FCGI_LOG_INFO, "req=%s link=%s order=%s revoked", req->id, ref, l.order_id);
    fcgi_send_text(req, 204, "text/plain", "", 0);
}

/* Answers 410 with the code of a link that no longer opens. */
static void send_closed(fcgi_req *req, ord_link_status s)
{
    static const char *const msg[] = {
        [ORD_LINK_OPEN] = "the link is used up",
        [ORD_LINK_REVOKED] = "the link was revoked",
        [ORD_LINK_EXPIRED] = "the link has expired",
        [ORD_LINK_USED_UP] = "the link is used up",
    };
    fcgi_send_error(req, FG_EGONE, s == ORD_LINK_OPEN ? "link_used_up" : ord_link_status_code(s),
                    msg[s]);
}

static ord_link_status status_now(const store_link *l, int64_t now)
{
    return ord_link_status_of(l->revoked_at[0] != '\0', l->expires_at, l->uses, l->max_uses, now);
}

/* Takes one use and records it (link.used; for an original link a buyer
 * minted, the buyer's download too: counter within max_downloads,
 * file.downloaded entry and event), all in one transaction. On refusal
 * answers itself and returns false. */
static bool take_use(fcgi_req *req, const store_link *l, const store_file *f, const char *ref,
                     int64_t now)
{
    store_meta *m = req->ctx->meta;
    fg_reason r = {{0}};
    bool taken = false;
    int64_t uses = 0, n = 0;
    char actor[STORE_LINK_REF_MAX + 8];
    snprintf(actor, sizeof actor, "link:%s", ref);
    fg_result rc = store_meta_begin(m, &r);
    if (rc == FG_OK)
        rc = store_link_use(m, l->hash, now, &taken, &uses, &r);
    if (rc == FG_OK && !taken) {
        store_link again;
        store_meta_rollback(m);
        send_closed(req, store_link_get(m, l->hash, &again, &r) == FG_OK
                             ? status_now(&again, now)
                             : ORD_LINK_REVOKED);
        return false;
    }
    bool buyer_original = strcmp(l->minted_role, "buyer") == 0 &&
                          strcmp(l->purpose, STORE_LINK_ORIGINAL) == 0;
    if (rc == FG_OK && buyer_original) {
        if ((rc = store_file_count_download(m, f->id, &taken, &n, &r)) == FG_OK && !taken) {
            store_meta_rollback(m);
            fcgi_send_error(req, FG_EFORBIDDEN, "download_limit",
                            "the buyer has downloaded this file as often as the order allows");
            return false;
        }
        if (rc == FG_OK)
            rc = audit(m, f->order_id, l->minted_by, "file.downloaded",
                       json_pack("{s:s, s:s, s:I, s:s}", "file_id", f->id, "sha256", f->sha256,
                                 "count", (json_int_t)n, "link", ref),
                       &r);
        if (rc == FG_OK)
            rc = fcgi_event_enqueue(m, "file.downloaded", f->order_id,
                                    json_pack("{s:s, s:s, s:I}", "order_id", f->order_id,
                                              "file_id", f->id, "count", (json_int_t)n),
                                    &r);
    }
    if (rc == FG_OK)
        rc = audit(m, f->order_id, actor, "link.used",
                   json_pack("{s:s, s:s, s:s, s:I}", "link", ref, "file_id", f->id, "purpose",
                             l->purpose, "uses", (json_int_t)uses),
                   &r);
    if (rc == FG_OK)
        rc = store_meta_commit(m, &r);
    if (rc != FG_OK) {
        store_meta_rollback(m);
        fcgi_log(FCGI_LOG_ERROR, "req=%s link=%s error=\"cannot record a use: %s\"", req->id,
                 ref, r.text);
        /* A use that cannot be counted is not given: the count is the
         * limit. */
        fcgi_send_error(req, FG_EIO, NULL, "cannot record the link's use");
        return false;
    }
    return true;
}

/* "logo final.png" -> "logo final (preview).jpg", as fcgi/h_files.c. */
static void preview_name(const store_file *f, char *out, size_t len)
{
    const char *ext = strcmp(f->preview_mime, "image/png") == 0         ? ".png"
                      : strcmp(f->preview_mime, "image/gif") == 0       ? ".gif"
                      : strcmp(f->preview_mime, "image/webp") == 0      ? ".webp"
                      : strcmp(f->preview_mime, "application/pdf") == 0 ? ".pdf"
                      : strcmp(f->preview_mime, "application/zip") == 0 ? ".zip"
                                                                        : ".jpg";
    const char *dot = strrchr(f->name, '.');
    int stem = dot && dot != f->name ? (int)(dot - f->name) : (int)strlen(f->name);
    snprintf(out, len, "%.*s (preview)%s", stem, f->name, ext);
}

void fcgi_h_link_get(fcgi_req *req)
{
    store_link l;
    store_order o;
    store_file f;
    fg_reason r = {{0}};
    char hash[STORE_HEX_MAX], ref[STORE_LINK_REF_MAX];
    char target[STORE_BLOB_TARGET_MAX], disp[FCGI_DISPOSITION_BYTES];
    char name[FG_MAX_FILE_NAME + 32];
    int64_t now = (int64_t)time(NULL);
    store_link_hash(req->params[0], hash);
    store_link_ref(hash, ref);
    fg_result rc = store_link_get(req->ctx->meta, hash, &l, &r);
    if (rc != FG_OK) {
        fcgi_send_error(req, rc, NULL, rc == FG_ENOTFOUND ? "no such link" : "cannot read the link");
        return;
    }
    ord_link_status s = status_now(&l, now);
    if (s != ORD_LINK_OPEN) {
        send_closed(req, s);
        return;
    }
    rc = read_file_order(req->ctx->meta, l.file_id, &f, &o, &r);
    if (rc != FG_OK || strcmp(f.order_id, l.order_id) != 0) {
        fcgi_send_error(req, rc == FG_OK ? FG_ENOTFOUND : rc, NULL,
                        rc == FG_OK || rc == FG_ENOTFOUND ? "no such file" : r.text);
        return;
    }
    ord_link_purpose purpose = ord_link_purpose_parse(l.purpose);
    ord_decision d = ord_link_may_use(ord_link_party(l.minted_role), ord_state_parse(o.state),
                                      purpose);
    if (d.rc != FG_OK) {
        /* The order took back what the link stood for (a cancellation
         * revokes previews): for its holder, the link is revoked. */
        if (d.code && strcmp(d.code, "revoked") == 0)
            fcgi_send_error(req, FG_EGONE, "link_revoked", d.message);
        else
            send_decision(req, d);
        return;
    }
    if (f.purged_at[0]) {
        fcgi_send_error(req, FG_EGONE, "purged", "the file was purged after the retention period");
        return;
    }
    bool preview = purpose == ORD_LINK_PREVIEW;
    if (preview && strcmp(f.preview, STORE_PREVIEW_READY) != 0) {
        fcgi_send_error(req, FG_ESTATE, "no_preview", "the file has no preview");
        return;
    }
    const char *sha = preview ? f.preview_sha256 : f.sha256;
    bool use = fcgi_download_counts_req(req, sha, preview ? -1 : f.size);
    if (use && !take_use(req, &l, &f, ref, now))
        return;
    fcgi_log(FCGI_LOG_INFO, "req=%s link=%s order=%s file=%s purpose=%s%s", req->id, ref,
             f.order_id, f.id, l.purpose, use ? " used" : "");
    if (preview)
        preview_name(&f, name, sizeof name);
    else
        snprintf(name, sizeof name, "%s", f.name);
    fcgi_disposition(preview ? FCGI_DISPOSITION_INLINE : FCGI_DISPOSITION_ATTACHMENT, name, disp);
    if (store_blob_download_target(req->ctx->blobs, sha, disp, target, sizeof target, &r) !=
        FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "req=%s error=\"cannot name the download: %s\"", req->id, r.text);
        fcgi_send_error(req, FG_EIO, NULL, "stored file is unreadable");
        return;
    }
    fcgi_file_reply reply = {target, sha, preview ? f.preview_mime : f.mime, disp,
                             "private, no-store"};
    fcgi_send_file(req, &reply);
}
