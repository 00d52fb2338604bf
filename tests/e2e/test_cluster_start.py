"""scripts/run-cluster.sh (make run-cluster) itself: it prints both URLs
and tokens good on either node, the database URL without its password and
no secret; wrong S3 credentials and an unreachable or refusing PostgreSQL
stop it at the start with a clear reason and no secret printed, leaving no
process behind; Ctrl-C (SIGINT to its process group) stops PostgreSQL, the
S3 server and both nodes, leaving no process behind."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from cluster import (RUN_CLUSTER, Cluster, free_pair, plain_pass_only, processes_under,  # noqa: E402
                     secrets_in, skip_unless_ready, start_cluster)
from service import BIN, TOP, check, finish, free_port  # noqa: E402

plain_pass_only()
skip_unless_ready()


def managed(c, extra, quiet="1"):
    """run-cluster.sh in a fresh directory, pointed at C's PostgreSQL and
    S3 server (the managed case: it starts neither), with EXTRA on top.
    Returns (exit status or None if it kept running, output, logs)."""
    root = tempfile.mkdtemp(prefix="filigrane-cluster-m-")
    os.chmod(root, 0o755)
    env = c.environ(free_pair())
    env.update(c.s3_settings())
    env["FILIGRANE_DATABASE_URL"] = c.database_url()
    env["FILIGRANE_DATA"] = root
    env["FILIGRANE_QUIET"] = quiet
    env.update(extra)
    proc, up = start_cluster(root, env)
    if up:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except Exception:
        proc.kill()
        proc.wait()
    out = ""
    for name in ("run-cluster.out", "run-cluster.err"):
        out += open(os.path.join(root, name), errors="replace").read()
    logs = ""
    for d, _, names in os.walk(root):
        for n in names:
            if n.endswith(".log"):
                logs += open(os.path.join(d, n), errors="replace").read()
    time.sleep(0.5)
    left = processes_under(root)
    shutil.rmtree(root, ignore_errors=True)
    return (None if up else proc.returncode), out, logs, left


# ---- its own settings, refused at their edges before anything starts ----
for name, value in (("FILIGRANE_CLUSTER_PG_PORT", "0"), ("FILIGRANE_CLUSTER_PG_PORT", "65536"),
                    ("FILIGRANE_CLUSTER_S3_PORT", "12a"), ("FILIGRANE_CLUSTER_S3_PORT", "-1"),
                    ("FILIGRANE_PORT", "65535")):
    root = tempfile.mkdtemp(prefix="filigrane-cluster-v-")
    env = dict(os.environ, FILIGRANE_DATA=root, FILIGRANE_QUIET="1")
    env[name] = value
    p = subprocess.run([RUN_CLUSTER], env=env, capture_output=True, text=True, timeout=60)
    check("%s=%s is refused, naming the setting, with nothing started" % (name, value),
          p.returncode != 0 and name in p.stderr and not os.path.exists(os.path.join(root, "cluster")),
          (p.returncode, p.stderr))
    shutil.rmtree(root, ignore_errors=True)

c = Cluster(env={"FILIGRANE_QUIET": "0"})
n1, n2 = c.nodes
try:
    # The URL line comes first; the rest follows once the tokens are minted.
    deadline = time.time() + 30
    while "stop: Ctrl-C" not in c.output() and time.time() < deadline:
        time.sleep(0.1)
    out = c.output()
    check("it prints both nodes' URLs",
          "http://127.0.0.1:%d" % n1.port in out and "http://127.0.0.1:%d" % n2.port in out, out)
    pw = urllib.parse.urlsplit(c.database_url()).password
    check("it prints the database URL with the password as ***",
          re.search(r"postgres(ql)?://[^:\s]+:\*\*\*@127\.0\.0\.1:\d+/", out) and pw and
          pw not in out, out)
    check("it prints no secret (the environment's are not shown)", not secrets_in(out, c),
          secrets_in(out, c))
    tokens = re.findall(r"(seller|buyer) token\s+\(order ord-demo\): (\S+)", out)
    check("it prints a seller and a buyer token", sorted(t[0] for t in tokens) ==
          ["buyer", "seller"], tokens)
    n1.create_order("ord-demo", "s-demo", "b-demo")
    for role, tok in tokens:
        for node in (n1, n2):
            r = node.get("/v1/orders/ord-demo", token=tok)
            check("the printed %s token is good on node %d" % (role, node.n), r.status == 200, r)

    # The whole story with curl (samples/demo.sh), as the printed hint
    # says, with the cluster's secrets from the environment.
    hint = re.search(r"try: FILIGRANE_DATA=(\S+) samples/demo.sh (\S+)", out)
    check("it prints how to run samples/demo.sh against node 1", hint and
          hint.group(1) == c.data and hint.group(2) == "http://127.0.0.1:%d" % n1.port, out)
    env = dict(os.environ, FILIGRANE_DATA=c.data, FILIGRANE_JWT_SECRET=c.jwt_secret,
               FILIGRANE_WEBHOOK_SECRET=c.hook_secret, FILIGRANE_BIN=BIN)
    p = subprocess.run([os.path.join(TOP, "samples", "demo.sh"), "http://127.0.0.1:%d" % n1.port],
                       env=env, capture_output=True, text=True, timeout=300)
    check("samples/demo.sh walks the whole story on node 1 (original byte for byte)",
          p.returncode == 0 and "byte for byte" in p.stdout, (p.stdout[-1500:], p.stderr[-1500:]))

    # ---- wrong S3 credentials ----
    s3 = c.s3_settings()
    bad_secret = "wrong-" + uuid.uuid4().hex
    rc, out, logs, left = managed(c, {"FILIGRANE_S3_SECRET_ACCESS_KEY": bad_secret})
    check("with a wrong S3 secret key the cluster does not start (non-zero exit)",
          rc not in (None, 0), (rc, out))
    check("and says why: S3 refused the signature (SignatureDoesNotMatch)",
          "SignatureDoesNotMatch" in out and "s3" in out.lower(), out)
    check("without printing the secret, here or in any log",
          bad_secret not in out and bad_secret not in logs)
    check("leaving no process behind", not left, left)
    rc, out, logs, left = managed(c, {"FILIGRANE_S3_ACCESS_KEY_ID": "NOBODY" + uuid.uuid4().hex[:8]})
    check("with an unknown S3 access key the cluster does not start, naming InvalidAccessKeyId",
          rc not in (None, 0) and "InvalidAccessKeyId" in out, (rc, out))
    sk, ak = s3.get("FILIGRANE_S3_SECRET_ACCESS_KEY"), s3.get("FILIGRANE_S3_ACCESS_KEY_ID")
    if sk and sk != ak:
        check("and the configured secret key is not printed either", sk not in out + logs)
    else:
        print("# the S3 server's secret key equals its access key id: its absence is not checked")
    closed = free_port()
    rc, out, logs, left = managed(c, {"FILIGRANE_S3_ENDPOINT": "http://127.0.0.1:%d" % closed})
    check("with an S3 endpoint nobody listens on, it does not start and names the endpoint",
          rc not in (None, 0) and "127.0.0.1:%d" % closed in out, (rc, out))
    check("leaving no process behind (bad endpoint)", not left, left)

    # ---- PostgreSQL unreachable, or refusing the password ----
    pg_pw = "pw-" + uuid.uuid4().hex
    url = "postgres://filigrane:%s@127.0.0.1:%d/filigrane" % (pg_pw, closed)
    rc, out, logs, left = managed(c, {"FILIGRANE_DATABASE_URL": url})
    check("with PostgreSQL unreachable the cluster does not start (non-zero exit)",
          rc not in (None, 0), (rc, out))
    check("and says so, naming the server with the password hidden",
          "cannot connect to PostgreSQL" in out and
          "postgres://filigrane:***@127.0.0.1:%d/filigrane" % closed in out, out)
    check("the password is printed nowhere, not in any log",
          pg_pw not in out and pg_pw not in logs)
    check("leaving no process behind (unreachable PostgreSQL)", not left, left)
    # libpq also takes the password as a parameter, and an unencoded "@"
    # in it: neither is printed.
    for what, make in (("a parameter", lambda pw: "postgres://filigrane@127.0.0.1:%d/filigrane"
                        "?sslmode=disable&password=%s" % (closed, pw)),
                       ("an odd user part", lambda pw: "postgres://filigrane:%s@@127.0.0.1:%d"
                        "/filigrane" % (pw, closed))):
        pw2 = "pw-" + uuid.uuid4().hex
        rc, out, logs, left = managed(c, {"FILIGRANE_DATABASE_URL": make(pw2)})
        check("with the password in %s, unreachable: no start, the password nowhere" % what,
              rc not in (None, 0) and pw2 not in out + logs and "***" in out, (rc, out))
    u = urllib.parse.urlsplit(c.database_url())
    wrong = "postgres://%s:%s@%s:%d%s" % (u.username, pg_pw, u.hostname, u.port, u.path)
    rc, out, logs, left = managed(c, {"FILIGRANE_DATABASE_URL": wrong})
    check("with a wrong database password it does not start, saying authentication failed",
          rc not in (None, 0) and "password authentication failed" in out and
          pg_pw not in out + logs and u.password not in out + logs, (rc, out))

    # ---- the managed case that works: a third pair of nodes joins ----
    rc, out, logs, left = managed(c, {}, quiet="0")
    check("pointed at a running PostgreSQL and S3 server, it starts nodes only "
          "(says it started neither)", rc is None and "not started here" in out and
          "postgres" in out, out)
    check("and stopped with SIGTERM it leaves no process behind", not left, left)

    # ---- Ctrl-C: SIGINT to the script's process group ----
    pgid = os.getpgid(c.proc.pid)
    os.killpg(pgid, signal.SIGINT)
    try:
        rc = c.proc.wait(timeout=60)
    except Exception:
        rc = None
    time.sleep(0.5)
    left = processes_under(c.root)
    check("Ctrl-C stops the cluster (status 0)", rc == 0, (rc, c.output()[-2000:]))
    check("and leaves no postgres, S3 server, nginx or worker running", not left, left)
    pid_files = [os.path.join(c.data, "pg", "data", "postmaster.pid"),
                 os.path.join(n1.data, "run", "nginx.pid"), os.path.join(n2.data, "run", "nginx.pid")]
    check("PostgreSQL and both nginx removed their pid files",
          not [p for p in pid_files if os.path.exists(p)],
          [p for p in pid_files if os.path.exists(p)])
finally:
    c.stop()
finish()
