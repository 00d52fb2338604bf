#!/bin/sh
# scripts/pg.sh: a private PostgreSQL cluster that listens on loopback
# only, as an unprivileged user, behind a generated password that appears
# in the printed URL and nowhere else. Skipped (no lines) where the
# server's binaries are not installed.
. "$(dirname "$0")/lib.inc"
top=$(cd "$(dirname "$0")/../.." && pwd)
pg="$top/scripts/pg.sh"

if ! "$pg" bindir >/dev/null 2>&1; then
    echo "# PostgreSQL is not installed: scripts/pg.sh not tested"
    exit 0
fi
bin=$("$pg" bindir)
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
D=$(mktemp -d /tmp/fg-pg-script.XXXXXX)
D2=$(mktemp -d /tmp/fg-pg-script.XXXXXX)
trap '"$pg" stop "$D" >/dev/null 2>&1; "$pg" stop "$D2" >/dev/null 2>&1; rm -rf "$T" "$D" "$D2"' EXIT INT TERM
port=$(free_port)

url=$(FILIGRANE_PG_UNSAFE_FAST=1 "$pg" start "$D" "$port" 2>"$T/start.err")
ok $? "start makes and starts a cluster"
echo "$url" | grep -Eq "^postgres://[a-z_][a-z0-9_-]*:[0-9a-f]{48}@127\.0\.0\.1:$port/filigrane\$"
ok $? "it prints one postgres:// URL: loopback, the port, a 48-hex-digit password, the filigrane database"
pass=$(echo "$url" | sed 's|^postgres://[^:]*:\([0-9a-f]*\)@.*|\1|')
user=$(echo "$url" | sed 's|^postgres://\([^:]*\):.*|\1|')

[ "$("$bin/psql" "$url" -Atc 'SELECT current_database()' 2>&1)" = filigrane ]
ok $? "the URL logs in to the filigrane database"

out=$("$bin/psql" "postgres://$user:0000@127.0.0.1:$port/filigrane" -w -Atc 'SELECT 1' 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "password authentication failed"
ok $? "a wrong password is refused"
out=$(env -u PGPASSWORD "$bin/psql" "postgres://$user@127.0.0.1:$port/filigrane" -w -Atc 'SELECT 1' 2>&1)
[ $? -ne 0 ]
ok $? "no password is refused over TCP (no trust login)"

addrs=$(ss -Hltn "sport = :$port" | awk '{print $4}' | sort -u)
[ "$addrs" = "127.0.0.1:$port" ]
ok $? "it listens on 127.0.0.1 only (got: $(echo $addrs))"

pid=$(head -n 1 "$D/data/postmaster.pid")
owner=$(ps -o user= -p "$pid" | tr -d ' ')
[ -n "$owner" ] && [ "$owner" != root ] && [ "$(id -u "$owner")" != 0 ]
ok $? "the server runs as an unprivileged user ($owner)"

! ps -eo args | grep -F "$pass" | grep -v grep >/dev/null && ! grep -qF "$pass" "$T/start.err" &&
    ! grep -rqF "$pass" "$D/server.log" "$D/data/postgresql.conf" "$D/data/pg_hba.conf"
ok $? "the password is in no process's argv, no message and no log or config file"

[ "$(stat -c %a "$D")" = 700 ] && [ "$(stat -c %a "$D/url")" = 600 ] &&
    [ "$(stat -c %U "$D")" = "$owner" ]
ok $? "the cluster's directory is the server user's alone (0700), the saved URL 0600"

[ "$("$bin/psql" "$url" -Atc 'SHOW fsync')" = off ]
ok $? "FILIGRANE_PG_UNSAFE_FAST=1 turns fsync off (test clusters only)"

out=$("$pg" start "$D2" "$port" 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "did not start on 127.0.0.1:$port"
ok $? "a second cluster on a port in use fails, saying so"

out=$(FILIGRANE_PG_UNSAFE_FAST=yes "$pg" start "$D2/new" "$(free_port)" 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "FILIGRANE_PG_UNSAFE_FAST must be 0 or 1" &&
    [ ! -e "$D2/new" ]
ok $? "a bad FILIGRANE_PG_UNSAFE_FAST is refused before anything is made"

# (The postmaster's pid may linger as a zombie of whichever process
# adopted it: its pid file and its socket are what say it ended.)
"$pg" stop "$D" 2>/dev/null && [ ! -e "$D/data/postmaster.pid" ] &&
    [ -z "$(ss -Hltn "sport = :$port")" ]
ok $? "stop stops the server and frees the port"

url2=$("$pg" start "$D" "$port" 2>/dev/null)
[ "$url2" = "$url" ] && [ "$("$bin/psql" "$url" -Atc 'SHOW fsync')" = on ]
ok $? "started again, the cluster keeps its URL, and fsync is on by default"
"$pg" stop "$D" 2>/dev/null

if [ "$(id -u)" = 0 ]; then
    closed=$(mktemp -d /tmp/fg-pg-closed.XXXXXX)
    chmod 0700 "$closed"
    out=$("$pg" start "$closed/pg" "$(free_port)" 2>&1)
    rc=$?
    rm -rf "$closed"
    [ $rc -ne 0 ] && echo "$out" | grep -q "cannot reach"
    ok $? "a directory the server user cannot reach is refused with the reason"
fi
finish
