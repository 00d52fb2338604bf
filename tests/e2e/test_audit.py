"""`filigrane audit verify` on a data directory the service wrote: intact
after real traffic, broken (exit 4, the entry named) once a row is
rewritten behind the service's back."""
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, Service, check, finish  # noqa: E402

os.environ["FILIGRANE_KEEP"] = "1"
svc = Service()
try:
    svc.create_order("ord-a", "s-a", "b-a")
    svc.upload("ord-a", [("notes.txt", b"hello\n")], svc.token("seller", "s-a", "ord-a"))
    svc.hook("order.accepted", {"order_id": "ord-a"})
finally:
    svc.stop()


def verify(*extra):
    return subprocess.run([os.path.join(BIN, "filigrane"), "audit", "verify", *extra],
                          capture_output=True, text=True)


p = verify("--data", svc.data)
check("audit verify finds the trail the service wrote intact",
      p.returncode == 0 and "intact" in p.stdout and "head" in p.stdout, p)
p = verify("--data", os.path.join(svc.data, "nowhere"))
check("audit verify on a directory without a database fails instead of creating one",
      p.returncode != 0 and not os.path.exists(os.path.join(svc.data, "nowhere", "filigrane.db")), p)

db = sqlite3.connect(os.path.join(svc.data, "filigrane.db"))
try:
    db.execute("UPDATE audit SET actor = 'seller:s-a' WHERE seq = 2")
    check("the database itself refuses to rewrite an audit row", False)
except sqlite3.DatabaseError:
    check("the database itself refuses to rewrite an audit row", True)
triggers = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
for t in triggers:
    db.execute('DROP TRIGGER "%s"' % t)
db.execute("UPDATE audit SET actor = 'someone-else' WHERE seq = 2")
db.commit()
db.close()
p = verify("--data", svc.data)
check("a rewritten audit row is found: exit 4, entry 2 named",
      p.returncode == 4 and "BROKEN at entry 2" in p.stdout, p)
subprocess.run(["rm", "-rf", svc.data])
finish()
