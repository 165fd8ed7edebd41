"""The gateway's semantic cache end to end (needs the embedding model that set-up
fetches): paraphrases hit, with their similarity; users, conversations and
non-qualifying requests never share; the guard keeps numbers, negations and quotes
apart whatever the similarity."""
import os

import pytest
import requests

from ragdtest import MATRIX, Ragd, store_env

MODEL_DIR = os.path.expanduser(os.environ.get("RAGD_MODEL_DIR", "~/.cache/ragd/models/all-MiniLM-L6-v2"))
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(MODEL_DIR, "model.safetensors")),
                                reason="embedding model not installed")


@pytest.fixture(params=MATRIX)
def gw(request, upstream):
    s = Ragd(env=dict(store_env(request, 5), RAGD_UPSTREAM_URL=upstream.url,
                      RAGD_MODEL_DIR=MODEL_DIR)).start()
    upstream.reset()
    yield s
    s.cleanup()


def ask(gw, q, system="be brief", headers=None, history=(), **kw):
    msgs = [{"role": "system", "content": system}] + list(history) + [{"role": "user", "content": q}]
    body = {"model": "fake-model", "temperature": 0, "messages": msgs}
    body.update(kw)
    r = requests.post(gw.url + "/v1/chat/completions", json=body, headers=headers or {},
                      timeout=60)
    assert r.status_code == 200, r.text
    return r


def test_paraphrase_is_a_semantic_hit(gw, upstream):
    a = ask(gw, "How do I reset my password?")
    b = ask(gw, "How can I reset my password?")
    assert b.headers["x-ragd-cache"] == "semantic-hit"
    assert float(b.headers["x-ragd-cache-similarity"]) >= 0.85
    assert b.json() == a.json()
    assert upstream.calls == 1
    sem = gw.get("/api/v1/cache/stats").json()["gateway"]["semantic"]
    assert sem["enabled"] and sem["hits"] == 1 and sem["entries"] == 1
    assert gw.get("/api/v1/cache/stats").json()["gateway"]["models"]["fake-model"][
        "semantic_hit"] == 1


def test_threshold_header(gw, upstream):
    ask(gw, "How do I reset my password?")
    strict = ask(gw, "How can I reset my password?", headers={"x-ragd-semantic-threshold": "1"})
    assert strict.headers["x-ragd-cache"] == "miss"
    loose = ask(gw, "What is the capital of France?",
                headers={"x-ragd-semantic-threshold": "0"})
    assert loose.headers["x-ragd-cache"] == "semantic-hit"


def test_no_cross_user_semantic_leak(gw, upstream):
    ask(gw, "What is my account balance?", user="alice")
    r = ask(gw, "What's my account balance?", user="bob",
            headers={"x-ragd-semantic-threshold": "0"})
    assert r.headers["x-ragd-cache"] == "miss"
    assert ask(gw, "What's my account balance?", user="alice").headers["x-ragd-cache"] == \
        "semantic-hit"


def test_conversations_do_not_share(gw):
    h1 = [{"role": "user", "content": "I drive a Tesla"}, {"role": "assistant", "content": "ok"}]
    h2 = [{"role": "user", "content": "I drive a Ford"}, {"role": "assistant", "content": "ok"}]
    ask(gw, "How often should I service it?", history=h1)
    r = ask(gw, "How often should I service it?", history=h2,
            headers={"x-ragd-semantic-threshold": "0"})
    assert r.headers["x-ragd-cache"] == "miss"
    r = ask(gw, "How often should I service it?", system="be verbose", history=h1,
            headers={"x-ragd-semantic-threshold": "0"})
    assert r.headers["x-ragd-cache"] == "miss"


def test_guard_numbers_negations_quotes(gw):
    t0 = {"x-ragd-semantic-threshold": "0"}
    ask(gw, "Convert 100 dollars to euros")
    assert ask(gw, "Convert 200 dollars to euros", headers=t0).headers["x-ragd-cache"] == "miss"
    ask(gw, "Is the museum open on Sunday?")
    assert ask(gw, "Is the museum not open on Sunday?", headers=t0).headers[
        "x-ragd-cache"] == "miss"
    ask(gw, 'Translate "good morning" to French')
    assert ask(gw, 'Translate "good night" to French', headers=t0).headers[
        "x-ragd-cache"] == "miss"


def test_only_qualifying_requests(gw, upstream):
    t0 = {"x-ragd-semantic-threshold": "0"}
    ask(gw, "Name a primary colour", temperature=0.9)
    assert ask(gw, "Name one primary colour", headers=t0, temperature=0.9).headers[
        "x-ragd-cache"] == "miss"
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    ask(gw, "Name a primary colour", tools=tools)
    assert ask(gw, "Name one primary colour", headers=t0, tools=tools).headers[
        "x-ragd-cache"] == "miss"
    assert upstream.calls == 4


def test_keeps_learning_beyond_max_entries(upstream):
    """semantic_max_entries bounds the index, it does not end learning: the oldest
    entries leave for new ones (regression: the count never went down, so after
    max_entries prompts in an instance's life nothing new was indexed)."""
    gw = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url, "RAGD_MODEL_DIR": MODEL_DIR,
                   "RAGD_SEMANTIC_MAX_ENTRIES": "3"}).start()
    try:
        topics = ["the boiling point of water", "the speed of light", "the tallest mountain",
                  "the largest ocean", "the longest river", "the smallest planet"]
        for t in topics:
            ask(gw, f"What is {t}?")
        sem = gw.get("/api/v1/cache/stats").json()["gateway"]["semantic"]
        assert sem["entries"] == 3 and sem["evictions"] == 3
        # the newest are learned; the oldest left
        assert ask(gw, "Tell me what is the smallest planet?").headers["x-ragd-cache"] == \
            "semantic-hit"
        assert ask(gw, "Tell me what is the boiling point of water?").headers[
            "x-ragd-cache"] == "miss"
    finally:
        gw.cleanup()
