"""nginx's preview cache (FILIGRANE_PREVIEW_DECISION_TTL, README "Preview
cache"): repeat GETs of an allowed preview are answered by nginx without the
worker, for at most the TTL and never past the token's expiry; nothing else
is ever cached, and no cached answer reaches another credential, another
file, an original or a request that must be decided by the worker.
"""
import hashlib
import json
import os
import re
import subprocess
import tempfile
import sys
import time

from service import BIN, TOP, Service, check, finish, image

TTL = 3


def error_code(r):
    try:
        return json.loads(r.body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def metric(svc, name):
    """A sample's value from /metrics (the worker's own counters)."""
    text = svc.metrics().body.decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


PREVIEWS = 'filigrane_downloads_total{what="preview"}'
ORIGINALS = 'filigrane_downloads_total{what="original"}'


def worker_saw(svc, rid):
    """Whether the worker's log has a line for request id rid."""
    with open(os.path.join(svc.data, "log", "worker.log"), errors="replace") as f:
        return ("req=" + rid) in f.read()


svc = Service(env={"FILIGRANE_PREVIEW_DECISION_TTL": str(TTL)})
try:
    svc.create_order("ord-a", "s-a", "b-a")
    svc.create_order("ord-b", "s-b", "b-b")
    seller = svc.token("seller", "s-a", "ord-a")
    buyer = svc.token("buyer", "b-a", "ord-a")
    buyer_b = svc.token("buyer", "b-b", "ord-b")
    seller_b = svc.token("seller", "s-b", "ord-b")
    img = image("png", 320, 240)
    d = svc.upload_done("ord-a", [("a.png", img), ("b.png", image("png", 200, 150))],
                        seller).json() or {}
    fa, fb = [f["id"] for f in d["files"]]
    d = svc.upload_done("ord-b", [("other.png", image("png", 240, 180))], seller_b).json() or {}
    fo = d["files"][0]["id"]
    pa = "/v1/files/%s/preview" % fa

    # ---- a repeat is answered by nginx, the first view by the worker ----
    before = metric(svc, PREVIEWS)
    r1 = svc.get(pa, token=buyer)
    check("the buyer's first preview GET is a cache miss decided by the worker",
          r1.status == 200 and r1.header("x-filigrane-cache") == "MISS"
          and worker_saw(svc, r1.header("x-request-id")), r1)
    audit = svc.get("/v1/orders/ord-a/audit", token=seller).json() or {}
    views = [e for e in audit.get("entries", []) if e.get("action") == "file.previewed"]
    check("the first view is recorded (file.previewed) by the worker", len(views) == 1, views)
    hits = [svc.get(pa, token=buyer) for _ in range(5)]
    check("repeat GETs with the same token are answered from nginx's cache",
          all(h.status == 200 and h.header("x-filigrane-cache") == "HIT" for h in hits),
          [h.header("x-filigrane-cache") for h in hits])
    check("a cached answer never reaches the worker (its preview counter and log)",
          metric(svc, PREVIEWS) == before + 1
          and not any(worker_saw(svc, h.header("x-request-id")) for h in hits),
          (before, metric(svc, PREVIEWS)))
    sha = hashlib.sha256(hits[0].body).hexdigest()
    check("a hit sends the preview's bytes, the blob its ETag names (the decision's "
          "X-Accel-Redirect, followed)",
          hits[0].body == r1.body and hits[0].header("etag") == '"%s"' % sha, hits[0])
    check("a hit keeps the worker's headers: type, inline name, no-cache, nosniff, sandbox",
          hits[0].header("content-type") == r1.header("content-type")
          and hits[0].header("content-disposition") == r1.header("content-disposition")
          and hits[0].header("cache-control") == "private, no-cache"
          and hits[0].header("x-content-type-options") == "nosniff"
          and hits[0].header("content-security-policy") == "sandbox", hits[0].headers)
    check("a hit has its own request id, and no X-Accel-Expires reaches the client",
          hits[0].header("x-request-id") != r1.header("x-request-id")
          and re.fullmatch(r"[0-9a-f]{32}", hits[0].header("x-request-id") or "")
          and hits[0].header("x-accel-expires") is None and r1.header("x-accel-expires") is None,
          hits[0].headers)
    audit = svc.get("/v1/orders/ord-a/audit", token=seller).json() or {}
    views = [e for e in audit.get("entries", []) if e.get("action") == "file.previewed"]
    check("cached repeats add no view to the audit trail", len(views) == 1, views)

    # ---- keys: another credential, another file, another order ----
    r = svc.get(pa, token=buyer_b)
    check("another order's buyer asking for the cached preview is refused by the worker (403)",
          r.status == 403 and r.header("x-filigrane-cache") == "MISS" and img[:64] not in r.body, r)
    r2 = svc.get(pa, token=buyer_b)
    check("and the refusal is never cached", r2.status == 403
          and r2.header("x-filigrane-cache") == "MISS", r2)
    r = svc.get(pa + "?token=" + buyer_b)
    check("the same URI with another token in ?token= is its own key (403, a miss)",
          r.status == 403 and r.header("x-filigrane-cache") == "MISS", r)
    r = svc.get(pa)
    check("without any credential it is 401 from the worker, not the cached preview",
          r.status == 401 and r.header("x-filigrane-cache") == "MISS", r)
    r = svc.get(pa, headers={"Authorization": "Bearer " + buyer + "x"})
    check("a tampered token is its own key and refused (401)", r.status == 401, r)
    r = svc.get(pa + "?token=" + buyer, headers={"Authorization": "Bearer " + buyer_b})
    check("a cached token in the query does not lend its entry to a request whose "
          "header names another token", r.status == 403, r)
    r = svc.get("/v1/files/%s/preview" % fb, token=buyer)
    check("another file with the same token is a miss with its own bytes",
          r.status == 200 and r.header("x-filigrane-cache") == "MISS" and r.body != r1.body, r)
    r = svc.get("/v1/files/%s/preview" % fo, token=buyer)
    check("another order's preview with a cached buyer's token is refused (403)",
          r.status == 403 and r.header("x-filigrane-cache") == "MISS", r)
    r = svc.get(pa, token=seller)
    check("the seller's token is its own entry (a miss, then allowed)",
          r.status == 200 and r.header("x-filigrane-cache") == "MISS", r)

    # ---- the private layer is nginx's alone ----
    sock = os.path.join(svc.data, "run", "preview.sock")
    st = os.stat(os.path.join(svc.data, "run"))
    check("the private layer's socket sits in the 0700 run/ directory of the service user",
          os.path.exists(sock) and (st.st_mode & 0o777) == 0o700, oct(st.st_mode))
    if os.geteuid() == 0:
        probe = subprocess.run(
            [sys.executable, "-c",
             "import os, socket; os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
             "s = socket.socket(socket.AF_UNIX)\n"
             "try:\n    s.connect(%r); print('connected')\n"
             "except PermissionError: print('refused')" % sock],
            capture_output=True, text=True, timeout=30)
        check("another local user (nobody) cannot connect to the private layer's socket",
              probe.stdout.strip() == "refused", probe)

    # ---- originals, archives and other routes are never cached ----
    o0 = metric(svc, ORIGINALS)
    rs = [svc.get("/v1/files/%s/original" % fa, token=seller) for _ in range(3)]
    check("originals are decided by the worker on every request (3 GETs, 3 decisions)",
          all(x.status == 200 and x.body == img and x.header("x-filigrane-cache") is None
              for x in rs) and metric(svc, ORIGINALS) == o0 + 3, [x.status for x in rs])
    rs = [svc.get("/v1/files/%s/original" % fa, token=buyer) for _ in range(2)]
    check("the buyer's original before release is 403 every time, never a cached byte",
          all(x.status == 403 and img[:64] not in x.body for x in rs), rs)
    r = svc.get("/v1/orders/ord-a/deliveries/1/archive", token=seller)
    check("an archive is not cached (no cache status)", r.header("x-filigrane-cache") is None, r)
    r = svc.get("/v1/files/%s/preview/" % fa, token=buyer)
    check("a path that only resembles a preview's is not the cached route",
          r.header("x-filigrane-cache") is None, r)

    # ---- HEAD, ranges and conditional requests reach the worker ----
    p0 = metric(svc, PREVIEWS)
    h = svc.request("HEAD", pa, token=buyer)
    rg = svc.get(pa, token=buyer, headers={"Range": "bytes=0-9"})
    cond = svc.get(pa, token=buyer, headers={"If-None-Match": r1.header("etag")})
    check("HEAD, Range and If-None-Match preview requests skip the cache and reach the worker",
          h.status == 200 and rg.status == 206 and cond.status == 304
          and all(x.header("x-filigrane-cache") is None for x in (h, rg, cond))
          and metric(svc, PREVIEWS) == p0 + 3
          and all(worker_saw(svc, x.header("x-request-id")) for x in (h, rg, cond)),
          (h, rg, cond, p0, metric(svc, PREVIEWS)))
    check("a Range answer is the worker's bytes 0-9 of the preview", rg.body == r1.body[:10], rg)

    # A buyer whose first request is a HEAD: the later GET still reaches
    # the worker and is recorded as the first view.
    svc.create_order("ord-h", "s-h", "b-h")
    sh = svc.token("seller", "s-h", "ord-h")
    bh = svc.token("buyer", "b-h", "ord-h")
    d = svc.upload_done("ord-h", [("h.png", image("png", 100, 80))], sh).json() or {}
    ph = "/v1/files/%s/preview" % d["files"][0]["id"]
    svc.request("HEAD", ph, token=bh)
    svc.get(ph, token=bh, headers={"Range": "bytes=5-9"})
    r = svc.get(ph, token=bh)
    audit = svc.get("/v1/orders/ord-h/audit", token=sh).json() or {}
    views = [e for e in audit.get("entries", []) if e.get("action") == "file.previewed"]
    check("after a HEAD and a Range, the first plain GET is a miss and the recorded first view",
          r.status == 200 and r.header("x-filigrane-cache") == "MISS" and len(views) == 1, views)

    # ---- a token's expiry caps the entry ----
    short = svc.token("buyer", "b-a", "ord-a", ttl=2)
    r = svc.get(pa, token=short)
    exp = json.loads(__import__("base64").urlsafe_b64decode(short.split(".")[1] + "=="))["exp"]
    hit = svc.get(pa, token=short)
    while time.time() < exp + 0.05:
        time.sleep(0.05)
    late = svc.get(pa, token=short)
    # The worker itself allows FG_JWT_CLOCK_SKEW_SECONDS past exp; the
    # cache stops at exp, so the request after it is the worker's to
    # decide again.
    check("a token that expires before the TTL: its entry dies before exp (the request "
          "after exp is decided by the worker again)",
          r.status == 200 and hit.header("x-filigrane-cache") == "HIT"
          and late.header("x-filigrane-cache") in ("MISS", "EXPIRED")
          and worker_saw(svc, late.header("x-request-id")),
          (r.headers, hit.headers, late.headers))

    # ---- cancellation: the revocation delay, measured ----
    svc.create_order("ord-c", "s-c", "b-c")
    sc = svc.token("seller", "s-c", "ord-c")
    bc = svc.token("buyer", "b-c", "ord-c")
    d = svc.upload_done("ord-c", [("c.png", image("png", 120, 90))], sc).json() or {}
    pc = "/v1/files/%s/preview" % d["files"][0]["id"]
    first = svc.get(pc, token=bc)
    svc.get(pc, token=bc)
    t0 = time.time()
    r = svc.hook("order.cancelled", {"order_id": "ord-c"})
    fresh = svc.get(pc, token=svc.token("buyer", "b-c", "ord-c", ttl=300))
    check("after the cancellation the worker refuses the preview at once (a new token: 403)",
          r.status == 200 and fresh.status == 403 and error_code(fresh) == "revoked", fresh)
    # nginx counts an entry's life in whole seconds: an entry made at the
    # worker's allowed decision lives TTL seconds and what is left of the
    # second it was made in, so a cancellation takes effect at most TTL +
    # 1 s after it. A poll is judged by when it was sent.
    last_ok = t0
    late_200 = []
    while time.time() - t0 < TTL + 3:
        sent = time.time()
        r = svc.get(pc, token=bc)
        if r.status != 200:
            break
        last_ok = sent
        if sent - t0 > TTL + 1:
            late_200.append(round(sent - t0, 2))
        time.sleep(0.05)
    delay = time.time() - t0
    print("# revocation delay after order.cancelled: %.2f s (last cached 200 sent at %.2f s; "
          "FILIGRANE_PREVIEW_DECISION_TTL=%d)" % (delay, last_ok - t0, TTL), flush=True)
    check("a cached preview is revoked within the TTL + 1 s of the cancellation (403 revoked)",
          first.status == 200 and r.status == 403 and error_code(r) == "revoked"
          and not late_200, (delay, late_200, r))
    check("and until then the cached decision was served (the delay is the cache's, measured)",
          last_ok - t0 > 0.5, last_ok - t0)
finally:
    svc.stop()

# ---- FILIGRANE_PREVIEW_DECISION_TTL=0 turns the cache off ----
svc = Service(env={"FILIGRANE_PREVIEW_DECISION_TTL": "0"})
try:
    svc.create_order("ord-z", "s-z", "b-z")
    sz = svc.token("seller", "s-z", "ord-z")
    bz = svc.token("buyer", "b-z", "ord-z")
    d = svc.upload_done("ord-z", [("z.png", image("png", 100, 80))], sz).json() or {}
    pz = "/v1/files/%s/preview" % d["files"][0]["id"]
    p0 = metric(svc, PREVIEWS)
    rs = [svc.get(pz, token=bz) for _ in range(3)]
    check("FILIGRANE_PREVIEW_DECISION_TTL=0: every preview GET reaches the worker",
          all(x.status == 200 and x.header("x-filigrane-cache") is None for x in rs)
          and metric(svc, PREVIEWS) == p0 + 3, rs)
    check("and nginx has no preview cache at all",
          "proxy_cache" not in open(os.path.join(svc.data, "nginx", "nginx.conf")).read())
finally:
    svc.stop()

# ---- the setting's edges: 0 to 60 seconds, for nginx and the worker ----
conf = os.path.join(TOP, "scripts", "nginx-conf.sh")
for value, ok, cached in (("60", True, True), ("1m", True, True), ("010", True, True),
                          ("0h", True, False), ("0", True, False), ("", True, True),
                          ("61", False, False), ("2m", False, False), ("1h", False, False),
                          ("-1", False, False), ("5x", False, False)):
    env = dict(os.environ, FILIGRANE_PREVIEW_DECISION_TTL=value, FILIGRANE_USER="nobody")
    p = subprocess.run(["sh", conf, "/tmp", "8080", "/tmp/s.sock", "4G"], env=env,
                       capture_output=True, text=True)
    check("nginx-conf.sh: FILIGRANE_PREVIEW_DECISION_TTL=%r is %s" %
          (value, ("accepted, cache " + ("on" if cached else "off")) if ok
           else "refused, naming the variable"),
          (p.returncode == 0 and ("proxy_cache_path" in p.stdout) == cached) if ok else
          (p.returncode != 0 and "FILIGRANE_PREVIEW_DECISION_TTL" in p.stderr), p.stderr)
for value, ok in (("60", True), ("61", False)):
    # A weak JWT secret (read after the durations) stops the worker
    # before it starts either way: only the reason differs.
    env = dict(os.environ, FILIGRANE_PREVIEW_DECISION_TTL=value, FILIGRANE_DATA=tempfile.mkdtemp(prefix="filigrane-cfg-"),
               FILIGRANE_JWT_SECRET="x" * 64, FILIGRANE_WEBHOOK_SECRET="whsec_" + "A" * 44)
    p = subprocess.run([os.path.join(BIN, "filigrane-fcgi")], env=env,
                       capture_output=True, text=True, timeout=30)
    named = "FILIGRANE_PREVIEW_DECISION_TTL" in p.stderr
    check("the worker %s FILIGRANE_PREVIEW_DECISION_TTL=%s" %
          ("accepts" if ok else "refuses, naming it,", value), named != ok, p.stderr)
finish()
