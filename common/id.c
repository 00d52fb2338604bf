#include "common/id.h"

#include <string.h>

/* fg_id_fault_text spells the limit out. */
_Static_assert(FG_MAX_ID == 128, "update fg_id_fault_text");

static bool id_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '~' || c == ':' || c == '@' || c == '+' || c == '-';
}

fg_id_fault fg_id_check(const char *s, size_t n)
{
    if (!s || n == 0)
        return FG_ID_EMPTY;
    if (n > FG_MAX_ID)
        return FG_ID_TOO_LONG;
    if (s[0] == '.')
        return FG_ID_LEADING_DOT;
    for (size_t i = 0; i < n; i++)
        if (!id_byte((unsigned char)s[i]))
            return FG_ID_BAD_CHAR;
    return FG_ID_OK;
}

bool fg_id_valid(const char *s)
{
    return s && fg_id_check(s, strnlen(s, FG_MAX_ID + 1)) == FG_ID_OK;
}

const char *fg_id_fault_text(fg_id_fault f)
{
    switch (f) {
    case FG_ID_OK:
        return "is an id";
    case FG_ID_EMPTY:
        return "is missing";
    case FG_ID_TOO_LONG:
        return "is longer than 128 bytes";
    case FG_ID_LEADING_DOT:
        return "may not start with a dot";
    case FG_ID_BAD_CHAR:
        return "may only hold letters, digits and ._~:@+-";
    }
    return "is not an id";
}
