#!/bin/sh
# A private PostgreSQL cluster for the tests and `make run-cluster`.
#
#   scripts/pg.sh start DIR PORT   initdb (first time) + start; prints the URL
#   scripts/pg.sh url DIR          prints the URL of the cluster in DIR again
#   scripts/pg.sh stop DIR         stops it (the files stay; remove DIR after)
#   scripts/pg.sh bindir           prints Debian's server binaries' directory,
#                                  fails when PostgreSQL is not installed
#
# The server refuses to run as root, so run as root the cluster belongs to
# FILIGRANE_USER (default filigrane, made here as scripts/run.sh makes it;
# nobody if that cannot be done); run as anyone else, to that user. DIR must
# be reachable by it (not under a 0700 home): use a mktemp -d under /tmp,
# which this script hands to the user.
#
# It listens on 127.0.0.1:PORT only, and its unix socket sits in DIR (0700),
# not in /var/run/postgresql. TCP logins need a password (scram-sha-256):
# one generated at initdb, kept in DIR/url (0600) and written into the URL
# on stdout, postgres://USER:PASSWORD@127.0.0.1:PORT/filigrane. Nothing else
# goes to stdout, and the password appears nowhere else: not in argv (initdb
# reads it from a file), not on stderr.
#
# FILIGRANE_PG_UNSAFE_FAST=1 starts it with fsync, synchronous_commit and
# full_page_writes off: a crash of the machine may then lose or corrupt the
# database. For test clusters only (tests/run.sh), never for data you keep.
# FILIGRANE_PG_BIN overrides the binaries' directory.
set -eu
umask 077

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

bindir() {
    if [ -n "${FILIGRANE_PG_BIN:-}" ]; then
        [ -x "$FILIGRANE_PG_BIN/pg_ctl" ] ||
            die "no pg_ctl in $FILIGRANE_PG_BIN (FILIGRANE_PG_BIN)"
        printf '%s\n' "$FILIGRANE_PG_BIN"
        return
    fi
    # The newest installed major version.
    best=
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && best=$d
    done
    [ -n "$best" ] || die "PostgreSQL server binaries not found in /usr/lib/postgresql (make deps installs the postgresql package)"
    printf '%s\n' "$best"
}

# The user the cluster runs as, and its group.
pick_user() {
    if [ "$(id -u)" != 0 ]; then
        user=$(id -un)
        group=$(id -gn)
        return
    fi
    user=${FILIGRANE_USER:-filigrane}
    if ! id -u "$user" >/dev/null 2>&1; then
        if useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$user" 2>/dev/null; then
            echo "pg.sh: created the system user $user (FILIGRANE_USER)" >&2
        else
            user=nobody
        fi
    fi
    [ "$(id -u "$user")" != 0 ] || die "FILIGRANE_USER must not be root"
    group=$(id -gn "$user")
}

# Runs a command as that user, from /, with a clean environment (the
# caller's may hold secrets, and its directory may be closed to the user).
as_user() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && setpriv --reuid="$user" --regid="$group" --clear-groups \
            env -i PATH=/usr/bin:/bin LANG=C LC_ALL=C "$@")
    else
        (cd / && env -i PATH=/usr/bin:/bin LANG=C LC_ALL=C "$@")
    fi
}

cmd_start() {
    dir=$1
    port=$2
    case "$port" in
    '' | *[!0-9]*) die "port must be a number: $port" ;;
    esac
    [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "port out of range: $port"
    case "${FILIGRANE_PG_UNSAFE_FAST:-0}" in
    0 | 1) ;;
    *) die "FILIGRANE_PG_UNSAFE_FAST must be 0 or 1" ;;
    esac
    bin=$(bindir)
    pick_user
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" = 0 ]; then
        chown "$user:$group" "$dir"
    fi
    chmod 0700 "$dir"
    as_user test -w "$dir/." ||
        die "user $user cannot reach $dir (a parent directory is closed to it); use a mktemp -d under /tmp"

    if [ ! -f "$dir/data/PG_VERSION" ]; then
        password=$(openssl rand -hex 24)
        printf '%s\n' "$password" >"$dir/pwfile"
        [ "$(id -u)" = 0 ] && chown "$user:$group" "$dir/pwfile"
        # The superuser is named after the service user, so the local socket's
        # peer login works for it without a password.
        if ! as_user "$bin/initdb" -D "$dir/data" -U "$user" --pwfile="$dir/pwfile" \
            --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C \
            >"$dir/initdb.log" 2>&1; then
            rm -f "$dir/pwfile"
            tail -n 5 "$dir/initdb.log" >&2
            die "initdb failed in $dir/data (see $dir/initdb.log)"
        fi
        rm -f "$dir/pwfile"
        printf 'postgres://%s:%s@127.0.0.1:%s/filigrane\n' "$user" "$password" "$port" >"$dir/url"
        [ "$(id -u)" = 0 ] && chown "$user:$group" "$dir/url"
        fresh=1
    fi
    # Settings on the command line, not in postgresql.conf, so a reused
    # cluster can be started on another port.
    opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir"
    opts="$opts -c max_connections=200 -c shared_buffers=32MB"
    if [ "${FILIGRANE_PG_UNSAFE_FAST:-0}" = 1 ]; then
        opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    if ! as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 \
        start >/dev/null 2>&1; then
        tail -n 5 "$dir/server.log" >&2 2>/dev/null || true
        die "PostgreSQL did not start on 127.0.0.1:$port (see $dir/server.log)"
    fi
    if [ -n "${fresh:-}" ]; then
        as_user "$bin/psql" -h "$dir" -p "$port" -U "$user" -d postgres -q -v ON_ERROR_STOP=1 \
            -c "CREATE DATABASE filigrane" >/dev/null ||
            die "cannot create the database filigrane"
    fi
    cat "$dir/url"
}

cmd_stop() {
    dir=$1
    [ -f "$dir/data/PG_VERSION" ] || die "no cluster in $dir"
    bin=$(bindir)
    pick_user
    # The owner of the data directory, whoever started it.
    [ "$(id -u)" = 0 ] && user=$(stat -c %U "$dir/data") && group=$(id -gn "$user")
    as_user "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
        die "PostgreSQL in $dir did not stop (see $dir/server.log)"
}

case "${1:-}" in
start)
    [ $# -eq 3 ] || die "usage: pg.sh start DIR PORT"
    cmd_start "$2" "$3"
    ;;
stop)
    [ $# -eq 2 ] || die "usage: pg.sh stop DIR"
    cmd_stop "$2"
    ;;
url)
    [ $# -eq 2 ] || die "usage: pg.sh url DIR"
    [ -f "$2/url" ] || die "no cluster in $2"
    cat "$2/url"
    ;;
bindir)
    bindir
    ;;
*)
    die "usage: pg.sh start DIR PORT | stop DIR | url DIR | bindir"
    ;;
esac
