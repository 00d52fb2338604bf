"""GET /metrics against the real service, read by a strict Prometheus text
format (0.0.4) parser written here: the histograms of DESIGN's "Metrics"
(request, stamping and job-wait seconds) move with the work done, in base
units; the queue gauge and filigrane_build_info are there.
"""
import math
import os
import re
import subprocess

from service import TOP, Service, check, finish, image

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ParseError(Exception):
    pass


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise ParseError("bad value %r" % s)
    return float(s)


def parse(text):
    """{family: {"type": t, "help": h, "samples": [(name, labels, value)]}};
    raises ParseError on anything the format does not allow."""
    if not text.endswith("\n"):
        raise ParseError("the exposition must end with a newline")
    fams = {}
    current = None
    seen_done = set()
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.match(name):
                    raise ParseError("line %d: bad name %r" % (n, name))
                f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
                if parts[1] == "TYPE":
                    if f["type"] is not None or f["samples"]:
                        raise ParseError("line %d: TYPE repeated or after samples" % n)
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ParseError("line %d: bad type" % n)
                    f["type"] = parts[3]
                else:
                    if f["help"] is not None:
                        raise ParseError("line %d: HELP repeated" % n)
                    f["help"] = parts[3] if len(parts) == 4 else ""
                if current != name:
                    if name in seen_done:
                        raise ParseError("line %d: family %s is split" % (n, name))
                    if current:
                        seen_done.add(current)
                    current = name
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( -?\d+)?\Z", line)
        if not m:
            raise ParseError("line %d: not a sample: %r" % (n, line))
        name, lab, val = m.group(1), m.group(2), m.group(3)
        labels = {}
        if lab:
            body = lab[1:-1]
            pos = 0
            while pos < len(body):
                lm = LABEL.match(body, pos)
                if not lm or lm.group(1) in labels:
                    raise ParseError("line %d: bad labels %r" % (n, lab))
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
                if pos < len(body):
                    if body[pos] != ",":
                        raise ParseError("line %d: bad labels %r" % (n, lab))
                    pos += 1
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and fams.get(base, {}).get("type") == "histogram":
                family = base
        if family != current:
            if family in seen_done:
                raise ParseError("line %d: family %s is split" % (n, family))
            if current:
                seen_done.add(current)
            current = family
        f = fams.setdefault(family, {"type": None, "help": None, "samples": []})
        f["samples"].append((name, labels, parse_value(val)))
    for name, f in fams.items():
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
    return fams


