"""openapi.yaml: served at /v1/openapi.yaml with no token, byte for byte
the repository's; and the checker that service.py runs on every answer of
the e2e suites (openapi_check.py) refuses answers that break it: an
undescribed status or path, another Content-Type, a body against its
schema, a missing or malformed documented header."""
import http.server
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import openapi_check  # noqa: E402
import service  # noqa: E402
from service import Response, Service, check, finish  # noqa: E402

import yaml  # noqa: E402  (openapi_check made it importable)

spec_bytes = open(os.path.join(service.TOP, "openapi.yaml"), "rb").read()


class Receiver:
    """The order system's endpoint for our events: keeps every request's
    headers (lower-case) and body, answers 200."""

    def __init__(self):
        self.got = []
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rec.lock:
                    rec.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def types(self):
        with self.lock:
            return {(json.loads(b) or {}).get("type") for _, b in self.got}


rx = Receiver()
svc = Service(env={"FILIGRANE_EVENTS_URL": "http://127.0.0.1:%d/events" % rx.port})
try:
    r = svc.get("/v1/openapi.yaml")
    check("GET /v1/openapi.yaml answers 200 with no token", r.status == 200, r)
    check("it is served as application/yaml",
          (r.header("content-type") or "").split(";")[0] == "application/yaml", r.headers)
    check("it is the repository's openapi.yaml, byte for byte", r.body == spec_bytes,
          "%d bytes served, %d in the file" % (len(r.body), len(spec_bytes)))
    doc = yaml.safe_load(r.body) if r.status == 200 else {}
    check("the document served is OpenAPI 3.1",
          str((doc or {}).get("openapi", "")).startswith("3.1."), (doc or {}).get("openapi"))
    check("it carries nosniff", r.header("x-content-type-options") == "nosniff", r.headers)
    r = svc.get("/v1/openapi.yaml", headers={"Authorization": "Bearer not-a-token"})
    check("a bad token does not stop it (it is public)", r.status == 200, r)
    r = svc.request("POST", "/v1/openapi.yaml", body=b"x")
    check("POST /v1/openapi.yaml changes nothing (405 naming GET, HEAD)",
          r.status == 405 and r.header("allow") == "GET, HEAD", r)
    again = svc.get("/v1/openapi.yaml")
    check("the document is unchanged after a POST", again.body == spec_bytes)

    # Routes no other suite asks through service.py: their answers go
    # through the response check too.
    r = svc.get("/o/o-1")
    check("the order page answers 200 text/html with its CSP (checked against the spec)",
          r.status == 200 and r.header("content-security-policy"), r)
    r = svc.request("OPTIONS", "/v1/orders/o-1/uploads")
    check("tus OPTIONS on an order's uploads answers 204 with Tus-Version", r.status == 204 and
          r.header("tus-version") == "1.0.0", r)
    r = svc.request("HEAD", "/v1/openapi.yaml")
    check("HEAD /v1/openapi.yaml answers 200 with no body", r.status == 200 and not r.body, r)
    r = svc.get("/v1/keys")
    check("GET /v1/keys answers 200", r.status == 200, r)

    # A range past the end of a stored file: nginx's 416 is the API's
    # JSON error (as the S3 location's), still naming the size.
    svc.create_order("o-1", "s-1", "b-1")
    seller = svc.token("seller", "s-1", ord="o-1")
    up = svc.upload("o-1", [("a.txt", b"hello world")], seller)
    fid = ((up.json() or {}).get("files") or [{}])[0].get("id", "none")
    r = svc.get("/v1/files/%s/original" % fid, token=seller, headers={"Range": "bytes=100-200"})
    check("a range past the end answers 416 as the JSON error, with Content-Range",
          r.status == 416 and (r.json() or {}).get("error", {}).get("code") ==
          "range_not_satisfiable" and r.header("content-range") == "bytes */11", r)

    # An internal location asked from outside: nginx's 404 is the JSON
    # error too (the response check holds it to the description).
    r = svc.get("/_blobs/sha256/00/00/" + "0" * 64)
    check("an internal location asked from outside answers 404 not_found as JSON",
          r.status == 404 and (r.json() or {}).get("error", {}).get("code") == "not_found", r)

    # The worker unreachable (its socket moved away; the worker keeps
    # running): nginx's own answers are the API's JSON errors, which the
    # response check of service.py validates against the description.
    sock = os.path.join(svc.data, "run", "fcgi.sock")
    os.rename(sock, sock + ".away")
    try:
        down = svc.get("/v1/orders/o-1", token=svc.token("admin", "a-1"))
        early = svc.request("POST", "/v1/orders/o-1/deliveries?filename=a", body=b"x",
                            token=svc.token("seller", "s-1", ord="o-1"))
        chunk = svc.request("HEAD", "/v1/uploads/u-1", headers={"Tus-Resumable": "1.0.0"})
    finally:
        os.rename(sock + ".away", sock)
    check("the worker unreachable: 502 worker_unavailable as JSON, with Retry-After",
          down.status == 502 and (down.json() or {}).get("error", {}).get("code") ==
          "worker_unavailable" and down.header("retry-after") == "5", down)
    check("the worker unreachable during an upload's early check: 500 internal as JSON",
          early.status == 500 and (early.json() or {}).get("error", {}).get("code") ==
          "internal", early)
    check("... and a tus HEAD's answer still says Tus-Resumable",
          chunk.status == 500 and chunk.header("tus-resumable") == "1.0.0", chunk)
    check("the worker answers again once its socket is back", svc.get("/livez").status == 200)

    # The checker on answers made up here, one defect each.
    def bad(method, path, status, headers, body, want, name):
        v = openapi_check.check_response(method, path, status, headers, body)
        check(name, any(want in x for x in v), v)

    order = svc.token("seller", "s-1", ord="o-1")
    real = svc.get("/livez")
    check("a real /livez answer passes the checker",
          openapi_check.check_response("GET", "/livez", real.status, real.headers,
                                       real.body) == [], real)
    good_order = (b'{"id":"o-1","state":"open","seller_id":"s-1","buyer_id":"b-1",'
                  b'"released_at":null,"deliveries":[]}')
    jh = {"content-type": "application/json"}
    check("a well-formed order passes the checker",
          openapi_check.check_response("GET", "/v1/orders/o-1", 200, jh, good_order) == [])
    bad("GET", "/v1/orders/o-1", 418, jh, b"{}", "status 418 is not described",
        "an undescribed status is a violation, naming the route")
    bad("GET", "/v1/orders/o-1", 200, {"content-type": "text/html"}, good_order,
        "Content-Type text/html is not one of", "another Content-Type is a violation")
    bad("GET", "/v1/orders/o-1", 200, jh, good_order.replace(b'"open"', b'"stolen"'),
        "schema path paths./v1/orders/{order}.get.responses.200",
        "a body against its schema is a violation, with its schema path")
    bad("GET", "/v1/orders/o-1", 200, jh, good_order.replace(b'"released_at":null,', b""),
        "'released_at' is a required property", "a missing required field is a violation")
    bad("GET", "/v1/orders/o-1", 200, jh, b"<html>", "the body is not JSON",
        "a body that is not JSON where JSON is described is a violation")
    cut = b'{"format":"filigrane-evidence-v1","order_id":"o-1","entries":[{"seq":"1"'
    check("an evidence bundle cut short passes (x-filigrane-streamed: the documented failure)",
          openapi_check.check_response("GET", "/v1/orders/o-1/evidence", 200, jh, cut) == [])
    bad("GET", "/v1/orders/o-1/evidence", 200, jh, b'{"format":"x","order_id":"o-1"}',
        "'order' is a required property",
        "a streamed bundle that parses is still checked against its schema")
    bad("GET", "/v1/orders/o-1", 404, jh, b'{"error":{"message":"x"}}',
        "'code' is a required property", "an error without its code is a violation")
    bad("GET", "/v1/nothing/here", 200, jh, b"{}", "(unlisted path /v1/nothing/here)",
        "a 200 on a path the description does not list is a violation")
    check("a 404 error on an unlisted path passes (nginx's last location)",
          openapi_check.check_response("GET", "/nope", 404, jh,
                                       b'{"error":{"code":"not_found","message":"x"}}') == [])
    bad("PUT", "/v1/orders/o-1", 200, jh, good_order, "x-filigrane-unlisted-method",
        "a 200 to a method the path does not take is a violation")
    bad("POST", "/v1/orders/o-1/uploads", 201, {"upload-expires": "x", "tus-resumable": "1.0.0"},
        b"", "required header Location is missing",
        "a tus creation without Location is a violation")
    bad("GET", "/v1/files/f-1/original", 200,
        {"content-type": "image/png", "etag": '"abc"', "content-disposition": "inline",
         "cache-control": "private", "x-content-type-options": "nosniff"}, b"png",
        "header ETag", "an ETag that is not a sha256 is a violation")
    bad("OPTIONS", "/v1/uploads", 204, {"tus-version": "1.0.0",
                                        "tus-extension": "creation,termination,expiration,checksum",
                                        "tus-max-size": "big", "tus-checksum-algorithm": "sha256"},
        b"", "header Tus-Max-Size", "an integer header that is no number is a violation")
    bad("POST", "/v1/orders/o-1/uploads", 201,
        {"location": "/v1/uploads/u-1", "upload-expires": "x", "tus-resumable": "1.0.0"},
        b"oops", "a body of 4 bytes", "a body where none is described is a violation")
    check("a HEAD of a GET operation is checked as the GET, without its body",
          openapi_check.check_response("HEAD", "/v1/orders/o-1", 200, jh, b"") == [])
    bad("HEAD", "/v1/orders/o-1", 418, jh, b"", "status 418 is not described",
        "a HEAD's status is checked too")

    # The events we send (openapi.yaml's webhooks): a delivery made ready,
    # a buyer's first view, the release and a download, each checked.
    buyer = svc.token("buyer", "b-2", ord="o-2")
    seller2 = svc.token("seller", "s-2", ord="o-2")
    svc.create_order("o-2", "s-2", "b-2")
    up = svc.upload_done("o-2", [("cover.jpg", service.image("jpg", 64, 48))], seller2)
    fid = ((up.json() or {}).get("files") or [{}])[0].get("id", "none")
    svc.get("/v1/files/%s/preview" % fid, token=buyer)
    svc.hook("order.accepted", {"order_id": "o-2"})
    svc.get("/v1/files/%s/original" % fid, token=buyer)
    want = {"delivery.ready", "file.previewed", "order.released", "file.downloaded"}
    deadline = time.time() + 20
    while not want <= rx.types() and time.time() < deadline:
        time.sleep(0.1)
    check("the four events reach the receiver", want <= rx.types(), rx.types())
    with rx.lock:
        got = list(rx.got)
    bad_events = [v for h, b in got for v in openapi_check.check_event(h, b)]
    check("every event we sent matches openapi.yaml's webhooks (%d events)" % len(got),
          got and not bad_events, bad_events)
    if got:
        h, b = got[0]
        ev = json.loads(b)
        v = openapi_check.check_event({k: x for k, x in h.items() if k != "webhook-signature"}, b)
        check("an event without webhook-signature is a violation",
              any("webhook-signature is missing" in x for x in v), v)
        v = openapi_check.check_event(dict(h, **{"webhook-id": "msg_1"}), b)
        check("an event whose webhook-id is not evt_<n> is a violation",
              any("header webhook-id" in x for x in v), v)
        ev2 = dict(ev, data=dict(ev.get("data") or {}, order_id=None))
        v = openapi_check.check_event(h, json.dumps(ev2).encode())
        check("an event whose data breaks its schema is a violation, with its schema path",
              any("schema path webhooks." in x for x in v), v)
        v = openapi_check.check_event(h, json.dumps(dict(ev, type="order.stolen")).encode())
        check("an event type the description does not list is a violation",
              any("is not described in webhooks" in x for x in v), v)

    # The hook itself: service.py reports a violation as a TAP failure.
    before = service.failures
    saved = sys.stdout, sys.stderr
    import io
    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
    try:
        service.openapi_checked("GET", "/v1/orders/o-1", Response(418, jh, b"{}"))
        printed = sys.stdout.getvalue()
    finally:
        sys.stdout, sys.stderr = saved
    check("service.py turns a violation into a 'not ok' TAP line naming the route and status",
          printed.startswith("not ok - the answer matches openapi.yaml: GET /v1/orders/{order} 418")
          and service.failures == before + 1, printed)
    service.failures = before  # that failure was this test's own probe
    service._openapi_seen.clear()
    del order
finally:
    svc.stop()
    rx.server.shutdown()
    rx.server.server_close()
finish()
