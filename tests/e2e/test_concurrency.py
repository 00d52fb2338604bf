"""Many users at once: parallel deliveries (each stamped in its own
sandboxed child), preview downloads and webhooks, through nginx and the
worker's threads. Nothing is lost, nothing answers 5xx, and the evidence
chain is intact afterwards."""
import concurrent.futures as cf
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, Service, check, finish, image  # noqa: E402

os.environ["FILIGRANE_KEEP"] = "1"
svc = Service()
try:
    orders = ["ord-c%d" % i for i in range(4)]
    for o in orders:
        svc.create_order(o, "s-" + o, "b-" + o)
    photos = [image("jpg", 400 + 10 * i, 300) for i in range(6)]

    def deliver(args):
        o, k = args
        files = [("p%d-%d.jpg" % (k, j), photos[(k + j) % len(photos)]) for j in range(2)]
        r = svc.upload_done(o, files, svc.token("seller", "s-" + o, o), message="v%d" % k)
        return o, r

    jobs = [(o, k) for o in orders for k in range(3)]
    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(deliver, jobs))
    check("12 deliveries sent at once are all answered 201",
          all(r.status == 201 for _, r in results), [r for _, r in results if r.status != 201][:2])
    numbers = {}
    for o, r in results:
        numbers.setdefault(o, []).append((r.json() or {}).get("number"))
    check("each order's deliveries got distinct numbers 1, 2, 3",
          all(sorted(n) == [1, 2, 3] for n in numbers.values()), numbers)
    files = [f for _, r in results for f in (r.json() or {}).get("files", [])]
    check("every delivered file has a ready preview",
          len(files) == 24 and all(f.get("preview") == "ready" for f in files),
          [f for f in files if f.get("preview") != "ready"][:2])

    def fetch(f):
        o = next(o for o, r in results if f in (r.json() or {}).get("files", []))
        tok = svc.token("buyer", "b-" + o, o)
        a = svc.get("/v1/files/%s/preview" % f["id"], token=tok)
        b = svc.get("/v1/files/%s/original" % f["id"], token=tok)
        return a.status, b.status

    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(fetch, files * 3))
    check("72 parallel preview fetches are all 200", all(a == 200 for a, _ in statuses), statuses[:5])
    check("and every original stays refused before acceptance",
          all(b == 403 for _, b in statuses), statuses[:5])

    def accept(o):
        return svc.hook("order.accepted", {"order_id": o}).status

    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        st = list(pool.map(accept, orders * 2))
    check("acceptances racing each other are all answered 200", all(s == 200 for s in st), st)

    def download(f):
        o = next(o for o, r in results if f in (r.json() or {}).get("files", []))
        r = svc.get("/v1/files/%s/original" % f["id"], token=svc.token("buyer", "b-" + o, o))
        return r.status == 200 and hashlib.sha256(r.body).hexdigest() == f["sha256"]

    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        ok = list(pool.map(download, files))
    check("after acceptance every original comes back byte for byte", all(ok), ok)
    m = svc.metrics().body.decode()
    five = [l for l in m.splitlines() if l.startswith('filigrane_http_requests_total{code="5xx"}')]
    check("no request was answered 5xx", five == ['filigrane_http_requests_total{code="5xx"} 0'], five)
finally:
    svc.stop()

p = subprocess.run([os.path.join(BIN, "filigrane"), "audit", "verify", "--data", svc.data],
                   capture_output=True, text=True)
check("the evidence chain is intact after the rush", p.returncode == 0 and "intact" in p.stdout, p)
subprocess.run(["rm", "-rf", svc.data])
finish()
