"""Cluster benchmark (bench/cluster.sh runs it): one machine (SQLite and
blob files, scripts/run.sh) against the cluster (PostgreSQL, the S3 server,
two nodes; scripts/run-cluster.sh), in one run, on the same machine.

  1. Downloads per second: wrk GETs of a released ~100 KB original by its
     buyer (each one a counted download: a write to the database, then
     X-Accel-Redirect to a file or, on the cluster, to S3 through nginx).
  2. Upload MB/s: one raw upload of BENCH_UPLOAD_MB (default 256) MB.
  3. Previews per minute: one delivery of BENCH_PREVIEWS (default 40)
     photos, from the 201 to "ready"; the cluster with two nodes, then with
     node 2 stopped.

Each figure says where the time goes: the CPU seconds each part used
during it (nginx, the worker with its stamping children, PostgreSQL, the
S3 server, SQLite being inside the worker), read from /proc.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import service  # noqa: E402
from service import Service, image  # noqa: E402
from cluster import Cluster, missing, processes_under  # noqa: E402

SECS = int(os.environ.get("WRK_SECONDS", "8"))
CONNS = int(os.environ.get("WRK_CONNECTIONS", "16"))
UPLOAD_MB = int(os.environ.get("BENCH_UPLOAD_MB", "256"))
NPREV = int(os.environ.get("BENCH_PREVIEWS", "40"))
TICK = os.sysconf("SC_CLK_TCK")

# The benchmark's own services must not print TAP lines.
service.check = lambda name, cond, detail="": cond


def part_of(cmd):
    if cmd.startswith("postgres") or "/postgres " in cmd:
        return "postgres"
    if "s3rver" in cmd:
        return "s3"
    if cmd.startswith("nginx"):
        return "nginx"
    if "filigrane-fcgi" in cmd:
        return "worker"
    return None


def cpu(root):
    """CPU seconds used so far by each part running under ROOT (a worker's
    reaped stamping children included: cutime, cstime)."""
    out = {}
    for pid, cmd in processes_under(root):
        part = part_of(cmd)
        if not part:
            continue
        try:
            f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks = int(f[11]) + int(f[12])
        if part == "worker":
            ticks += int(f[13]) + int(f[14])
        out[part] = out.get(part, 0.0) + ticks / TICK
    return out


def spent(before, after):
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in set(before) | set(after)}


def where(d, per=None, unit=""):
    """'worker 1.2 s, nginx 0.4 s, ...' largest first; per N: per N units."""
    parts = [(v, k) for k, v in d.items() if v > 0.005]
    parts.sort(reverse=True)
    if per:
        return ", ".join("%s %.1f ms" % (k, 1000 * v / per) for v, k in parts) + unit
    return ", ".join("%s %.1f s" % (k, v) for v, k in parts)


def wrk(urls, token):
    """Runs one wrk per URL at once; total requests per second."""
    procs = []
    for u in urls:
        procs.append(subprocess.Popen(
            ["wrk", "-t1" if len(urls) > 1 else "-t2", "-c%d" % (CONNS // len(urls)),
             "-d%ds" % SECS, "-H", "Authorization: Bearer " + token, u],
            stdout=subprocess.PIPE, text=True))
    total, errors = 0.0, 0
    for p in procs:
        out = p.communicate()[0]
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        total += float(m.group(1)) if m else 0.0
        e = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors += int(e.group(1)) if e else 0
    return total, errors


def setup(svc, root, order):
    """An accepted order with a ~100 KB original; returns (file id, buyer
    token, the original's size)."""
    svc.create_order(order, "s-b", "b-b")
    seller = svc.token("seller", "s-b", order, ttl=7200)
    buyer = svc.token("buyer", "b-b", order, ttl=7200)
    photo = image("jpg", 600, 450)
    r = svc.upload_done(order, [("photo.jpg", photo)], seller)
    fid = ((r.json() or {}).get("files") or [{}])[0].get("id")
    svc.hook("order.accepted", {"order_id": order})
    return fid, buyer, len(photo)


def downloads(label, root, nodes, fid, buyer, rows):
    urls = ["http://127.0.0.1:%d/v1/files/%s/original" % (n.port, fid) for n in nodes]
    c0 = cpu(root)
    t0 = time.time()
    rps, errors = wrk(urls, buyer)
    wall = time.time() - t0
    d = spent(c0, cpu(root))
    n = rps * wall
    rows.append(("downloads/s, %s" % label, "%.0f" % rps,
                 "CPU per download: %s%s" % (where(d, per=n),
                                              "; %d non-2xx" % errors if errors else "")))
    return rps


def upload(label, root, node, order, big, rows):
    node.create_order(order, "s-u", "b-u")
    seller = node.token("seller", "s-u", order, ttl=7200)
    c0 = cpu(root)
    t0 = time.time()
    p = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                        "-T", big, "-H", "Expect:", "-H", "Authorization: Bearer " + seller,
                        "-H", "Content-Type: application/octet-stream",
                        "http://127.0.0.1:%d/v1/orders/%s/deliveries?filename=big.bin"
                        % (node.port, order)], capture_output=True, text=True)
    wall = time.time() - t0
    d = spent(c0, cpu(root))
    mbs = UPLOAD_MB / wall if p.stdout == "201" else 0.0
    rows.append(("upload MB/s, %s (%d MB raw)" % (label, UPLOAD_MB), "%.0f" % mbs,
                 "%.1f s wall; CPU: %s%s" % (wall, where(d),
                                             "" if p.stdout == "201" else "; answered " + p.stdout)))
    return mbs


