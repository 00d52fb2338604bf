/* The sandbox child may read only what it needs and write only next to its
 * output.
 *
 * seccomp (watermark/seccomp.h) takes away the network and exec, but a
 * decoder exploited by a crafted file would still run as the worker's
 * user (watermark/sandbox.c says why it is not a user of its own), able
 * to read secrets.env and every stored original, and to rewrite them: the
 * evidence. Landlock (Linux 5.13+, unprivileged) removes every right to
 * read, create, write, truncate, rename or delete files outside a short
 * list, and (ABI 6+) to signal processes or reach abstract unix sockets
 * outside the child. */
#ifndef WM_LANDLOCK_H
#define WM_LANDLOCK_H

#include <stdbool.h>

#include "common/result.h"

/* Confines this process (and the threads it starts later): it may read
 * the file in, read and write beneath the directory holding out, and read
 * the system files decoders need (libraries, fonts and their caches,
 * locales, libmagic's database, the CPU count: /usr, /etc/fonts,
 * /etc/ld.so.cache, /etc/magic, /var/cache/fontconfig, /dev/null,
 * /dev/urandom, /sys/devices/system/cpu and node, /proc/stat and the
 * child's own /proc status), nothing else. It points
 * TMPDIR at out's directory so libvips's own temporary files land inside
 * it. Call it before any thread starts (before wm_init) and before the
 * seccomp filter. On a kernel without Landlock it does nothing and returns
 * FG_OK: the other limits stay. FG_EIO with a reason if Landlock is there
 * but refuses the rules, or in cannot be opened. */
FG_MUST_CHECK fg_result wm_sandbox_confine(const char *in, const char *out, fg_reason *r);

/* As wm_sandbox_confine, and the files and directories extra_reads names
 * (NULL-terminated, may be NULL; missing ones skipped) are readable too,
 * and beneath those extra_writes names (which must exist) writable: the
 * office converter's configuration, and its private /tmp
 * (watermark/office.h). */
FG_MUST_CHECK fg_result wm_sandbox_confine_paths(const char *in, const char *out,
                                                 const char *const *extra_reads,
                                                 const char *const *extra_writes,
                                                 fg_reason *r);

/* True once wm_sandbox_confine has confined this process.
 * This function can't fail. */
bool wm_sandbox_confined(void);

#endif