def check_histogram(name, samples):
    series = {}
    for sname, labels, v in samples:
        key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sname == name + "_bucket":
            if "le" not in labels:
                raise ParseError("%s: a bucket without le" % name)
            s["buckets"].append((parse_value(labels["le"]), v))
        elif sname == name + "_sum":
            s["sum"] = v
        elif sname == name + "_count":
            s["count"] = v
        else:
            raise ParseError("%s: stray sample %s" % (name, sname))
    for s in series.values():
        b = s["buckets"]
        if not b or b[-1][0] != math.inf:
            raise ParseError("%s: no +Inf bucket last" % name)
        if any(b[i][0] >= b[i + 1][0] or b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            raise ParseError("%s: buckets not increasing and cumulative" % name)
        if s["count"] != b[-1][1] or s["sum"] is None or s["sum"] < 0:
            raise ParseError("%s: _count differs from +Inf, or no _sum" % name)


def hist(fams, name):
    f = fams.get(name) or {}
    out = {"count": None, "sum": None, "buckets": {}}
    for sname, labels, v in f.get("samples", []):
        if sname == name + "_count":
            out["count"] = v
        elif sname == name + "_sum":
            out["sum"] = v
        elif sname == name + "_bucket":
            out["buckets"][labels["le"]] = v
    return out


# ---- the parser itself refuses what the format does not allow ----
for bad, why in (("a 1", "no newline at the end"),
                 ("a{b=\"c} 1\n", "an unterminated label value"),
                 ("a{b=\"c\",b=\"d\"} 1\n", "a repeated label"),
                 ("a 1ms\n", "a unit in a value"),
                 ("# TYPE a histogram\na_bucket{le=\"1\"} 2\na_bucket{le=\"+Inf\"} 1\n"
                  "a_sum 1\na_count 1\n", "buckets that shrink"),
                 ("# TYPE a histogram\na_bucket{le=\"1\"} 1\na_sum 1\na_count 1\n",
                  "no +Inf bucket"),
                 ("# TYPE a counter\na 1\n# TYPE b counter\nb 1\na 2\n", "a split family")):
    try:
        parse(bad)
        ok = False
    except ParseError:
        ok = True
    check("the test's parser refuses %s" % why, ok)

svc = Service()
try:
    r0 = svc.metrics()
    check("GET /metrics is the Prometheus text format 0.0.4 content type",
          r0.status == 200 and (r0.header("content-type") or "").startswith("text/plain"), r0)
    try:
        m0 = parse(r0.body.decode())
        parsed = True
    except (ParseError, UnicodeDecodeError) as e:
        m0, parsed = {}, False
        print("  " + str(e))
    check("/metrics parses with the strict parser (types, labels, histograms)", parsed)
    for name, typ in (("filigrane_request_duration_seconds", "histogram"),
                      ("filigrane_stamp_duration_seconds", "histogram"),
                      ("filigrane_job_wait_seconds", "histogram"),
                      ("filigrane_jobs_queued", "gauge"),
                      ("filigrane_build_info", "gauge")):
        check("%s is a %s with HELP" % (name, typ),
              (m0.get(name) or {}).get("type") == typ and (m0.get(name) or {}).get("help"),
              m0.get(name))
    check("every metric of a duration is in seconds (no milliseconds anywhere)",
          "millisecond" not in r0.body.decode()
          and not any(re.search(r"_(ms|millis|micro\w*)(_|$)", n) for n in m0))

    bi = [s for s in (m0.get("filigrane_build_info") or {}).get("samples", [])]
    labels = bi[0][1] if bi else {}
    commit = labels.get("commit", "")
    known = subprocess.run(["git", "-C", TOP, "cat-file", "-e", commit + "^{commit}"],
                           capture_output=True).returncode == 0 if commit else False
    check("filigrane_build_info{version,commit} is 1, with the Makefile's version and a "
          "commit of this repository",
          len(bi) == 1 and bi[0][2] == 1 and re.fullmatch(r"\d+\.\d+\.\d+", labels.get("version", ""))
          and re.fullmatch(r"[0-9a-f]{12}", commit) and known, bi)

    req0 = hist(m0, "filigrane_request_duration_seconds")
    st0 = hist(m0, "filigrane_stamp_duration_seconds")
    jw0 = hist(m0, "filigrane_job_wait_seconds")
    svc.create_order("ord-m", "s-m", "b-m")
    seller = svc.token("seller", "s-m", "ord-m")
    buyer = svc.token("buyer", "b-m", "ord-m")
    d = svc.upload_done("ord-m", [("m.png", image("png", 200, 150))], seller).json() or {}
    fid = (d.get("files") or [{}])[0].get("id")
    for _ in range(10):
        svc.get("/v1/files/%s/original" % fid, token=seller)
    m1 = parse(svc.metrics().body.decode())
    req1 = hist(m1, "filigrane_request_duration_seconds")
    st1 = hist(m1, "filigrane_stamp_duration_seconds")
    jw1 = hist(m1, "filigrane_job_wait_seconds")
    check("filigrane_request_duration_seconds counts each request the worker answered "
          "(at least the 13 made)", req1["count"] - req0["count"] >= 13, (req0, req1))
    check("and its sum grows in seconds: a request takes well under a second",
          0 < req1["sum"] - req0["sum"] < (req1["count"] - req0["count"]) * 1.0, (req0, req1))
    check("and its fast buckets fill: most requests answered within 25 ms",
          req1["buckets"]["0.025"] - req0["buckets"]["0.025"] >=
          (req1["count"] - req0["count"]) // 2, req1["buckets"])
    check("filigrane_stamp_duration_seconds counts the preview made (one stamping)",
          st1["count"] - st0["count"] == 1 and 0 < st1["sum"] - st0["sum"] < 120, (st0, st1))
    check("filigrane_job_wait_seconds counts the preview job's wait",
          jw1["count"] - jw0["count"] >= 1, (jw0, jw1))
    q = [s for s in (m1.get("filigrane_jobs_queued") or {}).get("samples", [])]
    check("filigrane_jobs_queued is one whole, non-negative number",
          len(q) == 1 and q[0][2] >= 0 and q[0][2] == int(q[0][2]), q)
finally:
    svc.stop()
finish()
