#!/bin/sh
# The CLI opens the store FILIGRANE_DATABASE_URL names, as the worker
# does: PostgreSQL when set (its password printed nowhere), refused when
# it is not a postgres:// URL, an unreachable server a clear error.
. "$(dirname "$0")/lib.inc"

FILIGRANE_DATABASE_URL="mysql://fg:hunter2hunter2@127.0.0.1/db" "$FG" audit verify --data "$T" \
    >"$T/out" 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q "FILIGRANE_DATABASE_URL must start with postgres://" "$T/out" &&
    ! grep -q hunter2 "$T/out"
ok $? "a URL that is not postgres:// is refused (exit 2), naming the variable, not the password"

# Port 1 on loopback: nothing listens.
FILIGRANE_DATABASE_URL="postgres://fg:hunter2hunter2@127.0.0.1:1/filigrane" "$FG" jobs \
    --data "$T" >"$T/out" 2>&1
rc=$?
[ "$rc" -ne 0 ] &&
    grep -q "cannot connect to PostgreSQL at postgres://fg:\*\*\*@127.0.0.1:1/filigrane" "$T/out" &&
    ! grep -q hunter2 "$T/out"
ok $? "an unreachable server is an error naming it with the password as ***"

# With a URL the data directory's SQLite file is neither needed nor made.
[ ! -e "$T/filigrane.db" ]
ok $? "no SQLite file is made in the data directory when a URL is given"

if [ -z "${FILIGRANE_TEST_DATABASE_URL:-}" ]; then
    echo "# no FILIGRANE_TEST_DATABASE_URL: the CLI on a real PostgreSQL is not tested"
    finish
fi
db="fg_cli_$$"
url=$(python3 -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
    "$FILIGRANE_TEST_DATABASE_URL" "$db")
psql "$FILIGRANE_TEST_DATABASE_URL" -qc "CREATE DATABASE $db" >/dev/null 2>&1
ok $? "a database of its own on the test server"
FILIGRANE_DATABASE_URL="$url" "$FG" audit verify --data "$T/nowhere" >"$T/out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && grep -q "audit: intact, 0 entries" "$T/out"
ok $? "audit verify runs on the PostgreSQL store (migrated on first open), whatever --data says"
FILIGRANE_DATABASE_URL="$url" "$FG" jobs >"$T/out" 2>&1 && grep -q "^id" "$T/out"
ok $? "jobs lists the PostgreSQL store's jobs"
pass=$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).password or "")' "$url")
bad=$(echo "$url" | sed "s|:$pass@|:wrong$pass@|")
FILIGRANE_DATABASE_URL="$bad" "$FG" audit verify >"$T/out" 2>&1
rc=$?
[ "$rc" -ne 0 ] && grep -q "password authentication failed" "$T/out" &&
    { [ -z "$pass" ] || ! grep -q "$pass" "$T/out"; }
ok $? "a wrong password is refused, and neither password is printed"
psql "$FILIGRANE_TEST_DATABASE_URL" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null 2>&1
finish
