#include "fcgi/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fcgi/config.h"

static fcgi_log_level max_level = FCGI_LOG_INFO;

void fcgi_log_set_level(fcgi_log_level level) { max_level = level; }

void fcgi_log(fcgi_log_level level, const char *fmt, ...)
{
    if (level > max_level)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ level=%s ",
                          ts.tv_nsec / 1000000, fcgi_log_level_name(level));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    /* A line longer than the buffer is cut, never split across writes. */
    n = m < 0 ? n : n + (size_t)m;
    if (n >= sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* Nowhere left to report a failing log. */
    }
}
