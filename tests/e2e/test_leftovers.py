"""Nothing we write grows without bound: a worker killed (kill -9) in the
middle of an upload leaves temp files that the next start removes; a
preview that times out or crashes leaves nothing of its job; a rejected
upload's blob, stored before the rejection, is collected once unreferenced
past the grace period, by the worker and by `filigrane blobs gc`, while
every referenced blob stays."""
import base64
import glob
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, Service, check, finish, image  # noqa: E402


def temp_entries(data):
    """Everything of ours under the temp directory (nginx's body/ and
    friends aside), at any depth."""
    nginx = ("body", "fastcgi", "proxy", "uwsgi", "scgi")
    out = []
    for root, dirs, files in os.walk(os.path.join(data, "tmp")):
        rel = os.path.relpath(root, os.path.join(data, "tmp"))
        if rel == ".":
            dirs[:] = [d for d in dirs if d not in nginx]
        out += [os.path.normpath(os.path.join(rel, n)) for n in dirs + files]
    return out


def blob_path(data, sha):
    return os.path.join(data, "blobs", "sha256", sha[:2], sha[2:4], sha)


def worker_pid(data):
    text = open(os.path.join(data, "log", "worker.log"), errors="replace").read()
    pids = re.findall(r"filigrane-fcgi ready threads=\d+ pid=(\d+)", text)
    return int(pids[-1]) if pids else None


# ---- a worker killed mid-upload ----
svc = Service()
data = svc.data
try:
    svc.create_order("ord-k", "s-k", "b-k")
    seller = svc.token("seller", "s-k", "ord-k")
    big = os.urandom(1 << 20) * 300  # 300 MB: the worker splits it for a while
    done = {}

    def send():
        try:
            done["r"] = svc.upload("ord-k", [("big.bin", big)], seller)
        except Exception as e:  # the connection dies with the worker
            done["r"] = e

    t = threading.Thread(target=send)
    t.start()
    seen = []
    deadline = time.time() + 60
    while time.time() < deadline and not seen and t.is_alive():
        seen = glob.glob(os.path.join(data, "tmp", "upload-*"))
        time.sleep(0.005)
    pid = worker_pid(data)
    if seen and pid:
        os.kill(pid, signal.SIGKILL)
    t.join(60)
    check("the worker was caught splitting the upload into a temp file", bool(seen) and pid, seen)
    left = glob.glob(os.path.join(data, "tmp", "upload-*"))
    check("the killed worker left its temp file behind (what the next start must clean)",
          bool(left), temp_entries(data))
    size = sum(os.path.getsize(p) for p in left)
    print("# left by kill -9: %d file(s), %d bytes" % (len(left), size))
finally:
    svc._kill()

svc = Service(data=data)
try:
    check("after a restart no temp file of the killed run is left",
          not glob.glob(os.path.join(data, "tmp", "upload-*")) and not temp_entries(data),
          temp_entries(data))
    check("nginx's temp directories are left in place", os.path.isdir(os.path.join(data, "tmp", "body")))
    log = open(os.path.join(data, "log", "worker.log"), errors="replace").read()
    check("the start says what it removed", "temp entries left by a previous run" in log)
finally:
    svc.stop()

# ---- previews that time out or crash ----
scratch = tempfile.mkdtemp(prefix="filigrane-e2e-cli-")
os.chmod(scratch, 0o755)
fake = os.path.join(scratch, "fake-cli")
with open(fake, "w") as f:
    # Stands in for `filigrane stamp`: writes its half-made preview the way
    # the real one names it, a scratch file, then hangs or crashes.
    f.write("#!/bin/sh\nfor a; do out=$a; done\nd=$(dirname \"$out\")\n"
            "head -c 850000 /dev/zero > \"$d/.preview.tmp-Ab12Cd\"\n"
            "head -c 1000 /dev/zero > \"$d/vips-scratch.v\"\n"
            "case \"$(cat \"$(dirname \"$0\")/mode\")\" in crash) kill -SEGV $$ ;; esac\n"
            "sleep 60\n")
os.chmod(fake, 0o755)
svc = Service(env={"FILIGRANE_CLI": fake, "FILIGRANE_STAMP_TIMEOUT": "1"})
try:
    svc.create_order("ord-t", "s-t", "b-t")
    seller = svc.token("seller", "s-t", "ord-t")
    for mode, why in (("hang", "timed out"), ("crash", "crashed")):
        with open(os.path.join(scratch, "mode"), "w") as f:
            f.write(mode)
        r = svc.upload_done("ord-t", [("photo-%s.jpg" % mode, image("jpg", 64, 48))], seller)
        f0 = ((r.json() or {}).get("files") or [{}])[0]
        check("a preview that %s fails with its reason" % why,
              r.status == 201 and f0.get("preview") == "failed" and why in (f0.get("reason") or ""), r)
        check("a preview that %s leaves nothing of its job in the temp directory" % why,
              not temp_entries(svc.data), temp_entries(svc.data))
finally:
    svc.stop()
    subprocess.run(["rm", "-rf", scratch])

