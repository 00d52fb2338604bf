"""Idempotency-Key on deliveries (IETF draft-ietf-httpapi-idempotency-key-
header): a retried upload answers the first delivery and records no second
one; the same key with other content answers 422; a key held by a request
in flight answers 409; keys are scoped to the seller and the order and
expire after FILIGRANE_IDEMPOTENCY_TTL (24 h)."""
import os
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, Service, check, finish  # noqa: E402

# A pass of the maintenance loop every second: expired keys go quickly.
svc = Service(env={"FILIGRANE_BLOB_GC_INTERVAL": "1"})
try:
    svc.create_order("ord-i", "s-i", "b-i")
    svc.create_order("ord-j", "s-i", "b-i")
    seller = svc.token("seller", "s-i", "ord-i")
    seller_j = svc.token("seller", "s-i", "ord-j")
    admin = svc.token("admin", "ops")
    db = os.path.join(svc.data, "filigrane.db")

    def deliveries(order="ord-i"):
        r = svc.get("/v1/orders/" + order, token=admin)
        return (r.json() or {}).get("deliveries", [])

    def code(r):
        return ((r.json() or {}).get("error") or {}).get("code")

    def up(files, key=None, message="v1", order="ord-i", token=None):
        h = {"Idempotency-Key": key} if key is not None else {}
        boundary = "b-" + os.urandom(8).hex()  # a retry has a new boundary
        parts = [("--%s\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\n%s\r\n"
                  % (boundary, message)).encode()]
        for name, data in files:
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                          "filename=\"%s\"\r\n\r\n" % (boundary, name)).encode() + data + b"\r\n")
        body = b"".join(parts) + ("--%s--\r\n" % boundary).encode()
        h["Content-Type"] = "multipart/form-data; boundary=" + boundary
        return svc.request("POST", "/v1/orders/%s/deliveries" % order, body=body,
                           token=token or seller, headers=h)

    def sql(q, args=()):
        c = sqlite3.connect(db, timeout=10)
        try:
            cur = c.execute(q, args)
            rows = cur.fetchall()
            c.commit()
            return rows
        finally:
            c.close()

    files = [("a.bin", b"first file " * 100), ("b.bin", b"second file " * 100)]
    r1 = up(files, key="k-123e4567")
    check("an upload with an Idempotency-Key answers 201", r1.status == 201, r1)
    r2 = up(files, key="k-123e4567")
    check("its retry (same key, same message and files, new boundary) answers 201",
          r2.status == 201, r2)
    n1, n2 = (r1.json() or {}).get("number"), (r2.json() or {}).get("number")
    check("the retry answers the first delivery's number", n1 == 1 and n2 == n1, (n1, n2))
    ids1 = [f["id"] for f in (r1.json() or {}).get("files", [])]
    ids2 = [f["id"] for f in (r2.json() or {}).get("files", [])]
    check("the retry answers the first delivery's files", ids1 and ids1 == ids2, (ids1, ids2))
    check("the order holds one delivery after the retry", len(deliveries()) == 1, deliveries())
    r = up(files, key='"k-123e4567"')
    check("the key as a quoted sf-string is the same key",
          r.status == 201 and (r.json() or {}).get("number") == 1 and len(deliveries()) == 1, r)

    r = up(files, key="k-123e4567", message="v2")
    check("the same key with another message answers 422 idempotency_key_reused",
          r.status == 422 and code(r) == "idempotency_key_reused", r)
    r = up([files[0], ("b.bin", b"changed")], key="k-123e4567")
    check("the same key with another file's content answers 422",
          r.status == 422 and code(r) == "idempotency_key_reused", r)
    r = up([files[1], files[0]], key="k-123e4567")
    check("the same key with the files in another order answers 422", r.status == 422, r)
    r = up([("renamed.bin", files[0][1]), files[1]], key="k-123e4567")
    check("the same key with a file renamed answers 422", r.status == 422, r)
    check("refused retries record no delivery", len(deliveries()) == 1, deliveries())

    r = up(files)
    r2 = up(files)
    check("without a key, the same upload twice makes two deliveries",
          r.status == 201 and r2.status == 201 and len(deliveries()) == 3, deliveries())

    r = up(files, key="k-123e4567", order="ord-j", token=seller_j)
    check("the same key on another order makes that order's own delivery",
          r.status == 201 and (r.json() or {}).get("number") == 1
          and len(deliveries("ord-j")) == 1, r)
    # Another seller: the key's row is scoped by the seller id too.
    sql("UPDATE orders SET seller_id = 's-other' WHERE id = 'ord-j'")
    other = svc.token("seller", "s-other", "ord-j")
    r = up(files, key="k-123e4567", order="ord-j", token=other)
    check("the same key from another seller of that order is another key",
          r.status == 201 and (r.json() or {}).get("number") == 2, r)

    for bad, why in (("", "empty"), ("x" * 256, "256 bytes"), ("a b", "a space"),
                     ("é", "non-ASCII"), ('a"b', "a quote")):
        r = up(files, key=bad)
        check("an Idempotency-Key with %s answers 400 bad_idempotency_key" % why,
              r.status == 400 and code(r) == "bad_idempotency_key", r)
    r = up(files, key="x" * 255)
    check("an Idempotency-Key of 255 bytes is taken", r.status == 201, r)
    count = len(deliveries())

    # A request in flight holds its key: a concurrent one is refused.
    now = int(time.time())
    sql("INSERT INTO idempotency_keys(seller_id, order_id, key, token, claimed_at)"
        " VALUES ('s-i', 'ord-i', 'k-busy', 'ffffffffffffffffffffffffffffffff', ?)", (now,))
    r = up(files, key="k-busy")
    check("a key held by a request in flight answers 409 idempotency_key_in_use",
          r.status == 409 and code(r) == "idempotency_key_in_use"
          and len(deliveries()) == count, r)
    # A claim whose request died (older than the 900 s lease) is taken over.
    sql("UPDATE idempotency_keys SET claimed_at = ? WHERE key = 'k-busy'", (now - 901,))
    r = up(files, key="k-busy")
    check("a key held past the lease by a dead request is taken over (201)",
          r.status == 201 and len(deliveries()) == count + 1, r)
    count += 1

    # A failed upload (an empty file) releases its key: the retry is served.
    r = up([("empty.bin", b"")], key="k-fail")
    r2 = up(files, key="k-fail")
    check("a refused upload leaves its key free for a corrected retry",
          r.status == 400 and r2.status == 201 and len(deliveries()) == count + 1, (r, r2))
    count += 1

    # Parallel retries (a client that fires again before the first
    # answer): one delivery whatever the interleaving; every answer is
    # that delivery (201) or "still in flight" (409).
    import threading
    big = [("r%d.bin" % i, os.urandom(300000)) for i in range(3)]
    answers = []

    def fire():
        answers.append(up(big, key="k-race"))
    threads = [threading.Thread(target=fire) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    nums = {(a.json() or {}).get("number") for a in answers if a.status == 201}
    statuses = sorted(a.status for a in answers)
    check("6 parallel uploads with one key make one delivery; the others answer it or 409",
          len(deliveries()) == count + 1 and len(nums) == 1 and statuses.count(201) >= 1
          and set(statuses) <= {201, 409}, (statuses, nums))
    count += 1
    r = up(big, key="k-race")
    check("after the race, the key answers the one delivery",
          r.status == 201 and (r.json() or {}).get("number") in nums, r)

    # Lifetime: 24 h by default, at its edge.
    sql("UPDATE idempotency_keys SET claimed_at = ? WHERE key = 'k-123e4567'"
        " AND order_id = 'ord-i'", (int(time.time()) - 86400 + 120,))
    r = up(files, key="k-123e4567")
    check("a key used 23 h 58 min ago still answers its delivery",
          r.status == 201 and (r.json() or {}).get("number") == 1
          and len(deliveries()) == count, r)
    sql("UPDATE idempotency_keys SET claimed_at = ? WHERE key = 'k-123e4567'"
        " AND order_id = 'ord-i'", (int(time.time()) - 86400,))
    r = up(files, key="k-123e4567", message="v2")
    check("a key used 24 h ago is a new key: a new delivery",
          r.status == 201 and (r.json() or {}).get("number") == count + 1, r)
    count += 1

    sql("INSERT INTO idempotency_keys(seller_id, order_id, key, token, claimed_at)"
        " VALUES ('s-i', 'ord-i', 'k-old', 'ffffffffffffffffffffffffffffffff', ?)",
        (int(time.time()) - 86401,))
    deadline = time.time() + 10
    while time.time() < deadline and sql("SELECT 1 FROM idempotency_keys WHERE key = 'k-old'"):
        time.sleep(0.2)
    check("the maintenance loop deletes keys past their lifetime",
          not sql("SELECT 1 FROM idempotency_keys WHERE key = 'k-old'")
          and sql("SELECT 1 FROM idempotency_keys WHERE key = 'k-busy'"))
finally:
    svc.stop()

# FILIGRANE_IDEMPOTENCY_TTL: 1 s to 7 d; a bad value stops the worker at
# start with a message naming the variable.
for value, ok in (("0", False), ("8d", False), ("7d", True), ("1", True)):
    p = subprocess.run([os.path.join(BIN, "filigrane-fcgi")], capture_output=True, text=True,
                       env={"FILIGRANE_IDEMPOTENCY_TTL": value, "PATH": os.environ["PATH"]},
                       timeout=20)
    named = "FILIGRANE_IDEMPOTENCY_TTL" in p.stderr
    check("FILIGRANE_IDEMPOTENCY_TTL=%s is %s" % (value, "accepted" if ok else
                                                 "refused, naming the variable"),
          (not named) if ok else (p.returncode != 0 and named), p.stderr)

# A short lifetime set by the operator applies.
svc = Service(env={"FILIGRANE_IDEMPOTENCY_TTL": "2s"})
try:
    svc.create_order("ord-t", "s-t", "b-t")
    tok = svc.token("seller", "s-t", "ord-t")
    r1 = svc.upload("ord-t", [("a.bin", b"abc" * 50)], tok)
    h = {"Idempotency-Key": "short"}
    a = svc.request("POST", "/v1/orders/ord-t/deliveries?filename=x.bin", body=b"xyz" * 50,
                    token=tok, headers=dict(h, **{"Content-Type": "application/octet-stream"}))
    b = svc.request("POST", "/v1/orders/ord-t/deliveries?filename=x.bin", body=b"xyz" * 50,
                    token=tok, headers=dict(h, **{"Content-Type": "application/octet-stream"}))
    time.sleep(2.2)
    c = svc.request("POST", "/v1/orders/ord-t/deliveries?filename=x.bin", body=b"xyz" * 50,
                    token=tok, headers=dict(h, **{"Content-Type": "application/octet-stream"}))
    nums = [(x.json() or {}).get("number") for x in (a, b, c)]
    check("a raw upload's retry within FILIGRANE_IDEMPOTENCY_TTL=2s answers the same delivery,"
          " after it a new one", nums == [2, 2, 3], nums)
finally:
    svc.stop()
finish()
