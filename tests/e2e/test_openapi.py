"""The OpenAPI document and the /docs page end to end: /openapi.json is a valid OpenAPI
3.1 document (openapi-spec-validator), real answers of the running binary match the
response schemas it gives for their route and status (jsonschema, draft 2020-12),
/docs is served without a credential and renders every operation in headless
Chromium. Which routes the document lists is checked against the router by
tests/unit/test_api_docs.c."""
import json
import os
import shutil
import subprocess

import jsonschema
import pytest
import requests
from openapi_spec_validator import validate

from fake_upstream import FakeUpstream
from ragdtest import ROOT, Ragd

ADMIN = "openapi-admin-key-0123456789"
H = {"X-API-Key": ADMIN}


@pytest.fixture(scope="module")
def server():
    up = FakeUpstream().start()
    s = Ragd(env={"RAGD_ADMIN_KEY": ADMIN, "RAGD_UPSTREAM_URL": up.url}).start()
    s.doc = requests.get(s.url + "/openapi.json", headers=H, timeout=30).json()
    yield s
    s.cleanup()
    up.stop()


def response_schema(doc, method, template, status, ctype):
    """The schema the document gives for this answer, with the document's components
    beside it so that its local $refs resolve."""
    op = doc["paths"][template][method]
    res = op["responses"]
    r = res.get(str(status)) or res.get(f"{str(status)[0]}XX") or res.get("default")
    assert r is not None, f"{method} {template}: status {status} is not documented"
    if "$ref" in r:
        r = doc["components"]["responses"][r["$ref"].rsplit("/", 1)[1]]
    content = r.get("content", {})
    media = content.get(ctype) or content.get("*/*")
    assert media is not None, f"{method} {template} {status}: no schema for {ctype}"
    return dict(media["schema"], components=doc["components"])


def check(server, resp, method, template):
    """Validate a real answer against the document; returns the body."""
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip()
    schema = response_schema(server.doc, method, template, resp.status_code, ctype)
    body = resp.json()
    jsonschema.Draft202012Validator(schema).validate(body)
    return body


def call(server, method, path, template=None, headers=H, **kw):
    resp = requests.request(method, server.url + path, headers=headers, timeout=60, **kw)
    return resp, check(server, resp, method.lower(), template or path)


def test_document_is_valid_openapi_31(server):
    doc = server.doc
    validate(doc)  # raises on any error
    assert doc["openapi"].startswith("3.1")
    with open(os.path.join(ROOT, "docs", "openapi.json"), encoding="utf-8") as f:
        assert json.load(f) == doc, "the binary serves the checked-in document"
    ops = [op for item in doc["paths"].values() for m, op in item.items()
           if m in ("get", "head", "post", "put", "patch", "delete")]
    assert len(ops) > 50 and all(op.get("operationId") for op in ops)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header",
                                 "name": "X-API-Key"}
    assert schemes["bearer"]["scheme"] == "bearer"
    for name in ("Error", "SearchResult", "RagContext", "Job", "Session", "Message",
                 "Namespace", "Document", "CacheEntry", "OpenAIEmbeddingResponse", "TeiInfo"):
        assert name in doc["components"]["schemas"], name


def test_schemas_reject_a_wrong_body(server):
    """The check below has teeth: an answer without a required field, or with a field
    of the wrong type, fails validation."""
    schema = response_schema(server.doc, "post", "/api/v1/ratelimit/check", 200,
                             "application/json")
    v = jsonschema.Draft202012Validator(schema)
    assert not v.is_valid({"allowed": True, "remaining": 1, "reset_after": 1})
    assert not v.is_valid({"allowed": "yes", "remaining": 1, "reset_after": 1, "retry_after": 0})
    err = response_schema(server.doc, "get", "/health", 404, "application/json")
    assert not jsonschema.Draft202012Validator(err).is_valid({"error": "text"})


