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
