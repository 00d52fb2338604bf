"""Evidence bundle benchmark: one order whose chain holds 10,000 entries
(the order's webhook, then download entries appended straight to the
SQLite trail with their correct hashes, which is what 10,000 downloads
would leave), served by the real nginx and worker: the time of
GET /v1/orders/{order}/evidence (read in pages of 2,000, every entry
re-hashed by the worker, streamed, then signed), its size, and the time of
`filigrane evidence verify` on it. Prints a Markdown section."""
import hashlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from service import BIN, Service  # noqa: E402

N = int(os.environ.get("BENCH_EVIDENCE_ENTRIES", "10000"))


def ns(s):
    b = s.encode()
    return b"%d:%s," % (len(b), b)


svc = Service()
try:
    svc.create_order("bench-ev", "s-1", "b-1")
    db = sqlite3.connect(os.path.join(svc.data, "filigrane.db"), timeout=30)
    seq, prev = db.execute("SELECT seq, hash FROM audit_heads WHERE chain = 'bench-ev'").fetchone()
    rows = []
    at = "2026-11-28T12:00:00.000Z"
    for s in range(seq + 1, N + 1):
        detail = '{"file_id":"f%032x","bytes":%d,"range":"bytes=0-"}' % (s, 1000 + s)
        h = hashlib.sha256(b"filigrane-audit-v2\n" + ns("bench-ev") + ns(str(s)) + ns(at)
                           + ns("buyer:b-1") + ns("file.downloaded") + ns(detail)
                           + ns(prev)).hexdigest()
        rows.append(("bench-ev", "bench-ev", s, at, "buyer:b-1", "file.downloaded", detail, prev,
                     h))
        prev = h
    with db:
        db.executemany("INSERT INTO audit (order_id, chain, chain_seq, at, actor, action, detail, "
                       "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        db.execute("UPDATE audit_heads SET seq = ?, hash = ? WHERE chain = 'bench-ev'", (N, prev))
    db.close()
    tok = svc.token("buyer", "b-1", "bench-ev")
    times = []
    body = b""
    for _ in range(7):
        t0 = time.perf_counter()
        r = svc.get("/v1/orders/bench-ev/evidence", token=tok)
        times.append(time.perf_counter() - t0)
        body = r.body
    assert r.status == 200 and body.endswith(b"}"), r
    work = tempfile.mkdtemp(prefix="filigrane-bench-ev-")
    path = os.path.join(work, "bundle.json")
    with open(path, "wb") as f:
        f.write(body)
    vt = []
    for _ in range(3):
        t0 = time.perf_counter()
        p = subprocess.run([os.path.join(BIN, "filigrane"), "evidence", "verify", path],
                           capture_output=True, text=True)
        vt.append(time.perf_counter() - t0)
    assert p.returncode == 0 and "%d entries" % N in p.stdout, p
    os.unlink(path)
    os.rmdir(work)
finally:
    svc.stop()

print("### Evidence bundle (`bench/evidence.sh`; real nginx and worker, SQLite)")
print()
print("| order of %d entries | median | min |" % N)
print("|---|---|---|")
print("| `GET /v1/orders/{order}/evidence` (read, re-hash, stream, sign; %.1f MB) | %.0f ms | %.0f ms |"
      % (len(body) / 1e6, statistics.median(times) * 1e3, min(times) * 1e3))
print("| `filigrane evidence verify` (parse, re-hash, check the signature) | %.0f ms | %.0f ms |"
      % (statistics.median(vt) * 1e3, min(vt) * 1e3))
