/* GET /v1/keys and GET /v1/orders/{order}/evidence.
 *
 * The evidence bundle is one JSON document an outsider checks with no
 * access to the service (common/evidence.h, storage/audit.h, README
 * "Evidence"):
 *
 *   {"format":"filigrane-evidence-v1", "order_id":..., "order":{...},
 *    "entries":[{"seq":"1","at":..,"actor":..,"action":..,"detail":..,
 *                "prev_hash":..,"hash":..}, ...],
 *    "head":{"seq":"N","hash":..}, "issued_at":..,
 *    "key":{JWK}, "signature":{"alg":"EdDSA","kid":..,"value":..}}
 *
 * Every hashed field is the exact string hashed (seq too, as a string),
 * so jq's output is the bytes to hash, with no number formatting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/evidence.h"
#include "common/sign.h"
#include "fcgi/access.h"
#include "fcgi/handlers.h"
#include "fcgi/log.h"
#include "fcgi/views.h"
#include "fcgi/worker.h"
#include "storage/audit.h"

/* Entries read per round trip to the store, within one read snapshot:
 * memory stays bounded by one page whatever the chain's length. */
#define EVIDENCE_PAGE 2000

static json_t *jwk(const struct fcgi_sign_pub *s)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", s->x,
                     "kid", s->kid, "use", "sig", "alg", "EdDSA");
}

/* The current key first, then the retired ones
 * (FILIGRANE_SIGNING_KEYS_RETIRED_DIR): bundles signed before a rotation
 * still verify against this set. */
void fcgi_h_keys(fcgi_req *req)
{
    fcgi_keys *k = fcgi_keyring_get(req->ctx->cfg->keys);
    json_t *keys = json_array();
    if (keys && k->sign_key)
        json_array_append_new(keys, jwk(&k->sign));
    for (size_t i = 0; keys && i < k->n_retired; i++)
        json_array_append_new(keys, jwk(&k->retired[i]));
    fcgi_keys_put(k);
    fcgi_send_json(req, 200, json_pack("{s:o}", "keys", keys));
}

static bool put(fcgi_req *req, const char *s)
{
    return FCGX_PutS(s, req->fx->out) >= 0;
}

static bool put_json(fcgi_req *req, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    bool ok = text && put(req, text);
    free(text);
    return ok;
}

static json_t *entry_json(const store_audit_entry *e)
{
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", (long long)e->chain_seq);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "seq", seq, "at", e->at, "actor",
                     e->actor, "action", e->action, "detail", e->detail ? e->detail : "{}",
                     "prev_hash", e->prev_hash, "hash", e->hash);
}

static void order_evidence(fcgi_req *req, const fcgi_keys *s);

void fcgi_h_order_evidence(fcgi_req *req)
{
    /* One set for the whole answer: the kid named is the key that signed. */
    fcgi_keys *k = fcgi_keyring_get(req->ctx->cfg->keys);
    order_evidence(req, k);
    fcgi_keys_put(k);
}

static void order_evidence(fcgi_req *req, const fcgi_keys *s)
{
    struct fcgi_claims who;
    store_order o;
    fg_reason r = {{0}};
    json_t *doc = NULL;
    store_audit_list list = {0};
    char head[STORE_HEX_MAX] = STORE_AUDIT_GENESIS, issued[STORE_TIME_MAX];
    char sig[FG_SIGN_B64_MAX], msg[FG_EVIDENCE_SIGNED_MAX], hash[STORE_HEX_MAX];
    long long head_seq = 0, after = 0;
    bool ok = false;
    if (!fcgi_load_order(req, req->params[0], ORD_VIEW_AUDIT, &who, &o))
        return;
    if (!s->sign_key) {
        fcgi_send_error_status(req, 503, "no_signing_key",
                        "evidence is not signed here: FILIGRANE_SIGNING_KEY_FILE is not set");
        return;
    }
    store_meta *m = req->ctx->meta;
    /* One snapshot for the order and every page of its chain: the head
     * signed is the last entry listed. */
    fg_result rc = store_meta_begin_read(m, &r);
    if (rc == FG_OK)
        rc = fcgi_view_order(m, &o, fcgi_view_reveals(&who, &o), &doc, &r);
    if (rc != FG_OK) {
        store_meta_rollback(m);
        fcgi_send_error(req, rc, NULL, r.text);
        return;
    }
    ok = fcgi_send_json_stream_head(req, 200) == FG_OK &&
         put(req, "{\"format\":\"" FG_EVIDENCE_FORMAT "\",\"order_id\":") &&
         put_json(req, json_string(o.id)) && put(req, ",\"order\":") && put_json(req, doc) &&
         put(req, ",\"hash\":\"sha256 hex of \\\"filigrane-audit-v2\\\\n\\\" then the "
                  "netstrings of order_id, seq, at, actor, action, detail, prev_hash\","
                  "\"entries\":[");
    doc = NULL;
    while (ok) {
        if ((rc = store_audit_list_get(m, o.id, after, EVIDENCE_PAGE, &list, &r)) != FG_OK) {
            fcgi_log(FCGI_LOG_ERROR, "order=%s evidence error=\"%s\"", o.id, r.text);
            ok = false;
            break;
        }
        for (size_t i = 0; ok && i < list.n; i++) {
            const store_audit_entry *e = &list.items[i];
            /* The service signs only a chain it has checked: a row
             * changed in the database cuts the answer short instead of
             * being vouched for. */
            if (e->chain_seq != head_seq + 1 || strcmp(e->prev_hash, head) != 0 ||
                store_audit_hash(e, hash, &r) != FG_OK || strcmp(hash, e->hash) != 0) {
                fcgi_log(FCGI_LOG_ERROR,
                         "order=%s evidence error=\"the chain is broken at entry %lld\"", o.id,
                         (long long)e->chain_seq);
                ok = false;
                break;
            }
            ok = (head_seq == 0 || put(req, ",")) && put_json(req, entry_json(e));
            head_seq = e->chain_seq;
            snprintf(head, sizeof head, "%s", e->hash);
        }
        bool last = list.n < EVIDENCE_PAGE;
        store_audit_list_release(&list);
        if (last)
            break;
        after = head_seq;
    }
    store_meta_rollback(m);
    if (!ok)
        return; /* the answer is cut: invalid JSON, never a bundle that parses */
    store_time_now(issued);
    size_t n = fg_evidence_signed(o.id, head_seq, head, issued, msg, sizeof msg);
    if (n == 0 || fg_sign(s->sign_key, msg, n, sig, &r) != FG_OK) {
        fcgi_log(FCGI_LOG_ERROR, "order=%s evidence error=\"cannot sign\"", o.id);
        return;
    }
    char seqtext[24];
    snprintf(seqtext, sizeof seqtext, "%lld", head_seq);
    ok = put(req, "],\"head\":") &&
         put_json(req, json_pack("{s:s, s:s}", "seq", seqtext, "hash", head)) &&
         put(req, ",\"issued_at\":") && put_json(req, json_string(issued)) &&
         put(req, ",\"key\":") && put_json(req, jwk(&s->sign)) && put(req, ",\"signature\":") &&
         put_json(req, json_pack("{s:s, s:s, s:s, s:s}", "alg", "EdDSA", "kid", s->sign.kid,
                                 "signed", "\"filigrane-evidence-v1\\n\" then the netstrings "
                                           "of order_id, head.seq, head.hash, issued_at",
                                 "value", sig)) &&
         put(req, "}");
}
