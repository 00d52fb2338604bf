#include "common/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"

fg_result fg_fail(fg_reason *r, fg_result code, const char *fmt, ...)
{
    if (r) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(r->text, sizeof r->text, fmt, ap);
        va_end(ap);
        /* A reason can quote a client's UTF-8 (a field name) and goes into
         * a JSON body, which must be UTF-8: a cut never splits a
         * character. */
        if (n >= (int)sizeof r->text) {
            size_t len = strlen(r->text), i = len;
            while (i > 0 && ((unsigned char)r->text[i - 1] & 0xc0) == 0x80)
                i--;
            if (i > 0 && fg_utf8_seq((const unsigned char *)r->text + i - 1,
                                     len - (i - 1)) != len - (i - 1))
                r->text[i - 1] = '\0';
        }
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
        [FG_EGONE] = "gone",
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