def test_ops_and_cache_answers_match(server):
    call(server, "GET", "/health", headers={})
    resp, body = call(server, "PUT", "/api/v1/cache/notes/k1?ttl=60", "/api/v1/cache/{prefix}/{key}",
                      headers=dict(H, **{"Content-Type": "application/json"}), data='{"a": 1}')
    assert resp.status_code == 200 and body["stored"] is True
    resp, body = call(server, "GET", "/api/v1/cache/notes/k1", "/api/v1/cache/{prefix}/{key}")
    assert resp.status_code == 200 and body == {"a": 1}
    resp, _ = call(server, "GET", "/api/v1/cache/notes/none", "/api/v1/cache/{prefix}/{key}")
    assert resp.status_code == 404
    call(server, "POST", "/api/v1/cache/key", json={"prefix": "gen", "model": "m", "params": {}})
    call(server, "GET", "/api/v1/cache/stats")
    call(server, "POST", "/api/v1/cache/config", json={"prefix": "notes", "ttl": 120})
    call(server, "POST", "/api/v1/cache/warm-up",
         json={"entries": [{"prefix": "notes", "key": "w", "value": "v"}]})
    resp, body = call(server, "DELETE", "/api/v1/cache/notes/k1", "/api/v1/cache/{prefix}/{key}")
    assert body == {"deleted": 1}
    call(server, "POST", "/api/v1/cache/clear", json={"prefix": "notes"})


def test_embedding_answers_match(server):
    call(server, "POST", "/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": ["a", "b"]})
    call(server, "POST", "/api/v1/embeddings/generate",
         json={"text": "leg day", "user_id": "u1", "content_type": "note"})
    _, items = call(server, "GET", "/api/v1/users/u1/items", "/api/v1/users/{user_id}/items")
    call(server, "GET", f"/api/v1/users/u1/items/{items['items'][0]['id']}",
         "/api/v1/users/{user_id}/items/{id}")
    for path, body in (("/embed", {"inputs": "hi"}), ("/rerank", {"query": "a", "texts": ["a", "b"]}),
                       ("/tokenize", {"inputs": "hi"})):
        call(server, "POST", path, json=body)
    call(server, "GET", "/info")
    resp, _ = call(server, "POST", "/embed", json={"inputs": []})  # TEI's own error shape
    assert resp.status_code == 400


def test_knowledge_search_rag_answers_match(server):
    ns = "/api/v1/namespaces/oa"
    resp, _ = call(server, "POST", "/api/v1/namespaces", json={"name": "oa", "description": "fitness"})
    assert resp.status_code == 201
    call(server, "GET", "/api/v1/namespaces")
    call(server, "GET", ns, "/api/v1/namespaces/{ns}")
    call(server, "PATCH", ns, "/api/v1/namespaces/{ns}", json={"description": "fitness notes"})
    docs = [{"id": "d1", "text": "Squats build leg strength.", "metadata": {"t": "a"}},
            {"id": "d2", "text": "Rest days matter for recovery."}]
    call(server, "POST", ns + "/documents", "/api/v1/namespaces/{ns}/documents",
         json={"documents": docs, "wait": True})
    call(server, "GET", ns + "/documents?with_chunks=true", "/api/v1/namespaces/{ns}/documents")
    call(server, "GET", ns + "/documents/d1", "/api/v1/namespaces/{ns}/documents/{id}")
    _, body = call(server, "POST", "/api/v1/search/hybrid",
                   json={"query": "legs", "namespaces": ["oa"], "explain": True})
    assert body["results"]
    _, body = call(server, "POST", "/api/v1/rag/query",
                   json={"query": "legs", "namespaces": ["oa"], "include_context": True})
    assert body["context"]
    call(server, "POST", "/api/v1/route", json={"query": "legs"})
    call(server, "POST", "/api/v1/rerank", json={"query": "legs", "candidates": ["squats", "rest"]})
    call(server, "POST", "/v1/rerank", json={"query": "legs", "documents": ["squats", "rest"]})
    call(server, "POST", ns + "/documents/delete", "/api/v1/namespaces/{ns}/documents/delete",
         json={"filter": {"t": "a"}})
    call(server, "DELETE", ns + "/documents/d2", "/api/v1/namespaces/{ns}/documents/{id}")
    resp, _ = call(server, "GET", ns + "/documents/d2", "/api/v1/namespaces/{ns}/documents/{id}")
    assert resp.status_code == 404
    call(server, "DELETE", ns, "/api/v1/namespaces/{ns}")


def test_jobs_answers_match(server):
    call(server, "POST", "/api/v1/namespaces", json={"name": "oajobs"})
    resp, job = call(server, "POST", "/api/v1/namespaces/oajobs/documents",
                     "/api/v1/namespaces/{ns}/documents",
                     json={"wait": False, "documents": [{"id": "j1", "text": "Stretch daily."}]})
    assert resp.status_code == 202
    call(server, "GET", f"/api/v1/jobs/{job['id']}", "/api/v1/jobs/{id}")
    call(server, "GET", "/api/v1/jobs?namespace=oajobs", "/api/v1/jobs")
    resp, _ = call(server, "GET", "/api/v1/jobs/job_nope", "/api/v1/jobs/{id}")
    assert resp.status_code == 404


