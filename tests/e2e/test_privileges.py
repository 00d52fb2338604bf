"""Least privilege, tested as a local attacker on the host: who may speak
FastCGI to the worker, which body files it accepts, who may read /metrics,
which users the worker, nginx's workers and a stamping child run as under
`make run` started as root, the modes of the data directory's files, and a
root CLI that must not lock the worker out of its database.

Run as root (as CI does), it checks the users; as another user it checks
what it can and says what it skipped."""
import hashlib
import os
import pwd
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, TOP, Service, check, finish, image  # noqa: E402

ROOT = os.geteuid() == 0
USER = os.environ.get("FILIGRANE_USER", "filigrane")


# ---- a minimal FastCGI client (the protocol nginx speaks to the worker) ----

def fcgi_record(rtype, content, rid=1):
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), 0) + content


def fcgi_length(n):
    return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)


def fcgi_request(path, params, stdin=b""):
    """Sends one responder request; returns (status, headers, body)."""
    pairs = b"".join(fcgi_length(len(k)) + fcgi_length(len(v)) + k + v
                     for k, v in ((k.encode(), v.encode()) for k, v in params.items()))
    msg = fcgi_record(1, struct.pack(">HB5x", 1, 0))  # BEGIN_REQUEST, responder
    msg += fcgi_record(4, pairs) + fcgi_record(4, b"")
    if stdin:
        msg += fcgi_record(5, stdin)
    msg += fcgi_record(5, b"")
    out = b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(path)
        s.sendall(msg)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        while len(buf) >= 8:
            _, rtype, _, clen, plen = struct.unpack(">BBHHB", buf[:7])
            content = buf[8:8 + clen]
            buf = buf[8 + clen + plen:]
            if rtype == 6:
                out += content
            if rtype == 3:
                break
    head, _, body = out.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode(errors="replace").split("\r\n"):
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    status = int(headers.get("status", "200").split()[0])
    return status, headers, body


def proc_ids(pid):
    """(uids, gids, groups, CapEff) of a process, from /proc."""
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            ids[k] = v.split()
    return ([int(x) for x in ids["Uid"]], [int(x) for x in ids["Gid"]], ids.get("Groups", []),
            int(ids["CapEff"][0], 16))


