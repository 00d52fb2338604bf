"""`filigrane audit verify` on a data directory the service wrote: one
chain per order, paged by the order's own seq, checkpointed by a job every
FILIGRANE_CHECKPOINT_INTERVAL; intact after real traffic, broken (exit 4,
the order and entry named) once a row is rewritten behind the service's
back, and broken too once a whole order is dropped (the checkpoints)."""
import base64
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, Service, check, finish  # noqa: E402

os.environ["FILIGRANE_KEEP"] = "1"

# A setting out of range stops the worker, naming the variable.
for value in ("0", "2d", "soon"):
    bad_data = tempfile.mkdtemp(prefix="filigrane-e2e-bad-")
    p = subprocess.run([os.path.join(BIN, "filigrane-fcgi")], capture_output=True, text=True,
                       timeout=30,
                       env=dict(os.environ, FILIGRANE_DATA=bad_data,
                                FILIGRANE_JWT_SECRET=os.urandom(24).hex(),
                                FILIGRANE_WEBHOOK_SECRET="whsec_" +
                                base64.b64encode(os.urandom(32)).decode(),
                                FILIGRANE_MARK_KEY=os.urandom(24).hex(),
                                FILIGRANE_CHECKPOINT_INTERVAL=value))
    check("FILIGRANE_CHECKPOINT_INTERVAL=%s is refused at start, the variable named" % value,
          p.returncode == 2 and "FILIGRANE_CHECKPOINT_INTERVAL" in p.stderr, p)
    shutil.rmtree(bad_data, ignore_errors=True)

svc = Service(env={"FILIGRANE_CHECKPOINT_INTERVAL": "1"})
db_path = os.path.join(svc.data, "filigrane.db")


def checkpoints():
    db = sqlite3.connect(db_path)
    try:
        return db.execute("SELECT COUNT(*) FROM audit_checkpoints").fetchone()[0]
    finally:
        db.close()


try:
    svc.create_order("ord-a", "s-a", "b-a")
    svc.create_order("ord-b", "s-b", "b-b")
    svc.upload("ord-a", [("notes.txt", b"hello\n")], svc.token("seller", "s-a", "ord-a"))
    svc.upload("ord-b", [("b.txt", b"b\n")], svc.token("seller", "s-b", "ord-b"))
    svc.hook("order.accepted", {"order_id": "ord-a"})
    tb = svc.token("buyer", "b-b", "ord-b")
    r = svc.get("/v1/orders/ord-b/audit", token=tb)
    entries = (r.json() or {}).get("entries", [])
    check("an order's trail is its own chain: seq from 1 whatever other orders wrote before",
          [e["seq"] for e in entries] == list(range(1, len(entries) + 1)) and len(entries) >= 2
          and entries[0]["prev_hash"] == "0" * 64, entries)
    r = svc.get("/v1/orders/ord-b/audit?after=1&limit=1", token=tb)
    d = r.json() or {}
    check("?after= pages by the order's seq: after=1 starts at its entry 2",
          [e["seq"] for e in d.get("entries", [])] == [2]
          and d["entries"][0]["prev_hash"] == entries[0]["hash"], d)
    deadline = time.time() + 20
    while time.time() < deadline and checkpoints() == 0:
        time.sleep(0.2)
    check("a checkpoint job wrote a checkpoint within seconds of the traffic", checkpoints() > 0)
    # Quiet: no new checkpoint, and no job, while nothing is appended.
    time.sleep(0.5)
    n = checkpoints()
    time.sleep(2.5)
    check("a quiet service writes no more checkpoints", checkpoints() == n, (n, checkpoints()))
    jobs = subprocess.run([os.path.join(BIN, "filigrane"), "jobs", "--data", svc.data,
                           "--state", "done"], capture_output=True, text=True)
    check("the checkpoints ran as jobs (`filigrane jobs --state done` lists them)",
          jobs.returncode == 0 and "\tcheckpoint\t" in jobs.stdout, jobs.stdout)
finally:
    svc.stop()


def verify(*extra):
    return subprocess.run([os.path.join(BIN, "filigrane"), "audit", "verify", *extra],
                          capture_output=True, text=True)


p = verify("--data", svc.data)
check("audit verify finds the trail the service wrote intact, with its chains and checkpoints",
      p.returncode == 0 and "intact" in p.stdout and "head" in p.stdout
      and " in 2 chains" in p.stdout and " 0 checkpoints" not in p.stdout, p)
p = verify("--data", os.path.join(svc.data, "nowhere"))
check("audit verify on a directory without a database fails instead of creating one",
      p.returncode != 0 and not os.path.exists(os.path.join(svc.data, "nowhere", "filigrane.db")), p)

# A copy for the second attack.
copy = svc.data + "-copy"
shutil.copytree(svc.data, copy, ignore=shutil.ignore_patterns("*.sock", "tmp", "blobs"))

db = sqlite3.connect(db_path)
try:
    db.execute("UPDATE audit SET actor = 'seller:s-a' WHERE chain = 'ord-a' AND chain_seq = 2")
    check("the database itself refuses to rewrite an audit row", False)
except sqlite3.DatabaseError:
    check("the database itself refuses to rewrite an audit row", True)
triggers = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
for t in triggers:
    db.execute('DROP TRIGGER "%s"' % t)
db.execute("UPDATE audit SET actor = 'someone-else' WHERE chain = 'ord-a' AND chain_seq = 2")
db.commit()
db.close()
p = verify("--data", svc.data)
check("a rewritten audit row is found: exit 4, the order and its entry 2 named",
      p.returncode == 4 and "BROKEN in the chain of order ord-a at entry 2" in p.stdout, p)

# A hostile operator drops a whole order's evidence, head row and all:
# every remaining chain is whole, but the checkpoints remember ord-b.
db = sqlite3.connect(os.path.join(copy, "filigrane.db"))
for t in [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]:
    db.execute('DROP TRIGGER "%s"' % t)
db.execute("DELETE FROM audit WHERE chain = 'ord-b'")
db.execute("DELETE FROM audit_heads WHERE chain = 'ord-b'")
db.commit()
db.close()
p = verify("--data", copy)
check("a whole order dropped is found by the checkpoints: exit 4, ord-b named",
      p.returncode == 4 and "BROKEN in the chain of order ord-b" in p.stdout
      and "checkpoint" in p.stdout, p)
subprocess.run(["rm", "-rf", svc.data, copy])
finish()
