/* What counts as a download (DESIGN, Settled details): a GET answered 200,
 * or 206 starting at byte 0; an archive counts once for each file in it;
 * HEAD and 304 never count.
 *
 * nginx, not the worker, answers Range requests (the internal blob
 * location), so the worker predicts nginx's answer from the request
 * before it records anything. The prediction follows nginx's range filter
 * and errs towards counting where the two could disagree: a buyer must
 * never get a whole file uncounted, while a count too many is only a
 * number. So a GET counts when:
 *   - it has no Range, or one nginx ignores (not "bytes=..."): 200;
 *   - it has If-Range other than the file's own strong ETag (a date is
 *     counted whatever it says: nginx may send the whole file);
 *   - the ranges are ones nginx answers with the whole file (an empty
 *     range at 0, or ranges adding up to more than the file);
 *   - any range asked for starts at byte 0 ("bytes=0-0" included: it is
 *     the start of a download, as the rule is written).
 * It does not count for HEAD, for an If-None-Match naming the file (304),
 * for ranges that all start past byte 0, and for ranges nginx refuses
 * (416). */
#ifndef FCGI_DOWNLOAD_COUNT_H
#define FCGI_DOWNLOAD_COUNT_H

#include <stdbool.h>
#include <stdint.h>

/* The request's parts that decide (each may be NULL when absent), the
 * file's sha256 (its ETag) and size. Can't fail. */
typedef struct fcgi_download_req {
    const char *method;
    const char *if_none_match;
    const char *range;
    const char *if_range;
} fcgi_download_req;

bool fcgi_download_counts(const fcgi_download_req *q, const char *sha256,
                          int64_t size);

/* The same rule for the request being answered: its method and
 * conditional headers, for the blob (sha256, size). size < 0: unknown,
 * looked up in the blob store only if a Range header makes it matter. */
struct fcgi_req;
bool fcgi_download_counts_req(struct fcgi_req *req, const char *sha256, int64_t size);

#endif