def previews(label, root, svc, order, photos, rows):
    svc.create_order(order, "s-p", "b-p")
    seller = svc.token("seller", "s-p", order, ttl=7200)
    c0 = cpu(root)
    t0 = time.time()
    r = svc.upload(order, photos, seller)
    doc = svc.wait_ready(order, seller, timeout=900) or {}
    wall = time.time() - t0
    d = spent(c0, cpu(root))
    ds = doc.get("deliveries") or [{}]
    ok = r.status == 201 and ds[0].get("state") == "ready"
    per_min = 60 * len(photos) / wall if ok else 0.0
    rows.append(("previews/min, %s (%d photos 2400x1800)" % (label, len(photos)),
                 "%.0f" % per_min,
                 "%.1f s wall; CPU: %s%s" % (wall, where(d), "" if ok else "; NOT READY")))
    return per_min


def main():
    # Stopped (make bench interrupted), the finally clauses below still
    # stop the service and the cluster: nothing is left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    why = missing()
    if why:
        print("### Cluster\n\nnot run: " + why)
        return 0
    work = tempfile.mkdtemp(prefix="filigrane-bench-cluster-")
    os.chmod(work, 0o755)
    big = os.path.join(work, "big.bin")
    with open(big, "wb") as f:
        for _ in range(UPLOAD_MB):
            f.write(os.urandom(1 << 20))
    os.chmod(big, 0o644)
    base = image("jpg", 2400, 1800)
    # Distinct blobs: the same photo with distinct trailing bytes.
    photos = [("p%02d.jpg" % i, base + b"%016d" % i) for i in range(NPREV)]
    env = {"FILIGRANE_MAX_FILE_BYTES": "2G", "FILIGRANE_MAX_DELIVERY_BYTES": "2G",
           "FILIGRANE_BLOB_GC_INTERVAL": "0"}
    rows = []

    # ---- one machine ----
    svc = Service(env=env)
    try:
        fid, buyer, size = setup(svc, svc.data, "ord-bench")
        downloads("one machine", svc.data, [svc], fid, buyer, rows)
        upload("one machine", svc.data, svc, "ord-up", big, rows)
        previews("one machine, 1 node", svc.data, svc, "ord-prev", photos, rows)
    finally:
        svc._kill()
        shutil.rmtree(svc.data, ignore_errors=True)

    # ---- the cluster ----
    c = Cluster(env=env)
    try:
        n1, n2 = c.nodes
        fid, buyer, _ = setup(c, c.root, "ord-bench")
        downloads("cluster, via node 1", c.root, [n1], fid, buyer, rows)
        downloads("cluster, via both nodes", c.root, [n1, n2], fid, buyer, rows)
        upload("cluster", c.root, n1, "ord-up", big, rows)
        previews("cluster, 2 nodes", c.root, n1, "ord-prev2", photos, rows)
        # Node 2 stopped: its run.sh stops its nginx when its worker ends.
        os.kill(n2.worker_pid(), signal.SIGTERM)
        time.sleep(2)
        previews("cluster, node 2 stopped", c.root, n1, "ord-prev1",
                 [(n, b + b"-1") for n, b in photos], rows)
    finally:
        c._kill()
        c._wipe()
        shutil.rmtree(work, ignore_errors=True)

    cpuname = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpuname = line.split(":", 1)[1].strip()
            break
    print("### Cluster (%s, %d cores, %s; load average %s)" % (
        time.strftime("%Y-%m-%d", time.gmtime()), os.cpu_count(), cpuname,
        open("/proc/loadavg").read().split()[0]))
    print()
    print("| measure | figure | where the time goes |")
    print("|---|---|---|")
    for name, fig, why in rows:
        print("| %s | %s | %s |" % (name, fig, why))
    print()
    print("wrk -c%d -d%ds on a %d KB original (a counted download each); CPU seconds of each "
          "part from /proc during the measure (worker includes its stamping children)."
          % (CONNS, SECS, size // 1024))
    return 0


if __name__ == "__main__":
    sys.exit(main())
