"""Key rotation without a flag day: JWT secrets by kid (tokens made by npm's
jose), several webhook keys at once (signed by npm's standardwebhooks), an
events key of its own, FILIGRANE_JWT_AUDIENCE, retired evidence signing keys
still published, and SIGHUP: the worker reads the key files again (a removed
secret stops working, a new one works, a broken file changes nothing) and
reopens FILIGRANE_LOG_FILE, with requests in flight and none failing."""
import base64
import http.server
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, Service, check, finish, free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def node(**args):
    out = subprocess.run(["node", os.path.join(HERE, "rotation_tools.mjs"), json.dumps(args)],
                         capture_output=True, text=True, timeout=60, cwd=HERE)
    if out.returncode != 0:
        raise RuntimeError("rotation_tools.mjs: " + out.stderr)
    return out.stdout.strip()


def jose(secret, kid=None, aud=None, role="admin", sub="op-1", ord=None):
    claims = {"role": role, "sub": sub, "iat": int(time.time()), "exp": int(time.time()) + 600}
    if ord:
        claims["ord"] = ord
    return node(op="jwt", secret=secret, kid=kid, aud=aud, claims=claims)


def whsec():
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def secret():
    return uuid.uuid4().hex + uuid.uuid4().hex


def hook(svc, key, type_, data):
    """A webhook signed by standardwebhooks with key (a whsec_ secret)."""
    hid, ts = "msg_" + uuid.uuid4().hex, int(time.time())
    body = json.dumps({"type": type_, "timestamp": "2026-11-22T10:00:00Z", "data": data})
    sig = node(op="sign", secret=key, id=hid, ts=ts, body=body)
    return svc.request("POST", "/v1/hooks/orders", body=body.encode(),
                       headers={"webhook-id": hid, "webhook-timestamp": str(ts),
                                "webhook-signature": sig, "Content-Type": "application/json"})


def created(svc, key, order):
    return hook(svc, key, "order.created", {"order_id": order, "seller_id": "s-1",
                                            "buyer_id": "b-1", "buyer_name": "Zoe"})


def service_user():
    return os.environ.get("FILIGRANE_USER", "filigrane")


def own(path):
    """A file the worker reads after dropping root must be its user's."""
    if os.getuid() == 0:
        try:
            pw = pwd.getpwnam(service_user())
        except KeyError:
            return
        os.chown(path, pw.pw_uid, pw.pw_gid)


def put(path, text, mode=0o600):
    """Replaced the way an operator (or a secret mount) does: a new file
    renamed over the old one."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    own(tmp)
    os.rename(tmp, path)


def genkey(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", path + ".new"],
                   check=True, capture_output=True)
    os.chmod(path + ".new", 0o600)
    own(path + ".new")
    os.rename(path + ".new", path)


def worker_pid(svc):
    """The filigrane-fcgi that this service's scripts/run.sh started."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open("/proc/%s/stat" % pid).read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if comm == "filigrane-fcgi" and ppid == svc.proc.pid:
            return int(pid)
    return None


def wait_log(path, text, since=0, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with open(path, errors="replace") as f:
                got = f.read()
            if text in got[since:]:
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Receiver:
    """The order system's events endpoint: keeps what it is sent."""

    def __init__(self):
        self.got, self.lock = [], threading.Lock()
        rx = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with rx.lock:
                    rx.got.append({"id": self.headers.get("webhook-id"),
                                   "ts": self.headers.get("webhook-timestamp"),
                                   "sig": self.headers.get("webhook-signature"),
                                   "body": body.decode()})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, type_, seconds=20):
        deadline = time.time() + seconds
        while time.time() < deadline:
            with self.lock:
                for g in self.got:
                    if json.loads(g["body"]).get("type") == type_:
                        return g
            time.sleep(0.1)
        return None

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---- the keys before the rotation ----

