"""Order webhooks: only verified ones change anything, each at most once,
and the state rules of DESIGN hold (accepted and cancelled are final,
disputed freezes)."""
import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish  # noqa: E402

svc = Service()
try:
    admin = svc.token("admin", "order-system")

    def state(oid):
        r = svc.get("/v1/orders/" + oid, token=admin)
        return (r.json() or {}).get("state") if r.status == 200 else r.status

    r = svc.create_order("ord-w", "s-1", "b-1")
    check("a signed order.created is applied", r.status == 200 and state("ord-w") == "open", r)

    r = svc.hook("order.accepted", {"order_id": "ord-w"}, key=os.urandom(32))
    check("a webhook signed with another secret is refused 401",
          r.status == 401 and (r.json() or {}).get("error", {}).get("code") == "bad_signature", r)
    check("and changes nothing", state("ord-w") == "open")

    # 30 s past the 5-minute window, so that no clock noise between this
    # process and the worker decides the test; the exact edge is in
    # tests/unit/test_webhook_sig.c, with the time passed in.
    r = svc.hook("order.accepted", {"order_id": "ord-w"}, ts=int(time.time()) - 330)
    check("a webhook older than 5 minutes is refused 401", r.status == 401, r)
    r = svc.hook("order.accepted", {"order_id": "ord-w"}, ts=int(time.time()) + 330)
    check("a webhook more than 5 minutes ahead is refused 401", r.status == 401, r)
    check("neither changes the state", state("ord-w") == "open")

    body = json.dumps({"type": "order.cancelled", "data": {"order_id": "ord-w"}}).encode()
    good = svc.hook("order.disputed", {"order_id": "nope"}, hook_id="msg_sig_source")
    r = svc.hook(None, None, body=body, sig="v1," + base64.b64encode(b"x" * 32).decode())
    check("a forged signature is refused 401", r.status == 401 and state("ord-w") == "open", r)
    r = svc.request("POST", "/v1/hooks/orders", body=body,
                    headers={"Content-Type": "application/json"})
    check("a webhook without signature headers is refused 401", r.status == 401, r)
    check("an event for an unknown order answers 404", good.status == 404, good)

    r = svc.hook("order.disputed", {"order_id": "ord-w", "reason": "late"}, hook_id="msg_d1")
    check("order.disputed freezes the order", r.status == 200 and state("ord-w") == "disputed", r)
    r = svc.hook("order.disputed", {"order_id": "ord-w"}, hook_id="msg_d1")
    check("a replayed webhook-id answers 200 as a duplicate",
          r.status == 200 and (r.json() or {}).get("result") == "duplicate", r)

    r = svc.hook("order.accepted", {"order_id": "ord-w"}, hook_id="msg_a1")
    check("a disputed order can be accepted", r.status == 200 and state("ord-w") == "accepted", r)
    r = svc.hook("order.cancelled", {"order_id": "ord-w"})
    check("accepted is final: a later cancel answers 409", r.status == 409
          and state("ord-w") == "accepted", r)
    r = svc.hook("order.disputed", {"order_id": "ord-w"})
    check("accepted is final: a later dispute answers 409", r.status == 409
          and state("ord-w") == "accepted", r)
    r = svc.hook("order.accepted", {"order_id": "ord-w"})
    check("a second acceptance is acknowledged without effect", r.status == 200
          and (r.json() or {}).get("effect") == "unchanged", r)

    svc.create_order("ord-c", "s-1", "b-1")
    r = svc.hook("order.cancelled", {"order_id": "ord-c"}, hook_id="msg_c1")
    check("order.cancelled cancels", r.status == 200 and state("ord-c") == "cancelled", r)
    r = svc.hook("order.accepted", {"order_id": "ord-c"})
    check("cancelled is final: a later acceptance answers 409 and releases nothing",
          r.status == 409 and state("ord-c") == "cancelled", r)
    r = svc.hook("order.accepted", {"order_id": "ord-c"}, hook_id="msg_c1")
    check("a replay of a processed id with another body has no second effect",
          r.status == 200 and (r.json() or {}).get("result") == "duplicate"
          and state("ord-c") == "cancelled", r)

    r = svc.create_order("ord-w", "s-other", "b-1")
    check("order.created for an existing order with other parties answers 409",
          r.status == 409, r)
    r = svc.create_order("ord-c", "s-1", "b-1")
    check("a repeated order.created with the same parties is harmless", r.status == 200, r)

    r = svc.hook("order.renamed", {"order_id": "ord-c"})
    check("an unknown event type is acknowledged and ignored",
          r.status == 200 and (r.json() or {}).get("effect") == "ignored", r)
    r = svc.hook(None, None, body=b"{not json")
    check("a signed body that is not JSON answers 400", r.status == 400, r)
    r = svc.hook("order.accepted", {})
    check("an event without order_id answers 400", r.status == 400, r)
    r = svc.hook(None, None, body=b"x" * (2 * 1024 * 1024))
    check("an oversized webhook body answers 413", r.status == 413, r)
    check("the worker is still up after hostile webhooks", svc.get("/healthz").status == 200)
finally:
    svc.stop()
finish()
