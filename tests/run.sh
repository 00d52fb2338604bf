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
pg_dir=
cleanup() {
    rm -f "$log" "$supp"
    if [ -n "$pg_dir" ]; then
        ./scripts/pg.sh stop "$pg_dir" 2>/dev/null
        rm -rf "$pg_dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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

# One PostgreSQL server for the whole run (both passes), whenever its
# binaries are installed, so that the store's tests run on both engines:
# each test makes its own database on it (tests/unit/store_tmp.h). A run
# given FILIGRANE_TEST_DATABASE_URL uses that server instead. fsync is off
# (FILIGRANE_PG_UNSAFE_FAST): the cluster is thrown away at the end.
pg_failed=
if [ -z "${FILIGRANE_TEST_DATABASE_URL:-}" ] && ./scripts/pg.sh bindir >/dev/null 2>&1; then
    pg_dir=$(mktemp -d /tmp/fg-test-pg.XXXXXX)
    pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if url=$(FILIGRANE_PG_UNSAFE_FAST=1 ./scripts/pg.sh start "$pg_dir" "$pg_port"); then
        export FILIGRANE_TEST_DATABASE_URL="$url"
    else
        pg_failed=1
    fi
fi

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

if [ -n "$pg_failed" ]; then
    echo "not ok - the tests' PostgreSQL server starts (scripts/pg.sh): the store's tests run on SQLite only"
    fail=$((fail + 1))
elif [ -n "${FILIGRANE_TEST_DATABASE_URL:-}" ]; then
    echo "# the store's tests run on SQLite and on PostgreSQL"
fi

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
