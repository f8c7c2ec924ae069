"""Rate limiters: the in-process log and the Redis one decide alike (hit, peek, Retry-After); Redis shares the
counts between processes and, while it is unreachable, the decisions fall back to the process's own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RedisServer, free_port, run_redis
from docsage.accounts import LoginPolicy, LoginThrottle, LoginThrottledError
from docsage.ratelimit import MemoryRateLimiter, RateLimitedError, RateLimiter, RedisRateLimiter, enforce


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return MemoryRateLimiter()
    return RedisRateLimiter(request.getfixturevalue("redis_url"))


def test_the_limit_th_hit_is_the_last_allowed_and_retry_after_counts_down(limiter: RateLimiter) -> None:
    assert [limiter.hit("k", 3, 5).allowed for _ in range(3)] == [True, True, True]
    refused = limiter.hit("k", 3, 5)
    assert not refused.allowed
    assert 4 <= refused.retry_after <= 5
    assert limiter.hit("other", 3, 5).allowed  # keys count apart
    time.sleep(1.2)
    assert 3 <= limiter.hit("k", 3, 5).retry_after <= 4


def test_peek_tells_without_counting(limiter: RateLimiter) -> None:
    for _ in range(5):
        assert limiter.peek("k", 2, 60).allowed
    limiter.hit("k", 2, 60)
    assert limiter.peek("k", 2, 60).allowed
    limiter.hit("k", 2, 60)
    peeked = limiter.peek("k", 2, 60)
    assert not peeked.allowed and 59 <= peeked.retry_after <= 60


def test_a_window_frees_its_oldest_hit_first(limiter: RateLimiter) -> None:
    # A 4 s window, hits 1.5 s apart: every decision below has at least 0.5 s of margin, measured from when the
    # hits were taken (a loaded machine stretches the sleeps, not the margins).
    first = time.monotonic()
    limiter.hit("k", 2, 4)
    _sleep_until(first + 1.5)
    second = time.monotonic()
    limiter.hit("k", 2, 4)
    refused = limiter.hit("k", 2, 4)
    assert time.monotonic() - first < 3.5, "the machine stalled for seconds: the window's timing says nothing"
    assert not refused.allowed, _status(limiter)
    _sleep_until(first + 4.5)  # the first hit left the window, the second has not
    assert time.monotonic() - second < 3.5, "the machine stalled for seconds: the window's timing says nothing"
    assert limiter.hit("k", 2, 4).allowed, _status(limiter)
    assert not limiter.hit("k", 2, 4).allowed, _status(limiter)


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def _status(limiter: RateLimiter) -> str:
    status = getattr(limiter, "status", None)
    return f"limiter: {status() if status else 'memory'}"


def test_no_limit_is_no_limit(limiter: RateLimiter) -> None:
    assert all(limiter.hit("k", 0).allowed for _ in range(100))


def test_enforce_raises_with_retry_after(limiter: RateLimiter) -> None:
    enforce(limiter, "chat:team", 1, "chat")
    with pytest.raises(RateLimitedError) as refused:
        enforce(limiter, "chat:team", 1, "chat")
    assert refused.value.http_status == 429
    assert 59 <= refused.value.retry_after <= 60
    assert f"Expected available in {refused.value.retry_after} seconds" in refused.value.message


def test_processes_sharing_redis_share_the_counts(redis_url: str) -> None:
    """Two limiters with their own connections (as two replicas have): 2 hits on each of a 3/min budget."""
    one, two = RedisRateLimiter(redis_url), RedisRateLimiter(redis_url)
    assert one.hit("retrieval:team", 3).allowed
    assert two.hit("retrieval:team", 3).allowed
    assert one.hit("retrieval:team", 3).allowed
    assert not two.hit("retrieval:team", 3).allowed
    assert not one.hit("retrieval:team", 3).allowed
    assert one.status() == two.status() == "redis"


def test_login_lockout_on_one_replica_holds_on_the_other(redis_url: str) -> None:
    policy = LoginPolicy(max_failures=3, max_failures_per_ip=100, lockout_s=30)
    one, two = LoginThrottle(RedisRateLimiter(redis_url), policy), LoginThrottle(RedisRateLimiter(redis_url), policy)
    for throttle in (one, two, one):
        throttle.check("admin", "10.0.0.1")
        throttle.record_failure("admin", "10.0.0.1")
    with pytest.raises(LoginThrottledError) as locked:
        two.check("admin", "10.0.0.1")
    assert 29 <= locked.value.retry_after <= 30
    two.check("alice", "10.0.0.1")  # another username is not locked


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, to stop and start again."""
    with run_redis(tmp_path) as server:
        yield server


def test_while_redis_is_down_the_process_counts_alone_and_says_so(own_redis: RedisServer, tmp_path: Path) -> None:
    limiter = RedisRateLimiter(own_redis.url)
    limiter.RETRY_S = 0.5
    assert limiter.hit("k", 2, 60).allowed
    own_redis.process.terminate()
    own_redis.process.wait(10)
    started = time.monotonic()
    assert limiter.hit("k", 2, 60).allowed  # the fallback's own count starts at zero
    assert time.monotonic() - started < 2, "an unreachable Redis must not hold a request for long"
    assert limiter.hit("k", 2, 60).allowed
    assert not limiter.hit("k", 2, 60).allowed
    assert limiter.status().startswith("in-process fallback: Redis unreachable")
    (tmp_path / "again").mkdir()
    with run_redis(tmp_path / "again", port=own_redis.port):
        time.sleep(0.6)
        assert limiter.hit("k", 2, 60).allowed  # Redis again: its own count (emptied by the restart)
        assert limiter.status() == "redis"


def test_an_address_nobody_listens_on_falls_back_at_once() -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    assert limiter.hit("k", 1, 60).allowed
    assert not limiter.hit("k", 1, 60).allowed
    assert "fallback" in limiter.status()
