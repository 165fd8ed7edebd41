"""W3C trace context carried to the upstreams ragd calls: a chat completion (whole or
streamed), a provider embedding and the model list each reach the provider with
traceparent naming the caller's trace id, a NEW span id (ragd's client span, one per
attempt) and the caller's sampled flag, and with the caller's tracestate passed
through. Without a traceparent the upstream gets the trace ragd started (the one it
returns). A single-flight join makes no call: the one call carries the leader's trace."""
import re
import threading

import pytest
import requests

from ragdtest import Ragd, wait_for

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
TP = f"00-{TRACE}-{SPAN}-01"
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@pytest.fixture(scope="module")
def gw(upstream):
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url, "RAGD_GATEWAY_RETRY_BASE_MS": "10"}).start()
    yield s
    s.cleanup()


@pytest.fixture(autouse=True)
def fresh(upstream):
    upstream.reset()


def chat(gw, content, headers, **kw):
    body = {"model": "fake-model", "messages": [{"role": "user", "content": content}]}
    body.update(kw)
    r = requests.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return r


def sent(upstream, suffix):
    """(trace id, span id, flags, tracestate) of each call to the provider's suffix."""
    out = []
    for h in upstream.request_headers(suffix):
        m = TP_RE.match(h.get("traceparent", ""))
        assert m, h
        out.append((m.group(1), m.group(2), m.group(3), h.get("tracestate")))
    return out


def assert_child_of_caller(calls, n=1, flags="01"):
    assert len(calls) == n, calls
    for trace, span, fl, _ in calls:
        assert trace == TRACE and fl == flags
        assert span not in (SPAN, "0" * 16)  # a new span: ragd's client span


def test_chat_carries_the_callers_trace(gw, upstream):
    chat(gw, "trace me", {"traceparent": TP, "tracestate": "vendor=abc,other=1"})
    calls = sent(upstream, "/chat/completions")
    assert_child_of_caller(calls)
    assert calls[0][3] == "vendor=abc,other=1"


def test_streaming_chat_carries_the_callers_trace(gw, upstream):
    r = chat(gw, "trace my stream", {"traceparent": TP.replace("-01", "-00")}, stream=True)
    assert "data: [DONE]" in r.text
    calls = sent(upstream, "/chat/completions")
    assert_child_of_caller(calls, flags="00")  # not sampled: the flag is kept
    assert calls[0][3] is None                  # no tracestate was sent to ragd


def test_provider_embeddings_carry_the_callers_trace(gw, upstream):
    r = requests.post(gw.url + "/v1/embeddings", headers={"traceparent": TP, "tracestate": "k=v"},
                      json={"model": "text-embedding-3-small", "input": ["traced text"]},
                      timeout=60)
    assert r.status_code == 200, r.text
    calls = sent(upstream, "/embeddings")
    assert_child_of_caller(calls)
    assert calls[0][3] == "k=v"


def test_model_list_carries_the_callers_trace(gw, upstream):
    assert gw.get("/v1/models", headers={"traceparent": TP}).status_code == 200
    assert_child_of_caller(sent(upstream, "/models"))


def test_each_retry_is_a_new_span(gw, upstream):
    upstream.fail_next({"status": 500})
    chat(gw, "retry me", {"traceparent": TP})
    calls = sent(upstream, "/chat/completions")
    assert_child_of_caller(calls, n=2)
    assert calls[0][1] != calls[1][1]


def test_without_traceparent_the_upstream_gets_ragds_trace(gw, upstream):
    r = chat(gw, "untraced", {"tracestate": "dropped=1"})
    ours = TP_RE.match(r.headers["traceparent"])
    calls = sent(upstream, "/chat/completions")
    assert len(calls) == 1 and calls[0][0] == ours.group(1)
    assert calls[0][1] != ours.group(2)
    assert calls[0][3] is None  # tracestate needs the caller's valid traceparent


def test_a_join_makes_no_call_and_the_call_keeps_the_leaders_trace(gw, upstream):
    other = "0af7651916cd43dd8448eb211c80319c"
    answers = []
    leader = threading.Thread(target=lambda: answers.append(
        chat(gw, "shared [slow:0.3]", {"traceparent": TP})))
    leader.start()
    wait_for(lambda: upstream.calls == 1, "the leader's upstream call")
    answers.append(chat(gw, "shared [slow:0.3]", {"traceparent": f"00-{other}-{SPAN}-01"}))
    leader.join()
    assert len(answers) == 2 and upstream.calls == 1
    assert_child_of_caller(sent(upstream, "/chat/completions"))
