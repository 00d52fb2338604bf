"""/livez and /readyz, the probes load balancers call without a token:
/livez answers 200 whenever the process does; /readyz answers 200 when the
metadata store, the blob store, free disk and the outbox's backlog are all
fine, and 503 naming the failing check and why otherwise (PostgreSQL
stopped, free space below FILIGRANE_READY_MIN_FREE, an event waiting longer
than FILIGRANE_READY_MAX_OUTBOX_LAG), never a secret, path or URL."""
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, free_port, image  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PG = os.path.join(TOP, "scripts", "pg.sh")


def readyz(svc):
    r = svc.get("/readyz")
    return r, (r.json() or {})


def failing(doc):
    return sorted(k for k, v in (doc.get("checks") or {}).items() if v.get("status") != "ok")


def refused(env, name):
    """The worker refuses to start with env, naming the variable."""
    try:
        s = Service(env=env)
        s.stop()
        return False, "it started"
    except RuntimeError as e:
        return name in str(e), str(e)[-1500:]


# ---- a healthy service ----
svc = Service()
try:
    r = svc.get("/livez")
    check("/livez answers 200 {\"status\":\"ok\"} without a token",
          r.status == 200 and r.json() == {"status": "ok"}, r)
    r, d = readyz(svc)
    check("/readyz answers 200 on a healthy service, without a token",
          r.status == 200 and d.get("status") == "ready", r)
    check("/readyz names its four checks, all ok",
          sorted((d.get("checks") or {}).keys()) == ["blobs", "database", "disk", "outbox"] and
          not failing(d), d)
    body = r.body.decode(errors="replace")
    check("/readyz reveals no secret nor the data directory",
          svc.jwt_secret not in body and svc.mark_key not in body and
          svc.metrics_token not in body and svc.data not in body, body)
    check("/healthz is still there", svc.get("/healthz").status == 200)
    r = svc.request("POST", "/readyz")
    check("/readyz takes GET only", r.status == 405, r)
finally:
    svc.stop()

