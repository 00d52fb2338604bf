"""Signed evidence bundles: GET /v1/keys, GET /v1/orders/{order}/evidence,
`filigrane evidence verify` and the README's openssl/jq recipe on a bundle
the real service made. Before release the bundle carries commitments, not
plain hashes; after release the salts are in it. Every tampering a hostile
party could try (a byte changed in any field of any entry, an entry
dropped, two swapped, the signature changed, a bundle re-signed with
another key) fails, exit 4."""
import copy
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from service import BIN, Service, check, finish  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FG = os.path.join(BIN, "filigrane")
T = tempfile.mkdtemp(prefix="filigrane-evidence-")


def recipe():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    m = re.search(r"<!-- evidence-recipe -->\n```sh\n(.*?)```\n<!-- /evidence-recipe -->", text,
                  re.S)
    path = os.path.join(T, "check-evidence.sh")
    with open(path, "w") as f:
        f.write(m.group(1))
    return path


RECIPE = recipe()


def write(name, doc):
    path = os.path.join(T, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)
    return path


def verify(bundle, key=None):
    args = [FG, "evidence", "verify", bundle] + (["--key", key] if key else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def by_recipe(bundle, keys):
    return subprocess.run(["sh", RECIPE, bundle, keys], capture_output=True, text=True,
                          timeout=120)


svc = Service()
try:
    r = svc.get("/v1/keys")
    keys = r.json() or {}
    k = (keys.get("keys") or [{}])[0]
    check("GET /v1/keys answers a JWK set of one Ed25519 key, with no token",
          r.status == 200 and len(keys.get("keys", [])) == 1 and k.get("kty") == "OKP"
          and k.get("crv") == "Ed25519" and k.get("alg") == "EdDSA" and k.get("use") == "sig",
          r)
    import base64
    raw = base64.urlsafe_b64decode(k.get("x", "") + "==")
    check("the kid is the first 16 hex of SHA-256 of the raw public key",
          len(raw) == 32 and k.get("kid") == hashlib.sha256(raw).hexdigest()[:16], k)
    keyfile = os.path.join(svc.data, "signing-key.pem")
    st = os.stat(keyfile)
    check("make run made the signing key in the data directory, mode 0600",
          stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode))
    keys_path = write("keys.json", keys)

    svc.create_order("ev-1", "s-1", "b-1")
    svc.create_order("ev-other", "s-2", "b-2")
    ts = svc.token("seller", "s-1", "ev-1")
    tb = svc.token("buyer", "b-1", "ev-1")
    secret = b"PIN 4821\n"
    r = svc.upload_done("ev-1", [("pin.txt", secret), ("notes.txt", "Zoë\n".encode())], ts,
                        message="first cut, with the PIN")
    check("a delivery is uploaded", r.status == 201, r)

    r = svc.get("/v1/orders/ev-1/evidence", token=svc.token("buyer", "b-2", "ev-1"))
    check("another order's buyer gets no evidence of this order", r.status in (403, 404), r)
    r = svc.get("/v1/orders/ev-1/evidence")
    check("no token, no evidence", r.status == 401, r)

    r = svc.get("/v1/orders/ev-1/evidence", token=tb)
    before = r.json() or {}
    check("the buyer gets the bundle before release", r.status == 200 and before.get("entries"),
          r)
    plain = hashlib.sha256(secret).hexdigest()
    check("before release the bundle carries commitments, never a file's plain sha256",
          plain not in r.body.decode() and "commitment" in r.body.decode())
    b_before = write("before.json", before)
    p = verify(b_before, keys_path)
    check("the CLI verifies the bundle before release against the published key",
          p.returncode == 0 and "intact" in p.stdout and "--key" in p.stdout, p)
    p = by_recipe(b_before, keys_path)
    check("the README's openssl and jq recipe verifies it too",
          p.returncode == 0 and "bundle OK" in p.stdout, p)

    r = svc.hook("order.accepted", {"order_id": "ev-1"})
    check("order.accepted is applied", r.status == 200, r)
    r = svc.get("/v1/orders/ev-1/evidence", token=ts)
    b = r.json() or {}
    rel = [json.loads(e["detail"]) for e in b.get("entries", [])
           if e["action"] == "file.released"]
    check("after release the file.released entries reveal each salt and sha256",
          len(rel) == 2 and all(len(d.get("salt") or "") == 64 for d in rel)
          and plain in [d.get("sha256") for d in rel], rel)
    check("the entries carry the delivery's file names and sizes",
          "pin.txt" in r.body.decode() and '\\"size\\":9' in r.body.decode())
    created = [json.loads(e["detail"]) for e in b.get("entries", [])
               if e["action"] == "delivery.created"]
    check("the delivery.created entry carries the delivery's message",
          [d.get("message") for d in created] == ["first cut, with the PIN"], created)
    long_message = '"\\' * 2048
    r = svc.upload("ev-other", [("x.txt", b"x\n")], svc.token("seller", "s-2", "ev-other"),
                   message=long_message)
    r2 = svc.get("/v1/orders/ev-other/audit", token=svc.token("seller", "s-2", "ev-other"))
    got = [json.loads(e["detail"]).get("message") for e in (r2.json() or {}).get("entries", [])
           if e["action"] == "delivery.created"]
    check("a 4096-byte message that JSON escapes to twice its size is recorded whole",
          r.status == 201 and got == [long_message], (r, got[:1] and len(got[0])))
    check("the released bundle starts with the same entries as before release",
          b.get("entries", [])[:len(before["entries"])] == before["entries"])
    path = write("bundle.json", b)
    p = verify(path, keys_path)
    check("the CLI verifies the released bundle (exit 0, a summary)",
          p.returncode == 0 and "intact, order ev-1, %d entries" % len(b["entries"]) in p.stdout,
          p)
    p = verify(path)
    check("without --key it checks the bundle's own key and says that proves integrity only",
          p.returncode == 0 and "not who signed it" in p.stdout, p)
    p = by_recipe(path, keys_path)
    check("the README recipe verifies the released bundle", p.returncode == 0, p)
    r = svc.get("/v1/orders/ev-1/evidence", token=svc.token("admin", "a-1"))
    check("an admin gets the bundle", r.status == 200, r)

    # Tampering. Every field of every entry, one byte changed.
    fields = ["seq", "at", "actor", "action", "detail", "prev_hash", "hash"]
    bad_cli = []
    bad_recipe = []
    n = len(b["entries"])
    for i in range(n):
        for f in fields:
            t = copy.deepcopy(b)
            v = t["entries"][i][f]
            c = v[-1]
            t["entries"][i][f] = v[:-1] + ("1" if c != "1" else "2")
            tp = write("t.json", t)
            if verify(tp, keys_path).returncode != 4:
                bad_cli.append((i, f))
            if i in (0, n - 1) and by_recipe(tp, keys_path).returncode == 0:
                bad_recipe.append((i, f))
    check("a changed byte in any field of any entry fails the CLI (exit 4), %d cases"
          % (n * len(fields)), not bad_cli, bad_cli)
    check("and fails the README recipe (first and last entry, every field)", not bad_recipe,
          bad_recipe)
    # One byte deep inside the webhook body, where a hostile party would edit it.
    t = copy.deepcopy(b)
    t["entries"][0]["detail"] = t["entries"][0]["detail"].replace("b-1", "b-9", 1)
    p = verify(write("t.json", t), keys_path)
    check("a buyer id changed inside the signed webhook body fails, naming entry 1",
          p.returncode == 4 and "entry 1:" in p.stdout, p)

    cases = {}
    t = copy.deepcopy(b)
    del t["entries"][2]
    cases["a dropped entry"] = t
    t = copy.deepcopy(b)
    del t["entries"][-1]
    cases["the last entry dropped"] = t
    t = copy.deepcopy(b)
    del t["entries"][-1]
    t["head"] = {"seq": str(n - 1), "hash": t["entries"][-1]["hash"]}
    cases["the last entry dropped and the head moved back"] = t
    t = copy.deepcopy(b)
    t["entries"][1], t["entries"][2] = t["entries"][2], t["entries"][1]
    cases["two entries swapped"] = t
    t = copy.deepcopy(b)
    t["entries"][1], t["entries"][2] = t["entries"][2], t["entries"][1]
    t["entries"][1]["seq"], t["entries"][2]["seq"] = "2", "3"
    cases["two entries swapped, their seqs too"] = t
    t = copy.deepcopy(b)
    s = t["signature"]["value"]
    t["signature"]["value"] = ("B" if s[0] != "B" else "C") + s[1:]
    cases["a changed signature"] = t
    t = copy.deepcopy(b)
    t["issued_at"] = "2020-01-01T00:00:00.000Z"
    cases["a changed issued_at"] = t
    t = copy.deepcopy(b)
    t["order_id"] = "ev-other"
    cases["the bundle claimed for another order"] = t
    for name, t in cases.items():
        tp = write("t.json", t)
        p = verify(tp, keys_path)
        q = by_recipe(tp, keys_path)
        check("%s fails the CLI (exit 4) and the recipe" % name,
              p.returncode == 4 and "BROKEN" in p.stdout and q.returncode != 0, (p, q))

    # Another key: a bundle edited then re-signed with a key of the forger's.
    other = os.path.join(T, "other.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", other], check=True)
    der = subprocess.run(["openssl", "pkey", "-in", other, "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    ox = base64.urlsafe_b64encode(der[-32:]).rstrip(b"=").decode()
    okid = hashlib.sha256(der[-32:]).hexdigest()[:16]
    other_jwk = {"kty": "OKP", "crv": "Ed25519", "x": ox, "kid": okid, "use": "sig",
                 "alg": "EdDSA"}
    t = copy.deepcopy(b)

    def ns(s):
        s = s.encode()
        return b"%d:%s," % (len(s), s)
    signed = (b"filigrane-evidence-v1\n" + ns(t["order_id"]) + ns(t["head"]["seq"])
              + ns(t["head"]["hash"]) + ns(t["issued_at"]))
    with open(os.path.join(T, "signed"), "wb") as f:
        f.write(signed)
    sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", other, "-rawin", "-in",
                          os.path.join(T, "signed")], capture_output=True, check=True).stdout
    t["signature"] = {"alg": "EdDSA", "kid": okid,
                      "value": base64.urlsafe_b64encode(sig).rstrip(b"=").decode()}
    t["key"] = other_jwk
    forged = write("forged.json", t)
    p = verify(forged)
    check("a bundle re-signed with another key passes without --key (integrity only, as "
          "documented)", p.returncode == 0 and "not who signed it" in p.stdout, p)
    p = verify(forged, keys_path)
    q = by_recipe(forged, keys_path)
    check("against the published key, a bundle signed by another key fails (exit 4) and "
          "fails the recipe", p.returncode == 4 and okid in p.stdout and q.returncode != 0,
          (p, q))
    t["signature"]["kid"] = k["kid"]
    t["key"] = dict(other_jwk, kid=k["kid"])
    p = verify(write("t.json", t))
    check("another key claiming the service's kid is refused (the kid is not its x's)",
          p.returncode == 4 and "kid" in p.stdout, p)
    t = copy.deepcopy(b)
    t["signature"] = {"alg": "EdDSA", "kid": k["kid"], "value": t["signature"]["value"]}
    p = verify(write("t.json", b), write("k1.json", k))
    check("--key also takes a single JWK", p.returncode == 0, p)
    p = verify(write("t.json", b), write("ko.json", {"keys": [other_jwk]}))
    check("a key set without the bundle's kid fails, naming the kid",
          p.returncode == 4 and k["kid"] in p.stdout, p)
    with open(os.path.join(T, "cut.json"), "w") as f:
        f.write(json.dumps(b)[:-40])
    p = verify(os.path.join(T, "cut.json"), keys_path)
    check("a cut-off bundle is not JSON: exit 4", p.returncode == 4, p)
    # A row rewritten behind the service's back (the triggers dropped, as
    # the database's owner could): the service does not sign it.
    import sqlite3
    db = sqlite3.connect(os.path.join(svc.data, "filigrane.db"))
    for name in [x[0] for x in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]:
        db.execute('DROP TRIGGER "%s"' % name)
    db.execute("UPDATE audit SET actor = 'someone-else' WHERE chain = 'ev-1' AND chain_seq = 2")
    db.commit()
    db.close()
    r = svc.get("/v1/orders/ev-1/evidence", token=tb)
    try:
        json.loads(r.body)
        parsed = True
    except ValueError:
        parsed = False
    check("a chain changed in the database is not signed: the answer is cut short",
          not parsed and b'"signature"' not in r.body, r.body[-200:])
