"""Deliveries are processed off the request, by durable jobs: a 50-file
delivery is answered 201 at once and becomes ready later, with its
delivery.ready event; 8 parallel heavy deliveries do not slow /healthz,
previews or webhooks; a worker killed with -9 in the middle of stamping is
restarted and every file still ends ready, once, with no scratch file
left; `filigrane previews rebuild` changes the previews' mark; `filigrane
jobs` lists the queue; /metrics shows it."""
import hashlib
import http.server
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import concurrent.futures as cf

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, Service, check, finish, free_port, image  # noqa: E402

# The sanitizer pass (tests/run.sh, FILIGRANE_BIN=.../bin/asan) runs the
# worker several times slower: the timings are printed there, not asserted.
SANITIZED = os.path.basename(os.path.normpath(BIN)) == "asan"


class Receiver:
    """The order system's endpoint: records every event, answers 200."""

    def __init__(self, port):
        self.got = []
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rec.lock:
                    rec.got.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, kind):
        with self.lock:
            return [e for e in self.got if e.get("type") == kind]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def temp_entries(data):
    nginx = ("body", "fastcgi", "proxy", "uwsgi", "scgi")
    out = []
    for root, dirs, files in os.walk(os.path.join(data, "tmp")):
        if os.path.relpath(root, os.path.join(data, "tmp")) == ".":
            dirs[:] = [d for d in dirs if d not in nginx]
        out += [os.path.join(root, n) for n in dirs + files]
    return out


def worker_pid(data):
    text = open(os.path.join(data, "log", "worker.log"), errors="replace").read()
    pids = re.findall(r"filigrane-fcgi ready threads=\d+ pid=(\d+)", text)
    return int(pids[-1]) if pids else None


def audit(svc, order, token):
    entries, after = [], 0
    while True:
        r = svc.get("/v1/orders/%s/audit?after=%d&limit=5000" % (order, after), token=token)
        doc = r.json() or {}
        entries += doc.get("entries", [])
        if not doc.get("next"):
            return entries
        after = doc["next"]


def previews_of(entries):
    out = {}
    for e in entries:
        if e["action"] == "file.preview":
            d = json.loads(e["detail"])
            out.setdefault(d["file_id"], []).append(d)
    return out


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else float("inf")


# A stamper that is slow and light, standing in for PDFs whose pages take
# long to render: it sleeps for the number of seconds in ./delay, then
# writes the input with one byte more (still a JPEG to libmagic).
scratch = tempfile.mkdtemp(prefix="filigrane-e2e-slow-")
os.chmod(scratch, 0o755)
slow = os.path.join(scratch, "slow-cli")
with open(slow, "w") as f:
    f.write("#!/bin/sh\nfor a; do in=$out; out=$a; done\n"
            "sleep \"$(cat \"$(dirname \"$0\")/delay\")\"\n"
            "{ cat \"$in\"; printf x; } > \"$out\"\n")
os.chmod(slow, 0o755)


def set_delay(seconds):
    with open(os.path.join(scratch, "delay"), "w") as f:
        f.write(str(seconds))


