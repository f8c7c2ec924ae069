"""Login throttling: failed logins counted per username and per client address, with lockouts that double."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from docsage.ratelimit import RateLimitedError, RateLimiter

# A doubling lockout as plain sliding windows: step k refuses once `k × max_failures` failures fall within
# `lockout_s × (2^k − 1)`, so each further burst of failures waits twice as long as the one before (60 s, 2 min,
# 4 min, … with the defaults). Ten steps reach about 17 h, where a guesser is left with 50 tries per username.
STEPS = 10


class LoginThrottledError(RateLimitedError):
    code = "login_throttled"


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5  # per username
    max_failures_per_ip: int = 20
    lockout_s: float = 60.0


class LoginThrottle:
    """Counts failures only, on any `RateLimiter`; a correct password is refused too while a lockout lasts."""

    def __init__(self, limiter: RateLimiter, policy: LoginPolicy) -> None:
        self.limiter = limiter
        self.policy = policy

    def _windows(self, username: str, client_ip: str) -> list[tuple[str, int, float]]:
        # The name is hashed into the key: it is whatever a client typed, of any length.
        name = hashlib.sha256(username.encode()).hexdigest()[:32]
        counters = [(f"admin-login:user:{name}", self.policy.max_failures)]
        if client_ip:
            counters.append((f"admin-login:ip:{client_ip}", self.policy.max_failures_per_ip))
        return [
            (f"{key}:{step}", limit * step, self.policy.lockout_s * (2**step - 1))
            for key, limit in counters
            if limit > 0
            for step in range(1, STEPS + 1)
        ]

    def check(self, username: str, client_ip: str) -> None:
        """Raise LoginThrottledError while the username or the address is locked out."""
        windows = self._windows(username, client_ip)
        wait = max((self.limiter.peek(key, limit, window).retry_after for key, limit, window in windows), default=0)
        if wait > 0:
            raise LoginThrottledError(f"Too many login attempts. Try again in {wait} s.", wait)

    def record_failure(self, username: str, client_ip: str) -> None:
        for key, limit, window in self._windows(username, client_ip):
            self.limiter.hit(key, limit, window)
