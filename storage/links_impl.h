/* What a metadata backend implements for links and download limits
 * (private to storage/; storage/links.h is the interface). storage/links.c
 * checks every argument; a backend only stores. */
#ifndef STORE_LINKS_IMPL_H
#define STORE_LINKS_IMPL_H

#include "storage/links.h"

typedef struct store_link_ops {
    /* FG_ESTATE when the hash exists. */
    fg_result (*insert)(store_meta *m, const store_link *l, fg_reason *r);
    fg_result (*get)(store_meta *m, const char *hash, store_link *out, bool *found,
                     fg_reason *r);
    /* UPDATE links SET uses = uses + 1 WHERE hash = ? AND revoked_at = ''
     *   AND expires_at > now AND uses < max_uses RETURNING uses */
    fg_result (*use)(store_meta *m, const char *hash, int64_t now, bool *taken,
                     int64_t *uses, fg_reason *r);
    /* UPDATE links SET revoked_at = at WHERE hash = ? AND revoked_at = '';
     * *found false when no row has hash at all. */
    fg_result (*revoke)(store_meta *m, const char *hash, const char *at, bool *revoked,
                        bool *found, fg_reason *r);
    /* n 0 stores NULL. *found false when no such order. */
    fg_result (*set_max_downloads)(store_meta *m, const char *order_id, int64_t n,
                                   bool *found, fg_reason *r);
    fg_result (*max_downloads)(store_meta *m, const char *order_id, int64_t *n, bool *found,
                               fg_reason *r);
    /* UPDATE files SET buyer_downloads = buyer_downloads + 1 WHERE id = ?
     *   AND buyer_downloads < COALESCE(the order's max_downloads, no limit)
     * RETURNING buyer_downloads; when no row changed, *taken false and
     * *after the current count (*found false: no such file). */
    fg_result (*count_download)(store_meta *m, const char *id, bool *taken, int64_t *after,
                                bool *found, fg_reason *r);
} store_link_ops;

extern const store_link_ops store_sqlite_link_ops;
extern const store_link_ops store_pg_link_ops;

#endif
