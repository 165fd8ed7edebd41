"""The gateway with authentication on: the openai SDK's api_key is the caller's
ragd key, answers are cached per caller, and a user-bound key cannot act for
another user through the OpenAI `user` field."""
import openai
import pytest
import requests

from fake_upstream import FakeUpstream
from ragdtest import Ragd, assert_error

ADMIN = "admin-secret-gw-0123456789"


@pytest.fixture(scope="module")
def upstream():
    up = FakeUpstream().start()
    yield up
    up.stop()


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
