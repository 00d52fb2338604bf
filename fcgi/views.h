/* The JSON shapes of DESIGN.md (order, delivery, file, audit entry), built
 * from storage records. Every function returns a new reference, or NULL
 * when out of memory. */
#ifndef FCGI_VIEWS_H
#define FCGI_VIEWS_H

#include <jansson.h>
#include <stdbool.h>

#include "common/result.h"
#include "fcgi/jwt.h"
#include "storage/audit.h"
#include "storage/meta.h"

/* Whether `who` (a party to order o, already checked) sees the plain
 * sha256 and the salt of o's originals: the seller and the admin always,
 * the buyer once the order is accepted. Before that the buyer sees only
 * each file's commitment, SHA-256(salt || content) (common/commit.h): a
 * plain hash would let a short secret (a PIN, a licence key) be found by
 * hashing every candidate. The rule is orders/rules.h's ORD_SEE_HASHES.
 * Can't fail. */
bool fcgi_view_reveals(const struct fcgi_claims *who, const store_order *o);

/* A file. reveal (fcgi_view_reveals): "sha256" and "salt" are shown;
 * otherwise "sha256" is null. "commitment" is always there (null for a
 * file stored before commitments, which then shows no hash at all until
 * release). */
json_t *fcgi_view_file(const store_file *f, bool reveal);

/* A delivery with its files: the files of `files` whose delivery number is
 * d->number. */
json_t *fcgi_view_delivery(const store_delivery *d, const store_file_list *files, bool reveal);

/* An order with all its deliveries and files, read in one snapshot. On
 * failure returns the storage's code and *doc is NULL. */
FG_MUST_CHECK fg_result fcgi_view_order(store_meta *m, const store_order *o, bool reveal,
                                        json_t **doc /* out */, fg_reason *r);

json_t *fcgi_view_audit_entry(const store_audit_entry *e);

#endif