# ---- a 50-file delivery: 201 at once, ready later, delivery.ready ----
port = free_port()
rx = Receiver(port)
svc = Service(env={"FILIGRANE_EVENTS_URL": "http://127.0.0.1:%d/events" % port})
try:
    svc.create_order("ord-50", "s-1", "b-1")
    seller = svc.token("seller", "s-1", "ord-50")
    # 50 is FILIGRANE_MAX_FILES's default: 49 images and a file of no
    # previewable type (binary data; text is previewed).
    files = [("p%02d.jpg" % i, image("jpg", 200 + i, 150)) for i in range(49)]
    files.append(("notes.bin", b"\x00held back\n"))
    t0 = time.time()
    r = svc.upload("ord-50", files, seller)
    took = time.time() - t0
    d = r.json() or {}
    fs = d.get("files") or []
    print("# 50 files answered in %.3f s" % took)
    check("a 50-file delivery is answered 201", r.status == 201 and len(fs) == 50, r)
    check("the 201 says the delivery is processing", d.get("state") == "processing", d.get("state"))
    check("every previewable file is processing in the 201, the binary data withheld",
          all(f["preview"] == "processing" for f in fs if f["name"] != "notes.bin")
          and [f["preview"] for f in fs if f["name"] == "notes.bin"] == ["withheld"],
          [(f["name"], f["preview"]) for f in fs][:5])
    doc = svc.wait_ready("ord-50", seller, timeout=240) or {}
    dl = (doc.get("deliveries") or [{}])[0]
    check("the delivery then becomes ready, every preview made",
          dl.get("state") == "ready" and len(dl.get("files", [])) == 50 and
          all(f["preview"] == "ready" for f in dl["files"] if f["name"] != "notes.bin"), dl)
    deadline = time.time() + 20
    while time.time() < deadline and not rx.events("delivery.ready"):
        time.sleep(0.1)
    ev = rx.events("delivery.ready")
    check("one delivery.ready is sent, listing the 50 files as ready or withheld",
          len(ev) == 1 and len(ev[0]["data"]["files"]) == 50 and
          all(f["preview"] in ("ready", "withheld") for f in ev[0]["data"]["files"]), ev[:1])
    check("no delivery.failed for it", not rx.events("delivery.failed"))
    got = previews_of(audit(svc, "ord-50", seller))
    check("the audit trail has one preview entry for each of the 49 images",
          len(got) == 49 and all(len(v) == 1 for v in got.values()), len(got))
    m = svc.metrics().body.decode()
    check("/metrics shows the queue depth (0 now) and the histograms in seconds",
          re.search(r"^filigrane_jobs_queued 0$", m, re.M) and
          re.search(r'^filigrane_stamp_duration_seconds_bucket\{le="\+Inf"\} 49$', m, re.M) and
          re.search(r"^filigrane_stamp_duration_seconds_count 49$", m, re.M) and
          re.search(r"^filigrane_job_wait_seconds_count 49$", m, re.M) and
          re.search(r"^filigrane_job_wait_seconds_sum \d+\.\d+$", m, re.M) and
          re.search(r"^filigrane_stamp_seconds_total \d+\.\d+$", m, re.M) and
          "milliseconds" not in m, m[-1500:])
    # A delivery with nothing to preview is ready in its own 201.
    r = svc.upload("ord-50", [("readme.bin", b"\x00binary only\n")], seller)
    check("a delivery of withheld files only is ready at once",
          r.status == 201 and (r.json() or {}).get("state") == "ready", r)
    deadline = time.time() + 20
    while time.time() < deadline and len(rx.events("delivery.ready")) < 2:
        time.sleep(0.1)
    check("and its delivery.ready is sent", len(rx.events("delivery.ready")) == 2)
finally:
    svc.stop()
    rx.stop()

# ---- 8 parallel heavy deliveries: the service keeps answering ----
set_delay(0)
svc = Service(env={"FILIGRANE_CLI": slow})
try:
    svc.create_order("ord-ref", "s-r", "b-r")
    seller = svc.token("seller", "s-r", "ord-ref")
    buyer = svc.token("buyer", "b-r", "ord-ref")
    r = svc.upload_done("ord-ref", [("ref.jpg", image("jpg", 64, 48))], seller)
    ref = ((r.json() or {}).get("files") or [{}])[0]
    check("a reference preview is ready", ref.get("preview") == "ready", r)
    set_delay(1.5)
    orders = ["ord-h%d" % i for i in range(8)]
    for o in orders:
        svc.create_order(o, "s-" + o, "b-" + o)
    answers = []
    small = [("h%d.jpg" % k, image("jpg", 40 + k, 30)) for k in range(3)]

    def heavy(o):
        t = time.time()
        rr = svc.upload(o, small, svc.token("seller", "s-" + o, o))
        answers.append(time.time() - t)
        return rr

    lat = {"healthz": [], "preview": [], "webhook": []}
    stop = threading.Event()

    def probe():
        n = 0
        while not stop.is_set():
            for kind, call in (("healthz", lambda: svc.get("/healthz")),
                               ("preview", lambda: svc.get("/v1/files/%s/preview" % ref["id"],
                                                           token=buyer)),
                               ("webhook", lambda: svc.create_order("ord-w%d" % n, "s-w", "b-w"))):
                t = time.time()
                rr = call()
                lat[kind].append((time.time() - t, rr.status))
            n += 1
            time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(heavy, orders))
    time.sleep(4)  # the runners are busy stamping for a while yet
    stop.set()
    prober.join()
    check("8 parallel heavy deliveries are all answered 201",
          all(x.status == 201 for x in results), [x for x in results if x.status != 201][:2])
    check("every probe was answered 200",
          all(s == 200 for v in lat.values() for _, s in v),
          {k: [s for _, s in v if s != 200][:3] for k, v in lat.items()})
    queued = re.search(r"^filigrane_jobs_queued (\d+)$", svc.metrics().body.decode(), re.M)
    check("/metrics counts the jobs still waiting", queued and int(queued.group(1)) > 0, queued)
    worst = {k: p99([x for x, _ in v]) for k, v in lat.items()}
    print("# under 8 heavy deliveries: p99 healthz %.1f ms, preview %.1f ms, webhook %.1f ms "
          "(%d probes each); uploads answered in at most %.1f ms" %
          (worst["healthz"] * 1e3, worst["preview"] * 1e3, worst["webhook"] * 1e3,
           len(lat["healthz"]), max(answers) * 1e3))
    if SANITIZED:
        print("# sanitizer build: latencies printed, not asserted")
    else:
        check("/healthz, previews and webhooks answer within 100 ms p99 under the load",
              all(v < 0.100 for v in worst.values()), worst)
    for o in orders:
        svc.wait_ready(o, svc.token("seller", "s-" + o, o), timeout=120)
