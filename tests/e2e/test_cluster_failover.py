"""A node killed with -9 in the middle of stamping: the other node keeps
answering, takes the dead node's jobs once their lease runs out, and every
file of the delivery ends ready, each preview recorded once. The cluster
reports the dead node and runs on."""
import json
import os
import re
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, plain_pass_only, skip_unless_ready  # noqa: E402
from service import check, finish, image  # noqa: E402

plain_pass_only()
skip_unless_ready()

LEASE = 6  # seconds: FILIGRANE_JOB_LEASE, longer than the stamp timeout

# A stamper that is slow and light (as in test_jobs.py): it sleeps for the
# seconds in ./delay, then writes the input with one byte more.
scratch = tempfile.mkdtemp(prefix="filigrane-e2e-slow-")
os.chmod(scratch, 0o755)
slow = os.path.join(scratch, "slow-cli")
with open(slow, "w") as f:
    f.write("#!/bin/sh\nfor a; do in=$out; out=$a; done\n"
            "sleep \"$(cat \"$(dirname \"$0\")/delay\")\"\n"
            "{ cat \"$in\"; printf x; } > \"$out\"\n")
os.chmod(slow, 0o755)
with open(os.path.join(scratch, "delay"), "w") as f:
    f.write("2")
os.chmod(os.path.join(scratch, "delay"), 0o644)


def running_jobs(c):
    """(id, lease_owner) of every running job, read from PostgreSQL."""
    return [(int(r[0]), r[1]) for r in
            c.sql("SELECT id, lease_owner FROM jobs WHERE state = 'running' ORDER BY id")]


def owned_by(owner, pid):
    # Owner names are "<host>/<pid>/<runner>/<random>" (jobs/runner.c).
    return re.search(r"/%d/" % pid, owner or "") is not None


c = Cluster(env={"FILIGRANE_CLI": slow, "FILIGRANE_STAMP_TIMEOUT": "4",
                 "FILIGRANE_JOB_LEASE": str(LEASE)})
n1, n2 = c.nodes
try:
    c.create_order("ord-k", "s-k", "b-k")
    seller = c.token("seller", "s-k", "ord-k")
    p1, p2 = n1.worker_pid(), n2.worker_pid()
    check("both workers are up, with distinct pids", p1 and p2 and p1 != p2, (p1, p2))
    r = n1.upload("ord-k", [("k%d.jpg" % i, image("jpg", 50 + i, 40)) for i in range(6)], seller)
    ids = [f["id"] for f in (r.json() or {}).get("files", [])]
    check("node 1 takes the delivery to be interrupted (201, 6 files)",
          r.status == 201 and len(ids) == 6, r)
    # Node 1 is caught in the middle of a stamp: one of its runners holds a
    # job and its scratch directory has the stamping's directory.
    held, stamping = [], []
    deadline = time.time() + 60
    while time.time() < deadline and not (held and stamping):
        held = [j for j in running_jobs(c) if owned_by(j[1], p1)]
        stamping = [e for e in os.listdir(os.path.join(n1.data, "tmp"))
                    if e.startswith("stamp-")] if os.path.isdir(os.path.join(n1.data, "tmp")) else []
        time.sleep(0.05)
    if held and stamping:
        os.kill(p1, signal.SIGKILL)
    killed_at = time.time()
    check("node 1's worker was killed with -9 while it held a job and was stamping",
          bool(held) and bool(stamping), (held, stamping, running_jobs(c)))
    r = n2.get("/healthz")
    check("node 2 answers at once", r.status == 200, r)
    r = n2.get("/v1/orders/ord-k", token=seller)
    check("node 2 shows the order while node 1 is down", r.status == 200, r)
    # Until the delivery is ready, who holds the jobs node 1 held (a done
    # job's owner is cleared, so it is watched while it runs).
    held_ids = [j for j, _ in held]
    seen = {j: set() for j in held_ids}
    doc, deadline = {}, time.time() + 120
    while time.time() < deadline:
        for j, owner in running_jobs(c):
            if j in seen:
                seen[j].add(owner)
        doc = n2.get("/v1/orders/ord-k", token=seller).json() or {}
        ds = doc.get("deliveries") or []
        if ds and ds[0].get("state") != "processing":
            break
        time.sleep(0.1)
    took = time.time() - killed_at
    dl = (doc.get("deliveries") or [{}])[0]
    check("node 2 finishes the delivery: every file ready",
          dl.get("state") == "ready" and len(dl.get("files", [])) == 6 and
          all(f["preview"] == "ready" for f in dl["files"]), dl)
    print("# ready %.1f s after the kill (lease %d s, stamping 2 s a file)" % (took, LEASE))
    check("within the lease and a few stampings of the kill, not a default lease later",
          took < LEASE + 40, took)
    rows = {int(x[0]): x for x in c.sql(
        "SELECT id, state, attempts FROM jobs WHERE kind = 'preview'")}
    check("the jobs node 1 held were claimed again by node 2's runners once the lease ran out",
          held_ids and all(any(owned_by(o, p2) for o in seen[j]) for j in held_ids), seen)
    check("and are done, claimed twice", held_ids and all(
          rows.get(j)[1] == "done" and rows.get(j)[2] == "2" for j in held_ids),
          [rows.get(j) for j in held_ids])
    r = n2.get("/v1/orders/ord-k/audit?limit=5000", token=seller)
    prev = {}
    for e in (r.json() or {}).get("entries", []):
        if e.get("action") == "file.preview":
            fid = json.loads(e["detail"]).get("file_id")
            prev[fid] = prev.get(fid, 0) + 1
    check("each file's preview is recorded once in the audit trail",
          sorted(prev) == sorted(ids) and all(v == 1 for v in prev.values()), prev)
    check("no job is left running or failed",
          not c.sql("SELECT id FROM jobs WHERE state IN ('running', 'failed')"))
    try:
        n1.get("/healthz")
        down = False
    except OSError:
        down = True
    check("node 1 is down (its run.sh stopped its nginx with the worker)", down)
    check("the cluster reports node 1 stopped and runs on",
          "node 1 stopped" in c.output() and c.proc.poll() is None, c.output()[-1000:])
    out = c.cli("audit", "verify", node=2)
    check("`filigrane audit verify`: every chain intact after the kill",
          out.returncode == 0 and "intact" in out.stdout, out.stdout + out.stderr)
finally:
    c.stop()
finish()
