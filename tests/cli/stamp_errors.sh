#!/bin/sh
# filigrane stamp and detect on bad input: exit code, one-line message
# naming the file, nothing left at the output.
. "$(dirname "$0")/lib.inc"

gradient "$T/grad.png" 600 400
vips copy "$T/grad.png" "$T/photo.jpg[Q=90]"
mkdir "$T/dir"

# expect STATUS FILE-NAME SUBSTRING -- stamp arguments...
# The command fails with STATUS, says "filigrane: FILE-NAME: ..." with
# SUBSTRING on one line of stderr, and leaves no output file behind.
expect() {
    want=$1 name=$2 says=$3
    shift 4
    rm -f "$T/dir/out.jpg"
    "$FG" stamp "$@" "$T/dir/out.jpg" 2>"$T/err"
    got=$?
    [ "$got" -eq "$want" ] || { echo "# exit $got, want $want" >&2; return 1; }
    [ "$(wc -l <"$T/err")" -eq 1 ] || { cat "$T/err" >&2; return 1; }
    grep -q "^filigrane: $name: .*$says" "$T/err" || { cat "$T/err" >&2; return 1; }
    ! grep -q "$T" "$T/err" || { echo "# message leaks the path" >&2; return 1; }
    [ -z "$(ls -A "$T/dir")" ] || { ls -A "$T/dir" >&2; return 1; }
}

head -c $(($(wc -c <"$T/photo.jpg") / 2)) "$T/photo.jpg" >"$T/trunc.jpg"
expect 4 trunc.jpg "truncated or damaged" -- "$T/trunc.jpg"
ok $? "a truncated JPEG is refused as unreadable (4) and leaves no file"

: >"$T/empty.jpg"
expect 4 empty.jpg "empty" -- "$T/empty.jpg"
ok $? "a zero-byte file is refused as unreadable (4)"

echo "these are not pixels" >"$T/text.jpg"
expect 4 text.jpg "text/plain" -- "$T/text.jpg"
ok $? "a text file named .jpg is refused as unreadable (4)"

cp /bin/true "$T/tool"
expect 3 tool "is withheld" -- "$T/tool"
ok $? "a program (no previewable type) is withheld as unsupported (3)"

python3 -c "import os; open('$T/blob.bin','wb').write(bytes(range(256))*40)"
expect 3 blob.bin "withheld" -- "$T/blob.bin"
ok $? "unknown binary data is withheld as unsupported (3)"

printf '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40"/></svg>\n' >"$T/logo.svg"
"$FG" stamp "$T/logo.svg" "$T/logo.png" 2>"$T/err" && [ -s "$T/logo.png" ]
ok $? "an SVG is previewed: its untrusted loader runs in the sandbox child"

expect 4 missing.jpg "no such file" -- "$T/missing.jpg"
ok $? "a missing input is refused as unreadable (4)"

# A decompression bomb: 30000 x 30000 grey PNG of a few megabytes.
python3 - "$T/bomb.png" <<'PY'
import struct, sys, zlib
w = h = 30000
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
z = zlib.compressobj(1)
block = b"\0" * (w + 1) * 100
data = b"".join(z.compress(block) for _ in range(h // 100)) + z.flush()
with open(sys.argv[1], "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))
PY
expect 5 bomb.png "900000000 pixels, over the limit of 100000000" -- "$T/bomb.png"
ok $? "a 30000x30000 PNG bomb is refused over the pixel limit (5)"

/usr/bin/time -f '%e %M' -o "$T/time" "$FG" stamp "$T/bomb.png" "$T/dir/out.jpg" 2>/dev/null
read -r secs kb <<EOT
$(tail -n 1 "$T/time")
EOT
gt 1.0 "$secs" && [ "$kb" -lt 102400 ]
ok $? "the bomb is refused in under a second and under 100 MB (${secs}s, ${kb} KB)"

expect 5 photo.jpg "over the limit of 1000 (--max-bytes)" -- --max-bytes 1000 "$T/photo.jpg"
ok $? "--max-bytes refuses a larger file (5)"

FILIGRANE_MAX_PIXELS=1000 expect 5 photo.jpg "over the limit of 1000 (--max-pixels)" -- "$T/photo.jpg"
ok $? "FILIGRANE_MAX_PIXELS lowers the pixel limit (5)"

convert -size 40x30 xc:red xc:green xc:blue -loop 0 "$T/anim.gif"
expect 5 anim.gif "3 frames, over the limit of 2 (--max-frames)" -- --max-frames 2 "$T/anim.gif"
ok $? "--max-frames refuses a longer animation (5)"

"$FG" stamp "$T/photo.jpg" "$T/nodir/out.jpg" 2>"$T/err"
[ $? -eq 1 ] && grep -q '^filigrane: photo.jpg: cannot write the preview' "$T/err"
ok $? "an output directory that does not exist is an error (1)"

usage() { # args...: exit 2 with a usage line
    "$FG" "$@" >/dev/null 2>"$T/err"
    [ $? -eq 2 ] && grep -q 'usage' "$T/err"
}
usage; ok $? "no command prints usage and exits 2"
usage frobnicate; ok $? "an unknown command exits 2"
usage stamp "$T/photo.jpg"; ok $? "stamp with one file exits 2"
usage stamp --opacity 7 "$T/photo.jpg" "$T/o.jpg"; ok $? "an opacity out of range exits 2"
usage stamp --max-edge ten "$T/photo.jpg" "$T/o.jpg"; ok $? "a malformed number exits 2"
usage stamp --var novalue "$T/photo.jpg" "$T/o.jpg"; ok $? "a --var without = exits 2"
usage stamp --bogus "$T/photo.jpg" "$T/o.jpg"; ok $? "an unknown option exits 2"
FILIGRANE_MAX_FRAMES=lots usage stamp "$T/photo.jpg" "$T/o.jpg"
ok $? "a malformed FILIGRANE_ override exits 2"
"$FG" help >"$T/out" 2>&1; [ $? -eq 2 ] && grep -q stamp "$T/out" && grep -q detect "$T/out"
ok $? "filigrane help lists the commands and exits 2"

[ "$("$FG" detect "$T/photo.jpg")" = "image/jpeg image" ] &&
    [ "$("$FG" detect "$T/text.jpg")" = "text/plain text" ] &&
    (cd "$T" && zip -q a.zip tool) && [ "$("$FG" detect "$T/a.zip")" = "application/zip archive" ] &&
    cp "$T/grad.png" "$T/disguised.pdf" && [ "$("$FG" detect "$T/disguised.pdf")" = "image/png image" ]
ok $? "detect prints the MIME type and kind from the content, not the name"

finish