finally:
    svc.stop()

# The key file is the service user's alone: a key others can read stops the worker.
import shutil  # noqa: E402
bad = tempfile.mkdtemp(prefix="filigrane-e2e-key-")
os.chmod(bad, 0o755)
key = os.path.join(bad, "k.pem")
subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
base_env = dict(os.environ, FILIGRANE_DATA=bad, FILIGRANE_USER=os.environ.get("FILIGRANE_USER",
                                                                            "filigrane"),
                FILIGRANE_JWT_SECRET=os.urandom(24).hex(),
                FILIGRANE_WEBHOOK_SECRET="whsec_" + base64.b64encode(os.urandom(32)).decode(),
                FILIGRANE_MARK_KEY=os.urandom(24).hex(), FILIGRANE_SIGNING_KEY_FILE=key)
import pwd  # noqa: E402
svc_uid = pwd.getpwnam(base_env["FILIGRANE_USER"]).pw_uid if os.geteuid() == 0 else os.geteuid()
os.chown(bad, svc_uid, -1)
for mode, owner, why in ((0o644, svc_uid, "readable by others"),
                         (0o640, svc_uid, "readable by its group"),
                         (0o600, 0 if svc_uid != 0 else 1, "owned by another user")):
    os.chmod(key, mode)
    os.chown(key, owner, -1)
    p = subprocess.run([os.path.join(BIN, "filigrane-fcgi")], capture_output=True, text=True,
                       timeout=30, env=base_env)
    check("a signing key %s stops the worker, the variable named" % why,
          p.returncode != 0 and "FILIGRANE_SIGNING_KEY_FILE" in p.stderr, p.stderr[-300:])
os.chmod(key, 0o600)
os.chown(key, svc_uid, -1)
with open(key, "w") as f:
    f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
p = subprocess.run([os.path.join(BIN, "filigrane-fcgi")], capture_output=True, text=True,
                   timeout=30, env=base_env)
check("a signing key file that is no Ed25519 key stops the worker, the variable named",
      p.returncode != 0 and "FILIGRANE_SIGNING_KEY_FILE" in p.stderr, p.stderr[-300:])
shutil.rmtree(bad, ignore_errors=True)
shutil.rmtree(T, ignore_errors=True)
finish()
