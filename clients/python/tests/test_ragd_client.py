"""The Python client against the real binary: every area it covers (knowledge bases,
ingestion jobs, search, RAG, re-rank, embeddings, sessions, rate limits, the cache API,
the semantic cache), sync and async,
with credentials, and errors raised as RagdError with ragd's codes."""
import asyncio

import pytest

from ragd import AsyncClient, Client, RagdError

DOCS = [
    {"id": "squat", "text": "The back squat builds leg strength; keep the knees over the toes.",
     "metadata": {"topic": "legs"}},
    {"id": "notes/protein", "text": "Eat 20 to 40 grams of protein after lifting weights.",
     "metadata": {"topic": "diet"}},
]


@pytest.fixture
def client(server, admin_key):
    with Client(server.url, api_key=admin_key) as c:
        yield c


def test_credentials_are_sent(server, admin_key):
    with Client(server.url) as anonymous:
        with pytest.raises(RagdError) as e:
            anonymous.list_namespaces()
        assert e.value.status == 401 and e.value.request_id
    with Client(server.url, token=admin_key) as bearer:
        assert isinstance(bearer.list_namespaces(), dict)  # the admin key as a bearer token


def test_knowledge_base_search_and_rag(client):
    assert client.create_namespace("fit", description="training notes")["name"] == "fit"
    up = client.upsert_documents("fit", DOCS)
    assert up["upserted"] == 2
    assert client.get_namespace("fit")["stats"]["documents"] == 2
    assert client.list_documents("fit")["total"] == 2
    doc = client.get_document("fit", "notes/protein")
    assert doc["id"] == "notes/protein" and doc["metadata"] == {"topic": "diet"}
    hits = client.search("protein after lifting", namespaces=["fit"], limit=1)
    assert hits["results"][0]["document_id"] == "notes/protein"
    only_legs = client.search("strength", namespaces=["fit"], filter={"topic": "legs"})
    assert {h["document_id"] for h in only_legs["results"]} == {"squat"}
    rag = client.rag_query("how much protein after lifting", namespaces=["fit"])
    assert rag["context"][0]["provenance"]["document_id"] == "notes/protein"
    client.update_namespace("fit", description="changed")
    assert client.get_namespace("fit")["settings"]["description"] == "changed"
    client.delete_document("fit", "squat")
    assert client.delete_documents_where("fit", {})["deleted"] == 1
    client.delete_namespace("fit")
    with pytest.raises(RagdError) as e:
        client.get_namespace("fit")
    assert e.value.status == 404 and e.value.code == "namespace_not_found"


def test_rerank_and_embeddings(client):
    r = client.rerank("protein after lifting", [d["text"] for d in DOCS], top_n=1)
    assert r["results"][0]["index"] == 1
    e = client.embed(["a", "b"])
    assert len(e["data"]) == 2 and len(e["data"][0]["embedding"]) == 384
    with pytest.raises(RagdError) as err:
        client.rerank("q", ["x"], model="not-configured")
    assert err.value.code == "model_not_found"


def test_sessions(client):
    s = client.put_session("chat-1", {"step": "intro"}, ttl=600, user_id="alice")
    assert s["data"] == {"step": "intro"} and s["ttl"] == 600
    client.patch_session("chat-1", {"cart": [1]}, user_id="alice")
    assert client.get_session("chat-1", user_id="alice")["data"] == {"step": "intro",
                                                                     "cart": [1]}
    client.append_message("chat-1", "user", "my knee hurts", user_id="alice")
    client.append_message("chat-1", "assistant", "rest it", metadata={"n": 1}, user_id="alice")
    msgs = client.get_messages("chat-1", last=10, user_id="alice")
    assert [m["content"] for m in msgs["messages"]] == ["my knee hurts", "rest it"]
    rel = client.get_messages("chat-1", relevant_to="knee injury", k=1, user_id="alice")
    assert rel["messages"][0]["content"] == "my knee hurts"
    client.delete_session("chat-1", user_id="alice")
    with pytest.raises(RagdError) as e:
        client.get_session("chat-1", user_id="alice")
    assert e.value.status == 404


