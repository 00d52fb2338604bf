"""Starts filigrane for a test: the real worker and the real nginx, through
scripts/run.sh (the script behind `make run`), on a free loopback port with
a fresh data directory; and speaks to it the way its users do.

Not a test itself: the test_*.py files import it. Every check prints a TAP
line ("ok - sentence" / "not ok - sentence"), which tests/run.sh counts.
"""
import atexit
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("FILIGRANE_BIN", os.path.join(TOP, "bin"))

failures = 0

# Every answer Service.request() gets is checked against openapi.yaml
# (openapi_check.py): a violation is a TAP failure, reported once.
try:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import openapi_check
    _openapi_error = None
except Exception as e:  # a missing python3-jsonschema or a broken spec
    openapi_check = None
    _openapi_error = "%s: %s" % (type(e).__name__, e)
_openapi_seen = set()
_openapi_count = [0]


def check(name, cond, detail=""):
    """One TAP line; the detail goes to stderr when the check fails."""
    global failures
    if cond:
        print("ok - " + name, flush=True)
    else:
        failures += 1
        print("not ok - " + name, flush=True)
        if detail:
            print("  " + str(detail)[:2000], file=sys.stderr, flush=True)
    return cond


def openapi_checked(method, path, resp):
    """Checks one answer against openapi.yaml; each distinct violation is
    one TAP failure (a polling loop repeats none). Returns resp."""
    if openapi_check is None:
        if "import" not in _openapi_seen:
            _openapi_seen.add("import")
            check("answers are checked against openapi.yaml", False,
                  "cannot load tests/e2e/openapi_check.py: %s" % _openapi_error)
        return resp
    _openapi_count[0] += 1
    try:
        bad = openapi_check.check_response(method, path, resp.status, resp.headers, resp.body)
    except Exception as e:  # the checker itself broke: say so, once
        bad = ["%s %s %d: the checker failed: %s: %s"
               % (method, path.split("?")[0], resp.status, type(e).__name__, e)]
    for v in bad:
        if v not in _openapi_seen:
            _openapi_seen.add(v)
            check("the answer matches openapi.yaml: " + v.split(": ", 1)[0], False, v)
    return resp


def _openapi_summary():
    if openapi_check is not None and _openapi_count[0]:
        print("# %d answers checked against openapi.yaml, %d distinct violations"
              % (_openapi_count[0], len(_openapi_seen)), flush=True)


atexit.register(_openapi_summary)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return "HTTP %d %s %r" % (self.status, self.headers, self.body[:300])


