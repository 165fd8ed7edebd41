"""/metrics as Prometheus tools read it: the request's own method in `method`,
build and process_* families, search latency per mode, upstream latency, time to
first token and tokens spent per model, counters that survive a cache clear,
documents, chunks and memory per namespace (bounded, the rest under _other), and
the whole exposition accepted by `promtool check metrics` after many routes ran."""
import re
import shutil
import subprocess

import pytest
import requests

from ragdtest import Ragd

NS = "/api/v1/namespaces"


def samples(text, name):
    """{labels-string: value} of every sample of one metric name."""
    out = {}
    for m in re.finditer(r"^" + re.escape(name) + r"(\{.*\})? (\S+)$", text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


@pytest.fixture
def gw(upstream):
    s = Ragd(env={"RAGD_UPSTREAM_URL": upstream.url}).start()
    yield s
    s.cleanup()


def test_method_label_is_the_request_method(ragd_lmdb):
    s = ragd_lmdb
    s.put("/api/v1/cache/m/k", data="v")
    s.get("/api/v1/cache/m/k")
    s.head("/api/v1/cache/m/k")
    s.head("/api/v1/cache/m/k")
    requests.request("PROPFIND", s.url + "/nowhere", timeout=10)
    text = s.get("/metrics").text
    got = samples(text, "ragd_http_requests_total")
    route = '/api/v1/cache/{prefix}/{key*}'
    assert got[f'{{route="{route}",method="GET",status="200"}}'] == 1, got
    assert got[f'{{route="{route}",method="HEAD",status="200"}}'] == 2, got
    assert got[f'{{route="{route}",method="PUT",status="200"}}'] == 1, got
    assert got['{route="unmatched",method="other",status="404"}'] == 1, got
    assert not [k for k in got if "," in k.split('method="')[1].split('"')[0]], got


def test_build_and_process_families(ragd_lmdb):
    text = ragd_lmdb.get("/metrics").text
    info = samples(text, "ragd_build_info")
    assert len(info) == 1 and list(info.values()) == [1.0], info
    labels = next(iter(info))
    assert 'version="' in labels
    assert re.search(r'revision="(?!unknown")[0-9A-Za-z._+-]+"', labels), labels
    assert "# TYPE process_cpu_seconds_total counter" in text
    for name in ("process_resident_memory_bytes", "process_virtual_memory_bytes",
                 "process_open_fds", "process_max_fds", "process_start_time_seconds"):
        assert f"# TYPE {name} gauge" in text, name
        assert samples(text, name)[""] > 0, name
    assert samples(text, "process_resident_memory_bytes")[""] > 1e6


def test_counters_survive_cache_clears(ragd):
    """DELETE /api/v1/cache used to zero every cache counter and drop the
    series: a counter must only grow (a scrape would read a restart)."""
    for i in range(3):
        ragd.put(f"/api/v1/cache/keep/k{i}", data="v")
        ragd.get(f"/api/v1/cache/keep/k{i}")
    assert ragd.post("/api/v1/cache/clear", json={"prefix": "keep"}).status_code == 200
    assert ragd.delete("/api/v1/cache").status_code == 200
    text = ragd.get("/metrics").text
    assert samples(text, "ragd_cache_hits_total")['{prefix="keep"}'] == 3
    assert samples(text, "ragd_cache_writes_total")['{prefix="keep"}'] == 3
    ragd.get("/api/v1/cache/keep/k0")  # gone now: a miss, counted on top
    text = ragd.get("/metrics").text
    assert samples(text, "ragd_cache_hits_total")['{prefix="keep"}'] == 3
    assert samples(text, "ragd_cache_misses_total")['{prefix="keep"}'] == 1
    assert ragd.get("/api/v1/cache/stats").json()["hits"] == 3


def test_search_latency_per_mode(ragd_lmdb):
    s = ragd_lmdb
    assert s.post(NS, json={"name": "m"}).status_code == 201
    docs = [{"id": f"d{i}", "text": f"document number {i} about squats"} for i in range(5)]
    assert s.post(f"{NS}/m/documents", json={"documents": docs}).status_code == 200
    for mode, n in (("keyword", 2), ("semantic", 1), ("hybrid", 3)):
        for _ in range(n):
            r = s.post("/api/v1/search/hybrid", json={"query": "squats", "search_type": mode})
            assert r.status_code == 200, r.text
    text = s.get("/metrics").text
    counts = samples(text, "ragd_search_duration_seconds_count")
    assert counts == {'{mode="hybrid"}': 3, '{mode="semantic"}': 1, '{mode="keyword"}': 2}, counts


def test_namespace_gauges_are_bounded():
    s = Ragd(env={"RAGD_METRICS_MAX_LABEL_VALUES": "2"}).start()
    try:
        for name, n in (("big", 3), ("mid", 2), ("small", 1), ("_other", 1)):
            assert s.post(NS, json={"name": name}).status_code == 201
            docs = [{"id": f"d{i}", "text": f"{name} document {i} about squats"}
                    for i in range(n)]
            r = s.post(f"{NS}/{name}/documents", json={"documents": docs})
            assert r.status_code == 200, r.text
        text = s.get("/metrics").text
        # the two largest have their own series; "small" and a namespace named _other fold
        assert samples(text, "ragd_namespace_documents") == {
            '{namespace="big"}': 3, '{namespace="mid"}': 2, '{namespace="_other"}': 2}
        chunks = samples(text, "ragd_namespace_chunks")
        assert set(chunks) == {'{namespace="big"}', '{namespace="mid"}', '{namespace="_other"}'}
        assert chunks['{namespace="big"}'] >= 3
        mem = samples(text, "ragd_namespace_memory_bytes")
        assert mem['{namespace="big"}'] > 0 and mem['{namespace="_other"}'] > 0
        assert "# TYPE ragd_namespace_documents gauge" in text
    finally:
        s.cleanup()


def test_upstream_latency_ttft_and_tokens_spent(gw):
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hello there"}]}
    r = requests.post(gw.url + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]
    body["messages"][0]["content"] = "a streamed one"
    r = requests.post(gw.url + "/v1/chat/completions", json=dict(body, stream=True), timeout=30)
    assert r.status_code == 200 and "[DONE]" in r.text
    text = gw.get("/metrics").text
    lab = '{model="fake-model"}'
    assert samples(text, "ragd_gateway_upstream_duration_seconds_count")[lab] == 2
    assert samples(text, "ragd_gateway_time_to_first_token_seconds_count")[lab] == 1
    b = samples(text, "ragd_gateway_upstream_duration_seconds_bucket")
    assert b['{model="fake-model",le="300"}'] == 2, b  # provider-scale buckets
    spent_in = samples(text, "ragd_gateway_tokens_spent_input_total")[lab]
    assert spent_in >= usage["prompt_tokens"] > 0
    assert samples(text, "ragd_gateway_tokens_spent_output_total")[lab] >= usage["completion_tokens"]


def _exercise(s):
    s.put("/api/v1/cache/p/k", data="v")
    s.get("/api/v1/cache/p/k")
    s.get("/api/v1/cache/p/absent")
    s.get("/api/v1/cache/stats")
    s.post("/api/v1/cache/clear", json={"prefix": "p"})
    s.delete("/api/v1/cache")
    s.post(NS, json={"name": "n"})
    s.post(f"{NS}/n/documents", json={"documents": [{"id": "a", "text": "some text"}]})
    for mode in ("keyword", "semantic", "hybrid"):
        s.post("/api/v1/search/hybrid", json={"query": "text", "search_type": mode})
    s.post("/api/v1/embeddings/generate", json={"texts": ["x"]})
    s.post("/v1/embeddings", json={"input": "y", "model": "all-MiniLM-L6-v2"})
    s.post("/api/v1/rag/query", json={"query": "text"})
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "promtool"}]}
    requests.post(s.url + "/v1/chat/completions", json=body, timeout=30)
    requests.post(s.url + "/v1/chat/completions", json=dict(body, stream=True), timeout=30)
    odd = dict(body, model='we"ird\\model')  # a label value to escape
    requests.post(s.url + "/v1/chat/completions", json=odd, timeout=30)
    s.get("/health")
    s.get("/openapi.json")
    s.head("/")
    s.get("/nowhere")
    requests.request("PATCH", s.url + "/metrics", timeout=10)


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool absent (Debian package prometheus)")
def test_promtool_accepts_the_exposition(gw):
    _exercise(gw)
    text = gw.get("/metrics").text
    assert 'model="we\\"ird\\\\model"' in text
    assert samples(text, "ragd_namespace_documents")['{namespace="n"}'] == 1
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr
