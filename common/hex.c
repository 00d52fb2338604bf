#include "common/hex.h"

#include <string.h>

void fg_hex_encode(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

int fg_hex_nibble(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool fg_hex_decode(const char *hex, unsigned char *out, size_t n)
{
    if (!hex || strnlen(hex, 2 * n + 1) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = fg_hex_nibble(hex[2 * i]), lo = fg_hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}