class Service:
    def __init__(self, env=None, data=None):
        """data: an existing data directory (a restart); else a fresh one."""
        self.data = data or tempfile.mkdtemp(prefix="filigrane-e2e-")
        os.chmod(self.data, 0o755)
        self.jwt_secret = "jwt-" + uuid.uuid4().hex + uuid.uuid4().hex
        self.hook_key = os.urandom(32)
        self.hook_secret = "whsec_" + base64.b64encode(self.hook_key).decode()
        self.metrics_token = "metrics-" + uuid.uuid4().hex
        self.mark_key = "mark-" + uuid.uuid4().hex + uuid.uuid4().hex
        self.env = dict(env or {})
        # FILIGRANE_TEST_S3=1 runs a suite with its blobs in S3: a private
        # s3rver per service (scripts/s3-server.sh), unless the suite
        # brought its own.
        self.s3_dir = None
        if os.environ.get("FILIGRANE_TEST_S3") and "FILIGRANE_S3_ENDPOINT" not in self.env:
            self.s3_dir = tempfile.mkdtemp(prefix="filigrane-e2e-s3-")
            out = subprocess.run(["sh", os.path.join(TOP, "scripts", "s3-server.sh"), "start",
                                  self.s3_dir, str(free_port())], capture_output=True,
                                 text=True, timeout=60)
            if out.returncode != 0:
                raise RuntimeError("s3-server.sh: " + out.stderr)
            self.env.update(dict(line.split("=", 1) for line in out.stdout.split()))
        # A port found free can be taken before nginx binds it (by any
        # outgoing connection on this machine): try again on another one.
        why = ""
        for _ in range(3):
            self.port = free_port()
            ok, err = self._start()
            if ok:
                return
            why += "\n--- attempt on port %d: %s%s" % (self.port, err, self.logs())
            self._kill()
        shutil.rmtree(self.data, ignore_errors=True)
        self._s3_stop()
        raise RuntimeError("filigrane did not start:" + why)

    def _s3_stop(self):
        if self.s3_dir:
            subprocess.run(["sh", os.path.join(TOP, "scripts", "s3-server.sh"), "stop",
                            self.s3_dir], capture_output=True, timeout=60)
            shutil.rmtree(self.s3_dir, ignore_errors=True)
            self.s3_dir = None

    def _start(self):
        e = dict(os.environ)
        e.update({
            "FILIGRANE_DATA": self.data,
            "FILIGRANE_PORT": str(self.port),
            "FILIGRANE_JWT_SECRET": self.jwt_secret,
            "FILIGRANE_WEBHOOK_SECRET": self.hook_secret,
            "FILIGRANE_METRICS_TOKEN": self.metrics_token,
            "FILIGRANE_MARK_KEY": self.mark_key,
            "FILIGRANE_BIN": BIN,
            "FILIGRANE_QUIET": "1",
            # Suites send many requests from one address; the rate limits
            # are tested at their edges in test_early_auth.py.
            "FILIGRANE_RATE_UPLOADS": "1000000",
            "FILIGRANE_RATE_WEBHOOKS": "1000000",
        })
        e.update(self.env)
        self.proc = subprocess.Popen([os.path.join(TOP, "scripts", "run.sh")], env=e,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline and self.proc.poll() is None:
            try:
                if self.get("/healthz").status == 200:
                    return True, ""
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        if self.proc.poll() is None:
            return False, "no answer from /healthz within 60 s"
        return False, self.proc.stderr.read().decode(errors="replace")

    def _kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def logs(self):
        out = ""
        for name in ("worker.log", "nginx-error.log"):
            p = os.path.join(self.data, "log", name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out += "\n--- %s\n%s" % (name, f.read()[-4000:])
        return out

    def stop(self):
        """Stops both processes and checks the worker's log for sanitizer
        reports: a memory error anywhere in a run fails the run."""
        self._kill()
        log = os.path.join(self.data, "log", "worker.log")
        text = open(log, errors="replace").read() if os.path.exists(log) else ""
        bad = [l for l in text.splitlines()
               if "AddressSanitizer" in l or "runtime error:" in l or "LeakSanitizer" in l]
        check("the worker's log holds no sanitizer report", not bad, "\n".join(bad[:20]))
        self._s3_stop()
        if not os.environ.get("FILIGRANE_KEEP"):
            shutil.rmtree(self.data, ignore_errors=True)

    # ---- HTTP ----

    def request(self, method, path, body=None, headers=None, token=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            return openapi_checked(method, path, Response(
                resp.status, {k.lower(): v for k, v in resp.getheaders()}, data))
        finally:
            conn.close()

    def get(self, path, token=None, headers=None):
        return self.request("GET", path, token=token, headers=headers)

    def metrics(self):
        """GET /metrics with the operator's bearer token."""
        return self.get("/metrics", token=self.metrics_token)

    # ---- tokens (minted here, independently of the worker's code) ----

    def token(self, role, sub, ord=None, ttl=600, alg="HS256", secret=None, extra=None):
        now = int(time.time())
        claims = {"sub": sub, "role": role, "iat": now, "exp": now + ttl}
        if ord is not None:
            claims["ord"] = ord
        claims.update(extra or {})
        header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        payload = b64url(json.dumps(claims).encode())
        signing = (header + "." + payload).encode()
        key = (secret or self.jwt_secret).encode()
        if alg == "none":
            return header + "." + payload + "."
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
                  "HS512": hashlib.sha512}[alg]
        sig = hmac.new(key, signing, digest).digest()
        return header + "." + payload + "." + b64url(sig)

    # ---- webhooks (signed here as the order system would) ----

    def hook(self, type_, data, hook_id=None, ts=None, key=None, body=None, sig=None):
        hook_id = hook_id or "msg_" + uuid.uuid4().hex
        ts = int(time.time()) if ts is None else ts
        if body is None:
            body = json.dumps({"type": type_, "timestamp": "2026-11-22T10:00:00Z",
                               "data": data}).encode()
        signed = ("%s.%d." % (hook_id, ts)).encode() + body
        mac = hmac.new(key or self.hook_key, signed, hashlib.sha256).digest()
        headers = {"webhook-id": hook_id, "webhook-timestamp": str(ts),
                   "webhook-signature": sig or "v1," + base64.b64encode(mac).decode(),
                   "Content-Type": "application/json"}
        return self.request("POST", "/v1/hooks/orders", body=body, headers=headers)

    def create_order(self, order, seller, buyer, buyer_name="Zoë Martin"):
        return self.hook("order.created", {"order_id": order, "seller_id": seller,
                                           "buyer_id": buyer, "buyer_name": buyer_name})

    # ---- uploads ----

    def upload(self, order, files, token, message=None, boundary=None):
        """files: list of (filename, bytes). Sends multipart/form-data."""
        boundary = boundary or "filigrane-" + uuid.uuid4().hex
        parts = []
        if message is not None:
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\n"
                          % boundary).encode() + message.encode() + b"\r\n")
        for name, data in files:
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                          "filename=\"%s\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                          % (boundary, name)).encode() + data + b"\r\n")
        body = b"".join(parts) + ("--%s--\r\n" % boundary).encode()
        return self.request("POST", "/v1/orders/%s/deliveries" % order, body=body, token=token,
                            headers={"Content-Type": "multipart/form-data; boundary=" + boundary})

    # ---- previews are made after the 201, by the job runners ----

    def wait_ready(self, order, token, number=None, timeout=180):
        """Polls GET /v1/orders/{order} until delivery `number` (every
        delivery when None) is no longer processing; returns the order
        JSON (or the last one seen, when the time is up)."""
        deadline = time.time() + timeout
        doc = None
        while True:
            r = self.get("/v1/orders/%s" % order, token=token)
            doc = r.json() if r.status == 200 else None
            ds = (doc or {}).get("deliveries") or []
            if number is not None:
                ds = [d for d in ds if d.get("number") == number]
            if ds and all(d.get("state") != "processing" for d in ds):
                return doc
            if time.time() > deadline:
                return doc
            time.sleep(0.05)

    def upload_done(self, order, files, token, message=None, boundary=None, timeout=180):
        """upload(), then waits for that delivery's previews: the answer's
        status and headers are the 201's, its body the delivery as it
        ended (ready or failed)."""
        r = self.upload(order, files, token, message=message, boundary=boundary)
        d = r.json()
        if r.status != 201 or not isinstance(d, dict):
            return r
        doc = self.wait_ready(order, token, number=d.get("number"), timeout=timeout) or {}
        for x in doc.get("deliveries") or []:
            if x.get("number") == d.get("number"):
                return Response(r.status, r.headers, json.dumps(x).encode())
        return r



