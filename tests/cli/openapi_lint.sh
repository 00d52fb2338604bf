#!/bin/sh
# openapi.yaml passes Redocly's recommended ruleset (redocly.yaml) with no
# error and no warning; a description with a broken reference or a
# response without a description fails the same lint (so a lint that stopped
# looking would be caught).
. "$(dirname "$0")/lib.inc"
top=$(cd "$(dirname "$0")/../.." && pwd)
redocly=$top/tests/e2e/node_modules/.bin/redocly
# No telemetry, no update check: the lint reads only these files.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
if [ ! -x "$redocly" ]; then
    ok 1 "@redocly/cli is installed (make deps: npm ci in tests/e2e)"
    finish
fi
lint() { # spec out
    (cd "$top" && "$redocly" lint "$1" --config "$top/redocly.yaml" --format=stylish) >"$2" 2>&1
}
lint "$top/openapi.yaml" "$T/lint.out"
rc=$?
[ $rc -eq 0 ] && grep -q 'Your API description is valid' "$T/lint.out" &&
    ! grep -qE '[0-9]+:[0-9]+ +(error|warning) ' "$T/lint.out"
ok $? "openapi.yaml lints clean under redocly.yaml (recommended): no error, no warning"
[ $rc -eq 0 ] || sed 's/^/  /' "$T/lint.out" | grep -v '[║╔╚]' | head -40 >&2

grep -q '^openapi: 3\.1\.' "$top/openapi.yaml"
ok $? "openapi.yaml is OpenAPI 3.1"

# The same document with one reference broken: the lint must fail.
sed 's|#/components/schemas/Delivery"|#/components/schemas/NoSuchSchema"|' \
    "$top/openapi.yaml" >"$T/broken-ref.yaml"
! cmp -s "$top/openapi.yaml" "$T/broken-ref.yaml" && ! lint "$T/broken-ref.yaml" "$T/ref.out" &&
    grep -q 'no-unresolved-refs' "$T/ref.out"
ok $? "a description with an unresolved \$ref fails the lint"

# A response without its (required) description: the lint must fail.
python3 - "$top/openapi.yaml" "$T/no-responses.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
del doc["paths"]["/v1/orders/{order}"]["get"]["responses"]["200"]["description"]
yaml.safe_dump(doc, open(sys.argv[2], "w"), sort_keys=False)
PY
! lint "$T/no-responses.yaml" "$T/resp.out" && grep -qE ' error +[a-z-]+' "$T/resp.out"
ok $? "a response without a description fails the lint"

# Every route the worker's router knows is described (fcgi/router.c),
# apart from nginx's internal auth_request paths.
sed -n 's/^ *{"\([A-Z*]*\)", "\(\/[^"]*\)", fcgi_h_.*/\1 \2/p' "$top/fcgi/router.c" |
    grep -v ' /_auth/' >"$T/routes"
[ -s "$T/routes" ]
ok $? "the router's routes are read from fcgi/router.c"
python3 - "$top/openapi.yaml" "$T/routes" <<'PY' >"$T/missing"
import sys, yaml
paths = yaml.safe_load(open(sys.argv[1]))["paths"]
for line in open(sys.argv[2]):
    method, path = line.split()
    ops = paths.get(path, {})
    if method.lower() not in ops:
        print(method, path)
PY
[ ! -s "$T/missing" ]
ok $? "every route of fcgi/router.c is an operation of openapi.yaml"
[ -s "$T/missing" ] && sed 's/^/  missing: /' "$T/missing" >&2
finish
