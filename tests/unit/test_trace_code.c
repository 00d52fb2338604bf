/* The traceable mark's code (watermark/trace_code.c): the keyed pattern,
 * the payload, and the parser of the report an untrusted child writes. */
#define TAP_MAIN
#include "tests/unit/tap.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "watermark/trace_code.h"

static const unsigned char key_a[WM_TRACE_KEY_BYTES] = "0123456789abcdef0123456789abcde";
static const unsigned char key_b[WM_TRACE_KEY_BYTES] = "0123456789abcdef0123456789abcdX";

TEST("the pattern has 256 sync cells and 12 cells for each of the 64 bits")
{
    wm_trace_pattern p;
    fg_reason r = {{0}};
    int count[WM_TRACE_BITS] = {0}, sync = 0, plus = 0;
    CHECK_INT(wm_trace_pattern_init(&p, key_a, &r), FG_OK);
    for (int i = 0; i < WM_TRACE_NCELLS; i++) {
        CHECK(p.pn[i] == 1 || p.pn[i] == -1);
        plus += p.pn[i] == 1;
        if (p.role[i] < 0)
            sync++;
        else
            count[p.role[i]]++;
    }
    CHECK_INT(sync, WM_TRACE_SYNC);
    for (int b = 0; b < WM_TRACE_BITS; b++)
        CHECK_INT(count[b], (WM_TRACE_NCELLS - WM_TRACE_SYNC) / WM_TRACE_BITS);
    /* Balanced signs: a zero-mean pattern leaves brightness alone. */
    CHECK(plus > 440 && plus < 584);
}

TEST("the pattern depends on the key, and only on it")
{
    wm_trace_pattern a, a2, b;
    fg_reason r = {{0}};
    CHECK_INT(wm_trace_pattern_init(&a, key_a, &r), FG_OK);
    CHECK_INT(wm_trace_pattern_init(&a2, key_a, &r), FG_OK);
    CHECK_INT(wm_trace_pattern_init(&b, key_b, &r), FG_OK);
    CHECK(memcmp(&a, &a2, sizeof a) == 0);
    int same = 0;
    for (int i = 0; i < WM_TRACE_NCELLS; i++)
        same += a.pn[i] == b.pn[i];
    CHECK(same > 400 && same < 624); /* unrelated: about half agree */
}

TEST("a chip carries its bit: flipping the bit flips the data chips only")
{
    wm_trace_pattern p;
    fg_reason r = {{0}};
    CHECK_INT(wm_trace_pattern_init(&p, key_a, &r), FG_OK);
    uint64_t x = 0x0123456789abcdefULL;
    for (int cy = 0; cy < WM_TRACE_CELLS; cy++)
        for (int cx = 0; cx < WM_TRACE_CELLS; cx++) {
            int cell = cy * WM_TRACE_CELLS + cx, role = p.role[cell];
            int a = wm_trace_chip(&p, x, cx, cy);
            if (role < 0) {
                CHECK_INT(a, p.pn[cell]);
                CHECK_INT(wm_trace_chip(&p, ~x, cx, cy), a);
            } else {
                int bit = (int)((x >> (63 - role)) & 1);
                CHECK_INT(a, bit ? p.pn[cell] : -p.pn[cell]);
                CHECK_INT(wm_trace_chip(&p, x ^ ((uint64_t)1 << (63 - role)), cx, cy), -a);
            }
        }
}

