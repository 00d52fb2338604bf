/* The evidence bundle's signed bytes (common/evidence.h). */
#include <stdio.h>
#include <string.h>

#include "common/evidence.h"

/* Appends ns(s) at *o; false when it does not fit. */
static int put_ns(char *out, size_t cap, size_t *o, const char *s)
{
    size_t n = strlen(s);
    int k = snprintf(out + *o, cap - *o, "%zu:", n);
    if (k < 0 || (size_t)k >= cap - *o || cap - *o - (size_t)k < n + 2)
        return 0;
    *o += (size_t)k;
    memcpy(out + *o, s, n);
    *o += n;
    out[(*o)++] = ',';
    out[*o] = '\0';
    return 1;
}

size_t fg_evidence_signed(const char *order_id, long long head_seq, const char *head_hash,
                          const char *issued_at, char *out, size_t cap)
{
    char seq[24];
    size_t o = 0;
    int k = snprintf(out, cap, "%s\n", FG_EVIDENCE_FORMAT);
    if (k < 0 || (size_t)k >= cap)
        return 0;
    o = (size_t)k;
    snprintf(seq, sizeof seq, "%lld", head_seq);
    if (!put_ns(out, cap, &o, order_id) || !put_ns(out, cap, &o, seq) ||
        !put_ns(out, cap, &o, head_hash) || !put_ns(out, cap, &o, issued_at))
        return 0;
    return o;
}
