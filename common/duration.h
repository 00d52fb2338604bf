/* Durations from settings (DESIGN, Settled details: seconds, or a number
 * with an s, m, h or d suffix). */
#ifndef FG_DURATION_H
#define FG_DURATION_H

#include <stdbool.h>

#include "common/result.h"

/* Parses s: whole decimal digits, then at most one of s, m, h, d (seconds,
 * minutes, hours, days). True and *out (seconds) when the value is in
 * [min, max]; false for anything else, overflow included (*out is then
 * untouched). This function can't fail otherwise. */
bool fg_duration_parse(const char *s, long long min, long long max,
                       long long *out /* out */);

/* Reads environment variable name with fg_duration_parse. Unset or empty
 * leaves *out (the caller's default). A bad value is FG_EUSAGE with a
 * reason naming the variable and the range, never the value. */
FG_MUST_CHECK fg_result fg_duration_env(const char *name, long long min,
                                        long long max,
                                        long long *out /* out */,
                                        fg_reason *r);

#endif
