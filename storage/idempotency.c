/* Idempotency keys: checks, then the backend's ops. */
#include "storage/idempotency.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "storage/blob.h"
#include "storage/meta_impl.h"

bool store_idem_key_valid(const char *key)
{
    size_t len = key ? strnlen(key, STORE_IDEM_KEY_MAX + 1) : 0;
    if (len == 0 || len > STORE_IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* Length, then bytes: "a" + "bc" and "ab" + "c" differ. */
static void feed(EVP_MD_CTX *c, const char *s)
{
    unsigned long long len = s ? strlen(s) : 0;
    unsigned char be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)(len >> (56 - 8 * i));
    EVP_DigestUpdate(c, be, sizeof be);
    if (len)
        EVP_DigestUpdate(c, s, (size_t)len);
}

void store_idem_fingerprint(const char *message, size_t n, const char *const *names,
                            const char *const *sha256s, char out[STORE_HEX_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char count[32];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    snprintf(count, sizeof count, "%zu", n);
    /* An allocation failure leaves a fingerprint no delivery can have
     * (all zeros), so a retry is refused (422), never wrongly matched. */
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        memset(out, '0', STORE_HEX_MAX - 1);
        out[STORE_HEX_MAX - 1] = '\0';
        EVP_MD_CTX_free(c);
        return;
    }
    feed(c, "filigrane idempotency v1");
    feed(c, message);
    feed(c, count);
    for (size_t i = 0; i < n; i++) {
        feed(c, names[i]);
        feed(c, sha256s[i]);
    }
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    for (unsigned int i = 0; i < mdlen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

fg_result store_idem_claim_key(store_meta *m, const char *seller_id, const char *order_id,
                               const char *key, int64_t now, int64_t ttl, int64_t lease,
                               store_idem_claim *out, fg_reason *r)
{
    int64_t claimed_at = 0;
    bool found = false;
    fg_result rc;
    memset(out, 0, sizeof *out);
    if (!store_idem_key_valid(key))
        return fg_fail(r, FG_EUSAGE, "idempotency key is not 1 to %d visible characters",
                       STORE_IDEM_KEY_MAX);
    if ((rc = store_check_id(seller_id, "seller id", r)) ||
        (rc = store_check_id(order_id, "order id", r)))
        return rc;
    if (m->tx != STORE_TX_NONE)
        return fg_fail(r, FG_EUSAGE, "an idempotency key is claimed in its own transaction");
    if ((rc = store_meta_begin(m, r)))
        return rc;
    if ((rc = m->ops->idem_get(m, seller_id, order_id, key, &claimed_at, out->token,
                               out->fingerprint, &out->delivery, &found, r)))
        goto fail;
    if (found && claimed_at > now - ttl && (out->delivery > 0 || claimed_at > now - lease)) {
        out->state = out->delivery > 0 ? STORE_IDEM_DONE : STORE_IDEM_IN_FLIGHT;
        out->token[0] = '\0'; /* another request's */
        store_meta_rollback(m);
        return FG_OK;
    }
    /* Free, expired or stale: a fresh claim replaces whatever was there. */
    memset(out, 0, sizeof *out);
    if ((rc = store_file_id_new(out->token, r)) ||
        (rc = m->ops->idem_put(m, seller_id, order_id, key, out->token, now, r)))
        goto fail;
    out->state = STORE_IDEM_CLAIMED;
    return store_meta_commit(m, r);
fail:
    store_meta_rollback(m);
    memset(out, 0, sizeof *out);
    return rc;
}

fg_result store_idem_complete(store_meta *m, const char *seller_id, const char *order_id,
                              const char *key, const char *token, const char *fingerprint,
                              int delivery, fg_reason *r)
{
    bool updated = false;
    if (m->tx != STORE_TX_WRITE)
        return fg_fail(r, FG_EUSAGE, "an idempotency key is recorded with its delivery");
    if (!store_hex_valid(fingerprint) || delivery < 1)
        return fg_fail(r, FG_EUSAGE, "malformed idempotency record");
    fg_result rc = m->ops->idem_complete(m, seller_id, order_id, key, token, fingerprint,
                                         delivery, &updated, r);
    if (rc == FG_OK && !updated)
        rc = fg_fail(r, FG_ESTATE, "the idempotency key was taken over by another request");
    return rc;
}

fg_result store_idem_release(store_meta *m, const char *seller_id, const char *order_id,
                             const char *key, const char *token, fg_reason *r)
{
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    return m->ops->idem_release(m, seller_id, order_id, key, token, r);
}

fg_result store_idem_expire(store_meta *m, int64_t before, int64_t *n, fg_reason *r)
{
    int64_t count = 0;
    if (m->tx != STORE_TX_NONE)
        return fg_fail(r, FG_EUSAGE, "keys are expired outside transactions");
    fg_result rc = m->ops->idem_expire(m, before, &count, r);
    if (n)
        *n = count;
    return rc;
}
