#include "common/result.h"

#include <stdarg.h>
#include <stdio.h>

fg_result fg_fail(fg_reason *r, fg_result code, const char *fmt, ...)
{
    if (r) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->text, sizeof r->text, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *fg_result_name(fg_result code)
{
    static const char *const names[FG_RESULT_COUNT] = {
        [FG_OK] = "ok",
        [FG_EUSAGE] = "bad_request",
        [FG_EUNSUPPORTED] = "unsupported",
        [FG_ECORRUPT] = "unreadable",
        [FG_ELIMIT] = "too_large",
        [FG_EAUTH] = "unauthorized",
        [FG_EFORBIDDEN] = "forbidden",
        [FG_ENOTFOUND] = "not_found",
        [FG_ESTATE] = "wrong_state",
        [FG_EIO] = "internal",
        [FG_ETIMEOUT] = "timeout",
        [FG_ECRASH] = "crashed",
    };
    if ((unsigned)code >= FG_RESULT_COUNT)
        return "internal";
    return names[code];
}

int fg_result_exit(fg_result code)
{
    switch (code) {
    case FG_OK: return 0;
    case FG_EUSAGE: return 2;
    case FG_EUNSUPPORTED: return 3;
    case FG_ECORRUPT: return 4;
    case FG_ELIMIT: return 5;
    default: return 1;
    }
}
