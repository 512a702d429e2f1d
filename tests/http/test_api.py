#!/usr/bin/env python3
"""Keeps docs/api.yaml (the OpenAPI description of `sluice serve`) true.

  test_api.py --base URL --key KEY --job JOB --src SOURCE_DIR --sample FILE
              [--read-key K] [--write-key K]

1. The document: an OpenAPI 3 document (openapi, info, paths), every $ref
   resolves, operation ids unique, path parameters declared, every
   operation says its scope (x-scope) and answers.
2. The routes: every route of the server (the route table,
   HTTP_ROUTES in src/http/http_routes.h, with its methods and scope) is
   described, with those methods and that scope; so a new route without
   documentation fails here.
3. The server: every described operation is called on the running server
   with real values (dataset cdr, the job JOB, its upload and chunk ids, a
   record's key, tus uploads made here, ...). Its status must be a
   documented one (never the server's generic 404 "no such route", never
   405), the query parameters and headers sent must be documented, 2xx
   bodies must match their schemas (required keys and basic types) and
   carry the documented required headers. Secured operations must answer
   401 without a key and 403 with a key lacking their scope.

One line per check, a summary, exit status 1 on any failure. Only the
standard library and PyYAML.
"""
import argparse
import base64
import http.client
import json
import re
import sys
import time
import urllib.parse
import uuid

import yaml

FAILS = []
COUNT = 0
METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
# headers any request may carry without being described
STD_HEADERS = {"authorization", "content-type", "content-length", "host", "accept", "connection",
               "user-agent", "accept-encoding"}


def result(ok, label, detail=""):
    global COUNT
    COUNT += 1
    print(("ok    " if ok else "FAIL  ") + label + ((" -- " + detail) if detail else ""), flush=True)
    if not ok:
        FAILS.append(label + ": " + detail)
    return ok


# --- the document ----------------------------------------------------------------------------


