"""Per-user isolation: user A drives every user-data endpoint on user B's data and gets
403 or 404 with nothing changed; a user_id naming someone else is refused unless the
caller is a service key; a service key reaches a user's data only by naming that user.
Runs on LMDB and Redis. Extend MATRIX as new per-user routes land."""
import hashlib

import pytest
import requests

from ragdtest import STORES, Ragd, Redis, assert_error, store_env

ADMIN = "admin-secret-0123456789"


@pytest.fixture(params=STORES)
def world(request):
    env = {"RAGD_ADMIN_KEY": ADMIN}
    env.update(store_env(request, 4))
    s = Ragd(env=env).start()
    keys = {}
    for name, spec in {"alice": {"user_id": "alice"}, "bob": {"user_id": "bob"},
                       "svc": {"service": True}, "acme": {"tenant": "acme"},
                       "globex": {"tenant": "globex"}}.items():
        r = requests.post(s.url + "/api/v1/keys", headers={"X-API-Key": ADMIN},
                          json=dict(spec, scopes=["read", "write"]), timeout=10)
        assert r.status_code == 201, r.text
        keys[name] = {"X-API-Key": r.json()["key"]}
    s.keys = keys
    yield s
    s.cleanup()


def call(s, who, method, path, **kw):
    return requests.request(method, s.url + path, headers=s.keys[who], timeout=30, **kw)


def seed_bob(s):
    """Bob's data, created by bob himself."""
    assert call(s, "bob", "PUT", "/api/v1/cache/notes/k1", data=b"bob-secret").status_code == 200
    assert call(s, "bob", "PUT", "/api/v1/sessions/sess1", json={"owner": "bob"}).status_code == 201
    assert call(s, "bob", "POST", "/api/v1/sessions/sess1/messages",
                json={"role": "user", "content": "bob's message"}).status_code == 201
    assert call(s, "bob", "POST", "/api/v1/semantic-cache/faq/store",
                json={"prompt": BOB_PROMPT, "response": "bob's answer"}).status_code == 200


def snapshot_bob(s):
    return (call(s, "bob", "GET", "/api/v1/cache/notes/k1").content,
            call(s, "bob", "GET", "/api/v1/sessions/sess1").json()["data"],
            [m["content"] for m in
             call(s, "bob", "GET", "/api/v1/sessions/sess1/messages").json()["messages"]],
            call(s, "bob", "POST", "/api/v1/semantic-cache/faq/check",
                 json={"prompt": BOB_PROMPT}).json()["hits"])


BOB_PROMPT = "bob's private question"
BOB_SEMANTIC_ID = hashlib.sha256(BOB_PROMPT.encode() + b"\x1f").hexdigest()[:32]

# (method, path, kwargs) as alice, aimed at bob's data. Either the resource is
# invisible (404: alice's namespace has no such thing) or the request names bob (403).
MATRIX = [
    ("GET", "/api/v1/cache/notes/k1", {}),
    ("HEAD", "/api/v1/cache/notes/k1", {}),
    ("DELETE", "/api/v1/cache/notes/k1", {}),
    ("GET", "/api/v1/cache/notes/k1?user_id=bob", {}),
    ("PUT", "/api/v1/cache/notes/k1?user_id=bob", {"data": b"evil"}),
    ("DELETE", "/api/v1/cache/notes/k1?user_id=bob", {}),
    ("POST", "/api/v1/cache/warm-up", {"json": {"user_id": "bob", "entries": [
        {"prefix": "notes", "key": "k1", "value": "evil"}]}}),
    ("POST", "/api/v1/cache/clear", {"json": {"prefix": "notes"}}),
    ("DELETE", "/api/v1/cache", {}),
    ("GET", "/api/v1/sessions/sess1", {}),
    ("PATCH", "/api/v1/sessions/sess1", {"json": {"owner": "alice"}}),
    ("DELETE", "/api/v1/sessions/sess1", {}),
    ("GET", "/api/v1/sessions/sess1/messages", {}),
    ("GET", "/api/v1/sessions/sess1/messages?last=1", {}),
    ("POST", "/api/v1/sessions/sess1/messages", {"json": {"role": "user", "content": "evil"}}),
    ("GET", "/api/v1/sessions/sess1?user_id=bob", {}),
    ("PUT", "/api/v1/sessions/sess1?user_id=bob", {"json": {"owner": "alice"}}),
    ("PATCH", "/api/v1/sessions/sess1?user_id=bob", {"json": {"owner": "alice"}}),
    ("DELETE", "/api/v1/sessions/sess1?user_id=bob", {}),
    ("POST", "/api/v1/sessions/sess1/messages", {"json": {"user_id": "bob", "role": "user",
                                                          "content": "evil"}}),
    ("GET", "/api/v1/sessions/sess1/messages?user_id=bob", {}),
    ("POST", "/api/v1/ratelimit/check", {"json": {"user_id": "bob", "key": "k", "limit": 1,
                                                  "window": 60}}),
    ("POST", "/api/v1/semantic-cache/faq/check", {"json": {"prompt": BOB_PROMPT, "user_id": "bob"}}),
    ("POST", "/api/v1/semantic-cache/faq/store", {"json": {"prompt": BOB_PROMPT, "response": "evil",
                                                           "user_id": "bob"}}),
    ("POST", "/api/v1/semantic-cache/faq/delete", {"json": {"ids": [BOB_SEMANTIC_ID],
                                                            "user_id": "bob"}}),
    ("DELETE", "/api/v1/semantic-cache/faq?user_id=bob", {}),
    ("DELETE", f"/api/v1/semantic-cache/faq/entries/{BOB_SEMANTIC_ID}", {}),
    ("DELETE", f"/api/v1/semantic-cache/faq/entries/{BOB_SEMANTIC_ID}?user_id=bob", {}),
    ("GET", "/api/v1/keys", {}),
    ("POST", "/api/v1/keys", {"json": {"scopes": ["admin"], "service": True}}),
]


