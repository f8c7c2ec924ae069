"""Rate limiting behind one interface: a sliding window per key, in this process (the embedded default) or in
Redis, shared by every replica (DOCSAGE_REDIS_URL)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from docsage.errors import DocsageError

if TYPE_CHECKING:
    from limits import RateLimitItem

log = logging.getLogger(__name__)


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

    def status(self) -> str:
        """Where the counts live now, for /healthz."""
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

    def status(self) -> str:
        return "in-process"

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


class RedisRateLimiter:
    """The same sliding-window log, kept in Redis by the `limits` library (its moving window: one Lua script per
    request, atomic across every replica), so N replicas allow what one would.

    Windows are whole seconds there (a fraction is rounded up). While Redis cannot be reached, decisions fall
    back to this process's own log, with a warning in the log and in /healthz (`rate_limits`), and Redis is
    tried again every RETRY_S: refusing every request, or allowing every one, would be worse than a budget per
    process for the length of an outage.
    """

    RETRY_S = 5.0

    def __init__(self, url: str, key_prefix: str = "docsage") -> None:
        from limits.storage import RedisStorage
        from limits.strategies import MovingWindowRateLimiter

        # Short timeouts: a request waits at most this long for an unreachable Redis before the fallback decides.
        storage = RedisStorage(
            url, key_prefix=key_prefix, wrap_exceptions=True, socket_connect_timeout=1.0, socket_timeout=1.0
        )
        self._strategy = MovingWindowRateLimiter(storage)
        self._fallback = MemoryRateLimiter()
        self._down_until = 0.0
        self._down_since: float | None = None
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window_s: float = 60.0) -> Decision:
        return self._decide(key, limit, window_s, count=True)

    def peek(self, key: str, limit: int, window_s: float = 60.0) -> Decision:
        return self._decide(key, limit, window_s, count=False)

    def status(self) -> str:
        """'redis', or how long decisions have been taken in this process instead."""
        down_since = self._down_since
        if down_since is None:
            return "redis"
        return f"in-process fallback: Redis unreachable for {time.monotonic() - down_since:.0f} s"

    def _decide(self, key: str, limit: int, window_s: float, count: bool) -> Decision:
        if limit <= 0:
            return Decision(True, 0)
        if time.monotonic() < self._down_until:
            return self._decide_here(key, limit, window_s, count)
        from limits.errors import StorageError

        item = _window(limit, window_s)
        try:
            if count and self._strategy.hit(item, key):
                decision = Decision(True, 0)
            else:
                # Refused (or a peek): the oldest hit still in the window says when the next one is allowed.
                reset, remaining = self._strategy.get_window_stats(item, key)
                allowed = not count and remaining > 0
                decision = Decision(allowed, 0 if allowed else max(1, int(reset - time.time() + 0.999)))
        except StorageError as exc:
            self._went_down(exc.storage_error)
            return self._decide_here(key, limit, window_s, count)
        if self._down_since is not None:
            self._came_back()
        return decision

    def _decide_here(self, key: str, limit: int, window_s: float, count: bool) -> Decision:
        return (self._fallback.hit if count else self._fallback.peek)(key, limit, window_s)

    def _went_down(self, error: Exception) -> None:
        with self._lock:
            self._down_until = time.monotonic() + self.RETRY_S
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("rate limits: Redis unreachable (%s); counting in this process until it is back", error)

    def _came_back(self) -> None:
        with self._lock:
            if self._down_since is not None:
                log.warning("rate limits: Redis reachable again after %.0f s", time.monotonic() - self._down_since)
                self._down_since = None


def _window(limit: int, window_s: float) -> RateLimitItem:
    from limits import RateLimitItemPerSecond

    # The namespace names the log, the amount and length name the window: a key keeps one log per policy.
    return RateLimitItemPerSecond(limit, max(1, math.ceil(window_s)), namespace="ratelimit")


def enforce(limiter: RateLimiter, key: str, limit: int, what: str) -> None:
    decision = limiter.hit(key, limit)
    if not decision.allowed:
        raise RateLimitedError(
            f"Request was throttled: {what} is limited to {limit} requests per minute. "
            f"Expected available in {decision.retry_after} seconds.",
            decision.retry_after,
        )
