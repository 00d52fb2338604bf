#!/bin/sh
# Office and text previews against their floor, LibreOffice's start cost,
# peak memory for a 300-page document, and text layout speed. Prints
# Markdown tables (medians of BENCH_RUNS, default 3). Inputs are made by
# LibreOffice and cached in bench/out/.
#
# Office: a 20-page docx (from text).
#   a  filigrane stamp                         the preview (3-page excerpt)
#   b  soffice --convert-to pdf, then filigrane stamp --max-pages 3 of
#      that PDF: the same work done by hand, without the sandbox's
#      namespaces, rules and zip check (the floor)
# Start cost: soffice --convert-to pdf of a one-line docx with a fresh
# profile (what every preview pays: one LibreOffice per document) and with
# a profile made before (what a shared converter would pay).
cd "$(dirname "$0")/.." || exit 1
FG=${FILIGRANE_BIN:-bin}/filigrane
out=bench/out/documents
mkdir -p "$out"
runs=${BENCH_RUNS:-3}
files="python3 tests/e2e/office_files.py"

[ -s "$out/report.docx" ] || $files docx "$out" >/dev/null   # 600 lines
if [ ! -s "$out/big/report.docx" ]; then                       # about 300 pages
    mkdir -p "$out/big"
    python3 -c "
import sys; sys.path.insert(0, 'tests/e2e'); import office_files as o
print(o.docx('$out/big', 18600))" >/dev/null
fi
if [ ! -s "$out/tiny/report.docx" ]; then
    mkdir -p "$out/tiny"
    python3 -c "
import sys; sys.path.insert(0, 'tests/e2e'); import office_files as o
print(o.docx('$out/tiny', 1))" >/dev/null
fi
[ -s "$out/long.txt" ] || python3 -c "
import sys; sys.path.insert(0, 'tests/e2e'); import office_files as o
o.long_text('$out', 60000)" >/dev/null

sobin=/usr/lib/libreoffice/program/soffice.bin
fresh() { # docx outdir: a conversion with a profile made for it
    echo "rm -rf $out/prof && $sobin --headless --norestore -env:UserInstallation=file://$PWD/$out/prof --convert-to pdf --outdir $2 $1 >/dev/null 2>&1; $sobin --headless --norestore -env:UserInstallation=file://$PWD/$out/prof --convert-to pdf --outdir $2 $1 >/dev/null 2>&1"
}
a="$FG stamp $out/report.docx $out/a.pdf"
b="$(fresh "$out/report.docx" "$out/b") && $FG stamp --max-pages 3 $out/b/report.pdf $out/b.pdf"
hyperfine -w 1 -r "$runs" --export-json "$out/office.json" -n a "$a" -n b "$b" \
    >"$out/hyperfine-office.log" 2>&1 || { cat "$out/hyperfine-office.log"; exit 1; }
# The start cost: a fresh profile each time, then a warm one.
mkdir -p "$out/t"
$sobin --headless --norestore -env:UserInstallation=file://$PWD/$out/warm --convert-to pdf \
    --outdir "$out/t" "$out/tiny/report.docx" >/dev/null 2>&1
$sobin --headless --norestore -env:UserInstallation=file://$PWD/$out/warm --convert-to pdf \
    --outdir "$out/t" "$out/tiny/report.docx" >/dev/null 2>&1
c="$(fresh "$out/tiny/report.docx" "$out/t")"
d="$sobin --headless --norestore -env:UserInstallation=file://$PWD/$out/warm --convert-to pdf --outdir $out/t $out/tiny/report.docx >/dev/null 2>&1"
e="$FG stamp $out/tiny/report.docx $out/e.pdf"
t1="$FG stamp $out/long.txt $out/t1.pdf"
t2="$FG stamp --max-pages 100 $out/long.txt $out/t2.pdf"
hyperfine -r "$runs" --export-json "$out/start.json" -n c "$c" -n d "$d" -n e "$e" \
    -n t1 "$t1" -n t2 "$t2" >"$out/hyperfine-start.log" 2>&1 ||
    { cat "$out/hyperfine-start.log"; exit 1; }

median() { # json name
    python3 -c "
import json
for r in json.load(open('$1'))['results']:
    if r['command'] == '$2':
        print('%.2f' % r['median'])"
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
ta=$(median "$out/office.json" a)
tb=$(median "$out/office.json" b)
tc=$(median "$out/start.json" c)
td=$(median "$out/start.json" d)
te=$(median "$out/start.json" e)
t1s=$(median "$out/start.json" t1)
t2s=$(median "$out/start.json" t2)

# Peak memory of a 300-page document's preview: the largest process of the
# tree (LibreOffice converting all 300 pages), and its time.
/usr/bin/time -f '%M %e' -o "$out/rss" "$FG" stamp "$out/big/report.docx" "$out/big.pdf" \
    >/dev/null 2>&1
big_rss=$(($(cut -d' ' -f1 "$out/rss") / 1024))
big_t=$(cut -d' ' -f2 "$out/rss")
big_pages=$(pdftotext -f 4 -l 4 "$out/big.pdf" - 2>/dev/null | sed -n 's/.* of \([0-9]*\) pages.*/\1/p')
/usr/bin/time -f '%M' -o "$out/rss" "$FG" stamp --max-pages 100 "$out/long.txt" "$out/t2.pdf" \
    >/dev/null 2>&1
txt_rss=$(($(cat "$out/rss") / 1024))
txt_pages=$(pdftotext -f 101 -l 101 "$out/t2.pdf" - 2>/dev/null | sed -n 's/.* of \([0-9]*\) pages.*/\1/p')

echo "### Office and text previews (\`bench/documents.sh\`; medians of $runs)"
echo
echo "| | time | vs filigrane |"
echo "|---|---|---|"
echo "| filigrane stamp, 20-page docx (LibreOffice in the sandbox, 3-page excerpt) | ${ta} s | 1.00x |"
echo "| soffice --convert-to pdf + filigrane stamp --max-pages 3 of that PDF (the floor) | ${tb} s | $(ratio "$tb" "$ta")x |"
echo "| soffice --convert-to pdf, one-line docx, fresh profile (LibreOffice's start, paid per document) | ${tc} s | |"
echo "| the same with a profile made before (what a shared converter would pay) | ${td} s | |"
echo "| filigrane stamp, one-line docx | ${te} s | |"
echo
echo "| 300-page docx (${big_pages:-?} pages), 3-page excerpt | time | peak RSS (largest process) |"
echo "|---|---|---|"
echo "| filigrane stamp | ${big_t} s | ${big_rss} MB |"
echo
echo "| text, 60,000 lines (${txt_pages:-?} pages) | time | pages laid out and rendered/s |"
echo "|---|---|---|"
echo "| filigrane stamp (3-page excerpt; the rest counted) | ${t1s} s | |"
echo "| filigrane stamp --max-pages 100 (peak RSS ${txt_rss} MB) | ${t2s} s | $(python3 -c "print('%.0f' % (100 / $t2s))") |"
