/* A tiny test harness that speaks TAP ("ok - name" / "not ok - name"), so
 * tests/run.sh can count C unit tests and script tests alike.
 *
 *   TEST("template fills {order}") { CHECK_STR(got, "x"); }
 *   int main(void) { return tap_run(); }
 *
 * A CHECK failing ends the current test (not the program) and prints where
 * and why on stderr. A program registers at most TAP_MAX_CASES tests: one
 * past it is not dropped silently, it fails the run (tests/cli/tap_limit.sh). */
#ifndef TAP_H
#define TAP_H

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

typedef void (*tap_fn)(void);
struct tap_case {
    const char *name;
    tap_fn fn;
};

#define TAP_MAX_CASES 512
extern struct tap_case tap_cases[TAP_MAX_CASES];
extern int tap_ncases;
extern int tap_dropped; /* registrations past TAP_MAX_CASES */
extern jmp_buf tap_jmp;

#define TAP_CAT2(a, b) a##b
#define TAP_CAT(a, b) TAP_CAT2(a, b)
#define TEST(title)                                                          \
    static void TAP_CAT(test_, __LINE__)(void);                              \
    __attribute__((constructor)) static void TAP_CAT(reg_, __LINE__)(void)   \
    {                                                                        \
        if (tap_ncases < TAP_MAX_CASES)                                      \
            tap_cases[tap_ncases++] =                                        \
                (struct tap_case){title, TAP_CAT(test_, __LINE__)};          \
        else                                                                 \
            tap_dropped++;                                                   \
    }                                                                        \
    static void TAP_CAT(test_, __LINE__)(void)

#define TAP_FAIL(...)                                                        \
    do {                                                                     \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                    \
        fprintf(stderr, __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                 \
        longjmp(tap_jmp, 1);                                                 \
    } while (0)

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            TAP_FAIL("check failed: %s", #cond);                             \
    } while (0)

#define CHECK_INT(got, want)                                                 \
    do {                                                                     \
        long long g_ = (long long)(got), w_ = (long long)(want);             \
        if (g_ != w_)                                                        \
            TAP_FAIL("%s is %lld, want %lld", #got, g_, w_);                 \
    } while (0)

#define CHECK_STR(got, want)                                                 \
    do {                                                                     \
        const char *g_ = (got), *w_ = (want);                                \
        if (!g_ || !w_ || strcmp(g_, w_) != 0)                               \
            TAP_FAIL("%s is \"%s\", want \"%s\"", #got, g_ ? g_ : "(null)",  \
                     w_ ? w_ : "(null)");                                    \
    } while (0)

/* Runs every registered case; returns the process exit status. */
int tap_run(void);

/* Defined once, in the test file that includes tap.h with TAP_MAIN. */
#ifdef TAP_MAIN
struct tap_case tap_cases[TAP_MAX_CASES];
int tap_ncases;
int tap_dropped;
jmp_buf tap_jmp;
int tap_run(void)
{
    volatile int failed = 0; /* volatile: live across longjmp */
    if (tap_dropped) {
        printf("not ok - %d tests past the limit of %d were not run (raise TAP_MAX_CASES "
               "or split the file)\n", tap_dropped, TAP_MAX_CASES);
        failed++;
    }
    for (volatile int i = 0; i < tap_ncases; i++) {
        if (setjmp(tap_jmp) == 0) {
            tap_cases[i].fn();
            printf("ok - %s\n", tap_cases[i].name);
        } else {
            printf("not ok - %s\n", tap_cases[i].name);
            failed++;
        }
        fflush(stdout);
    }
    return failed ? 1 : 0;
}
int main(void) { return tap_run(); }
#endif

#endif
