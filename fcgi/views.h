/* The JSON shapes of DESIGN.md (order, delivery, file, audit entry), built
 * from storage records. Every function returns a new reference, or NULL
 * when out of memory. */
#ifndef FCGI_VIEWS_H
#define FCGI_VIEWS_H

#include <jansson.h>

#include "common/result.h"
#include "storage/audit.h"
#include "storage/meta.h"

json_t *fcgi_view_file(const store_file *f);

/* A delivery with its files: the files of `files` whose delivery number is
 * d->number. */
json_t *fcgi_view_delivery(const store_delivery *d, const store_file_list *files);

/* An order with all its deliveries and files, read in one snapshot. On
 * failure returns the storage's code and *doc is NULL. */
FG_MUST_CHECK fg_result fcgi_view_order(store_meta *m, const store_order *o,
                                        json_t **doc /* out */, fg_reason *r);

json_t *fcgi_view_audit_entry(const store_audit_entry *e);

#endif
