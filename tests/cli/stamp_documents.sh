#!/bin/sh
# filigrane stamp on text, source code and office documents, as a user
# runs it: excerpts and their last page, the settings at their edges, and
# the hostile documents (zip bomb, external link, macro, a 100 MB line).
bin=${FILIGRANE_BIN:-bin}/filigrane
here=$(cd "$(dirname "$0")" && pwd)
files="python3 $here/../e2e/office_files.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { # name command...
    name=$1
    shift
    if "$@" >"$tmp/log" 2>&1; then
        echo "ok - $name"
    else
        echo "not ok - $name"
        sed 's/^/  # /' "$tmp/log"
    fi
}
pages() { pdfinfo "$1" 2>/dev/null | sed -n 's/^Pages: *//p'; }
# Nothing of the converter is left beside the preview.
no_leftovers() { ! ls -A "$1" | grep -q '^\.office-\|\.tmp-'; }

w=wombatique
$files text "$tmp" >/dev/null
check "a long text is previewed as 3 pages and a page saying how many are held back" sh -c "
    '$bin' stamp --var order=ord-7 '$tmp/long.txt' '$tmp/long.pdf' &&
    test \"\$(pdfinfo '$tmp/long.pdf' | sed -n 's/^Pages: *//p')\" = 4 &&
    pdftotext -f 4 -l 4 '$tmp/long.pdf' - > '$tmp/note' &&
    grep -q 'Preview limited to 3 of [0-9][0-9]* pages' '$tmp/note' &&
    grep -q 'held back until acceptance' '$tmp/note'"
check "the text preview is image-only: none of the text can be extracted" sh -c "
    ! pdftotext -l 3 '$tmp/long.pdf' - | grep -q '$w\|manuscript' &&
    test \"\$(pdfimages -list '$tmp/long.pdf' | tail -n +3 | wc -l)\" = 3"
check "FILIGRANE_EXCERPT_PAGES=1 shows one page, then the note" sh -c "
    FILIGRANE_EXCERPT_PAGES=1 '$bin' stamp '$tmp/long.txt' '$tmp/one.pdf' &&
    test \"\$(pdfinfo '$tmp/one.pdf' | sed -n 's/^Pages: *//p')\" = 2 &&
    pdftotext '$tmp/one.pdf' - | grep -q 'Preview limited to 1 of'"
check "--max-pages given shows that many pages of an excerpt" sh -c "
    '$bin' stamp --max-pages 5 '$tmp/long.txt' '$tmp/five.pdf' &&
    test \"\$(pdfinfo '$tmp/five.pdf' | sed -n 's/^Pages: *//p')\" = 6"
check "FILIGRANE_EXCERPT_PAGES=0 is refused, naming the variable (exit 2)" sh -c "
    FILIGRANE_EXCERPT_PAGES=0 '$bin' stamp '$tmp/long.txt' '$tmp/x.pdf' 2>'$tmp/err';
    test \$? -eq 2 && grep -q FILIGRANE_EXCERPT_PAGES '$tmp/err' && test ! -e '$tmp/x.pdf'"
check "--excerpt-pages past 100000 is refused (exit 2)" sh -c "
    '$bin' stamp --excerpt-pages 100001 '$tmp/long.txt' '$tmp/x.pdf' 2>'$tmp/err';
    test \$? -eq 2 && grep -q 'excerpt-pages' '$tmp/err'"
check "FILIGRANE_TEXT_MAX_LINE is 256 at least: 255 is refused naming it, 256 works" sh -c "
    FILIGRANE_TEXT_MAX_LINE=255 '$bin' stamp '$tmp/long.txt' '$tmp/x.pdf' 2>'$tmp/err';
    test \$? -eq 2 && grep -q FILIGRANE_TEXT_MAX_LINE '$tmp/err' &&
    FILIGRANE_TEXT_MAX_LINE=256 '$bin' stamp '$tmp/long.txt' '$tmp/x.pdf'"

