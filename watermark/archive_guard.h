/* The bounds on one archive: how many entries, how many bytes, how much
 * expansion. Pure C, so the accounting is unit-tested without an archive.
 *
 * The archive reader reports what headers declare and what it unpacks;
 * the guard answers FG_ELIMIT with a reason naming the limit as soon as
 * one is crossed, so a zip bomb is refused after at most
 * ratio x (bytes read so far) bytes, not after unpacking it. */
#ifndef WM_ARCHIVE_GUARD_H
#define WM_ARCHIVE_GUARD_H

#include "common/result.h"

typedef struct wm_archive_limits {
    long long max_entries;
    long long max_total;  /* unpacked bytes, all entries */
    long long max_entry;  /* bytes of one entry held to be previewed */
    long long max_ratio;  /* unpacked bytes per compressed byte */
} wm_archive_limits;

/* Fills l with the defaults of common/limits.h and the
 * FILIGRANE_ARCHIVE_* overrides. Returns FG_EUSAGE if one is malformed. */
FG_MUST_CHECK fg_result wm_archive_limits_init(wm_archive_limits *l /* out */,
                                               fg_reason *r);

typedef struct wm_archive_guard {
    wm_archive_limits l;
    long long file_size; /* of the archive as uploaded */
    long long entries;
    long long declared;  /* sum of the sizes headers declare */
    long long unpacked;  /* bytes actually unpacked so far */
} wm_archive_guard;

/* Starts counting for an archive of file_size bytes. Can't fail. */
void wm_archive_guard_init(wm_archive_guard *g, const wm_archive_limits *l,
                           long long file_size);

/* A new entry whose header declares size bytes (-1: not declared).
 * Returns FG_ELIMIT once there are too many entries, or when the declared
 * sizes alone exceed the total or the ratio to the archive's size. */
FG_MUST_CHECK fg_result wm_archive_guard_entry(wm_archive_guard *g,
                                               long long size, fg_reason *r);

/* n more bytes unpacked, with compressed bytes of the archive consumed so
 * far. Returns FG_ELIMIT past the total, or when the running ratio of
 * unpacked to consumed bytes passes the limit (checked once
 * FG_ARCHIVE_RATIO_FLOOR bytes are out). */
FG_MUST_CHECK fg_result wm_archive_guard_bytes(wm_archive_guard *g,
                                               long long n,
                                               long long compressed,
                                               fg_reason *r);

#endif
