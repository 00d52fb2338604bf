"""Smaller hardening, end to end: log lines cannot be forged from a path,
webhooks that repeat a JSON key are refused, the audit trail comes in
pages, names shown to people carry no bidi controls, and `make run` never
prints a secret it was given."""
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, TOP, Service, check, finish, free_port  # noqa: E402

N_FILES = 520  # more than one default page (500) of audit entries

svc = Service(env={"FILIGRANE_MAX_FILES": "600"})
try:
    # ---- the log: one line per request, values escaped ----
    r = svc.get("/v1/x%0Ats=2026-01-01T00:00:00Z%20level=error%20forged%22%5C")
    check("a path holding %0A is answered (404), not crashed", r.status == 404, r)
    log = open(os.path.join(svc.data, "log", "worker.log"), errors="replace").read()
    lines = [l for l in log.splitlines() if "forged" in l]
    check("the request with %0A and %22 in its path is one line of the worker's log",
          len(lines) == 1, lines)
    check("no log line starts with the forged text",
          not any(l.startswith("ts=2026-01-01") for l in log.splitlines()), lines)
    check("the path is logged with \\n, \\\" and \\\\ escaped",
          lines and 'path="/v1/x\\nts=2026-01-01T00:00:00Z level=error forged\\"\\\\"' in lines[0],
          lines)

    # ---- webhooks: a repeated JSON key is refused ----
    body = (b'{"type":"order.created","type":"order.accepted","timestamp":"2026-11-22T10:00:00Z",'
            b'"data":{"order_id":"ord-dup","seller_id":"s","buyer_id":"b"}}')
    r = svc.hook(None, None, body=body)
    check("a signed webhook repeating \"type\" is refused with 400", r.status == 400, r)
    body = (b'{"type":"order.created","timestamp":"2026-11-22T10:00:00Z",'
            b'"data":{"order_id":"ord-dup","order_id":"ord-dup2","seller_id":"s","buyer_id":"b"}}')
    r = svc.hook(None, None, body=body)
    check("a signed webhook repeating data.order_id is refused with 400", r.status == 400, r)
    admin = svc.token("admin", "ops")
    check("neither duplicate-key webhook created an order",
          svc.get("/v1/orders/ord-dup", token=admin).status == 404
          and svc.get("/v1/orders/ord-dup2", token=admin).status == 404)

    # ---- the audit trail in pages ----
    svc.create_order("ord-a", "s-a", "b-a")
    seller = svc.token("seller", "s-a", "ord-a")
    buyer = svc.token("buyer", "b-a", "ord-a")
    r = svc.upload("ord-a", [("f%03d.bin" % i, b"\x00file %d\n" % i) for i in range(N_FILES)], seller)
    check("a delivery of %d files is taken" % N_FILES, r.status == 201, r)
    svc.create_order("ord-b", "s-b", "b-b")  # interleaves nothing into ord-a's pages

    def page(query, token=buyer):
        return svc.get("/v1/orders/ord-a/audit" + query, token=token)

    r = page("")
    doc = r.json() or {}
    n_total = N_FILES + 2  # order.created, delivery.created, file.uploaded x N
    check("the first page holds the default 500 entries and a next",
          r.status == 200 and len(doc.get("entries", [])) == 500 and "next" in doc, r)
    seen, after, pages = [], None, 0
    while pages < 100:
        r = page("" if after is None else "?after=%d" % after)
        d = r.json() or {}
        seen += [e["seq"] for e in d.get("entries", [])]
        pages += 1
        if "next" not in d:
            break
        after = d["next"]
    check("walking the pages with the default limit gives every entry once, in order "
          "(%d entries, %d pages)" % (n_total, pages),
          len(seen) == n_total and seen == sorted(set(seen)) and pages == 2, (len(seen), pages))
    seen2, after = [], 0
    for _ in range(200):
        d = page("?after=%d&limit=7" % after).json() or {}
        seen2 += [e["seq"] for e in d.get("entries", [])]
        if "next" not in d:
            break
        check_next = d["next"] == d["entries"][-1]["seq"]
        if not check_next:
            break
        after = d["next"]
    check("walking with limit=7 gives the same entries, no gap, no repeat", seen2 == seen,
          (len(seen2), len(seen)))
    # Chained: each entry's prev_hash is the previous hash across page edges.
    d1 = page("?limit=3").json() or {}
    d2 = page("?after=%d&limit=3" % d1.get("next", 0)).json() or {}
    check("entries chain across a page edge (seq order, hashes present)",
          d1.get("entries") and d2.get("entries")
          and d2["entries"][0]["seq"] > d1["entries"][-1]["seq"]
          and all("hash" in e and "prev_hash" in e for e in d1["entries"] + d2["entries"]),
          (d1, d2))
    r = page("?limit=1")
    check("limit=1 (the lower edge) answers one entry and a next",
          r.status == 200 and len((r.json() or {}).get("entries", [])) == 1
          and "next" in (r.json() or {}), r)
    r = page("?limit=5000")
    check("limit=5000 (the upper edge) answers the whole trail with no next",
          r.status == 200 and len((r.json() or {}).get("entries", [])) == n_total
          and "next" not in (r.json() or {}), r)
    r = page("?limit=%d" % n_total)
    check("a page that ends exactly at the last entry carries no next",
          r.status == 200 and "next" not in (r.json() or {}), r)
    for q in ("?limit=0", "?limit=5001", "?limit=abc", "?limit=", "?limit=-1",
              "?after=-1", "?after=x", "?after=99999999999999999999999999",
              "?limit=1%00"):
        r = page(q)
        check("audit %s answers 400 JSON" % q,
              r.status == 400 and ((r.json() or {}).get("error") or {}).get("code"), r)
    r = page("?after=%d" % seen[-1])
    check("after the last entry: an empty page, no next",
          r.status == 200 and (r.json() or {}).get("entries") == [] and "next" not in r.json(), r)
    r = svc.get("/v1/orders/ord-b/audit?limit=1", token=buyer)
    check("a token for another order still gets 403 on its audit pages", r.status == 403, r)
    p = subprocess.run([os.path.join(BIN, "filigrane"), "audit", "verify", "--data", svc.data],
                       capture_output=True, text=True)
    check("filigrane audit verify still walks the whole chain", p.returncode == 0,
          p.stdout + p.stderr)

    # ---- names with bidi controls ----
    rlo = "invoice\u202egpj.exe"
    r = svc.upload("ord-a", [(rlo, b"MZ not really\n")], seller)
    f = ((r.json() or {}).get("files") or [{}])[0]
    check("a file named with U+202E is taken; its JSON name is the stored name",
          r.status == 201 and f.get("name") == rlo, r)
    r = svc.get("/v1/files/%s/original" % f.get("id"), token=seller)
    cd = r.header("content-disposition") or ""
    check("its Content-Disposition holds no bidi control, U+FFFD in its place",
          r.status == 200 and "\u202e" not in cd and "%E2%80%AE" not in cd.upper()
          and "invoice%EF%BF%BDgpj.exe" in cd, cd)
    r = svc.get("/v1/orders/ord-a", token=seller)
    number = max(d["number"] for d in (r.json() or {}).get("deliveries", [{"number": 0}]))
    r = svc.get("/v1/orders/ord-a/deliveries/%d/archive" % number, token=seller)
    names = []
    try:
        names = zipfile.ZipFile(io.BytesIO(r.body)).namelist()
    except zipfile.BadZipFile:
        pass
    check("the originals zip names the entry without its bidi control",
          r.status == 200 and len(names) == 1 and "\u202e" not in names[0]
          and names[0].startswith("invoice"), names)