def children_of(ppid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == ppid:
                    kids.append(int(d))
            except OSError:
                pass
    return kids


def error_code(r):
    return ((r.json() or {}).get("error") or {}).get("code")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def blob_exists(data_dir, hex_):
    return os.path.exists(os.path.join(data_dir, "blobs", "sha256", hex_[:2], hex_[2:4], hex_))


# A stamper standing in for an exploited decoder: it reports the uid it
# runs as, or writes an HTML page as its "preview".
stamper_dir = tempfile.mkdtemp(prefix="filigrane-stamper-")
os.chmod(stamper_dir, 0o755)
stamper = os.path.join(stamper_dir, "stamper.sh")
with open(stamper, "w") as f:
    f.write("""#!/bin/sh
for a; do in=$out; out=$a; done
if grep -q html-please "$in"; then
    printf '<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\\n' >"$out"
    exit 0
fi
echo "child uid=$(id -u) gid=$(id -g)" >&2
exit 1
""")
os.chmod(stamper, 0o755)

svc = Service(env={"FILIGRANE_CLI": stamper})
data = svc.data
sock = os.path.join(data, "run", "fcgi.sock")
secret_dir = tempfile.mkdtemp(prefix="filigrane-foreign-")
try:
    svc.create_order("ord-p", "s-p", "b-p")
    seller = svc.token("seller", "s-p", "ord-p")
    admin = svc.token("admin", "ops")
    service_uid = pwd.getpwnam(USER).pw_uid if ROOT else os.geteuid()
    service_gid = pwd.getpwnam(USER).pw_gid if ROOT else os.getegid()

    # ---- the socket ----
    st = os.stat(sock)
    check("the FastCGI socket is 0600", stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode))
    check("the FastCGI socket belongs to the service user", st.st_uid == service_uid,
          (st.st_uid, service_uid))
    st = os.stat(os.path.join(data, "run"))
    check("the socket's directory is 0700", stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode))
    if ROOT:
        probe = subprocess.run(
            [sys.executable, "-c",
             "import os, socket; os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
             "s = socket.socket(socket.AF_UNIX)\n"
             "try:\n    s.connect(%r); print('connected')\n"
             "except PermissionError: print('refused')" % sock],
            capture_output=True, text=True, timeout=30)
        check("another local user (nobody) cannot connect to the worker's socket",
              probe.stdout.strip() == "refused", probe.stdout + probe.stderr)

    # ---- body files: whoever reaches the socket names REQUEST_BODY_FILE ----
    def fcgi_upload(body_file, name="stolen.txt"):
        return fcgi_request(sock, {
            "REQUEST_METHOD": "POST",
            "REQUEST_URI": "/v1/orders/ord-p/deliveries?filename=" + name,
            "QUERY_STRING": "filename=" + name,
            "CONTENT_TYPE": "application/octet-stream",
            "CONTENT_LENGTH": "10",
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_AUTHORIZATION": "Bearer " + seller,
            "REQUEST_BODY_FILE": body_file,
        })

    def deliveries():
        r = svc.get("/v1/orders/ord-p", token=admin)
        return len((r.json() or {}).get("deliveries", []))

    secret = b"root-only: the host's private key material\n" + os.urandom(32)
    secret_path = os.path.join(secret_dir, "id_root")
    with open(secret_path, "wb") as f:
        f.write(secret)
    os.chmod(secret_path, 0o600)
    before = os.stat(secret_path)
    n0 = deliveries()

    status, _, body = fcgi_upload(secret_path)
    check("a body file outside nginx's body directory is refused with 403",
          status == 403 and b"bad_body_file" in body, (status, body))

    body_dir = os.path.join(data, "tmp", "body")
    status, _, body = fcgi_upload(os.path.normpath(body_dir) + "/../../secrets.env")
    check("a body file that climbs out of the body directory with .. is refused",
          status == 403, (status, body))

    link = os.path.join(body_dir, "evil-link")
    os.symlink(secret_path, link)
    status, _, body = fcgi_upload(link)
    check("a symlink inside the body directory pointing out is refused with 403",
          status == 403 and b"link" in body, (status, body))

    # A directory link on the way to a file the service user owns: only
    # the no-links rule stops this one.
    owned_dir = os.path.join(secret_dir, "dir")
    os.mkdir(owned_dir)
    owned = os.path.join(owned_dir, "file")
    with open(owned, "wb") as f:
        f.write(b"not an upload\n")
    os.chown(owned_dir, service_uid, -1)
    os.chown(owned, service_uid, -1)
    os.chmod(secret_dir, 0o755)
    os.symlink(owned_dir, os.path.join(body_dir, "dirlink"))
    status, _, body = fcgi_upload(os.path.join(body_dir, "dirlink", "file"))
    check("a symlinked directory on the way to the body file is refused with 403",
          status == 403, (status, body))
    check("the file behind the directory link was not moved", os.path.exists(owned))

    if ROOT:
        planted = os.path.join(body_dir, "0000000001")
        with open(planted, "wb") as f:
            f.write(b"root planted this in nginx's directory\n")
        status, _, body = fcgi_upload(planted)
        check("a body file in the body directory not owned by the service user is refused",
              status == 403, (status, body))
        check("that file is left where it was", os.path.exists(planted))
        os.unlink(planted)

    after = os.stat(secret_path)
    with open(secret_path, "rb") as f:
        check("the foreign root file is not moved: same inode, mode and bytes",
              f.read() == secret and after.st_ino == before.st_ino and
              stat.S_IMODE(after.st_mode) == 0o600 and after.st_uid == before.st_uid)
    check("the foreign root file was not copied into the blob store",
          not blob_exists(data, sha256(secret)))
    check("no delivery was recorded by the refused body files", deliveries() == n0)

    # ---- /metrics ----
    r = svc.get("/metrics")
    check("/metrics without a token is refused with 401", r.status == 401, r)
    r = svc.get("/metrics", token="x" * len(svc.metrics_token))
    check("/metrics with a wrong token of the right length is refused", r.status == 401, r)
    r = svc.get("/metrics", token=svc.metrics_token + "x")
    check("/metrics with a longer token is refused", r.status == 401, r)
    r = svc.get("/metrics", token=svc.jwt_secret)
    check("/metrics with the JWT secret is refused", r.status == 401, r)
    r = svc.metrics()
    check("/metrics with FILIGRANE_METRICS_TOKEN answers Prometheus text",
          r.status == 200 and b"# TYPE" in r.body, r)
    status, _, body = fcgi_request(sock, {"REQUEST_METHOD": "GET", "REQUEST_URI": "/metrics",
                                          "QUERY_STRING": "", "REMOTE_ADDR": "127.0.0.1",
                                          "SERVER_PROTOCOL": "HTTP/1.1"})
    check("claiming REMOTE_ADDR=127.0.0.1 on the socket does not open /metrics",
          status == 401 and b"filigrane_" not in body, (status, body[:200]))

    # ---- preview types and the stamping child's user ----
    r = svc.upload_done("ord-p", [("page.png", image("png", 64, 48) + b"html-please")], seller)
    f = ((r.json() or {}).get("files") or [{}])[0]
    check("a stamper that writes HTML fails that preview with a reason naming the type",
          r.status == 201 and f.get("preview") == "failed" and
          "text/html" in (f.get("reason") or ""), r)
    pv = svc.get("/v1/files/%s/preview" % f.get("id"), token=seller)
    check("the HTML preview is never served", pv.status != 200 and b"<script>" not in pv.body, pv)

    r = svc.upload_done("ord-p", [("photo.png", image("png", 64, 48))], seller)
    f = ((r.json() or {}).get("files") or [{}])[0]
    reason = f.get("reason") or ""
    child_uid = int(reason.split("uid=")[1].split()[0]) if "uid=" in reason else -1
    if ROOT:
        check("a stamping child runs as the service user, not root",
              child_uid == service_uid and child_uid != 0, reason)
    else:
        check("a stamping child runs as the worker's user", child_uid == os.geteuid(), reason)

    # ---- the processes' users ----
    with open(os.path.join(data, "log", "worker.log"), errors="replace") as lf:
        ready = [l for l in lf.read().splitlines() if "filigrane-fcgi ready" in l]
    worker_pid = int(ready[-1].split("pid=")[1].split()[0]) if ready else 0
    uids, gids, groups, cap = proc_ids(worker_pid)
    check("the worker runs as the service user (real, effective, saved, fs uid)",
          uids == [service_uid] * 4 and (not ROOT or 0 not in gids), (uids, gids))
    check("the worker has no capabilities and no supplementary groups",
          cap == 0 and (not ROOT or groups == []), (cap, groups))
    with open(os.path.join(data, "run", "nginx.pid")) as pf:
        master = int(pf.read().strip())
    workers = children_of(master)
    wuids = [proc_ids(p)[0] for p in workers]
    check("nginx's workers run as the service user",
          workers and all(u == [service_uid] * 4 for u in wuids), (workers, wuids))

    if ROOT:
        probe = subprocess.run(
            ["setpriv", "--reuid=%d" % service_uid, "--regid=%d" % service_gid,
             "--clear-groups", "cat", "/proc/%d/environ" % worker_pid],
            capture_output=True, timeout=30)
        check("the service user (nginx's workers, stamping children) cannot read the "
              "worker's environment", probe.returncode != 0 and
              svc.jwt_secret.encode() not in probe.stdout, probe.stderr)

    # ---- modes of the data directory ----
    loose = []
    for d, dirs, files in os.walk(data):
        for name in dirs + files:
            p = os.path.join(d, name)
            m = os.lstat(p).st_mode
            # nginx makes its unix listening sockets 0666 itself (its
            # workers, not its root master, connect to the preview cache's
            # private layer); the 0700 run/ directory closes it, which
            # tests/e2e/test_preview_cache.py checks with another user.
            if p[len(data):] == "/run/preview.sock" and stat.S_ISSOCK(m):
                continue
            if not stat.S_ISLNK(m) and stat.S_IMODE(m) & 0o077:
                loose.append((p[len(data):], oct(stat.S_IMODE(m))))
    check("nothing in the data directory is open to group or others", not loose, loose[:10])
    st = os.stat(data)
    check("the data directory is 0700", stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode))
    blobs = [os.path.join(d, n) for d, _, fs in os.walk(os.path.join(data, "blobs")) for n in fs]
    owned_files = [os.path.join(data, n) for n in ("filigrane.db", "secrets.env")] + blobs
    bad = [(p, oct(os.stat(p).st_mode), os.stat(p).st_uid) for p in owned_files
           if stat.S_IMODE(os.stat(p).st_mode) != 0o600 or os.stat(p).st_uid != service_uid]
    check("the database, secrets.env and every blob are 0600 and the service user's",
          blobs and not bad, bad[:5])
    bdirs = [d for d, _, _ in os.walk(os.path.join(data, "blobs"))]
    check("every blob directory is 0700",
          all(stat.S_IMODE(os.stat(d).st_mode) == 0o700 for d in bdirs))

    # ---- a root CLI on the live database ----
    cli = subprocess.run([os.path.join(BIN, "filigrane"), "audit", "verify", "--data", data],
                         capture_output=True, text=True, timeout=60)
    check("filigrane audit verify runs on the live data directory",
          cli.returncode == 0 and "intact" in cli.stdout, cli.stdout + cli.stderr)
    db_files = [os.path.join(data, n) for n in os.listdir(data) if n.startswith("filigrane.db")]
    check("the CLI left no database file owned by another user than the worker's",
          all(os.stat(p).st_uid == service_uid for p in db_files),
          [(p, os.stat(p).st_uid) for p in db_files])
    r = svc.upload("ord-p", [("after-cli.txt", b"written after the root CLI ran\n")], seller)
    check("the worker still writes its database after a root CLI ran", r.status == 201, r)
    cli2 = subprocess.run([os.path.join(BIN, "filigrane"), "audit", "verify", "--data", data],
                          capture_output=True, text=True, timeout=60)
    count = lambda out: int(out.split("intact, ")[1].split()[0]) if "intact, " in out else -1
    check("the audit chain grew with that upload and is intact",
          count(cli2.stdout) > count(cli.stdout) > 0, cli.stdout + cli2.stdout)
