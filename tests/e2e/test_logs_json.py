"""FILIGRANE_LOG_FORMAT=json: the worker's log and nginx's access log are
one JSON object per line, and nginx's request id ($request_id, returned as
X-Request-Id) names the same request in both.
"""
import json
import os
import subprocess
import tempfile
import time

from service import BIN, TOP, Service, check, finish, image


def lines(svc, name):
    with open(os.path.join(svc.data, "log", name), encoding="utf-8", errors="strict") as f:
        return f.read().splitlines()


def parse_all(ls):
    """The lines that are not one JSON object each (with their error)."""
    bad = []
    docs = []
    for l in ls:
        try:
            d = json.loads(l)
            if not isinstance(d, dict):
                raise ValueError("not an object")
            docs.append(d)
        except ValueError as e:
            bad.append((l[:300], str(e)))
    return docs, bad


svc = Service(env={"FILIGRANE_LOG_FORMAT": "json"})
try:
    svc.create_order("ord-j", "s-j", "b-j")
    seller = svc.token("seller", "s-j", "ord-j")
    buyer = svc.token("buyer", "b-j", "ord-j")
    d = svc.upload_done("ord-j", [("a \"quoted\"\nname.png", image("png", 120, 90))],
                        seller).json() or {}
    fid = (d.get("files") or [{}])[0].get("id")
    ok = svc.get("/v1/files/%s/preview" % fid, token=buyer)
    orig = svc.get("/v1/files/%s/original" % fid, token=buyer)
    # A hostile path: a quote, a newline and a brace, decoded by nginx,
    # logged by both.
    evil = svc.get("/v1/files/x%22y%0A%7B%5C/preview", token=buyer)
    nobody = svc.get("/v1/orders/ord-j")
    # nginx writes its access line once the answer is sent, and the worker
    # its line after answering: wait (up to 5 s) for the last request's id
    # in both before reading them.
    last = nobody.header("x-request-id") or ""
    for _ in range(50):
        wl, nl = lines(svc, "worker.log"), lines(svc, "nginx-access.log")
        if last and last in "".join(nl) and last in "".join(wl):
            break
        time.sleep(0.1)
    wdocs, wbad = parse_all(wl)
    ndocs, nbad = parse_all(nl)
    check("every line of the worker's log is one JSON object", wl and not wbad, wbad[:3])
    check("every line of nginx's access log is one JSON object", nl and not nbad, nbad[:3])
    check("worker lines carry time, level and msg",
          all(isinstance(x.get("time"), str) and x.get("level") in ("error", "warn", "info", "debug")
              and isinstance(x.get("msg"), str) for x in wdocs), wdocs[:2])
    check("nginx lines carry time, status, path and the request id",
          all(isinstance(x.get("status"), int) and x.get("request_id") for x in ndocs), ndocs[:2])

    for name, r in (("an allowed preview", ok), ("a refused original", orig),
                    ("a request with no token", nobody)):
        rid = r.header("x-request-id") or ""
        in_nginx = [x for x in ndocs if x.get("request_id") == rid]
        in_worker = [x for x in wdocs if x.get("request_id") == rid]
        check("%s: its X-Request-Id names it in nginx's log and in the worker's" % name,
              len(rid) == 32 and len(in_nginx) == 1 and in_worker
              and in_nginx[0].get("status") == r.status
              and any((x.get("fields") or {}).get("status") == str(r.status) for x in in_worker),
              (rid, in_nginx, in_worker))
    body = orig.json() or {}
    check("an error body's request_id is nginx's X-Request-Id",
          (body.get("error") or {}).get("request_id") == orig.header("x-request-id"), body)

    rid = evil.header("x-request-id")
    w = [x for x in wdocs if x.get("request_id") == rid]
    n = [x for x in ndocs if x.get("request_id") == rid]
    check("a path with a quote, a newline and a backslash stays one line in each log, "
          "read back exactly", len(n) == 1 and n[0].get("path") == '/v1/files/x"y\n{\\/preview'
          and w and (w[-1].get("fields") or {}).get("path") == '/v1/files/x"y\n{\\/preview',
          (n, w))
    check("the JSON lines add no line of their own (one access line per request)",
          len(nl) == len(ndocs))
finally:
    svc.stop()

for value in ("xml", "JSON"):
    env = dict(os.environ, FILIGRANE_LOG_FORMAT=value, FILIGRANE_USER="nobody")
    p = subprocess.run(["sh", os.path.join(TOP, "scripts", "nginx-conf.sh"), "/tmp", "8080",
                        "/tmp/s.sock", "4G"], env=env, capture_output=True, text=True)
    check("nginx-conf.sh refuses FILIGRANE_LOG_FORMAT=%s, naming it" % value,
          p.returncode != 0 and "FILIGRANE_LOG_FORMAT" in p.stderr, p.stderr)
    env = dict(os.environ, FILIGRANE_LOG_FORMAT=value, FILIGRANE_DATA=tempfile.mkdtemp(prefix="filigrane-cfg-"),
               FILIGRANE_JWT_SECRET="x" * 64, FILIGRANE_WEBHOOK_SECRET="whsec_" + "A" * 44)
    p = subprocess.run([os.path.join(BIN, "filigrane-fcgi")], env=env, capture_output=True,
                       text=True, timeout=30)
    check("the worker refuses FILIGRANE_LOG_FORMAT=%s, naming it" % value,
          p.returncode != 0 and "FILIGRANE_LOG_FORMAT" in p.stderr, p.stderr)
finish()
