"""The gateway with authentication on: the openai SDK's api_key is the caller's
ragd key, answers are cached per caller, and a user-bound key cannot act for
another user through the OpenAI `user` field."""
import openai
import pytest
import requests

from ragdtest import Ragd, assert_error

ADMIN = "admin-secret-gw-0123456789"


@pytest.fixture
def gw(upstream):
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url, "RAGD_ADMIN_KEY": ADMIN}).start()
    s.keys = {}
    for name in ("alice", "bob"):
        r = requests.post(s.url + "/api/v1/keys", headers={"X-API-Key": ADMIN},
                          json={"user_id": name, "scopes": ["read", "write"]}, timeout=10)
        assert r.status_code == 201, r.text
        s.keys[name] = r.json()["key"]
    upstream.reset()
    yield s
    s.cleanup()


def ask(gw, who, **kw):
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys[who], max_retries=0)
    return c.chat.completions.with_raw_response.create(
        model="fake-model", messages=[{"role": "user", "content": "How many sets per week?"}], **kw)


def test_answers_are_cached_per_caller(gw, upstream):
    assert ask(gw, "alice").headers["x-ragd-cache"] == "miss"
    assert ask(gw, "alice").headers["x-ragd-cache"] == "hit"
    assert ask(gw, "bob").headers["x-ragd-cache"] == "miss"  # never alice's answer
    assert upstream.calls == 2


def test_a_user_key_cannot_name_another_user(gw):
    with pytest.raises(openai.PermissionDeniedError):
        ask(gw, "alice", user="bob")
    assert ask(gw, "alice", user="alice").headers["x-ragd-cache"] == "miss"


def test_no_credential_is_401(gw):
    r = requests.post(gw.url + "/v1/chat/completions",
                      json={"model": "fake-model", "messages": [{"role": "user", "content": "x"}]})
    assert_error(r, 401, "unauthorized")


def test_token_budget_reserves_then_reconciles(upstream, tmp_path):
    cfg = tmp_path / "ragd.json"
    cfg.write_text('{"rate_limits": [{"name": "tok", "unit": "tokens", "algorithm": "fixed_window",'
                   ' "window": "1d", "limit": 2000, "routes": ["/v1/chat/completions"]}]}')
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url}, args=["--config", str(cfg)]).start()
    upstream.reset()
    try:
        def send(content, max_tokens):
            body = {"model": "fake-model", "max_tokens": max_tokens,
                    "messages": [{"role": "user", "content": content}]}
            data = __import__("json").dumps(body).encode()
            r = requests.post(s.url + "/v1/chat/completions", data=data,
                              headers={"Content-Type": "application/json"}, timeout=30)
            return r, len(data) // 4 + max_tokens

        # an estimate beyond the budget never reaches the provider
        r, _ = send("too big", 5000)
        assert_error(r, 429, "rate_limited")
        assert upstream.calls == 0
        r1, est1 = send("first question", 300)
        assert r1.status_code == 200, r1.text
        assert int(r1.headers["RateLimit-Remaining"]) == 2000 - est1
        used1 = r1.json()["usage"]["total_tokens"]
        assert used1 < est1
        # the first call was reconciled to its real usage before the second reserved
        r2, est2 = send("second question", 300)
        assert int(r2.headers["RateLimit-Remaining"]) == 2000 - used1 - est2
        used2 = r2.json()["usage"]["total_tokens"]
        # a cache hit costs nothing: its whole estimate comes back
        r3, est3 = send("second question", 300)
        assert r3.headers["x-ragd-cache"] == "hit"
        r4, est4 = send("third question", 300)
        assert int(r4.headers["RateLimit-Remaining"]) == 2000 - used1 - used2 - est4
    finally:
        s.cleanup()