TEST("the payload is keyed and names one (order, buyer, file) triple")
{
    const char *key = "a mark key of at least thirty-two bytes";
    const char *other = "another mark key of thirty-two bytes!!";
    uint64_t a = 0, b = 0;
    fg_reason r = {{0}};
    CHECK_INT(wm_trace_payload(key, strlen(key), "o-1", "b-1", "f-1", &a, &r), FG_OK);
    CHECK_INT(wm_trace_payload(key, strlen(key), "o-1", "b-1", "f-1", &b, &r), FG_OK);
    CHECK(a == b);
    static const char *const rows[][3] = {
        {"o-2", "b-1", "f-1"}, {"o-1", "b-2", "f-1"}, {"o-1", "b-1", "f-2"},
        /* netstrings: moving a byte across a boundary is another triple */
        {"o-1b", "-1", "f-1"}, {"o-", "1b-1", "f-1"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        CHECK_INT(wm_trace_payload(key, strlen(key), rows[i][0], rows[i][1], rows[i][2], &b, &r),
                  FG_OK);
        CHECK(a != b);
    }
    CHECK_INT(wm_trace_payload(other, strlen(other), "o-1", "b-1", "f-1", &b, &r), FG_OK);
    CHECK(a != b);
    unsigned char p1[WM_TRACE_KEY_BYTES], p2[WM_TRACE_KEY_BYTES];
    CHECK_INT(wm_trace_pattern_key(key, strlen(key), p1, &r), FG_OK);
    CHECK_INT(wm_trace_pattern_key(other, strlen(other), p2, &r), FG_OK);
    CHECK(memcmp(p1, p2, sizeof p1) != 0);
    CHECK(memcmp(p1, key, sizeof p1) != 0); /* the child never gets the key */
}

static wm_trace_report sample(void)
{
    wm_trace_report rep = {.n = 2};
    rep.c[0] = (wm_trace_candidate){.z = 23.5, .scale = 0.5, .bits = 0xfedcba9876543210ULL,
                                    .weak = {63, 0, 7, 12, 33, 41, 2, 5}};
    rep.c[1] = (wm_trace_candidate){.z = 7.25, .scale = 1.25, .bits = 1,
                                    .weak = {1, 2, 3, 4, 5, 6, 7, 8}};
    return rep;
}

TEST("a report survives formatting and parsing")
{
    char buf[1024];
    wm_trace_report rep = sample(), back;
    fg_reason r = {{0}};
    size_t n = wm_trace_report_format(&rep, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_INT(wm_trace_report_parse(buf, n, &back, &r), FG_OK);
    CHECK_INT(back.n, 2);
    for (int i = 0; i < 2; i++) {
        CHECK(back.c[i].bits == rep.c[i].bits);
        CHECK(back.c[i].z > rep.c[i].z - 0.001 && back.c[i].z < rep.c[i].z + 0.001);
        CHECK(back.c[i].scale > rep.c[i].scale - 1e-4 && back.c[i].scale < rep.c[i].scale + 1e-4);
        CHECK(memcmp(back.c[i].weak, rep.c[i].weak, WM_TRACE_WEAK) == 0);
    }
    wm_trace_report none = {.n = 0};
    n = wm_trace_report_format(&none, buf, sizeof buf);
    CHECK_INT(wm_trace_report_parse(buf, n, &back, &r), FG_OK);
    CHECK_INT(back.n, 0);
    /* Too small a buffer is refused, not cut. */
    CHECK_INT(wm_trace_report_format(&rep, buf, 40), 0);
}

TEST("every truncated prefix of a report parses only at a line's end")
{
    char buf[1024];
    wm_trace_report rep = sample(), back;
    fg_reason r = {{0}};
    size_t n = wm_trace_report_format(&rep, buf, sizeof buf);
    for (size_t k = 0; k <= n; k++) {
        fg_result rc = wm_trace_report_parse(buf, k, &back, &r);
        bool at_line_end = k > 0 && buf[k - 1] == '\n';
        if (rc != (at_line_end ? FG_OK : FG_ECORRUPT))
            TAP_FAIL("prefix of %zu bytes: %d", k, rc);
    }
}

TEST("a hostile report is refused whole")
{
    static const char *const bad[] = {
        "",
        "filigrane-trace-v2\n",
        "filigrane-trace-v1",
        "filigrane-trace-v1\ncandidate 9 1 0123456789abcdef 1,2,3,4,5,6,7\n",
        "filigrane-trace-v1\ncandidate 9 1 0123456789abcdef 1,2,3,4,5,6,7,8,9\n",
        "filigrane-trace-v1\ncandidate 9 1 0123456789abcdef 1,2,3,4,5,6,7,64\n",
        "filigrane-trace-v1\ncandidate 9 1 0123456789abcdef 1,2,3,4,5,6,7,1.5\n",
        "filigrane-trace-v1\ncandidate 9 1 0123456789ABCDEF 1,2,3,4,5,6,7,8\n",
        "filigrane-trace-v1\ncandidate 9 1 0123456789abcde 1,2,3,4,5,6,7,8\n",
        "filigrane-trace-v1\ncandidate -9 1 0123456789abcdef 1,2,3,4,5,6,7,8\n",
        "filigrane-trace-v1\ncandidate nan 1 0123456789abcdef 1,2,3,4,5,6,7,8\n",
        "filigrane-trace-v1\ncandidate 9 0 0123456789abcdef 1,2,3,4,5,6,7,8\n",
        "filigrane-trace-v1\ncandidate 9 1 0123456789abcdef 1,2,3,4,5,6,7,8 x\n",
        "filigrane-trace-v1\ncandidate  9 1 0123456789abcdef 1,2,3,4,5,6,7,8\n",
        "filigrane-trace-v1\norder o-1 buyer b-1 file f-1\n",
        "filigrane-trace-v1\ncandidate 9 1 0123456789abcdef 1,2,3,4,5,6,7,8\n"
        "candidate 9 1 0123456789abcdef 1,2,3,4,5,6,7,8\n"
        "candidate 9 1 0123456789abcdef 1,2,3,4,5,6,7,8\n"
        "candidate 9 1 0123456789abcdef 1,2,3,4,5,6,7,8\n"
        "candidate 9 1 0123456789abcdef 1,2,3,4,5,6,7,8\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wm_trace_report back = {.n = 99};
        fg_reason r = {{0}};
        if (wm_trace_report_parse(bad[i], strlen(bad[i]), &back, &r) != FG_ECORRUPT)
            TAP_FAIL("row %zu accepted", i);
        CHECK_INT(back.n, 99); /* untouched */
    }
}

TEST("the lookup tries no flip first, then each weak bit, 256 payloads in all")
{
    wm_trace_candidate c = {.bits = 0, .weak = {5, 9, 0, 63, 17, 30, 44, 2}};
    uint64_t seen[1 << WM_TRACE_WEAK];
    int flipped = -1, last = 0;
    CHECK(wm_trace_try(&c, 0, &flipped) == 0);
    CHECK_INT(flipped, 0);
    for (int i = 0; i < WM_TRACE_WEAK; i++) {
        CHECK(wm_trace_try(&c, 1 + i, &flipped) == (uint64_t)1 << (63 - c.weak[i]));
        CHECK_INT(flipped, 1);
    }
    for (int i = 0; i < (1 << WM_TRACE_WEAK); i++) {
        seen[i] = wm_trace_try(&c, i, &flipped);
        CHECK(flipped >= last); /* fewest flips first */
        CHECK_INT(__builtin_popcountll(seen[i]), flipped);
        last = flipped;
        for (int j = 0; j < i; j++)
            CHECK(seen[j] != seen[i]);
    }
    CHECK_INT(last, WM_TRACE_WEAK);
}
