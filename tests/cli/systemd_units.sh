#!/bin/sh
# The systemd units in systemd/ (README, "systemd"): systemd-analyze verify
# passes, the hardening score stays low, the syscall filter keeps what the
# stamping children need, and the worker says READY=1 (Type=notify) once it
# serves.
. "$(dirname "$0")/lib.inc"
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(dirname "$FG")
units="$top/systemd/filigrane-fcgi.service $top/systemd/filigrane-nginx.service"

# The units name the installed layout (/opt/filigrane); verify checks that
# every ExecStart program exists, so they are checked against this build.
mkdir -p "$T/units" "$T/opt/bin"
ln -s "$bin/filigrane-fcgi" "$T/opt/bin/filigrane-fcgi"
ln -s "$bin/filigrane" "$T/opt/bin/filigrane"
ln -s "$top/scripts" "$T/opt/scripts"
for u in $units; do
    sed "s|/opt/filigrane|$T/opt|g" "$u" >"$T/units/$(basename "$u")"
done
systemd-analyze verify "$T"/units/*.service >"$T/verify.out" 2>&1
rc=$?
[ $rc -eq 0 ] && ! grep -v "^$" "$T/verify.out" | grep -q .
ok $? "systemd-analyze verify accepts both units without a warning"
[ $rc -eq 0 ] || sed 's/^/  /' "$T/verify.out" >&2

for u in "$T"/units/*.service; do
    score=$(systemd-analyze security --offline=yes "$u" 2>/dev/null |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    echo "# systemd-analyze security $(basename "$u"): $score"
    [ -n "$score" ] && ! gt "$score" 2.0
    ok $? "$(basename "$u"): systemd-analyze security exposure $score is at most 2.0"
done

f="$top/systemd/filigrane-fcgi.service"
for opt in Type=notify NoNewPrivileges=yes ProtectSystem=strict ReadWritePaths=/var/lib/filigrane \
    PrivateTmp=yes ProtectHome=yes "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
    CapabilityBoundingSet= RestrictNamespaces=yes SystemCallArchitectures=native; do
    grep -qx "$opt" "$f"
    ok $? "the worker's unit sets $opt"
done

# The stamping children fork, execveat the CLI, set rlimits, install a
# seccomp filter and a Landlock ruleset: each of those calls must be
# allowed by the unit's filter and in none of the groups it denies.
allow=$(sed -n 's/^SystemCallFilter=\([^~].*\)/\1/p' "$f")
deny=$(sed -n 's/^SystemCallFilter=~//p' "$f")
expand() { # names and @groups (nested ones too) -> one syscall a line
    for g in $1; do
        case $g in
        @*) expand "$(systemd-analyze syscall-filter "$g" 2>/dev/null |
            sed -n 's/^    \([@a-z0-9_-]*\)$/\1/p' | grep -vx "$g")" ;;
        *) echo "$g" ;;
        esac
    done
}
expand "$allow" | sort -u >"$T/allowed"
expand "$deny" | sort -u >"$T/denied"
missing=""
for sc in clone clone3 vfork execveat wait4 prlimit64 setrlimit seccomp prctl \
    landlock_create_ruleset landlock_add_rule landlock_restrict_self openat pipe2 dup3 kill; do
    grep -qx "$sc" "$T/allowed" && ! grep -qx "$sc" "$T/denied" || missing="$missing $sc"
done
[ -z "$missing" ]
ok $? "the worker's syscall filter allows what a stamping child needs${missing:+ (not:$missing)}"
for sc in mount ptrace init_module reboot setuid capset; do
    ! grep -qx "$sc" "$T/allowed" || grep -qx "$sc" "$T/denied"
    ok $? "the worker's syscall filter refuses $sc"
done

# Type=notify: READY=1 on $NOTIFY_SOCKET once the FastCGI socket listens
# (an abstract socket: the worker may have dropped to its user by then).
name="filigrane-test-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
python3 - "$name" "$T/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1])
s.settimeout(60)
with open(sys.argv[2], "a") as log:
    try:
        while True:
            msg = s.recv(4096).decode()
            log.write("%.3f %s\n" % (time.time(), msg)); log.flush()
            if msg == "STOPPING=1":
                break
    except socket.timeout:
        pass
PY
listener=$!
sleep 0.3
data=$(mktemp -d /tmp/filigrane-sd.XXXXXX)
chmod 755 "$data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
FILIGRANE_DATA="$data/d" FILIGRANE_PORT=$port FILIGRANE_BIN="$bin" FILIGRANE_QUIET=1 \
    FILIGRANE_JWT_SECRET=$(openssl rand -hex 32) FILIGRANE_WEBHOOK_SECRET="whsec_$(openssl rand -base64 32)" \
    NOTIFY_SOCKET="@$name" setsid "$top/scripts/run.sh" >/dev/null 2>"$T/run.err" &
svc=$!
i=0
while [ $i -lt 300 ] && ! grep -q "READY=1" "$T/notify.log" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
grep -q " READY=1$" "$T/notify.log" 2>/dev/null && [ -S "$data/d/run/fcgi.sock" ]
ok $? "the worker sends READY=1 to NOTIFY_SOCKET, with its FastCGI socket in place"
kill -TERM "$svc" 2>/dev/null
wait "$svc" 2>/dev/null
i=0
while [ $i -lt 100 ] && ! grep -q "STOPPING=1" "$T/notify.log" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
grep -q " STOPPING=1$" "$T/notify.log"
ok $? "and STOPPING=1 when it is stopped"
kill "$listener" 2>/dev/null
wait "$listener" 2>/dev/null
rm -rf "$data"
finish
