/* The sandbox: every decode of uploaded content runs in a child process.
 *
 * wm_sandbox_stamp runs `filigrane stamp` (the CLI, exec'd fresh: no state
 * of the parent's threads leaks in) with resource limits, no new
 * privileges and a seccomp filter, and waits for it with a wall-clock
 * timeout. A child that crashes, runs out of memory or hangs is killed,
 * and only that one file fails. Safe to link into the worker: it decodes
 * nothing itself. */
#ifndef WM_SANDBOX_H
#define WM_SANDBOX_H

#include "common/result.h"

/* The stamper may write a companion image next to the preview, at
 * OUT WM_POSTER_SUFFIX (JPEG): a video's poster frame, an audio file's
 * waveform. It is stored and served with the preview
 * (GET /v1/files/{file}/poster), and removed with it on any failure. */
#define WM_POSTER_SUFFIX ".poster"

typedef struct wm_sandbox_limits {
    long long address_space; /* RLIMIT_AS, bytes */
    int cpu_seconds;         /* RLIMIT_CPU */
    int wall_seconds;        /* killed after this, whatever it is doing */
    long long file_size;     /* RLIMIT_FSIZE, bytes: the largest preview */
    int open_files;          /* RLIMIT_NOFILE */
} wm_sandbox_limits;

/* Fills l with the defaults of common/limits.h and the FILIGRANE_SANDBOX_*
 * environment overrides. Returns FG_EUSAGE if an override is malformed. */
FG_MUST_CHECK fg_result wm_sandbox_limits_init(wm_sandbox_limits *l /* out */,
                                               fg_reason *r);

/* The limits for a file of one kind (wm_kind_name: "video", "audio",
 * "document"; any other kind, or NULL, gets wm_sandbox_limits_init's).
 * Starts from the general limits; then CPU seconds, wall-clock seconds and
 * address space come from FILIGRANE_SANDBOX_<KIND>_CPU, _TIMEOUT and
 * _MEMORY (KIND in capitals) when set, else from the kind's own default
 * (common/limits.h) or the general setting, whichever is larger, so a
 * general limit raised by the operator raises every kind's. Returns
 * FG_EUSAGE naming the variable if one is malformed. */
FG_MUST_CHECK fg_result wm_sandbox_limits_init_kind(wm_sandbox_limits *l /* out */,
                                                    const char *kind, fg_reason *r);

/* Fits kind's limits *l (from wm_sandbox_limits_init_kind) under a job
 * lease of lease seconds: a lease that ran out while its runner still
 * stamped would have the work done twice. A wall-clock limit at or over
 * the lease is lowered to lease - 1 when it is the kind's default (an
 * operator who shortened FILIGRANE_JOB_LEASE shortens it too, never below
 * the general limit); one set by FILIGRANE_SANDBOX_<KIND>_TIMEOUT is
 * refused: FG_EUSAGE naming both variables. */
FG_MUST_CHECK fg_result wm_sandbox_limits_fit_lease(wm_sandbox_limits *l, const char *kind,
                                                    long long lease, fg_reason *r);

/* Opens the stamper program cli now (O_PATH), so that a later
 * wm_sandbox_stamp with this same path runs it through that descriptor
 * (execveat): the worker pins its stamper while still root, then drops to
 * a user that may not be able to reach the checkout it was built in.
 * Call once, before threads start. FG_EIO if it cannot be opened. */
FG_MUST_CHECK fg_result wm_sandbox_pin_program(const char *cli, fg_reason *r);

/* Runs `cli stamp ARGS... in out` in a sandboxed child. args is a NULL-
 * terminated list of extra stamp options (borrowed), e.g. {"--var",
 * "order=ord-1", NULL}. Returns the child's own result (decoded from its
 * exit status, its one-line stderr as the reason), or FG_ETIMEOUT or
 * FG_ECRASH if it had to be killed or died of a signal. On failure no file
 * is left at out, nor at out WM_POSTER_SUFFIX. The child gets the
 * caller's environment without any variable whose name says it holds a
 * credential (SECRET, TOKEN, _KEY, PASSWORD, DATABASE_URL, PG*, AWS_*). */
FG_MUST_CHECK fg_result wm_sandbox_stamp(const char *cli, const char *in,
                                         const char *out,
                                         const char *const *args,
                                         const wm_sandbox_limits *l,
                                         fg_reason *r);

/* As wm_sandbox_stamp, and env (NULL-terminated "NAME=VALUE" strings,
 * borrowed; may be NULL) is added to the child's environment. For what
 * must not be in its argv: any local user can read a process's command
 * line in /proc, but only its own user its environment. */
FG_MUST_CHECK fg_result wm_sandbox_stamp_env(const char *cli, const char *in,
                                             const char *out, const char *const *args,
                                             const char *const *env,
                                             const wm_sandbox_limits *l, fg_reason *r);

#endif
