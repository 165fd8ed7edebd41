"""ragd's Python client: `Client` (sync) and `AsyncClient` (async) over httpx, one method
per ragd route for knowledge bases, ingestion jobs, search, RAG, re-ranking, embeddings,
sessions, rate limits, the generic cache and the semantic cache. Errors raise `RagdError` with ragd's stable code."""
from ragd._client import AsyncClient, Client
from ragd._errors import RagdError
from ragd._types import (CacheEntry, Chunk, Document, Job, JobStatus, Metric, RateLimitDecision,
                         SearchResponse, SemanticHit)

__all__ = ["AsyncClient", "Client", "RagdError", "CacheEntry", "Chunk", "Document", "Job",
           "JobStatus", "Metric", "RateLimitDecision", "SearchResponse", "SemanticHit"]
__version__ = "0.1.0"