def test_sessions_ratelimit_keys_answers_match(server):
    s = "/api/v1/sessions/oa1"
    resp, _ = call(server, "PUT", s + "?ttl=60", "/api/v1/sessions/{id}", json={"step": 1})
    assert resp.status_code == 201
    call(server, "GET", s, "/api/v1/sessions/{id}")
    call(server, "PATCH", s, "/api/v1/sessions/{id}", json={"cart": [1]})
    call(server, "POST", s + "/messages", "/api/v1/sessions/{id}/messages",
         json={"role": "user", "content": "my knee hurts"})
    call(server, "GET", s + "/messages?last=5", "/api/v1/sessions/{id}/messages")
    call(server, "DELETE", s, "/api/v1/sessions/{id}")
    call(server, "POST", "/api/v1/ratelimit/check", json={"key": "login:a", "limit": 5, "window": 60})
    resp, key = call(server, "POST", "/api/v1/keys",
                     json={"name": "app", "scopes": ["read"], "user_id": "u2"})
    assert resp.status_code == 201
    call(server, "GET", "/api/v1/keys")
    call(server, "DELETE", f"/api/v1/keys/{key['id']}", "/api/v1/keys/{id}")


def test_gateway_answers_match(server):
    call(server, "POST", "/v1/chat/completions",
         json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    call(server, "POST", "/v1/completions", json={"model": "gpt-4o-mini", "prompt": "hi"})
    call(server, "GET", "/v1/models")


def test_error_answers_match(server):
    resp, body = call(server, "POST", "/api/v1/search/hybrid", data="{not json")
    assert resp.status_code == 400 and body["error"]["code"] == "invalid_json"
    resp, body = call(server, "GET", "/api/v1/cache/stats", headers={})
    assert resp.status_code == 401 and body["error"]["code"] == "unauthorized"
    resp, _ = call(server, "GET", "/api/v1/namespaces/none", "/api/v1/namespaces/{ns}")
    assert resp.status_code == 404
    resp, _ = call(server, "GET", "/api/v1/sessions/none", "/api/v1/sessions/{id}")
    assert resp.status_code == 404


def test_docs_page_is_public_and_self_contained(server):
    resp = requests.get(server.url + "/docs", timeout=30)  # no credential, auth on
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "/openapi.json" in resp.text and "sessionStorage" in resp.text
    assert "http://" not in resp.text and "https://" not in resp.text  # no CDN
    assert requests.head(server.url + "/docs", timeout=30).status_code == 200
    assert requests.get(server.url + "/openapi.json", timeout=30).status_code == 401


def test_docs_page_is_open_whatever_open_routes_says(tmp_path):
    cfg = tmp_path / "ragd.json"
    cfg.write_text(json.dumps({"auth": {"open_routes": ["/health"]}}))
    s = Ragd(env={"RAGD_ADMIN_KEY": ADMIN}, args=["--config", str(cfg)]).start()
    try:
        assert requests.get(s.url + "/docs", timeout=30).status_code == 200
        assert requests.get(s.url + "/metrics", timeout=30).status_code == 401
        assert requests.get(s.url + "/openapi.json", timeout=30).status_code == 401
    finally:
        s.cleanup()


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium is not installed")
def test_docs_page_renders_every_operation(tmp_path):
    """In headless Chromium (auth off, so the page loads the document by itself), the
    rendered page holds every operation's path and every tag as a section."""
    s = Ragd().start()
    try:
        out = subprocess.run(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
             "--dump-dom", s.url + "/docs"],
            capture_output=True, text=True, timeout=120)
        dom = out.stdout
        (tmp_path / "docs.html").write_text(dom)
        doc = requests.get(s.url + "/openapi.json", timeout=30).json()
    finally:
        s.cleanup()
    assert "Loading" not in dom, out.stderr[-2000:]
    for tag in doc["tags"]:
        assert f'id="tag-{tag["name"]}"' in dom, tag["name"]
    for path in doc["paths"]:
        assert path.replace("&", "&amp;") in dom, path
    assert 'id="schema-Error"' in dom
