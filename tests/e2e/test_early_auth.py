"""Uploads are refused before their body is read, and uploads and webhooks
are rate-limited per client.

An attacker with no token (or a buyer's, or a token for another order)
declares a huge body: the refusal must come back before a byte of the body
is sent, and nginx's body temp directory must stay empty. Past the
per-client rate nginx answers 429 with our JSON error, and the worker
stays up.
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import TOP, Service, check, finish, body_files, read_final  # noqa: E402

RATE_UPLOADS = 3
RATE_WEBHOOKS = 4


def raw_head(svc, path, token=None, length=1 << 30, expect=True, ctype="application/octet-stream"):
    """Opens a connection and sends only the request head of a POST that
    announces `length` body bytes."""
    s = socket.create_connection(("127.0.0.1", svc.port))
    head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
        path, ctype, length)
    if token:
        head += "Authorization: Bearer %s\r\n" % token
    if expect:
        head += "Expect: 100-continue\r\n"
    s.sendall((head + "\r\n").encode())
    return s


def error_code(body):
    import json
    try:
        return (json.loads(body).get("error") or {}).get("code")
    except ValueError:
        return None


svc = Service(env={"FILIGRANE_RATE_UPLOADS": "1000000"})
try:
    svc.create_order("ord-e", "s-e", "b-e")
    svc.create_order("ord-other", "s-o", "b-o")
    svc.create_order("ord-done", "s-e2", "b-e2")
    svc.hook("order.accepted", {"order_id": "ord-done"})
    seller = svc.token("seller", "s-e", "ord-e")
    cases = [
        ("an upload with no token", None, "ord-e", 401, "unauthorized"),
        ("an upload with a bad token", seller[:-4] + "AAAA", "ord-e", 401, "unauthorized"),
        ("an upload with an expired token", svc.token("seller", "s-e", "ord-e", ttl=-120),
         "ord-e", 401, "unauthorized"),
        ("an upload with the buyer's token", svc.token("buyer", "b-e", "ord-e"), "ord-e", 403,
         "not_seller"),
        ("an upload with another order's seller token", svc.token("seller", "s-o", "ord-other"),
         "ord-e", 403, "wrong_order"),
        ("an upload by someone else named as seller", svc.token("seller", "s-x", "ord-e"),
         "ord-e", 403, "not_party"),
        ("an upload to an order that does not exist", svc.token("seller", "s-e", "ord-none"),
         "ord-none", 404, "not_found"),
        ("an upload to an accepted order", svc.token("seller", "s-e2", "ord-done"),
         "ord-done", 409, "wrong_state"),
    ]
    for name, token, order, status, code in cases:
        # Expect: 100-continue and 1 GiB announced; nothing of it is sent.
        s = raw_head(svc, "/v1/orders/%s/deliveries?filename=x.bin" % order, token)
        got, head, body = read_final(s)
        spooled = body_files(svc)
        s.close()
        check("%s (Expect: 100-continue, 1 GiB announced) is answered %d before the body is "
              "sent" % (name, status), got == status, (got, head, body))
        check("%s: the answer is our JSON error %s" % (name, code),
              error_code(body) == code and b"request_id" in body, body)
        check("%s: nothing is spooled to nginx's body directory" % name, not spooled, spooled)

    # No Expect: a client that just starts sending a large body slowly.
    s = raw_head(svc, "/v1/orders/ord-e/deliveries?filename=x.bin", None, expect=False)
    s.sendall(b"\0" * 65536)
    got, head, body = read_final(s)
    spooled = body_files(svc)
    sent_after = 0
    try:
        for _ in range(64):  # 4 MiB more after the refusal: discarded, not written
            s.sendall(b"\0" * 65536)
            sent_after += 65536
    except OSError:
        pass
    time.sleep(0.2)
    spooled += body_files(svc)
    s.close()
    check("a slow 1 GiB upload with no token is answered 401 after 64 KiB of it",
          got == 401, (got, head))
    check("the slow unauthenticated upload leaves nothing in nginx's body directory",
          not spooled, spooled)

    # The seller's own upload still works, with and without Expect.
    s = raw_head(svc, "/v1/orders/ord-e/deliveries?filename=hello.txt", seller, length=12)
    s.settimeout(10)
    interim = s.recv(4096)
    check("a valid seller upload with Expect: 100-continue is asked for its body",
          interim.startswith(b"HTTP/1.1 100"), interim)
    s.sendall(b"hello world\n")
    got, head, body = read_final(s)
    s.close()
    check("the valid seller upload is then taken (201)", got == 201, (got, head, body))
    r = svc.upload("ord-e", [("a.txt", b"multipart works\n")], seller)
    check("a valid seller multipart upload is taken (201)", r.status == 201, r)
    r = svc.request("POST", "/v1/orders/ord-e/deliveries?filename=q.txt&token=" + seller,
                    body=b"token in the query\n",
                    headers={"Content-Type": "application/octet-stream"})
    check("the early check reads ?token= as the handler does (seller: 201)", r.status == 201, r)
    r = svc.request("POST", "/v1/orders/ord-e/deliveries?filename=q.txt&token="
                    + svc.token("buyer", "b-e", "ord-e"), body=b"buyer\n",
                    headers={"Content-Type": "application/octet-stream"})
    check("a buyer's ?token= is refused early (403 not_seller)",
          r.status == 403 and error_code(r.body) == "not_seller", r)
    r = svc.get("/v1/orders/ord-e/deliveries", token=seller)
    check("another method on the deliveries path answers 405 JSON with Allow: POST",
          r.status == 405 and error_code(r.body) == "method_not_allowed"
          and r.header("allow") == "POST", r)
    s = socket.create_connection(("127.0.0.1", svc.port))
    s.sendall(b"PUT /v1/orders/ord-e/deliveries HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n")
    got, head, body = read_final(s)
    spooled = body_files(svc)
    s.close()
    check("a PUT of 1 GiB to the deliveries path is refused (405) before its body, nothing "
          "spooled", got == 405 and not spooled, (got, head, spooled))
    # Webhooks: signed over the body, so read first, but never spooled.
    r = svc.hook("order.unknown", {"order_id": "ord-e", "pad": "x" * 70000})
    check("a webhook body over 64 KiB is refused by nginx with 413 JSON",
          r.status == 413 and error_code(r.body) == "too_large", r)
    r = svc.hook("order.unknown", {"order_id": "ord-e", "pad": "x" * 60000})
    check("a 60 KB webhook is still taken", r.status == 200, r)
    s = raw_head(svc, "/v1/hooks/orders", None, length=60000, expect=False,
                 ctype="application/json")
    s.sendall(b"{" + b" " * 40000)
    time.sleep(0.3)
    spooled = body_files(svc)
    s.close()
    check("a webhook body being received is held in memory, not spooled", not spooled, spooled)
    r = svc.get("/_auth/deliveries")
    check("the internal auth location cannot be reached from outside", r.status == 404, r)
    r = svc.get("/_auth/v1/orders/ord-e/deliveries")
    check("the worker's auth route cannot be reached from outside", r.status == 404, r)
finally:
    svc.stop()

# Rates at their edges: RATE requests from one client go through at once,
# the next one is 429 with our JSON error; another client is not affected.
svc = Service(env={"FILIGRANE_RATE_UPLOADS": str(RATE_UPLOADS),
                   "FILIGRANE_RATE_WEBHOOKS": str(RATE_WEBHOOKS)})
try:
    # Webhooks first, so order.created is among the counted requests.
    statuses = [svc.create_order("ord-r", "s-r", "b-r").status]
    statuses += [svc.hook("order.unknown", {"order_id": "ord-r"}).status
                 for _ in range(RATE_WEBHOOKS - 1)]
    check("%d webhooks from one client in a burst are applied" % RATE_WEBHOOKS,
          statuses == [200] * RATE_WEBHOOKS, statuses)
    r = svc.hook("order.unknown", {"order_id": "ord-r"})
    check("webhook number %d is answered 429 rate_limited (JSON)" % (RATE_WEBHOOKS + 1),
          r.status == 429 and error_code(r.body) == "rate_limited", r)

    seller = svc.token("seller", "s-r", "ord-r")
    statuses = [svc.upload("ord-r", [("f%d.txt" % i, b"file %d\n" % i)], seller).status
                for i in range(RATE_UPLOADS - 1)]
    statuses.append(svc.upload("ord-r", [("x.txt", b"x")], None).status)  # refused ones count
    check("%d uploads from one client in a burst are not rate-limited" % RATE_UPLOADS,
          statuses == [201] * (RATE_UPLOADS - 1) + [401], statuses)
    r = svc.upload("ord-r", [("over.txt", b"over\n")], seller)
    check("upload number %d is answered 429 rate_limited (JSON) with Retry-After"
          % (RATE_UPLOADS + 1),
          r.status == 429 and error_code(r.body) == "rate_limited" and r.header("retry-after"), r)
    # nginx removes an accepted upload's body file as it finalizes that
    # request, which may be just after its 201 reached us: let the earlier
    # uploads' files go first, so that only this request could add one.
    before = body_files(svc)
    for _ in range(50):
        if not before:
            break
        time.sleep(0.1)
        before = body_files(svc)
    s = raw_head(svc, "/v1/orders/ord-r/deliveries?filename=x.bin", seller)
    got, head, body = read_final(s)
    spooled = [f for f in body_files(svc) if f not in before]
    s.close()
    check("a rate-limited upload is refused before its body, nothing spooled",
          got == 429 and not spooled, (got, head, spooled))

    # Another client (another loopback address) has its own allowance.
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=30,
                                      source_address=("127.0.0.2", 0))
    try:
        conn.request("POST", "/v1/orders/ord-r/deliveries?filename=y.txt", body=b"other client\n",
                     headers={"Authorization": "Bearer " + seller,
                              "Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        resp.read()
        check("another client is not limited by the first one's uploads", resp.status == 201,
              resp.status)
    except OSError as e:
        check("another client is not limited by the first one's uploads", False, e)
    finally:
        conn.close()

    r = svc.get("/v1/orders/ord-r", token=seller)
    n = len((r.json() or {}).get("deliveries", []))
    check("the rate-limited upload recorded nothing (%d deliveries)" % RATE_UPLOADS,
          r.status == 200 and n == RATE_UPLOADS - 1 + 1, r)
    check("the worker is still up after the 429s", svc.get("/healthz").status == 200)
finally:
    svc.stop()

# A bad rate stops the service before it starts, naming the variable.
for var, value in (("FILIGRANE_RATE_UPLOADS", "0"), ("FILIGRANE_RATE_WEBHOOKS", "ten"),
                   ("FILIGRANE_RATE_UPLOADS", "1000001")):
    env = dict(os.environ)
    env[var] = value
    env["FILIGRANE_USER"] = "nobody"  # as root, nginx's workers need a user
    p = subprocess.run(["sh", os.path.join(TOP, "scripts", "nginx-conf.sh"), "/tmp", "8080",
                        "/tmp/s.sock", "4G"], env=env, capture_output=True, text=True)
    check("%s=%s is refused with a message naming it" % (var, value),
          p.returncode != 0 and var in p.stderr, p.stderr)
for var, value, want in (("FILIGRANE_RATE_UPLOADS", "1", "rate=1r/m"),
                         ("FILIGRANE_RATE_WEBHOOKS", "1000000", "rate=1000000r/m")):
    env = dict(os.environ)
    env[var] = value
    env["FILIGRANE_USER"] = "nobody"  # as root, nginx's workers need a user
    p = subprocess.run(["sh", os.path.join(TOP, "scripts", "nginx-conf.sh"), "/tmp", "8080",
                        "/tmp/s.sock", "4G"], env=env, capture_output=True, text=True)
    check("%s=%s (an edge) is written into the nginx configuration" % (var, value),
          p.returncode == 0 and want in p.stdout, p.stderr)
finish()