# ---- free disk at its edge ----
st = os.statvfs(tempfile.gettempdir())
free = st.f_bavail * st.f_frsize
above = (free // (1 << 20)) + 1024  # 1 GiB more than is free, in M
below = max(0, (free // (1 << 20)) - 1024)  # 1 GiB less
svc = Service(env={"FILIGRANE_READY_MIN_FREE": "%dM" % above})
try:
    r, d = readyz(svc)
    check("FILIGRANE_READY_MIN_FREE above the free space: /readyz 503 naming the disk",
          r.status == 503 and failing(d) == ["disk"] and
          "FILIGRANE_READY_MIN_FREE" in d["checks"]["disk"].get("why", ""), r)
    check("/livez stays 200 while not ready", svc.get("/livez").status == 200)
finally:
    svc.stop()
svc = Service(env={"FILIGRANE_READY_MIN_FREE": "%dM" % below})
try:
    r, d = readyz(svc)
    check("FILIGRANE_READY_MIN_FREE 1 GiB below the free space: ready", r.status == 200, r)
finally:
    svc.stop()
ok, why = refused({"FILIGRANE_READY_MIN_FREE": "1T"}, "FILIGRANE_READY_MIN_FREE")
check("FILIGRANE_READY_MIN_FREE with an unknown suffix stops the worker, naming it", ok, why)

# ---- the outbox's backlog ----
ok, why = refused({"FILIGRANE_READY_MAX_OUTBOX_LAG": "0"}, "FILIGRANE_READY_MAX_OUTBOX_LAG")
check("FILIGRANE_READY_MAX_OUTBOX_LAG=0 stops the worker, naming it", ok, why)
dead = free_port()  # nothing listens there: every send fails
svc = Service(env={"FILIGRANE_EVENTS_URL": "http://127.0.0.1:%d/events" % dead,
                   "FILIGRANE_READY_MAX_OUTBOX_LAG": "5s"})
try:
    r, d = readyz(svc)
    check("an empty outbox is ready", r.status == 200, r)
    ts = svc.token("seller", "s-1", "ord-1")
    svc.create_order("ord-1", "s-1", "b-1")
    r = svc.upload_done("ord-1", [("a.png", image("png", 64, 48))], ts)
    check("a delivery records a delivery.ready event", r.status == 201, r)
    r, d = readyz(svc)
    check("an event younger than FILIGRANE_READY_MAX_OUTBOX_LAG keeps /readyz 200",
          r.status == 200, r)
    time.sleep(6.5)
    r, d = readyz(svc)
    check("an event unsent for longer than FILIGRANE_READY_MAX_OUTBOX_LAG: 503 naming the outbox",
          r.status == 503 and failing(d) == ["outbox"] and
          "FILIGRANE_READY_MAX_OUTBOX_LAG" in d["checks"]["outbox"].get("why", ""), r)
    check("the events URL is not revealed", ("%d" % dead) not in r.body.decode(errors="replace"))
    check("/livez stays 200 with a backlog", svc.get("/livez").status == 200)
finally:
    svc.stop()

# ---- S3 stopped and started again ----
def s3(*args):
    return subprocess.run(["sh", os.path.join(TOP, "scripts", "s3-server.sh")] + list(args),
                          capture_output=True, text=True, timeout=60)


def poll_ready(svc, want, seconds):
    """/readyz until it answers want (the S3 answer is kept 5 s)."""
    deadline = time.time() + seconds
    while True:
        r, d = readyz(svc)
        if r.status == want or time.time() > deadline:
            return r, d
        time.sleep(0.5)


s3_dir = tempfile.mkdtemp(prefix="filigrane-s3-")
s3_port = free_port()
out = s3("start", s3_dir, str(s3_port))
if out.returncode != 0:
    print("# the S3 server does not start: readiness without S3 is not tested")
else:
    s3_env = dict(line.split("=", 1) for line in out.stdout.split())
    svc = Service(env=s3_env)
    try:
        r, d = readyz(svc)
        check("with blobs in S3 /readyz is 200", r.status == 200, r)
        s3("stop", s3_dir)
        r, d = poll_ready(svc, 503, 10)
        check("S3 stopped: /readyz 503 naming the blobs within the 5 s the answer is kept",
              r.status == 503 and failing(d) == ["blobs"], r)
        body = r.body.decode(errors="replace")
        check("the answer names neither the endpoint nor the key id",
              str(s3_port) not in body and s3_env["FILIGRANE_S3_ACCESS_KEY_ID"] not in body, body)
        check("/livez stays 200 while S3 is down", svc.get("/livez").status == 200)
        s3("start", s3_dir, str(s3_port))
        r, d = poll_ready(svc, 200, 10)
        check("S3 back: /readyz 200 again", r.status == 200, r)
    finally:
        svc.stop()
        s3("stop", s3_dir)
        subprocess.run(["rm", "-rf", s3_dir])

# ---- PostgreSQL stopped and started again ----
if subprocess.run([PG, "bindir"], capture_output=True).returncode != 0:
    print("# PostgreSQL is not installed: readiness without the database is not tested")
    finish()


def pg(*args):
    return subprocess.run([PG] + list(args), capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, FILIGRANE_PG_UNSAFE_FAST="1"))


pg_dir = tempfile.mkdtemp(prefix="fg-e2e-pg.", dir="/tmp")
port = free_port()
started = pg("start", pg_dir, str(port))
url = started.stdout.strip()
password = urllib.parse.urlsplit(url).password or ""
check("a private PostgreSQL starts", started.returncode == 0 and url.startswith("postgres://"),
      started.stderr)
svc = None
try:
    svc = Service(env={"FILIGRANE_DATABASE_URL": url})
    r, d = readyz(svc)
    check("on PostgreSQL /readyz is 200", r.status == 200, r)
    # The first threads answer while the last still connect; a server lost
    # then stops the worker's start (main.c): wait until it has finished.
    log = os.path.join(svc.data, "log", "worker.log")
    deadline = time.time() + 60
    while time.time() < deadline and "filigrane-fcgi ready" not in open(log, errors="replace").read():
        time.sleep(0.1)
    check("the server stops", pg("stop", pg_dir).returncode == 0)
    t0 = time.time()
    r, d = readyz(svc)
    took = time.time() - t0
    check("PostgreSQL stopped: /readyz 503 naming the database",
          r.status == 503 and "database" in failing(d) and
          d["checks"]["database"].get("why"), r)
    check("it answers within 10 s (took %.1f s)" % took, took < 10)
    body = r.body.decode(errors="replace")
    check("the answer holds neither the password nor the URL",
          password and password not in body and "postgres://" not in body and
          str(port) not in body, body)
    check("/livez stays 200 while the database is down", svc.get("/livez").status == 200)
    check("the server starts again", pg("start", pg_dir, str(port)).returncode == 0)
    codes = [readyz(svc)[0].status for _ in range(8)]
    check("once it is back /readyz is 200 again, on every thread", codes == [200] * 8, codes)
    check("/livez is 200 after", svc.get("/livez").status == 200)
finally:
    if svc:
        svc.stop()
    pg("stop", pg_dir)
    subprocess.run(["rm", "-rf", pg_dir])
finish()
