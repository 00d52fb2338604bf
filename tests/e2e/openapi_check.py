"""Checks the service's answers against openapi.yaml.

service.py calls check_response() for every answer the e2e suites get
through Service.request(), so the description stays true: an answer whose
path, method or status is not described, whose Content-Type is not one
the description lists, whose JSON body breaks its schema, or that lacks a
required documented header (or sends one that breaks its schema) is a
violation, reported as a TAP failure naming the route, the status and
the schema path. check_event() does the same for an event the service
sends (openapi.yaml's webhooks).

The spec is parsed once per process; its $refs are resolved once into
plain schemas, and one JSON Schema 2020-12 validator (python3-jsonschema)
is kept per response schema.

Rules beyond plain OpenAPI, stated in openapi.yaml's description:
- a path no template matches is checked against the top-level
  x-filigrane-unlisted-path responses (nginx's or the router's 404);
- a listed path asked with a method it does not describe, against
  x-filigrane-unlisted-method (405 with Allow);
- a listed path may also answer x-filigrane-every-operation's responses
  (nginx's 502 and 504 when the worker is down or slow);
- a HEAD with no head operation is checked as the GET, without a body;
- a response marked x-filigrane-streamed may be cut short (a body that
  is not JSON): that is how a failure after its head shows.
"""
import json
import os
import re
import sys

try:
    import jsonschema
    import yaml
except ImportError:
    # Debian's python3-jsonschema and python3-yaml (make deps) live in
    # the system's dist-packages, which another python3 on PATH (pyenv)
    # does not search; they are pure Python.
    sys.path.append("/usr/lib/python3/dist-packages")
    import jsonschema
    import yaml

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC_PATH = os.path.join(TOP, "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class Spec:
    def __init__(self, path=SPEC_PATH):
        # libyaml's parser when the binding has it: 5 times faster.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(path) as f:
            self.doc = yaml.load(f, Loader=loader)
        self.routes = []
        for template, item in self.doc.get("paths", {}).items():
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            # Templates with fewer placeholders win (/v1/uploads before
            # /v1/uploads/{upload}; a literal segment before a {x}).
            self.routes.append((template.count("{"), template, re.compile(regex),
                                self.resolve(item)))
        self.routes.sort(key=lambda r: r[0])
        self.unlisted_path = self.resolve(self.doc.get("x-filigrane-unlisted-path", {}))
        self.unlisted_method = self.resolve(self.doc.get("x-filigrane-unlisted-method", {}))
        self.every_op = self.resolve(self.doc.get("x-filigrane-every-operation", {}))
        self.webhooks = self.resolve(self.doc.get("webhooks", {}))
        self.validators = {}

    def deref(self, ref):
        if not ref.startswith("#/"):
            raise ValueError("only local $refs are supported: " + ref)
        node = self.doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def resolve(self, node, depth=0):
        """A copy of node with every $ref replaced by its target (the
        description has no recursive schema)."""
        if depth > 64:
            raise ValueError("$ref nesting too deep (a recursive schema?)")
        if isinstance(node, dict):
            if "$ref" in node:
                target = self.resolve(self.deref(node["$ref"]), depth + 1)
                rest = {k: v for k, v in node.items() if k != "$ref"}
                if not rest:
                    return target
                # 3.1 allows siblings of $ref (description, summary):
                # the target's keywords win for validation.
                merged = dict(self.resolve(rest, depth + 1))
                merged.update(target)
                return merged
            return {k: self.resolve(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(v, depth + 1) for v in node]
        return node

    def validator(self, key, schema):
        v = self.validators.get(key)
        if v is None:
            v = jsonschema.Draft202012Validator(schema)
            self.validators[key] = v
        return v

    def find(self, path):
        """(template, path item) or (None, None)."""
        for _, template, regex, item in self.routes:
            if regex.match(path):
                return template, item
        return None, None


_spec = None


def spec():
    global _spec
    if _spec is None:
        _spec = Spec()
    return _spec


def _media(ct):
    return (ct or "").split(";", 1)[0].strip().lower()


def _media_matches(pattern, media):
    if pattern == "*/*":
        return True
    if pattern.endswith("/*"):
        return media.startswith(pattern[:-1])
    return pattern == media


def _is_json(media):
    return media == "application/json" or media.endswith("+json")


def _schema_path(err):
    return "/".join(str(p) for p in err.absolute_schema_path)


def _instance_path(err):
    return "/" + "/".join(str(p) for p in err.absolute_path)


def _header_value(schema, value):
    """The header's text as the type its schema names (an integer header
    is validated as a number)."""
    t = schema.get("type")
    if t == "integer" and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value.strip())
    return value


def check_response(method, path, status, headers, body):
    """Violations (a list of sentences; empty when the answer matches).
    headers: a dict with lower-case names; body: bytes."""
    s = spec()
    method = method.lower()
    path = path.split("?", 1)[0]
    status_text = str(status)
    template, item = s.find(path)
    if item is None:
        op, where = s.unlisted_path, "x-filigrane-unlisted-path"
        template = "(unlisted path %s)" % path
    else:
        op = item.get(method)
        where = "paths.%s.%s" % (template, method)
        if op is None and method == "head" and "get" in item:
            op, where = item["get"], "paths.%s.get" % template
        if op is None:
            op, where = s.unlisted_method, "x-filigrane-unlisted-method"
    route = "%s %s %s" % (method.upper(), template, status_text)
    responses = op.get("responses") or {}
    resp = (responses.get(status_text) or responses.get(status_text[0] + "XX") or
            responses.get("default"))
    if resp is None and item is not None:
        resp = (s.every_op.get("responses") or {}).get(status_text)
        if resp is not None:
            where = "x-filigrane-every-operation"
    if resp is None:
        return ["%s: status %s is not described at %s.responses (described: %s)"
                % (route, status_text, where, ", ".join(sorted(responses)) or "none")]
    where += ".responses.%s" % status_text
    out = []

    for name, h in (resp.get("headers") or {}).items():
        value = headers.get(name.lower())
        if value is None:
            if h.get("required"):
                out.append("%s: required header %s is missing (%s.headers.%s)"
                           % (route, name, where, name))
            continue
        hschema = h.get("schema")
        if hschema:
            errs = list(s.validator(("h", where, name), hschema).iter_errors(
                _header_value(hschema, value)))
            for e in errs[:3]:
                out.append("%s: header %s: %r: %s (%s.headers.%s.schema/%s)"
                           % (route, name, value, e.message, where, name, _schema_path(e)))

    content = resp.get("content")
    no_body = method == "head" or status in (204, 304) or 100 <= status < 200
    if not content:
        if body and not no_body:
            out.append("%s: a body of %d bytes where %s describes none"
                       % (route, len(body), where))
        return out
    media = _media(headers.get("content-type"))
    if not media:
        if body and not no_body:
            out.append("%s: a body without Content-Type (%s.content lists %s)"
                       % (route, where, ", ".join(content)))
        return out
    key = next((k for k in content if _media_matches(_media(k), media)), None)
    if key is None:
        out.append("%s: Content-Type %s is not one of %s (%s.content)"
                   % (route, media, ", ".join(content), where))
        return out
    schema = (content[key] or {}).get("schema")
    # Only a JSON media type described as such has its body validated: a
    # file's bytes (*/*) are described as a string, whatever they hold.
    if no_body or not schema or not _is_json(media) or not _is_json(_media(key)):
        return out
    try:
        doc = json.loads(body)
    except ValueError as e:
        if resp.get("x-filigrane-streamed"):
            return out  # cut short on purpose: the documented failure signal
        out.append("%s: the body is not JSON (%s): %r" % (route, e, body[:200]))
        return out
    v = s.validator(("b", where, key), schema)
    for e in sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_schema_path))[:5]:
        out.append("%s: body at %s: %s (schema path %s.content.%s.schema/%s)"
                   % (route, _instance_path(e), e.message[:300], where, key, _schema_path(e)))
    return out


