#!/bin/sh
# Evidence bundle benchmark (bench/evidence.py): the cost of serving and
# signing, then verifying, the bundle of an order with 10,000 entries.
cd "$(dirname "$0")/.." || exit 1
FILIGRANE_BIN=${FILIGRANE_BIN:-$PWD/bin} python3 bench/evidence.py | grep -v '^ok - '
