#!/bin/sh
# Image stamping against its floor (libvips decode + encode) and against
# ImageMagick, on a generated photo-like 14.7 MP JPEG; and peak memory on
# a 100 MP one. Prints a Markdown table. Inputs are cached in bench/out/.
cd "$(dirname "$0")/.." || exit 1
FG=${FILIGRANE_BIN:-bin}/filigrane
out=bench/out
mkdir -p "$out"
runs=${BENCH_RUNS:-5}
q=85

# A photo-like JPEG: smooth colour gradients, soft blobs and fine grain,
# so it compresses like a photo (about 2 bits per pixel), not a flat field.
photo() { # file width height
    [ -s "$1" ] && return 0
    d=$(mktemp -d)
    vips xyz "$d/xy.v" "$2" "$3"
    vips extract_band "$d/xy.v" "$d/x.v" 0
    vips extract_band "$d/xy.v" "$d/y.v" 1
    vips linear "$d/x.v" "$d/r.v" "$(python3 -c "print(180 / $2)")" 40
    vips linear "$d/y.v" "$d/g.v" "$(python3 -c "print(160 / $3)")" 50
    vips add "$d/x.v" "$d/y.v" "$d/s.v"
    vips linear "$d/s.v" "$d/b.v" "$(python3 -c "print(120 / ($2 + $3))")" 70
    vips bandjoin "$d/r.v $d/g.v $d/b.v" "$d/grad.v"
    vips gaussnoise "$d/n.v" $(($2 / 32)) $(($3 / 32)) --sigma 40 --mean 0
    vips bandjoin "$d/n.v $d/n.v $d/n.v" "$d/n3.v"
    vips resize "$d/n3.v" "$d/blob.v" 32 --kernel linear
    vips gaussnoise "$d/fine.v" "$2" "$3" --sigma 6 --mean 0
    vips add "$d/grad.v" "$d/blob.v" "$d/a.v"
    vips add "$d/a.v" "$d/fine.v" "$d/c.v"
    vips cast "$d/c.v" "$d/u.v" uchar
    vips copy "$d/u.v" "$1[Q=90]"
    rm -rf "$d"
}

photo "$out/photo14.jpg" 4600 3200
photo "$out/photo100.jpg" 12000 8300
w=$(vipsheader -f width "$out/photo14.jpg")
h=$(vipsheader -f height "$out/photo14.jpg")

# ImageMagick's way: a tile of rotated text with a dark stroke, tiled
# over the image and composited.
im_mark="convert -size 700x400 xc:none -font DejaVu-Sans-Bold -pointsize 60 \
-fill 'rgba(255,255,255,0.3)' -stroke 'rgba(24,24,24,0.3)' -strokewidth 3 \
-gravity center -annotate 330x330+0+0 'PREVIEW · ord-1234' $out/im_tile.png && \
convert $out/photo14.jpg \\( -size ${w}x${h} tile:$out/im_tile.png \\) \
-composite -quality $q $out/c.jpg"

a="$FG stamp --max-edge 0 --quality $q --var order=ord-1234 $out/photo14.jpg $out/a.jpg"
b="vips copy $out/photo14.jpg $out/b.jpg[Q=$q,strip]"
c="$im_mark"
d="$FG stamp --quality $q --var order=ord-1234 $out/photo14.jpg $out/d.jpg"
e="$FG stamp --max-edge 0 --quality $q $out/photo100.jpg $out/e.jpg"
# As (a), with the placement keyed as the worker keys it: the CLI hashes
# the input first (the worker has the hash already and does not).
f="env FILIGRANE_MARK_KEY=$(printf '%064d' 0) $FG stamp --max-edge 0 --quality $q --var order=ord-1234 --var buyer=b-9 $out/photo14.jpg $out/f.jpg"

hyperfine -w 1 -r "$runs" --export-json "$out/images.json" \
    -n a "$a" -n b "$b" -n c "$c" -n d "$d" -n f "$f" >"$out/hyperfine.log" 2>&1 ||
    { cat "$out/hyperfine.log"; exit 1; }

rss() { # command: peak RSS in MB
    /usr/bin/time -f '%M' -o "$out/rss" sh -c "$1" >/dev/null 2>&1
    tail -n 1 "$out/rss" | awk '{printf "%.0f", $1 / 1024}'
}
rss_a=$(rss "$a"); rss_b=$(rss "$b"); rss_c=$(rss "$c"); rss_d=$(rss "$d")
/usr/bin/time -f '%e %M' -o "$out/rss100" sh -c "$e" >/dev/null 2>&1
t100=$(tail -n 1 "$out/rss100" | cut -d' ' -f1)
rss100=$(tail -n 1 "$out/rss100" | awk '{printf "%.0f", $2 / 1024}')

python3 - "$out/images.json" "$rss_a" "$rss_b" "$rss_c" "$rss_d" \
    "$t100" "$rss100" "$w" "$h" "$runs" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: res[k]["median"] for k in "abcdf"}
rss = dict(zip("abcd", sys.argv[2:6]))
t100, rss100, w, h, runs = sys.argv[6:11]
mp = int(w) * int(h) / 1e6
names = {
    "a": "(a) `filigrane stamp --max-edge 0`",
    "b": "(b) `vips copy` to JPEG, same quality (floor)",
    "c": "(c) ImageMagick tiled text, composited",
    "d": "(d) `filigrane stamp` (2048 px preview)",
}
print(f"### Images: {w}x{h} photo-like JPEG ({mp:.1f} MP), median of {runs} runs\n")
cpu = {k: res[k]["user"] + res[k]["system"] for k in "abcdf"}
print("| command | median wall | vs (b) | CPU time (mean) | vs (b) | peak RSS |")
print("|---|---:|---:|---:|---:|---:|")
for k in "abcd":
    print(f"| {names[k]} | {med[k]*1000:.0f} ms | {med[k]/med['b']:.2f}x "
          f"| {cpu[k]*1000:.0f} ms | {cpu[k]/cpu['b']:.2f}x | {rss[k]} MB |")
print(f"| (f) as (a), placement keyed by `FILIGRANE_MARK_KEY` (hashes the input) "
      f"| {med['f']*1000:.0f} ms | {med['f']/med['b']:.2f}x "
      f"| {cpu['f']*1000:.0f} ms | {cpu['f']/cpu['b']:.2f}x | |")
print(f"| (e) `filigrane stamp --max-edge 0`, 12000x8300 (99.6 MP) "
      f"| {float(t100)*1000:.0f} ms (1 run) | | | | {rss100} MB |")
ab, ca = med["a"] / med["b"], med["c"] / med["a"]
print()
print(f"- (a) / (b) = {ab:.2f}x wall, {cpu['a']/cpu['b']:.2f}x CPU (target <= 1.25x): {'met' if ab <= 1.25 else 'MISSED'}")
print(f"- (c) / (a) = {ca:.2f}x (target >= 3x): {'met' if ca >= 3 else 'MISSED'}")
print(f"- 100 MP peak RSS {rss100} MB (target < 200 MB): {'met' if int(rss100) < 200 else 'MISSED'}")
PY