def check_event(headers, body):
    """Violations of one event the service sent (a POST to
    FILIGRANE_EVENTS_URL) against openapi.yaml's webhooks: the event type
    must be described, its header parameters present and valid, its
    Content-Type listed and its body valid. headers: lower-case names."""
    s = spec()
    try:
        doc = json.loads(body)
    except ValueError as e:
        return ["event: the body is not JSON (%s): %r" % (e, body[:200])]
    kind = doc.get("type") if isinstance(doc, dict) else None
    op = (s.webhooks.get(kind) or {}).get("post") if isinstance(kind, str) else None
    if op is None:
        return ["event %r is not described in webhooks (described: %s)"
                % (kind, ", ".join(sorted(s.webhooks)))]
    where = "webhooks.%s.post" % kind
    out = []
    for p in op.get("parameters") or []:
        if p.get("in") != "header":
            continue
        value = headers.get(p["name"].lower())
        if value is None:
            if p.get("required"):
                out.append("event %s: required header %s is missing (%s.parameters)"
                           % (kind, p["name"], where))
            continue
        ps = p.get("schema") or {}
        for e in list(s.validator(("eh", where, p["name"]), ps).iter_errors(
                _header_value(ps, value)))[:3]:
            out.append("event %s: header %s: %r: %s (%s.parameters.%s.schema/%s)"
                       % (kind, p["name"], value, e.message, where, p["name"], _schema_path(e)))
    content = (op.get("requestBody") or {}).get("content") or {}
    media = _media(headers.get("content-type"))
    key = next((k for k in content if _media_matches(_media(k), media)), None)
    if key is None:
        out.append("event %s: Content-Type %s is not one of %s (%s.requestBody.content)"
                   % (kind, media or "(none)", ", ".join(content), where))
        return out
    schema = (content[key] or {}).get("schema")
    if schema:
        v = s.validator(("eb", where, key), schema)
        for e in sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_schema_path))[:5]:
            out.append("event %s: body at %s: %s (schema path %s.requestBody.content.%s.schema/%s)"
                       % (kind, _instance_path(e), e.message[:300], where, key, _schema_path(e)))
    return out