def test_rate_limits(client):
    decisions = [client.ratelimit_check("login:alice", limit=2, window=60) for _ in range(3)]
    assert [d["allowed"] for d in decisions] == [True, True, False]
    assert decisions[0]["remaining"] == 1


def test_cache_api(client):
    client.cache_put("lesson", "intro/1", "hello", ttl=300)
    got = client.cache_get("lesson", "intro/1")
    assert got.text() == "hello" and 0 < got.ttl <= 300
    client.cache_put("lesson", "obj", {"a": [1, 2]})
    assert client.cache_get("lesson", "obj").content_type.startswith("application/json")
    client.cache_put("lesson", "raw", b"\x00\x01")
    assert client.cache_get("lesson", "raw").value == b"\x00\x01"
    assert client.cache_delete("lesson", "raw") is True
    assert client.cache_delete("lesson", "raw") is False
    assert client.cache_get("lesson", "raw") is None
    k = client.cache_key("gen", "gpt-4o", {"temperature": 0, "prompt": "x"})
    assert k["key"].startswith("gpt-4o:") and k["path"].startswith("/api/v1/cache/gen/")
    assert client.cache_set_ttl({"lesson": 120})["ttl"]["prefixes"]["lesson"] == 120
    assert client.cache_stats()["prefixes"]["lesson"]["keys"] >= 2
    assert client.cache_clear(prefix="lesson")["deleted"] >= 2
    assert client.health()["status"] in ("healthy", "degraded")


def test_async_client(server, admin_key):
    async def run():
        async with AsyncClient(server.url, api_key=admin_key) as c:
            await c.create_namespace("async-ns")
            await c.upsert_documents("async-ns", DOCS)
            hits, rag = await asyncio.gather(
                c.search("protein", namespaces=["async-ns"], limit=1),
                c.rag_query("protein after lifting", namespaces=["async-ns"]))
            assert hits["results"][0]["document_id"] == "notes/protein"
            assert rag["context"]
            await c.cache_put("a", "k", "v")
            assert (await c.cache_get("a", "k")).text() == "v"
            d = await c.ratelimit_check("async", limit=1, window=60)
            assert d["allowed"] is True
            await c.put_session("s", {"x": 1}, user_id="bob")
            assert (await c.get_session("s", user_id="bob"))["data"] == {"x": 1}
            await c.delete_namespace("async-ns")
            with pytest.raises(RagdError):
                await c.get_namespace("async-ns")
    asyncio.run(run())


def test_namespaces_with_own_vectors(client, server, admin_key):
    """A namespace without a model: documents and chunks carry vectors, searches a vector
    (and the query text for the keyword leg); errors keep ragd's codes."""
    info = client.create_namespace("vecs", embedding_model=None, dimension=3, metric="dot")
    assert info["settings"]["embedding_model"] is None
    assert info["settings"]["dimension"] == 3 and info["settings"]["metric"] == "dot"
    up = client.upsert_documents("vecs", [
        {"id": "a", "text": "alpha text", "vector": [1, 0, 0]},
        {"id": "b", "chunks": [{"text": "beta one", "vector": [0, 1, 0]},
                               {"text": "beta two", "vector": [0, 0, 2]}]}])
    assert up["chunks"] == 3
    hits = client.search(vector=[0, 0, 1], namespaces=["vecs"], search_type="semantic", limit=1)
    assert hits["results"][0]["content"] == "beta two" and hits["results"][0]["score"] == 2
    both = client.search("alpha", vector=[0, 1, 0], namespaces=["vecs"], limit=3)
    assert {h["document_id"] for h in both["results"]} == {"a", "b"}
    with pytest.raises(RagdError) as e:
        client.upsert_documents("vecs", [{"id": "c", "text": "x", "vector": [1, 0]}])
    assert e.value.status == 400 and e.value.code == "dimension_mismatch"

    async def run():
        async with AsyncClient(server.url, api_key=admin_key) as ac:
            r = await ac.search(vector=[1, 0, 0], namespaces=["vecs"], search_type="semantic")
            assert r["results"][0]["document_id"] == "a"
            await ac.create_namespace("vecs2", dimension=2)
            assert (await ac.get_namespace("vecs2"))["settings"]["embedding_model"] is None
    asyncio.run(run())
    client.delete_namespace("vecs")
    client.delete_namespace("vecs2")


