#!/usr/bin/env python3
"""seeds_from_e2e.py - writes the fuzz_http seed corpus (tests/fuzz/corpus/http/)
from the end-to-end tests: every call like ragd.post("/path", json={...}) or
.put("/path", data=b"...") whose path and body are literals becomes one request
file in fuzz_http's format (METHOD URL, headers, blank line, body). Re-run it
when the e2e tests gain routes; the output is committed."""
import ast
import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fuzz/corpus/http"
METHODS = {"get": "GET", "post": "POST", "put": "PUT", "patch": "PATCH", "delete": "DELETE"}


def literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def request_of(call):
    """The fuzz_http text of one literal client call, or None."""
    f = call.func
    if not (isinstance(f, ast.Attribute) and f.attr in METHODS and call.args):
        return None
    path = literal(call.args[0])
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    headers, body = {}, b""
    if "json" in kw:
        v = literal(kw["json"])
        if v is None and not (isinstance(kw["json"], ast.Constant) and kw["json"].value is None):
            return None
        body = json.dumps(v).encode()
        headers["Content-Type"] = "application/json"
    elif "data" in kw:
        v = literal(kw["data"])
        if not isinstance(v, (str, bytes)):
            return None
        body = v.encode() if isinstance(v, str) else v
    if "headers" in kw:
        h = literal(kw["headers"])
        if isinstance(h, dict):
            headers.update({str(k): str(v) for k, v in h.items()})
    head = "".join(f"{k}: {v}\n" for k, v in headers.items())
    return f"{METHODS[f.attr]} {path}\n{head}\n".encode() + body


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    seen = set()
    for src in sorted((ROOT / "tests/e2e").glob("test_*.py")):
        for node in ast.walk(ast.parse(src.read_text())):
            if isinstance(node, ast.Call):
                req = request_of(node)
                if req and len(req) <= 4096 and req not in seen:
                    seen.add(req)
                    name = hashlib.sha1(req).hexdigest()[:16]
                    (OUT / f"e2e-{name}").write_bytes(req)
    print(f"{len(seen)} seeds in {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