data = tempfile.mkdtemp(prefix="filigrane-e2e-rot-")
os.chmod(data, 0o755)
keys = os.path.join(data, "keys")
retired = os.path.join(keys, "retired")
os.makedirs(retired, mode=0o700)
jwt_old, jwt_new, jwt_newer = secret(), secret(), secret()
hook_old, hook_new, events_key = whsec(), whsec(), whsec()
jwt_file = os.path.join(keys, "jwt-secrets")
hook_file = os.path.join(keys, "webhook-secrets")
events_file = os.path.join(keys, "events-secret")
sign_file = os.path.join(keys, "signing-key.pem")
metrics_file = os.path.join(keys, "metrics-token")
metrics_old, metrics_new = "metrics-" + uuid.uuid4().hex, "metrics-" + uuid.uuid4().hex
log_file = os.path.join(data, "log", "worker-own.log")
put(jwt_file, "old:%s\nnew:%s\n" % (jwt_old, jwt_new))
put(hook_file, "%s %s\n" % (hook_old, hook_new))
put(events_file, events_key + "\n")
put(metrics_file, metrics_old + "\n")
genkey(sign_file)

rx = Receiver()
svc = Service(data=data, env={
    "FILIGRANE_JWT_SECRETS_FILE": jwt_file,
    "FILIGRANE_WEBHOOK_SECRET": "",
    "FILIGRANE_WEBHOOK_SECRETS_FILE": hook_file,
    "FILIGRANE_EVENTS_SECRET_FILE": events_file,
    "FILIGRANE_EVENTS_URL": "http://127.0.0.1:%d/events" % rx.port,
    "FILIGRANE_SIGNING_KEY_FILE": sign_file,
    "FILIGRANE_SIGNING_KEYS_RETIRED_DIR": retired,
    "FILIGRANE_LOG_FILE": log_file,
    "FILIGRANE_METRICS_TOKEN": "",
    "FILIGRANE_METRICS_TOKEN_FILE": metrics_file,
})
try:
    pid = worker_pid(svc)
    check("the worker started by run.sh is found", pid is not None)
    check("the worker writes its log to FILIGRANE_LOG_FILE and counts its keys there",
          wait_log(log_file, "jwt_kids=2 webhook_keys=2 events_key=own"),
          open(log_file, errors="replace").read()[-3000:] if os.path.exists(log_file) else "none")

    # -- tokens: jose with each kid, and without one --
    r = created(svc, hook_old, "ord-1")
    check("a webhook signed by standardwebhooks with the old key is taken", r.status == 200, r)
    r = created(svc, hook_new, "ord-2")
    check("a webhook signed by standardwebhooks with the new key is taken", r.status == 200, r)
    r = created(svc, whsec(), "ord-3")
    check("a webhook signed with a key in neither is refused 401", r.status == 401, r)
    for kid, sec in (("old", jwt_old), ("new", jwt_new)):
        r = svc.get("/v1/orders/ord-1", token=jose(sec, kid))
        check("a jose token with kid %s and its secret is taken" % kid, r.status == 200, r)
    r = svc.get("/v1/orders/ord-1", token=jose(svc.jwt_secret))
    check("a jose token without kid is checked with FILIGRANE_JWT_SECRET", r.status == 200, r)
    r = svc.get("/v1/orders/ord-1", token=jose(jwt_new, "old"))
    check("a token naming kid old but signed with new's secret is refused", r.status == 401, r)
    r = svc.get("/v1/orders/ord-1", token=jose(jwt_old, "nope"))
    check("a token with an unknown kid is refused 401 unknown_kid",
          r.status == 401 and (r.json() or {}).get("error", {}).get("code") == "unknown_kid", r)
    r = svc.get("/v1/orders/ord-1", token=jose(svc.jwt_secret, "new"))
    check("a token with kid new signed with the kid-less secret is refused", r.status == 401, r)
    env = dict(os.environ, FILIGRANE_JWT_SECRETS="old:%s new:%s" % (jwt_old, jwt_new))
    env.pop("FILIGRANE_JWT_SECRET", None)
    out = subprocess.run([os.path.join(BIN, "filigrane"), "token", "--role", "buyer", "--sub",
                          "b-1", "--ord", "ord-1", "--kid", "new"], capture_output=True,
                         text=True, env=env, timeout=30)
    r = svc.get("/v1/orders/ord-1", token=out.stdout.strip())
    check("filigrane token --kid new mints a token the worker takes",
          out.returncode == 0 and r.status == 200, (out.stderr, r))
    head = json.loads(base64.urlsafe_b64decode(out.stdout.split(".")[0] + "=="))
    check("and its header names the kid", head.get("kid") == "new", head)

    # -- events: signed with FILIGRANE_EVENTS_SECRET, not the webhook keys --
    r = hook(svc, hook_new, "order.accepted", {"order_id": "ord-1"})
    check("order.accepted signed with the new webhook key is applied", r.status == 200, r)
    ev = rx.wait("order.released")
    check("the order system receives order.released", ev is not None)
    if ev:
        ok = lambda k: node(op="verify", secret=k, id=ev["id"], ts=int(ev["ts"]), sig=ev["sig"],
                            body=ev["body"]) == "ok"
        check("standardwebhooks verifies the event with FILIGRANE_EVENTS_SECRET", ok(events_key))
        check("and not with either incoming webhook key", not ok(hook_old) and not ok(hook_new))

    # -- evidence before the rotation --
    admin = jose(jwt_new, "new")
    r = svc.get("/v1/orders/ord-1/evidence", token=admin)
    check("an evidence bundle is signed before the rotation", r.status == 200, r)
    bundle1 = os.path.join(data, "bundle1.json")
    with open(bundle1, "wb") as f:
        f.write(r.body)
    kid1 = (r.json() or {}).get("signature", {}).get("kid")

    # -- the rotation: files rewritten, then one SIGHUP --
    put(jwt_file, "new:%s newer:%s\n" % (jwt_new, jwt_newer))
    put(hook_file, hook_new + "\n")
    put(metrics_file, metrics_new + "\n")
    r = svc.get("/metrics", token=metrics_old)
    check("/metrics takes the token of FILIGRANE_METRICS_TOKEN_FILE", r.status == 200, r)
    pub = subprocess.run(["openssl", "pkey", "-in", sign_file, "-pubout"], capture_output=True,
                         check=True, text=True).stdout
    put(os.path.join(retired, "2026-11.pem"), pub, 0o644)
    genkey(sign_file)
    since = log_size(log_file)
    os.kill(pid, signal.SIGHUP)
    check("SIGHUP installs the new keys (the log says so)",
          wait_log(log_file, "keys=reloaded generation=3", since), svc.logs())

    r = svc.get("/v1/orders/ord-1", token=jose(jwt_old, "old"))
    check("after SIGHUP a token of the removed kid old is refused 401",
          r.status == 401 and (r.json() or {}).get("error", {}).get("code") == "unknown_kid", r)
    r = svc.get("/v1/orders/ord-1", token=jose(jwt_newer, "newer"))
    check("after SIGHUP a token of the added kid newer is taken", r.status == 200, r)
    r = svc.get("/v1/orders/ord-1", token=admin)
    check("a token of kid new, kept in both sets, still works", r.status == 200, r)
    r = svc.get("/metrics", token=metrics_old)
    check("after SIGHUP the replaced metrics token is refused", r.status == 401, r)
    r = svc.get("/metrics", token=metrics_new)
    check("and the new one is taken", r.status == 200, r)
    r = created(svc, hook_old, "ord-4")
    check("after SIGHUP a webhook signed with the removed key is refused 401", r.status == 401, r)
    r = created(svc, hook_new, "ord-5")
    check("and one signed with the remaining key is taken", r.status == 200, r)

    r = svc.get("/v1/keys")
    kids = [k.get("kid") for k in (r.json() or {}).get("keys", [])]
    check("/v1/keys publishes the new key first and the retired one after",
          len(kids) == 2 and kids[1] == kid1 and kids[0] != kid1, kids)
    jwks = os.path.join(data, "jwks.json")
    with open(jwks, "wb") as f:
        f.write(r.body)
    out = subprocess.run([os.path.join(BIN, "filigrane"), "evidence", "verify", bundle1, "--key",
                          jwks], capture_output=True, text=True, timeout=60)
    check("the bundle signed before the rotation verifies with the published JWK set",
          out.returncode == 0, out.stdout + out.stderr)
    r = svc.get("/v1/orders/ord-1/evidence", token=admin)
    bundle2 = os.path.join(data, "bundle2.json")
    with open(bundle2, "wb") as f:
        f.write(r.body)
    kid2 = (r.json() or {}).get("signature", {}).get("kid")
    check("a new bundle is signed with the new key's kid", kid2 == kids[0] and kid2 != kid1,
          (kid1, kid2))
    out = subprocess.run([os.path.join(BIN, "filigrane"), "evidence", "verify", bundle2, "--key",
                          jwks], capture_output=True, text=True, timeout=60)
    check("and verifies with the same set", out.returncode == 0, out.stdout + out.stderr)
    # A JWK set without the retired key: the old bundle no longer checks.
    only_new = os.path.join(data, "only-new.json")
    with open(only_new, "w") as f:
        json.dump({"keys": [k for k in r.json() and json.load(open(jwks))["keys"]
                            if k["kid"] != kid1]}, f)
    out = subprocess.run([os.path.join(BIN, "filigrane"), "evidence", "verify", bundle1, "--key",
                          only_new], capture_output=True, text=True, timeout=60)
    check("without the retired key in the set the old bundle does not verify",
          out.returncode != 0, out.stdout)

    # -- a broken file: the previous keys stay, the log says why --
    put(jwt_file, "newer:short\n")
    since = log_size(log_file)
    os.kill(pid, signal.SIGHUP)
    check("a SIGHUP with a broken FILIGRANE_JWT_SECRETS_FILE keeps the previous secrets, "
          "naming it",
          wait_log(log_file, 'kept the previous secrets, error="FILIGRANE_JWT_SECRETS', since),
          svc.logs())
    r = svc.get("/v1/orders/ord-1", token=jose(jwt_newer, "newer"))
    check("and kid newer still works", r.status == 200, r)
    put(jwt_file, "new:%s newer:%s\n" % (jwt_new, jwt_newer), 0o644)
    since = log_size(log_file)
    os.kill(pid, signal.SIGHUP)
    check("a group-readable secrets file is refused on SIGHUP too",
          wait_log(log_file, "FILIGRANE_JWT_SECRETS_FILE is open to its group", since),
          svc.logs())
    put(jwt_file, "new:%s newer:%s\n" % (jwt_new, jwt_newer))

    # -- the log file: moved away, SIGHUP, a new one --
    os.rename(log_file, log_file + ".1")
    os.kill(pid, signal.SIGHUP)
    check("after logrotate moved it, SIGHUP makes a new log file",
          wait_log(log_file, "SIGHUP: reopened FILIGRANE_LOG_FILE"))
    svc.get("/v1/orders/ord-1", token=admin)
    check("and requests are logged there, not in the moved one",
          wait_log(log_file, 'path="/v1/orders/ord-1"'))

    # -- SIGHUP with requests in flight: none fails --
    stop, results, lock = threading.Event(), [], threading.Lock()

    def loop(tok):
        while not stop.is_set():
            try:
                st = svc.get("/v1/orders/ord-2", token=tok).status
            except Exception as e:  # noqa: BLE001 - any failure counts
                st = repr(e)
            with lock:
                results.append(st)

    toks = [jose(jwt_new, "new"), jose(jwt_newer, "newer"), jose(svc.jwt_secret), admin]
    threads = [threading.Thread(target=loop, args=(t,)) for t in toks]
    for t in threads:
        t.start()
    time.sleep(0.3)
    for i in range(10):
        # Alternate the webhook file too, so each HUP installs a new set.
        put(hook_file, (hook_new + " " + whsec() if i % 2 else hook_new) + "\n")
        os.kill(pid, signal.SIGHUP)
        time.sleep(0.2)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    bad = [s for s in results if s != 200]
    check("%d requests in flight across 10 SIGHUPs: none failed" % len(results),
          len(results) > 40 and not bad, bad[:10])
    check("the worker is the same process after the SIGHUPs", worker_pid(svc) == pid)
