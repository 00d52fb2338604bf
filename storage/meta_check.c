/* Input checks for the metadata store: every string that reaches a backend
 * went through here first. */
#include "storage/meta_impl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/id.h"
#include "common/utf8.h"

void store_time_now(char out[STORE_TIME_MAX])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char sec[32];
    if (strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
        /* A clock outside years 0..9999 cannot be written in this form. */
        snprintf(out, STORE_TIME_MAX, "%s", "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out, STORE_TIME_MAX, "%.19s.%03uZ", sec,
             (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

fg_result store_check_id(const char *s, const char *what, fg_reason *r)
{
    /* The one id rule (common/id.h): an id stored here is one that every
     * URL, token and webhook accepts too. */
    fg_id_fault f = fg_id_check(s, s ? strnlen(s, FG_MAX_ID + 1) : 0);
    if (f == FG_ID_OK)
        return FG_OK;
    return fg_fail(r, f == FG_ID_TOO_LONG ? FG_ELIMIT : FG_EUSAGE, "%s %s", what,
                   fg_id_fault_text(f));
}

fg_result store_check_text(const char *s, size_t max, bool allow_empty,
                           const char *what, fg_reason *r)
{
    if (!s || (!*s && !allow_empty))
        return fg_fail(r, FG_EUSAGE, "%s is missing", what);
    size_t len = strnlen(s, max + 1);
    if (len > max)
        return fg_fail(r, FG_ELIMIT, "%s is longer than %zu bytes", what, max);
    if (!fg_utf8_valid(s, len))
        return fg_fail(r, FG_EUSAGE, "%s is not valid UTF-8", what);
    return FG_OK;
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

fg_result store_check_time(const char *s, char out[STORE_TIME_MAX],
                           const char *what, fg_reason *r)
{
    if (!s || !*s) {
        store_time_now(out);
        return FG_OK;
    }
    /* YYYY-MM-DDTHH:MM:SS then ".mmmZ" or "Z". Sorting and comparing
     * times as strings works only if every stored time has this one
     * form. */
    size_t len = strnlen(s, STORE_TIME_MAX);
    bool head = len >= 20 && digits(s, 4) && s[4] == '-' &&
                digits(s + 5, 2) && s[7] == '-' && digits(s + 8, 2) &&
                s[10] == 'T' && digits(s + 11, 2) && s[13] == ':' &&
                digits(s + 14, 2) && s[16] == ':' && digits(s + 17, 2);
    bool ms = len == 24 && s[19] == '.' && digits(s + 20, 3) && s[23] == 'Z';
    bool sec = len == 20 && s[19] == 'Z';
    if (head) {
        int mon = (s[5] - '0') * 10 + (s[6] - '0');
        int day = (s[8] - '0') * 10 + (s[9] - '0');
        int hour = (s[11] - '0') * 10 + (s[12] - '0');
        int min = (s[14] - '0') * 10 + (s[15] - '0');
        int sec60 = (s[17] - '0') * 10 + (s[18] - '0');
        head = mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hour < 24 &&
               min < 60 && sec60 <= 60;
    }
    if (!head || !(ms || sec))
        return fg_fail(r, FG_EUSAGE,
                       "%s is not an RFC 3339 UTC time "
                       "(YYYY-MM-DDTHH:MM:SS[.mmm]Z)",
                       what);
    memcpy(out, s, 19);
    memcpy(out + 19, ms ? s + 19 : ".000Z", 5);
    out[24] = '\0';
    return FG_OK;
}
