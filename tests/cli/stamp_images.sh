#!/bin/sh
# filigrane stamp on real images: size, format, metadata, alpha, rotation,
# animation, coverage of the mark, seeds, escaping.
. "$(dirname "$0")/lib.inc"

gradient "$T/grad.png" 1200 800
vips copy "$T/grad.png" "$T/grad.jpg[Q=90]"

"$FG" stamp --max-edge 600 "$T/grad.jpg" "$T/small.jpg" &&
    [ "$(vipsheader -f width "$T/small.jpg")x$(vipsheader -f height "$T/small.jpg")" = 600x400 ] &&
    file "$T/small.jpg" | grep -q 'JPEG image data'
ok $? "a JPEG preview with --max-edge 600 is a 600x400 JPEG"

gradient "$T/big.png" 3000 2000
"$FG" stamp "$T/big.png" "$T/big.jpg" &&
    [ "$(vipsheader -f width "$T/big.jpg")" = 2048 ] &&
    [ "$(vipsheader -f height "$T/big.jpg")" = 1365 ]
ok $? "the default preview is 2048 pixels on its longest edge"

"$FG" stamp --max-edge 0 "$T/grad.jpg" "$T/full.jpg" &&
    [ "$(vipsheader -f width "$T/full.jpg")" = 1200 ]
ok $? "--max-edge 0 keeps the original size"

"$FG" stamp "$T/grad.jpg" "$T/out.webp" && file "$T/out.webp" | grep -q 'Web/P' &&
    "$FG" stamp "$T/grad.jpg" "$T/out.png" && file "$T/out.png" | grep -q 'PNG image' &&
    "$FG" stamp "$T/grad.png" "$T/noext" && file "$T/noext" | grep -q 'JPEG image data'
ok $? "the output extension picks the format, JPEG without one"

vips bandjoin_const "$T/grad.png" "$T/rgba.v" 128 && vips copy "$T/rgba.v" "$T/alpha.png"
"$FG" stamp "$T/alpha.png" "$T/alpha_out" &&
    file "$T/alpha_out" | grep -q 'PNG image data.*RGBA' &&
    vips extract_band "$T/alpha_out" "$T/a.v" 3 &&
    [ "$(vips avg "$T/a.v")" = "$(vips extract_band "$T/alpha.png" "$T/a0.v" 3 && vips avg "$T/a0.v")" ] &&
    [ "$(vips max "$T/a.v")" = "$(vips min "$T/a.v")" ]
ok $? "alpha is kept: PNG with its alpha unchanged when there is no extension"

cp "$T/grad.jpg" "$T/tagged.jpg"
exiftool -q -overwrite_original -Artist='Jane Seller' -GPSLatitude=48.85 \
    -GPSLatitudeRef=N -GPSLongitude=2.35 -GPSLongitudeRef=E \
    -XMP:Creator='Jane Seller' -Comment='secret note' -IPTC:Keywords=private \
    "$T/tagged.jpg"
exiftool -G1 -a "$T/tagged.jpg" | grep -q 'GPS Latitude' &&
    "$FG" stamp "$T/tagged.jpg" "$T/clean.jpg" &&
    ! exiftool -G1 -a "$T/clean.jpg" | grep -Eiq '^\[(EXIF|IFD0|ExifIFD|GPS|XMP|XMP-[a-z]+|IPTC|ICC_Profile|Photoshop)\]|Comment|Jane|secret|private'
ok $? "EXIF, GPS, XMP, IPTC and comments are gone from the preview"

vips crop "$T/grad.png" "$T/r.png" 0 0 300 200 && vips copy "$T/r.png" "$T/orient.jpg"
exiftool -q -overwrite_original -Orientation=6 -n "$T/orient.jpg"
"$FG" stamp "$T/orient.jpg" "$T/orient_out.jpg" &&
    [ "$(vipsheader -f width "$T/orient_out.jpg")x$(vipsheader -f height "$T/orient_out.jpg")" = 200x300 ] &&
    [ -z "$(exiftool -s3 -Orientation "$T/orient_out.jpg")" ]
ok $? "EXIF orientation 6 on 300x200 gives an upright 200x300 preview"

# Coverage: against a plain resize of the same input, every cell of a 4x4
# grid differs noticeably (PNG in and out: no compression noise).
"$FG" stamp --max-edge 600 "$T/grad.png" "$T/marked.png" &&
    vips resize "$T/grad.png" "$T/plain.v" 0.5 && vips cast "$T/plain.v" "$T/plain8.v" uchar
