/* Office documents (docx, xlsx, pptx, odt, ods, odp, rtf, doc, xls, ppt):
 * converted to PDF by LibreOffice, then previewed as an excerpt of that
 * PDF (watermark/pdf.h).
 *
 * The conversion runs in the sandboxed stamper before it installs its own
 * seccomp filter (which kills execve): one LibreOffice per document, in a
 * child process with the converter's profile (wm_sandbox_enter_converter:
 * no sockets of any family, no ptrace, no namespaces), the stamper's
 * Landlock rules and rlimits (inherited), a private LibreOffice profile,
 * HOME and TMPDIR in a directory of its own beside the preview, a
 * scrubbed environment, and macros switched off in that profile. The
 * stamper's wall-clock limit covers it: LibreOffice stays in the
 * stamper's process group, which the runner kills at the deadline. */
#ifndef WM_OFFICE_H
#define WM_OFFICE_H

#include <stddef.h>

#include "watermark/wm.h"

/* The LibreOffice program the converter runs (FILIGRANE_SOFFICE):
 * soffice.bin itself, not the soffice script, whose oosplash insists on
 * a writable /tmp for its pipe (see office.c). */
#define WM_SOFFICE_DEFAULT "/usr/lib/libreoffice/program/soffice.bin"

/* What LibreOffice reads beyond the stamper's system files (its
 * configuration under /etc/libreoffice), for wm_sandbox_confine_reads.
 * NULL-terminated. */
extern const char *const wm_office_reads[];

/* Converts the office document at in (of type t) to a PDF in a new
 * directory beside out, and writes that PDF's path to pdf (cap bytes).
 * A zip-based document (OOXML, ODF) is first checked by the archive guard
 * (watermark/archive_guard.h: entries, total unpacked size, ratio): a zip
 * bomb is FG_ELIMIT before LibreOffice sees it. Returns FG_ECORRUPT when
 * LibreOffice cannot read it (no PDF), FG_EIO when it cannot be started
 * (no user namespaces on this host), with a reason. Must be called before
 * wm_sandbox_confine, wm_init and wm_sandbox_enter (the process has no
 * threads yet; execve and namespaces are still allowed): the converter
 * child confines itself. The caller removes the directory with
 * wm_office_cleanup. */
FG_MUST_CHECK fg_result wm_office_convert(const char *in, const wm_type *t, const char *out,
                                          char *pdf /* out */, size_t cap, fg_reason *r);

/* Removes what wm_office_convert left beside the preview (its directory,
 * named from pdf). pdf may be "". This function can't fail. */
void wm_office_cleanup(const char *pdf);

/* Writes the preview of a converted office document: the excerpt of its
 * PDF at pdf (wm_pdf_excerpt_file), seeded as wm_stamp_file seeds.
 * Sandbox only. */
FG_MUST_CHECK fg_result wm_stamp_office_pdf(const char *pdf, const char *out,
                                            const wm_options *o, fg_reason *r);

#endif
