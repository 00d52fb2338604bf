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

"$FG" stamp --seed 1 "$T/grad.png" "$T/s1.png" &&
    "$FG" stamp --seed 2 "$T/grad.png" "$T/s2.png" &&
    "$FG" stamp --seed 1 "$T/grad.png" "$T/s1b.png" &&
    ! cmp -s "$T/s1.png" "$T/s2.png" && cmp -s "$T/s1.png" "$T/s1b.png"
ok $? "two seeds place the mark differently and one seed the same"

vips linear "$T/grad.png" "$T/g2.v" 1 1 --uchar && vips copy "$T/g2.v" "$T/grad2.png"
"$FG" stamp "$T/grad.png" "$T/d1.png" && "$FG" stamp "$T/grad2.png" "$T/d2.png" &&
    "$FG" stamp --seed "$(python3 -c "
import hashlib; print(int.from_bytes(hashlib.sha256(open('$T/grad.png','rb').read()).digest()[:8],'big'))")" \
        "$T/grad.png" "$T/d1s.png" &&
    cmp -s "$T/d1.png" "$T/d1s.png" &&
    d=$(cell_diff "$T/d1.png" "$T/d2.png" 0 0 1200 800) && gt "$d" 2.0
ok $? "the default seed comes from the input's bytes, so files differ"

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