covered=0
for y in 0 1 2 3; do
    for x in 0 1 2 3; do
        d=$(cell_diff "$T/marked.png" "$T/plain8.v" $((x * 150)) $((y * 100)) 150 100)
        gt "$d" 2.0 || { covered=1; echo "# cell $x,$y differs by $d" >&2; }
    done
done
ok $covered "the mark shows in every cell of a 4x4 grid against a plain resize"

gradient "$T/por.png" 600 1000
"$FG" stamp --max-edge 0 "$T/por.png" "$T/por_m.png"
covered=0
for y in 0 1 2 3; do
    for x in 0 1 2 3; do
        d=$(cell_diff "$T/por_m.png" "$T/por.png" $((x * 150)) $((y * 250)) 150 250)
        gt "$d" 2.0 || covered=1
    done
done
ok $covered "the mark shows in every cell of a portrait image too"

convert -size 160x120 gradient:red-yellow gradient:green-blue gradient:white-black \
    -loop 0 -set delay 10 "$T/anim.gif"
"$FG" stamp "$T/anim.gif" "$T/anim_out" &&
    file "$T/anim_out" | grep -q 'GIF image data' &&
    [ "$(vipsheader -f n-pages "$T/anim_out")" = 3 ]
ok $? "an animated GIF stays an animated GIF with all its frames"

frames=0
for p in 0 1 2; do
    # GIF frames may load with an alpha band: compare the colour bands.
    vips extract_band "$T/anim.gif[page=$p]" "$T/in$p.v" 0 --n 3 &&
        vips extract_band "$T/anim_out[page=$p]" "$T/out$p.v" 0 --n 3 &&
        d=$(cell_diff "$T/out$p.v" "$T/in$p.v" 0 0 160 120) && gt "$d" 1.0 || frames=1
done
ok $frames "every frame of the animated GIF is stamped"

# Where the mark is: pixels of a preview that differ from the input.
# placement_distance PLAIN A B prints the share of pixels marked in one of
# A and B but not the other, among those marked in either: 0 when the mark
# is in the same place (the noise under it is fresh on every run).
marked() { # plain preview out
    vips relational "$2" "$1" "$T/ne.v" noteq && vips bandbool "$T/ne.v" "$3" or
}
placement_distance() { # plain a b
    marked "$1" "$2" "$T/ma.v" && marked "$1" "$3" "$T/mb.v" &&
        vips boolean "$T/ma.v" "$T/mb.v" "$T/x.v" eor &&
        vips boolean "$T/ma.v" "$T/mb.v" "$T/o.v" or &&
        python3 -c "print($(vips avg "$T/x.v") / max($(vips avg "$T/o.v"), 1e-9))"
}

"$FG" stamp --seed 1 "$T/grad.png" "$T/s1.png" &&
    "$FG" stamp --seed 2 "$T/grad.png" "$T/s2.png" &&
    "$FG" stamp --seed 1 "$T/grad.png" "$T/s1b.png" &&
    ! cmp -s "$T/s1.png" "$T/s1b.png" &&
    d12=$(placement_distance "$T/grad.png" "$T/s1.png" "$T/s2.png") &&
    d11=$(placement_distance "$T/grad.png" "$T/s1.png" "$T/s1b.png") &&
    gt "$d12" 0.5 && gt 0.02 "$d11"
ok $? "two seeds place the mark differently; one seed in the same place, with fresh noise"

"$FG" stamp "$T/grad.png" "$T/r1.png" && "$FG" stamp "$T/grad.png" "$T/r2.png" &&
    d=$(placement_distance "$T/grad.png" "$T/r1.png" "$T/r2.png") && gt "$d" 0.5
ok $? "without --seed or FILIGRANE_MARK_KEY each run places the mark anew (never from the input's hash)"

