/* The sandbox child may write only next to its output.
 *
 * seccomp (watermark/seccomp.h) takes away the network and exec, but a
 * decoder exploited by a crafted file would still run as the worker's
 * user, able to rewrite the stored originals: the evidence. Landlock
 * (Linux 5.13+, unprivileged) removes every right to create, write,
 * truncate, rename or delete files outside one directory. */
#ifndef WM_LANDLOCK_H
#define WM_LANDLOCK_H

#include <stdbool.h>

#include "common/result.h"

/* Confines this process (and the threads it starts later) so that it can
 * write only beneath the directory holding out, and points TMPDIR there
 * so libvips's own temporary files land inside it too. Call it before any
 * thread starts (before wm_init) and before the seccomp filter. Reading
 * is not restricted (fonts, libraries, the input). On a kernel without
 * Landlock it does nothing and returns FG_OK: the other limits stay.
 * FG_EIO with a reason if Landlock is there but refuses the rules. */
FG_MUST_CHECK fg_result wm_sandbox_confine_writes(const char *out, fg_reason *r);

/* True once wm_sandbox_confine_writes has confined this process.
 * This function can't fail. */
bool wm_sandbox_writes_confined(void);

#endif
