/* The inside of the sandbox: what a `filigrane stamp --sandboxed` child
 * does to itself once it has started, before it reads a byte of its
 * input. The outside (fork, rlimits, the deadline) is watermark/sandbox.h. */
#ifndef WM_SECCOMP_H
#define WM_SECCOMP_H

#include <stdbool.h>

#include "common/result.h"

/* Installs the seccomp filter on every thread of this process: no
 * network, no new programs, no debugging of other processes, no kernel
 * administration (see seccomp.c for the list and why it is a deny list).
 * Also sets PR_SET_NO_NEW_PRIVS. Returns FG_EIO with a reason if the
 * kernel refuses the filter; the caller must then not go on decoding.
 *
 * In the test copy of the CLI only (built with -DFG_TEST_HOOKS as
 * BUILD/filigrane-hooks; never bin/filigrane), then honours
 * FILIGRANE_TEST_HOOK, so the tests can drive the real CLI
 * into each failure the parent must survive: "hang" (sleeps forever),
 * "spin" (burns CPU), "crash" (dies of SIGSEGV), "oom" (allocates until
 * malloc fails, then aborts as glib does), "socket" (tries to open a
 * socket, prints what happened, exits 1), "exec" (tries to run
 * /bin/true). These only ever harm the child itself, and only the
 * sandboxed mode calls this function. */
FG_MUST_CHECK fg_result wm_sandbox_enter(fg_reason *r);

/* The office converter's profile (watermark/office.c), for the process
 * that execs LibreOffice: wm_sandbox_enter's filter without its ban on
 * execve and execveat (it execs soffice.bin), and with sockets of the
 * AF_UNIX family allowed (LibreOffice's single-instance pipe, which it
 * binds and listens on), every other family and every connect refused
 * (EPERM): no network, no unix socket of the host, no ptrace, no namespaces, no
 * kernel administration; and PR_SET_NO_NEW_PRIVS, so nothing it runs
 * gains privileges. Inherited by every program it runs.
 * FG_EIO with a reason if the kernel refuses it. */
FG_MUST_CHECK fg_result wm_sandbox_enter_converter(fg_reason *r);

/* True once wm_sandbox_enter has succeeded in this process: the decoders
 * libvips does not guard (poppler called directly) check it. This
 * function can't fail. */
bool wm_sandbox_active(void);

#endif
