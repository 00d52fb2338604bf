/* fg_utf8_valid and fg_utf8_seq against glib's validator, on any bytes.
 *
 * Invariants: fg_utf8_valid agrees with g_utf8_validate on every input
 * (glib refuses an embedded NUL that we take as U+0000, so the reference
 * validates the runs between NULs); walking the input with fg_utf8_seq
 * consumes it exactly when it is valid, each step 1 to 4 bytes, and every
 * sequence it accepts is one glib accepts as exactly one character. */
#include <glib.h>

#include "common/utf8.h"
#include "tests/fuzz/fuzz.h"

static int reference_valid(const uint8_t *data, size_t size)
{
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != 0)
            continue;
        if (i > start &&
            !g_utf8_validate((const char *)data + start, (gssize)(i - start),
                             NULL))
            return 0;
        start = i + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int ours = fg_utf8_valid((const char *)data, size);
    int ref = reference_valid(data, size);
    FUZZ_CHECK(ours == ref, "fg_utf8_valid says %d, glib says %d", ours, ref);

    size_t i = 0;
    while (i < size) {
        size_t l = fg_utf8_seq(data + i, size - i);
        FUZZ_CHECK(l <= 4 && i + l <= size, "sequence length %zu at %zu", l, i);
        if (l == 0)
            break;
        if (data[i] != 0) {
            const gchar *end = NULL;
            FUZZ_CHECK(g_utf8_validate((const char *)data + i, (gssize)l, &end) &&
                           g_utf8_next_char((const char *)data + i) ==
                               (const char *)data + i + l,
                       "glib disagrees with the %zu-byte sequence at %zu", l, i);
        }
        i += l;
    }
    FUZZ_CHECK((i == size) == ours, "walk stopped at %zu of %zu, valid=%d", i,
               size, ours);
    return 0;
}
