/* The worker's log: one line per event on stderr, logfmt (key=value), so an
 * operator can grep it and a collector can parse it; or, with
 * FILIGRANE_LOG_FORMAT=json, one JSON object per line. Never logs secrets,
 * tokens or server paths. */
#ifndef FCGI_LOG_H
#define FCGI_LOG_H

#include <stdbool.h>

/* Ordered by verbosity: a level shows itself and everything above it. */
typedef enum fcgi_log_level {
    FCGI_LOG_ERROR = 0,
    FCGI_LOG_WARN,
    FCGI_LOG_INFO,
    FCGI_LOG_DEBUG,
} fcgi_log_level;

/* Sets the most verbose level written (FILIGRANE_LOG_LEVEL, parsed by
 * fcgi/config.c). This function can't fail. */
void fcgi_log_set_level(fcgi_log_level level);

/* Sets the line format: false, logfmt (the default); true, one JSON object
 * per line (see fcgi_log). This function can't fail. */
void fcgi_log_set_json(bool json);

/* Writes "ts=<RFC 3339> level=<l> " then the formatted message and a
 * newline, in one write so lines of concurrent threads never interleave.
 * In JSON: {"time":"<RFC 3339>","level":"<l>","msg":"<the words that are
 * not key=value>","request_id":"<the value of req=, when there is
 * one>","fields":{"<key>":"<value>",...}}, every value a string, always a
 * whole object (a long value is cut inside its string). */
void fcgi_log(fcgi_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
