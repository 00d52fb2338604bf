#!/bin/sh
# PDF and archive previews against their floor and against what a user
# would otherwise run; and peak memory for a long PDF. Prints Markdown
# tables. Inputs are cached in bench/out/.
#
# PDF: a generated text report (A4 pages, every fifth landscape).
#   a  filigrane stamp            render, stamp, JPEG, assemble a PDF
#   b  pdftoppm -r 100 -jpeg      render and encode only: the floor
#   c  ImageMagick convert -density 100 in.pdf out.pdf
# Archive: a stored zip of 100 photo-like 3 MP JPEGs.
#   z  filigrane stamp on the zip (two entries stamped at a time)
#   s  filigrane stamp on each photo, one after the other
cd "$(dirname "$0")/.." || exit 1
FG=${FILIGRANE_BIN:-bin}/filigrane
out=bench/out
mkdir -p "$out"
runs=${BENCH_RUNS:-3}

cc -O2 -o "$out/mkpdf" bench/mkpdf.c $(pkg-config --cflags --libs cairo) ||
    exit 1
[ -s "$out/doc100.pdf" ] || "$out/mkpdf" "$out/doc100.pdf" 100
[ -s "$out/doc500.pdf" ] || "$out/mkpdf" "$out/doc500.pdf" 500

# Debian's ImageMagick policy refuses PDF. MAGICK_CONFIGURE_PATH cannot
# lift that (the system policy is read last, and its "none" wins), so
# convert runs in a private mount namespace where a copy of the policy
# without the PDF and PostScript lines is bound over the system one. No
# system file is changed.
sed '/pattern="\(PDF\|PS\|PS2\|PS3\|EPS\)"/d' /etc/ImageMagick-6/policy.xml \
    >"$out/policy.xml" 2>/dev/null
im="unshare -m sh -c 'mount --bind $out/policy.xml \
/etc/ImageMagick-6/policy.xml && convert -density 100 $out/doc100.pdf \
$out/c.pdf'"
im_ok=0
sh -c "$im" >/dev/null 2>&1 && [ -s "$out/c.pdf" ] && im_ok=1

a="$FG stamp $out/doc100.pdf $out/a.pdf"
b="rm -rf $out/ppm && mkdir $out/ppm && pdftoppm -r 100 -jpeg $out/doc100.pdf $out/ppm/p"
hyperfine -w 1 -r "$runs" --export-json "$out/pdf.json" -n a "$a" -n b "$b" \
    >"$out/hyperfine-pdf.log" 2>&1 ||
    { cat "$out/hyperfine-pdf.log"; exit 1; }
if [ $im_ok = 1 ]; then
    hyperfine -r 1 --export-json "$out/pdf-im.json" -n c "$im" \
        >"$out/hyperfine-im.log" 2>&1 || im_ok=0
fi

median() { # json name
    python3 -c "
import json, sys
for r in json.load(open('$1'))['results']:
    if r['command'] == '$2':
        print('%.2f' % r['median'])"
}
ta=$(median "$out/pdf.json" a)
tb=$(median "$out/pdf.json" b)
tc=n/a
[ $im_ok = 1 ] && tc=$(median "$out/pdf-im.json" c)

rss() { # command: peak RSS in MB (the sandboxed child included)
    /usr/bin/time -f '%M' -o "$out/rss" sh -c "$1" >/dev/null 2>&1
    echo $(($(tail -1 "$out/rss") / 1024))
}
r100=$(rss "$FG stamp --max-pages 500 $out/doc100.pdf $out/r100.pdf")
r500=$(rss "$FG stamp --max-pages 500 $out/doc500.pdf $out/r500.pdf")
t500=$( { /usr/bin/time -f '%e' sh -c \
    "$FG stamp --max-pages 500 $out/doc500.pdf $out/r500.pdf" ; } 2>&1 | tail -1)

pages() { python3 -c "print('%.0f' % (100 / $1))"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
echo "### PDF previews (100-page report, 100 dpi)"
echo
echo "| | time | pages/s | vs filigrane |"
echo "|---|---|---|---|"
echo "| filigrane stamp (render, stamp, JPEG, PDF) | ${ta} s | $(pages "$ta") | 1.00x |"
echo "| pdftoppm -r 100 -jpeg (render, JPEG: the floor) | ${tb} s | $(pages "$tb") | $(ratio "$tb" "$ta")x |"
if [ $im_ok = 1 ]; then
    echo "| ImageMagick convert -density 100 in.pdf out.pdf | ${tc} s | $(pages "$tc") | $(ratio "$tc" "$ta")x |"
else
    echo "| ImageMagick convert -density 100 in.pdf out.pdf | n/a (refused here) | | |"
fi
echo
echo "filigrane takes $(ratio "$ta" "$tb")x the time of pdftoppm (target: within 1.5x)$( [ $im_ok = 1 ] && echo "; ImageMagick takes $(ratio "$tc" "$ta")x the time of filigrane (target: at least 5x)")."
echo "Peak memory: ${r100} MB for 100 pages, ${r500} MB for 500 pages ($(python3 -c "print('%+.0f%%' % (100.0 * $r500 / $r100 - 100))"); target: within 20%); 500 pages in ${t500} s."
echo

# ---- archive ----
if [ ! -s "$out/photos.zip" ]; then
    d=$(mktemp -d)
    vips xyz "$d/xy.v" 4000 3000
    vips extract_band "$d/xy.v" "$d/x.v" 0
    vips extract_band "$d/xy.v" "$d/y.v" 1
    vips linear "$d/x.v" "$d/r.v" 0.045 40
    vips linear "$d/y.v" "$d/g.v" 0.053 50
    vips add "$d/x.v" "$d/y.v" "$d/s.v"
    vips linear "$d/s.v" "$d/b.v" 0.017 70
    vips bandjoin "$d/r.v $d/g.v $d/b.v" "$d/grad.v"
    vips gaussnoise "$d/fine.v" 4000 3000 --sigma 12 --mean 0
    vips add "$d/grad.v" "$d/fine.v" "$d/c.v"
    vips cast "$d/c.v" "$d/base.v" uchar
    mkdir -p "$out/photos"
    i=0
    while [ $i -lt 100 ]; do
        vips crop "$d/base.v" "$out/photos/p$i.jpg[Q=90]" \
            $((i * 19)) $((i * 13)) 2000 1500
        i=$((i + 1))
    done
    rm -rf "$d"
    (cd "$out/photos" && zip -q0 ../photos.zip ./*.jpg)
fi
mkdir -p "$out/one"
z="$FG stamp $out/photos.zip $out/z.zip"
s="for f in $out/photos/*.jpg; do $FG stamp \$f $out/one/\$(basename \$f) || exit 1; done"
hyperfine -w 1 -r "$runs" --export-json "$out/zip.json" -n z "$z" -n s "$s" \
    >"$out/hyperfine-zip.log" 2>&1 ||
    { cat "$out/hyperfine-zip.log"; exit 1; }
tz=$(median "$out/zip.json" z)
ts=$(median "$out/zip.json" s)
cpu=$( { /usr/bin/time -f '%P' sh -c "$z" ; } 2>&1 | tail -1)
echo "### Archive previews (zip of 100 photos, 3 MP each)"
echo
echo "| | time | photos/s |"
echo "|---|---|---|"
echo "| filigrane stamp photos.zip (one sandboxed child, two at a time; CPU ${cpu}) | ${tz} s | $(pages "$tz") |"
echo "| filigrane stamp on each photo, one by one | ${ts} s | $(pages "$ts") |"
echo
echo "The zip takes $(ratio "$tz" "$ts")x the time of stamping its photos one by one."
