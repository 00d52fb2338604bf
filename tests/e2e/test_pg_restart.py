"""The worker on PostgreSQL (FILIGRANE_DATABASE_URL) outlives a restart of
the database server: while it is down a request fails and the worker
says why without the password; once it is back, every thread (request
threads, job runners) carries on without a restart of the worker, and
nothing written before is lost."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, image  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PG = os.path.join(TOP, "scripts", "pg.sh")

if subprocess.run([PG, "bindir"], capture_output=True).returncode != 0:
    print("# PostgreSQL is not installed: the worker's reconnection is not tested")
    sys.exit(0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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
    ts = svc.token("seller", "s-1", "ord-1")
    tb = svc.token("buyer", "b-1", "ord-1")
    check("the worker on PostgreSQL records an order",
          svc.create_order("ord-1", "s-1", "b-1").status == 200)
    r = svc.upload_done("ord-1", [("a.png", image("png", 320, 240))], ts)
    check("and a delivery whose preview a job runner makes",
          r.status == 201 and (r.json() or {}).get("state") == "ready", r)

    check("the server stops", pg("stop", pg_dir).returncode == 0)
    r = svc.get("/v1/orders/ord-1", token=tb)
    check("while it is down a request that needs the store fails (5xx), it does not hang",
          500 <= r.status < 600, r)
    logs = svc.logs()
    check("the worker's log names the server with the password hidden",
          "cannot connect to PostgreSQL at postgres://" in logs and ":***@127.0.0.1:" in logs,
          logs[-2000:])
    check("the password appears in no log", password and password not in logs)

    check("the server starts again", pg("start", pg_dir, str(port)).returncode == 0)
    # Every request thread's connection died with the server: each
    # reconnects on its next statement, so several requests in a row all
    # succeed, whichever thread takes them.
    codes = [svc.get("/v1/orders/ord-1", token=tb).status for _ in range(12)]
    check("after the restart every request succeeds, on every thread", codes == [200] * 12, codes)
    d = svc.get("/v1/orders/ord-1", token=tb).json() or {}
    check("what was written before the restart is there",
          [x.get("number") for x in d.get("deliveries", [])] == [1], d)
    r = svc.upload_done("ord-1", [("b.png", image("png", 320, 240))], ts)
    check("a new delivery is numbered 2 and its preview made by a runner that reconnected",
          r.status == 201 and (r.json() or {}).get("number") == 2 and
          (r.json() or {}).get("state") == "ready", r)
    r = svc.hook("order.accepted", {"order_id": "ord-1"})
    check("the acceptance webhook is applied after the restart", r.status == 200, r)
finally:
    if svc:
        svc.stop()
    pg("stop", pg_dir)
    subprocess.run(["rm", "-rf", pg_dir])
finish()
