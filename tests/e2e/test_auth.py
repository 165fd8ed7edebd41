"""Identity end to end: the bootstrap admin key, keys from the config file and the admin
API (hashed, shown once, revocable), scopes (read/write/admin) per route, JWT bearer tokens
(HS256 and RS256: signature, algorithm, issuer, audience, expiry), open routes, and the
start-up policy (no credentials: loopback only)."""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time

import pytest
import requests

from ragdtest import MATRIX, RAGD_BIN, Ragd, assert_error, store_env

ADMIN = "admin-secret-0123456789"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_hs256(claims, secret, alg="HS256"):
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    if alg == "none":
        return f"{head}.{body}."
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def jwt_rs256(claims, key_file):
    head = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_file],
                         input=f"{head}.{body}".encode(), capture_output=True, check=True).stdout
    return f"{head}.{body}.{b64url(sig)}"


def write_config(obj):
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(obj, f)
    f.close()
    return f.name


@pytest.fixture(params=MATRIX)
def secured(request):
    """ragd with the bootstrap admin key (and on the cluster in the matrix)."""
    s = Ragd(env=dict(store_env(request, 5), RAGD_ADMIN_KEY=ADMIN)).start()
    yield s
    s.cleanup()


def admin(s, method, path, **kw):
    return getattr(requests, method)(s.url + path, headers={"X-API-Key": ADMIN}, timeout=30, **kw)


def make_key(s, **spec):
    r = admin(s, "post", "/api/v1/keys", json=spec)
    assert r.status_code == 201, r.text
    return r.json()


