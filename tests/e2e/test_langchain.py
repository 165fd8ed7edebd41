"""LangChain's OpenAI classes against ragd: OpenAIEmbeddings on /v1/embeddings (with
check_embedding_ctx_length=False, the setting docs/API.md names; its default sends
tiktoken token ids, which are not this model's WordPiece ids and are refused with a
message naming the setting) and ChatOpenAI through the gateway to the fake upstream."""
import numpy as np
import pytest
import requests
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from fake_upstream import FakeUpstream
from ragdtest import Ragd, assert_error

MODEL = "all-MiniLM-L6-v2"
DOCS = ["Squats build leg strength.", "Protein helps muscles recover after training."]


def ragd_vectors(s, texts):
    r = requests.post(s.url + "/v1/embeddings", json={"model": MODEL, "input": texts})
    return np.array([d["embedding"] for d in r.json()["data"]], dtype=np.float32)


def test_openai_embeddings(ragd_lmdb):
    emb = OpenAIEmbeddings(model=MODEL, base_url=ragd_lmdb.url + "/v1", api_key="unused",
                           check_embedding_ctx_length=False, max_retries=0)
    docs = np.array(emb.embed_documents(DOCS), dtype=np.float32)
    assert docs.shape == (2, 384)
    assert np.allclose(docs, ragd_vectors(ragd_lmdb, DOCS), atol=1e-6)
    q = np.array(emb.embed_query("leg day"), dtype=np.float32)
    assert np.allclose(q, ragd_vectors(ragd_lmdb, ["leg day"])[0], atol=1e-6)


def test_token_id_arrays_name_the_langchain_setting(ragd_lmdb):
    # what OpenAIEmbeddings sends with its defaults: tiktoken ids, base64 output
    body = {"model": MODEL, "input": [[50, 447, 1220, 1977, 2531]], "encoding_format": "base64"}
    err = assert_error(ragd_lmdb.post("/v1/embeddings", json=body), 400, "invalid_input")
    assert "token-id arrays are not supported" in err["message"]
    assert "check_embedding_ctx_length=False" in err["message"]


@pytest.fixture
def gw():
    up = FakeUpstream().start()
    s = Ragd(env={"RAGD_UPSTREAM_URL": up.url}).start()
    s.upstream = up
    yield s
    s.cleanup()
    up.stop()


def test_chat_openai_through_the_gateway(gw):
    llm = ChatOpenAI(model="fake-model", base_url=gw.url + "/v1", api_key="unused",
                     max_retries=0)
    assert llm.invoke("hello there").content == "echo hello there #1"
    assert llm.invoke("hello there").content == "echo hello there #1"  # a cache hit
    assert gw.upstream.calls == 1
    streamed = "".join(c.content for c in llm.stream("hello there"))
    assert streamed == "echo hello there #1" and gw.upstream.calls == 1
    fresh = ChatOpenAI(model="fake-model", base_url=gw.url + "/v1", api_key="unused",
                       max_retries=0, extra_body={"cache": {"no-cache": True}})
    assert fresh.invoke("hello there").content == "echo hello there #2"
    assert "cache" not in gw.upstream.bodies()[-1]
