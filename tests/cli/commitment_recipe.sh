#!/bin/sh
# The README's commitment recipes, run as written with openssl, coreutils
# and unzip on a preview `filigrane stamp --salt` made: a buyer holding the
# revealed salt opens every entry's commitment, and nothing else opens it.
. "$(dirname "$0")/lib.inc"

mkdir -p "$T/src/secrets"
printf '4821\n' >"$T/src/secrets/pin.txt"
printf 'FLG-7Q2K-99XM-04PL\n' >"$T/src/licence.key"
vips black "$T/src/photo.jpg" 64 48 --bands 3
(cd "$T/src" && zip -q0r "$T/delivery.zip" secrets/pin.txt licence.key photo.jpg)
SALT=$(openssl rand -hex 32)

"$FG" stamp --salt "$SALT" "$T/delivery.zip" "$T/preview.zip"
ok $? "an archive is previewed with --salt"
unzip -p "$T/preview.zip" MANIFEST.txt >"$T/manifest"

# The README's two lines, for one entry: NAME as the manifest shows it.
opens() { # name entry-file salt
    es=$(printf 'filigrane-entry-v1%s' "$1" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$3 | awk '{print $NF}')
    got=$({ printf %s "$es" | tr a-f A-F | basenc --base16 -d; cat "$2"; } | sha256sum | cut -d' ' -f1)
    want=$(awk -F'\t' -v n="$1" '$5 == n {print $3}' "$T/manifest")
    [ -n "$want" ] && [ "$got" = "$want" ]
}
all=0
for n in secrets/pin.txt licence.key photo.jpg; do
    opens "$n" "$T/src/$n" "$SALT" || all=1
done
ok $all "the README's recipe opens every entry's commitment with the salt"
opens secrets/pin.txt "$T/src/secrets/pin.txt" "$(openssl rand -hex 32)"
[ $? -ne 0 ]
ok $? "another salt opens nothing"
! grep -q "$(sha256sum <"$T/src/secrets/pin.txt" | cut -d' ' -f1)" "$T/manifest"
ok $? "the PIN's plain sha256 is not in the manifest"

# The worker hands the salt over in the environment, never on a command
# line any local user can read: the same manifest either way.
FILIGRANE_STAMP_SALT=$SALT "$FG" stamp "$T/delivery.zip" "$T/preview-env.zip" &&
    unzip -p "$T/preview-env.zip" MANIFEST.txt | cmp -s - "$T/manifest"
ok $? "FILIGRANE_STAMP_SALT gives the manifest --salt gives"

# The file-level recipe: SHA-256(salt || content).
want=$(python3 -c "import hashlib,sys; print(hashlib.sha256(bytes.fromhex('$SALT')+open('$T/src/secrets/pin.txt','rb').read()).hexdigest())")
got=$({ printf %s "$SALT" | tr a-f A-F | basenc --base16 -d; cat "$T/src/secrets/pin.txt"; } | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ]
ok $? "the README's file recipe computes SHA-256(salt || content)"
finish
