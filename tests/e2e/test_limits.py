"""Work caps of one request and of one caller (issue 13 item 12): a document upsert
that would keep the model busy for minutes is refused before anything is embedded,
with the cap named in the message."""
import pytest

from ragdtest import Ragd, assert_error

NS = "/api/v1/namespaces"
# about 11 word pieces a sentence: 20 sentences make about 220 pieces
LONG = " ".join(f"sentence number {i} talks about squats and knees." for i in range(20))


def upsert(s, doc_id, text, **kw):
    return s.post(f"{NS}/caps/documents", json={"documents": [{"id": doc_id, "text": text}]},
                  **kw)


@pytest.fixture
def caps(request):
    s = Ragd(env=request.param).start()
    r = s.post(NS, json={"name": "caps", "chunk_size": 16, "chunk_overlap": 4})
    assert r.status_code == 201, r.text
    yield s
    s.cleanup()


@pytest.mark.parametrize("caps", [{"RAGD_KB_MAX_REQUEST_CHUNKS": "8"}], indirect=True)
def test_chunks_per_request_are_capped(caps):
    err = assert_error(upsert(caps, "long", LONG), 413, "payload_too_large")
    assert "kb_max_request_chunks" in err["message"] and "at most 8" in err["message"]
    assert caps.get(f"{NS}/caps/documents/long").status_code == 404  # nothing written
    r = upsert(caps, "short", "Bench press for the chest.")
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("caps", [{"RAGD_KB_MAX_REQUEST_TOKENS": "100"}], indirect=True)
def test_word_pieces_per_request_are_capped(caps):
    err = assert_error(upsert(caps, "long", LONG), 413, "payload_too_large")
    assert "kb_max_request_tokens" in err["message"] and "at most 100" in err["message"]
    assert upsert(caps, "short", "Bench press for the chest.").status_code == 200


@pytest.mark.parametrize("caps", [{"RAGD_KB_USER_TOKENS_PER_MINUTE": "300"}], indirect=True)
def test_word_pieces_per_caller_are_capped(caps):
    assert upsert(caps, "one", LONG).status_code == 200
    r = upsert(caps, "two", LONG)
    err = assert_error(r, 429, "rate_limited")
    assert "kb_user_tokens_per_minute" in err["message"]
    assert int(r.headers["Retry-After"]) >= 1
    assert caps.get(f"{NS}/caps/documents/two").status_code == 404
    big = " ".join([LONG] * 3)  # more than a minute's budget: it can never pass
    err = assert_error(upsert(caps, "big", big), 413, "payload_too_large")
    assert "kb_user_tokens_per_minute" in err["message"]


# ---- the embedding routes -------------------------------------------------------------------

@pytest.fixture
def emb(request):
    s = Ragd(env=request.param).start()
    yield s
    s.cleanup()


def embed_routes(s, texts):
    """The three routes that run the local model on texts: OpenAI, seed, TEI."""
    yield "openai", s.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": texts})
    if len(texts) == 1:
        yield "seed", s.post("/api/v1/embeddings/generate", json={"text": texts[0]})
    yield "tei", s.post("/embed", json={"inputs": texts})


@pytest.mark.parametrize("emb", [{"RAGD_EMBED_MAX_REQUEST_TOKENS": "100"}], indirect=True)
def test_embedding_word_pieces_per_request_are_capped(emb):
    texts = [LONG[:400], LONG[400:800]]  # about 200 word pieces together
    for route, r in embed_routes(emb, texts):
        assert r.status_code == 413, (route, r.text)
        body = r.json()
        msg = body["error"] if route == "tei" else body["error"]["message"]
        assert "embed_max_request_tokens" in msg and "at most 100" in msg, (route, body)
        if route == "tei":
            assert body["error_type"] == "validation"
        else:
            assert body["error"]["code"] == "payload_too_large"
    for route, r in embed_routes(emb, ["Bench press for the chest."]):
        assert r.status_code == 200, (route, r.text)


@pytest.mark.parametrize("emb", [{"RAGD_EMBED_USER_TOKENS_PER_MINUTE": "200"}], indirect=True)
def test_embedding_word_pieces_per_caller_are_capped(emb):
    half = [LONG[:330], LONG[330:660]]  # about 140 word pieces: one call fits, two do not
    r = emb.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": half})
    assert r.status_code == 200, r.text
    spent = r.json()["usage"]["prompt_tokens"]
    assert 100 < spent <= 200, spent
    r = emb.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": half})
    err = assert_error(r, 429, "rate_limited")
    assert "embed_user_tokens_per_minute" in err["message"]
    assert int(r.headers["Retry-After"]) >= 1
    r = emb.post("/embed", json={"inputs": half})
    assert r.status_code == 429 and r.json()["error_type"] == "overloaded", r.text
    assert int(r.headers["Retry-After"]) >= 1
    err = assert_error(emb.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2",
                                                      "input": [LONG] * 3}),
                       413, "payload_too_large")  # more than a minute's budget: never passes
    assert "embed_user_tokens_per_minute" in err["message"]