finally:
    svc.stop()

# ---- kill -9 mid-stamp, restart: every file ready, once, no scratch ----
# The default lease (10 minutes): the restart must not wait for it, since
# the jobs of a dead process of this host are released as the runners start.
set_delay(1)
env = {"FILIGRANE_CLI": slow, "FILIGRANE_STAMP_TIMEOUT": "3"}
svc = Service(env=env)
data = svc.data
try:
    svc.create_order("ord-k", "s-k", "b-k")
    seller = svc.token("seller", "s-k", "ord-k")
    r = svc.upload("ord-k", [("k%d.jpg" % i, image("jpg", 50 + i, 40)) for i in range(6)], seller)
    ids = [f["id"] for f in (r.json() or {}).get("files", [])]
    check("the delivery to be interrupted is answered 201", r.status == 201 and len(ids) == 6, r)
    stamping = []
    deadline = time.time() + 30
    while time.time() < deadline and not stamping:
        stamping = [p for p in temp_entries(data) if os.path.basename(p).startswith("stamp-")]
        time.sleep(0.02)
    pid = worker_pid(data)
    if stamping and pid:
        os.kill(pid, signal.SIGKILL)
    check("the worker was killed while a preview was being stamped", bool(stamping) and pid)
finally:
    svc._kill()
db = sqlite3.connect(os.path.join(data, "filigrane.db"))
running = db.execute("SELECT count(*) FROM jobs WHERE state = 'running'").fetchone()[0]
processing = db.execute("SELECT count(*) FROM files WHERE preview = 'processing'").fetchone()[0]
db.close()
check("the dead worker left a job running and files processing", running >= 1 and processing >= 1,
      (running, processing))
