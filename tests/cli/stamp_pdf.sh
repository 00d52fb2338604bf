#!/bin/sh
# filigrane stamp on PDFs, as a user runs it: exit codes, messages, and
# the sandbox's timeout seen from the command line.
bin=${FILIGRANE_BIN:-bin}/filigrane
# The test copy with FILIGRANE_TEST_HOOK compiled in (Makefile); the
# release binary above has none.
hooks=${FILIGRANE_HOOKS_CLI:-build/filigrane-hooks}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
check() { # name command...
    name=$1
    shift
    n=$((n + 1))
    if "$@" >"$tmp/log" 2>&1; then
        echo "ok - $name"
    else
        echo "not ok - $name"
        sed 's/^/  # /' "$tmp/log"
    fi
}

# A two-page PDF written by hand (qpdf rebuilds its cross-reference table),
# with a word on each page that must not survive.
cat >"$tmp/raw.pdf" <<'PDF'
%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 7 0 R >> >> >> endobj
4 0 obj << /Length 52 >> stream
BT /F1 24 Tf 72 700 Td (Hello wombatique one) Tj ET
endstream endobj
5 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 400 300] /Contents 6 0 R /Resources << /Font << /F1 7 0 R >> >> >> endobj
6 0 obj << /Length 52 >> stream
BT /F1 24 Tf 40 150 Td (Hello wombatique two) Tj ET
endstream endobj
7 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj
trailer << /Size 8 /Root 1 0 R >>
%%EOF
PDF
qpdf "$tmp/raw.pdf" "$tmp/doc.pdf" 2>/dev/null

check "the hand-made pdf has its words" \
    sh -c "pdftotext '$tmp/doc.pdf' - | grep -q wombatique"
check "stamp makes a pdf preview" \
    "$bin" stamp --var order=ord-42 "$tmp/doc.pdf" "$tmp/preview.pdf"
check "the preview has both pages at their sizes" sh -c "
    pdfinfo -f 1 -l 2 '$tmp/preview.pdf' > '$tmp/info' &&
    grep -q '^Pages: *2$' '$tmp/info' &&
    grep -q 'Page    1 size: *612 x 792 pts' '$tmp/info' &&
    grep -q 'Page    2 size: *400 x 300 pts' '$tmp/info'"
check "the preview has no extractable text" sh -c "
    ! pdftotext '$tmp/preview.pdf' - | grep -qi 'wombatique\|hello'"
check "the preview passes qpdf --check" qpdf --check "$tmp/preview.pdf"
abs=$(cd "$(dirname "$bin")" && pwd)/filigrane
check "relative paths work" sh -c "
    cd '$tmp' && '$abs' stamp doc.pdf relative.pdf && test -s relative.pdf"
check "--pdf-dpi sets the rendering resolution" sh -c "
    '$bin' stamp --pdf-dpi 50 '$tmp/doc.pdf' '$tmp/small.pdf' &&
    pdfimages -list '$tmp/small.pdf' | grep -q ' 425 *550 '"
check "--max-pages 1 previews one page and a note" sh -c "
    '$bin' stamp --max-pages 1 '$tmp/doc.pdf' '$tmp/one.pdf' &&
    pdfinfo '$tmp/one.pdf' | grep -q '^Pages: *2$' &&
    pdftotext -f 2 -l 2 '$tmp/one.pdf' - | grep -q 'Preview limited to 1 of 2 pages'"
check "a pdf preview must be named .pdf (exit 2)" sh -c "
    '$bin' stamp '$tmp/doc.pdf' '$tmp/doc.jpg' 2>'$tmp/err'; test \$? -eq 2 &&
    grep -q 'doc.pdf: the preview of a pdf is a pdf' '$tmp/err' &&
    test ! -e '$tmp/doc.jpg'"
printf 'not a pdf at all\n' >"$tmp/fake.pdf"
check "text named .pdf is unreadable (exit 4)" sh -c "
    '$bin' stamp '$tmp/fake.pdf' '$tmp/fake-preview.pdf' 2>'$tmp/err';
    test \$? -eq 4 && grep -q '^filigrane: fake.pdf: ' '$tmp/err'"
head -c 300 "$tmp/doc.pdf" >"$tmp/cut.pdf"
check "a truncated pdf is unreadable (exit 4)" sh -c "
    '$bin' stamp '$tmp/cut.pdf' '$tmp/cut-preview.pdf' 2>'$tmp/err';
    test \$? -eq 4 && grep -q 'cut.pdf: pdf cannot be read' '$tmp/err' &&
    test ! -e '$tmp/cut-preview.pdf'"
qpdf --encrypt secret owner 256 -- "$tmp/doc.pdf" "$tmp/locked.pdf"
check "a password-protected pdf is withheld (exit 3)" sh -c "
    '$bin' stamp '$tmp/locked.pdf' '$tmp/locked-preview.pdf' 2>'$tmp/err';
    test \$? -eq 3 && grep -q 'locked.pdf: pdf is password-protected' '$tmp/err'"
check "a hung decoder is killed at FILIGRANE_STAMP_TIMEOUT" sh -c "
    start=\$(date +%s)
    FILIGRANE_STAMP_TIMEOUT=1 FILIGRANE_TEST_HOOK=hang \
        '$hooks' stamp '$tmp/doc.pdf' '$tmp/hung.pdf' 2>'$tmp/err'
    rc=\$?; end=\$(date +%s)
    test \$rc -eq 1 && test \$((end - start)) -le 3 &&
    grep -q 'doc.pdf: preview timed out after 1 s' '$tmp/err' &&
    test ! -e '$tmp/hung.pdf'"
check "a crashing decoder is reported, not fatal to the caller" sh -c "
    FILIGRANE_TEST_HOOK=crash '$hooks' stamp '$tmp/doc.pdf' '$tmp/crash.pdf' 2>'$tmp/err'
    test \$? -eq 1 && grep -q 'decoder crashed (signal 11' '$tmp/err'"
check "the release binary has no test hooks: FILIGRANE_TEST_HOOK=crash is ignored" sh -c "
    FILIGRANE_TEST_HOOK=crash '$bin' stamp '$tmp/doc.pdf' '$tmp/nocrash.pdf' 2>'$tmp/err' &&
    test -s '$tmp/nocrash.pdf' && ! grep -q FILIGRANE_TEST_HOOK '$bin' &&
    grep -q FILIGRANE_TEST_HOOK '$hooks'"
check "a malformed sandbox setting is a usage error (exit 2)" sh -c "
    FILIGRANE_STAMP_TIMEOUT=soon '$bin' stamp '$tmp/doc.pdf' '$tmp/x.pdf' 2>'$tmp/err'
    test \$? -eq 2 && grep -q 'FILIGRANE_STAMP_TIMEOUT' '$tmp/err'"
