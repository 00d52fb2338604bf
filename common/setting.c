#include "common/setting.h"

#include <errno.h>
#include <stdlib.h>

bool fg_parse_count(const char *s, bool bytes, long long min, long long max,
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
    if (bytes && *end) {
        switch (*end) {
        case 'k': case 'K': mul = 1024LL; break;
        case 'm': case 'M': mul = 1024LL * 1024; break;
        case 'g': case 'G': mul = 1024LL * 1024 * 1024; break;
        default: return false;
        }
        end++;
    }
    if (*end || n > max / mul || n * mul < min)
        return false;
    *out = n * mul;
    return true;
}

fg_result fg_env_count(const char *name, bool bytes, long long min,
                       long long max, long long *out, fg_reason *r)
{
    const char *v = getenv(name);
    if (!v || !*v || fg_parse_count(v, bytes, min, max, out))
        return FG_OK;
    return fg_fail(r, FG_EUSAGE, "%s must be %s from %lld to %lld", name,
                   bytes ? "a byte size (K, M, G allowed)" : "an integer", min,
                   max);
}
