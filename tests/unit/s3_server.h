/* One s3rver for a test program (tests/unit/test_s3.c, test_blob_s3.c):
 * started by scripts/s3-server.sh on a free loopback port before the
 * tests, stopped after. Header-only, for tests only; include after
 * tests/unit/tap.h (with main renamed: the program's main calls
 * s3_server_main) and tests/unit/store_tmp.h.
 *
 * Without node the program is one TAP skip, except on CI (CI set), where
 * a missing server is a failure: the checks must not vanish quietly. */
#ifndef S3_SERVER_H
#define S3_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* The server's directory (its log is s3rver.log there, its objects under
 * data/), port, and path-style endpoint. */
static char server_dir[256];
static int server_port;
static char endpoint[64];

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts the server, runs the tests, stops it: the program's exit status. */
static int s3_server_main(void)
{
    if (system("command -v node >/dev/null 2>&1") != 0) {
        if (getenv("CI") && *getenv("CI")) {
            printf("not ok - the s3rver tests need node, and CI must run them\n");
            return 1;
        }
        printf("ok - S3 tests against s3rver # SKIP node is not installed (make deps)\n");
        return 0;
    }
    if (tmp_dir_make(server_dir) != 0 || (server_port = free_port()) < 0) {
        printf("not ok - cannot make a directory and port for s3rver\n");
        return 1;
    }
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", server_port);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "scripts/s3-server.sh start %s %d >/dev/null", server_dir,
             server_port);
    if (system(cmd) != 0) {
        printf("not ok - scripts/s3-server.sh start failed\n");
        return 1;
    }
    int rc = tap_run();
    snprintf(cmd, sizeof cmd, "scripts/s3-server.sh stop %s", server_dir);
    if (system(cmd) != 0)
        printf("not ok - scripts/s3-server.sh stop failed\n");
    tmp_dir_remove(server_dir);
    return rc;
}

#endif
