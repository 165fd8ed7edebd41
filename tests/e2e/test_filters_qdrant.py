"""Qdrant's filter form over HTTP, as a Qdrant user writes it (must / should / must_not
with match, range and is_empty), in hybrid search and in deletes by filter, giving the
same results as the Mongo-like form; malformed Qdrant filters are 400 invalid_filter."""
import pytest

from ragdtest import assert_error

DOCS = [
    {"id": "a", "text": "London bakery selling sourdough bread", "metadata":
     {"city": "London", "price": 12, "tags": ["bread"]}},
    {"id": "b", "text": "London cafe selling sourdough toast", "metadata":
     {"city": "London", "price": 25, "tags": []}},
    {"id": "c", "text": "Paris bakery selling sourdough baguettes", "metadata":
     {"city": "Paris", "price": 8, "color": "red"}},
]


@pytest.fixture
def ns(ragd_lmdb):
    assert ragd_lmdb.post("/api/v1/namespaces", json={"name": "shops"}).status_code == 201
    r = ragd_lmdb.post("/api/v1/namespaces/shops/documents", json={"documents": DOCS})
    assert r.status_code == 200, r.text
    return ragd_lmdb


def ids(s, flt):
    r = s.post("/api/v1/search/hybrid", json={"query": "sourdough", "namespaces": ["shops"],
                                              "filter": flt, "limit": 10})
    assert r.status_code == 200, r.text
    return sorted({h["document_id"] for h in r.json()["results"]})


def test_qdrant_filters_in_search(ns):
    london = {"must": [{"key": "city", "match": {"value": "London"}}]}
    assert ids(ns, london) == ["a", "b"] == ids(ns, {"city": "London"})
    cheap = {"must": [{"key": "price", "range": {"lt": 20}}],
             "must_not": [{"key": "color", "match": {"any": ["red"]}}]}
    assert ids(ns, cheap) == ["a"]
    either = {"should": [{"key": "city", "match": {"value": "Paris"}},
                         {"is_empty": {"key": "tags"}}]}
    assert ids(ns, either) == ["b", "c"]
    assert ids(ns, {"must": [{"key": "city", "match": {"except": ["London"]}}]}) == ["c"]


def test_qdrant_filter_in_delete(ns):
    r = ns.post("/api/v1/namespaces/shops/documents/delete",
                json={"filter": {"must": [{"key": "price", "range": {"gte": 10}}]}})
    assert r.status_code == 200 and r.json()["deleted"] == 2
    assert ids(ns, {}) == ["c"]


@pytest.mark.parametrize("flt", [
    {"must": [{"key": "city", "match": {"text": "Lon"}}]},
    {"must": [{"has_id": ["a"]}]},
    {"must": [{"key": "price", "range": {}}]},
    {"must": ["city"]},
])
def test_malformed_qdrant_filters(ns, flt):
    r = ns.post("/api/v1/search/hybrid", json={"query": "x", "filter": flt})
    assert_error(r, 400, "invalid_filter")
