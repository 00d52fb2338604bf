#include "watermark/archive_guard.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/limits.h"
#include "common/setting.h"

#define MB (1024LL * 1024)

static fg_result env_count(const char *name, bool bytes, long long *v,
                           fg_reason *r)
{
    return fg_env_count(name, bytes, 1, 1LL << 50, v, r);
}

fg_result wm_archive_limits_init(wm_archive_limits *l, fg_reason *r)
{
    wm_archive_limits d = {
        .max_entries = FG_ARCHIVE_MAX_ENTRIES_DEFAULT,
        .max_total = FG_ARCHIVE_MAX_TOTAL_DEFAULT,
        .max_entry = FG_ARCHIVE_MAX_ENTRY_DEFAULT,
        .max_ratio = FG_ARCHIVE_MAX_RATIO_DEFAULT,
    };
    fg_result rc;
    if ((rc = env_count("FILIGRANE_ARCHIVE_MAX_ENTRIES", false,
                        &d.max_entries, r)) ||
        (rc = env_count("FILIGRANE_ARCHIVE_MAX_TOTAL", true, &d.max_total,
                        r)) ||
        (rc = env_count("FILIGRANE_ARCHIVE_MAX_ENTRY", true, &d.max_entry,
                        r)) ||
        (rc = env_count("FILIGRANE_ARCHIVE_MAX_RATIO", false, &d.max_ratio,
                        r)))
        return rc;
    *l = d;
    return FG_OK;
}

void wm_archive_guard_init(wm_archive_guard *g, const wm_archive_limits *l,
                           long long file_size)
{
    *g = (wm_archive_guard){.l = *l, .file_size = file_size > 0 ? file_size : 1};
}

static fg_result too_big(const wm_archive_guard *g, fg_reason *r)
{
    return fg_fail(r, FG_ELIMIT,
                   "archive unpacks to more than %lld MB: over the limit",
                   g->l.max_total / MB);
}

static fg_result bomb(const wm_archive_guard *g, fg_reason *r)
{
    return fg_fail(r, FG_ELIMIT,
                   "archive expands more than %lldx: refused as a "
                   "decompression bomb",
                   g->l.max_ratio);
}

fg_result wm_archive_guard_entry(wm_archive_guard *g, long long size,
                                 fg_reason *r)
{
    if (++g->entries > g->l.max_entries)
        return fg_fail(r, FG_ELIMIT,
                       "archive has more than %lld entries: over the limit",
                       g->l.max_entries);
    if (size <= 0)
        return FG_OK;
    /* Saturate instead of overflowing on a header that declares 2^63. */
    if (size > g->l.max_total || g->declared > g->l.max_total - size)
        return too_big(g, r);
    g->declared += size;
    if (g->declared > FG_ARCHIVE_RATIO_FLOOR &&
        g->declared / g->l.max_ratio > g->file_size)
        return bomb(g, r);
    return FG_OK;
}

fg_result wm_archive_guard_bytes(wm_archive_guard *g, long long n,
                                 long long compressed, fg_reason *r)
{
    if (n > g->l.max_total - g->unpacked)
        return too_big(g, r);
    g->unpacked += n;
    if (compressed < 1)
        compressed = 1;
    if (g->unpacked > FG_ARCHIVE_RATIO_FLOOR &&
        g->unpacked / g->l.max_ratio > compressed)
        return bomb(g, r);
    return FG_OK;
}