printf '#include <stdio.h>\n\nint main(void)\n{\n\tputs("%s");\n\treturn 0;\n}\n' "$w" >"$tmp/hello.c"
check "a short source file is one page and no note" sh -c "
    '$bin' stamp '$tmp/hello.c' '$tmp/hello.pdf' &&
    test \"\$(pdfinfo '$tmp/hello.pdf' | sed -n 's/^Pages: *//p')\" = 1 &&
    ! pdftotext '$tmp/hello.pdf' - | grep -q '$w\|Preview limited'"
printf '\327\251\327\234\327\225\327\235 \327\242\327\225\327\234\327\235\n\331\205\330\261\330\255\330\250\330\247 \330\250\330\247\331\204\330\271\330\247\331\204\331\205\n' >"$tmp/rtl.txt"
check "right-to-left text is previewed" sh -c "
    '$bin' stamp '$tmp/rtl.txt' '$tmp/rtl.pdf' && test \"\$(pdfinfo '$tmp/rtl.pdf' | sed -n 's/^Pages: *//p')\" = 1"
head -c 100000000 /dev/zero | tr '\000' 'x' >"$tmp/oneline.txt"
check "a 100 MB text of one line is previewed as an excerpt of thousands of pages" sh -c "
    '$bin' stamp '$tmp/oneline.txt' '$tmp/oneline.pdf' &&
    pdftotext -f 4 -l 4 '$tmp/oneline.pdf' - | grep -q 'Preview limited to 3 of [0-9]\{4,\} pages'"
rm -f "$tmp/oneline.txt"
printf 'just text\n' >"$tmp/fake.jpg"
check "text named .jpg is still called damaged (exit 4)" sh -c "
    '$bin' stamp '$tmp/fake.jpg' '$tmp/fake-preview.pdf' 2>'$tmp/err'; test \$? -eq 4 &&
    grep -q 'not what its name says' '$tmp/err'"
check "a text preview must be named .pdf (exit 2)" sh -c "
    '$bin' stamp '$tmp/hello.c' '$tmp/hello.jpg' 2>'$tmp/err'; test \$? -eq 2 &&
    grep -q 'the preview of a text is a pdf' '$tmp/err' && test ! -e '$tmp/hello.jpg'"

# Office documents, made by LibreOffice in this test.
mkdir "$tmp/in" "$tmp/out"
docx=$($files docx "$tmp/in")
check "a docx is previewed as 3 pages of its conversion and the note, its text not extractable" sh -c "
    '$bin' stamp '$docx' '$tmp/out/docx.pdf' &&
    test \"\$(pdfinfo '$tmp/out/docx.pdf' | sed -n 's/^Pages: *//p')\" = 4 &&
    pdftotext -f 4 -l 4 '$tmp/out/docx.pdf' - | grep -q 'Preview limited to 3 of' &&
    ! pdftotext -l 3 '$tmp/out/docx.pdf' - | grep -q '$w\|manuscript'"
check "nothing of LibreOffice is left beside the preview" no_leftovers "$tmp/out"
xlsx=$($files xlsx "$tmp/in")
check "an xlsx is previewed" sh -c "
    '$bin' stamp '$xlsx' '$tmp/out/xlsx.pdf' && ! pdftotext '$tmp/out/xlsx.pdf' - | grep -q '$w'"
pptx=$($files pptx "$tmp/in")
check "a pptx of 5 slides is previewed as 3 and the note" sh -c "
    '$bin' stamp '$pptx' '$tmp/out/pptx.pdf' &&
    pdftotext -f 4 -l 4 '$tmp/out/pptx.pdf' - | grep -q 'Preview limited to 3 of 5 pages'"
bomb=$($files bomb "$tmp/in")
check "a zip-bomb docx is refused before LibreOffice opens it (exit 5), nothing left" sh -c "
    '$bin' stamp '$bomb' '$tmp/out/bomb.pdf' 2>'$tmp/err'; test \$? -eq 5 &&
    grep -q 'zip bomb' '$tmp/err' && test ! -e '$tmp/out/bomb.pdf'" 
