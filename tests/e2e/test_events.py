"""Events we send: a real HTTP receiver in this process gets order.released,
delivery.ready, file.previewed and file.downloaded from the worker's
outbox, each signed with Standard Webhooks headers; a failed try is retried
with the same webhook-id; nothing is sent twice after a 2xx; and events
recorded while the receiver is down are delivered once it is up."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, free_port, image  # noqa: E402

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


class Receiver:
    """The order system's endpoint: records every request; answers 500 to
    the first try of each event whose type is in fail_first, 200 otherwise."""

    def __init__(self, port, fail_first=()):
        self.port = port
        self.fail_first = set(fail_first)
        self.failed_ids = set()
        self.got = []  # dicts: id, ts, sig, ctype, body, status
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    kind = json.loads(body).get("type")
                except ValueError:
                    kind = None
                wid = self.headers.get("webhook-id")
                with rec.lock:
                    status = 200
                    if kind in rec.fail_first and wid not in rec.failed_ids:
                        rec.failed_ids.add(wid)
                        status = 500
                    rec.got.append({"id": wid, "ts": self.headers.get("webhook-timestamp"),
                                    "sig": self.headers.get("webhook-signature"),
                                    "ctype": self.headers.get("Content-Type"),
                                    "body": body, "type": kind, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def requests(self):
        with self.lock:
            return list(self.got)

    def delivered(self, kind):
        return [g for g in self.requests() if g["type"] == kind and g["status"] == 200]

    def wait_for(self, kinds, seconds=15):
        deadline = time.time() + seconds
        while time.time() < deadline:
            # all() of nothing is True: waiting for no kind is a mistake.
            if kinds and all(self.delivered(k) for k in kinds):
                return True
            time.sleep(0.1)
        return False


def signed_ok(svc, g):
    """Verifies a request as the order system would (Standard Webhooks)."""
    try:
        ts = int(g["ts"])
    except (TypeError, ValueError):
        return False
    if not g["id"] or abs(time.time() - ts) > 300:
        return False
    mac = hmac.new(svc.hook_key, ("%s.%d." % (g["id"], ts)).encode() + g["body"],
                   hashlib.sha256).digest()
    want = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(s, want) for s in (g["sig"] or "").split(" "))


def outbox_rows(svc):
    db = sqlite3.connect("file:%s/filigrane.db?mode=ro" % svc.data, uri=True, timeout=5)
    try:
        return db.execute("SELECT id, type, state, attempts, last_error FROM outbox"
                          " ORDER BY id").fetchall()
    finally:
        db.close()


# ---- the story, with a receiver that fails order.released once ----

port = free_port()
rx = Receiver(port, fail_first=("order.released",))
svc = Service(env={"FILIGRANE_EVENTS_URL": "http://127.0.0.1:%d/events" % port,
                   "FILIGRANE_EVENTS_RETRY_SCALE": "1000"})
try:
    photo = image("jpg", 320, 240)
    seller = svc.token("seller", "s-1", "ord-ev")
    buyer = svc.token("buyer", "b-1", "ord-ev")
    svc.create_order("ord-ev", "s-1", "b-1")
    r = svc.upload_done("ord-ev", [("cover.jpg", photo)], seller)
    check("the delivery is uploaded", r.status == 201, r)
    f = ((r.json() or {}).get("files") or [{}])[0]
    for _ in range(2):
        r = svc.get("/v1/files/%s/preview" % f.get("id"), token=buyer)
    check("the buyer views the preview twice", r.status == 200, r)
    r = svc.hook("order.accepted", {"order_id": "ord-ev"})
    check("the order is accepted", r.status == 200, r)
    r = svc.get("/v1/files/%s/original" % f.get("id"), token=buyer)
    check("the buyer downloads the original", r.status == 200 and r.body == photo, r)

    kinds = ("order.released", "delivery.ready", "file.previewed", "file.downloaded")
    check("the receiver gets all four events within 15 s", rx.wait_for(kinds),
          [(g["type"], g["status"]) for g in rx.requests()] + [svc.logs()])
    time.sleep(2.5)  # room for a wrong second send to show up
    got = rx.requests()
    check("every request carries a valid Standard Webhooks signature",
          got and all(signed_ok(svc, g) for g in got), [(g["id"], g["sig"]) for g in got])
    # all() of an empty list is True: each check first needs requests.
    check("every request is JSON",
          got and all(g["ctype"] == "application/json" for g in got), got)
    check("webhook-ids are evt_<n>",
          got and all(re.match(r"^evt_\d+$", g["id"] or "") for g in got), got)

    ok_ids = [g["id"] for g in got if g["status"] == 200]
    check("no event is sent again after a 200", len(ok_ids) == len(set(ok_ids)), ok_ids)
    rel = [g for g in got if g["type"] == "order.released"]
    check("order.released was answered 500 once, then sent again and answered 200",
          [g["status"] for g in rel] == [500, 200], [(g["id"], g["status"]) for g in rel])
    check("the retry has the same webhook-id and body",
          len(rel) == 2 and rel[0]["id"] == rel[1]["id"] and rel[0]["body"] == rel[1]["body"])

    def data(kind):
        d = rx.delivered(kind)
        return json.loads(d[0]["body"]) if d else {}

    ev = data("order.released")
    check("order.released names the order and its release time",
          ev.get("type") == "order.released" and RFC3339.match(ev.get("timestamp", ""))
          and ev.get("data", {}).get("order_id") == "ord-ev"
          and RFC3339.match(ev.get("data", {}).get("released_at", "")), ev)
    ev = data("delivery.ready")
    files = ev.get("data", {}).get("files", [])
    check("delivery.ready lists the delivery's files with sha256 and preview state",
          ev.get("data", {}).get("order_id") == "ord-ev" and ev["data"].get("number") == 1
          and len(files) == 1 and files[0].get("id") == f.get("id")
          and files[0].get("name") == "cover.jpg"
          and files[0].get("sha256") == hashlib.sha256(photo).hexdigest()
          and files[0].get("preview") == "ready", ev)
    check("no delivery.failed for a delivery whose previews were made",
          not [g for g in got if g["type"] == "delivery.failed"])
    ev = data("file.previewed")
    check("file.previewed names the order and the file",
          ev.get("data") == {"order_id": "ord-ev", "file_id": f.get("id")}, ev)
    check("two views make one file.previewed", len(rx.delivered("file.previewed")) == 1)
    ev = data("file.downloaded")
    check("file.downloaded names the file and counts the download",
          ev.get("data") == {"order_id": "ord-ev", "file_id": f.get("id"), "count": 1}, ev)

    rows = outbox_rows(svc)
    check("the outbox holds each event once, all sent",
          rows and sorted(r[1] for r in rows) == sorted(kinds)
          and all(r[2] == "sent" for r in rows), rows)
    check("the retried event counts two tries and keeps its last error",
          [(r[3], r[4]) for r in rows if r[1] == "order.released"] == [(2, "answered 500")],
          rows)
    m = svc.metrics().body.decode(errors="replace")
    check("/metrics counts events sent and failed tries",
          'filigrane_events_total{result="sent"} 4' in m
          and 'filigrane_events_total{result="failed"} 1' in m, m)
finally:
    svc.stop()
    rx.stop()

# ---- the receiver is down at first ----

port = free_port()
svc = Service(env={"FILIGRANE_EVENTS_URL": "http://127.0.0.1:%d/events" % port,
                   "FILIGRANE_EVENTS_RETRY_SCALE": "1000"})
rx = None
try:
    svc.create_order("ord-down", "s-1", "b-1")
    r = svc.hook("order.accepted", {"order_id": "ord-down"})
    check("an order is accepted while the receiver is down", r.status == 200, r)
    rows = []
    deadline = time.time() + 10
    while time.time() < deadline:
        rows = outbox_rows(svc)
        if rows and rows[0][3] >= 1:
            break
        time.sleep(0.1)
    check("its event stays pending after a failed try, with the error kept",
          len(rows) == 1 and rows[0][2] == "pending" and rows[0][3] >= 1 and rows[0][4], rows)
    rx = Receiver(port)
    check("it is delivered once the receiver is up", rx.wait_for(("order.released",)),
          [rx.requests(), outbox_rows(svc)])
    time.sleep(1.5)
    got = rx.requests()
    check("exactly once, signed",
          len(got) == 1 and got[0]["status"] == 200 and signed_ok(svc, got[0]), got)
    rows = outbox_rows(svc)
    check("and recorded sent", len(rows) == 1 and rows[0][2] == "sent", rows)
finally:
    svc.stop()
    if rx:
        rx.stop()

# ---- a receiver that never answers does not hold up a shutdown ----

hang = socket.socket()
hang.bind(("127.0.0.1", 0))
hang.listen(16)  # the kernel completes the handshake; nobody ever answers
svc = Service(env={"FILIGRANE_EVENTS_URL": "http://127.0.0.1:%d/events"
                   % hang.getsockname()[1]})
try:
    svc.create_order("ord-hang", "s-1", "b-1")
    svc.hook("order.accepted", {"order_id": "ord-hang"})
    time.sleep(1.5)  # the sender is now waiting on its 15 s timeout
    t0 = time.time()
    svc._kill()
    took = time.time() - t0
    check("SIGTERM stops the service within a second with a request in flight",
          took < 1.0, "%.2f s" % took)
    rows = outbox_rows(svc)
    check("the abandoned try is not counted: the event is pending for the next run",
          [(r[2], r[3]) for r in rows] == [("pending", 0)], rows)
finally:
    svc.stop()
    hang.close()

# ---- without FILIGRANE_EVENTS_URL, events are recorded and not sent ----

svc = Service()
try:
    svc.create_order("ord-nourl", "s-1", "b-1")
    svc.hook("order.accepted", {"order_id": "ord-nourl"})
    time.sleep(1.2)
    rows = outbox_rows(svc)
    check("without an events URL the event is recorded, pending, untried",
          [(r[1], r[2], r[3]) for r in rows] == [("order.released", "pending", 0)], rows)
    log = open(os.path.join(svc.data, "log", "worker.log"), errors="replace").read()
    check("and the worker says at startup that events are not sent",
          "FILIGRANE_EVENTS_URL is not set" in log and "event sender started" not in log, log[-2000:])
finally:
    svc.stop()

finish()