def body_files(svc):
    """Every file nginx has spooled in its body temp directory: those with
    a name, and those nginx unlinked at once but still holds open (an
    ordinary request body's temp file is unlinked as soon as it is made)."""
    body_dir = os.path.join(svc.data, "tmp", "body")
    out = []
    for d, _, files in os.walk(body_dir):
        out += [os.path.join(d, f) for f in files]
    try:
        master = open(os.path.join(svc.data, "run", "nginx.pid")).read().strip()
        workers = subprocess.run(["pgrep", "-P", master], capture_output=True,
                                 text=True).stdout.split()
    except OSError:
        workers = []
    for pid in workers:
        fd_dir = "/proc/%s/fd" % pid
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith(body_dir + "/"):
                out.append(target)
    return out


def read_final(sock, timeout=10):
    """Reads until a final (non-1xx) response head and its body. Returns
    (status, head, body) or (None, data, b"") when none arrived in time."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        # Drop interim 1xx answers (nginx sends 100 Continue when it
        # discards a refused body: the client has still sent nothing).
        while data.startswith(b"HTTP/1.1 1") and b"\r\n\r\n" in data:
            data = data.split(b"\r\n\r\n", 1)[1]
        if b"\r\n\r\n" in data:
            head, rest = data.split(b"\r\n\r\n", 1)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return int(head.split(b" ")[1]), head.decode(errors="replace"), rest
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return None, data, b""

def image(path_or_fmt, width=640, height=480):
    """A photo-like test image made by libvips's CLI, returned as bytes."""
    d = tempfile.mkdtemp()
    try:
        out = os.path.join(d, "img." + path_or_fmt)
        subprocess.run(["vips", "gaussnoise", os.path.join(d, "n.v"), str(width), str(height)],
                       check=True)
        subprocess.run(["vips", "copy", os.path.join(d, "n.v"), out], check=True)
        with open(out, "rb") as f:
            return f.read()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def finish():
    sys.exit(1 if failures else 0)