restarted = time.time()
svc = Service(data=data, env=env)
try:
    seller = svc.token("seller", "s-k", "ord-k")
    check("after the restart no scratch directory of the killed run is left",
          not [p for p in stamping if os.path.exists(p)], stamping)
    log = open(os.path.join(data, "log", "worker.log"), errors="replace").read()
    check("the start says it removed them", "temp entries left by a previous run" in log)
    doc = svc.wait_ready("ord-k", seller, timeout=120) or {}
    took = time.time() - restarted
    dl = (doc.get("deliveries") or [{}])[0]
    check("every file of the interrupted delivery ends ready",
          dl.get("state") == "ready" and len(dl.get("files", [])) == 6 and
          all(f["preview"] == "ready" for f in dl["files"]), dl)
    print("# interrupted delivery %s %.1f s after the restart (lease 600 s)"
          % (dl.get("state"), took))
    check("it is ready shortly after the restart, not a 10-minute lease later", took < 60, took)
    log = open(os.path.join(data, "log", "worker.log"), errors="replace").read()
    n = re.findall(r"job runners started .*released_dead_runner_jobs=(\d+)", log)
    check("the restart logs how many jobs of the dead run it released",
          len(n) == 2 and n[0] == "0" and int(n[1]) == running, (n, running))
    got = previews_of(audit(svc, "ord-k", seller))
    check("no preview is recorded twice: one audit entry per file",
          sorted(got) == sorted(ids) and all(len(v) == 1 for v in got.values()),
          {k: len(v) for k, v in got.items()})
    time.sleep(0.2)
    check("nothing is left in the temp directory once done", not temp_entries(data),
          temp_entries(data))
    out = subprocess.run([os.path.join(BIN, "filigrane"), "jobs", "--data", data, "--state", "done"],
                         capture_output=True, text=True)
    # Each start's maintenance pass also ran a retention purge job.
    rows = [r for r in (l.split("\t") for l in out.stdout.splitlines()[1:]) if r[1] == "preview"]
    check("`filigrane jobs --state done` lists the 6 jobs, the interrupted one claimed twice",
          out.returncode == 0 and len(rows) == 6 and any(r[5] == "2" for r in rows), out)
    out = subprocess.run([os.path.join(BIN, "filigrane"), "jobs", "--data", data],
                         capture_output=True, text=True)
    check("`filigrane jobs` lists no pending, running or failed job", out.returncode == 0 and
          len(out.stdout.splitlines()) == 1, out)
    out = subprocess.run([os.path.join(BIN, "filigrane"), "jobs", "--data", data + "-typo"],
                         capture_output=True, text=True)
    check("`filigrane jobs` refuses a data directory without a database",
          out.returncode != 0 and "no database" in out.stderr, out)
    out = subprocess.run([os.path.join(BIN, "filigrane"), "jobs", "--data", data, "--state", "lost"],
                         capture_output=True, text=True)
    check("`filigrane jobs --state` refuses an unknown state", out.returncode == 2, out)
finally:
    svc.stop()

# ---- a stamping that fails is not retried ----
set_delay(10)
svc = Service(env={"FILIGRANE_CLI": slow, "FILIGRANE_STAMP_TIMEOUT": "1"})
try:
    svc.create_order("ord-t", "s-t", "b-t")
    seller = svc.token("seller", "s-t", "ord-t")
    t = time.time()
    r = svc.upload_done("ord-t", [("slow.jpg", image("jpg", 32, 32))], seller, timeout=60)
    f0 = ((r.json() or {}).get("files") or [{}])[0]
    check("a timed-out stamping fails the file at once with its reason, and the delivery",
          (r.json() or {}).get("state") == "failed" and f0.get("preview") == "failed"
          and "timed out" in (f0.get("reason") or "") and time.time() - t < 10, r)
    time.sleep(2.5)
    out = subprocess.run([os.path.join(BIN, "filigrane"), "jobs", "--data", svc.data],
                         capture_output=True, text=True)
    rows = [l.split("\t") for l in out.stdout.splitlines()[1:]]
    check("its job is listed failed, tried once, with the reason",
          len(rows) == 1 and rows[0][4] == "failed" and rows[0][5] == "1" and
          "timed out" in rows[0][10], out.stdout)
finally:
    svc.stop()

# ---- previews rebuild: a new mark, a new preview, in the audit ----
svc = Service()
data = svc.data
try:
    svc.create_order("ord-r", "s-r", "b-r")
    seller = svc.token("seller", "s-r", "ord-r")
    buyer = svc.token("buyer", "b-r", "ord-r")
    r = svc.upload_done("ord-r", [("photo.jpg", image("jpg", 400, 300))], seller)
    f0 = ((r.json() or {}).get("files") or [{}])[0]
    before = svc.get("/v1/files/%s/preview" % f0.get("id"), token=buyer)
    check("the first preview is served", before.status == 200 and f0.get("preview") == "ready",
          before)
finally:
    svc._kill()