class Spec:
    def __init__(self, path):
        with open(path) as f:
            self.doc = yaml.safe_load(f)

    def ref(self, r):
        if not isinstance(r, str) or not r.startswith("#/"):
            raise KeyError(r)
        node = self.doc
        for part in r[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[part]
        return node

    def deref(self, node, depth=0):
        while isinstance(node, dict) and "$ref" in node and depth < 50:
            node = self.ref(node["$ref"])
            depth += 1
        return node

    def operations(self):
        for p, item in (self.doc.get("paths") or {}).items():
            for m in METHODS:
                if isinstance(item, dict) and m in item:
                    yield p, m, item[m]

    def params(self, path, method):
        item = self.doc["paths"][path]
        out = [self.deref(x) for x in item.get("parameters", [])]
        out += [self.deref(x) for x in item[method].get("parameters", [])]
        return out


def check_document(spec):
    d = spec.doc
    errs = []
    if not isinstance(d, dict):
        return ["not a mapping"]
    # every answer carries X-Correlation-Id, every 429 and 503 Retry-After
    # (issue 10): each response of each operation declares them
    for path, item in (d.get("paths") or {}).items():
        for m, op in (item or {}).items():
            if m not in METHODS or not isinstance(op, dict):
                continue
            for code, resp in (op.get("responses") or {}).items():
                try:
                    hs = spec.deref(resp).get("headers") or {}
                except KeyError:
                    continue  # an unresolved $ref is reported below
                where = "%s %s %s" % (m.upper(), path, code)
                if "X-Correlation-Id" not in hs:
                    errs.append(where + ": X-Correlation-Id not declared")
                if str(code) in ("429", "503") and "Retry-After" not in hs:
                    errs.append(where + ": Retry-After not declared")
    if not re.match(r"^3\.[01]\.\d+$", str(d.get("openapi", ""))):
        errs.append("openapi: not 3.0.x or 3.1.x: %r" % d.get("openapi"))
    info = d.get("info")
    if not isinstance(info, dict) or not info.get("title") or not info.get("version"):
        errs.append("info: title and version are required")
    if not isinstance(d.get("paths"), dict) or not d["paths"]:
        errs.append("paths: missing or empty")
        return errs

    def walk(node, where):
        if isinstance(node, dict):
            if "$ref" in node:
                try:
                    spec.ref(node["$ref"])
                except (KeyError, TypeError, IndexError):
                    errs.append("%s: $ref %s does not resolve" % (where, node["$ref"]))
            for k, v in node.items():
                walk(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s[%d]" % (where, i))

    walk(d, "#")
    if errs:
        return errs
    schemes = (d.get("components") or {}).get("securitySchemes") or {}
    for req in d.get("security", []):
        errs += ["security: no scheme %s" % k for k in req if k not in schemes]
    ids = set()
    for p, m, op in spec.operations():
        where = "%s %s" % (m.upper(), p)
        if not p.startswith("/"):
            errs.append(where + ": a path starts with /")
        oid = op.get("operationId")
        if not oid or oid in ids:
            errs.append(where + ": operationId missing or not unique")
        ids.add(oid)
        resp = op.get("responses")
        if not isinstance(resp, dict) or not resp:
            errs.append(where + ": no responses")
        else:
            for code, r in resp.items():
                if not re.match(r"^([1-5][0-9][0-9]|[1-5]XX|default)$", str(code)):
                    errs.append("%s: response code %r" % (where, code))
                if "description" not in spec.deref(r):
                    errs.append("%s %s: a response needs a description" % (where, code))
        params = spec.params(p, m)
        for prm in params:
            if prm.get("in") not in ("path", "query", "header", "cookie") or not prm.get("name"):
                errs.append(where + ": a parameter needs name and in")
        declared = {x["name"] for x in params if x.get("in") == "path"}
        for name in re.findall(r"\{([^}]+)\}", p):
            if name not in declared:
                errs.append("%s: path parameter {%s} is not declared" % (where, name))
        for prm in params:
            if prm.get("in") == "path" and not prm.get("required"):
                errs.append("%s: path parameter %s must be required" % (where, prm["name"]))
        scope = op.get("x-scope")
        if scope not in ("none", "read", "write", "admin"):
            errs.append(where + ": x-scope must be none, read, write or admin")
        sec = op.get("security", d.get("security", []))
        for req in sec:
            errs += ["%s: security: no scheme %s" % (where, k) for k in req if k not in schemes]
        if (scope == "none") != (sec == []):
            errs.append(where + ": x-scope none exactly when security is []")
    return errs


# --- the routes of the server -------------------------------------------------------------------


def server_routes(src):
    """{route: (methods, scope)} from the route table, HTTP_ROUTES in src/http/http_routes.h
    (the one list the router, the scope checks and the metrics read)."""
    try:
        with open(src + "/src/http/http_routes.h") as f:
            h = f.read()
    except OSError as ex:
        return None, "src/http/http_routes.h: %s" % ex
    rows = re.findall(r'X\((RT_\w+),\s*"([^"]*)",\s*([^,]*),\s*([^,)]*),\s*([^)]*)\)', h)
    if not rows:
        return None, "HTTP_ROUTES not found in src/http/http_routes.h"
    bits = {"M_GET": "get", "M_HEAD": "head", "M_POST": "post", "M_PATCH": "patch",
            "M_DELETE": "delete", "M_OPTIONS": "options", "M_PUT": "put"}
    scopes = {"0": "none", "SCOPE_READ": "read", "SCOPE_WRITE": "write", "SCOPE_ADMIN": "admin"}
    out = {}
    try:
        for rid, name, meth, scope, _flags in rows:
            if name == "other":
                continue
            ms = {bits[x.strip()] for x in meth.split("|") if x.strip() != "0"}
            out[name] = (ms, scopes[scope.strip()])
    except KeyError as ex:
        return None, "HTTP_ROUTES: unknown method or scope %s" % ex
    return out, None


def check_routes(spec, routes):
    paths = spec.doc["paths"]
    for name, (methods, scope) in sorted(routes.items()):
        if name not in paths:
            result(False, "route %s" % name, "served (HTTP_ROUTES) but not described in docs/api.yaml")
            continue
        doc_methods = {m for m in METHODS if m in paths[name]}
        detail = []
        if methods is not None:
            want = set(methods)
            if "get" in want:
                want.discard("head")  # every GET route answers HEAD; describing it is optional
                doc_methods.discard("head")
            if want != doc_methods:
                detail.append("methods served %s, described %s" % (sorted(want), sorted(doc_methods)))
            for m in doc_methods & want:
                xs = paths[name][m].get("x-scope")
                # tus OPTIONS needs no key whatever the route's scope
                if scope is not None and xs != scope and not (m == "options" and xs == "none"):
                    detail.append("%s: scope %s, described %s" % (m.upper(), scope, xs))
        result(not detail, "route %s described" % name, "; ".join(detail))
    for p in paths:
        if p not in routes:
            result(False, "path %s" % p, "described but not a route of the server")


# --- schemas ----------------------------------------------------------------------------------------


def validate(spec, schema, v, where, errs):
    """A light check: types, required keys, enums, nested objects and arrays."""
    s = spec.deref(schema or {})
    for sub in s.get("allOf", []):
        validate(spec, sub, v, where, errs)
    for key in ("oneOf", "anyOf"):
        if key in s:
            tries = []
            for sub in s[key]:
                e = []
                validate(spec, sub, v, where, e)
                tries.append(e)
            if all(tries):
                errs.append("%s: matches none of %s (%s)" % (where, key, min(tries, key=len)[0]))
    t = s.get("type")
    types = t if isinstance(t, list) else [t] if t else []
    if v is None:
        if types and not s.get("nullable") and "null" not in types:
            errs.append(where + ": null")
        return
    check = {"object": lambda x: isinstance(x, dict), "array": lambda x: isinstance(x, list),
             "string": lambda x: isinstance(x, str), "boolean": lambda x: isinstance(x, bool),
             "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
             "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
             "null": lambda x: x is None}
    if types and not any(check[x](v) for x in types):
        errs.append("%s: %s is not %s" % (where, json.dumps(v)[:60], "/".join(types)))
        return
    if "enum" in s and v not in s["enum"]:
        errs.append("%s: %r not in %s" % (where, v, s["enum"]))
    if isinstance(v, dict):
        for k in s.get("required", []):
            if k not in v:
                errs.append("%s: no %s" % (where, k))
        props = s.get("properties", {})
        extra = s.get("additionalProperties", True)
        for k, x in v.items():
            if k in props:
                validate(spec, props[k], x, where + "." + k, errs)
            elif extra is False:
                errs.append("%s: %s is not described" % (where, k))
            elif isinstance(extra, dict) and extra:
                validate(spec, extra, x, where + "." + k, errs)
    elif isinstance(v, list) and "items" in s:
        for i, x in enumerate(v[:100]):
            validate(spec, s["items"], x, "%s[%d]" % (where, i), errs)


# --- the server ----------------------------------------------------------------------------------------


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        try:
            return json.loads(self.body.decode())
        except (ValueError, UnicodeDecodeError):
            return None


class Client:
    def __init__(self, base, key):
        u = urllib.parse.urlsplit(base)
        self.host, self.port, self.key = u.hostname, u.port or 80, key

    def send(self, method, path, query=None, headers=None, body=None, key=True):
        url = path
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        h = dict(headers or {})
        if key is True and self.key:
            h["Authorization"] = "Bearer " + self.key
        elif isinstance(key, str):
            h["Authorization"] = "Bearer " + key
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, url, body=body, headers=h)
            r = conn.getresponse()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if method == "HEAD":
                data = b""
            elif (hdrs.get("content-type") or "").startswith("text/event-stream"):
                data = b""  # the first event is enough; a stream may run on
                while b"\n\n" not in data:
                    line = r.fp.readline()
                    if not line:
                        break
                    data += line
            else:
                data = r.read()
            return Resp(r.status, hdrs, data)
        finally:
            conn.close()


class Checker:
    def __init__(self, spec, client, keys):
        self.spec, self.c, self.keys = spec, client, keys
        self.done = set()  # (path, method) exercised

    def op(self, path, method):
        item = self.spec.doc["paths"].get(path) or {}
        return item.get(method)

    def call(self, method, tmpl, label, values=None, query=None, headers=None, body=None, key=True,
             want=None, raw_path=None):
        """Send one request for the described operation METHOD TMPL and check
        the answer against the description. want: statuses this particular
        request should get (each must also be documented)."""
        m = method.lower()
        op = self.op(tmpl, m)
        name = "%s %s [%s]" % (method, tmpl, label)
        if op is None:
            result(False, name, "not described in docs/api.yaml")
            return None
        self.done.add((tmpl, m))
        params = self.spec.params(tmpl, m)
        detail = []
        # what the request carries must be described
        qnames = {p["name"] for p in params if p["in"] == "query"}
        free = any(p["in"] == "query" and self.spec.deref(p.get("schema", {})).get("type") == "object"
                   for p in params)
        hnames = {p["name"].lower() for p in params if p["in"] == "header"}
        if raw_path and "?" in raw_path:
            query_names = [k for k, _ in urllib.parse.parse_qsl(raw_path.split("?", 1)[1])]
        else:
            query_names = list(query or {})
        for q in query_names:
            if q not in qnames and not free:
                detail.append("query parameter %s is not described" % q)
        for hname in headers or {}:
            if hname.lower() not in hnames and hname.lower() not in STD_HEADERS:
                detail.append("header %s is not described" % hname)
        path = raw_path or tmpl
        if not raw_path:
            for k, v in (values or {}).items():
                path = path.replace("{%s}" % k, urllib.parse.quote(str(v), safe=""))
        try:
            r = self.c.send(method, path, query, headers, body, key)
        except (OSError, http.client.HTTPException) as ex:
            result(False, name, "request failed: %s" % ex)
            return None
        detail += self.check_answer(op, r)
        if want and r.status not in want:
            detail.append("status %d, this request should get %s" % (r.status, sorted(want)))
        result(not detail, "%s -> %d" % (name, r.status), "; ".join(detail))
        return r

    def check_answer(self, op, r):
        detail = []
        body = r.json()
        if r.status == 404 and body and (body.get("error") or {}).get("message") == "no such route":
            return ["the server's generic 404: no such route"]
        if r.status == 405:
            return ["405: the server does not take this method here"]
        responses = op["responses"]
        doc = responses.get(str(r.status)) or responses.get(str(r.status)[0] + "XX") \
            or responses.get("default")
        if doc is None:
            return ["status %d is not documented (%s)" % (r.status, ", ".join(sorted(map(str, responses))))]
        doc = self.spec.deref(doc)
        for hname, h in (doc.get("headers") or {}).items():
            if self.spec.deref(h).get("required") and r.header(hname) is None:
                detail.append("no %s header" % hname)
        content = doc.get("content") or {}
        if not r.body:
            return detail
        ctype = (r.header("content-type") or "").split(";")[0].strip().lower()
        media = content.get(ctype)
        if media is None:
            return detail + ["Content-Type %s is not documented for %d" % (ctype or "(none)", r.status)]
        schema = media.get("schema")
        errs = []
        if ctype == "application/json":
            if body is None:
                return detail + ["the body is not JSON"]
            validate(self.spec, schema, body, "body", errs)
        elif ctype == "application/x-ndjson":
            for i, line in enumerate(r.body.decode().splitlines()[:100]):
                try:
                    validate(self.spec, schema, json.loads(line), "line %d" % (i + 1), errs)
                except ValueError:
                    errs.append("line %d is not JSON" % (i + 1))
        elif ctype == "text/event-stream":
            ev = r.body.decode()
            m = re.search(r"^data: (.*)$", ev, re.M)
            if not re.search(r"^event: \w+$", ev, re.M) or not m:
                errs.append("no event in the stream")
            elif not isinstance(json.loads(m.group(1)), dict):
                errs.append("the event's data is not a JSON object")
        return detail + errs[:5]

    def auth(self, tmpl, method, values):
        """401 without a key; 403 with a key lacking the operation's scope."""
        op = self.op(tmpl, method.lower())
        scope = op.get("x-scope") if op else None
        if scope in (None, "none"):
            return
        path = tmpl
        for k, v in values.items():
            path = path.replace("{%s}" % k, urllib.parse.quote(str(v), safe=""))
        r = self.c.send(method, path, key=False)
        ok = r.status == 401 and "401" in op["responses"]
        result(ok, "%s %s [no key] -> %d" % (method, tmpl, r.status), "" if ok else "want a documented 401")
        other = [k for s, k in self.keys.items() if s != scope and k]
        if other:
            r = self.c.send(method, path, key=other[0])
            ok = r.status == 403 and "403" in op["responses"]
            result(ok, "%s %s [key without %s] -> %d" % (method, tmpl, scope, r.status),
                   "" if ok else "want a documented 403")


def wait_final(c, job, secs=60):
    st = None
    for _ in range(secs * 10):
        r = c.send("GET", "/v1/jobs/" + job)
        st = (r.json() or {}).get("status")
        if st in ("Succeeded", "PartiallySucceeded", "Failed", "Cancelled", "RolledBack"):
            break
        time.sleep(0.1)
    return st


def exercise(ck, job, sample):
    c = ck.c
    v = {"name": "cdr", "id": job}
    # health, metrics, the dashboard: no key
    ck.call("GET", "/healthz/live", "no key", key=False, want={200})
    ck.call("GET", "/healthz/ready", "no key", key=False, want={200})
    ck.call("GET", "/metrics", "no key", key=False, want={200})
    ck.call("GET", "/", "no key", key=False, want={200})
    r = ck.call("GET", "/v1/datasets", "all", want={200})
    dsk = []
    for d in ((r.json() or {}).get("datasets", []) if r else []):
        if d.get("name") == "cdr":
            dsk = d.get("key", [])
    # jobs
    r = ck.call("GET", "/v1/jobs/{id}", "job id", v, want={200})
    j = (r.json() or {}) if r else {}
    ck.call("GET", "/v1/jobs", "filters", query={"status": j.get("status", "Succeeded"), "dataset": "cdr",
                                                  "prefix": job[:6], "limit": 1}, want={200})
    if j.get("upload_id"):
        r = ck.call("GET", "/v1/jobs/{id}", "upload id", {"id": j["upload_id"]}, want={200})
        got = (r.json() or {}).get("job_id") if r else None
        result(got == job, "GET /v1/jobs/{upload id} names the job", "job_id %s, want %s" % (got, job))
    r = ck.call("GET", "/v1/jobs/{id}/chunks", "job id", v, want={200})
    chunks = (r.json() or {}).get("chunks", []) if r else []
    if chunks:
        r = ck.call("GET", "/v1/jobs/{id}", "chunk id", {"id": chunks[0]["chunk_id"]}, want={200})
        errs = []
        validate(ck.spec, {"$ref": "#/components/schemas/Chunk"}, r.json() if r else None, "chunk", errs)
        result(not errs, "GET /v1/jobs/{chunk id} is a Chunk", "; ".join(errs[:3]))
    ck.call("GET", "/v1/jobs/{id}/chunks", "unknown job", {"id": "jnosuchjob"}, want={404})
    ck.call("GET", "/v1/jobs/{id}/errors", "csv", v, query={"format": "csv"}, want={200})
    ck.call("GET", "/v1/jobs/{id}/errors", "jsonl, code", v, query={"format": "jsonl", "code": "DUP_KEY"},
            want={200})
    ck.call("GET", "/v1/jobs/{id}/events", "finished job", v, want={200})
    # records
    r = ck.call("GET", "/v1/datasets/{name}/records", "limit", v, query={"limit": 2}, want={200})
    page = (r.json() or {}) if r else {}
    recs = page.get("records", [])
    if page.get("next_cursor"):
        ck.call("GET", "/v1/datasets/{name}/records", "job_id, cursor", v,
                query={"job_id": job, "limit": 2, "cursor": page["next_cursor"]}, want={200})
    if recs and recs[0].get("caller_id") is not None:
        ck.call("GET", "/v1/datasets/{name}/records", "COLUMN=VALUE", v,
                query={"caller_id": recs[0]["caller_id"]}, want={200})
    ck.call("GET", "/v1/datasets/{name}/records", "not filterable", v, query={"duration": "1"}, want={400})
    if recs and dsk:
        key = ",".join(str(recs[0].get(k)) for k in dsk)
        ck.call("GET", "/v1/datasets/{name}/records/{key}", "a loaded key", dict(v, key=key), want={200})
    ck.call("GET", "/v1/datasets/{name}/records/{key}", "no such key", dict(v, key="no-such-key"), want={404})
    # uploads: a signed URL (no key), raw with Idempotency-Key twice, multipart
    r = ck.call("POST", "/v1/datasets/{name}/upload-urls", "expires_in", v, query={"expires_in": 300}, want={201})
    signed = (r.json() or {}).get("path") if r else None
    if signed:
        ck.call("POST", "/v1/datasets/{name}/uploads", "signed URL, no key", raw_path=signed, body=sample,
                key=False, want={202})
    idem = {"Idempotency-Key": "api-test-" + uuid.uuid4().hex, "X-Correlation-Id": "api-test",
            "Content-Type": "text/csv"}
    r1 = ck.call("POST", "/v1/datasets/{name}/uploads", "raw, Idempotency-Key", v, headers=idem, body=sample,
                 want={202})
    r2 = ck.call("POST", "/v1/datasets/{name}/uploads", "the same again", v, headers=idem, body=sample,
                 want={200})
    if r1 and r2:
        a, b = (r1.json() or {}).get("job_id"), (r2.json() or {}).get("job_id")
        result(a and a == b, "an Idempotency-Key gives the same job", "%s then %s" % (a, b))
    bnd = "sluice" + uuid.uuid4().hex
    mp = (("--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
           "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n"
           "Content-Type: text/csv\r\n\r\n" % (bnd, bnd)).encode() + sample + ("\r\n--%s--\r\n" % bnd).encode())
    r = ck.call("POST", "/v1/datasets/{name}/uploads", "multipart", v,
                headers={"Content-Type": "multipart/form-data; boundary=" + bnd}, body=mp, want={202})
    mjob = (r.json() or {}).get("job_id") if r else None
    ck.call("POST", "/v1/datasets/{name}/uploads", "unknown dataset", {"name": "nosuchdataset"},
            body=sample, want={404})
    # several jobs now: pages
    r = ck.call("GET", "/v1/jobs", "page 1", query={"limit": 1}, want={200})
    cur = (r.json() or {}).get("next_cursor") if r else None
    result(bool(cur), "GET /v1/jobs?limit=1 of several jobs has a next_cursor")
    if cur:
        ck.call("GET", "/v1/jobs", "page 2", query={"limit": 1, "cursor": cur}, want={200})
    # tus
    tus = {"Tus-Resumable": "1.0.0"}
    meta = "dataset %s,filename %s" % (base64.b64encode(b"cdr").decode(), base64.b64encode(b"s.csv").decode())
    ck.call("OPTIONS", "/v1/tus", "no key", key=False, want={204})
    ids = []
    for _ in range(2):
        r = ck.call("POST", "/v1/tus", "create", headers=dict(tus, **{"Upload-Length": str(len(sample)),
                                                                        "Upload-Metadata": meta}), want={201})
        loc = r.header("location") if r else None
        if loc:
            ids.append(loc.rsplit("/", 1)[1])
    ck.call("POST", "/v1/tus", "no Tus-Resumable", want={412})
    if len(ids) == 2:
        t = {"id": ids[0]}
        ck.call("OPTIONS", "/v1/tus/{id}", "no key", t, key=False, want={204})
        r = ck.call("HEAD", "/v1/tus/{id}", "new", t, headers=tus, want={200})
        result(r is not None and r.header("upload-offset") == "0", "HEAD /v1/tus/{id}: Upload-Offset 0",
               "got %s" % (r.header("upload-offset") if r else None))
        half = len(sample) // 2
        pt = dict(tus, **{"Content-Type": "application/offset+octet-stream"})
        ck.call("PATCH", "/v1/tus/{id}", "first half", t, headers=dict(pt, **{"Upload-Offset": "0"}),
                body=sample[:half], want={204})
        ck.call("PATCH", "/v1/tus/{id}", "wrong offset", t, headers=dict(pt, **{"Upload-Offset": "0"}),
                body=sample[half:], want={409})
        r = ck.call("PATCH", "/v1/tus/{id}", "the rest", t, headers=dict(pt, **{"Upload-Offset": str(half)}),
                    body=sample[half:], want={204})
        result(r is not None and bool(r.header("x-job-id")), "the last PATCH names the job (X-Job-Id)")
        ck.call("HEAD", "/v1/tus/{id}", "complete", t, headers=tus, want={200})
        ck.call("DELETE", "/v1/tus/{id}", "complete", t, headers=tus, want={409})
        ck.call("DELETE", "/v1/tus/{id}", "unfinished", {"id": ids[1]}, headers=tus, want={204})
        ck.call("HEAD", "/v1/tus/{id}", "deleted", {"id": ids[1]}, headers=tus, want={404})
    # cancel (the multipart upload's job, once it has ended: one answer, 409),
    # then retry the job (nothing failed in it: 409) and roll it back
    if mjob:
        wait_final(c, mjob)
        ck.call("POST", "/v1/jobs/{id}/cancel", "a finished job", {"id": mjob}, want={409})
    ck.call("POST", "/v1/jobs/{id}/cancel", "unknown job", {"id": "jnosuchjob"}, want={404})
    ck.call("POST", "/v1/jobs/{id}/retry", "finished job, no failed chunk", v, want={409})
    st = wait_final(c, job)
    result(st in ("Succeeded", "PartiallySucceeded", "Failed", "Cancelled", "RolledBack"),
           "the retried job ends", "status %s" % st)
    ck.call("POST", "/v1/jobs/{id}/retry", "unknown job", {"id": "jnosuchjob"}, want={404})
    ck.call("POST", "/v1/jobs/{id}/rollback", "finished job", v, want={200})
    ck.call("POST", "/v1/jobs/{id}/rollback", "unknown job", {"id": "jnosuchjob"}, want={404})
    # the keys: 401 and 403 on every secured operation (refused before any handler)
    for p, m, op in ck.spec.operations():
        vals = {"name": "cdr", "id": ids[0] if p.startswith("/v1/tus/") and ids else job, "key": "k"}
        ck.auth(p, m.upper(), vals)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True, help="a key with every scope")
    ap.add_argument("--job", required=True, help="a finished job with rejected rows, in dataset cdr")
    ap.add_argument("--src", required=True, help="the source tree")
    ap.add_argument("--sample", required=True, help="a small CSV file of dataset cdr to upload")
    ap.add_argument("--read-key", help="a key with the read scope only")
    ap.add_argument("--write-key", help="a key with the write scope only")
    ap.add_argument("--spec", help="the document (default SRC/docs/api.yaml)")
    a = ap.parse_args()

    spec = Spec(a.spec or a.src + "/docs/api.yaml")
    errs = check_document(spec)
    for e in errs:
        result(False, "docs/api.yaml", e)
    if not errs:
        result(True, "docs/api.yaml is an OpenAPI %s document; every $ref resolves" % spec.doc["openapi"])
    if errs:
        print("api: the document is broken; the server is not checked")
        return 1

    routes, note = server_routes(a.src)
    if routes is None:
        result(False, "routes", note)
    else:
        if note:
            print("WARN  " + note)
        check_routes(spec, routes)

    with open(a.sample, "rb") as f:
        sample = f.read()
    ck = Checker(spec, Client(a.base, a.key), {"read": a.read_key, "write": a.write_key})
    exercise(ck, a.job, sample)

    # every described operation was called; those the plan above does not
    # know (a newly described route) get a plain request
    for p, m, op in spec.operations():
        if (p, m) not in ck.done:
            vals = {"name": "cdr", "id": a.job, "key": "k"}
            ck.call(m.upper(), p, "default request", vals)
    nops = sum(1 for _ in spec.operations())
    print("api: %d operations described, %d routes served; %d checks, %d failed"
          % (nops, len(routes or {}), COUNT, len(FAILS)))
    for f in FAILS:
        print("  FAILED: " + f)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
