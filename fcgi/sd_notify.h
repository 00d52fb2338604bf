/* systemd's readiness protocol (sd_notify(3), "notify" services): one
 * datagram to the unix socket named by $NOTIFY_SOCKET. Written here, not
 * linked from libsystemd: the protocol is a documented, stable datagram
 * and the worker links nothing it does not need. */
#ifndef FCGI_SD_NOTIFY_H
#define FCGI_SD_NOTIFY_H

#include <stdbool.h>

/* Takes $NOTIFY_SOCKET out of the environment (so no stamping child or
 * other program the worker starts inherits it) and keeps it for
 * fcgi_sd_notify. Call once, before any thread starts. Can't fail. */
void fcgi_sd_notify_init(void);

/* Sends state ("READY=1", "STOPPING=1", ...) to systemd. True when it was
 * sent; false when the worker was not started by systemd (nothing to do)
 * or the socket refused it. Thread-safe. Can't fail otherwise. */
bool fcgi_sd_notify(const char *state);

#endif
