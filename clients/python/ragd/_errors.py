"""The one exception the client raises for an error answer from ragd."""
from __future__ import annotations

from typing import Any, Optional

import httpx


class RagdError(Exception):
    """A non-2xx answer: HTTP status, ragd's stable `code`, its message and request id."""

    def __init__(self, status: int, code: str, message: str, request_id: Optional[str] = None,
                 body: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.body = body

    @classmethod
    def from_response(cls, r: httpx.Response) -> "RagdError":
        try:
            body = r.json()
        except ValueError:
            return cls(r.status_code, "http_error", r.text[:500], r.headers.get("x-request-id"))
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):  # ragd's shape
            return cls(r.status_code, str(err.get("code", "error")), str(err.get("message", "")),
                       err.get("request_id") or r.headers.get("x-request-id"), body)
        if isinstance(err, str):  # the TEI dialect's shape
            return cls(r.status_code, str(body.get("error_type", "error")), err,
                       body.get("request_id"), body)
        return cls(r.status_code, "http_error", r.text[:500], r.headers.get("x-request-id"), body)