@pytest.mark.parametrize("method,path,kw", MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_user_cannot_touch_other_users_data(world, method, path, kw):
    seed_bob(world)
    before = snapshot_bob(world)
    r = call(world, "alice", method, path, **kw)
    assert r.status_code in (403, 404), (r.status_code, r.text)
    if method != "HEAD":
        assert_error(r, r.status_code)
    if method == "HEAD":
        assert b"bob-secret" not in r.content
    assert snapshot_bob(world) == before


def test_same_names_are_separate_per_user(world):
    seed_bob(world)
    assert call(world, "alice", "PUT", "/api/v1/cache/notes/k1", data=b"alice").status_code == 200
    assert call(world, "alice", "PUT", "/api/v1/sessions/sess1", json={"a": 1}).status_code == 201
    assert call(world, "alice", "GET", "/api/v1/cache/notes/k1").content == b"alice"
    assert call(world, "bob", "GET", "/api/v1/cache/notes/k1").content == b"bob-secret"
    assert call(world, "alice", "GET", "/api/v1/sessions/sess1/messages").json()["messages"] == []
    check = {"prompt": BOB_PROMPT}
    assert call(world, "alice", "POST", "/api/v1/semantic-cache/faq/check", json=check).json()["hits"] == []
    bobs = call(world, "bob", "POST", "/api/v1/semantic-cache/faq/check", json=check).json()["hits"]
    assert [h["id"] for h in bobs] == [BOB_SEMANTIC_ID]
    # Rate limits are per user too: alice exhausting "k" leaves bob's "k" alone.
    body = {"key": "k", "limit": 1, "window": 60}
    assert call(world, "alice", "POST", "/api/v1/ratelimit/check", json=body).json()["allowed"]
    assert not call(world, "alice", "POST", "/api/v1/ratelimit/check", json=body).json()["allowed"]
    assert call(world, "bob", "POST", "/api/v1/ratelimit/check", json=body).json()["allowed"]


def test_own_user_id_is_accepted(world):
    r = call(world, "alice", "PUT", "/api/v1/sessions/mine?user_id=alice", json={})
    assert r.status_code == 201
    assert call(world, "alice", "GET", "/api/v1/sessions/mine").status_code == 200


def test_service_key_acts_for_named_users(world):
    seed_bob(world)
    assert call(world, "svc", "GET", "/api/v1/cache/notes/k1?user_id=bob").content == b"bob-secret"
    assert call(world, "svc", "GET", "/api/v1/sessions/sess1?user_id=bob").json()["data"] == \
        {"owner": "bob"}
    # Without a user it sees the shared namespace, not bob's entries.
    assert_error(call(world, "svc", "GET", "/api/v1/cache/notes/k1"), 404)
    assert_error(call(world, "svc", "GET", "/api/v1/sessions/sess1"), 404)
    r = call(world, "svc", "POST", "/api/v1/sessions/sess1/messages",
             json={"user_id": "bob", "role": "assistant", "content": "from service"})
    assert r.status_code == 201
    assert snapshot_bob(world)[2] == ["bob's message", "from service"]


def test_tenants_are_separate(world):
    assert call(world, "acme", "PUT", "/api/v1/sessions/t1?user_id=u1", json={"t": "acme"}).status_code == 201
    assert call(world, "acme", "GET", "/api/v1/sessions/t1?user_id=u1").json()["data"] == {"t": "acme"}
    assert_error(call(world, "globex", "GET", "/api/v1/sessions/t1?user_id=u1"), 404)
    assert_error(call(world, "svc", "GET", "/api/v1/sessions/t1?user_id=u1"), 404)
    assert call(world, "acme", "PUT", "/api/v1/cache/p/x", data=b"acme").status_code == 200
    assert_error(call(world, "globex", "GET", "/api/v1/cache/p/x"), 404)


def test_body_user_id_must_be_the_callers_on_seed_routes(world):
    r = call(world, "alice", "POST", "/api/v1/embeddings/generate",
             json={"text": "hello", "user_id": "bob"})
    if r.status_code == 503:
        pytest.skip("no embedding model")
    assert_error(r, 403, "forbidden")
    assert call(world, "alice", "POST", "/api/v1/embeddings/generate",
                json={"text": "hello", "user_id": "alice"}).status_code == 200
    assert call(world, "svc", "POST", "/api/v1/embeddings/generate",
                json={"text": "hello", "user_id": "bob"}).status_code == 200


NS = "/api/v1/namespaces"


def test_knowledge_base_documents_are_per_user(world):
    r = requests.post(world.url + NS, headers={"X-API-Key": ADMIN}, json={"name": "kb"}, timeout=30)
    if r.status_code == 503:
        pytest.skip("no embedding model")
    assert r.status_code == 201, r.text
    # Namespace management is admin-only.
    assert_error(call(world, "alice", "POST", NS, json={"name": "mine"}), 403, "forbidden")
    assert_error(call(world, "alice", "DELETE", f"{NS}/kb"), 403, "forbidden")
    docs = lambda text: {"documents": [{"id": "d-" + text.split()[0], "text": text}]}
    assert call(world, "bob", "POST", f"{NS}/kb/documents",
                json=docs("bobsecret kettlebell swing technique")).status_code == 200
    assert call(world, "alice", "POST", f"{NS}/kb/documents",
                json=docs("alicenote kettlebell deadlift form")).status_code == 200
    bob_doc = f"{NS}/kb/documents/d-bobsecret"
    # Writing a document for bob, searching as bob, deleting bob's: refused.
    r = call(world, "alice", "POST", f"{NS}/kb/documents",
             json={"documents": [{"id": "x", "text": "t", "user_id": "bob"}]})
    assert_error(r, 403, "forbidden")
    r = call(world, "alice", "POST", "/api/v1/search/hybrid",
             json={"query": "kettlebell", "user_id": "bob", "namespaces": ["kb"]})
    assert_error(r, 403, "forbidden")
    r = call(world, "alice", "POST", f"{NS}/kb/documents/delete",
             json={"filter": {}, "user_id": "bob"})
    assert_error(r, 403, "forbidden")
    assert_error(call(world, "alice", "GET", bob_doc), 404)
    assert_error(call(world, "alice", "DELETE", bob_doc), 404)
    # listing shows alice her own and shared documents only (not even bob's ids)
    assert requests.post(world.url + f"{NS}/kb/documents", headers={"X-API-Key": ADMIN},
                         json=docs("sharedguide kettlebell basics"), timeout=30).status_code == 200
    listed = call(world, "alice", "GET", f"{NS}/kb/documents").json()
    assert sorted(listed["ids"]) == ["d-alicenote", "d-sharedguide"] and listed["total"] == 2
    page = call(world, "alice", "GET", f"{NS}/kb/documents?offset=1&limit=1").json()
    assert len(page["ids"]) == 1 and page["total"] == 2
    assert "d-bobsecret" in call(world, "svc", "GET", f"{NS}/kb/documents").json()["ids"]
    # the RAG pipeline follows the same rules
    r = call(world, "alice", "POST", "/api/v1/rag/query",
             json={"query": "kettlebell", "user_id": "bob", "namespaces": ["kb"]})
    assert_error(r, 403, "forbidden")
    r = call(world, "alice", "POST", "/api/v1/rag/query",
             json={"query": "kettlebell", "namespaces": ["kb"], "max_context_items": 10})
    assert r.status_code == 200, r.text
    assert "bobsecret" not in r.text and "alicenote" in r.text
    # alice's own search does not return bob's document; bob's does.
    r = call(world, "alice", "POST", "/api/v1/search/hybrid",
             json={"query": "kettlebell", "namespaces": ["kb"], "limit": 10})
    assert r.status_code == 200, r.text
    assert "bobsecret" not in r.text and "alicenote" in r.text
    r = call(world, "bob", "POST", "/api/v1/search/hybrid",
             json={"query": "kettlebell", "namespaces": ["kb"], "limit": 10})
    assert "bobsecret" in r.text and "alicenote" not in r.text
    # "delete everything" as alice deletes alice's documents only.
    r = call(world, "alice", "POST", f"{NS}/kb/documents/delete", json={"filter": {}})
    assert r.status_code == 200, r.text
    assert call(world, "bob", "GET", bob_doc).status_code == 200
    assert call(world, "svc", "GET", bob_doc).status_code == 200


def test_user_cannot_overwrite_others_or_shared_documents(world):
    r = requests.post(world.url + NS, headers={"X-API-Key": ADMIN}, json={"name": "kb"}, timeout=30)
    if r.status_code == 503:
        pytest.skip("no embedding model")
    up = lambda who, docs: call(world, who, "POST", f"{NS}/kb/documents", json={"documents": docs})
    assert up("alice", [{"id": "a1", "text": "alice private knee diary"}]).status_code == 200
    assert up("svc", [{"id": "s1", "text": "shared squat guide"}]).status_code == 200
    # bob on alice's id, bob on a shared id, a batch with one such id, a tenant's user:
    # all refused as for a missing document, and nothing of the batch is written
    for who, docs in [("bob", [{"id": "a1", "text": "bob was here"}]),
                      ("bob", [{"id": "s1", "text": "bob rewrote the guide"}]),
                      ("bob", [{"id": "b-new", "text": "bob fresh note"},
                               {"id": "a1", "text": "bob was here"}]),
                      ("acme", [{"id": "a1", "text": "tenant was here", "user_id": "u1"}]),
                      ("svc", [{"id": "a1", "text": "service for bob", "user_id": "bob"}])]:
        assert_error(up(who, docs), 404, "document_not_found")
    got = call(world, "alice", "GET", f"{NS}/kb/documents/a1").json()
    assert (got["text"], got["user_id"]) == ("alice private knee diary", "alice")
    got = call(world, "svc", "GET", f"{NS}/kb/documents/s1").json()
    assert (got["text"], got["user_id"]) == ("shared squat guide", None)
    assert_error(call(world, "svc", "GET", f"{NS}/kb/documents/b-new"), 404)
    # deleting: a shared document by id, or everything by filter, leaves others' alone
    assert_error(call(world, "bob", "DELETE", f"{NS}/kb/documents/s1"), 404, "document_not_found")
    r = call(world, "bob", "POST", f"{NS}/kb/documents/delete", json={"filter": {}})
    assert r.status_code == 200 and r.json()["deleted"] == 0
    assert call(world, "svc", "GET", f"{NS}/kb/documents/s1").status_code == 200
    r = call(world, "bob", "POST", "/api/v1/search/hybrid",
             json={"query": "knee diary", "namespaces": ["kb"], "search_type": "keyword"})
    assert r.status_code == 200 and "alice" not in r.text
    # the owner replaces its own document; shared writes (service, no user) replace any
    r = up("alice", [{"id": "a1", "text": "alice private knee diary v2"}])
    assert r.status_code == 200 and r.json()["replaced"] == 1
    r = up("svc", [{"id": "a1", "text": "now a shared document"}])
    assert r.status_code == 200 and r.json()["replaced"] == 1
    # a tenant writes for its users (the owner is tenant-qualified once, not twice)
    r = up("acme", [{"id": "t1", "text": "acme user note", "user_id": "u1"}])
    assert r.status_code == 200, r.text
    assert call(world, "svc", "GET", f"{NS}/kb/documents/t1").json()["user_id"] == "acme/u1"


def test_namespace_settings_need_admin(world):
    r = requests.post(world.url + NS, headers={"X-API-Key": ADMIN},
                      json={"name": "kb", "description": "fitness"}, timeout=30)
    if r.status_code == 503:
        pytest.skip("no embedding model")
    for who in ("alice", "svc"):  # write scope is not enough, for users or services
        r = call(world, who, "PATCH", f"{NS}/kb", json={"description": "hijacked",
                                                          "hnsw_ef_search": 1})
        assert_error(r, 403, "forbidden")
    got = call(world, "alice", "GET", f"{NS}/kb").json()["settings"]
    assert got["description"] == "fitness" and got["hnsw_ef_search"] == 100
    r = requests.patch(world.url + f"{NS}/kb", headers={"X-API-Key": ADMIN},
                       json={"description": "fitness and food"}, timeout=30)
    assert r.status_code == 200 and r.json()["settings"]["description"] == "fitness and food"


def test_shared_keys_cannot_alias_user_keys(world):
    # The shared namespace (a service key without user_id) cannot name a key that is
    # another user's entry as stored ("u:alice:planted" is alice's "planted").
    r = call(world, "svc", "PUT", "/api/v1/cache/notes/u:alice:planted", data=b"planted")
    assert_error(r, 400, "reserved_key")
    assert_error(call(world, "svc", "GET", "/api/v1/cache/notes/u:alice:planted"), 400,
                 "reserved_key")
    r = call(world, "svc", "POST", "/api/v1/cache/warm-up", json={"entries": [
        {"prefix": "notes", "key": "fine", "value": "x"},
        {"prefix": "notes", "key": "u:alice:planted", "value": "planted"}]})
    assert_error(r, 400, "reserved_key")
    assert_error(call(world, "alice", "GET", "/api/v1/cache/notes/planted"), 404)
    assert_error(call(world, "svc", "GET", "/api/v1/cache/notes/fine"), 404)  # nothing written
    body = {"key": "u:alice:otp", "limit": 1, "window": 60}
    for _ in range(2):
        assert_error(call(world, "svc", "POST", "/api/v1/ratelimit/check", json=body), 400,
                     "reserved_key")
    own = {"key": "otp", "limit": 1, "window": 60}
    assert call(world, "alice", "POST", "/api/v1/ratelimit/check", json=own).json()["allowed"]
    # Naming the user is the way to reach a user's entries; inside a user's own
    # namespace any key is fine, "u:..." included.
    assert call(world, "svc", "PUT", "/api/v1/cache/notes/planted?user_id=alice",
                data=b"from service").status_code == 200
    assert call(world, "alice", "GET", "/api/v1/cache/notes/planted").content == b"from service"
    assert call(world, "alice", "PUT", "/api/v1/cache/notes/u:x", data=b"a").status_code == 200
    assert call(world, "alice", "GET", "/api/v1/cache/notes/u:x").content == b"a"
    assert_error(call(world, "bob", "GET", "/api/v1/cache/notes/u:x"), 404)


def test_cache_stats_are_per_user_for_user_keys(world):
    assert call(world, "bob", "PUT", "/api/v1/cache/bob-medical-records/x",
                data=b"secret").status_code == 200
    assert call(world, "svc", "PUT", "/api/v1/cache/shared-p/x", data=b"s").status_code == 200
    mine = call(world, "alice", "GET", "/api/v1/cache/stats")
    assert mine.status_code == 200, mine.text
    assert "bob-medical-records" not in mine.text and "shared-p" not in mine.text
    assert mine.json()["scope"] == "user" and mine.json()["keys"] == 0
    assert call(world, "alice", "PUT", "/api/v1/cache/notes/a1", data=b"a").status_code == 200
    mine = call(world, "alice", "GET", "/api/v1/cache/stats").json()
    assert mine["keys"] == 1 and list(mine["prefixes"]) == ["notes"]
    assert mine["prefixes"]["notes"]["keys"] == 1 and "hits" not in mine
    assert "gateway" not in mine and "recommendations" not in mine
    assert call(world, "bob", "GET", "/api/v1/cache/stats").json()["prefixes"][
        "bob-medical-records"]["keys"] == 1
    full = call(world, "svc", "GET", "/api/v1/cache/stats").json()
    assert full["scope"] == "all" and {"bob-medical-records", "shared-p", "notes"} <= set(
        full["prefixes"])


def test_namespace_stats_are_per_user_for_user_keys(world):
    r = requests.post(world.url + NS, headers={"X-API-Key": ADMIN}, json={"name": "kb"}, timeout=30)
    if r.status_code == 503:
        pytest.skip("no embedding model")
    docs = lambda *d: {"documents": [{"id": i, "text": t} for i, t in d]}
    assert call(world, "bob", "POST", f"{NS}/kb/documents",
                json=docs(("b1", "bob private one"), ("b2", "bob private two"))).status_code == 200
    assert call(world, "svc", "POST", f"{NS}/kb/documents",
                json=docs(("s1", "shared guide"))).status_code == 200
    for path in (f"{NS}/kb", NS):
        body = call(world, "alice", "GET", path).json()
        st = body["stats"] if path != NS else body["namespaces"][0]["stats"]
        assert st["scope"] == "user" and st["documents"] == 1 and st["chunks"] == 1
        assert st["text_bytes"] == len("shared guide")
        assert "bm25" not in st and "hnsw" not in st and "memory_bytes" not in st
    assert call(world, "bob", "GET", f"{NS}/kb").json()["stats"]["documents"] == 3
    full = call(world, "svc", "GET", f"{NS}/kb").json()["stats"]
    assert full["documents"] == 3 and "bm25" in full and "scope" not in full


def metrics_world(tmp_path, env, config=None):
    args = []
    if config is not None:
        cfg = tmp_path / "ragd.json"
        cfg.write_text(__import__("json").dumps(config))
        args = ["--config", str(cfg)]
    return Ragd(env=env, args=args).start()


def test_metrics_key_guards_metrics(tmp_path):
    s = metrics_world(tmp_path, {"RAGD_ADMIN_KEY": ADMIN, "RAGD_METRICS_KEY": "scrape-secret-42"})
    try:
        user = requests.post(s.url + "/api/v1/keys", headers={"X-API-Key": ADMIN}, timeout=10,
                             json={"scopes": ["read"], "user_id": "alice"}).json()["key"]
        assert s.put("/api/v1/cache/alice-medical-records/x", data=b"v",
                     headers={"X-API-Key": ADMIN}).status_code == 200
        assert_error(s.get("/metrics"), 401, "unauthorized")
        assert_error(s.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401)
        assert_error(s.get("/metrics", headers={"X-API-Key": user}), 403, "forbidden")
        for h in ({"Authorization": "Bearer scrape-secret-42"}, {"X-API-Key": ADMIN}):
            r = s.get("/metrics", headers=h)
            assert r.status_code == 200 and "alice-medical-records" in r.text
        assert s.get("/health").status_code == 200  # other open routes stay open
    finally:
        s.cleanup()
    # auth off: the metrics key still guards /metrics, nothing else
    s = metrics_world(tmp_path, {"RAGD_METRICS_KEY": "scrape-secret-42"})
    try:
        assert_error(s.get("/metrics"), 401)
        assert s.get("/metrics", headers={"X-API-Key": "scrape-secret-42"}).status_code == 200
        assert s.get("/api/v1/cache/stats").status_code == 200
    finally:
        s.cleanup()


def test_metrics_off_the_open_routes_need_admin(tmp_path):
    s = metrics_world(tmp_path, {"RAGD_ADMIN_KEY": ADMIN}, {"auth": {"open_routes": ["/health"]}})
    try:
        user = requests.post(s.url + "/api/v1/keys", headers={"X-API-Key": ADMIN}, timeout=10,
                             json={"scopes": ["read", "write"], "user_id": "alice"}).json()["key"]
        assert_error(s.get("/metrics"), 401)
        assert_error(s.get("/metrics", headers={"X-API-Key": user}), 403, "forbidden")
        assert s.get("/metrics", headers={"X-API-Key": ADMIN}).status_code == 200
    finally:
        s.cleanup()


def test_metrics_namespace_figures_only_for_whole_views(tmp_path):
    """ragd_namespace_documents & co. count every owner's documents: a user-bound key's
    scrape (an admin-scoped one, off the open routes) leaves them out, as
    GET /api/v1/namespaces gives it only its own counts."""
    s = metrics_world(tmp_path, {"RAGD_ADMIN_KEY": ADMIN}, {"auth": {"open_routes": ["/health"]}})
    try:
        hdr = {"X-API-Key": ADMIN}
        assert s.post(NS, json={"name": "secret-kb"}, headers=hdr).status_code == 201
        bound = requests.post(s.url + "/api/v1/keys", headers=hdr, timeout=10,
                              json={"scopes": ["admin"], "user_id": "alice"})
        assert bound.status_code == 201, bound.text
        full = s.get("/metrics", headers=hdr).text
        assert 'ragd_namespace_documents{namespace="secret-kb"} 0' in full
        mine = s.get("/metrics", headers={"X-API-Key": bound.json()["key"]})
        assert mine.status_code == 200 and "ragd_http_requests_total" in mine.text
        assert "secret-kb" not in mine.text and "ragd_namespace_documents" not in mine.text
    finally:
        s.cleanup()
