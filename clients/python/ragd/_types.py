"""Typed shapes of ragd's requests and answers (TypedDicts: plain dicts at run time)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Literal, NotRequired, Optional, Sequence, TypedDict

JSON = Dict[str, Any]
Vector = Sequence[float]
Metric = Literal["cosine", "dot", "l2"]


class Chunk(TypedDict):
    """A chunk given by the caller (its text, and its vector unless the namespace's
    model should embed it)."""
    text: str
    vector: NotRequired[Vector]


class Document(TypedDict):
    """A document to upsert into a namespace: `text` (optionally with its own `vector`,
    then the whole text is one chunk), or `chunks` that carry their vectors."""
    id: str
    text: NotRequired[str]
    vector: NotRequired[Vector]
    chunks: NotRequired[List[Chunk]]
    metadata: NotRequired[JSON]
    user_id: NotRequired[str]


class SearchHit(TypedDict):
    content: str
    score: float
    type: str
    metadata: JSON
    namespace: str
    document_id: str
    chunk_id: str
    chunk_index: int


class SearchResponse(TypedDict):
    results: List[SearchHit]
    total: int
    search_type: str
    timings: JSON


class RateLimitDecision(TypedDict):
    allowed: bool
    remaining: int
    reset_after: float
    retry_after: float
    limit: int
    algorithm: str


JobStatus = Literal["enqueued", "processing", "succeeded", "failed", "cancelled"]


class Job(TypedDict):
    """An ingestion job (docs/KNOWLEDGE.md): progress of a background upsert."""
    id: str
    namespace: str
    status: JobStatus
    created_at: Any
    documents: JSON          # {total, done, failed}
    tokens: JSON             # {total, done}
    progress: float
    errors: List[JSON]       # [{index, id, code, message}]
    errors_total: int
    location: str
    eta_seconds: NotRequired[Optional[float]]
    message: NotRequired[str]


class SemanticHit(TypedDict, total=False):
    """A semantic-cache hit (RedisVL's check result; fields as return_fields keeps)."""
    id: str
    prompt: str
    response: str
    vector_distance: float
    metadata: Any
    filters: JSON
    inserted_at: float
    updated_at: float


@dataclass
class CacheEntry:
    """A generic cache entry: its bytes, content type and seconds left (-1: none)."""
    value: bytes
    content_type: str
    ttl: int

    def text(self) -> str:
        return self.value.decode("utf-8")


def drop_none(d: Dict[str, Optional[Any]]) -> JSON:
    """The members that were given (None means "not sent")."""
    return {k: v for k, v in d.items() if v is not None}
