/* Links and download limits: checks and defaults, then the backend's ops
 * (storage/links_impl.h). */
#include "storage/links_impl.h"
#include "storage/meta_impl.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <string.h>

#include "common/hex.h"
#include "common/id.h"

fg_result store_link_id_new(char id[STORE_LINK_ID_MAX], char hash[STORE_HEX_MAX], fg_reason *r)
{
    unsigned char raw[STORE_LINK_ID_LEN / 2];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return fg_fail(r, FG_EIO, "cannot make a link id: no randomness");
    fg_hex_encode(raw, sizeof raw, id);
    OPENSSL_cleanse(raw, sizeof raw);
    store_link_hash(id, hash);
    return FG_OK;
}

void store_link_hash(const char *id, char hash[STORE_HEX_MAX])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)(id ? id : ""), id ? strlen(id) : 0, d);
    fg_hex_encode(d, sizeof d, hash);
}

void store_link_ref(const char *hash, char ref[STORE_LINK_REF_MAX])
{
    size_t n = strnlen(hash, STORE_LINK_REF_MAX - 1);
    memcpy(ref, hash, n);
    ref[n] = '\0';
}

static bool is_hex64(const char *s)
{
    if (!s || strnlen(s, 65) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static fg_result check_link(const store_link *l, fg_reason *r)
{
    fg_result rc;
    if (!is_hex64(l->hash))
        return fg_fail(r, FG_EUSAGE, "link hash must be 64 lowercase hex");
    if (!store_file_id_valid(l->file_id))
        return fg_fail(r, FG_EUSAGE, "link file id is malformed");
    if ((rc = store_check_id(l->order_id, "link order id", r)))
        return rc;
    if (strcmp(l->purpose, STORE_LINK_PREVIEW) != 0 && strcmp(l->purpose, STORE_LINK_ORIGINAL) != 0)
        return fg_fail(r, FG_EUSAGE, "link purpose must be preview or original");
    if (strcmp(l->minted_role, "seller") != 0 && strcmp(l->minted_role, "buyer") != 0 &&
        strcmp(l->minted_role, "admin") != 0)
        return fg_fail(r, FG_EUSAGE, "link minter role must be seller, buyer or admin");
    if ((rc = store_check_text(l->minted_by, FG_MAX_ACTOR, false, "link minter", r)))
        return rc;
    if (l->max_uses < 1 || l->max_uses > FG_LINK_MAX_USES)
        return fg_fail(r, FG_EUSAGE, "link max_uses must be 1..%d", FG_LINK_MAX_USES);
    if (l->expires_at < 1)
        return fg_fail(r, FG_EUSAGE, "link expiry must be a positive unix time");
    return FG_OK;
}

fg_result store_link_add(store_meta *m, const store_link *l, fg_reason *r)
{
    store_link c = *l;
    fg_result rc;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if ((rc = check_link(l, r)) || (rc = store_check_time(l->created_at, c.created_at,
                                                          "link creation time", r)))
        return rc;
    c.uses = 0;
    c.revoked_at[0] = '\0';
    return m->ops->links->insert(m, &c, r);
}

fg_result store_link_get(store_meta *m, const char *hash, store_link *out, fg_reason *r)
{
    bool found = false;
    if (!is_hex64(hash))
        return fg_fail(r, FG_ENOTFOUND, "no such link");
    fg_result rc = m->ops->links->get(m, hash, out, &found, r);
    if (rc == FG_OK && !found)
        rc = fg_fail(r, FG_ENOTFOUND, "no such link");
    return rc;
}

fg_result store_link_use(store_meta *m, const char *hash, int64_t now, bool *taken,
                         int64_t *uses, fg_reason *r)
{
    int64_t n = 0;
    *taken = false;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (!is_hex64(hash))
        return FG_OK;
    fg_result rc = m->ops->links->use(m, hash, now, taken, &n, r);
    if (uses)
        *uses = n;
    return rc;
}

fg_result store_link_revoke(store_meta *m, const char *hash, const char *at, bool *revoked,
                            fg_reason *r)
{
    char when[STORE_TIME_MAX];
    bool found = false;
    fg_result rc;
    *revoked = false;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (!is_hex64(hash))
        return fg_fail(r, FG_ENOTFOUND, "no such link");
    if ((rc = store_check_time(at, when, "revocation time", r)) ||
        (rc = m->ops->links->revoke(m, hash, when, revoked, &found, r)))
        return rc;
    return found ? FG_OK : fg_fail(r, FG_ENOTFOUND, "no such link");
}

fg_result store_order_set_max_downloads(store_meta *m, const char *order_id, int64_t n,
                                        fg_reason *r)
{
    bool found = false;
    fg_result rc;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (n < 0 || n > FG_MAX_DOWNLOADS_LIMIT)
        return fg_fail(r, FG_EUSAGE, "max_downloads must be 1..%d (0: none)",
                       FG_MAX_DOWNLOADS_LIMIT);
    if (!fg_id_valid(order_id))
        return fg_fail(r, FG_ENOTFOUND, "no such order");
    if ((rc = m->ops->links->set_max_downloads(m, order_id, n, &found, r)))
        return rc;
    return found ? FG_OK : fg_fail(r, FG_ENOTFOUND, "no such order");
}

fg_result store_order_max_downloads(store_meta *m, const char *order_id, int64_t *n,
                                    fg_reason *r)
{
    bool found = false;
    fg_result rc;
    *n = 0;
    if (!fg_id_valid(order_id))
        return fg_fail(r, FG_ENOTFOUND, "no such order");
    if ((rc = m->ops->links->max_downloads(m, order_id, n, &found, r)))
        return rc;
    return found ? FG_OK : fg_fail(r, FG_ENOTFOUND, "no such order");
}

fg_result store_file_count_download(store_meta *m, const char *id, bool *taken,
                                    int64_t *after, fg_reason *r)
{
    bool found = false;
    fg_result rc;
    *taken = false;
    *after = 0;
    if (m->tx == STORE_TX_READ)
        return fg_fail(r, FG_EUSAGE, "cannot write inside a read transaction");
    if (!store_file_id_valid(id))
        return fg_fail(r, FG_ENOTFOUND, "no such file");
    if ((rc = m->ops->links->count_download(m, id, taken, after, &found, r)))
        return rc;
    return found ? FG_OK : fg_fail(r, FG_ENOTFOUND, "no such file");
}
