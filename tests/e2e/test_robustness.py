"""The worker stays up whatever reaches its socket: malformed FastCGI
records and params, odd paths and headers through nginx. After each
barrage /healthz still answers, and /metrics counts what happened."""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish  # noqa: E402

svc = Service()
sock_path = os.path.join(svc.data, "run", "fcgi.sock")


def record(rtype, req_id, content):
    """One record, or several when content is over a record's 65535 bytes."""
    out = b""
    for i in range(0, max(len(content), 1), 65528):
        chunk = content[i:i + 65528]
        pad = (8 - len(chunk) % 8) % 8
        out += struct.pack(">BBHHBB", 1, rtype, req_id, len(chunk), pad, 0) + chunk + b"\0" * pad
    return out


def nv(name, value):
    def ln(n):
        return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)
    return ln(len(name)) + ln(len(value)) + name + value


def fcgi_raw(data, read=True):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock_path)
    try:
        s.sendall(data)
        out = b""
        if read:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        return out
    except OSError:
        return b""
    finally:
        s.close()


def fcgi_request(params, body=b""):
    begin = record(1, 1, struct.pack(">HB5x", 1, 0))
    p = b"".join(nv(k, v) for k, v in params)
    return fcgi_raw(begin + record(4, 1, p) + record(4, 1, b"") + record(5, 1, body) +
                    record(5, 1, b""))


try:
    out = fcgi_request([(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/healthz")])
    check("a hand-made FastCGI request is answered", b"Status: 200" in out, out[:200])
    cases = [
        ("no REQUEST_METHOD", [(b"REQUEST_URI", b"/healthz")]),
        ("no REQUEST_URI", [(b"REQUEST_METHOD", b"GET")]),
        ("a relative REQUEST_URI", [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"healthz")]),
        ("a 100 KB REQUEST_URI", [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/" + b"a" * 100000)]),
        ("a bad percent escape", [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/v1/orders/%zz")]),
        ("an encoded NUL", [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/v1/orders/a%00b")]),
        ("a non-numeric CONTENT_LENGTH", [(b"REQUEST_METHOD", b"POST"), (b"REQUEST_URI", b"/v1/hooks/orders"),
                                          (b"CONTENT_LENGTH", b"12abc")]),
        ("a CONTENT_LENGTH longer than the body", [(b"REQUEST_METHOD", b"POST"),
                                                   (b"REQUEST_URI", b"/v1/hooks/orders"),
                                                   (b"CONTENT_LENGTH", b"5000")]),
        ("a REQUEST_BODY_FILE pointing outside", [(b"REQUEST_METHOD", b"POST"),
                                                  (b"REQUEST_URI", b"/v1/orders/x/deliveries"),
                                                  (b"REQUEST_BODY_FILE", b"/etc/passwd")]),
        ("a bearer token of 1 MB", [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/v1/orders/x"),
                                    (b"HTTP_AUTHORIZATION", b"Bearer " + b"a" * 1000000)]),
    ]
    for name, params in cases:
        out = fcgi_request(params)
        check("%s is answered with a 4xx" % name, b"Status: 4" in out, out[:300])
    fcgi_raw(os.urandom(5000), read=False)
    fcgi_raw(record(1, 1, b"\x00"), read=False)
    fcgi_raw(b"\x01\x01\x00\x01\xff\xff\x00\x00", read=False)
    check("after garbage records the worker still answers",
          svc.get("/healthz").status == 200)

    for path in ("/v1/orders/" + "x" * 5000, "/v1/files/%2e%2e/original", "/v1//orders",
                 "/v1/orders/a%2Fb", "/v1/files/%C3%A9/preview"):
        r = svc.get(path, token=svc.token("admin", "ops"))
        check("GET %s... is a 4xx JSON error" % path[:30], 400 <= r.status < 500, r)
    r = svc.get("/v1/orders/x", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    check("a Basic authorization is refused 401", r.status == 401, r)
    check("the worker is still up", svc.get("/healthz").status == 200)

    m = svc.metrics()
    text = m.body.decode()
    check("/metrics is Prometheus text", m.status == 200 and "# TYPE filigrane_http_requests_total counter" in text, text[:300])
    check("/metrics counts refused credentials",
          any(l.startswith("filigrane_auth_failures_total ") and not l.endswith(" 0")
              for l in text.splitlines()), text)
finally:
    svc.stop()
finish()
