"""What each ragd operation sends: method, path, query, body. Shared by the sync and
async clients, so the two differ only in how they send (see _client.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union
from urllib.parse import quote

from ragd._types import JSON, Document, drop_none


@dataclass
class Req:
    method: str
    path: str
    params: Dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content: Optional[bytes] = None
    headers: Dict[str, str] = field(default_factory=dict)
    kind: str = "json"  # "json" | "cache_get" | "cache_delete"
    pick: Optional[str] = None  # answer only this member of the JSON object


def seg(s: str) -> str:
    """One path segment (ids may hold '/': kept, as ragd's {id*} routes take them)."""
    return quote(s, safe="/")


# ---- knowledge bases -----------------------------------------------------------------

def list_namespaces() -> Req:
    return Req("GET", "/api/v1/namespaces")


def create_namespace(name: str, settings: Mapping[str, Any]) -> Req:
    """settings as given; embedding_model=None is sent (a namespace without a model)."""
    return Req("POST", "/api/v1/namespaces", json={"name": name, **settings})


def namespace_settings(embedding_model: Any, dimension: Optional[int], metric: Optional[str],
                       settings: Mapping[str, Any]) -> Dict[str, Any]:
    """The vector settings beside the others: embedding_model is a model name, None (no
    model: the documents bring their vectors) or MODEL_DEFAULT (not sent)."""
    out = dict(settings, **drop_none({"dimension": dimension, "metric": metric}))
    if embedding_model is not MODEL_DEFAULT:
        out["embedding_model"] = embedding_model
    return out


MODEL_DEFAULT: Any = object()


def get_namespace(name: str) -> Req:
    return Req("GET", f"/api/v1/namespaces/{seg(name)}")


def update_namespace(name: str, settings: Mapping[str, Any]) -> Req:
    return Req("PATCH", f"/api/v1/namespaces/{seg(name)}", json=dict(settings))


def delete_namespace(name: str) -> Req:
    return Req("DELETE", f"/api/v1/namespaces/{seg(name)}")


def upsert_documents(namespace: str, documents: Iterable[Document]) -> Req:
    return Req("POST", f"/api/v1/namespaces/{seg(namespace)}/documents",
               json={"documents": list(documents)})


def list_documents(namespace: str, offset: int, limit: int, with_chunks: bool) -> Req:
    params: Dict[str, Any] = {"offset": offset, "limit": limit}
    if with_chunks:
        params["with_chunks"] = "true"
    return Req("GET", f"/api/v1/namespaces/{seg(namespace)}/documents", params=params)


def get_document(namespace: str, doc_id: str) -> Req:
    return Req("GET", f"/api/v1/namespaces/{seg(namespace)}/documents/{seg(doc_id)}")


def delete_document(namespace: str, doc_id: str) -> Req:
    return Req("DELETE", f"/api/v1/namespaces/{seg(namespace)}/documents/{seg(doc_id)}")


def delete_documents_where(namespace: str, filter: JSON, user_id: Optional[str]) -> Req:
    return Req("POST", f"/api/v1/namespaces/{seg(namespace)}/documents/delete",
               json=drop_none({"filter": filter, "user_id": user_id}))


# ---- ingestion jobs ------------------------------------------------------------------

JOB_FINISHED = ("succeeded", "failed", "cancelled")


def submit_job(namespace: str, documents: Iterable[Document]) -> Req:
    """The upsert as a background job: 202 with the job, whatever the batch size."""
    return Req("POST", f"/api/v1/namespaces/{seg(namespace)}/documents",
               json={"documents": list(documents), "wait": False})


def get_job(job_id: str) -> Req:
    return Req("GET", f"/api/v1/jobs/{seg(job_id)}")


def list_jobs(namespace: Optional[str], status: Optional[str], limit: Optional[int]) -> Req:
    return Req("GET", "/api/v1/jobs",
               params=drop_none({"namespace": namespace, "status": status, "limit": limit}))


def cancel_job(job_id: str) -> Req:
    return Req("DELETE", f"/api/v1/jobs/{seg(job_id)}")


# ---- retrieval -----------------------------------------------------------------------

def search(query: Optional[str], vector: Optional[Any], options: Mapping[str, Any]) -> Req:
    body = drop_none({"query": query, "vector": list(vector) if vector is not None else None})
    return Req("POST", "/api/v1/search/hybrid", json={**body, **options})


def rag_query(query: str, options: Mapping[str, Any]) -> Req:
    return Req("POST", "/api/v1/rag/query", json=drop_none({"query": query, **options}))


def rerank(query: str, documents: List[Union[str, JSON]], options: Mapping[str, Any]) -> Req:
    return Req("POST", "/v1/rerank",
               json=drop_none({"query": query, "documents": documents, **options}))


def embed(texts: Union[str, List[str]], model: str) -> Req:
    return Req("POST", "/v1/embeddings", json={"model": model, "input": texts})


# ---- sessions ------------------------------------------------------------------------

def _sess(session_id: str) -> str:
    return f"/api/v1/sessions/{seg(session_id)}"


def put_session(session_id: str, data: Any, ttl: Optional[int], ttl_mode: Optional[str],
                user_id: Optional[str]) -> Req:
    params = drop_none({"ttl": ttl, "ttl_mode": ttl_mode, "user_id": user_id})
    return Req("PUT", _sess(session_id), params=params, json=data)


def get_session(session_id: str, user_id: Optional[str]) -> Req:
    return Req("GET", _sess(session_id), params=drop_none({"user_id": user_id}))


def patch_session(session_id: str, patch: JSON, user_id: Optional[str]) -> Req:
    return Req("PATCH", _sess(session_id), params=drop_none({"user_id": user_id}), json=patch)


def delete_session(session_id: str, user_id: Optional[str]) -> Req:
    return Req("DELETE", _sess(session_id), params=drop_none({"user_id": user_id}))


def append_message(session_id: str, role: str, content: str, metadata: Optional[JSON],
                   user_id: Optional[str]) -> Req:
    body = drop_none({"role": role, "content": content, "metadata": metadata,
                      "user_id": user_id})
    return Req("POST", _sess(session_id) + "/messages", json=body)


def get_messages(session_id: str, last: Optional[int], relevant_to: Optional[str],
                 k: Optional[int], user_id: Optional[str]) -> Req:
    params = drop_none({"last": last, "relevant_to": relevant_to, "k": k, "user_id": user_id})
    return Req("GET", _sess(session_id) + "/messages", params=params)


# ---- rate limits ---------------------------------------------------------------------

def ratelimit_check(key: str, limit: int, window: Union[int, str], cost: int,
                    algorithm: Optional[str], burst: Optional[int]) -> Req:
    body = drop_none({"key": key, "limit": limit, "window": window, "cost": cost,
                      "algorithm": algorithm, "burst": burst})
    return Req("POST", "/api/v1/ratelimit/check", json=body)


# ---- the generic cache ---------------------------------------------------------------

def _entry(prefix: str, key: str) -> str:
    return f"/api/v1/cache/{seg(prefix)}/{seg(key)}"


def cache_put(prefix: str, key: str, value: Union[bytes, str, Any], ttl: Optional[int],
              content_type: Optional[str]) -> Req:
    if isinstance(value, bytes):
        content, ctype = value, content_type or "application/octet-stream"
    elif isinstance(value, str):
        content, ctype = value.encode("utf-8"), content_type or "text/plain; charset=utf-8"
    else:
        import json as _json
        content, ctype = _json.dumps(value).encode("utf-8"), content_type or "application/json"
    return Req("PUT", _entry(prefix, key), params=drop_none({"ttl": ttl}), content=content,
               headers={"Content-Type": ctype})


def cache_get(prefix: str, key: str) -> Req:
    return Req("GET", _entry(prefix, key), kind="cache_get")


def cache_delete(prefix: str, key: str) -> Req:
    return Req("DELETE", _entry(prefix, key), kind="cache_delete")


def cache_key(prefix: str, model: str, params: JSON) -> Req:
    return Req("POST", "/api/v1/cache/key", json={"prefix": prefix, "model": model,
                                                   "params": params})


def cache_clear(prefix: Optional[str], pattern: Optional[str]) -> Req:
    return Req("POST", "/api/v1/cache/clear", json=drop_none({"prefix": prefix,
                                                              "pattern": pattern}))


def cache_stats() -> Req:
    return Req("GET", "/api/v1/cache/stats")


def cache_set_ttl(ttl: Mapping[str, int]) -> Req:
    return Req("POST", "/api/v1/cache/config", json={"ttl": dict(ttl)})


# ---- the semantic cache --------------------------------------------------------------

def _semc(name: str) -> str:
    return f"/api/v1/semantic-cache/{quote(name, safe='')}"


def semantic_check(name: str, prompt: Optional[str], vector: Optional[Any],
                   options: Mapping[str, Any]) -> Req:
    body = drop_none({"prompt": prompt, "vector": list(vector) if vector is not None else None,
                      **options})
    return Req("POST", _semc(name) + "/check", json=body, pick="hits")


def semantic_store(name: str, prompt: str, response: str, vector: Optional[Any],
                   options: Mapping[str, Any]) -> Req:
    body = drop_none({"prompt": prompt, "response": response,
                      "vector": list(vector) if vector is not None else None, **options})
    return Req("POST", _semc(name) + "/store", json=body, pick="id")


def semantic_delete(name: str, ids: Optional[List[str]], filters: Optional[JSON],
                    user_id: Optional[str]) -> Req:
    return Req("POST", _semc(name) + "/delete",
               json=drop_none({"ids": ids, "filters": filters, "user_id": user_id}),
               pick="deleted")


def semantic_clear(name: str, user_id: Optional[str]) -> Req:
    return Req("DELETE", _semc(name), params=drop_none({"user_id": user_id}), pick="deleted")


def health() -> Req:
    return Req("GET", "/health")
