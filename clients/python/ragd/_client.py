"""Client (sync) and AsyncClient (async): the same methods, one per ragd operation. What
each sends is built once in _requests.py; this file only sends it and decodes the answer
(`_decode`), so the two clients cannot drift apart."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import httpx

from ragd import _requests as R
from ragd._errors import RagdError
from ragd._types import (JSON, CacheEntry, Document, Job, JobStatus, Metric, RateLimitDecision,
                         SearchResponse, SemanticHit, Vector)

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def _headers(api_key: Optional[str], token: Optional[str]) -> Dict[str, str]:
    h = {"User-Agent": "ragd-python/0.1.0"}
    if api_key:
        h["X-API-Key"] = api_key
    if token:
        h["Authorization"] = f"Bearer {token}"
    return h


def _decode(req: R.Req, r: httpx.Response) -> Any:
    """The answer of req: JSON, a CacheEntry (None on a miss), or a bool for deletes."""
    if req.kind == "cache_get" and r.status_code == 404:
        return None
    if req.kind == "cache_delete" and r.status_code == 404:
        return False
    if r.status_code >= 400:
        raise RagdError.from_response(r)
    if req.kind == "cache_get":
        return CacheEntry(r.content, r.headers.get("content-type", ""),
                          int(r.headers.get("x-cache-ttl", "-1")))
    if req.kind == "cache_delete":
        return True
    out = r.json() if r.content else None
    return out[req.pick] if req.pick else out


def _ids(ids: Union[str, Sequence[str]]) -> List[str]:
    return [ids] if isinstance(ids, str) else list(ids)


def _job_done(job: Job, job_id: str, deadline: float) -> bool:
    """Has the job finished? TimeoutError once the deadline passed without it."""
    if job["status"] in R.JOB_FINISHED:
        return True
    if time.monotonic() >= deadline:
        raise TimeoutError(f"job {job_id} still {job['status']} ({job.get('progress')})")
    return False


class _Config:
    def __init__(self, base_url: str, api_key: Optional[str], token: Optional[str],
                 timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = _headers(api_key, token)
        self.timeout = timeout


class Client:
    """Synchronous client. `Client("http://127.0.0.1:8080", api_key="rgd_...")`; use it as a
    context manager or call close(). Thread-safe as httpx.Client is."""

    def __init__(self, base_url: str = "http://127.0.0.1:8080", *, api_key: Optional[str] = None,
                 token: Optional[str] = None, timeout: float = 60.0,
                 http: Optional[httpx.Client] = None) -> None:
        c = _Config(base_url, api_key, token, timeout)
        self._http = http or httpx.Client(base_url=c.base_url, headers=c.headers,
                                          timeout=c.timeout)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, req: R.Req) -> Any:
        r = self._http.request(req.method, req.path, params=req.params or None, json=req.json,
                               content=req.content, headers=req.headers or None)
        return _decode(req, r)

    # knowledge bases
    def list_namespaces(self) -> JSON:
        return self._send(R.list_namespaces())

    def create_namespace(self, name: str, *, embedding_model: Any = R.MODEL_DEFAULT,
                         dimension: Optional[int] = None, metric: Optional[Metric] = None,
                         **settings: Any) -> JSON:
        """embedding_model: the server's model (default), a provider's model name, or None
        with `dimension` (and `metric`) for a namespace whose documents bring vectors."""
        return self._send(R.create_namespace(
            name, R.namespace_settings(embedding_model, dimension, metric, settings)))

    def get_namespace(self, name: str) -> JSON:
        return self._send(R.get_namespace(name))

    def update_namespace(self, name: str, **settings: Any) -> JSON:
        return self._send(R.update_namespace(name, settings))

    def delete_namespace(self, name: str) -> JSON:
        return self._send(R.delete_namespace(name))

    def upsert_documents(self, namespace: str, documents: Iterable[Document]) -> JSON:
        return self._send(R.upsert_documents(namespace, documents))

    def list_documents(self, namespace: str, *, offset: int = 0, limit: int = 100,
                       with_chunks: bool = False) -> JSON:
        return self._send(R.list_documents(namespace, offset, limit, with_chunks))

    def get_document(self, namespace: str, doc_id: str) -> JSON:
        return self._send(R.get_document(namespace, doc_id))

    def delete_document(self, namespace: str, doc_id: str) -> JSON:
        return self._send(R.delete_document(namespace, doc_id))

    def delete_documents_where(self, namespace: str, filter: JSON, *,
                               user_id: Optional[str] = None) -> JSON:
        return self._send(R.delete_documents_where(namespace, filter, user_id))

    # retrieval
    def search(self, query: Optional[str] = None, *, vector: Optional[Vector] = None,
               **options: Any) -> SearchResponse:
        """query text and/or a query vector (for the namespaces of its dimension)."""
        return self._send(R.search(query, vector, options))

    def rag_query(self, query: str, **options: Any) -> JSON:
        return self._send(R.rag_query(query, options))

    def rerank(self, query: str, documents: List[Union[str, JSON]], **options: Any) -> JSON:
        return self._send(R.rerank(query, documents, options))

    def embed(self, texts: Union[str, List[str]], *, model: str = DEFAULT_MODEL) -> JSON:
        return self._send(R.embed(texts, model))

    # sessions
    def put_session(self, session_id: str, data: Any, *, ttl: Optional[int] = None,
                    ttl_mode: Optional[str] = None, user_id: Optional[str] = None) -> JSON:
        return self._send(R.put_session(session_id, data, ttl, ttl_mode, user_id))

    def get_session(self, session_id: str, *, user_id: Optional[str] = None) -> JSON:
        return self._send(R.get_session(session_id, user_id))

    def patch_session(self, session_id: str, patch: JSON, *,
                      user_id: Optional[str] = None) -> JSON:
        return self._send(R.patch_session(session_id, patch, user_id))

    def delete_session(self, session_id: str, *, user_id: Optional[str] = None) -> JSON:
        return self._send(R.delete_session(session_id, user_id))

    def append_message(self, session_id: str, role: str, content: str, *,
                       metadata: Optional[JSON] = None, user_id: Optional[str] = None) -> JSON:
        return self._send(R.append_message(session_id, role, content, metadata, user_id))

    def get_messages(self, session_id: str, *, last: Optional[int] = None,
                     relevant_to: Optional[str] = None, k: Optional[int] = None,
                     user_id: Optional[str] = None) -> JSON:
        return self._send(R.get_messages(session_id, last, relevant_to, k, user_id))

    # rate limits
    def ratelimit_check(self, key: str, *, limit: int, window: Union[int, str], cost: int = 1,
                        algorithm: Optional[str] = None,
                        burst: Optional[int] = None) -> RateLimitDecision:
        return self._send(R.ratelimit_check(key, limit, window, cost, algorithm, burst))

    # the generic cache
    def cache_put(self, prefix: str, key: str, value: Union[bytes, str, Any], *,
                  ttl: Optional[int] = None, content_type: Optional[str] = None) -> JSON:
        return self._send(R.cache_put(prefix, key, value, ttl, content_type))

    def cache_get(self, prefix: str, key: str) -> Optional[CacheEntry]:
        return self._send(R.cache_get(prefix, key))

    def cache_delete(self, prefix: str, key: str) -> bool:
        return self._send(R.cache_delete(prefix, key))

    def cache_key(self, prefix: str, model: str, params: JSON) -> JSON:
        return self._send(R.cache_key(prefix, model, params))

    def cache_clear(self, *, prefix: Optional[str] = None, pattern: Optional[str] = None) -> JSON:
        return self._send(R.cache_clear(prefix, pattern))

    def cache_stats(self) -> JSON:
        return self._send(R.cache_stats())

    def cache_set_ttl(self, ttl: Mapping[str, int]) -> JSON:
        return self._send(R.cache_set_ttl(ttl))

    # ingestion jobs
    def submit_job(self, namespace: str, documents: Iterable[Document]) -> Job:
        """Upsert documents in the background: the job (202), indexed after."""
        return self._send(R.submit_job(namespace, documents))

    def get_job(self, job_id: str) -> Job:
        return self._send(R.get_job(job_id))

    def list_jobs(self, *, namespace: Optional[str] = None, status: Optional[JobStatus] = None,
                  limit: Optional[int] = None) -> JSON:
        return self._send(R.list_jobs(namespace, status, limit))

    def cancel_job(self, job_id: str) -> Job:
        return self._send(R.cancel_job(job_id))

    def wait_job(self, job_id: str, *, timeout: float = 600.0, interval: float = 0.5) -> Job:
        """Poll the job every `interval` seconds until it succeeded, failed or was
        cancelled (returned as it ended); TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if _job_done(job, job_id, deadline):
                return job
            time.sleep(interval)

    # the semantic cache (RedisVL's SemanticCache: check, store, drop, clear)
    def semantic_check(self, name: str, prompt: Optional[str] = None, *,
                       vector: Optional[Vector] = None,
                       distance_threshold: Optional[float] = None,
                       num_results: Optional[int] = None, filters: Optional[JSON] = None,
                       return_fields: Optional[List[str]] = None,
                       user_id: Optional[str] = None) -> List[SemanticHit]:
        """The cached entries within the cosine distance, nearest first ([] = a miss)."""
        return self._send(R.semantic_check(name, prompt, vector, {
            "distance_threshold": distance_threshold, "num_results": num_results,
            "filters": filters, "return_fields": return_fields, "user_id": user_id}))

    def semantic_store(self, name: str, prompt: str, response: str, *,
                       vector: Optional[Vector] = None, metadata: Any = None,
                       filters: Optional[JSON] = None, ttl: Optional[int] = None,
                       user_id: Optional[str] = None) -> str:
        """Store an answer; returns the entry's id."""
        return self._send(R.semantic_store(name, prompt, response, vector, {
            "metadata": metadata, "filters": filters, "ttl": ttl, "user_id": user_id}))

    def semantic_drop(self, name: str, ids: Union[str, Sequence[str]], *,
                      user_id: Optional[str] = None) -> int:
        """Delete entries by id; returns how many were there."""
        return self._send(R.semantic_delete(name, _ids(ids), None, user_id))

    def semantic_delete(self, name: str, filters: JSON, *, user_id: Optional[str] = None) -> int:
        """Delete the entries whose filters match; returns how many."""
        return self._send(R.semantic_delete(name, None, filters, user_id))

    def semantic_clear(self, name: str, *, user_id: Optional[str] = None) -> int:
        """Delete every entry of the cache (the caller's); returns how many."""
        return self._send(R.semantic_clear(name, user_id))

    def health(self) -> JSON:
        return self._send(R.health())


