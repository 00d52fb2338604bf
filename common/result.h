/* One result code for the whole program.
 *
 * Every fallible function in filigrane returns an fg_result. It is mapped to
 * a process exit status in exactly one place (fg_result_exit, below) and to
 * an HTTP status in exactly one place (the worker's error writer). Reasons
 * are reported once, where the error is detected, into a caller-supplied
 * fg_reason buffer; callers only pass the code up. */
#ifndef FG_RESULT_H
#define FG_RESULT_H

#include <stddef.h>

#define FG_MUST_CHECK __attribute__((warn_unused_result))

typedef enum fg_result {
    FG_OK = 0,
    FG_EUSAGE,       /* bad arguments or a malformed request */
    FG_EUNSUPPORTED, /* a type we cannot preview: it is withheld */
    FG_ECORRUPT,     /* content that cannot be read: truncated, damaged */
    FG_ELIMIT,       /* over a named limit */
    FG_EAUTH,        /* missing or invalid credentials */
    FG_EFORBIDDEN,   /* valid credentials, not allowed */
    FG_ENOTFOUND,    /* no such order, file or route */
    FG_ESTATE,       /* not allowed in the current state */
    FG_EIO,          /* the machine failed us: disk, memory, a child */
    FG_ETIMEOUT,     /* a child ran past its wall-clock limit */
    FG_ECRASH,       /* a child died of a signal or a resource limit */
    FG_EGONE,        /* existed, removed for good (a purged file) */
    FG_RESULT_COUNT
} fg_result;

/* A reason: one lowercase line saying what failed and on what. It never
 * holds secrets or server paths. */
#define FG_REASON_MAX 256
typedef struct fg_reason {
    char text[FG_REASON_MAX];
} fg_reason;

/* Writes a printf-style reason into r (which may be NULL) and returns code,
 * so that a detection site reads "return fg_fail(r, FG_ECORRUPT, ...)". */
fg_result fg_fail(fg_reason *r, fg_result code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The stable snake_case name of a code ("unsupported", "corrupt", ...).
 * This function can't fail. */
const char *fg_result_name(fg_result code);

/* The CLI's exit status for a code: 0 ok, 2 usage, 3 unsupported,
 * 4 unreadable or corrupt, 5 over a limit, 1 anything else.
 * This function can't fail. */
int fg_result_exit(fg_result code);

#endif
