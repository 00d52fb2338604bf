#!/bin/sh
# filigrane stamp on archives, as a user runs it, with archives made by
# the everyday tools (zip, bsdtar, python's zipfile for hostile names).
bin=${FILIGRANE_BIN:-bin}/filigrane
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

mkdir -p "$tmp/src/photos"
vips black "$tmp/src/photos/a.jpg" 320 240 --bands 3
vips copy "$tmp/src/photos/a.jpg" "$tmp/src/photos/b.png"
echo "private notes: ORIGINAL-BYTES-91c4" >"$tmp/src/notes.txt"
ln -s /etc/passwd "$tmp/src/passwd-link"
(cd "$tmp/src" && zip -qy0r "$tmp/delivery.zip" photos notes.txt passwd-link)

check "a zip of photos is previewed as a zip with a manifest" sh -c "
    '$bin' stamp '$tmp/delivery.zip' '$tmp/preview.zip' &&
    unzip -Z1 '$tmp/preview.zip' | sort > '$tmp/names' &&
    printf 'MANIFEST.txt\nphotos/\nphotos/a.jpg\nphotos/b.png.jpg\n' |
        grep -v '/\$' | diff - '$tmp/names'"
check "the manifest lists every entry with its state" sh -c "
    unzip -p '$tmp/preview.zip' MANIFEST.txt > '$tmp/manifest' &&
    grep -q '^previewed	.*	image/jpeg	photos/a.jpg	photos/a.jpg\$' '$tmp/manifest' &&
    grep -q '^withheld	.*	notes.txt	not an image or a pdf\$' '$tmp/manifest' &&
    grep -q '^withheld	.*	passwd-link	symbolic link: not followed\$' '$tmp/manifest' &&
    grep -q '^directory	.*	photos/	' '$tmp/manifest'"
check "the manifest's sha256 is the entry's" sh -c "
    sum=\$(sha256sum '$tmp/src/photos/a.jpg' | cut -d' ' -f1) &&
    grep -q \"	\$sum	image/jpeg	photos/a.jpg	\" '$tmp/manifest'"
check "no byte of a withheld entry is in the preview" sh -c "
    grep -q ORIGINAL-BYTES-91c4 '$tmp/delivery.zip' &&
    ! grep -q ORIGINAL-BYTES-91c4 '$tmp/preview.zip'"
check "a previewed photo is a stamped copy, not the original" sh -c "
    unzip -p '$tmp/preview.zip' photos/a.jpg > '$tmp/a-preview.jpg' &&
    ! cmp -s '$tmp/a-preview.jpg' '$tmp/src/photos/a.jpg' &&
    test \"\$(vipsheader -f width '$tmp/a-preview.jpg')\" = 320"

python3 - "$tmp/slip.zip" "$tmp/src/photos/a.jpg" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1], "w")
data = open(sys.argv[2], "rb").read()
for name in ("../../../tmp/slip.jpg", "/etc/cron.d/abs.jpg", "C:/win.jpg"):
    z.writestr(zipfile.ZipInfo(name), data)
z.close()
PY
check "zip slip: names are made relative, nothing written outside" sh -c "
    '$bin' stamp '$tmp/slip.zip' '$tmp/slip-preview.zip' &&
    unzip -Z1 '$tmp/slip-preview.zip' | sort > '$tmp/names' &&
    printf 'MANIFEST.txt\netc/cron.d/abs.jpg\ntmp/slip.jpg\nwin.jpg\n' |
        diff - '$tmp/names' && test ! -e /tmp/slip.jpg"

(cd "$tmp/src" && bsdtar -czf "$tmp/d.tar.gz" photos notes.txt &&
    bsdtar --zstd -cf "$tmp/d.tar.zst" photos &&
    bsdtar --format 7zip -cf "$tmp/d.7z" photos)
for a in d.tar.gz d.tar.zst d.7z; do
    check "$a is previewed" sh -c "
        '$bin' stamp '$tmp/$a' '$tmp/$a.zip' &&
        unzip -Z1 '$tmp/$a.zip' | grep -qx photos/a.jpg"
done
check "a zip bomb is refused quickly (exit 5)" sh -c "
    head -c 300000000 /dev/zero > '$tmp/zeros' &&
    (cd '$tmp' && zip -q bomb.zip zeros) && rm '$tmp/zeros' &&
    start=\$(date +%s%N)
    '$bin' stamp '$tmp/bomb.zip' '$tmp/bomb-preview.zip' 2>'$tmp/err'
    rc=\$?; end=\$(date +%s%N)
    test \$rc -eq 5 && test \$(((end - start) / 1000000)) -lt 1000 &&
    grep -q 'bomb.zip: archive expands more than 100x' '$tmp/err' &&
    test ! -e '$tmp/bomb-preview.zip'"
check "an archive preview must be named .zip (exit 2)" sh -c "
    '$bin' stamp '$tmp/delivery.zip' '$tmp/out.png' 2>'$tmp/err'
    test \$? -eq 2 && grep -q 'preview of an archive is a zip' '$tmp/err'"
