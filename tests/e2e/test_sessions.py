"""Sessions and conversation history end to end, on LMDB and Redis: documents with an
absolute or sliding TTL, merge-patch, size limit (413), messages (append, last=N,
relevant_to with the embedding model), and ownership by the creating user."""
import time

import pytest
import requests

from ragdtest import Ragd, assert_error


def test_session_crud(ragd):
    r = ragd.put("/api/v1/sessions/s1?ttl=60", json={"cart": [1, 2], "step": "pay"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == "s1" and body["data"] == {"cart": [1, 2], "step": "pay"}
    assert body["ttl"] == 60 and body["ttl_mode"] == "absolute" and 0 < body["expires_in"] <= 60
    assert ragd.put("/api/v1/sessions/s1", json={"step": "start"}).status_code == 200  # replace
    assert ragd.get("/api/v1/sessions/s1").json()["data"] == {"step": "start"}
    r = requests.patch(ragd.url + "/api/v1/sessions/s1", json={"step": None, "user": {"n": 1}})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"user": {"n": 1}}
    r = requests.patch(ragd.url + "/api/v1/sessions/s1", json={"user": {"m": 2}})
    assert r.json()["data"] == {"user": {"n": 1, "m": 2}}
    assert ragd.delete("/api/v1/sessions/s1").json() == {"deleted": 1}
    assert_error(ragd.get("/api/v1/sessions/s1"), 404, "not_found")
    assert_error(ragd.delete("/api/v1/sessions/s1"), 404, "not_found")
    assert_error(requests.patch(ragd.url + "/api/v1/sessions/s1", json={}), 404, "not_found")


def test_session_validation(ragd):
    assert_error(ragd.put("/api/v1/sessions/bad:id", json={}), 400)
    assert_error(ragd.put("/api/v1/sessions/s?ttl=abc", json={}), 400, "invalid_ttl")
    assert_error(ragd.put("/api/v1/sessions/s?ttl_mode=forever", json={}), 400)
    assert_error(ragd.put("/api/v1/sessions/s", data=b"{not json"), 400, "invalid_json")
    big = {"blob": "x" * 70000}
    assert_error(ragd.put("/api/v1/sessions/s", json=big), 413, "payload_too_large")
    assert_error(ragd.get("/api/v1/sessions/s"), 404)  # nothing stored
    ragd.put("/api/v1/sessions/s", json={})
    r = requests.patch(ragd.url + "/api/v1/sessions/s", json=big)
    assert_error(r, 413, "payload_too_large")
    assert ragd.get("/api/v1/sessions/s").json()["data"] == {}


def test_absolute_ttl_expires(ragd):
    ragd.put("/api/v1/sessions/short?ttl=1", json={"a": 1})
    ragd.post("/api/v1/sessions/short/messages", json={"role": "user", "content": "hi"})
    time.sleep(0.5)
    assert ragd.get("/api/v1/sessions/short").status_code == 200  # reads do not extend it
    time.sleep(0.8)
    assert_error(ragd.get("/api/v1/sessions/short"), 404)
    assert_error(ragd.get("/api/v1/sessions/short/messages"), 404)


def test_sliding_ttl_is_refreshed(ragd):
    ragd.put("/api/v1/sessions/slide?ttl=1&ttl_mode=sliding", json={"a": 1})
    for _ in range(4):
        time.sleep(0.5)
        r = ragd.get("/api/v1/sessions/slide")
        assert r.status_code == 200, "a sliding session lives while it is used"
        assert r.json()["ttl_mode"] == "sliding"
    time.sleep(1.3)
    assert_error(ragd.get("/api/v1/sessions/slide"), 404)


def test_messages(ragd):
    assert_error(ragd.post("/api/v1/sessions/nope/messages",
                           json={"role": "user", "content": "x"}), 404)
    ragd.put("/api/v1/sessions/chat", json={})
    for i in range(5):
        r = ragd.post("/api/v1/sessions/chat/messages",
                      json={"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}",
                            "metadata": {"i": i}})
        assert r.status_code == 201, r.text
        assert r.json()["seq"] == i + 1 and r.json()["metadata"] == {"i": i}
    msgs = ragd.get("/api/v1/sessions/chat/messages").json()["messages"]
    assert [m["content"] for m in msgs] == ["m0", "m1", "m2", "m3", "m4"]
    last = ragd.get("/api/v1/sessions/chat/messages?last=2").json()["messages"]
    assert [m["content"] for m in last] == ["m3", "m4"]
    assert_error(ragd.post("/api/v1/sessions/chat/messages", json={"content": "x"}), 400)
    assert_error(ragd.post("/api/v1/sessions/chat/messages",
                           json={"role": "user", "content": "x" * 70000}), 413)
    assert_error(ragd.get("/api/v1/sessions/chat/messages?last=0"), 400)
    ragd.delete("/api/v1/sessions/chat")
    ragd.put("/api/v1/sessions/chat", json={})
    assert ragd.get("/api/v1/sessions/chat/messages").json()["messages"] == []


def test_history_is_trimmed_and_concurrent_appends_all_land():
    s = Ragd(env={"RAGD_SESSION_MAX_MESSAGES": "50"}).start()
    try:
        s.put("/api/v1/sessions/c", json={})
        from concurrent.futures import ThreadPoolExecutor
        def post(i):
            return s.post("/api/v1/sessions/c/messages",
                          json={"role": "user", "content": f"t{i}"}).status_code
        with ThreadPoolExecutor(8) as ex:
            codes = list(ex.map(post, range(80)))
        assert codes == [201] * 80
        msgs = s.get("/api/v1/sessions/c/messages").json()["messages"]
        assert len(msgs) == 50
        assert [m["seq"] for m in msgs] == list(range(31, 81))  # every append got its own seq
    finally:
        s.cleanup()


def test_relevant_to(ragd):
    if "embedding model" in ragd.logs() and "loaded" not in ragd.logs():
        pytest.skip("no embedding model")
    ragd.put("/api/v1/sessions/mem", json={})
    texts = ["My favourite food is spaghetti carbonara.",
             "I injured my left knee while running last week.",
             "The meeting is moved to Thursday at 3 pm.",
             "I have a golden retriever called Max."]
    for t in texts:
        ragd.post("/api/v1/sessions/mem/messages", json={"role": "user", "content": t})
    r = ragd.get("/api/v1/sessions/mem/messages",
                 params={"relevant_to": "what is my dog's name?", "k": 2})
    if r.status_code == 503:
        pytest.skip("no embedding model loaded")
    assert r.status_code == 200, r.text
    got = r.json()["messages"]
    assert len(got) == 2
    assert got[0]["content"] == texts[3]
    assert got[0]["score"] >= got[1]["score"]
    r = ragd.get("/api/v1/sessions/mem/messages", params={"relevant_to": "knee pain", "k": 1})
    assert r.json()["messages"][0]["content"] == texts[1]
