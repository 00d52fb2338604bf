"""Retention against the real service: `filigrane purge` purges a cancelled
order's files once FILIGRANE_RETENTION_DAYS have passed; its downloads then
answer 410 purged, the order and its audit still say what was delivered, and
the collector removes the blob, but never one that another order's file of
the same bytes still uses. A disputed order is never purged. The worker
purges on its own through scheduled 'purge' jobs, listed by `filigrane jobs`."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, Service, check, finish  # noqa: E402

svc = Service(env={"FILIGRANE_BLOB_GC_INTERVAL": "1", "FILIGRANE_BLOB_GRACE": "1"})
try:
    for o in ("ord-c", "ord-d", "ord-n"):
        svc.create_order(o, "s-1", "b-1")
    admin = svc.token("admin", "ops")
    tok = {o: svc.token("seller", "s-1", o) for o in ("ord-c", "ord-d", "ord-n")}
    shared = b"the same bytes, delivered twice " * 64
    own = b"bytes only the cancelled order has " * 64
    rc = svc.upload("ord-c", [("shared.bin", shared), ("own.bin", own)], tok["ord-c"])
    rn = svc.upload("ord-n", [("shared.bin", shared)], tok["ord-n"])
    rd = svc.upload("ord-d", [("d.bin", b"disputed work " * 64)], tok["ord-d"])
    check("three deliveries are taken", rc.status == rn.status == rd.status == 201,
          (rc, rn, rd))
    fc = {f["name"]: f for f in (rc.json() or {}).get("files", [])}
    fn = (rn.json() or {}).get("files", [{}])[0]
    fd = (rd.json() or {}).get("files", [{}])[0]
    svc.hook("order.cancelled", {"order_id": "ord-c"})
    svc.hook("order.disputed", {"order_id": "ord-d"})

    def purge(now):
        return subprocess.run([os.path.join(BIN, "filigrane"), "purge", "--data", svc.data,
                               "--now", now], capture_output=True, text=True, timeout=60)

    def blob(hexd):
        return os.path.join(svc.data, "blobs", "sha256", hexd[:2], hexd[2:4], hexd)

    t = time.gmtime(time.time() + 29 * 86400 + 23 * 3600)
    p = purge(time.strftime("%Y-%m-%dT%H:%M:%SZ", t))
    check("filigrane purge 29 days 23 h after the cancellation purges nothing",
          p.returncode == 0 and "purge: 0 orders" in p.stdout, p.stdout + p.stderr)
    r = svc.get("/v1/files/%s/original" % fc["own.bin"]["id"], token=tok["ord-c"])
    check("before the purge the seller still downloads the original", r.status == 200, r)

    p = purge(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400 + 60)))
    check("filigrane purge 30 days after the cancellation purges the cancelled order only",
          p.returncode == 0 and "purged ord-c (cancelled) 2 files" in p.stdout
          and "purge: 1 orders" in p.stdout, p.stdout + p.stderr)
    for name in ("own.bin", "shared.bin"):
        r = svc.get("/v1/files/%s/original" % fc[name]["id"], token=tok["ord-c"])
        code = ((r.json() or {}).get("error") or {}).get("code")
        check("a purged original (%s) answers 410 purged" % name,
              r.status == 410 and code == "purged", r)
    r = svc.get("/v1/files/%s/original" % fc["own.bin"]["id"], token=tok["ord-n"])
    check("another order's token learns nothing of the purge (refused, not 410)",
          r.status in (403, 404), r)
    r = svc.get("/v1/files/%s/preview" % fc["own.bin"]["id"], token=tok["ord-c"])
    check("a purged file's preview answers 410", r.status == 410, r)
    r = svc.get("/v1/orders/ord-c/deliveries/1/archive", token=tok["ord-c"])
    check("a purged delivery's zip answers 410", r.status == 410, r)
    order = svc.get("/v1/orders/ord-c", token=admin).json() or {}
    files = [f for d in order.get("deliveries", []) for f in d.get("files", [])]
    check("the order still lists the purged files, with purged_at",
          len(files) == 2 and all(f.get("purged_at") for f in files)
          and {f["name"] for f in files} == {"own.bin", "shared.bin"}, files)
    audit = svc.get("/v1/orders/ord-c/audit", token=admin).json() or {}
    entries = [e for e in audit.get("entries", []) if e.get("action") == "order.purged"]
    check("the audit holds one order.purged entry naming both files",
          len(entries) == 1 and "own.bin" in str(entries[0].get("detail"))
          and "shared.bin" in str(entries[0].get("detail")), audit)

    deadline = time.time() + 15
    while time.time() < deadline and os.path.exists(blob(fc["own.bin"]["sha256"])):
        time.sleep(0.3)
    check("the collector removes the purged order's own blob after its grace",
          not os.path.exists(blob(fc["own.bin"]["sha256"])))
    check("the blob another order's file shares is kept",
          os.path.exists(blob(fn["sha256"])) and fn["sha256"] == fc["shared.bin"]["sha256"])
    r = svc.get("/v1/files/%s/original" % fn["id"], token=tok["ord-n"])
    check("the other order's file of the same bytes still downloads, byte for byte",
          r.status == 200 and r.body == shared, r)

    p = purge("2126-01-01T00:00:00Z")
    r = svc.get("/v1/files/%s/original" % fd["id"], token=tok["ord-d"])
    check("a disputed order is not purged even a century later",
          p.returncode == 0 and "ord-d" not in p.stdout and r.status == 200
          and os.path.exists(blob(fd["sha256"])), (p.stdout, r))
    # Purges racing uploads of the same bytes: every order but the last is
    # cancelled right after its delivery, while `filigrane purge` runs in
    # a loop and the worker's collector passes every second (grace 1 s),
    # so the blob's count keeps falling to 0 as new uploads name it again.
    # Each upload's original must download whole right after its 201.
    import threading
    same = b"bytes delivered again and again " * 256
    stop = threading.Event()
    purges = []

    def purger():
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 31 * 86400))
        while not stop.is_set():
            purges.append(purge(when).returncode)
    th = threading.Thread(target=purger)
    th.start()
    bad = []
    n = 12
    try:
        for i in range(n):
            o = "ord-race-%d" % i
            svc.create_order(o, "s-1", "b-1")
            t = svc.token("seller", "s-1", o)
            r = svc.upload(o, [("same.bin", same)], t)
            fid = ((r.json() or {}).get("files") or [{}])[0].get("id")
            d = svc.get("/v1/files/%s/original" % fid, token=t)
            if r.status != 201 or d.status != 200 or d.body != same:
                bad.append((o, r.status, d.status, len(d.body)))
            if i < n - 1:
                svc.hook("order.cancelled", {"order_id": o})
            time.sleep(0.3)
    finally:
        stop.set()
        th.join()
    check("%d uploads of the same bytes racing purges each download whole after their 201" % n,
          not bad and purges and all(rc == 0 for rc in purges), (bad, purges))
    time.sleep(2.5)  # two collector passes past the grace
    last = "ord-race-%d" % (n - 1)
    t = svc.token("seller", "s-1", last)
    files = [f for d in (svc.get("/v1/orders/" + last, token=t).json() or {}).get(
        "deliveries", []) for f in d.get("files", [])]
    d = svc.get("/v1/files/%s/original" % files[0]["id"], token=t) if files else None
    check("after the race the order still open downloads its file byte for byte",
          d is not None and d.status == 200 and d.body == same
          and os.path.exists(blob(files[0]["sha256"])), d)

    p = purge("yesterday")
    check("filigrane purge --now with a malformed time is a usage error (exit 2)",
          p.returncode == 2 and "--now" in p.stderr, p.stderr)
finally:
    svc.stop()

# ---- the worker purges through scheduled 'purge' jobs ----
# FILIGRANE_RETENTION_DAYS=0: a cancelled order is due at once, so the
# next maintenance pass (every second) schedules a purge job and a job
# runner purges it. The disputed and open orders are due never.
svc = Service(env={"FILIGRANE_BLOB_GC_INTERVAL": "1", "FILIGRANE_BLOB_GRACE": "1",
                   "FILIGRANE_RETENTION_DAYS": "0"})
try:
    def jobs(*args):
        out = subprocess.run([os.path.join(BIN, "filigrane"), "jobs", "--data", svc.data]
                             + list(args), capture_output=True, text=True, timeout=60)
        return out, [l.split("\t") for l in out.stdout.splitlines()[1:]]

    def worker_log():
        with open(os.path.join(svc.data, "log", "worker.log"), errors="replace") as f:
            return f.read()

    tok = {}
    files = {}
    for o in ("ord-jc", "ord-jd", "ord-jo"):
        svc.create_order(o, "s-1", "b-1")
        tok[o] = svc.token("seller", "s-1", o)
        r = svc.upload(o, [("w.bin", (o + " work ").encode() * 64)], tok[o])
        files[o] = ((r.json() or {}).get("files") or [{}])[0]
    check("three deliveries are taken", all(f.get("id") for f in files.values()), files)
    svc.hook("order.disputed", {"order_id": "ord-jd"})
    svc.hook("order.cancelled", {"order_id": "ord-jc"})
    deadline = time.time() + 20
    r = None
    while time.time() < deadline:
        r = svc.get("/v1/files/%s/original" % files["ord-jc"]["id"], token=tok["ord-jc"])
        if r.status == 410:
            break
        time.sleep(0.2)
    check("with FILIGRANE_RETENTION_DAYS=0 the worker purges the cancelled order within "
          "seconds, unasked", r is not None and r.status == 410, r)
    m = None
    deadline = time.time() + 5
    while True:
        m = re.search(r"job=(\d+) retention purged order=ord-jc state=cancelled files=1",
                      worker_log())
        if m or time.time() > deadline:
            break
        time.sleep(0.1)
    check("the worker log names the job that purged it", m is not None, svc.logs())
    out, done = jobs("--state", "done")
    purges = [row for row in done if row[1] == "purge"]
    check("`filigrane jobs --state done` lists that job as a done 'purge' job of subject "
          "retention", out.returncode == 0 and m is not None and
          any(row[0] == m.group(1) and row[2] == "retention" and row[4] == "done"
              for row in purges), out.stdout[-2000:])
    audit = svc.get("/v1/orders/ord-jc/audit", token=svc.token("admin", "ops")).json() or {}
    entries = [e for e in audit.get("entries", []) if e.get("action") == "order.purged"]
    check("the job's purge is in the order's audit, once",
          len(entries) == 1 and "w.bin" in str(entries[0].get("detail")), audit)
    # Let several more passes, each with its purge job, run past the
    # disputed and open orders.
    before = len(purges)
    deadline = time.time() + 15
    while time.time() < deadline and len(purges) < before + 3:
        time.sleep(0.5)
        purges = [row for row in jobs("--state", "done")[1] if row[1] == "purge"]
    check("each maintenance pass schedules a purge job that runs (3 more done)",
          len(purges) >= before + 3, (before, len(purges)))
    for o in ("ord-jd", "ord-jo"):
        r = svc.get("/v1/files/%s/original" % files[o]["id"], token=tok[o])
        check("after those purge jobs the %s order still downloads its original" %
              ("disputed" if o == "ord-jd" else "open"),
              r.status == 200 and r.body == (o + " work ").encode() * 64, r)
    lines = [l for l in worker_log().splitlines() if "purge" in l]
    purged = [l for l in lines if "retention purged" in l]
    check("no purge job touched the disputed or open order, and none failed",
          len(purged) == 1 and "order=ord-jc" in purged[0]
          and not [l for l in lines if "purge=failed" in l or "error" in l], lines[-10:])
    out, active = jobs()
    check("`filigrane jobs` shows at most one purge job waiting or running, none failed",
          out.returncode == 0 and len([row for row in active if row[1] == "purge"]) <= 1
          and not [row for row in active if row[4] == "failed"], out.stdout)
    p = subprocess.run([os.path.join(BIN, "filigrane"), "purge", "--data", svc.data],
                       capture_output=True, text=True, timeout=60)
    check("`filigrane purge` still purges directly: nothing left to do",
          p.returncode == 0 and "purge: 0 orders" in p.stdout, p.stdout + p.stderr)
finally:
    svc.stop()
finish()