def test_ingestion_jobs(client, server, admin_key):
    client.create_namespace("jobs-ns")
    job = client.submit_job("jobs-ns", DOCS)
    assert job["status"] in ("enqueued", "processing", "succeeded") and job["id"]
    done = client.wait_job(job["id"], timeout=120, interval=0.1)
    assert done["status"] == "succeeded" and done["documents"]["done"] == 2
    assert client.get_job(job["id"])["status"] == "succeeded"
    listed = client.list_jobs(namespace="jobs-ns", status="succeeded")
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    with pytest.raises(RagdError) as e:
        client.cancel_job(job["id"])
    assert e.value.status == 409 and e.value.code == "job_finished"
    with pytest.raises(RagdError) as e:
        client.get_job("no-such-job")
    assert e.value.status == 404
    assert client.search("protein", namespaces=["jobs-ns"], limit=1)["results"]

    async def run():
        async with AsyncClient(server.url, api_key=admin_key) as ac:
            j = await ac.submit_job("jobs-ns", [{"id": "more", "text": "rowing for the back"}])
            assert (await ac.wait_job(j["id"], timeout=120, interval=0.1))["status"] == "succeeded"
            assert (await ac.list_jobs(namespace="jobs-ns"))["count"] == 2
    asyncio.run(run())
    client.delete_namespace("jobs-ns")


def test_semantic_cache(client, server, admin_key):
    eid = client.semantic_store("faq", "How do I reset my password?", "Use the reset link.",
                                metadata={"src": "docs"}, filters={"lang": "en"}, ttl=600)
    assert len(eid) == 32
    hits = client.semantic_check("faq", "How can I reset my password?", distance_threshold=0.3)
    assert [h["id"] for h in hits] == [eid]
    assert hits[0]["response"] == "Use the reset link." and hits[0]["metadata"] == {"src": "docs"}
    assert client.semantic_check("faq", "How do I reset my password?",
                                 filters={"lang": "de"}) == []
    slim = client.semantic_check("faq", "How do I reset my password?",
                                 return_fields=["response"])
    assert slim == [{"id": eid, "response": "Use the reset link."}]
    v = [0.0] * 384
    v[3] = 1.0
    other = client.semantic_store("faq", "vector entry", "by vector", vector=v,
                                  filters={"lang": "de"})
    assert client.semantic_check("faq", vector=v)[0]["id"] == other
    assert client.semantic_check("faq", "How do I reset my password?", user_id="alice") == []
    with pytest.raises(RagdError) as e:
        client.semantic_check("faq", vector=[1.0, 2.0])
    assert e.value.status == 400 and e.value.code == "dimension_mismatch"
    assert client.semantic_delete("faq", {"lang": "de"}) == 1
    assert client.semantic_drop("faq", [eid, "0" * 32]) == 1
    assert client.semantic_check("faq", "How do I reset my password?") == []

    async def run():
        async with AsyncClient(server.url, api_key=admin_key) as ac:
            a = await ac.semantic_store("faq2", "capital of France?", "Paris", user_id="bob")
            got = await ac.semantic_check("faq2", "capital of France?", user_id="bob")
            assert [h["id"] for h in got] == [a]
            assert await ac.semantic_drop("faq2", a, user_id="bob") == 1
            await ac.semantic_store("faq2", "capital of Spain?", "Madrid", user_id="bob")
            assert await ac.semantic_clear("faq2", user_id="bob") == 1
    asyncio.run(run())
    assert client.semantic_clear("faq") == 0
