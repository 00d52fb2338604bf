#!/bin/sh
# Runs every test and prints one summary line: "N passed, N failed".
#
#   tests/run.sh BINDIR BUILDDIR [BINDIR BUILDDIR ...]
#
# For each (BINDIR, BUILDDIR) pair, one build of the programs: the C unit
# tests in BUILDDIR/tests/, then the script tests (tests/cli/*.sh,
# tests/e2e/test_*.sh and test_*.py) with FILIGRANE_BIN=BINDIR. Every test speaks TAP
# ("ok - name" / "not ok - name"); a test program that exits non-zero
# without a "not ok" line counts as one failure of its own.
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
pass=0
fail=0
log=$(mktemp)
trap 'rm -f "$log" "$supp"' EXIT

# Sanitizer settings for the asan build: leaks in our code are failures;
# the suppressions cover caches glib, fontconfig and pango keep for the
# life of a process.
export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:allocator_may_return_null=1"
# The worker and its stamping children run as the service user, who may
# not be able to enter the checkout (a clone under /root): they read a
# copy of the suppressions in the temp directory.
supp=$(mktemp)
cp "$top/tests/tools/lsan.supp" "$supp" && chmod 0644 "$supp"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run_one() { # label command...
    label=$1
    shift
    "$@" >"$log" 2>&1
    rc=$?
    ok=$(grep -c '^ok ' "$log")
    nok=$(grep -c '^not ok ' "$log")
    pass=$((pass + ok))
    fail=$((fail + nok))
    if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
        fail=$((fail + 1))
        echo "not ok - $label exited with status $rc"
    fi
    sed "s|^|[$label] |" "$log" | grep -v '^\[[^]]*\] ok ' | head -200
    echo "$label: $ok passed, $nok failed"
}

while [ $# -ge 2 ]; do
    bindir=$1
    builddir=$2
    shift 2
    export FILIGRANE_BIN="$top/$bindir"
    # The CLI with FILIGRANE_TEST_HOOK compiled in (Makefile), for the
    # tests that make the sandboxed child fail on purpose.
    export FILIGRANE_HOOKS_CLI="$top/$builddir/filigrane-hooks"
    for t in "$builddir"/tests/test_*; do
        [ -x "$t" ] || continue
        run_one "$bindir:$(basename "$t")" "$t"
    done
    for t in tests/cli/*.sh tests/e2e/test_*.sh tests/e2e/test_*.py; do
        [ -f "$t" ] || continue
        case "$t" in
        *.py) run_one "$bindir:$(basename "$t")" python3 "$t" ;;
        *) run_one "$bindir:$(basename "$t")" sh "$t" ;;
        esac
    done
    # The fuzz targets are one clang build with their own sanitizers,
    # whatever the pair: their seed corpora run once, with the plain one.
    if [ "$bindir" = bin ]; then
        run_one "fuzz_smoke.sh" sh tests/fuzz/smoke.sh
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
