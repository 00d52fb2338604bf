#!/bin/sh
# The README's evidence recipe (openssl, jq, coreutils), extracted from the
# README and run as written, next to `filigrane evidence verify`, on a
# bundle the service made (tests/cli/evidence/: an order with a delivery of
# two files, released, so its file.released entries reveal the salts; made
# by `make run`'s worker and GET /v1/orders/ord-7/evidence, keys.json from
# GET /v1/keys). Both accept it; both refuse every tampering.
. "$(dirname "$0")/lib.inc"
D=$(cd "$(dirname "$0")" && pwd)/evidence
README=$(cd "$(dirname "$0")/../.." && pwd)/README.md

awk '/^<!-- evidence-recipe -->$/ {f = 1; next} /^<!-- \/evidence-recipe -->$/ {f = 0}
     f && !/^```/' "$README" >"$T/check-evidence.sh"
[ -s "$T/check-evidence.sh" ]
ok $? "the README holds the recipe between its markers"

recipe() { sh "$T/check-evidence.sh" "$1" "$D/keys.json" >"$T/out" 2>&1; }
cli() { "$FG" evidence verify "$1" --key "$D/keys.json" >"$T/out" 2>&1; }

recipe "$D/bundle.json" && grep -q "bundle OK: 7 entries" "$T/out"
ok $? "the recipe verifies the service's bundle"
cli "$D/bundle.json"
ok $? "filigrane evidence verify agrees"

# One tampering per line: a jq program applied to the bundle.
n=0
while IFS='|' read -r what prog; do
    n=$((n + 1))
    jq -c "$prog" "$D/bundle.json" >"$T/t$n.json" || { ok 1 "$what (jq)"; continue; }
    recipe "$T/t$n.json"
    [ $? -ne 0 ]
    ok $? "the recipe refuses $what"
    cli "$T/t$n.json"
    [ $? -eq 4 ]
    ok $? "the CLI refuses $what (exit 4)"
done <<'TAMPER'
a buyer id changed inside the signed webhook body|.entries[0].detail |= sub("b-7"; "b-8")
a salt changed in a file.released entry|.entries[4].detail |= sub("\"salt\":\"."; "\"salt\":\"f")
the release time changed|.entries[6].at |= sub("Z$"; "1Z")
a dropped entry|del(.entries[2])
the last entry dropped, the head moved back|del(.entries[-1]) | .head = {seq: "6", hash: .entries[-1].hash}
two entries swapped|.entries[2:4] |= reverse
a changed signature|.signature.value |= (if startswith("A") then "B" + .[1:] else "A" + .[1:] end)
another signer's kid|.signature.kid = "0000000000000000"
TAMPER
finish