finally:
    svc.stop()


# ---- `make run` prints only the secrets it made itself ----
def run_sh_output(env_extra):
    data = tempfile.mkdtemp(prefix="filigrane-run-")
    os.chmod(data, 0o755)
    env = dict(os.environ)
    for k in ("FILIGRANE_JWT_SECRET", "FILIGRANE_WEBHOOK_SECRET", "FILIGRANE_QUIET"):
        env.pop(k, None)
    env.update({"FILIGRANE_DATA": data, "FILIGRANE_PORT": str(free_port()),
                "FILIGRANE_BIN": BIN})
    env.update(env_extra)
    p = subprocess.Popen([os.path.join(TOP, "scripts", "run.sh")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    out = b""
    deadline = time.time() + 60
    os.set_blocking(p.stdout.fileno(), False)
    while time.time() < deadline and b"logs:" not in out and p.poll() is None:
        try:
            chunk = p.stdout.read()
        except BlockingIOError:
            chunk = None
        if chunk:
            out += chunk
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGTERM)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    secrets = open(os.path.join(data, "secrets.env")).read()
    shutil.rmtree(data, ignore_errors=True)
    return out.decode(errors="replace"), secrets


mine_jwt = "env-jwt-" + os.urandom(16).hex()
mine_hook = "whsec_" + __import__("base64").b64encode(os.urandom(32)).decode()
out, secrets = run_sh_output({"FILIGRANE_JWT_SECRET": mine_jwt,
                              "FILIGRANE_WEBHOOK_SECRET": mine_hook})
check("make run started with secrets from the environment", "logs:" in out, out)
check("make run does not print a JWT secret from the environment", mine_jwt not in out, out)
check("make run does not print a webhook secret from the environment",
      mine_hook not in out and mine_hook[6:] not in out, out)
check("and says where they came from", "from the environment" in out, out)
out, secrets = run_sh_output({})
gen = dict(l.split("=", 1) for l in secrets.splitlines() if "=" in l)
check("make run prints the development secrets it generated itself",
      gen.get("FILIGRANE_JWT_SECRET", "?") in out and gen.get("FILIGRANE_WEBHOOK_SECRET", "?") in out,
      out)
finish()
