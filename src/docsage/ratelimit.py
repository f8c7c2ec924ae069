"""Rate limiting behind one interface; the in-process sliding window is the default (Redis can follow)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from docsage.errors import DocsageError


class RateLimitedError(DocsageError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # whole seconds until a request would be allowed (0 when allowed)


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, window_s: float = 60.0) -> Decision:
        """Count one request against `key`; refuse once `limit` requests fall inside the window."""
        ...

    def peek(self, key: str, limit: int, window_s: float = 60.0) -> Decision:
        """What `hit` would decide now, without counting anything (to check before work that may not count)."""
        ...


class MemoryRateLimiter:
    """Sliding-window log per key, for one process (several workers need a shared limiter such as Redis)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window_s: float = 60.0) -> Decision:
        return self._decide(key, limit, window_s, count=True)

    def peek(self, key: str, limit: int, window_s: float = 60.0) -> Decision:
        return self._decide(key, limit, window_s, count=False)

    def _decide(self, key: str, limit: int, window_s: float, count: bool) -> Decision:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window_s:
                hits.popleft()
            if limit > 0 and len(hits) >= limit:
                return Decision(False, max(1, int(hits[0] + window_s - now + 0.999)))
            if count:
                hits.append(now)
            return Decision(True, 0)


def enforce(limiter: RateLimiter, key: str, limit: int, what: str) -> None:
    decision = limiter.hit(key, limit)
    if not decision.allowed:
        raise RateLimitedError(
            f"Request was throttled: {what} is limited to {limit} requests per minute. "
            f"Expected available in {decision.retry_after} seconds.",
            decision.retry_after,
        )
