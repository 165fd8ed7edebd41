"""Per-user isolation: user A drives every user-data endpoint on user B's data and gets
403 or 404 with nothing changed; a user_id naming someone else is refused unless the
caller is a service key; a service key reaches a user's data only by naming that user.
Runs on LMDB and Redis. Extend MATRIX as new per-user routes land."""
import pytest
import requests

from ragdtest import Ragd, Redis, assert_error

ADMIN = "admin-secret-0123456789"


@pytest.fixture(params=["lmdb", "redis"])
def world(request):
    env = {"RAGD_ADMIN_KEY": ADMIN}
    if request.param == "redis":
        r = request.getfixturevalue("redis_server")
        import redis as redis_py
        redis_py.Redis(port=r.port, db=4).flushdb()
        env["REDIS_URL"] = r.url(4)
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


def snapshot_bob(s):
    return (call(s, "bob", "GET", "/api/v1/cache/notes/k1").content,
            call(s, "bob", "GET", "/api/v1/sessions/sess1").json()["data"],
            [m["content"] for m in
             call(s, "bob", "GET", "/api/v1/sessions/sess1/messages").json()["messages"]])


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
