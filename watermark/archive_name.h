/* Entry names from untrusted archives, made safe to show and to store.
 *
 * Pure C: no libarchive, no libvips, so the rules are unit-tested alone.
 * A name is never used to write to the disk; these only make it valid
 * UTF-8 for the manifest and a harmless relative path inside the preview
 * zip. */
#ifndef WM_ARCHIVE_NAME_H
#define WM_ARCHIVE_NAME_H

#include <stddef.h>

/* The name as valid, printable UTF-8: every byte that is not part of a
 * well-formed UTF-8 sequence, every control character (tab and newline
 * included), every byte of a bidi control (fg_utf8_is_bidi_control: U+202E
 * becomes \xe2\x80\xae) and the backslash are written as \xNN, so the manifest's
 * tab-separated lines cannot be forged by a name. At most max bytes of
 * raw are read. Returns a heap string the caller frees, or NULL when out
 * of memory. raw NULL is treated as "". */
char *wm_archive_name_escape(const char *raw, size_t max);

/* The path an entry's preview gets inside the preview zip, from its
 * escaped name: relative, with "", "." and ".." components, leading
 * slashes and a drive letter dropped, and the characters Windows gives a
 * meaning (\\ : * ? " < > |) made '_', so that no extractor puts it
 * outside the folder it extracts to. An entry with nothing left is
 * called "entry-<index>". Returns a heap string the caller frees, or NULL
 * when out of memory. */
char *wm_archive_name_safe(const char *escaped, long index);

#endif