class AsyncClient:
    """Asynchronous client with Client's methods as coroutines. `async with
    AsyncClient(...) as c: await c.search("...")`, or call aclose()."""

    def __init__(self, base_url: str = "http://127.0.0.1:8080", *, api_key: Optional[str] = None,
                 token: Optional[str] = None, timeout: float = 60.0,
                 http: Optional[httpx.AsyncClient] = None) -> None:
        c = _Config(base_url, api_key, token, timeout)
        self._http = http or httpx.AsyncClient(base_url=c.base_url, headers=c.headers,
                                               timeout=c.timeout)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, req: R.Req) -> Any:
        r = await self._http.request(req.method, req.path, params=req.params or None,
                                     json=req.json, content=req.content,
                                     headers=req.headers or None)
        return _decode(req, r)

    # knowledge bases
    async def list_namespaces(self) -> JSON:
        return await self._send(R.list_namespaces())

    async def create_namespace(self, name: str, *, embedding_model: Any = R.MODEL_DEFAULT,
                               dimension: Optional[int] = None, metric: Optional[Metric] = None,
                               **settings: Any) -> JSON:
        """embedding_model: the server's model (default), a provider's model name, or None
        with `dimension` (and `metric`) for a namespace whose documents bring vectors."""
        return await self._send(R.create_namespace(
            name, R.namespace_settings(embedding_model, dimension, metric, settings)))

    async def get_namespace(self, name: str) -> JSON:
        return await self._send(R.get_namespace(name))

    async def update_namespace(self, name: str, **settings: Any) -> JSON:
        return await self._send(R.update_namespace(name, settings))

    async def delete_namespace(self, name: str) -> JSON:
        return await self._send(R.delete_namespace(name))

    async def upsert_documents(self, namespace: str, documents: Iterable[Document]) -> JSON:
        return await self._send(R.upsert_documents(namespace, documents))

    async def list_documents(self, namespace: str, *, offset: int = 0, limit: int = 100,
                             with_chunks: bool = False) -> JSON:
        return await self._send(R.list_documents(namespace, offset, limit, with_chunks))

    async def get_document(self, namespace: str, doc_id: str) -> JSON:
        return await self._send(R.get_document(namespace, doc_id))

    async def delete_document(self, namespace: str, doc_id: str) -> JSON:
        return await self._send(R.delete_document(namespace, doc_id))

    async def delete_documents_where(self, namespace: str, filter: JSON, *,
                                     user_id: Optional[str] = None) -> JSON:
        return await self._send(R.delete_documents_where(namespace, filter, user_id))

    # retrieval
    async def search(self, query: Optional[str] = None, *, vector: Optional[Vector] = None,
                     **options: Any) -> SearchResponse:
        """query text and/or a query vector (for the namespaces of its dimension)."""
        return await self._send(R.search(query, vector, options))

    async def rag_query(self, query: str, **options: Any) -> JSON:
        return await self._send(R.rag_query(query, options))

    async def rerank(self, query: str, documents: List[Union[str, JSON]],
                     **options: Any) -> JSON:
        return await self._send(R.rerank(query, documents, options))

    async def embed(self, texts: Union[str, List[str]], *, model: str = DEFAULT_MODEL) -> JSON:
        return await self._send(R.embed(texts, model))

    # sessions
    async def put_session(self, session_id: str, data: Any, *, ttl: Optional[int] = None,
                          ttl_mode: Optional[str] = None,
                          user_id: Optional[str] = None) -> JSON:
        return await self._send(R.put_session(session_id, data, ttl, ttl_mode, user_id))

    async def get_session(self, session_id: str, *, user_id: Optional[str] = None) -> JSON:
        return await self._send(R.get_session(session_id, user_id))

    async def patch_session(self, session_id: str, patch: JSON, *,
                            user_id: Optional[str] = None) -> JSON:
        return await self._send(R.patch_session(session_id, patch, user_id))

    async def delete_session(self, session_id: str, *, user_id: Optional[str] = None) -> JSON:
        return await self._send(R.delete_session(session_id, user_id))

    async def append_message(self, session_id: str, role: str, content: str, *,
                             metadata: Optional[JSON] = None,
                             user_id: Optional[str] = None) -> JSON:
        return await self._send(R.append_message(session_id, role, content, metadata, user_id))

    async def get_messages(self, session_id: str, *, last: Optional[int] = None,
                           relevant_to: Optional[str] = None, k: Optional[int] = None,
                           user_id: Optional[str] = None) -> JSON:
        return await self._send(R.get_messages(session_id, last, relevant_to, k, user_id))

    # rate limits
    async def ratelimit_check(self, key: str, *, limit: int, window: Union[int, str],
                              cost: int = 1, algorithm: Optional[str] = None,
                              burst: Optional[int] = None) -> RateLimitDecision:
        return await self._send(R.ratelimit_check(key, limit, window, cost, algorithm, burst))

    # the generic cache
    async def cache_put(self, prefix: str, key: str, value: Union[bytes, str, Any], *,
                        ttl: Optional[int] = None, content_type: Optional[str] = None) -> JSON:
        return await self._send(R.cache_put(prefix, key, value, ttl, content_type))

    async def cache_get(self, prefix: str, key: str) -> Optional[CacheEntry]:
        return await self._send(R.cache_get(prefix, key))

    async def cache_delete(self, prefix: str, key: str) -> bool:
        return await self._send(R.cache_delete(prefix, key))

    async def cache_key(self, prefix: str, model: str, params: JSON) -> JSON:
        return await self._send(R.cache_key(prefix, model, params))

    async def cache_clear(self, *, prefix: Optional[str] = None,
                          pattern: Optional[str] = None) -> JSON:
        return await self._send(R.cache_clear(prefix, pattern))

    async def cache_stats(self) -> JSON:
        return await self._send(R.cache_stats())

    async def cache_set_ttl(self, ttl: Mapping[str, int]) -> JSON:
        return await self._send(R.cache_set_ttl(ttl))

    # ingestion jobs
    async def submit_job(self, namespace: str, documents: Iterable[Document]) -> Job:
        """Upsert documents in the background: the job (202), indexed after."""
        return await self._send(R.submit_job(namespace, documents))

    async def get_job(self, job_id: str) -> Job:
        return await self._send(R.get_job(job_id))

    async def list_jobs(self, *, namespace: Optional[str] = None, status: Optional[JobStatus] = None,
                  limit: Optional[int] = None) -> JSON:
        return await self._send(R.list_jobs(namespace, status, limit))

    async def cancel_job(self, job_id: str) -> Job:
        return await self._send(R.cancel_job(job_id))

    async def wait_job(self, job_id: str, *, timeout: float = 600.0, interval: float = 0.5) -> Job:
        """Poll the job every `interval` seconds until it succeeded, failed or was
        cancelled (returned as it ended); TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self.get_job(job_id)
            if _job_done(job, job_id, deadline):
                return job
            await asyncio.sleep(interval)

    # the semantic cache (RedisVL's SemanticCache: check, store, drop, clear)
    async def semantic_check(self, name: str, prompt: Optional[str] = None, *,
                       vector: Optional[Vector] = None,
                       distance_threshold: Optional[float] = None,
                       num_results: Optional[int] = None, filters: Optional[JSON] = None,
                       return_fields: Optional[List[str]] = None,
                       user_id: Optional[str] = None) -> List[SemanticHit]:
        """The cached entries within the cosine distance, nearest first ([] = a miss)."""
        return await self._send(R.semantic_check(name, prompt, vector, {
            "distance_threshold": distance_threshold, "num_results": num_results,
            "filters": filters, "return_fields": return_fields, "user_id": user_id}))

    async def semantic_store(self, name: str, prompt: str, response: str, *,
                       vector: Optional[Vector] = None, metadata: Any = None,
                       filters: Optional[JSON] = None, ttl: Optional[int] = None,
                       user_id: Optional[str] = None) -> str:
        """Store an answer; returns the entry's id."""
        return await self._send(R.semantic_store(name, prompt, response, vector, {
            "metadata": metadata, "filters": filters, "ttl": ttl, "user_id": user_id}))

    async def semantic_drop(self, name: str, ids: Union[str, Sequence[str]], *,
                      user_id: Optional[str] = None) -> int:
        """Delete entries by id; returns how many were there."""
        return await self._send(R.semantic_delete(name, _ids(ids), None, user_id))

    async def semantic_delete(self, name: str, filters: JSON, *, user_id: Optional[str] = None) -> int:
        """Delete the entries whose filters match; returns how many."""
        return await self._send(R.semantic_delete(name, None, filters, user_id))

    async def semantic_clear(self, name: str, *, user_id: Optional[str] = None) -> int:
        """Delete every entry of the cache (the caller's); returns how many."""
        return await self._send(R.semantic_clear(name, user_id))

    async def health(self) -> JSON:
        return await self._send(R.health())
