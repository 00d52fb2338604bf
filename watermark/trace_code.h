/* The traceable mark's code: its keyed pattern, its payload and the
 * report a sandboxed decoder hands back.
 *
 * Pure C and OpenSSL, no decoder: safe to link into the worker, which
 * computes payloads and reads reports but never decodes a suspect file
 * (watermark/trace.h does that, in the sandboxed child).
 *
 * The pattern is a tile of WM_TRACE_CELLS x WM_TRACE_CELLS cells of
 * WM_TRACE_CELL pixels (at the preview's own scale), repeated over the
 * whole preview from its top-left corner, so that any crop of at least a
 * tile holds whole copies. WM_TRACE_SYNC cells carry a known chip (the
 * synchronisation the decoder searches for over scale and offset); every
 * other cell carries one chip of one payload bit. Which cell is which,
 * and each cell's sign, come from a keyed ChaCha20 stream. */
#ifndef WM_TRACE_CODE_H
#define WM_TRACE_CODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/result.h"

#define WM_TRACE_CELL 4
#define WM_TRACE_CELLS 32
#define WM_TRACE_TILE (WM_TRACE_CELL * WM_TRACE_CELLS)
#define WM_TRACE_NCELLS (WM_TRACE_CELLS * WM_TRACE_CELLS)
#define WM_TRACE_BITS 64
#define WM_TRACE_SYNC 256
#define WM_TRACE_KEY_BYTES 32

/* The sync peak, in standard deviations of the correlation surface, at
 * and above which a decoder reports a candidate. Unmarked images stay
 * below it (bench/trace.sh measures how often they do not); a candidate
 * still names nobody unless its payload is in the store. */
#define WM_TRACE_Z_MIN 7.0

/* How many of a candidate's least reliable bits a lookup may flip
 * (2^WM_TRACE_WEAK payloads tried per candidate): soft-decision decoding
 * of the repetition code, checked against the store. */
#define WM_TRACE_WEAK 8
#define WM_TRACE_MAX_CANDIDATES 4

/* Where the pattern key travels to the stamping child: its environment,
 * which only the service user can read, never its command line. */
#define WM_TRACE_PATTERN_ENV "FILIGRANE_TRACE_PATTERN"

typedef struct wm_trace_pattern {
    signed char pn[WM_TRACE_NCELLS]; /* each cell's sign, +1 or -1 */
    short role[WM_TRACE_NCELLS];     /* -1: sync; else the payload bit */
} wm_trace_pattern;

/* The pattern for key. Returns FG_EIO if OpenSSL fails; p is filled on
 * FG_OK only. */
FG_MUST_CHECK fg_result wm_trace_pattern_init(wm_trace_pattern *p /* out */,
                                              const unsigned char key[WM_TRACE_KEY_BYTES],
                                              fg_reason *r);

/* The chip of cell (cx, cy) of the tile for payload: +1 or -1. Can't
 * fail. */
int wm_trace_chip(const wm_trace_pattern *p, uint64_t payload, int cx, int cy);

/* The pattern key: HMAC-SHA256(mark_key, "filigrane-trace-pattern-v1").
 * The stamping child gets this, never the mark key: a decoder exploit
 * there learns how to find (and so to weaken) the trace, not how to
 * place the visible mark or forge a payload. FG_EIO if OpenSSL fails. */
FG_MUST_CHECK fg_result wm_trace_pattern_key(const void *mark_key, size_t len,
                                             unsigned char out[WM_TRACE_KEY_BYTES] /* out */,
                                             fg_reason *r);

/* The payload of one preview: the first 64 bits of HMAC-SHA256(mark_key,
 * "filigrane-trace-v1\n" N(order) N(buyer) N(file)), N the netstring
 * "<len>:<s>,". Opaque: it names nobody without the store's table, and
 * nobody without the key can make one that does. FG_EIO if OpenSSL
 * fails. */
FG_MUST_CHECK fg_result wm_trace_payload(const void *mark_key, size_t len, const char *order,
                                         const char *buyer, const char *file,
                                         uint64_t *out /* out */, fg_reason *r);

/* ---- the decoder's report ---- */

typedef struct wm_trace_candidate {
    double z;                           /* sync peak, standard deviations */
    double scale;                       /* suspect size / preview size */
    uint64_t bits;                      /* hard decision of each bit */
    unsigned char weak[WM_TRACE_WEAK];  /* least reliable bits, weakest first */
} wm_trace_candidate;

typedef struct wm_trace_report {
    int n; /* candidates, strongest first */
    wm_trace_candidate c[WM_TRACE_MAX_CANDIDATES];
} wm_trace_report;

/* Writes the report as text ("filigrane-trace-v1" then one line per
 * candidate) into buf; returns its length, or 0 if it does not fit. */
size_t wm_trace_report_format(const wm_trace_report *rep, char *buf, size_t cap);

/* Parses a report written by a sandboxed child, which is untrusted: any
 * line out of shape, a number out of range or too many candidates is
 * FG_ECORRUPT. rep is filled on FG_OK only. */
FG_MUST_CHECK fg_result wm_trace_report_parse(const char *buf, size_t len,
                                              wm_trace_report *rep /* out */, fg_reason *r);

/* The i-th payload to try for c (0 <= i < 2^WM_TRACE_WEAK): c->bits with
 * the weak bits of i's mask flipped, in order of how many are flipped
 * (0 first, then each single one, then pairs, ...). *flipped gets that
 * count. Can't fail. */
uint64_t wm_trace_try(const wm_trace_candidate *c, int i, int *flipped /* out */);

#endif
