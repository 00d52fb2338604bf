"""GET /v1/admin/events?state=given_up lists the outgoing events the outbox
gave up on; POST /v1/admin/events/{id}/replay puts one back to be sent,
once, with its own webhook-id, recorded in the order's audit trail. Admin
token only."""
import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish, free_port  # noqa: E402


class Receiver:
    """The order system's endpoint, once it is back: answers 200."""

    def __init__(self, port):
        self.got = []
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                rec.got.append((self.headers.get("webhook-id"), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def code(r):
    return ((r.json() or {}).get("error") or {}).get("code")


def given_up(svc, token, query="state=given_up"):
    r = svc.get("/v1/admin/events?" + query, token=token)
    return r, (r.json() or {}).get("events", [])


# A port nobody listens on: every try fails at once. The largest retry
# scale turns the ~75 hours of the schedule into about ten seconds.
port = free_port()
svc = Service(env={"FILIGRANE_EVENTS_URL": "http://127.0.0.1:%d/events" % port,
                   "FILIGRANE_EVENTS_RETRY_SCALE": "1000000"})
rx = None
try:
    admin = svc.token("admin", "ops")
    svc.create_order("ord-e1", "s-1", "b-1")
    svc.create_order("ord-e2", "s-1", "b-1")
    svc.hook("order.accepted", {"order_id": "ord-e1"})
    svc.hook("order.accepted", {"order_id": "ord-e2"})
    events = []
    deadline = time.time() + 60
    while time.time() < deadline:
        r, events = given_up(svc, admin)
        if len(events) >= 2:
            break
        time.sleep(0.5)
    check("both order.released events are listed as given up once the schedule runs out",
          len(events) == 2 and all(e.get("type") == "order.released" for e in events), events)
    e1 = next((e for e in events if e.get("order_id") == "ord-e1"), {})
    check("an entry has id, webhook_id, type, order, attempts, last error and created",
          isinstance(e1.get("id"), int) and e1.get("webhook_id") == "evt_%s" % e1.get("id")
          and e1.get("attempts") == 10 and e1.get("last_error")
          and e1.get("created_at", "").endswith("Z") and e1.get("state") == "given_up", e1)
    check("the list is answered no-store", r.header("cache-control") == "no-store", r.headers)
    r, ev = given_up(svc, admin, "")
    check("state defaults to given_up", r.status == 200 and len(ev) == 2, r)
    r, ev = given_up(svc, admin, "state=given_up&limit=1")
    check("limit=1 gives one event and next names where to go on",
          r.status == 200 and len(ev) == 1 and (r.json() or {}).get("next") == ev[0]["id"], r)
    r, ev2 = given_up(svc, admin, "state=given_up&limit=1&after=%d" % (ev[0]["id"] if ev else 0))
    check("after=next gives the other one, and no next",
          len(ev2) == 1 and ev2[0]["id"] != ev[0]["id"] and "next" not in (r.json() or {}), r)
    for q in ("state=lost", "limit=0", "limit=1001", "after=-1", "after=x"):
        r, _ = given_up(svc, admin, q)
        check("a bad query (%s) is refused 400" % q, r.status == 400, r)

    # ---- admin only ----
    seller = svc.token("seller", "s-1", "ord-e1")
    buyer = svc.token("buyer", "b-1", "ord-e1")
    for who, tok in (("a seller", seller), ("a buyer", buyer)):
        r, _ = given_up(svc, tok)
        check("%s token cannot list given-up events (403)" % who, r.status == 403, r)
        r = svc.request("POST", "/v1/admin/events/%s/replay" % e1.get("id"), token=tok)
        check("%s token cannot replay one (403)" % who, r.status == 403, r)
    r = svc.get("/v1/admin/events")
    check("no token: 401", r.status == 401, r)
    r = svc.request("POST", "/v1/admin/events/%s/replay" % e1.get("id"))
    check("no token, no replay: 401", r.status == 401, r)

    # ---- replay ----
    rx = Receiver(port)
    r = svc.request("POST", "/v1/admin/events/%s/replay" % e1.get("id"), token=admin)
    doc = r.json() or {}
    check("the admin replays a given-up event: 200, pending again with 0 attempts",
          r.status == 200 and doc.get("state") == "pending" and doc.get("attempts") == 0, r)
    r = svc.request("POST", "/v1/admin/events/%s/replay" % e1.get("id"), token=admin)
    check("replaying it again at once is 404: it is not given up any more", r.status == 404, r)
    deadline = time.time() + 20
    while time.time() < deadline and not rx.got:
        time.sleep(0.2)
    time.sleep(1.5)
    check("the replayed event is sent once, with its own webhook-id and body",
          len(rx.got) == 1 and rx.got[0][0] == e1.get("webhook_id")
          and rx.got[0][1].get("data", {}).get("order_id") == "ord-e1", rx.got)
    _, left = given_up(svc, admin)
    check("the list then holds only the other event",
          [e.get("order_id") for e in left] == ["ord-e2"], left)
    _, sent = given_up(svc, admin, "state=sent")
    check("and state=sent lists the replayed one", [e.get("id") for e in sent] == [e1.get("id")],
          sent)
    entries = (svc.get("/v1/orders/ord-e1/audit", token=admin).json() or {}).get("entries", [])
    rep = [e for e in entries if e["action"] == "event.replayed"]
    check("the replay is an audit entry of the order, by the admin, naming the event",
          len(rep) == 1 and rep[0]["actor"] == "admin:ops"
          and json.loads(rep[0]["detail"]).get("event") == e1.get("id"), rep)
    for bad in ("999999", "0", "abc"):
        r = svc.request("POST", "/v1/admin/events/%s/replay" % bad, token=admin)
        check("replaying event %s (none given up) is 404" % bad, r.status == 404, r)
finally:
    svc.stop()
    if rx:
        rx.stop()
finish()
