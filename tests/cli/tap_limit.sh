#!/bin/sh
# tests/unit/tap.h: a test program that registers more tests than the
# harness holds fails, naming how many were not run; one at the limit runs
# them all and passes.
. "$(dirname "$0")/lib.inc"
top=$(cd "$(dirname "$0")/../.." && pwd)
gen() { # count out.c
    { echo '#define TAP_MAIN'; echo '#include "tests/unit/tap.h"'
      i=0; while [ $i -lt "$1" ]; do echo 'TEST("t") { CHECK(1); }'; i=$((i + 1)); done
    } >"$2"
}
gen 512 "$T/at.c"
gen 513 "$T/past.c"
cc -I"$top" -o "$T/at" "$T/at.c" && cc -I"$top" -o "$T/past" "$T/past.c"
ok $? "two test programs around the limit build"
"$T/at" >"$T/at.out"
rc=$?
[ $rc -eq 0 ] && [ "$(grep -c '^ok - t$' "$T/at.out")" -eq 512 ] && ! grep -q '^not ok' "$T/at.out"
ok $? "512 tests (the limit) all run and pass"
"$T/past" >"$T/past.out"
rc=$?
[ $rc -ne 0 ] && grep -q '^not ok - 1 tests past the limit of 512 were not run' "$T/past.out"
ok $? "a 513th test fails the program instead of being dropped silently"
finish
