"""ragd's Python client: `Client` (sync) and `AsyncClient` (async) over httpx, one method
per ragd route for knowledge bases, search, RAG, re-ranking, embeddings, sessions, rate
limits and the generic cache. Errors raise `RagdError` with ragd's stable code."""
from ragd._client import AsyncClient, Client
from ragd._errors import RagdError
from ragd._types import CacheEntry, Chunk, Document, Metric, RateLimitDecision, SearchResponse

__all__ = ["AsyncClient", "Client", "RagdError", "CacheEntry", "Chunk", "Document", "Metric",
           "RateLimitDecision", "SearchResponse"]
__version__ = "0.1.0"