finally:
    svc.stop()
    shutil.rmtree(secret_dir, ignore_errors=True)

# ---- starting up ----
if ROOT:
    # A data directory the service user cannot reach: make run refuses it
    # with a message instead of a worker that fails later.
    closed = tempfile.mkdtemp(prefix="filigrane-closed-")
    os.chmod(closed, 0o700)
    env = dict(os.environ, FILIGRANE_DATA=os.path.join(closed, "data"), FILIGRANE_PORT="1",
               FILIGRANE_QUIET="1", FILIGRANE_BIN=BIN, FILIGRANE_JWT_SECRET=os.urandom(24).hex(),
               FILIGRANE_WEBHOOK_SECRET=svc.hook_secret,
               FILIGRANE_MARK_KEY=svc.mark_key)
    p = subprocess.run([os.path.join(TOP, "scripts", "run.sh")], env=env, capture_output=True,
                       text=True, timeout=60)
    check("make run as root refuses a data directory its user cannot reach, naming it",
          p.returncode != 0 and "cannot reach" in p.stderr and "FILIGRANE_DATA" in p.stderr,
          p.stderr)
    shutil.rmtree(closed, ignore_errors=True)

    # The worker started as root with no such user refuses to serve as root.
    d = tempfile.mkdtemp(prefix="filigrane-nouser-")
    env = dict(os.environ, FILIGRANE_DATA=d, FILIGRANE_USER="filigrane-no-such-user",
               FILIGRANE_JWT_SECRET=os.urandom(24).hex(), FILIGRANE_WEBHOOK_SECRET=svc.hook_secret,
               FILIGRANE_MARK_KEY=svc.mark_key)
    p = subprocess.run([os.path.join(BIN, "filigrane-fcgi")], env=env, capture_output=True,
                       text=True, timeout=30)
    check("the worker started as root without its user exits instead of serving as root",
          p.returncode != 0 and "FILIGRANE_USER" in p.stderr and
          not os.path.exists(os.path.join(d, "run", "fcgi.sock")), p.stderr)
    shutil.rmtree(d, ignore_errors=True)

    # A checkout the service user cannot enter (CI clones under /root, 0700):
    # the worker pins its stamper there before dropping root.
    closed = tempfile.mkdtemp(prefix="filigrane-checkout-")
    os.chmod(closed, 0o700)
    closed_bin = os.path.join(closed, "bin")
    os.mkdir(closed_bin)
    for prog in ("filigrane", "filigrane-fcgi"):
        shutil.copy2(os.path.join(BIN, prog), closed_bin)
    probe = subprocess.run(["setpriv", "--reuid=%s" % USER, "--regid=%s" % USER,
                            "--clear-groups", "test", "-x", closed_bin])
    check("the copied build is out of the service user's reach (the premise of the next check)", probe.returncode != 0)
    svc2 = Service(env={"FILIGRANE_BIN": closed_bin})
    try:
        svc2.create_order("ord-c", "s-c", "b-c")
        r = svc2.upload_done("ord-c", [("photo.png", image("png", 320, 200))],
                        svc2.token("seller", "s-c", "ord-c"))
        f = ((r.json() or {}).get("files") or [{}])[0]
        check("a build under a directory closed to the service user still makes previews",
              r.status == 201 and f.get("preview") == "ready", r)
    finally:
        svc2.stop()
        shutil.rmtree(closed, ignore_errors=True)
else:
    print("# not root: the make-run-as-root checks are skipped")
shutil.rmtree(stamper_dir, ignore_errors=True)
finish()