svc = Service(data=data, env={"FILIGRANE_MARK_TEXT": "REBUILT {order}"})
try:
    seller = svc.token("seller", "s-r", "ord-r")
    buyer = svc.token("buyer", "b-r", "ord-r")
    cli = os.path.join(BIN, "filigrane")
    out = subprocess.run([cli, "previews", "rebuild", "--data", data], capture_output=True,
                         text=True)
    check("`previews rebuild` without --order or --all is refused", out.returncode == 2, out)
    out = subprocess.run([cli, "previews", "rebuild", "--order", "ord-none", "--data", data],
                         capture_output=True, text=True)
    check("`previews rebuild` of an unknown order is refused", out.returncode != 0, out)
    out = subprocess.run([cli, "previews", "rebuild", "--order", "ord-r", "--data", data],
                         capture_output=True, text=True)
    check("`previews rebuild --order` queues the order's preview", out.returncode == 0 and
          "queued 1 preview job" in out.stdout, out)
    rebuilt = []
    deadline = time.time() + 60
    while time.time() < deadline and not rebuilt:
        rebuilt = [d for d in previews_of(audit(svc, "ord-r", seller)).get(f0["id"], [])
                   if d.get("rebuild")]
        time.sleep(0.1)
    after = svc.get("/v1/files/%s/preview" % f0.get("id"), token=buyer)
    old = hashlib.sha256(before.body).hexdigest()
    new = hashlib.sha256(after.body).hexdigest()
    check("the rebuild is recorded in the audit trail with the old and new preview",
          len(rebuilt) == 1 and rebuilt[0].get("previous_sha256") == old
          and rebuilt[0].get("preview_sha256") == new, rebuilt)
    check("the rebuilt preview differs (the new mark)", after.status == 200 and new != old)
    doc = svc.get("/v1/orders/ord-r", token=seller).json() or {}
    check("the delivery stays ready through the rebuild",
          (doc.get("deliveries") or [{}])[0].get("state") == "ready", doc)
    db = sqlite3.connect(os.path.join(data, "filigrane.db"))
    refs = db.execute("SELECT refs FROM blob_refs WHERE sha256 = ?", (old,)).fetchone()
    db.close()
    check("the old preview's blob is no longer referenced (the collector's to remove)",
          refs is not None and refs[0] == 0, refs)
    out = subprocess.run([cli, "previews", "rebuild", "--all", "--data", data],
                         capture_output=True, text=True)
    check("`previews rebuild --all` queues every previewable file", out.returncode == 0 and
          "queued 1 preview job" in out.stdout, out)
finally:
    svc.stop()
# ---- done jobs are pruned by the maintenance pass; failed ones stay ----
svc = Service(env={"FILIGRANE_JOB_KEEP": "2s", "FILIGRANE_BLOB_GC_INTERVAL": "1"})
try:
    svc.create_order("ord-k", "s-k", "b-k")
    seller = svc.token("seller", "s-k", "ord-k")
    r = svc.upload_done("ord-k", [("k.jpg", image("jpg", 64, 64))], seller)
    check("the delivery's preview is made", (r.json() or {}).get("state") == "ready", r)
    db = sqlite3.connect(os.path.join(svc.data, "filigrane.db"), timeout=30)
    db.execute("INSERT INTO jobs(kind, subject, state, run_at, last_error, created_at,"
               " updated_at) VALUES ('preview', 'f-old-failed', 'failed', 0, 'bad file',"
               " '2001-01-01T00:00:00.000Z', '2001-01-01T00:00:00.000Z')")
    db.commit()
    left = None
    deadline = time.time() + 30
    while time.time() < deadline:
        # Each pass ends a purge job too: the preview's is the one to watch.
        left = db.execute("SELECT count(*) FROM jobs WHERE state = 'done'"
                          " AND kind = 'preview'").fetchone()[0]
        if left == 0:
            break
        time.sleep(0.2)
    failed = db.execute("SELECT count(*) FROM jobs WHERE subject = 'f-old-failed'").fetchone()[0]
    db.close()
    check("a maintenance pass deletes the preview job done more than FILIGRANE_JOB_KEEP ago",
          left == 0, left)
    check("a failed job, however old, is kept for the operator", failed == 1, failed)
    log = open(os.path.join(svc.data, "log", "worker.log"), errors="replace").read()
    check("the pass logs how many job rows it deleted", re.search(r"jobs pruned=[1-9]", log),
          log[-2000:])
finally:
    svc.stop()
finish()