# ---- rejected uploads and the collector ----
svc = Service(env={"FILIGRANE_BLOB_GRACE": "2s", "FILIGRANE_BLOB_GC_INTERVAL": "1s"})
try:
    svc.create_order("ord-g", "s-g", "b-g")
    seller = svc.token("seller", "s-g", "ord-g")
    good = b"a good file beside an empty one\n" * 10
    r = svc.upload("ord-g", [("good.txt", good), ("empty.txt", b"")], seller)
    check("a delivery with an empty part is refused", r.status == 400, r)
    sha = hashlib.sha256(good).hexdigest()
    check("the refused delivery's good part was stored before the refusal",
          os.path.exists(blob_path(svc.data, sha)))
    photo = image("jpg", 64, 48)
    r = svc.upload_done("ord-g", [("kept.jpg", photo)], seller)
    kept = ((r.json() or {}).get("files") or [{}])[0]
    check("a good delivery is recorded", r.status == 201 and kept.get("preview") == "ready", r)
    empty = blob_path(svc.data, hashlib.sha256(b"").hexdigest())
    deadline = time.time() + 20
    while time.time() < deadline and (os.path.exists(blob_path(svc.data, sha))
                                      or os.path.exists(empty)):
        time.sleep(0.2)
    check("the worker's collector removes the refused part's blob after the grace period",
          not os.path.exists(blob_path(svc.data, sha)))
    check("the empty part's blob is removed too", not os.path.exists(empty))
    check("a recorded file's original stays", os.path.exists(blob_path(svc.data, kept.get("sha256", "x"))))
    r = svc.get("/v1/files/%s/preview" % kept.get("id"), token=seller)
    check("a recorded file's preview stays", r.status == 200 and r.body[:2] == b"\xff\xd8", r)
finally:
    svc.stop()

svc = Service(env={"FILIGRANE_BLOB_GRACE": "1s", "FILIGRANE_BLOB_GC_INTERVAL": "0"})
try:
    svc.create_order("ord-h", "s-h", "b-h")
    seller = svc.token("seller", "s-h", "ord-h")
    body = b"raw body with a name that is not UTF-8\n" * 5
    r = svc.request("POST", "/v1/orders/ord-h/deliveries?filename=%FF%FEx.txt", body=body,
                    token=seller, headers={"Content-Type": "application/octet-stream"})
    check("a raw upload with a bad ?filename= is refused", 400 <= r.status < 500, r)
    sha = hashlib.sha256(body).hexdigest()
    check("its blob was stored before the refusal", os.path.exists(blob_path(svc.data, sha)))
    photo = image("png", 40, 30)
    r = svc.upload("ord-h", [("kept.png", photo)], seller)
    kept = ((r.json() or {}).get("files") or [{}])[0]
    time.sleep(2.2)
    gc = subprocess.run([os.path.join(BIN, "filigrane"), "blobs", "gc", "--data", svc.data],
                        capture_output=True, text=True, timeout=60,
                        env=dict(os.environ, FILIGRANE_BLOB_GRACE="1s"))
    check("filigrane blobs gc succeeds and prints what it removed",
          gc.returncode == 0 and ("removed %s" % sha) in gc.stdout, gc.stdout + gc.stderr)
    check("the refused upload's blob is gone", not os.path.exists(blob_path(svc.data, sha)))
    check("the recorded file's original is kept",
          os.path.exists(blob_path(svc.data, hashlib.sha256(photo).hexdigest())))
    r = svc.get("/v1/files/%s/original" % kept.get("id"), token=seller)
    check("the recorded file still downloads", r.status == 200 and r.body == photo, r)
    gc = subprocess.run([os.path.join(BIN, "filigrane"), "blobs", "gc", "--data",
                         os.path.join(svc.data, "nowhere")], capture_output=True, text=True)
    check("filigrane blobs gc on a directory without a database refuses, removing nothing",
          gc.returncode != 0 and "no database" in gc.stderr, gc.stderr)
    gc = subprocess.run([os.path.join(BIN, "filigrane"), "blobs", "gc", "--data", svc.data],
                        capture_output=True, text=True, env=dict(os.environ, FILIGRANE_BLOB_GRACE="0"))
    check("a grace period of 0 is refused, naming the setting",
          gc.returncode == 2 and "FILIGRANE_BLOB_GRACE" in gc.stderr, gc.stderr)
finally:
    svc.stop()

for name, value, what in (("FILIGRANE_BLOB_GC_INTERVAL", "8d", "a collector interval past 7 days"),
                          ("FILIGRANE_BLOB_GRACE", "0", "a grace period of 0"),
                          ("FILIGRANE_BLOB_GRACE", "366d", "a grace period past 365 days"),
                          ("FILIGRANE_BLOB_GRACE", "1h30", "a grace period that is no duration"),
                          ("FILIGRANE_JOB_KEEP", "0", "a job retention of 0"),
                          ("FILIGRANE_JOB_KEEP", "366d", "a job retention past 365 days"),
                          ("FILIGRANE_JOB_KEEP", "1h30", "a job retention that is no duration")):
    env = dict(os.environ, FILIGRANE_DATA=tempfile.mkdtemp(prefix="filigrane-e2e-bad-"),
               FILIGRANE_JWT_SECRET=os.urandom(24).hex(),
               FILIGRANE_WEBHOOK_SECRET="whsec_" + base64.b64encode(os.urandom(32)).decode(),
               FILIGRANE_MARK_KEY=os.urandom(24).hex())
    env[name] = value
    p = subprocess.run([os.path.join(BIN, "filigrane-fcgi")], env=env, capture_output=True,
                       text=True, timeout=30)
    check("the worker refuses %s, naming the setting" % what,
          p.returncode != 0 and name in p.stderr and "1h30" not in p.stderr, p.stderr)
    subprocess.run(["rm", "-rf", env["FILIGRANE_DATA"]])
finish()
