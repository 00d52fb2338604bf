#include "fcgi/sd_notify.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un addr;
static socklen_t addr_len; /* 0: not started by systemd */

void fcgi_sd_notify_init(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    size_t n = s ? strlen(s) : 0;
    /* A path, or '@' for Linux's abstract namespace (a leading NUL). */
    if (n >= 2 && n < sizeof addr.sun_path && (s[0] == '/' || s[0] == '@')) {
        addr.sun_family = AF_UNIX;
        memcpy(addr.sun_path, s, n);
        if (s[0] == '@')
            addr.sun_path[0] = '\0';
        addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                               (s[0] == '@' ? 0 : 1));
    }
    unsetenv("NOTIFY_SOCKET");
}

bool fcgi_sd_notify(const char *state)
{
    if (addr_len == 0 || !state)
        return false;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&addr,
                       addr_len);
    close(fd);
    return n == (ssize_t)strlen(state);
}
