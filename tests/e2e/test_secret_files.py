"""Secrets from files (FILIGRANE_*_FILE): the worker started through
scripts/run.sh reads the JWT secret, the webhook secret, the metrics token
and the mark key from 0600 files, uses them, and keeps none of them in
its environment; a file its group or others may read stops it at start,
naming the variable; the variable and its _FILE together stop it too."""
import base64
import os
import shutil
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from service import Service, check, finish  # noqa: E402

d = tempfile.mkdtemp(prefix="filigrane-secrets-")
jwt = "jwt-file-" + uuid.uuid4().hex + uuid.uuid4().hex
hook_key = os.urandom(32)
hook = "whsec_" + base64.b64encode(hook_key).decode()
metrics = "metrics-file-" + uuid.uuid4().hex
mark = "mark-file-" + uuid.uuid4().hex + uuid.uuid4().hex


def put(name, value, mode=0o600):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(value + "\n")
    os.chmod(p, mode)
    return p


env = {}
for var, value in (("FILIGRANE_JWT_SECRET", jwt), ("FILIGRANE_WEBHOOK_SECRET", hook),
                   ("FILIGRANE_METRICS_TOKEN", metrics), ("FILIGRANE_MARK_KEY", mark)):
    env[var] = ""  # empty counts as unset: only the file is given
    env[var + "_FILE"] = put(var.lower(), value)

svc = Service(env=env)
try:
    svc.jwt_secret, svc.hook_key, svc.metrics_token = jwt, hook_key, metrics
    r = svc.create_order("ord-1", "s-1", "b-1")
    check("a webhook signed with the key from FILIGRANE_WEBHOOK_SECRET_FILE is taken",
          r.status == 200, r)
    r = svc.get("/v1/orders/ord-1", token=svc.token("buyer", "b-1", "ord-1"))
    check("a token signed with the secret from FILIGRANE_JWT_SECRET_FILE is taken",
          r.status == 200, r)
    r = svc.get("/v1/orders/ord-1", token=svc.token("buyer", "b-1", "ord-1",
                                                     secret="jwt-" + uuid.uuid4().hex * 2))
    check("a token signed with another secret is refused", r.status == 401, r)
    check("/metrics takes the token from FILIGRANE_METRICS_TOKEN_FILE",
          svc.metrics().status == 200)
    # The worker's own environment: the files' names at most, no value.
    leaked, found = [], False
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if not f.read().split(b"\0")[0].endswith(b"filigrane-fcgi"):
                    continue
            with open("/proc/%s/environ" % pid, "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if svc.data.encode() not in environ:
            continue  # another suite's worker
        found = True
        leaked += [v[:8] for v in (jwt, hook, metrics, mark) if v.encode() in environ]
    check("the worker's environment holds none of the secrets read from files",
          found and not leaked, (found, leaked))
finally:
    svc.stop()


def refused(extra, name, why):
    e = dict(env)
    e.update(extra)
    try:
        s = Service(env=e)
        s.stop()
        check(why, False, "it started")
    except RuntimeError as err:
        check(why, name in str(err), str(err)[-1500:])


refused({"FILIGRANE_JWT_SECRET_FILE": put("jwt-open", jwt, 0o640)},
        "FILIGRANE_JWT_SECRET_FILE",
        "a group-readable FILIGRANE_JWT_SECRET_FILE stops the worker, naming it")
refused({"FILIGRANE_MARK_KEY_FILE": put("mark-open", mark, 0o604)},
        "FILIGRANE_MARK_KEY_FILE",
        "a world-readable FILIGRANE_MARK_KEY_FILE stops the worker, naming it")
refused({"FILIGRANE_WEBHOOK_SECRET": hook}, "FILIGRANE_WEBHOOK_SECRET_FILE",
        "FILIGRANE_WEBHOOK_SECRET and its _FILE together stop the worker")
shutil.rmtree(d, ignore_errors=True)
finish()