key=0123456789abcdef0123456789abcdef
FILIGRANE_MARK_KEY=$key "$FG" stamp --var order=ord-1 --var buyer=b-9 "$T/grad.png" "$T/k1.png" &&
    FILIGRANE_MARK_KEY=$key "$FG" stamp --var order=ord-1 --var buyer=b-9 "$T/grad.png" "$T/k1b.png" &&
    FILIGRANE_MARK_KEY=$key "$FG" stamp --var order=ord-2 --var buyer=b-9 "$T/grad.png" "$T/k2.png" &&
    FILIGRANE_MARK_KEY=$key "$FG" stamp --var order=ord-1 --var buyer=b-8 "$T/grad.png" "$T/k3.png" &&
    gt 0.02 "$(placement_distance "$T/grad.png" "$T/k1.png" "$T/k1b.png")" &&
    gt "$(placement_distance "$T/grad.png" "$T/k1.png" "$T/k2.png")" 0.5 &&
    gt "$(placement_distance "$T/grad.png" "$T/k1.png" "$T/k3.png")" 0.5
ok $? "with FILIGRANE_MARK_KEY the placement follows the file, the order and the buyer"

# The documented derivation, computed independently: the first 64 bits of
# HMAC-SHA256(key, "filigrane-mark-v1\n" + netstrings of sha256, order, buyer).
seed=$(python3 - "$T/grad.png" "$key" <<'PY'
import hashlib, hmac, sys
ns = lambda s: b"%d:%s," % (len(s), s)
sha = hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest().encode()
mac = hmac.new(sys.argv[2].encode(), b"filigrane-mark-v1\n" + ns(sha) + ns(b"ord-1") + ns(b"b-9"), hashlib.sha256)
print(int.from_bytes(mac.digest()[:8], "big"))
PY
)
"$FG" stamp --seed "$seed" --var order=ord-1 --var buyer=b-9 "$T/grad.png" "$T/ks.png" &&
    gt 0.02 "$(placement_distance "$T/grad.png" "$T/k1.png" "$T/ks.png")"
ok $? "the keyed placement is HMAC-SHA256 over netstrings of the file's sha256, the order and the buyer"

FILIGRANE_MARK_KEY=0123456789abcdef0123456789abcde "$FG" stamp "$T/grad.png" "$T/short.png" 2>"$T/err"
[ $? -eq 2 ] && grep -q 'FILIGRANE_MARK_KEY is shorter than 32 bytes' "$T/err" &&
    ! grep -q 0123456789abcdef "$T/err" && [ ! -e "$T/short.png" ] &&
    FILIGRANE_MARK_KEY=$key "$FG" stamp "$T/grad.png" "$T/long.png"
ok $? "a FILIGRANE_MARK_KEY of 31 bytes is refused naming the variable (not its value); 32 bytes are accepted"

"$FG" stamp --text 'for {buyer} · {order}' --var 'buyer=Tom & Jerry <Ltd>' \
    --var order=ord-7 "$T/grad.png" "$T/amp.png" 2>"$T/err" &&
    "$FG" stamp --text 'for {buyer}' --var 'buyer=Zoë Łukasiewicz' \
        "$T/grad.png" "$T/pl.png" 2>>"$T/err" &&
    ! grep -qi markup "$T/err" && ! cmp -s "$T/amp.png" "$T/pl.png"
ok $? "buyer names with markup characters and accents render"

convert -size 300x200 gradient:cyan-magenta -colorspace CMYK "$T/cmyk.jpg"
"$FG" stamp "$T/cmyk.jpg" "$T/cmyk_out.jpg" &&
    [ "$(vipsheader -f bands "$T/cmyk_out.jpg")" = 3 ] &&
    vipsheader "$T/cmyk_out.jpg" | grep -q srgb
ok $? "a CMYK JPEG becomes an sRGB preview"

convert -size 300x200 gradient:navy-orange -depth 16 "$T/deep.png"
"$FG" stamp "$T/deep.png" "$T/deep_out.png" &&
    file "$T/deep_out.png" | grep -q '8-bit/color RGB'
ok $? "a 16-bit PNG becomes an 8-bit preview"

convert -size 300x200 gradient:white-black -colorspace Gray "$T/grey.png"
"$FG" stamp "$T/grey.png" "$T/grey_out.jpg" &&
    [ "$(vipsheader -f bands "$T/grey_out.jpg")" = 3 ]
ok $? "a grey image becomes an sRGB preview"

if vips -l | grep -q heifsave; then
    vips copy "$T/grad.png" "$T/photo.avif" 2>/dev/null
    "$FG" stamp "$T/photo.avif" "$T/avif_out.jpg" &&
        [ "$(vipsheader -f width "$T/avif_out.jpg")" = 1200 ]
    ok $? "an AVIF image is previewed"
fi

finish
