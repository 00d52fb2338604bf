#!/bin/sh
# Runs every libFuzzer target once over each input of its seed corpus
# (tests/fuzz/corpus/NAME): given files, a libFuzzer binary runs each one
# and exits, so this is deterministic and takes a few seconds. It builds
# the targets first (`make fuzz-build`, clang). TAP, one line a target.
cd "$(dirname "$0")/../.." || exit 1
log=$(mktemp)
# The targets' temp files go here (libFuzzer exits without cleaning up).
TMPDIR=$(mktemp -d) || exit 1
export TMPDIR
trap 'rm -f "$log"; rm -rf "$TMPDIR"' EXIT

if ! make --no-print-directory fuzz-build >"$log" 2>&1; then
    echo "not ok - fuzz targets build with clang"
    sed 's/^/# /' "$log" | tail -20
    exit 1
fi
status=0
for dir in tests/fuzz/corpus/*/; do
    name=$(basename "$dir")
    bin=build/fuzz/fuzz_$name
    if [ ! -x "$bin" ]; then
        echo "not ok - fuzz target $name exists for its corpus"
        status=1
        continue
    fi
    if "$bin" "$dir"* >"$log" 2>&1; then
        echo "ok - fuzz target $name runs its seed corpus clean"
    else
        echo "not ok - fuzz target $name runs its seed corpus clean"
        sed 's/^/# /' "$log" | tail -30
        status=1
    fi
done
exit $status
