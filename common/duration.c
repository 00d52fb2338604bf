#include "common/duration.h"

#include <errno.h>
#include <stdlib.h>

bool fg_duration_parse(const char *s, long long min, long long max,
                       long long *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end = NULL;
    long long n = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return false;
    long long mul = 1;
    switch (*end) {
    case '\0': break;
    case 's': mul = 1; end++; break;
    case 'm': mul = 60; end++; break;
    case 'h': mul = 3600; end++; break;
    case 'd': mul = 86400; end++; break;
    default: return false;
    }
    if (*end || n > max / mul || n * mul < min)
        return false;
    *out = n * mul;
    return true;
}

fg_result fg_duration_env(const char *name, long long min, long long max,
                          long long *out, fg_reason *r)
{
    const char *v = getenv(name);
    if (!v || !*v || fg_duration_parse(v, min, max, out))
        return FG_OK;
    return fg_fail(r, FG_EUSAGE,
                   "%s must be a duration (seconds, or with s, m, h, d) from "
                   "%lld to %lld seconds",
                   name, min, max);
}
