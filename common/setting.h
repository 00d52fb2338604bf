/* Numbers from settings: environment variables and command-line values.
 *
 * One parser for every count and byte size an operator types, so
 * "FILIGRANE_MAX_FILE_BYTES=2G" and "FILIGRANE_SANDBOX_MEMORY=2G" mean the
 * same thing and are refused the same way. */
#ifndef FG_SETTING_H
#define FG_SETTING_H

#include <stdbool.h>

#include "common/result.h"

/* Parses s, a whole decimal integer (digits only: no sign, no spaces),
 * followed, when bytes is true, by at most one K, M or G (powers of 1024,
 * either case). Returns true and sets *out when the value is in
 * [min, max]; false for anything else, overflow included (*out is then
 * untouched). This function can't fail otherwise. */
bool fg_parse_count(const char *s, bool bytes, long long min, long long max,
                    long long *out /* out */);

/* Reads environment variable name with fg_parse_count. Unset or empty
 * leaves *out as it is (the caller's default). A bad value is FG_EUSAGE
 * with a reason naming the variable and the accepted range, never the
 * value (it may be a secret pasted in the wrong place). */
FG_MUST_CHECK fg_result fg_env_count(const char *name, bool bytes,
                                     long long min, long long max,
                                     long long *out /* out */, fg_reason *r);

#endif