def test_credentials_required_and_open_routes(secured):
    r = secured.get("/api/v1/cache/stats")
    assert_error(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = secured.get("/api/v1/cache/stats", headers={"X-API-Key": "not-a-key"})
    assert_error(r, 401, "unauthorized")
    assert "invalid_token" in r.headers["WWW-Authenticate"]
    assert secured.get("/health").status_code == 200
    assert secured.get("/metrics").status_code == 200
    assert admin(secured, "get", "/api/v1/cache/stats").status_code == 200
    # Bearer carries API keys too.
    r = secured.get("/api/v1/cache/stats", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200


def test_keys_are_hashed_shown_once_and_revocable(secured):
    k = make_key(secured, name="app", scopes=["read", "write"], service=True)
    assert k["key"].startswith("rgd_") and k["id"].startswith("key_")
    listing = admin(secured, "get", "/api/v1/keys").json()["keys"]
    ids = [x["id"] for x in listing]
    assert k["id"] in ids
    assert k["key"] not in json.dumps(listing)  # never shown again
    # Stored under its SHA-256, not the secret.
    h = hashlib.sha256(k["key"].encode()).hexdigest()
    assert k["id"] == "key_" + h[:16]
    hdr = {"X-API-Key": k["key"]}
    assert secured.put("/api/v1/cache/p/x", data=b"v", headers=hdr).status_code == 200
    assert admin(secured, "delete", f"/api/v1/keys/{k['id']}").status_code == 200
    assert_error(secured.get("/api/v1/cache/p/x", headers=hdr), 401, "unauthorized")
    assert_error(admin(secured, "delete", f"/api/v1/keys/{k['id']}"), 404, "not_found")


def test_key_validation(secured):
    bad = [{"scopes": []}, {"scopes": ["root"], "service": True}, {"scopes": ["read"]},
           {"scopes": ["read"], "user_id": "a", "service": True},
           {"scopes": ["read"], "user_id": "bad:colon"}]
    for spec in bad:
        assert_error(admin(secured, "post", "/api/v1/keys", json=spec), 400)


def test_scopes(secured):
    reader = make_key(secured, scopes=["read"], service=True)["key"]
    writer = make_key(secured, scopes=["write"], service=True)["key"]
    rh, wh = {"X-API-Key": reader}, {"X-API-Key": writer}
    assert secured.get("/api/v1/cache/stats", headers=rh).status_code == 200
    assert secured.post("/api/v1/cache/key", json={"prefix": "p", "params": {}},
                        headers=rh).status_code == 200  # computes only: read
    assert_error(secured.put("/api/v1/cache/p/k", data=b"1", headers=rh), 403, "forbidden")
    assert secured.put("/api/v1/cache/p/k", data=b"1", headers=wh).status_code == 200
    assert secured.get("/api/v1/cache/p/k", headers=wh).status_code == 200  # write implies read
    for method, path, body in [("post", "/api/v1/cache/clear", {"prefix": "p"}),
                               ("delete", "/api/v1/cache", None),
                               ("post", "/api/v1/cache/config", {"prefix": "p", "ttl": 5}),
                               ("get", "/api/v1/keys", None),
                               ("post", "/api/v1/keys", {"scopes": ["admin"], "service": True})]:
        r = getattr(requests, method)(secured.url + path, json=body, headers=wh, timeout=10)
        assert_error(r, 403, "forbidden")
    # Nothing was cleared by the refused calls.
    assert secured.get("/api/v1/cache/p/k", headers=wh).status_code == 200
    assert admin(secured, "post", "/api/v1/cache/clear", json={"prefix": "p"}).json() == {"deleted": 1}


def test_config_file_keys():
    plain = "config-key-abcdefghijklmnop"
    cfg = write_config({"api_keys": [
        {"name": "svc", "key": plain, "scopes": ["write"], "service": True},
        {"name": "ro", "key_sha256": hashlib.sha256(b"readonly-key-0123456789").hexdigest(),
         "scopes": ["read"], "user_id": "carol"}]})
    s = Ragd(args=["--config", cfg]).start()
    try:
        assert_error(s.get("/api/v1/cache/stats"), 401)
        assert s.put("/api/v1/cache/p/k", data=b"1", headers={"X-API-Key": plain}).status_code == 200
        ro = {"X-API-Key": "readonly-key-0123456789"}
        assert s.get("/api/v1/cache/stats", headers=ro).status_code == 200
        assert_error(s.put("/api/v1/cache/p/k", data=b"1", headers=ro), 403, "forbidden")
    finally:
        s.cleanup()
        os.unlink(cfg)


def test_first_key_turns_auth_on():
    s = Ragd().start()
    try:
        assert s.get("/api/v1/cache/stats").status_code == 200  # auth off on loopback
        assert "authentication is off" in s.logs()
        r = s.post("/api/v1/keys", json={"scopes": ["admin"], "service": True})
        assert r.status_code == 201
        assert_error(s.get("/api/v1/cache/stats"), 401)
        assert s.get("/api/v1/cache/stats", headers={"X-API-Key": r.json()["key"]}).status_code == 200
        s.restart()  # the stored key keeps auth on
        assert_error(s.get("/api/v1/cache/stats"), 401)
    finally:
        s.cleanup()


def test_non_loopback_without_auth_is_refused():
    # 192.0.2.1 (TEST-NET-1) is no local address: nothing could bind even if the check failed.
    s = Ragd()
    cmd = [RAGD_BIN, "serve", "--listen", "192.0.2.1:8080", "--data-dir", s.data_dir]
    p = subprocess.run(cmd, env=s.env, capture_output=True, timeout=30)
    assert p.returncode != 0
    assert b"refusing to listen on 192.0.2.1:8080 without authentication" in p.stderr
    assert b"--allow-unauthenticated" in p.stderr
    s.cleanup()


JWT_SECRET = "jwt-secret-that-is-at-least-32-bytes-long"


@pytest.fixture(scope="module")
def rsa_keys():
    d = tempfile.mkdtemp(prefix="ragd-jwt-")
    priv, pub = os.path.join(d, "priv.pem"), os.path.join(d, "pub.pem")
    subprocess.run(["openssl", "genrsa", "-out", priv, "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", priv, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    return priv, pub


@pytest.fixture
def jwt_ragd(rsa_keys):
    cfg = write_config({"jwt": {"hs256_secret_env": "TEST_JWT_SECRET",
                                "rs256_public_key_file": rsa_keys[1], "issuer": "https://id.test",
                                "audience": "ragd", "user_claim": "uid"}})
    s = Ragd(env={"TEST_JWT_SECRET": JWT_SECRET}, args=["--config", cfg]).start()
    yield s
    s.cleanup()
    os.unlink(cfg)


def claims(**over):
    c = {"iss": "https://id.test", "aud": "ragd", "uid": "dave", "exp": int(time.time()) + 300}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


def test_jwt_hs256_and_rs256(jwt_ragd, rsa_keys):
    for tok in [jwt_hs256(claims(), JWT_SECRET), jwt_rs256(claims(), rsa_keys[0]),
                jwt_hs256(claims(aud=["other", "ragd"]), JWT_SECRET)]:
        r = jwt_ragd.put("/api/v1/sessions/s1", json={"a": 1}, headers=bearer(tok))
        assert r.status_code in (200, 201), r.text
        assert jwt_ragd.get("/api/v1/sessions/s1", headers=bearer(tok)).json()["data"] == {"a": 1}
    # The user comes from the claim: another user's token does not see dave's session.
    other = jwt_hs256(claims(uid="erin"), JWT_SECRET)
    assert_error(jwt_ragd.get("/api/v1/sessions/s1", headers=bearer(other)), 404)
    # Scopes from the "scope" claim.
    ro = jwt_hs256(claims(scope="read"), JWT_SECRET)
    assert_error(jwt_ragd.put("/api/v1/sessions/s2", json={}, headers=bearer(ro)), 403, "forbidden")


def test_jwt_rejections(jwt_ragd, rsa_keys):
    pub = open(rsa_keys[1]).read()
    bad = {
        "expired": jwt_hs256(claims(exp=int(time.time()) - 3600), JWT_SECRET),
        "no exp": jwt_hs256(claims(exp=None), JWT_SECRET),
        "issuer": jwt_hs256(claims(iss="https://evil"), JWT_SECRET),
        "audience": jwt_hs256(claims(aud="other"), JWT_SECRET),
        "signature": jwt_hs256(claims(), "another-secret-of-at-least-32-bytes!!"),
        "alg none": jwt_hs256(claims(), JWT_SECRET, alg="none"),
        # HS256 signed with the RSA public key must not pass (algorithm confusion).
        "confusion": jwt_hs256(claims(), pub),
        "no user": jwt_hs256(claims(uid=None), JWT_SECRET),
        "bad user": jwt_hs256(claims(uid="a:b"), JWT_SECRET),
        "not yet": jwt_hs256(claims(nbf=int(time.time()) + 3600), JWT_SECRET),
    }
    for why, tok in bad.items():
        r = jwt_ragd.get("/api/v1/cache/stats", headers=bearer(tok))
        assert r.status_code == 401, (why, r.text)
        assert "invalid_token" in r.headers["WWW-Authenticate"], why


def test_auth_metrics(secured):
    secured.get("/api/v1/cache/stats")
    admin(secured, "get", "/api/v1/cache/stats")
    text = secured.get("/metrics").text
    assert 'ragd_auth_requests_total{result="missing"}' in text
    assert "ragd_auth_enabled 1" in text