check "nothing is left after the refusal either" no_leftovers "$tmp/out"
check "FILIGRANE_SOFFICE must be an absolute path (exit 2, named)" sh -c "
    FILIGRANE_SOFFICE=soffice.bin '$bin' stamp '$docx' '$tmp/out/x.pdf' 2>'$tmp/err';
    test \$? -eq 2 && grep -q FILIGRANE_SOFFICE '$tmp/err'"
check "a LibreOffice that cannot be started fails with a reason, nothing left" sh -c "
    FILIGRANE_SOFFICE=/nonexistent/soffice.bin '$bin' stamp '$docx' '$tmp/out/x.pdf' 2>'$tmp/err';
    test \$? -ne 0 && grep -q 'cannot start LibreOffice' '$tmp/err' && test ! -e '$tmp/out/x.pdf' &&
    ! ls -A '$tmp/out' | grep -q '^\.office-'"

# An external link: a picture on a local port. LibreOffice fetches it when
# nothing stops it (the control); through filigrane no connection arrives.
cat >"$tmp/listen.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
s.settimeout(1)
hits = 0
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        c, _ = s.accept()
        hits += 1
        c.close()
    except socket.timeout:
        pass
    open(sys.argv[1], "w").write(str(hits))
PY
python3 "$tmp/listen.py" "$tmp/hits" 600 >"$tmp/port" &
lpid=$!
while [ ! -s "$tmp/port" ]; do sleep 0.1; done
port=$(cat "$tmp/port")
mkdir "$tmp/link"
linked=$($files link "$tmp/link" "$port")
echo 0 >"$tmp/hits"
sleep 1.5
base=$(cat "$tmp/hits")
check "the linked document's picture is fetched by a LibreOffice left alone (control)" sh -c "
    soffice -env:UserInstallation=file://$tmp/link/prof --headless --convert-to pdf \
        --outdir '$tmp/link' '$linked' >/dev/null 2>&1; sleep 1.5;
    test \$(cat '$tmp/hits') -gt $base"
sleep 1.5
base=$(cat "$tmp/hits")
check "through filigrane the document is previewed and no connection reaches the port" sh -c "
    '$bin' stamp '$linked' '$tmp/out/linked.pdf' && sleep 1.5 &&
    test \$(cat '$tmp/hits') -eq $base"
kill "$lpid" 2>/dev/null

# A macro bound to the document's load event, writing a file.
mkdir "$tmp/macro"
target="$tmp/macro/PWNED"
macro=$($files macro "$tmp/macro" "$target")
check "the macro document's macro is real: LibreOffice without macro security runs it (control)" \
    $files macro-control "$macro" "$target"
rm -f "$target"
check "through filigrane the macro never runs: the document is previewed, the file never appears" sh -c "
    '$bin' stamp '$macro' '$tmp/out/macro.pdf' && test -s '$tmp/out/macro.pdf' && sleep 1 &&
    test ! -e '$target'"

# A picture linked from the document as a local file: a seller pulling
# another file of the host into his preview. LibreOffice left alone embeds
# it (the control); through filigrane it cannot read it (Landlock).
mkdir "$tmp/local" "$tmp/secret"
local=$($files local-link "$tmp/local" "$tmp/secret/red.png")
check "LibreOffice left alone shows the linked local picture (control)" sh -c "
    soffice -env:UserInstallation=file://$tmp/local/prof --headless --convert-to pdf \
        --outdir '$tmp/local' '$local' >/dev/null 2>&1 && $files has-red '$tmp/local/local.pdf'"
check "through filigrane the linked local file is not read: the preview shows no trace of it" sh -c "
    '$bin' stamp '$local' '$tmp/out/local.pdf' && test -s '$tmp/out/local.pdf' &&
    ! $files has-red '$tmp/out/local.pdf'"
check "an office document over --max-bytes is refused before LibreOffice starts (exit 5)" sh -c "
    '$bin' stamp --max-bytes 1000 '$docx' '$tmp/out/big.pdf' 2>'$tmp/err'; test \$? -eq 5 &&
    grep -q 'max-bytes' '$tmp/err' && test ! -e '$tmp/out/big.pdf' &&
    ! ls -A '$tmp/out' | grep -q '^\.office-'"
