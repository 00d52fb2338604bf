#!/bin/sh
# The worker links what the README says it links (README, "Layout": the
# paragraph under the table; Makefile, LIBS_WORKER), and no decoder.
. "$(dirname "$0")/lib.inc"
worker=$(dirname "$FG")/filigrane-fcgi
readelf -d "$worker" | sed -n 's/.*Shared library: \[\(lib[^.]*\)\..*/\1/p' | sort -u >"$T/needed"
[ -s "$T/needed" ]
ok $? "the worker's dynamic libraries can be read"
! grep -Eq '^lib(vips|poppler|cairo|glib|gobject|pango|gio)' "$T/needed"
ok $? "the worker links no decoder (no libvips, poppler, cairo, glib)"
# Everything it needs is in the README's list (libssl and libseccomp may be
# dropped by the linker: nothing of them is used), plus the sanitizers'
# runtimes in the sanitizer build.
extra=$(grep -Ev '^lib(fcgi|jwt|jansson|curl|magic|sqlite3|pq|crypto|ssl|archive|seccomp|c|m|pthread)$' \
    "$T/needed" | grep -Ev '^lib(asan|ubsan|stdc\+\+|gcc_s)$')
[ -z "$extra" ]
ok $? "every library the worker links is one the README names${extra:+ (not: $extra)}"
grep -q 'libarchive (only to write' "$(dirname "$0")/../../README.md"
ok $? "the README says why the worker links libarchive"
finish