finally:
    # The worker's stderr is FILIGRANE_LOG_FILE here, so a sanitizer report
    # (at exit, too) lands there, not in worker.log that stop() reads.
    svc._kill()
    text = ""
    for name in (log_file + ".1", log_file):
        if os.path.exists(name):
            text += open(name, errors="replace").read()
    bad = [l for l in text.splitlines()
           if "AddressSanitizer" in l or "runtime error:" in l or "LeakSanitizer" in l]
    check("FILIGRANE_LOG_FILE, before and after its rotation, holds no sanitizer report",
          not bad, "\n".join(bad[:20]))
    svc.stop()
    rx.stop()


# ---- FILIGRANE_JWT_AUDIENCE, and events signed with the webhook key by default ----

svc = Service(env={"FILIGRANE_JWT_AUDIENCE": "filigrane-api"})
try:
    svc.create_order("ord-1", "s-1", "b-1")
    r = svc.get("/v1/orders/ord-1", token=jose(svc.jwt_secret, aud="filigrane-api"))
    check("with FILIGRANE_JWT_AUDIENCE, a token whose aud is it is taken", r.status == 200, r)
    r = svc.get("/v1/orders/ord-1", token=jose(svc.jwt_secret, aud=["billing", "filigrane-api"]))
    check("an aud array holding it is taken", r.status == 200, r)
    for aud, what in ((None, "no aud"), ("billing", "another aud"),
                      (["billing"], "an array without it"), ("filigrane-api2", "a longer aud")):
        r = svc.get("/v1/orders/ord-1", token=jose(svc.jwt_secret, aud=aud))
        check("a token with %s is refused 401 bad_audience" % what,
              r.status == 401 and (r.json() or {}).get("error", {}).get("code") == "bad_audience",
              r)
    env = dict(os.environ, FILIGRANE_JWT_SECRET=svc.jwt_secret,
               FILIGRANE_JWT_AUDIENCE="filigrane-api")
    out = subprocess.run([os.path.join(BIN, "filigrane"), "token", "--role", "admin", "--sub",
                          "op"], capture_output=True, text=True, env=env, timeout=30)
    r = svc.get("/v1/orders/ord-1", token=out.stdout.strip())
    check("filigrane token adds FILIGRANE_JWT_AUDIENCE, and the worker takes it",
          r.status == 200, r)
    log = open(os.path.join(svc.data, "log", "worker.log"), errors="replace").read()
    check("without FILIGRANE_EVENTS_SECRET the worker warns at start that events are signed "
          "with the webhook key", "FILIGRANE_EVENTS_SECRET is not set" in log, log[-2000:])
finally:
    svc.stop()

# ---- a bad FILIGRANE_JWT_AUDIENCE stops the worker, naming it ----
try:
    Service(env={"FILIGRANE_JWT_AUDIENCE": "has space"}).stop()
    check("a FILIGRANE_JWT_AUDIENCE with a space stops the worker", False)
except RuntimeError as e:
    check("a FILIGRANE_JWT_AUDIENCE with a space stops the worker, naming it",
          "FILIGRANE_JWT_AUDIENCE" in str(e), str(e)[-500:])

# ---- a FILIGRANE_LOG_FILE that cannot be opened stops the worker, naming it ----
try:
    Service(env={"FILIGRANE_LOG_FILE": "/nonexistent-dir/worker.log"}).stop()
    check("an unopenable FILIGRANE_LOG_FILE stops the worker", False)
except RuntimeError as e:
    check("an unopenable FILIGRANE_LOG_FILE stops the worker, naming it",
          "cannot open FILIGRANE_LOG_FILE" in str(e), str(e)[-500:])

shutil.rmtree(data, ignore_errors=True)
finish()
